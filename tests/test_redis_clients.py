"""The trackers' own bounded clients, built in-process without connecting.

The topologies themselves (TLS, unix socket, Sentinel, Cluster) are started for real
in ``test_redis_topologies.py``; here each client kind is checked option by option.
"""

from __future__ import annotations

import pytest

from fallback_router import InvalidConfigError, RedisCooldown
from fallback_router._redis.clients import BoundedClient, misconfiguration

from .support.redis_helpers import unreachable_client

redis = pytest.importorskip("redis")


def bounded(client: object, op_timeout: float = 0.25) -> object:
    return BoundedClient(client, op_timeout).get()


def test_a_standalone_client_keeps_where_and_who_and_drops_patience():
    """The bounded client keeps host, db and credentials; timeouts bounded, no retries."""
    from redis.retry import Retry

    user = redis.Redis(
        host="10.1.2.3",
        port=6380,
        db=4,
        username="u",
        password="p",
        socket_timeout=30,
        socket_connect_timeout=30,
        retry=Retry(redis.backoff.ExponentialBackoff(), 10),
        health_check_interval=15,
    )
    kwargs = bounded(user).connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("10.1.2.3", 6380, 4)
    assert (kwargs["username"], kwargs["password"]) == ("u", "p")
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (0.25, 0.25)
    assert kwargs["health_check_interval"] == 0
    assert kwargs["retry"].get_retries() == 0


def test_tls_and_unix_socket_clients_keep_their_connection_class():
    """TLS and unix-socket clients keep their connection class and address."""
    tls = bounded(redis.Redis.from_url("rediss://h:7000/1"))
    assert tls.connection_pool.connection_class is redis.SSLConnection
    assert tls.connection_pool.connection_kwargs["host"] == "h"
    unix = bounded(redis.Redis.from_url("unix:///tmp/r.sock?db=2"))
    assert unix.connection_pool.connection_class is redis.UnixDomainSocketConnection
    kwargs = unix.connection_pool.connection_kwargs
    assert (kwargs["path"], kwargs["db"], kwargs["socket_timeout"]) == ("/tmp/r.sock", 2, 0.25)


@pytest.mark.parametrize("is_master", [True, False])
def test_a_sentinel_client_is_rebuilt_with_bounded_discovery(is_master):
    """A Sentinel client is rebuilt with its sentinels and bounded discovery timeouts."""
    from redis.sentinel import Sentinel, SentinelConnectionPool

    sentinel = Sentinel(
        [("10.0.0.1", 26379), ("10.0.0.2", 26380)],
        min_other_sentinels=1,
        sentinel_kwargs={"password": "sp", "socket_timeout": 30},
    )
    user = (sentinel.master_for if is_master else sentinel.slave_for)(
        "mymaster", password="p", db=3, socket_timeout=30
    )
    client = bounded(user)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert (pool.service_name, pool.is_master) == ("mymaster", is_master)
    assert (pool.connection_kwargs["password"], pool.connection_kwargs["db"]) == ("p", 3)
    assert pool.connection_kwargs["socket_timeout"] == 0.25
    manager = pool.sentinel_manager
    assert manager.min_other_sentinels == 1
    assert [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in manager.sentinels
    ] == [("10.0.0.1", 26379), ("10.0.0.2", 26380)]
    assert manager.sentinel_kwargs["password"] == "sp"
    assert manager.sentinel_kwargs["socket_timeout"] == 0.25
    assert manager.sentinel_kwargs["socket_connect_timeout"] == 0.25


def test_anything_else_is_refused_by_name():
    """Anything but a Redis client is an InvalidConfigError naming it."""
    with pytest.raises(InvalidConfigError, match=r"^client must be a redis\.Redis .*, got 5$"):
        RedisCooldown(5)


def test_the_client_and_its_scripts_are_built_once_and_forgotten_together():
    """The bounded client and its scripts are built once and rebuilt together after forget()."""
    conn = BoundedClient(redis.Redis(host="127.0.0.1", port=1), 0.1)
    client = conn.get()
    assert conn.get() is client
    script = conn.script("return 1")
    assert conn.script("return 1") is script
    conn.forget()
    assert conn.get() is not client
    assert conn.script("return 1") is not script


CLUSTER = (
    "the server is a Redis Cluster node that does not own these keys: "
    "pass a redis.cluster.RedisCluster client"
)
AUTH = "Redis refused the credentials: set the client's username/password"


@pytest.mark.parametrize(
    ("error", "fix"),
    [
        ("MOVED 3999 127.0.0.1:6381", CLUSTER),
        ("ASK 3999 127.0.0.1:6381", CLUSTER),
        (
            "CROSSSLOT Keys in request don't hash to the same slot",
            "keys span cluster slots: keep the default hash-tagged key layout",
        ),
        ("NOAUTH Authentication required.", AUTH),
        ("WRONGPASS invalid username-password pair", AUTH),
        (
            "READONLY You can't write against a read only replica.",
            (
                "the server is a read-only replica: connect to the primary "
                "(Sentinel: master_for, not slave_for)"
            ),
        ),
    ],
)
def test_misconfigurations_are_told_apart(error, fix):
    """MOVED, ASK, CROSSSLOT, NOAUTH, WRONGPASS and READONLY each name their fix."""
    assert misconfiguration(redis.exceptions.ResponseError(error)) == fix


def test_typed_misconfiguration_errors_are_recognised():
    """redis-py's AuthenticationError and ReadOnlyError are misconfigurations too."""
    e = redis.exceptions
    assert misconfiguration(e.AuthenticationError("invalid")) == AUTH
    assert misconfiguration(e.ReadOnlyError("replica")).startswith("the server is a read-only")


def test_outages_are_not_misconfigurations():
    """A refused connection or an unknown error is an outage, not a misconfiguration."""
    assert misconfiguration(redis.exceptions.ConnectionError("refused")) is None
    assert misconfiguration(redis.exceptions.ResponseError("ERR unknown")) is None
    assert misconfiguration(OSError("MOVED")) is not None  # the text alone is enough


def test_the_bounded_client_has_short_timeouts_and_no_retries(dead_port):
    """The tracker's own connection settings are what bound the delay of an outage."""
    tracker = RedisCooldown(unreachable_client(dead_port), op_timeout=0.15)
    kwargs = tracker._conn.get().connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.15
    assert kwargs["retry"].get_retries() == 0
