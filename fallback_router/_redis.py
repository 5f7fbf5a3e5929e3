"""Shared state on a Redis server: :class:`RedisCooldown` and :class:`RedisRoundRobin`.

``redis`` (redis-py) is imported lazily, so the package imports without it.

Key layout (``{namespace}`` is literal, a Redis Cluster hash tag, so one script
may touch every key of a namespace)::

    fallback_router:{<namespace>}:cooldown:<provider>   value = length ms, PX = left
    fallback_router:{<namespace>}:failures:<provider>   INCR, PX = escalation window
    fallback_router:{<namespace>}:level:<provider>      PX = cooldown + window
    fallback_router:{<namespace>}:probe:<provider>      half-open probe, PX = probe_ttl

``<namespace>`` and ``<provider>`` are percent-encoded (UTF-8, lone surrogates
kept): every byte outside ``A-Z a-z 0-9 _ . -`` becomes ``%XX``, so no glob
character, brace, colon or control character of a name reaches a key pattern or
another namespace's keys.

Every key carries an expiry: nothing is left once cooldowns and counts lapse.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from . import _log
from ._cooldown import (
    RETRY_AFTER_CAP,
    CooldownPolicy,
    CooldownState,
    InMemoryCooldown,
    check_seconds,
    read_retry_after,
)
from ._errors import InvalidConfigError
from ._redis_clients import BoundedClient, import_redis, misconfiguration, outage_errors
from ._strategies import InMemoryRoundRobin

__all__ = ["DEFAULT_NAMESPACE", "RedisCooldown", "RedisRoundRobin"]

#: The namespace RedisCooldown uses unless told otherwise.
DEFAULT_NAMESPACE = "default"
#: Seconds each Redis operation may take (connect and reply, each) unless told otherwise.
DEFAULT_OP_TIMEOUT = 0.1
#: Seconds between two reads of the shared state into a process' mirror, by default.
DEFAULT_REFRESH = 0.1
#: Provider names a mirror follows (the most recently asked about).
MIRROR_NAMES = 4096
#: The key RedisRoundRobin uses unless told otherwise.
DEFAULT_ROUND_ROBIN_KEY = "fallback_router:{default}:round_robin"

T = TypeVar("T")

# KEYS: cooldown keys..., failure keys..., level keys..., probe keys... (n each)
# -> flat list: ms each provider is unavailable (cooldown, else a probe in flight),
#    then 1/0 "has any state" per provider.
_READ = """
local n = #KEYS / 4
local out = {}
for i = 1, n do
  local ms = redis.call('PTTL', KEYS[i])
  if ms <= 0 then ms = redis.call('PTTL', KEYS[3 * n + i]) end
  out[i] = ms
  local dirty = ms > 0 or redis.call('EXISTS', KEYS[n + i], KEYS[2 * n + i]) > 0
  out[n + i] = dirty and 1 or 0
end
return out
"""

# KEYS: cooldown, level, probe; ARGV: probe ttl ms
# -> -1 nothing to probe, 1 probe claimed, 0 another probe in flight
_TRY_PROBE = """
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 0 then
  return -1
end
if redis.call('SET', KEYS[3], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
"""

# KEYS: cooldown, failures, level, probe
# ARGV: threshold, window_ms, base_ms, max_ms (-1: no escalation), multiplier,
#       retry_after_ms (-1: none), retry_after_cap_ms, jitter factor (>= 1),
#       half_open 0/1
# -> {tripped 0/1, cooldown ms}
_RECORD_FAILURE = """
local threshold = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local base = tonumber(ARGV[3])
local maxms = tonumber(ARGV[4])
local mult = tonumber(ARGV[5])
local ra = tonumber(ARGV[6])
local racap = tonumber(ARGV[7])
local jitter = tonumber(ARGV[8])
local cur = redis.call('PTTL', KEYS[1])
local probation = ARGV[9] == '1' and cur <= 0 and redis.call('EXISTS', KEYS[3]) == 1
local n = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], window)
if n < threshold and not probation then return {0, 0} end
redis.call('DEL', KEYS[2], KEYS[4])
local level = 0
if maxms >= 0 then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    level = tonumber(prev)
    if cur <= 0 then level = level + 1 end
  end
end
local ms
if ra >= 0 then
  ms = math.min(ra, racap)
elseif maxms < 0 then
  ms = base
else
  ms = math.min(maxms, base * mult ^ level)
