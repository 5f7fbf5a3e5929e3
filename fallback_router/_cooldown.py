"""Cooldown trackers: the :class:`CooldownTracker` protocol and :class:`InMemoryCooldown`."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from . import _log
from ._classify import UnparsableRetryAfterError, retry_after_of
from ._errors import InvalidConfigError

__all__ = ["CooldownState", "CooldownTracker", "InMemoryCooldown"]

#: The longest Retry-After honoured when no ``max_duration`` is set (one hour).
RETRY_AFTER_CAP = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CooldownState:
    """What a tracker remembers of one provider (a value of ``snapshot()``).

    ``remaining`` is the cooldown left in seconds (0.0 when available),
    ``consecutive_failures`` the counted failures since the last trip or success,
    ``level`` how many times the cooldown has escalated in a row (0 = base).

    .. versionadded:: 0.1.0
    """

    remaining: float
    consecutive_failures: int
    level: int


@runtime_checkable
class CooldownTracker(Protocol):
    """What the router needs from a cooldown tracker; bring your own or use ours.

    Trackers may also offer ``remaining_many(names) -> Sequence[float]``; the
    router then plans a fallback call from one bulk read (one round trip for
    Redis). It may return an empty sequence to say that none of ``names`` has any
    state (no cooldown, no counted failure), so a success needs no
    ``record_success`` call.

    .. versionadded:: 0.1.0
    """

    def is_available(self, name: str) -> bool:
        """Return True when ``name`` is not in cooldown."""
        ...

    def remaining(self, name: str) -> float:
        """Return the seconds of cooldown left for ``name`` (0.0 when available)."""
        ...

    def record_failure(self, name: str, error: BaseException) -> bool:
        """Count a failure; return True when it puts ``name`` into cooldown."""
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
    """Validate a positive, finite number of seconds; name ``argument`` in errors."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        msg = f"{argument} must be {need}, got {value!r}"
        raise InvalidConfigError(msg)
    return float(value)


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
        cap = self.max_duration
        if retry_after is not None:
            limit = cap if cap is not None else max(self.duration, RETRY_AFTER_CAP)
            seconds = min(retry_after, limit)
        elif cap is None:
            seconds = self.duration
        else:
            try:
                seconds = min(cap, self.duration * self.multiplier**level)
            except OverflowError:
                seconds = cap
        if self.jitter and seconds > 0.0:
            seconds *= 1.0 + self.jitter * random.random()  # noqa: S311 - not crypto
            if cap is not None:
                seconds = min(seconds, cap)
        return seconds


