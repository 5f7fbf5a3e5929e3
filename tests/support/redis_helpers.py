"""Redis clients and key names the Redis tests share."""

from __future__ import annotations

from typing import Any


def key(namespace: str, kind: str, name: str) -> str:
    """The tracker's key of ``kind`` (cooldown, failures, level, probe) for ``name``."""
    return f"fallback_router:{{{namespace}}}:{kind}:{name}"


def keys(client: Any) -> list[str]:
    """Every cooldown key on the server, sorted."""
    return sorted(k.decode() for k in client.keys("fallback_router:*"))


def load_scripts(client: Any) -> None:
    """Load the tracker's scripts on the server (a restarted server has none cached)."""
    from fallback_router._redis import scripts as lua

    for source in (lua.READ, lua.READ_HINTS, lua.TRY_PROBE, lua.RECORD_FAILURE, lua.RECORD_SUCCESS):
        client.script_load(source)


def through(proxy: Any) -> Any:
    """A client that reaches the session's redis-server through a FaultProxy."""
    import redis

    return redis.Redis(host="127.0.0.1", port=proxy.port)


def unreachable_client(port: int, **options: Any) -> Any:
    """A deliberately patient client (30 s timeouts, 10 retries): the tracker must not be."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=30,
        socket_connect_timeout=30,
        retry=Retry(ExponentialBackoff(cap=5), 10),
        **options,
    )
