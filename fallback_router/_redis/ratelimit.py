"""Rate limits shared on a Redis server: [`RedisRateLimiter`][fallback_router.RedisRateLimiter].

One hash per bucket (`t`: tokens, `ts`: the server's `TIME` in microseconds when
they were counted; `c` and `r`: the capacity and the tokens per microsecond, so
that the command line can tell the tokens left now); a provider's first request
limit, further request limits (`:r1`, ...) and token quotas (`:t0`, ...):

```text
fallback_router-rate:{<namespace>}:<provider>
fallback_router-rate:{<namespace>}:<provider>:t0
```

The prefix lies outside `fallback_router:{...}`, the cooldown trackers' key space;
`{<namespace>}` is a Redis Cluster hash tag, and `<namespace>` and `<provider>` are
percent-encoded like the trackers' keys (so `:` never occurs in them). Each key
expires a second after its bucket would be full again: a missing key is a full
bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fallback_router._errors import InvalidConfigError
from fallback_router._rate_specs import Limit, RateLimit, TokenLimit
from fallback_router._state.ratelimit import InMemoryRateLimiter, request_tokens, shown_limits

from .clients import import_redis
from .guard import connect
from .scripts import encode_key_part

__all__ = ["RATE_KEYS", "RedisRateLimiter", "bucket_keys", "rate_prefix"]

#: The start of every rate-limit bucket's key.
RATE_KEYS = "fallback_router-rate:"


def rate_prefix(namespace: str) -> str:
    """The key prefix of a namespace's rate-limit buckets."""
    return f"{RATE_KEYS}{{{encode_key_part(namespace)}}}:"


# One script for every operation on a provider's buckets (its request limits and
# token quotas, all under one hash tag), so each is one atomic round trip on the
# server's clock. KEYS: the buckets; ARGV: op (1 take, 0 look, -1 give back,
# 2 settle), amount (take/look/give back: the estimated tokens; settle: tokens to add
# back, negative for more than reserved), then per bucket: capacity, tokens per
# microsecond, 1 for a token quota / 0 for requests.
# -> {1 taken (or written) / 0 not, microseconds until there is room, first bucket's
# level (text)}. A look writes nothing; a take that finds no room writes nothing. A
# token quota needs max(1, min(amount, capacity)) to let an attempt start and may go
# into debt (negative) on a take beyond its level or a settle beyond the
# reservation. Each key expires a second after its bucket would be full again (at
# most ~317 years; waits at most ~31 years: a very slow bucket stays a valid integer
# for Redis). A server clock that steps back adds no tokens.
_BUCKET = """
if redis.replicate_commands then redis.replicate_commands() end
local op = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = #KEYS
local levels = {}
local room = true
local wait = 0
for i = 1, n do
  local base = 2 + (i - 1) * 3
  local cap = tonumber(ARGV[base + 1])
  local rate = tonumber(ARGV[base + 2])
  local quota = ARGV[base + 3] == '1'
  local state = redis.call('HMGET', KEYS[i], 't', 'ts')
  local level = tonumber(state[1])
  local ts = tonumber(state[2])
  if level == nil or ts == nil then
    level = cap
  elseif now > ts then
    level = level + (now - ts) * rate
  end
  level = math.min(level, cap)
  levels[i] = level
  local need = 1
  if quota then need = math.max(1, math.min(amount, cap)) end
  if level < need - 1e-9 then
    room = false
    wait = math.max(wait, math.min(math.ceil((need - level) / rate), 1e15))
  end
end
local done = 0
if op == 1 and room then done = 1 end
if op == -1 or op == 2 then done = 1 end
if done == 1 then
  for i = 1, n do
    local base = 2 + (i - 1) * 3
    local cap = tonumber(ARGV[base + 1])
    local rate = tonumber(ARGV[base + 2])
    local quota = ARGV[base + 3] == '1'
    local level = levels[i]
    if op == 1 then
      if quota then level = level - amount else level = level - 1 end
    elseif op == -1 then
      if quota then level = level + amount else level = level + 1 end
    elseif quota then
      level = level + amount
    end
    level = math.min(level, cap)
    levels[i] = level
    redis.call('HSET', KEYS[i], 't', string.format('%.17g', level), 'ts', now, 'c', cap, 'r', rate)
    redis.call('PEXPIRE', KEYS[i], math.min(math.ceil((cap - level) / rate / 1000), 1e13) + 1000)
  end
end
return {done, wait, string.format('%.17g', levels[1])}
"""

_TAKE, _LOOK, _GIVE_BACK, _SETTLE = 1, 0, -1, 2


