"""Cooldown trackers: the :class:`CooldownTracker` protocol and :class:`InMemoryCooldown`."""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from . import _log
from ._errors import InvalidConfigError
from ._hints import UnparsableRetryAfterError, retry_after_of

__all__ = ["CooldownState", "CooldownTracker", "InMemoryCooldown"]

#: The longest Retry-After honoured when no ``max_duration`` is set (one hour).
RETRY_AFTER_CAP = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CooldownState:
    """What a tracker remembers of one provider (a value of ``snapshot()``).

    ``remaining`` is the cooldown left in seconds (0.0 when available; while a
    half-open probe is in flight, the longest it may still hold the provider),
    ``consecutive_failures`` the counted failures since the last trip or success,
    ``level`` how many times the cooldown has escalated in a row (0 = base),
    ``length`` the length of the latest cooldown in seconds and ``half_open`` True
    once a cooldown has ended but no success has cleared the provider yet.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``length`` and ``half_open``.
    """

    remaining: float
    consecutive_failures: int
    level: int
    length: float = 0.0
    half_open: bool = False


@runtime_checkable
class CooldownTracker(Protocol):
    """What the router needs from a cooldown tracker; bring your own or use ours.

    Optional extras the router uses when present:

    - ``remaining_many(names) -> Sequence[float]``: plan a call from one bulk read
      (one round trip for Redis). An empty sequence says that none of ``names`` has
      any state, so a success needs no ``record_success`` call.
    - ``try_probe(name) -> bool`` and ``end_probe(name)``: half-open probing. The
      router asks ``try_probe`` before attempting a provider the tracker has state
      for; False means another call's probe is in flight (skip it). A claimed probe
      is released by ``record_success``, a counted ``record_failure`` or, for any
      other outcome, ``end_probe``.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``record_failure`` returns the cooldown length (0.0 for none); a tracker
       that still returns a bool works, the router then asks ``remaining``.
    """

    def is_available(self, name: str) -> bool:
        """Return True when ``name`` is not in cooldown."""
        ...

    def remaining(self, name: str) -> float:
        """Return the seconds of cooldown left for ``name`` (0.0 when available)."""
        ...

    def record_failure(self, name: str, error: BaseException) -> float:
        """Count a failure; return the cooldown it started in seconds, 0.0 for none."""
        ...

    def record_success(self, name: str) -> None:
        """Clear ``name``'s failure count, escalation and cooldown."""
        ...

    def reset(self, name: str | None = None) -> None:
        """Forget everything about ``name``, or about every provider."""
        ...

    def snapshot(self) -> Mapping[str, CooldownState]:
        """Return the providers that still have state."""
        ...


