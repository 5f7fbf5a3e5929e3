"""The trackers' own Redis clients: one per topology, every operation bounded.

A tracker never uses the client it was given: it builds one to the same
deployment (address, auth, TLS, database, Sentinel service, cluster nodes) whose
every connection — Sentinel discovery and cluster slot discovery included — has the
tracker's `op_timeout` for connecting and for each reply, and no retries. The
client is built on first use, inside the fail-open guard, so a deployment that is
down when the tracker is created costs nothing until it is asked.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import weakref
from collections.abc import Callable
from typing import Any

from fallback_router._errors import InvalidConfigError

__all__ = ["BoundedClient", "import_redis", "misconfiguration", "outage_errors", "refuse_async"]

#: Connection options that say where and how to connect; everything else the user's
#: client set (timeouts, retries, health checks) is replaced.
_DROP = frozenset(
    {
        "host",
        "port",
        "path",
        "connection_pool",
        "retry",
        "retry_on_timeout",
        "retry_on_error",
        "socket_timeout",
        "socket_connect_timeout",
        "health_check_interval",
        "redis_connect_func",
        "oss_cluster_maint_notifications_handler",
        "is_master",
        "check_connection",
    }
)


def import_redis() -> Any:
    """Import redis-py, naming the extra when it is missing."""
    try:
        import redis  # noqa: PLC0415 - optional dependency, imported on use
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        msg = "Redis support needs the 'redis' extra: pip install 'fallback-router[redis]'"
        raise ImportError(msg) from exc
    return redis


def refuse_async(client: Any, owner: str) -> None:
    """Refuse a `redis.asyncio` client at construction, naming the fix.

    The components talk to Redis with a sync client; async routers call them off
    the event loop (a worker thread), so a sync client never blocks the loop.
    """
    module = type(client).__module__ or ""
    pool_module = type(getattr(client, "connection_pool", None)).__module__ or ""
    if not (module.startswith("redis.asyncio") or pool_module.startswith("redis.asyncio")):
        return
    msg = (
        f"{owner} needs a sync redis client, got {type(client).__module__}."
        f"{type(client).__qualname__} (redis.asyncio): pass a redis.Redis to the same "
        f"server instead, e.g. redis.Redis.from_url(url) or {owner}.from_url(url) "
        f"(for a cluster, redis.cluster.RedisCluster); async routers call it in a worker "
        f"thread, never blocking the event loop"
    )
    raise InvalidConfigError(msg)


def outage_errors() -> tuple[type[BaseException], ...]:
    """What a Redis operation raises when Redis cannot answer it (fail open on these)."""
    redis = import_redis()
    from redis.exceptions import RedisClusterException  # noqa: PLC0415 - redis is optional

    return (redis.RedisError, RedisClusterException, OSError)


def misconfiguration(error: BaseException) -> str | None:
    """The fix for an error that means the deployment is misconfigured, else None."""
    from redis import exceptions as e  # noqa: PLC0415 - redis is optional

    text = str(error)
    if isinstance(error, (e.MovedError, e.AskError)) or text.startswith(("MOVED", "ASK ")):
        return (
            "the server is a Redis Cluster node that does not own these keys: "
            "pass a redis.cluster.RedisCluster client"
        )
    if "CROSSSLOT" in text:
        return "keys span cluster slots: keep the default hash-tagged key layout"
    if isinstance(error, e.AuthenticationError) or text.startswith(("NOAUTH", "WRONGPASS")):
        return "Redis refused the credentials: set the client's username/password"
    if isinstance(error, e.ReadOnlyError) or text.startswith("READONLY"):
        return (
            "the server is a read-only replica: connect to the primary "
            "(Sentinel: master_for, not slave_for)"
        )
    return None


def _bounds(op_timeout: float) -> dict[str, Any]:
    from redis.backoff import NoBackoff  # noqa: PLC0415 - redis is optional
    from redis.retry import Retry  # noqa: PLC0415 - redis is optional

    return {
        "socket_timeout": op_timeout,
        "socket_connect_timeout": op_timeout,
        "retry": Retry(NoBackoff(), 0),  # no retries, whatever errors it would retry on
        "health_check_interval": 0,
    }


def _kept(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if k not in _DROP}


def _factory(client: Any, op_timeout: float) -> Callable[[], Any]:
    """Return a builder of a bounded client to `client`'s deployment (checked now)."""
    redis = import_redis()
    # redis-py's cluster and Sentinel classes are untyped: used through Any.
    cluster: Any = importlib.import_module("redis.cluster")
    sentinels: Any = importlib.import_module("redis.sentinel")
    RedisCluster, ClusterNode = cluster.RedisCluster, cluster.ClusterNode  # noqa: N806 - class names
    Sentinel, SentinelConnectionPool = sentinels.Sentinel, sentinels.SentinelConnectionPool  # noqa: N806 - class names

    bounds = _bounds(op_timeout)
    if isinstance(client, RedisCluster):
        nodes = [(node.host, node.port) for node in client.get_nodes()]
        # A cluster has one database; from_url(".../0") leaves db=0, which it refuses.
        options = {
            k: v
            for k, v in _kept(dict(client.nodes_manager.connection_kwargs)).items()
            if k != "db"
        }

        def build_cluster() -> Any:
            return RedisCluster(
                startup_nodes=[ClusterNode(host, port) for host, port in nodes],
                **{**options, **bounds},
            )

        return build_cluster
    pool = getattr(client, "connection_pool", None)
    if pool is None or not hasattr(pool, "connection_kwargs"):
        msg = (
            f"client must be a redis.Redis (TCP, TLS or unix socket), a Sentinel "
            f"master_for client or a redis.cluster.RedisCluster, got {client!r}"
        )
        raise InvalidConfigError(msg)
    if isinstance(pool, SentinelConnectionPool):
        manager = pool.sentinel_manager
        addresses = [
            (
                s.connection_pool.connection_kwargs["host"],
                s.connection_pool.connection_kwargs["port"],
            )
            for s in manager.sentinels
        ]
        sentinel_options = _kept(dict(manager.sentinel_kwargs))
        options = _kept(dict(pool.connection_kwargs))
        service, is_master = pool.service_name, pool.is_master

        def build_sentinel() -> Any:
            bounded = Sentinel(
                addresses,
                min_other_sentinels=manager.min_other_sentinels,
                sentinel_kwargs={**sentinel_options, **bounds},
            )
            connect = bounded.master_for if is_master else bounded.slave_for
            return connect(service, **{**options, **bounds})

        return build_sentinel
    where = {k: v for k, v in pool.connection_kwargs.items() if k in ("host", "port", "path")}
    kwargs = {**_kept(dict(pool.connection_kwargs)), **where, **bounds}
    connection_class = pool.connection_class

    def build_standalone() -> Any:
        new_pool = redis.ConnectionPool(connection_class=connection_class, **kwargs)
        return redis.Redis(connection_pool=new_pool)

    return build_standalone