def bucket_keys(base: str, limits: tuple[Limit, ...]) -> list[str]:
    """The keys of a provider's buckets, one per limit in order.

    `<base>` for its first request limit, `<base>:r1`, `<base>:r2` ... for more,
    `<base>:t0`, `<base>:t1` ... for token quotas.
    """
    keys: list[str] = []
    counts = {False: 0, True: 0}
    for limit in limits:
        quota = isinstance(limit, TokenLimit)
        number = counts[quota]
        counts[quota] = number + 1
        if quota:
            keys.append(f"{base}:t{number}")
        else:
            keys.append(base if number == 0 else f"{base}:r{number}")
    return keys


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
        limits: Mapping[str, str | Limit | Sequence[str | Limit]],
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
        #: Some provider has a token quota (attempts then reserve their estimate).
        self.holds_tokens = self.local.holds_tokens
        prefix = rate_prefix(namespace)
        # name -> (keys, script arguments after op and amount)
        self._buckets: dict[str, tuple[list[str], list[float]]] = {}
        for name, lims in self.local.limits.items():
            args: list[float] = []
            for lim in lims:
                args += [lim.capacity, lim.rate / 1e6, 1 if isinstance(lim, TokenLimit) else 0]
            self._buckets[name] = (bucket_keys(prefix + encode_key_part(name), lims), args)

    @property
    def limits(self) -> Mapping[str, tuple[Limit, ...]]:
        """The limits, parsed: `name -> (limit, ...)`."""
        return self.local.limits

    @classmethod
    def from_url(
        cls, url: str, limits: Mapping[str, str | Limit | Sequence[str | Limit]], **options: Any
    ) -> RedisRateLimiter:
        """Build a limiter from a `redis://` URL; `options` as for the constructor."""
        redis = import_redis()
        return cls(redis.Redis.from_url(url), limits, **options)

    def key(self, name: str) -> str | None:
        """Return the Redis key of `name`'s first bucket (None when it is unlimited)."""
        bucket = self._buckets.get(name)
        return None if bucket is None else bucket[0][0]

    def keys(self, name: str) -> list[str]:
        """Return the Redis keys of each of `name`'s limits, in their order."""
        bucket = self._buckets.get(name)
        return [] if bucket is None else list(bucket[0])

    def _run(self, name: str, op: int, amount: float = 0) -> tuple[bool, float, float]:
        """Run the bucket script: (done, seconds until there is room, first level)."""
        keys, args = self._buckets[name]
        done, wait_us, level = self._conn.script(_BUCKET)(keys=keys, args=[op, amount, *args])
        return bool(done), wait_us / 1e6, float(level)

    def try_acquire(self, name: str, tokens: int = 0) -> bool:
        """Take a request token and reserve `tokens` of each token quota (one round trip)."""
        if name not in self._buckets:
            return True
        return self._guard.run(
            lambda: self._run(name, _TAKE, tokens)[0],
            lambda: self.local.try_acquire(name, tokens),
        )

    def wait_time(self, name: str, tokens: int = 0) -> float:
        """Return the seconds until `name` has room for an attempt reserving `tokens`."""
        if name not in self._buckets:
            return 0.0
        return self._guard.run(
            lambda: self._run(name, _LOOK, tokens)[1], lambda: self.local.wait_time(name, tokens)
        )

    def refund(self, name: str, tokens: int = 0) -> None:
        """Give back what `try_acquire` took for an attempt that never started (capped)."""
        if name not in self._buckets:
            return

        def op() -> None:
            self._run(name, _GIVE_BACK, tokens)

        self._guard.run(op, lambda: self.local.refund(name, tokens))

    def settle(self, name: str, used: int, reserved: int) -> None:
        """A started attempt ended having `used` of its `reserved` tokens (one round trip)."""
        if name not in self._buckets or used == reserved:
            return

        def op() -> None:
            self._run(name, _SETTLE, reserved - used)

        self._guard.run(op, lambda: self.local.settle(name, used, reserved))

    def tokens(self, name: str) -> float | None:
        """Return the request tokens `name` has now (None without a request limit)."""
        if name not in self._buckets:
            return None
        limits = self.limits[name]
        if isinstance(limits[0], RateLimit):  # its first bucket: one round trip
            return self._guard.run(
                lambda: max(0.0, self._run(name, _LOOK)[2]), lambda: self.local.tokens(name)
            )
        return request_tokens(self.levels(name))

    def levels(self, name: str) -> list[tuple[Limit, float]]:
        """Each of `name`'s limits with its bucket's level now (negative: in debt)."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return []

        def read() -> list[tuple[Limit, float]]:
            found: list[tuple[Limit, float]] = []
            for key, limit in zip(bucket[0], self.limits[name], strict=True):
                keys, args = [key], [limit.capacity, limit.rate / 1e6, 0]
                level = self._conn.script(_BUCKET)(keys=keys, args=[_LOOK, 0, *args])[2]
                found.append((limit, float(level)))
            return found

        return self._guard.run(read, lambda: self.local.levels(name))

    def limited(self, name: str) -> bool:
        """Return whether `name` has a limit."""
        return name in self._buckets

    def __repr__(self) -> str:
        return f"RedisRateLimiter({shown_limits(self.limits)!r}, namespace={self.namespace!r})"
