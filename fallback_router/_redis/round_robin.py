"""A round-robin counter on a Redis server: `RedisRoundRobin`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fallback_router._errors import InvalidConfigError
from fallback_router._state.counters import InMemoryRoundRobin

from . import scripts as lua
from .clients import import_redis
from .guard import connect

__all__ = ["RedisRoundRobin"]


class RedisRoundRobin:
    """A round-robin counter on Redis (INCR), shared by every process using `key`.

    The first index is 0, so the first pick is `providers[0]`. The default key,
    `fallback_router-round_robin:{default}`, lies outside every cooldown
    namespace, so a tracker's `reset()` or `snapshot()` never touches it. The key
    expires after a day without calls. When Redis is unreachable, picks come
    from a process-local counter until it answers again; a call never fails
    because of Redis. `op_timeout` and `backoff` as for
    [`RedisCooldown`][fallback_router.RedisCooldown].

    Version:
        Added in 0.1.0. Changed in 0.3.0: the default key moved out of the
        cooldown namespace.
    """

    #: `next_index` waits on the network: async routers call it off the loop.
    blocking = True

    def __init__(
        self,
        client: Any,
        *,
        key: str = lua.DEFAULT_ROUND_ROBIN_KEY,
        op_timeout: float | None = None,
        backoff: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(key, str) or not key:
            msg = f"key must be a non-empty str, got {key!r}"
            raise InvalidConfigError(msg)
        self.key = key
        self.op_timeout, self._conn, self._guard = connect(
            "round_robin", client, op_timeout, backoff, clock
        )
        self.local = InMemoryRoundRobin()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisRoundRobin:
        """Build a counter from a `redis://` URL; `options` as for the constructor."""
        redis = import_redis()
        return cls(redis.Redis.from_url(url), **options)

    def next_index(self) -> int:
        """Return the next index (0 first), shared through Redis."""

        def op() -> int:
            return int(self._conn.script(lua.INCR)(keys=[self.key], args=[86_400_000])) - 1

        return self._guard.run(op, self.local.next_index)

    def __repr__(self) -> str:
        return f"RedisRoundRobin(key={self.key!r})"
