"""Rate limits shared on a Redis server: [`RedisRateLimiter`][fallback_router.RedisRateLimiter].

One hash per limited provider holds its bucket (`t`: tokens, `ts`: the server's
`TIME` in microseconds when they were counted; `c` and `r`: the capacity and the
tokens per microsecond, so that the command line can tell the tokens left now):

```text
fallback_router-rate:{<namespace>}:<provider>
```

The prefix lies outside `fallback_router:{...}`, the cooldown trackers' key space;
`{<namespace>}` is a Redis Cluster hash tag, and `<namespace>` and `<provider>` are
percent-encoded like the trackers' keys. Each key expires a second after its bucket
would be full again: a missing key is a full bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import InvalidConfigError
from ._ratelimit import InMemoryRateLimiter, RateLimit
from ._redis_clients import import_redis
from ._redis_guard import connect
from ._redis_scripts import encode_key_part

__all__ = ["RATE_KEYS", "RedisRateLimiter", "rate_prefix"]

#: The start of every rate-limit bucket's key.
RATE_KEYS = "fallback_router-rate:"


def rate_prefix(namespace: str) -> str:
    """The key prefix of a namespace's rate-limit buckets."""
    return f"{RATE_KEYS}{{{encode_key_part(namespace)}}}:"


# One script for every operation, so each is one atomic round trip on the server's clock.
# KEYS: the bucket; ARGV: capacity, tokens per microsecond, cost (1 take, 0 look,
# -1 give back), key expiry ms.
# -> {1 taken or given back / 0 not, microseconds until a token, tokens left (text)}
# A look (cost 0) writes nothing. A server clock that steps back adds no tokens.
_BUCKET = """
if redis.replicate_commands then redis.replicate_commands() end
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = cap
elseif now > ts then
  tokens = tokens + (now - ts) * rate
end
tokens = math.min(tokens, cap)
local done = 0
if cost > 0 then
  if tokens >= cost - 1e-9 then
    tokens = math.max(0, tokens - cost)
    done = 1
  end
elseif cost < 0 then
  tokens = math.min(cap, tokens - cost)
  done = 1
end
if cost ~= 0 then
  redis.call('HSET', KEYS[1], 't', tokens, 'ts', now, 'c', cap, 'r', rate)
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
local wait = 0
if tokens < 1 - 1e-9 then wait = math.ceil((1 - tokens) / rate) end
return {done, wait, string.format('%.17g', tokens)}
"""

_TAKE, _LOOK, _GIVE_BACK = 1, 0, -1


class RedisRateLimiter:
    """Token buckets on a Redis server, shared by every process that uses them.

    Same semantics as [`InMemoryRateLimiter`][fallback_router.InMemoryRateLimiter];
    each operation is one Lua script, atomic on the server and timed by its `TIME`,
    so hosts with different clocks agree. Limiters with the same `namespace`
    (default `"default"`) share buckets. Names without a limit cost no round trip.

    Args:
        client: a `redis.Redis` (TCP, TLS, unix socket), a Sentinel `master_for`
            client or a `redis.cluster.RedisCluster`; the limiter builds its own
            bounded client to the same deployment.
        limits: `name -> "N/s" | "N/min" | "N/h" | RateLimit`; names not in it are
            unlimited. Every process sharing a namespace should use the same limits.
        namespace: separates routers that must not share buckets.
        op_timeout: seconds each Redis operation may take (connect and reply each);
            default 0.1.
        backoff: seconds to stop asking Redis after a failure, default 5.
        clock: monotonic clock for the back-off and the local fallback.

    Fail-open: when Redis is unreachable, slow or misconfigured, the limiter answers
    from a process-local [`InMemoryRateLimiter`][fallback_router.InMemoryRateLimiter]
    with the same limits (the outage is logged once) and never raises. Its methods
    do network I/O (`blocking` is True): async callers run them in a worker thread.

    Raises:
        InvalidConfigError: a limit, the namespace or an option is invalid.

    Version:
        Added in 0.3.0.
    """

    blocking = True

    def __init__(
        self,
        client: Any,
        limits: Mapping[str, str | RateLimit],
        *,
        namespace: str = "default",
        op_timeout: float | None = None,
        backoff: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        #: The limiter answering while Redis cannot.
        self.local = InMemoryRateLimiter(limits, clock=clock)
        if not isinstance(namespace, str) or not namespace:  # any text: it is encoded
            msg = f"namespace must be a non-empty str, got {namespace!r}"
            raise InvalidConfigError(msg)
        self.namespace = namespace
        self.op_timeout, self._conn, self._guard = connect(
            "rate_limit", client, op_timeout, backoff, clock
        )
        prefix = rate_prefix(namespace)
        # name -> (key, script arguments before the cost, key expiry ms)
        self._buckets: dict[str, tuple[str, float, float, int]] = {
            name: (
                prefix + encode_key_part(name),
                lim.requests,
                lim.rate / 1e6,
                math.ceil(lim.per * 1000) + 1000,
            )
            for name, lim in self.local.limits.items()
        }

    @property
    def limits(self) -> Mapping[str, RateLimit]:
        """The limits, parsed."""
        return self.local.limits

    @classmethod
    def from_url(
        cls, url: str, limits: Mapping[str, str | RateLimit], **options: Any
    ) -> RedisRateLimiter:
        """Build a limiter from a `redis://` URL; `options` as for the constructor."""
        redis = import_redis()
        return cls(redis.Redis.from_url(url), limits, **options)

    def key(self, name: str) -> str | None:
        """Return the Redis key of `name`'s bucket (None when it is unlimited)."""
        bucket = self._buckets.get(name)
        return None if bucket is None else bucket[0]

    def _run(self, name: str, cost: int) -> tuple[bool, float, float]:
        """Run the bucket script: (done, seconds until a token, tokens left)."""
        key, capacity, rate, expiry = self._buckets[name]
        done, wait_us, tokens = self._conn.script(_BUCKET)(
            keys=[key], args=[capacity, rate, cost, expiry]
        )
        return bool(done), wait_us / 1e6, max(0.0, float(tokens))

    def try_acquire(self, name: str) -> bool:
        """Take one of `name`'s tokens if one is there now (one round trip)."""
        if name not in self._buckets:
            return True
        return self._guard.run(
            lambda: self._run(name, _TAKE)[0], lambda: self.local.try_acquire(name)
        )

    def wait_time(self, name: str) -> float:
        """Return the seconds until `name` has a token (0.0: now, or unlimited)."""
        if name not in self._buckets:
            return 0.0
        return self._guard.run(
            lambda: self._run(name, _LOOK)[1], lambda: self.local.wait_time(name)
        )

    def refund(self, name: str) -> None:
        """Give back a token taken for an attempt that never started (capped)."""
        if name not in self._buckets:
            return

        def op() -> None:
            self._run(name, _GIVE_BACK)

        self._guard.run(op, lambda: self.local.refund(name))

    def tokens(self, name: str) -> float | None:
        """Return the tokens `name` has now (None when unlimited)."""
        if name not in self._buckets:
            return None
        return self._guard.run(lambda: self._run(name, _LOOK)[2], lambda: self.local.tokens(name))

    def limited(self, name: str) -> bool:
        """Return whether `name` has a limit."""
        return name in self._buckets

    def __repr__(self) -> str:
        shown = {name: str(limit) for name, limit in self.limits.items()}
        return f"RedisRateLimiter({shown!r}, namespace={self.namespace!r})"