end
ms = ms * jitter
if maxms >= 0 then ms = math.min(ms, maxms) end
ms = math.floor(ms)
if ms <= 0 then return {0, 0} end
if cur < ms then
  redis.call('SET', KEYS[1], ms, 'PX', ms)
else
  ms = cur
end
redis.call('SET', KEYS[3], level, 'PX', ms + window)
return {1, ms}
"""

_INCR = """
local v = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return v
"""


_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


def encode_key_part(text: str) -> str:
    """Percent-encode ``text`` for a key (UTF-8; lone surrogates kept, never raising)."""
    data = text.encode("utf-8", "surrogatepass")
    return "".join(chr(b) if b in _SAFE else f"%{b:02X}" for b in data)


def _decode_key_part(text: str) -> str:
    from urllib.parse import unquote_to_bytes  # noqa: PLC0415 - snapshot only

    return unquote_to_bytes(text).decode("utf-8", "surrogatepass")


class _FailOpen:
    """Run Redis operations, falling back locally during an outage.

    After a failure no Redis operation is attempted for ``backoff`` seconds; the
    outage is logged once, and its end once.
    """

    def __init__(self, what: str, backoff: float, clock: Callable[[], float] | None) -> None:
        self.what = what
        #: called once when Redis answers again after an outage
        self.on_recover: Callable[[], None] | None = None
        self.backoff = backoff
        self._clock = clock
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()
        #: called after each failed operation (the client is built again next time)
        self.on_failure: Callable[[], None] | None = None
        self._errors = outage_errors()

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.monotonic()

    @property
    def down(self) -> bool:
        """True while the outage back-off is in force."""
        return self._down and self._now() < self._down_until

    def run(self, op: Callable[[], T], local: Callable[[], T]) -> T:
        """Return ``op()``, or ``local()`` when Redis fails or is backing off."""
        if self._down and self._now() < self._down_until:
            return local()
        try:
            result = op()
        except self._errors as exc:
            with self._lock:
                first = not self._down
                self._down = True
                self._down_until = self._now() + self.backoff
            if self.on_failure is not None:
                self.on_failure()
            fix = misconfiguration(exc)
            if fix is not None:  # every back-off period, until it is fixed
                _log.logger.error(
                    _log.template(_log.REDIS_MISCONFIGURED),
                    what=self.what,
                    error=exc,
                    fix=fix,
                    backoff=self.backoff,
                )
            elif first:
                _log.logger.error(
                    _log.template(_log.REDIS_UNAVAILABLE),
                    what=self.what,
                    error=exc,
                    backoff=self.backoff,
                )
            return local()
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                _log.logger.warning(_log.template(_log.REDIS_BACK), what=self.what)
                if self.on_recover is not None:
                    self.on_recover()
        return result


def _connect(
    what: str,
    client: Any,
    op_timeout: float | None,
    backoff: float,
    clock: Callable[[], float] | None,
) -> tuple[float, BoundedClient, _FailOpen]:
    """Validate the connection options; return the timeout, bounded client and guard."""
    timeout = check_seconds("op_timeout", DEFAULT_OP_TIMEOUT if op_timeout is None else op_timeout)
    guard = _FailOpen(what, check_seconds("backoff", backoff), clock)
    conn = BoundedClient(client, timeout)
    guard.on_failure = conn.forget
    return timeout, conn, guard


class RedisCooldown:
    """A cooldown tracker on a Redis server, shared by every process that uses it.

    Same protocol and semantics as :class:`InMemoryCooldown`; the server's key
    expiry is the clock, so hosts with different clocks agree. Trackers with the
    same ``namespace`` (default ``"default"``) share state. ``client`` may be a
    ``redis.Redis`` (TCP, TLS, unix socket), a Sentinel ``master_for`` client or a
    ``redis.cluster.RedisCluster``; the tracker builds its own bounded client to the
    same deployment. Routed calls read a process-local mirror (see ``refresh``).

    Args:
        client: a ``redis.Redis``; its address, auth, TLS and database are used
            through a private pool with bounded timeouts and no retries.
        duration: seconds of the first cooldown, as in :class:`InMemoryCooldown`.
        threshold: failures in a row that start a cooldown (as in memory).
        max_duration: cap of escalating cooldowns, None to disable (as in memory).
        multiplier: escalation factor (as in memory).
        jitter: random lengthening, a fraction of the cooldown (as in memory).
        half_open: probe a provider once after its cooldown (as in memory).
        probe_ttl: seconds a probe may stay claimed (a crashed prober holds the
            provider at most this long); default: the escalation window.
        namespace: separates routers that must not share cooldowns.
        op_timeout: seconds each Redis operation may take (connect and reply each);
            default ``DEFAULT_OP_TIMEOUT`` (0.1), read when the tracker is built.
        backoff: seconds to stop asking Redis after a failure, default 5.
        refresh: seconds a process' mirror of the shared state is trusted before
            one call reads it again (default 0.1; 0 reads on every planned call).
            A cooldown entered by another process is honoured here within
            ``refresh`` plus one round trip; this process' own writes at once.
        clock: monotonic clock for the back-off, the mirror and the local fallback.

    Fail-open: when Redis is unreachable or slow, the tracker uses a process-local
    :class:`InMemoryCooldown` with the same settings until Redis answers again
    (then the local state is dropped), and never raises. A routed call pays at
    most ``2 * op_timeout`` once per ``backoff`` period for an outage.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Sentinel and cluster clients, ``refresh`` and the process-local mirror.
    """

    def __init__(  # noqa: PLR0913 - mirrors InMemoryCooldown plus connection options
        self,
        client: Any,
        *,
        duration: float = 60.0,
        threshold: int = 1,
        max_duration: float | None = None,
        multiplier: float = 2.0,
        jitter: float = 0.0,
        namespace: str = DEFAULT_NAMESPACE,
        half_open: bool = True,
        probe_ttl: float | None = None,
        op_timeout: float | None = None,
        backoff: float = 5.0,
        refresh: float = DEFAULT_REFRESH,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.policy = CooldownPolicy.build(duration, threshold, max_duration, multiplier, jitter)
        self.refresh = check_seconds("refresh", refresh, allow_zero=True)
        if not isinstance(namespace, str) or not namespace:  # any text: it is encoded
            msg = f"namespace must be a non-empty str, got {namespace!r}"
            raise InvalidConfigError(msg)
        if not isinstance(half_open, bool):
            msg = f"half_open must be a bool, got {half_open!r}"
            raise InvalidConfigError(msg)
        self.half_open = half_open
        self.probe_ttl = (
            self.policy.window if probe_ttl is None else check_seconds("probe_ttl", probe_ttl)
        )
        self.namespace = namespace
        self.op_timeout, self._conn, self._guard = _connect(
            "cooldown", client, op_timeout, backoff, clock
        )
        self.local = InMemoryCooldown(
            duration,
            threshold=threshold,
            max_duration=max_duration,
            multiplier=multiplier,
            jitter=jitter,
            half_open=half_open,
            clock=clock,
        )
        # Redis is authoritative again after an outage: forget what was kept locally.
        self._guard.on_recover = self._recovered
        self._guard.on_failure = self._failed
        self._clock = clock
        # The process-local mirror: names asked about, their deadlines (this process'
        # clock) and which have any state; replaced whole by each refresh.
        self._known: dict[str, None] = {}
        self._mirror: tuple[dict[str, float], set[str]] = ({}, set())
        self._written: dict[str, tuple[float | None, bool]] = {}  # own writes since a read
        self._mirror_lock = threading.Lock()
        self._refreshing = threading.Lock()
        #: No provider has state (the router's inlined happy path reads this) ...
        self._idle = True
        #: ... and the mirror is fresh until then (this process' clock).
        self._fresh_until = -math.inf
        self._prefix = f"fallback_router:{{{encode_key_part(namespace)}}}:"

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisCooldown:
        """Build a tracker from a ``redis://`` URL; ``options`` as for the constructor."""
        redis = import_redis()
        return cls(redis.Redis.from_url(url), **options)

    def _keys(self, name: str) -> list[str]:
        p, n = self._prefix, encode_key_part(name)
        return [f"{p}cooldown:{n}", f"{p}failures:{n}", f"{p}level:{n}", f"{p}probe:{n}"]

    # -- the process-local mirror -------------------------------------------------------

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else time.monotonic()

    def _failed(self) -> None:
        """After a failed operation: a new client next time; the mirror is not trusted."""
        self._conn.forget()
        self._fresh_until = -math.inf

    def _recovered(self) -> None:
        """Redis answers again: it is authoritative, the local state goes."""
        self.local.reset()
        self._fresh_until = -math.inf

    def _refresh(self, names: Sequence[str], now: float) -> None:
        """Read every known provider's state into the mirror: one round trip."""
        known = self._known
        for name in names:
            known[name] = None
        while len(known) > MIRROR_NAMES:  # the oldest names go first
            del known[next(iter(known))]
        order = list(known)
        with self._mirror_lock:
            self._written = {}

        def op() -> list[int]:
            per_name = [self._keys(n) for n in order]
            keys = [k[kind] for kind in range(4) for k in per_name]
            return list(self._conn.script(_READ)(keys=keys))

        raw = self._guard.run(op, lambda: None)
        if raw is None:  # failing open: the local tracker answers meanwhile
            return
        count = len(order)
        deadlines = {
            n: now + ms / 1000.0 for n, ms in zip(order, raw[:count], strict=True) if ms > 0
        }
        dirty = {n for n, has in zip(order, raw[count:], strict=True) if has}
        with self._mirror_lock:
            for name, (deadline, has) in self._written.items():  # written meanwhile
                _apply(deadlines, dirty, name, deadline, has)
            self._written = {}
            self._mirror = (deadlines, dirty)
            self._idle = not dirty
            self._fresh_until = now + self.refresh

    def _write(self, name: str, deadline: float | None, has: bool) -> None:
        """Apply this process' own write to the mirror at once."""
        with self._mirror_lock:  # in place: a write costs the same however many names
            deadlines, dirty = self._mirror
            _apply(deadlines, dirty, name, deadline, has)
            self._written[name] = (deadline, has)
            self._idle = not dirty

    # -- reads ------------------------------------------------------------------------

    def remaining_many(self, names: Sequence[str]) -> Sequence[float]:
        """Return the cooldown left for each name, from the process-local mirror.

        The mirror is read from Redis at most once per ``refresh`` seconds, by
        whichever call finds it stale first (others use it as it is meanwhile), and
        updated at once by this process' own writes. Returns ``()`` when none of the
        names has any state.
        """
        now = self._now()
        stale = now >= self._fresh_until or any(n not in self._known for n in names)
        if stale and self._refreshing.acquire(blocking=False):
            try:
                # Other threads keep using the mirror as it is while this one reads.
                self._fresh_until = now + self.refresh
                self._refresh(names, now)
            finally:
                self._refreshing.release()
        if self._guard.down:  # failing open: the local tracker answers, never the mirror
            self._fresh_until = -math.inf
            return self.local.remaining_many(names)
        deadlines, dirty = self._mirror
        if not dirty.intersection(names):
            return ()
        return [max(0.0, deadlines.get(n, now) - now) for n in names]

    def remaining(self, name: str) -> float:
        """Return the seconds ``name`` stays unavailable (cooldown, else a probe in flight)."""
        left = self.remaining_many([name])
        return left[0] if left else 0.0

    def is_available(self, name: str) -> bool:
        """Return True when ``name`` is not in cooldown."""
        return self.remaining(name) <= 0.0

    # -- writes -----------------------------------------------------------------------

    def try_probe(self, name: str) -> bool | None:
        """Claim ``name``'s half-open probe across processes (see the protocol).

        The probe key expires after ``probe_ttl`` seconds, so a prober that
        crashed holds the provider at most that long.
        """
        if not self.half_open or (not self._guard.down and name not in self._mirror[1]):
            return None

        def op() -> bool | None:
            cooldown, _, level, probe = self._keys(name)
            ttl_ms = int(self.probe_ttl * 1000)
            claimed = int(
                self._conn.script(_TRY_PROBE)(keys=[cooldown, level, probe], args=[ttl_ms])
            )
            return None if claimed < 0 else bool(claimed)

        return self._guard.run(op, lambda: self.local.try_probe(name))

    def end_probe(self, name: str) -> None:
        """Release ``name``'s probe without a verdict."""
        self._guard.run(
            lambda: self._conn.get().delete(self._keys(name)[3]),
            lambda: self.local.end_probe(name),
        )

    def record_failure(self, name: str, error: BaseException) -> float:
        """Count a failure atomically on the server; return the cooldown it started."""
        retry_after = read_retry_after(name, error)
        policy = self.policy

        def op() -> float:
            racap = policy.max_duration or max(policy.duration, RETRY_AFTER_CAP)
            jitter = 1.0 + policy.jitter * random.random()  # noqa: S311 - not crypto
            tripped, ms = self._conn.script(_RECORD_FAILURE)(
                keys=self._keys(name),
                args=[
                    policy.threshold,
                    int(policy.window * 1000),
                    policy.duration * 1000,
                    -1 if policy.max_duration is None else policy.max_duration * 1000,
                    policy.multiplier,
                    -1 if retry_after is None else retry_after * 1000,
                    racap * 1000,
                    jitter,
                    1 if self.half_open else 0,
                ],
            )
            seconds = ms / 1000.0 if tripped else 0.0
            self._write(name, self._now() + seconds if seconds > 0 else None, True)
            return seconds

        return self._guard.run(op, lambda: self.local.record_failure(name, error))

    def record_success(self, name: str) -> None:
        """Clear ``name``'s state; costs no round trip when it had none at the last read."""
        if not self._guard.down and name not in self._mirror[1]:
            return

        def op() -> None:
            self._conn.get().delete(*self._keys(name))
            self._write(name, None, False)

        self._guard.run(op, lambda: self.local.record_success(name))

    def reset(self, name: str | None = None) -> None:
        """Forget ``name`` (or every provider of this namespace)."""

        def op() -> None:
            if name is not None:
                self._conn.get().delete(*self._keys(name))
                return
            keys = list(self._conn.get().scan_iter(match=f"{self._prefix}*", count=500))
            if keys:
                self._conn.get().delete(*keys)

        self.local.reset(name)
        self._guard.run(op, lambda: None)
        self._fresh_until = -math.inf  # read again at the next call

    def snapshot(self) -> Mapping[str, CooldownState]:
        """Return every provider of this namespace that still has state."""

        def op() -> dict[str, CooldownState]:
            prefix = self._prefix
            found: dict[str, dict[str, int]] = {}
            keys = list(self._conn.get().scan_iter(match=f"{prefix}*", count=500))
            if not keys:
                return {}
            pipe = self._conn.get().pipeline(transaction=False)
            for key in keys:
                pipe.pttl(key)
                pipe.get(key)
            raw = pipe.execute()
            for i, key in enumerate(keys):
                text = key.decode() if isinstance(key, bytes) else str(key)
                kind, _, name = text[len(prefix) :].partition(":")
                ttl, value = raw[2 * i], raw[2 * i + 1]
                if ttl == -2:
                    continue
                entry = found.setdefault(_decode_key_part(name), {})
                if kind == "cooldown":
                    entry["cooldown"], entry["length"] = ttl, int(float(value or 0))
                else:
                    entry[kind] = ttl if kind == "probe" else int(value or 0)
            return {
                name: CooldownState(
                    remaining=max(0.0, entry.get("cooldown", entry.get("probe", 0)) / 1000.0),
                    consecutive_failures=entry.get("failures", 0),
                    level=entry.get("level", 0),
                    length=entry.get("length", 0) / 1000.0,
                    half_open=self.half_open and "cooldown" not in entry and "level" in entry,
                )
                for name, entry in found.items()
                if set(entry) - {"probe"}
            }

        return self._guard.run(op, self.local.snapshot)

    def __repr__(self) -> str:
        p = self.policy
        return (
            f"RedisCooldown(namespace={self.namespace!r}, duration={p.duration}, "
            f"threshold={p.threshold}, max_duration={p.max_duration})"
        )


