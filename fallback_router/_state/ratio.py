"""The failure-ratio rule of the cooldown trackers: `RatioRule` and its time buckets.

A provider trips when, over the last `sampling` seconds, it had at least
`minimum_calls` counted outcomes and failures / outcomes >= `failure_ratio`
(Polly's advanced circuit breaker). Outcomes sit in `BUCKETS` buckets of
`sampling / BUCKETS` seconds each, so the memory per provider is a few numbers,
whatever the traffic; a bucket is counted while it started less than `sampling`
ago, so an outcome older than `sampling` never counts.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from fallback_router._errors import InvalidConfigError
from fallback_router._policy import check_seconds

__all__ = ["BUCKETS", "RatioRule", "Window", "ratio_repr", "resolve_threshold"]

#: The defaults of `minimum_calls=` and `sampling=` (seconds).
MINIMUM_CALLS, SAMPLING = 10, 30.0
#: Buckets per sampling window (each `sampling / BUCKETS` seconds long).
BUCKETS = 10


class Window:
    """One provider's outcomes over the window: its buckets, oldest first, and their totals."""

    __slots__ = ("buckets", "failures", "outcomes")

    def __init__(self) -> None:
        #: [bucket number, failures, outcomes] each, oldest first (at most `BUCKETS`).
        self.buckets: deque[list[int]] = deque()
        self.failures = 0
        self.outcomes = 0


@dataclass(frozen=True, slots=True)
class RatioRule:
    """`failure_ratio`, `minimum_calls` and `sampling`, validated."""

    ratio: float
    minimum: int
    sampling: float
    #: Seconds per bucket (`sampling / BUCKETS`).
    width: float

    @classmethod
    def build(
        cls, failure_ratio: object, minimum_calls: object, sampling: object
    ) -> RatioRule | None:
        """Validate the three options (each error names its value); None without a ratio."""
        if (
            isinstance(minimum_calls, bool)
            or not isinstance(minimum_calls, int)
            or minimum_calls < 1
        ):
            msg = f"minimum_calls must be an int >= 1, got {minimum_calls!r}"
            raise InvalidConfigError(msg)
        seconds = check_seconds("sampling", sampling)
        if failure_ratio is None:
            if minimum_calls != MINIMUM_CALLS or seconds != SAMPLING:  # set, and unused
                given = f"minimum_calls={minimum_calls!r}, sampling={sampling!r}"
                msg = f"{given} shape the failure ratio: they need failure_ratio= as well"
                raise InvalidConfigError(msg)
            return None
        ratio = math.nan
        if isinstance(failure_ratio, int | float) and not isinstance(failure_ratio, bool):
            ratio = float(failure_ratio)
        if not 0.0 < ratio <= 1.0:
            msg = f"failure_ratio must be a number in (0, 1], got {failure_ratio!r}"
            raise InvalidConfigError(msg)
        return cls(ratio, minimum_calls, seconds, seconds / BUCKETS)

    def trips(self, failures: int, outcomes: int) -> bool:
        """Whether these counts over the window trip the provider."""
        return outcomes >= self.minimum and failures / outcomes >= self.ratio

    def lapse(self, window: Window) -> float:
        """When the newest bucket of `window` stops counting (clock time)."""
        return (window.buckets[-1][0] + BUCKETS) * self.width

    def add(self, window: Window, now: float, failed: bool) -> None:
        """Count one outcome at `now` in `window` (its totals then cover the window).

        Buckets that left the window are dropped first; a clock that stepped
        back counts the outcome in the newest bucket.
        """
        number = math.floor(now / self.width)
        buckets = window.buckets
        window.failures += failed
        window.outcomes += 1
        if buckets:
            newest = buckets[-1]
            if newest[0] >= number:  # the common case: the current bucket
                newest[1] += failed
                newest[2] += 1
                return
            oldest = number - BUCKETS
            while buckets and buckets[0][0] <= oldest:
                gone = buckets.popleft()
                window.failures -= gone[1]
                window.outcomes -= gone[2]
        buckets.append([number, int(failed), 1])

    def totals(self, window: Window, now: float) -> tuple[int, int]:
        """(failures, outcomes) of `window` at `now`, without changing it."""
        oldest = math.floor(now / self.width) - BUCKETS
        live = [b for b in window.buckets if b[0] > oldest]
        return sum(b[1] for b in live), sum(b[2] for b in live)


def resolve_threshold(threshold: object, rule: RatioRule | None) -> object:
    """`threshold`, or its default: 1, or `minimum_calls` when a failure ratio is set."""
    if threshold is not None:
        return threshold
    return 1 if rule is None else rule.minimum


def ratio_repr(rule: RatioRule | None) -> str:
    """The ratio options for a tracker's repr (`""` without a ratio), ending in ", "."""
    if rule is None:
        return ""
    return f"failure_ratio={rule.ratio}, minimum_calls={rule.minimum}, sampling={rule.sampling}, "