def check_seconds(argument: str, value: object, *, allow_zero: bool = False) -> float:
    """Validate a positive, finite number of seconds; name ``argument`` in errors.

    Ints too large for a float (``10**400``) are rejected like infinities.
    """
    seconds = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        msg = f"{argument} must be {need}, got {shown}"
        raise InvalidConfigError(msg)
    return seconds


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    """How long cooldowns last: shared by the in-memory and Redis trackers."""

    duration: float
    threshold: int
    max_duration: float | None
    multiplier: float
    jitter: float

    @classmethod
    def build(
        cls,
        duration: object,
        threshold: object,
        max_duration: object,
        multiplier: object,
        jitter: object,
    ) -> CooldownPolicy:
        """Validate the arguments; every error names the offending argument."""
        base = check_seconds("duration", duration)
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            msg = f"threshold must be an int >= 1, got {threshold!r}"
            raise InvalidConfigError(msg)
        cap = None
        if max_duration is not None:
            cap = check_seconds("max_duration", max_duration)
            if cap < base:
                msg = f"max_duration ({max_duration!r}) must be >= duration ({duration!r})"
                raise InvalidConfigError(msg)
        mult = check_seconds("multiplier", multiplier)
        if mult < 1:
            msg = f"multiplier must be >= 1, got {multiplier!r}"
            raise InvalidConfigError(msg)
        jit = check_seconds("jitter", jitter, allow_zero=True)
        if jit > 1:
            msg = f"jitter must be between 0 and 1, got {jitter!r}"
            raise InvalidConfigError(msg)
        return cls(base, threshold, cap, mult, jit)

    @property
    def window(self) -> float:
        """How long failure counts and escalation memory outlive the last event."""
        return self.max_duration if self.max_duration is not None else self.duration

    def length(self, level: int, retry_after: float | None) -> float:
        """Return the cooldown length for an escalation ``level`` and Retry-After."""
        return self.clamp(self.base_length(level, retry_after) * self.jitter_factor(), retry_after)

    def base_length(self, level: int, retry_after: float | None) -> float:
        """The cooldown length before jitter (and before the final clamp)."""
        cap = self.max_duration
        if retry_after is not None:
            return min(retry_after, self.limit(retry_after))
        if cap is None:
            return self.duration
        try:
            return min(cap, self.duration * self.multiplier**level)
        except OverflowError:
            return cap

    def limit(self, retry_after: float | None) -> float:
        """The longest cooldown: ``max_duration``, else one hour for a Retry-After."""
        if self.max_duration is not None:
            return self.max_duration
        return max(self.duration, RETRY_AFTER_CAP) if retry_after is not None else math.inf

    def jitter_factor(self) -> float:
        """A random factor from 1 to ``1 + jitter``."""
        return 1.0 + self.jitter * random.random() if self.jitter else 1.0  # noqa: S311

    def clamp(self, seconds: float, retry_after: float | None) -> float:
        """Clamp a jittered length to :meth:`limit` (jitter never passes the cap)."""
        return min(seconds, self.limit(retry_after))


def read_retry_after(name: str, error: BaseException) -> float | None:
    """Return the error's Retry-After seconds; log and return None when unparsable."""
    try:
        return retry_after_of(error)
    except UnparsableRetryAfterError as exc:
        _log.logger.warning(
            _log.template(_log.UNPARSABLE_RETRY_AFTER), provider=name, value=exc.args[0]
        )
        return None


