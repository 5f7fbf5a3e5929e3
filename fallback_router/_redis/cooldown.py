"""A cooldown tracker on a Redis server: `RedisCooldown`.

`redis` (redis-py) is imported lazily, so the package imports without it. Keys and
scripts: see `scripts`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fallback_router import _policy
from fallback_router._errors import InvalidConfigError
from fallback_router._policy import CooldownPolicy, check_seconds, read_retry_after
from fallback_router._state import ratio as rules
from fallback_router._state.cooldown import InMemoryCooldown
from fallback_router._tracker import CooldownState

from . import ratio as window
from . import scripts as lua
from .claims import Claims
from .clients import import_redis
from .guard import connect
from .mirror import MIRROR_NAMES, Mirror
from .snapshot import read_hints, read_names, read_snapshot

__all__ = ["DEFAULT_NAMESPACE", "DEFAULT_REFRESH", "MIRROR_NAMES", "RedisCooldown"]

#: The namespace RedisCooldown uses unless told otherwise.
DEFAULT_NAMESPACE = "default"
_KINDS = ("cooldown", "failures", "level", "probe", "hint", "window")
#: Seconds between two reads of the shared state into a process' mirror, by default.
DEFAULT_REFRESH = 0.1


class RedisCooldown:
    """A cooldown tracker on a Redis server, shared by every process that uses it.

    Same protocol and semantics as [`InMemoryCooldown`][fallback_router.InMemoryCooldown]; the
    server's key expiry is the clock, so hosts with different clocks agree. Trackers with the same
    `namespace` (default `"default"`) share state. `client` may be a `redis.Redis` (TCP, TLS, unix
    socket), a Sentinel `master_for` client or a `redis.cluster.RedisCluster`; the tracker builds
    its own bounded client to the same deployment.

    Routed calls read a process-local mirror of the shared state. It is read
    again at most once per `refresh` seconds, by one call for all threads (the
    others wait for that read instead of using a stale view), and at once by this
    process's own writes. A read costs one round trip and covers only the names
    asked about since the previous read (and the fixed names of routers using
    the tracker), whatever the number of names ever seen. A tracker's first call
    reads before it answers, so no call goes out on an empty view.

    Args:
        client: a `redis.Redis`; its address, auth, TLS and database are used
            through a private pool with bounded timeouts and no retries.
        duration: seconds of the first cooldown, as in memory.
        threshold: failures in a row that start a cooldown (as in memory: default 1, or
            `minimum_calls` with a `failure_ratio`).
        max_duration: cap of escalating cooldowns, None to disable (as in memory).
        multiplier: escalation factor (as in memory).
        jitter: random lengthening, a fraction of the cooldown (as in memory).
        namespace: separates routers that must not share cooldowns.
        half_open: probe a provider once after its cooldown, one probe among all
            processes sharing the namespace (as in memory).
        probe_ttl: seconds a probe may stay claimed (a crashed prober holds the
            provider at most this long); default 30, or a router's `timeout=`
            when shorter.
        op_timeout: seconds each Redis operation may take (connect and reply each);
            default 0.1, read when the tracker is built.
        backoff: seconds to stop asking Redis after a failure, default 5.
        refresh: seconds the mirror is trusted (default 0.1; 0 reads on every
            planned call). A cooldown entered by another process is honoured
            by every call here starting `refresh + min(op_timeout, refresh/2)` later.
        failure_ratio: trip on a share of failures (as in memory), over one window shared
            by every process: failures judged atomically on the server, successes sent
            in batches within `refresh` (see the Cooldowns guide).
        minimum_calls: outcomes the shared window needs before the ratio may trip.
        sampling: seconds of the shared window. Either one set to other than its
            default without `failure_ratio` is an `InvalidConfigError`.
        clock: monotonic clock for the back-off, the mirror and the local fallback.

    Fail-open: when Redis is unreachable or slow, the tracker uses a process-local
    `InMemoryCooldown` with the same settings until Redis answers again (then the
    local state is dropped), and never raises. A routed call pays at most
    `2 * op_timeout` once per `backoff` period for an outage.

    Version:
        Added in 0.1.0. Changed in 0.2.0: Sentinel and cluster clients, `refresh`
        and the mirror. Changed in 0.3.0: probes are one in the whole system; a
        first call waits for the first read; refreshes read the names in use;
        `failure_ratio`, `minimum_calls`, `sampling`.
    """

    #: Its methods may wait on the network: async routers call them off the loop.
    blocking = True

    def __init__(  # noqa: PLR0913 - mirrors InMemoryCooldown plus connection options
        self,
        client: Any,
        *,
        duration: float = 60.0,
        threshold: int | None = None,
        max_duration: float | None = None,
        multiplier: float = 2.0,
        jitter: float = 0.0,
        namespace: str = DEFAULT_NAMESPACE,
        half_open: bool = True,
        probe_ttl: float | None = None,
        op_timeout: float | None = None,
        backoff: float = 5.0,
        refresh: float = DEFAULT_REFRESH,
        failure_ratio: float | None = None,
        minimum_calls: int = rules.MINIMUM_CALLS,
        sampling: float = rules.SAMPLING,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.ratio = rules.RatioRule.build(failure_ratio, minimum_calls, sampling)
        count = rules.resolve_threshold(threshold, self.ratio)
        self.policy = CooldownPolicy.build(duration, count, max_duration, multiplier, jitter)
        self.refresh = check_seconds("refresh", refresh, allow_zero=True)
        if not isinstance(namespace, str) or not namespace:  # any text: it is encoded
            msg = f"namespace must be a non-empty str, got {namespace!r}"
            raise InvalidConfigError(msg)
        self.half_open = half_open  # checked by the local tracker just below
        self.local = InMemoryCooldown(
            duration, threshold=threshold, max_duration=max_duration, multiplier=multiplier,
            jitter=jitter, half_open=half_open, failure_ratio=failure_ratio,
            minimum_calls=minimum_calls, sampling=sampling, clock=clock,
            probe_ttl=_policy.DEFAULT_PROBE_TTL if probe_ttl is None else probe_ttl,
        )  # fmt: skip
        self.probe_ttl = self.local.probe_ttl
        self.namespace = namespace
        self.op_timeout, self._conn, self._guard = connect(
            "cooldown", client, op_timeout, backoff, clock
        )
        # Redis is authoritative again after an outage: forget what was kept locally.
        self._guard.on_recover = self._recovered
        self._guard.on_failure = self._failed
        self.clock = clock
        #: No watched provider has state until then (the router's happy path reads it).
        self.quiet_until = -math.inf
        self.mirror = Mirror(
            self, self._fetch, self.local, lambda: self._guard.down, self.refresh,
            self.op_timeout, clock,
        )  # fmt: skip
        self.mirror.every_outcome = self.ratio is not None
        self._pending = window.Pending()  # successes not yet sent (with a failure ratio)
        self._prefix = lua.prefix(namespace)
        self._claims = Claims(self._conn, self._guard.errors)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisCooldown:
        """Build a tracker from a `redis://` URL; `options` as for the constructor."""
        redis = import_redis()
        return cls(redis.Redis.from_url(url), **options)

    def _keys(self, name: str) -> list[str]:
        """cooldown, failures, level, probe, hint and window keys of `name`."""
        p, n = self._prefix, lua.encode_key_part(name)
        return [f"{p}{kind}:{n}" for kind in _KINDS]

    def _now(self) -> float:
        clock = self.clock
        return clock() if clock is not None else time.monotonic()

    # -- the process-local mirror ----------------------------------------------------------

    def watch(self, names: Sequence[str]) -> None:
        """Include `names` in every read (a router's fixed providers; called once)."""
        self.mirror.watch(names)

    def peek(self, names: Sequence[str]) -> Sequence[float] | None:
        """Answer `remaining_many` from the mirror without waiting on the network, or None."""
        return self.mirror.peek(names)

    def remaining_many(self, names: Sequence[str]) -> Sequence[float]:
        """Return the cooldown left for each name (`()`: none has state), from the mirror.

        A mirror due for a read is read by this call while other threads keep
        using it; one too stale to use (or not covering `names`, or never read)
        is read before answering, by this call or the one it waits for.
        """
        return self.mirror.remaining_many(names)

    def has_state(self, name: str) -> bool:
        """Whether `name` had any state at the mirror's last read (or by this process' writes)."""
        return self.mirror.dirty(name)

    @property
    def counts_successes(self) -> bool:
        """True with a failure ratio: the router reports every success (general path)."""
        return self.ratio is not None

    def _fetch(self, order: list[str]) -> list[int] | None:
        """Read `order`'s state: one round trip; None while failing open."""

        def op() -> list[int]:
            window.flush(self._conn, self._keys, self.ratio, self._pending)  # successes first
            return read_names(self._conn, self._keys, order)

        return self._guard.run(op, lambda: None)

    def _failed(self) -> None:
        """After a failed operation: a new client next time; the mirror is not trusted."""
        self._conn.forget()
        self.mirror.forget()

    def _recovered(self) -> None:
        """Redis answers again: it is authoritative, the local state goes."""
        self.local.reset()
        self.mirror.forget()
        self._claims.release_lost()

    def remaining(self, name: str) -> float:
        """Return the seconds `name` stays unavailable (cooldown, else a probe in flight)."""
        left = self.remaining_many([name])
        return left[0] if left else 0.0

    def is_available(self, name: str) -> bool:
        """Return True when `name` is not in cooldown."""
        return self.remaining(name) <= 0.0

    # -- writes -----------------------------------------------------------------------------

    def try_probe(self, name: str, ttl: float | None = None) -> bool | float | None:
        """Claim `name`'s half-open probe across processes (see the tracker protocol).

        Returns True (claimed), False (another process' probe is in flight), the
        seconds left when `name` is in cooldown (the mirror is updated), or None
        (nothing to probe). The probe key expires after `ttl` (at most
        `probe_ttl`) seconds, so a prober that died holds the provider no longer.
        """
        if not self._guard.down and not self.mirror.dirty(name):
            return None
        seconds = self.probe_ttl if ttl is None else min(ttl, self.probe_ttl)

        def op() -> bool | float | None:
            cooldown, _, level, probe, *_ = self._keys(name)
            code, ms = self._claims.claim(
                [cooldown, level, probe], [max(1, int(seconds * 1000)), 1 if self.half_open else 0]
            )
            if code == 3:
                left = int(ms) / 1000.0
                self.mirror.write(name, self._now() + left, True)
                return left
            return None if code == 0 else code == 1

        return self._guard.run(op, lambda: self.local.try_probe(name, ttl))

    def hold_probe(self, name: str) -> None:
        """Keep `name`'s claimed probe for `probe_ttl` from now (see `InMemoryCooldown`)."""
        key, ms, hold = self._keys(name)[3], max(1, int(self.probe_ttl * 1000)), self.local
        self._guard.run(lambda: self._conn.get().pexpire(key, ms), lambda: hold.hold_probe(name))

    def end_probe(self, name: str) -> None:
        """Release `name`'s probe without a verdict."""
        self._guard.run(
            lambda: self._conn.get().delete(self._keys(name)[3]),
            lambda: self.local.end_probe(name),
        )

    def hinted(self, names: Sequence[str]) -> Sequence[float]:
        """Return the seconds each name stays benched by an explicit hint (0.0: none).

        Read from the server (one round trip), so a hint another process
        recorded counts here at once; the local tracker answers while failing open.
        """
        return self._guard.run(
            lambda: read_hints(self._conn, self._keys, names), lambda: self.local.hinted(names)
        )

    def record_failure(
        self, name: str, error: BaseException, duration: float | None = None
    ) -> float:
        """Count a failure atomically on the server; return the cooldown it started or extended.

        `duration` (a router's `cooldown_for=`) replaces the hint and the
        tracker's own length, as in memory; the "benched by a hint" fact is
        stored with the cooldown, in the same atomic step, for every process.
        """
        retry_after = read_retry_after(name, error) if duration is None else duration

        def op() -> float:
            with self._pending.sending:  # a flush under way lands first
                successes = self._pending.take(name) if self.ratio is not None else 0
            script, args = window.failure_call(
                self.policy, self.ratio, retry_after, self.half_open, successes
            )
            code, ms = self._conn.script(script)(keys=self._keys(name), args=args)
            held = ms / 1000.0  # the cooldown the provider has now, new or not
            self.mirror.write(name, self._now() + held if held > 0 else None, True)
            return held if code == 1 else 0.0

        return self._guard.run(op, lambda: self.local.record_failure(name, error, duration))

    def record_success(self, name: str, clears_cooldown: bool = True) -> None:
        """Clear `name`'s state; no round trip when it had none at the last read.

        With `clears_cooldown=False` (a call that saw `name` available), a
        cooldown or probe set on the server since then is kept. With a failure
        ratio the success is counted for the shared window (sent in a batch).
        """
        if self.ratio is not None and not self._guard.down:
            self._pending.add(name)
        if not self._guard.down and not self.mirror.dirty(name):
            return

        def op() -> None:
            cleared = self._conn.script(lua.RECORD_SUCCESS)(
                keys=self._keys(name), args=[1 if clears_cooldown else 0]
            )
            if int(cleared):
                self.mirror.write(name, None, False)

        self._guard.run(op, lambda: self.local.record_success(name, clears_cooldown))

    def reset(self, name: str | None = None) -> None:
        """Forget `name` (or every provider of this namespace)."""

        def op() -> None:
            if name is not None:
                self._conn.get().delete(*self._keys(name))
                return
            keys = list(self._conn.get().scan_iter(match=f"{self._prefix}*", count=500))
            if keys:
                self._conn.get().delete(*keys)

        self.local.reset(name)
        self._pending.drop(name)
        self._guard.run(op, lambda: None)
        self.mirror.forget()  # read again at the next call

    def snapshot(self) -> Mapping[str, CooldownState]:
        """Return every provider of this namespace that still has state."""
        return self._guard.run(self._snapshot, self.local.snapshot)

    def _snapshot(self) -> dict[str, CooldownState]:
        window.flush(self._conn, self._keys, self.ratio, self._pending)  # ours count in it
        return read_snapshot(self._conn.get(), self._prefix, self.half_open)

    def __repr__(self) -> str:
        p = self.policy
        return (
            f"RedisCooldown(namespace={self.namespace!r}, duration={p.duration}, "
            f"threshold={p.threshold}, max_duration={p.max_duration}"
            f"{', ' + rules.ratio_repr(self.ratio)[:-2] if self.ratio else ''})"
        )