def _shut(client: Any, in_use: bool) -> None:
    """Close `client` and its pool's idle sockets, and with `in_use` those in use too.

    Quietly: closing a broken client may fail.
    """
    with contextlib.suppress(Exception):
        client.close()
    pool = getattr(client, "connection_pool", None)
    if pool is not None:
        with contextlib.suppress(Exception):
            pool.disconnect(inuse_connections=in_use)


def _close_quietly(box: list[Any]) -> None:
    """Close the client in `box` and every socket of its pool.

    Its owner has finished with it (or is gone), so nothing is in flight on it.
    """
    client, box[0] = box[0], None
    if client is not None:
        _shut(client, in_use=True)


class BoundedClient:
    """The tracker's client and its scripts, built on first use.

    The client is the tracker's own (its pool, its sockets): it is closed when
    the tracker is collected, before the collector could finalize its sockets
    unclosed (a `ResourceWarning` each).
    """

    __slots__ = ("__weakref__", "_box", "_build", "_lock", "_scripts")

    def __init__(self, client: Any, op_timeout: float) -> None:
        self._build = _factory(client, op_timeout)
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()
        # The client once built (None before, and after close or forget); a box the
        # finalizer can hold without holding self.
        self._box: list[Any] = [None]
        weakref.finalize(self, _close_quietly, self._box)

    @property
    def current(self) -> Any:
        """The client if it is built, else None (never builds one)."""
        return self._box[0]

    def get(self) -> Any:
        """The bounded client (built now if needed; raises like an operation would)."""
        box = self._box
        client = box[0]
        if client is None:
            with self._lock:
                if box[0] is None:
                    box[0] = self._build()
                client = box[0]
        return client

    def script(self, source: str) -> Any:
        """The Lua script `source` registered on the client."""
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = self.get().register_script(source)
        return script

    def close(self) -> None:
        """Close the client and its pool's sockets, for good.

        For an owner that has finished with it: nothing may be in flight on it,
        and a later `get()` would build a new client.
        """
        with self._lock:
            self._scripts = {}
            _close_quietly(self._box)

    def forget(self) -> None:
        """Drop the client (after an outage a cluster or Sentinel is discovered again)."""
        with self._lock:
            client, self._box[0] = self._box[0], None
            self._scripts = {}
        if client is not None:
            # Sockets other threads still use are left to them (closing them would
            # fail their commands).
            _shut(client, in_use=False)