class InMemoryCooldown:
    """A thread-safe, in-process cooldown tracker: a dict of monotonic deadlines.

    Args:
        duration: seconds a provider stays in cooldown (default 60).
        threshold: consecutive counted failures that trip a cooldown (default 1).
            Failures further apart than the escalation window do not add up.
        max_duration: enables escalation: a provider that re-enters cooldown
            within ``max_duration`` of leaving it gets ``multiplier`` times the
            previous length, up to ``max_duration``. Also caps Retry-After (which
            is otherwise capped at one hour). None (default): every cooldown
            lasts ``duration``.
        multiplier: escalation factor (default 2).
        jitter: up to this fraction (0-1) is added at random to each cooldown,
            never past ``max_duration``, so many processes do not return at once.
        half_open: when a cooldown ends the provider is half-open: the first call
            that reaches it is its single probe and other calls skip it until the
            probe returns. A successful probe clears it; a counted failure puts it
            straight back into cooldown (next escalation level) whatever the
            threshold. Default True; False: every call may try it again at once.
        clock: a zero-argument callable returning seconds; default
            ``time.monotonic``, looked up at every call so freezegun reaches it.

    Writes are one locked step and never scan other providers (expiries sit in a
    heap), so they cost the same with 10 or 100,000 providers in cooldown.
    ``is_available`` and ``remaining`` read the dict without the lock, so the hot
    path never queues behind a writer. A success clears the provider's cooldown,
    count and escalation. A new cooldown never shortens an existing one. State
    lapses a window (``max_duration``, else ``duration``) after its last event.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``half_open``; ``record_failure`` returns the cooldown length.
    """

    def __init__(
        self,
        duration: float = 60.0,
        *,
        threshold: int = 1,
        max_duration: float | None = None,
        multiplier: float = 2.0,
        jitter: float = 0.0,
        half_open: bool = True,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.policy = CooldownPolicy.build(duration, threshold, max_duration, multiplier, jitter)
        if not isinstance(half_open, bool):
            msg = f"half_open must be a bool, got {half_open!r}"
            raise InvalidConfigError(msg)
        if clock is not None and not callable(clock):
            msg = f"clock must be a zero-argument callable, got {clock!r}"
            raise InvalidConfigError(msg)
        self.half_open = half_open
        self._clock = clock
        self._lock = threading.Lock()
        self._deadlines: dict[str, float] = {}
        # name -> (consecutive counted failures, time of the last one)
        self._failures: dict[str, tuple[int, float]] = {}
        # name -> (escalation level, deadline of the last cooldown, its length)
        self._levels: dict[str, tuple[int, float, float]] = {}
        # name -> when its half-open probe was claimed
        self._probes: dict[str, float] = {}
        # (when to look at name again, name); one entry per name with state
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        # True while no provider has any state: the router's happy path reads it.
        self._idle = True
        #: For the router's happy path: this tracker's answers never go stale.
        self._fresh_until = math.inf

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else time.monotonic()

    # -- reads (lock-free) ----------------------------------------------------------

    def is_available(self, name: str) -> bool:
        """Return True when ``name`` may be called (lock-free read)."""
        return self.remaining(name) <= 0.0

    def remaining(self, name: str) -> float:
        """Return the seconds of cooldown left for ``name`` (lock-free read).

        While another call's half-open probe is in flight, returns the longest the
        probe may still hold the provider (until its state lapses).
        """
        deadline = self._deadlines.get(name)
        if deadline is None and name not in self._probes:
            return 0.0
        now = self._now()
        if deadline is not None and deadline > now:
            return deadline - now
        if name in self._probes:
            level = self._levels.get(name)
            if level is not None:
                return max(0.0, level[1] + self.policy.window - now)
        return 0.0

    def remaining_many(self, names: Sequence[str]) -> Sequence[float]:
        """Return ``remaining`` for each name, reading the clock at most once.

        Returns an empty sequence when the tracker holds no state at all, which
        tells the router that a success needs no ``record_success``.
        """
        if self._idle:
            return ()
        now = self._now()
        heap = self._heap
        if heap and heap[0][0] <= now:  # some state lapsed: settle it first
            with self._lock:
                self._settle(now)
            if self._idle:
                return ()
        deadlines, probes = self._deadlines, self._probes
        out: list[float] = []
        for name in names:
            deadline = deadlines.get(name)
            if deadline is not None and deadline > now:
                out.append(deadline - now)
            elif name in probes:
                out.append(self.remaining(name))
            else:
                out.append(0.0)
        return out

    # -- half-open probes -----------------------------------------------------------

    def try_probe(self, name: str) -> bool | None:
        """Claim ``name``'s half-open probe.

        Returns True when this caller now holds the probe, False while another
        call's probe is in flight, None when there is nothing to probe (not
        half-open, or ``half_open=False``).
        """
        if not self.half_open or name not in self._levels:
            return None
        with self._lock:
            now = self._now()
            self._settle(now)
            if name not in self._levels or name in self._deadlines:
                return None
            if name in self._probes:
                return False
            self._probes[name] = now
            return True

    def end_probe(self, name: str) -> None:
        """Release ``name``'s probe without a verdict (the provider stays half-open)."""
        if name in self._probes:
            with self._lock:
                self._probes.pop(name, None)

    # -- writes ---------------------------------------------------------------------

    def record_failure(self, name: str, error: BaseException) -> float:
        """Count a failure of ``name``; return the cooldown it started (0.0 for none)."""
        retry_after = read_retry_after(name, error)
        policy = self.policy
        with self._lock:
            now = self._now()
            self._settle(now)
            self._idle = False
            previous = self._levels.get(name)
            deadline = self._deadlines.get(name)
            on_probation = self.half_open and previous is not None and deadline is None
            count, last = self._failures.get(name, (0, now))
            count = 1 if now - last > policy.window else count + 1
            if count < policy.threshold and not on_probation:
                self._failures[name] = (count, now)
                self._schedule(name, now + policy.window)
                return 0.0
            self._failures.pop(name, None)
            self._probes.pop(name, None)
            level = 0
            if previous is not None and policy.max_duration is not None:
                # Escalate when re-entering after the last cooldown ended; a failure
                # during a cooldown (a forced terminus, a burst of threads) keeps it.
                level = previous[0] + 1 if deadline is None else previous[0]
            seconds = policy.length(level, retry_after)
            if seconds <= 0.0:
                self._refresh_idle()
                return 0.0
            new_deadline = now + seconds
            if deadline is not None and deadline > new_deadline:
                new_deadline, seconds = deadline, previous[2] if previous else seconds
            self._deadlines[name] = new_deadline
            self._levels[name] = (level, new_deadline, seconds)
            self._schedule(name, new_deadline)  # then half-open until the window lapses
            return new_deadline - now

    def record_success(self, name: str) -> None:
        """Clear ``name``'s cooldown, failure count, escalation and probe."""
        if name in self._failures or name in self._deadlines or name in self._levels:
            with self._lock:
                self._forget(name)
                self._refresh_idle()

    def reset(self, name: str | None = None) -> None:
        """Forget ``name`` (or everything when None)."""
        with self._lock:
            if name is None:
                for table in (self._failures, self._deadlines, self._levels, self._probes):
                    table.clear()
                self._heap.clear()
                self._due.clear()
            else:
                self._forget(name)
            self._refresh_idle()

    def snapshot(self) -> dict[str, CooldownState]:
        """Return the state of every provider that still has some, lapsed state dropped."""
        with self._lock:
            now = self._now()
            self._settle(now)
            names = dict.fromkeys([*self._deadlines, *self._failures, *self._levels])
            out: dict[str, CooldownState] = {}
            for name in names:
                deadline = self._deadlines.get(name)
                level, _, length = self._levels.get(name, (0, 0.0, 0.0))
                out[name] = CooldownState(
                    remaining=self.remaining(name),
                    consecutive_failures=self._failures.get(name, (0, 0.0))[0],
                    level=level,
                    length=length,
                    half_open=self.half_open and deadline is None and name in self._levels,
                )
            return out

    # -- bookkeeping (under the lock) ----------------------------------------------

    def _schedule(self, name: str, when: float) -> None:
        """Make sure ``name`` is looked at again by ``when`` (one heap entry per name)."""
        due = self._due.get(name)
        if due is None or when < due:
            self._due[name] = when
            heapq.heappush(self._heap, (when, name))

    def _settle(self, now: float) -> None:
        """Drop the state that lapsed by ``now``: only the names that are due."""
        heap, due = self._heap, self._due
        window = self.policy.window
        deadlines, failures, levels = self._deadlines, self._failures, self._levels
        while heap and heap[0][0] <= now:
            when, name = heapq.heappop(heap)
            if due.get(name) != when:
                continue  # superseded by an earlier entry for the same name
            del due[name]
            lapses: list[float] = []
            deadline = deadlines.get(name)
            if deadline is not None:
                if deadline <= now:
                    del deadlines[name]
                else:
                    lapses.append(deadline)
            failure = failures.get(name)
            if failure is not None:
                if failure[1] + window <= now:
                    del failures[name]
                else:
                    lapses.append(failure[1] + window)
            level = levels.get(name)
            if level is not None:
                if level[1] + window <= now:
                    del levels[name]
                    self._probes.pop(name, None)
                else:
                    lapses.append(level[1] + window)
            if lapses:
                self._schedule(name, min(lapses))
        self._refresh_idle()

    def _forget(self, name: str) -> None:
        for table in (self._failures, self._deadlines, self._levels, self._probes):
            table.pop(name, None)

    def _refresh_idle(self) -> None:
        # _idle mirrors "no state at all" so the hot path reads one attribute.
        self._idle = not (self._deadlines or self._failures or self._levels)

    def __repr__(self) -> str:
        p = self.policy
        return (
            f"InMemoryCooldown(duration={p.duration}, threshold={p.threshold}, "
            f"max_duration={p.max_duration}, in_cooldown={len(self._deadlines)})"
        )