def read_retry_after(name: str, error: BaseException) -> float | None:
    """Return the error's Retry-After seconds; log and return None when unparsable."""
    try:
        return retry_after_of(error)
    except UnparsableRetryAfterError as exc:
        _log.logger.warning(_log.UNPARSABLE_RETRY_AFTER, provider=name, value=exc.args[0])
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
        clock: a zero-argument callable returning seconds; default
            ``time.monotonic``, looked up at every call so freezegun reaches it.

    Writes are one locked step; ``is_available`` and ``remaining`` read the dict
    without the lock, so the hot path never queues behind a writer. A success
    clears the provider's cooldown, count and escalation. A new cooldown never
    shortens an existing one. Expired state is purged on every write and snapshot.

    .. versionadded:: 0.1.0
    """

    def __init__(
        self,
        duration: float = 60.0,
        *,
        threshold: int = 1,
        max_duration: float | None = None,
        multiplier: float = 2.0,
        jitter: float = 0.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.policy = CooldownPolicy.build(duration, threshold, max_duration, multiplier, jitter)
        if clock is not None and not callable(clock):
            msg = f"clock must be a zero-argument callable, got {clock!r}"
            raise InvalidConfigError(msg)
        self._clock = clock
        self._lock = threading.Lock()
        self._deadlines: dict[str, float] = {}
        # name -> (consecutive counted failures, time of the last one)
        self._failures: dict[str, tuple[int, float]] = {}
        # name -> (escalation level, deadline of the last cooldown)
        self._levels: dict[str, tuple[int, float]] = {}
        # True while no provider has any state: the router's happy path reads it.
        self._idle = True

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else time.monotonic()

    def is_available(self, name: str) -> bool:
        """Return True when ``name`` is not in cooldown (lock-free read)."""
        deadline = self._deadlines.get(name)
        return deadline is None or deadline <= self._now()

    def remaining(self, name: str) -> float:
        """Return the seconds of cooldown left for ``name`` (lock-free read)."""
        deadline = self._deadlines.get(name)
        if deadline is None:
            return 0.0
        left = deadline - self._now()
        return max(0.0, left)

    def remaining_many(self, names: Sequence[str]) -> Sequence[float]:
        """Return ``remaining`` for each name, reading the clock at most once.

        Returns an empty sequence when the tracker holds no state at all, which
        tells the router that a success needs no ``record_success``.
        """
        if self._idle:
            return ()
        now = self._now()
        deadlines = self._deadlines
        out: list[float] = []
        stale = False
        for name in names:
            deadline = deadlines.get(name)
            if deadline is None:
                out.append(0.0)
            elif deadline > now:
                out.append(deadline - now)
            else:
                out.append(0.0)
                stale = True
        if stale:  # an expired cooldown: purge it so the happy path is clean again
            with self._lock:
                self._purge(self._now())
        return out

    def record_failure(self, name: str, error: BaseException) -> bool:
        """Count a failure of ``name``; return True when it trips a cooldown."""
        retry_after = read_retry_after(name, error)
        policy = self.policy
        window = policy.window
        with self._lock:
            now = self._now()
            self._purge(now)
            count, last = self._failures.get(name, (0, now))
            count = 1 if now - last > window else count + 1
            self._idle = False
            if count < policy.threshold:
                self._failures[name] = (count, now)
                return False
            self._failures.pop(name, None)
            level = 0
            previous = self._levels.get(name)
            if previous is not None and policy.max_duration is not None:
                prev_level, prev_deadline = previous
                # Escalate when re-entering after the last cooldown ended; a failure
                # during a cooldown (a forced terminus, a burst of threads) keeps it.
                level = prev_level + 1 if now >= prev_deadline else prev_level
            seconds = policy.length(level, retry_after)
            if seconds <= 0.0:
                self._refresh_idle()
                return False
            deadline = max(now + seconds, self._deadlines.get(name, -math.inf))
            self._deadlines[name] = deadline
            self._levels[name] = (level, deadline)
            return True

    def record_success(self, name: str) -> None:
        """Clear ``name``'s cooldown, failure count and escalation."""
        if name in self._failures or name in self._deadlines or name in self._levels:
            with self._lock:
                self._forget(name)
                self._purge(self._now())

    def reset(self, name: str | None = None) -> None:
        """Forget ``name`` (or everything when None)."""
        with self._lock:
            if name is None:
                self._failures.clear()
                self._deadlines.clear()
                self._levels.clear()
            else:
                self._forget(name)
            self._refresh_idle()

    def snapshot(self) -> dict[str, CooldownState]:
        """Return the state of every provider that still has some, purged first."""
        with self._lock:
            now = self._now()
            self._purge(now)
            names = dict.fromkeys([*self._deadlines, *self._failures, *self._levels])
            return {
                name: CooldownState(
                    remaining=max(0.0, self._deadlines.get(name, now) - now),
                    consecutive_failures=self._failures.get(name, (0, 0.0))[0],
                    level=self._levels.get(name, (0, 0.0))[0],
                )
                for name in names
            }

    def _purge(self, now: float) -> None:
        window = self.policy.window
        for name in [n for n, d in self._deadlines.items() if d <= now]:
            del self._deadlines[name]
        for name in [n for n, (_, t) in self._failures.items() if now - t > window]:
            del self._failures[name]
        for name in [n for n, (_, d) in self._levels.items() if now - d > window]:
            del self._levels[name]
        self._refresh_idle()

    def _forget(self, name: str) -> None:
        self._failures.pop(name, None)
        self._deadlines.pop(name, None)
        self._levels.pop(name, None)

    def _refresh_idle(self) -> None:
        # _idle mirrors "all three dicts empty" so the hot path reads one attribute.
        self._idle = not (self._deadlines or self._failures or self._levels)

    def __repr__(self) -> str:
        p = self.policy
        return (
            f"InMemoryCooldown(duration={p.duration}, threshold={p.threshold}, "
            f"max_duration={p.max_duration}, in_cooldown={len(self._deadlines)})"
        )
