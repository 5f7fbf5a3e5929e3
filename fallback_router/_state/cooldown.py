"""The in-process cooldown tracker: `InMemoryCooldown`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from fallback_router._errors import InvalidConfigError
from fallback_router._policy import (
    DEFAULT_PROBE_TTL,
    CooldownPolicy,
    check_seconds,
    read_retry_after,
)
from fallback_router._tracker import CooldownState

from .cooldown_tables import CooldownTables
from .ratio import MINIMUM_CALLS, SAMPLING, RatioRule, ratio_repr, resolve_threshold

__all__ = ["InMemoryCooldown"]


class InMemoryCooldown(CooldownTables):
    """A thread-safe, in-process cooldown tracker: a dict of monotonic deadlines.

    Args:
        duration: seconds a provider stays in cooldown (default 60).
        threshold: consecutive counted failures that trip a cooldown (default 1, or
            `minimum_calls` with a `failure_ratio`). Failures further apart than the
            escalation window do not add up.
        max_duration: enables escalation: a provider that re-enters cooldown
            within `max_duration` of leaving it gets `multiplier` times the previous
            length, up to `max_duration`; also caps Retry-After (else one hour).
            None (default): every cooldown lasts `duration`.
        multiplier: escalation factor (default 2).
        jitter: up to this fraction (0-1) is added at random to each cooldown,
            never past `max_duration`, so many processes do not return at once.
        half_open: when a cooldown ends, the first call that reaches the provider is its single
            probe, and other calls skip it until the probe returns: a success clears it, a
            counted failure benches it again (next level) whatever the threshold. Default True;
            False: all may try it at once.
        probe_ttl: seconds a probe stays claimed if its prober never returns
            (default 30; a router with a shorter `timeout=` passes that instead).
        failure_ratio: also trip a provider when, over the last `sampling` seconds,
            it had at least `minimum_calls` counted outcomes and failures / outcomes
            >= this (a number in (0, 1]; Polly's advanced circuit breaker). None
            (default): only the consecutive `threshold` rule. See "Failure ratio" below.
        minimum_calls: outcomes the window needs before the ratio may trip (default 10).
        sampling: seconds of the ratio's window (default 30), kept in 10 buckets of
            `sampling / 10` seconds: an outcome older than `sampling` never counts.
            Either one set to other than its default without `failure_ratio` is an
            `InvalidConfigError` (it would change nothing).
        clock: a zero-argument callable returning seconds; default
            `time.monotonic`, looked up at every call so freezegun reaches it.

    Writes are one locked step and never scan other providers (expiries sit in a heap): they cost
    the same with 10 or 100,000 providers in cooldown. Reads take no lock. A success clears the
    provider's cooldown, count and escalation (one of a call that saw it available keeps a cooldown
    set meanwhile). A new cooldown never shortens an existing one; a clock that steps back never
    lengthens one. State lapses a window (`max_duration`, else `duration`) after its last event.

    Failure ratio: an outcome is a counted failure (what the router records) or a success;
    whichever rule trips first benches the provider, for the usual length and escalation.
    Tripping (by either rule) empties the window, as Polly does when the circuit opens; outcomes
    while the provider is in cooldown (a forced terminus) do not count, and the half-open probe
    is judged alone (a failed probe benches again, a success clears). Each success then costs a
    locked step: the router reports every success to a tracker with a ratio.

    Version:
        Added in 0.1.0. Changed in 0.2.0: `half_open`; `record_failure` returns the cooldown
        length. Changed in 0.3.0: `probe_ttl`, `hold_probe`; `try_probe` tells a cooldown apart
        from nothing to probe; backwards clocks are clamped; `record_failure` returns 0.0 while a
        cooldown as long is already set; `failure_ratio`, `minimum_calls`,
        `sampling`.
    """

    #: Its methods never wait on the network (see the tracker capabilities).
    blocking = False

    def __init__(  # noqa: PLR0913 - the documented keyword arguments
        self,
        duration: float = 60.0,
        *,
        threshold: int | None = None,
        max_duration: float | None = None,
        multiplier: float = 2.0,
        jitter: float = 0.0,
        half_open: bool = True,
        probe_ttl: float = DEFAULT_PROBE_TTL,
        failure_ratio: float | None = None,
        minimum_calls: int = MINIMUM_CALLS,
        sampling: float = SAMPLING,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.ratio = RatioRule.build(failure_ratio, minimum_calls, sampling)
        count = resolve_threshold(threshold, self.ratio)
        self.policy = CooldownPolicy.build(duration, count, max_duration, multiplier, jitter)
        if not isinstance(half_open, bool):
            msg = f"half_open must be a bool, got {half_open!r}"
            raise InvalidConfigError(msg)
        if clock is not None and not callable(clock):
            msg = f"clock must be a zero-argument callable, got {clock!r}"
            raise InvalidConfigError(msg)
        self.half_open = half_open
        self.probe_ttl = check_seconds("probe_ttl", probe_ttl)
        self.clock = clock
        CooldownTables.__init__(self)
        self._refresh_quiet()  # never quiet with a failure ratio: every outcome counts

    def _now(self) -> float:
        return self.clock() if self.clock is not None else time.monotonic()

    # -- reads (lock-free) ----------------------------------------------------------

    def is_available(self, name: str) -> bool:
        """Return True when `name` may be called (lock-free read)."""
        return self.remaining(name) <= 0.0

    def remaining(self, name: str) -> float:
        """Return the seconds of cooldown left for `name` (lock-free read).

        While another call's probe is in flight: the longest it may still hold `name`.
        """
        deadline = self._deadlines.get(name)
        if deadline is None and name not in self._probes:
            return 0.0
        return self._left(name, self._now())

    def _left(self, name: str, now: float) -> float:
        deadline = self._deadlines.get(name)
        if deadline is not None and deadline > now:
            level = self._levels.get(name)
            if level is not None and deadline - now > level[2]:  # the clock stepped back
                with self._lock:
                    return self._reanchor(name, now)
            return deadline - now
        probe = self._probes.get(name)
        if probe is not None and probe > now:
            level = self._levels.get(name)  # held until the probe lapses, or the state does
            lapse = level[1] + self.policy.window if level is not None else probe
            return max(0.0, min(probe, lapse) - now)
        return 0.0

    def remaining_many(self, names: Sequence[str]) -> Sequence[float]:
        """Return `remaining` for each name, reading the clock at most once.

        Returns an empty sequence when the tracker holds no state at all.
        """
        if self.quiet_until > 0.0:
            return ()
        clock = self.clock
        now = clock() if clock is not None else time.monotonic()
        heap = self._heap
        if heap and heap[0][0] <= now:  # some state lapsed: settle it first
            with self._lock:
                self._settle(now)
            if self.quiet_until > 0.0:
                return ()
        deadlines, probes = self._deadlines, self._probes
        return [
            self._left(name, now) if name in deadlines or name in probes else 0.0 for name in names
        ]

    peek = remaining_many

    def hinted(self, names: Sequence[str]) -> Sequence[float]:
        """Return the seconds each name stays benched by an explicit hint (0.0: none).

        A hint is a server's Retry-After (or `retry-after-ms`, reset headers,
        `RetryInfo`) or a router's `cooldown_for=`; it never outlasts the cooldown.
        """
        if not self._hints:
            return [0.0] * len(names)
        now = self._now()
        out: list[float] = []
        for name in names:
            hint = self._hints.get(name)
            deadline = self._deadlines.get(name)
            if hint is None or deadline is None:
                out.append(0.0)
            else:
                left = self._left(name, now)  # the clock may have stepped back: re-anchored
                out.append(max(0.0, min(hint - now, left)))
        return out

    def has_state(self, name: str) -> bool:
        """Whether `name` has any state (cooldown, counted failures, half-open memory)."""
        return name in self._deadlines or name in self._failures or name in self._levels

    @property
    def counts_successes(self) -> bool:
        """True with a failure ratio: the router reports every success (general path)."""
        return self.ratio is not None

    # -- half-open probes -----------------------------------------------------------

    def try_probe(self, name: str, ttl: float | None = None) -> bool | float | None:
        """Claim `name`'s half-open probe.

        Returns True when this caller now holds the probe (for `ttl` seconds at
        most, default `probe_ttl`), False while another call's probe is in
        flight, the seconds left when `name` is in cooldown, or None when there
        is nothing to probe.
        """
        if name not in self._levels and name not in self._deadlines:
            return None
        with self._lock:
            now = self._now()
            self._settle(now)
            deadline = self._deadlines.get(name)
            if deadline is not None:
                return self._reanchor(name, now) if deadline > now else None
            if not self.half_open or name not in self._levels:
                return None
            held = self._probes.get(name)
            if held is not None and held > now:
                return False
            self._probes[name] = now + (self.probe_ttl if ttl is None else min(ttl, self.probe_ttl))
            return True

    def hold_probe(self, name: str) -> None:
        """Keep `name`'s claimed probe for `probe_ttl` seconds from now (nothing if none)."""
        with self._lock:
            if name in self._probes:
                self._probes[name] = self._now() + self.probe_ttl

    def end_probe(self, name: str) -> None:
        """Release `name`'s probe without a verdict (the provider stays half-open)."""
        if name in self._probes:
            with self._lock:
                self._probes.pop(name, None)

    # -- writes ---------------------------------------------------------------------

    def record_failure(
        self, name: str, error: BaseException, duration: float | None = None
    ) -> float:
        """Count a failure of `name`; return the cooldown it started or extended, else 0.0.

        `duration` (seconds; a router's `cooldown_for=`) replaces the error's
        Retry-After and the tracker's own length for the cooldown this failure
        starts (clamped to `max_duration`, else one hour). A cooldown set from a
        hint or a `duration` counts as benched by a hint (see `hinted`).
        """
        retry_after = read_retry_after(name, error) if duration is None else duration
        policy = self.policy
        with self._lock:
            now = self._now()
            self._settle(now)
            self.quiet_until = -math.inf
            previous = self._levels.get(name)
            deadline = self._deadlines.get(name)
            if deadline is not None and previous is not None and deadline - now > previous[2]:
                deadline = now + self._reanchor(name, now)
            on_probation = self.half_open and previous is not None and deadline is None
            count, last = self._failures.get(name, (0, now))
            count = 1 if now - last > policy.window or now < last else count + 1
            # Outcomes while benched do not count: the window restarts when the cooldown ends.
            by_ratio = deadline is None and self._count(name, now, failed=True)
            if count < policy.threshold and not on_probation and not by_ratio:
                self._failures[name] = (count, now)
                self._schedule(name, now + policy.window)
                return 0.0
            return self._trip(name, now, previous, deadline, count, retry_after)

    def record_success(self, name: str, clears_cooldown: bool = True) -> None:
        """Clear `name`'s cooldown, failure count, escalation and probe.

        With `clears_cooldown=False` (a call that saw it available) a newer cooldown or probe
        stays. With a failure ratio the success also counts in the window (unless benched).
        """
        if self.ratio is not None:
            with self._lock:
                self._succeeded(name, self._now(), clears_cooldown)
            return
        if name in self._failures or name in self._deadlines or name in self._levels:
            with self._lock:
                if not clears_cooldown:
                    now = self._now()
                    if self._deadlines.get(name, -math.inf) > now or (
                        self._probes.get(name, -math.inf) > now
                    ):
                        return
                self._forget(name)
                self._refresh_quiet()

    def reset(self, name: str | None = None) -> None:
        """Forget `name` (or everything when None)."""
        with self._lock:
            if name is None:
                self._clear()
            else:
                self._forget(name)
            self._refresh_quiet()

    def snapshot(self) -> dict[str, CooldownState]:
        """Return the state of every provider that still has some, lapsed state dropped."""
        with self._lock:
            now = self._now()
            self._settle(now)
            names = dict.fromkeys(
                [*self._deadlines, *self._failures, *self._levels, *self._windows]
            )
            rule = self.ratio
            out: dict[str, CooldownState] = {}
            for name in names:
                window = self._windows.get(name)
                failures, outcomes = rule.totals(window, now) if rule and window else (0, 0)
                benched = name in self._deadlines
                level, _, length, tripped = self._levels.get(name, (0, 0.0, 0.0, 0))
                left = self._deadlines[name] - now if benched else 0.0
                count = tripped if benched else self._failures.get(name, (0, 0.0))[0]
                out[name] = CooldownState(
                    remaining=min(left, length) if benched else self._left(name, now),
                    consecutive_failures=count,
                    level=level,
                    length=length,
                    half_open=self.half_open and not benched and name in self._levels,
                    window_failures=failures,
                    window_outcomes=outcomes,
                )
            return out

    def __repr__(self) -> str:
        p = self.policy
        return (
            f"InMemoryCooldown(duration={p.duration}, threshold={p.threshold}, "
            f"max_duration={p.max_duration}, {ratio_repr(self.ratio)}"
            f"in_cooldown={len(self._deadlines)})"
        )