def _apply(
    deadlines: dict[str, float], dirty: set[str], name: str, deadline: float | None, has: bool
) -> None:
    """Set ``name``'s entry in a mirror: its deadline (None: none) and whether it has state."""
    deadlines.pop(name, None)
    dirty.discard(name)
    if deadline is not None:
        deadlines[name] = deadline
    if has:
        dirty.add(name)


class RedisRoundRobin:
    """A round-robin counter on Redis (INCR), shared by every process using ``key``.

    The first index is 0, so the first pick is ``providers[0]``. The key expires
    after a day without calls. When Redis is unreachable, picks come from a
    process-local counter until it answers again; a call never fails because of
    Redis. ``op_timeout`` and ``backoff`` as for :class:`RedisCooldown`.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        client: Any,
        *,
        key: str = DEFAULT_ROUND_ROBIN_KEY,
        op_timeout: float | None = None,
        backoff: float = 5.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(key, str) or not key:
            msg = f"key must be a non-empty str, got {key!r}"
            raise InvalidConfigError(msg)
        self.key = key
        self.op_timeout, self._conn, self._guard = _connect(
            "round_robin", client, op_timeout, backoff, clock
        )
        self.local = InMemoryRoundRobin()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisRoundRobin:
        """Build a counter from a ``redis://`` URL; ``options`` as for the constructor."""
        redis = import_redis()
        return cls(redis.Redis.from_url(url), **options)

    def next_index(self) -> int:
        """Return the next index (0 first), shared through Redis."""

        def op() -> int:
            return int(self._conn.script(_INCR)(keys=[self.key], args=[86_400_000])) - 1

        return self._guard.run(op, self.local.next_index)

    def __repr__(self) -> str:
        return f"RedisRoundRobin(key={self.key!r})"
