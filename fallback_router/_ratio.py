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
from dataclasses import dataclass

from ._errors import InvalidConfigError
from ._policy import check_seconds

__all__ = ["BUCKETS", "RatioRule", "Window", "ratio_repr", "resolve_threshold"]

#: Buckets per sampling window (each `sampling / BUCKETS` seconds long).
BUCKETS = 10

#: One provider's buckets, oldest first: [bucket number, failures, outcomes] each.
Window = list[list[int]]


@dataclass(frozen=True, slots=True)
class RatioRule:
    """`failure_ratio`, `minimum_calls` and `sampling`, validated."""

    ratio: float
    minimum: int
    sampling: float

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
            return None
        ratio = math.nan
        if isinstance(failure_ratio, int | float) and not isinstance(failure_ratio, bool):
            ratio = float(failure_ratio)
        if not 0.0 < ratio <= 1.0:
            msg = f"failure_ratio must be a number in (0, 1], got {failure_ratio!r}"
            raise InvalidConfigError(msg)
        return cls(ratio, minimum_calls, seconds)

    @property
    def width(self) -> float:
        """Seconds per bucket."""
        return self.sampling / BUCKETS

    def trips(self, failures: int, outcomes: int) -> bool:
        """Whether these counts over the window trip the provider."""
        return outcomes >= self.minimum and failures / outcomes >= self.ratio

    def bucket(self, now: float) -> int:
        """The number of the bucket `now` falls in."""
        return math.floor(now / self.width)

    def lapse(self, window: Window) -> float:
        """When the newest bucket of `window` stops counting (clock time)."""
        return (window[-1][0] + BUCKETS) * self.width

    def add(self, window: Window, now: float, failed: bool) -> tuple[int, int]:
        """Count one outcome at `now`; return (failures, outcomes) over the window.

        Buckets that left the window are dropped first; a clock that stepped
        back counts the outcome in the newest bucket.
        """
        number = self.bucket(now)
        while window and window[0][0] <= number - BUCKETS:
            del window[0]
        if window and window[-1][0] >= number:
            newest = window[-1]
        else:
            newest = [number, 0, 0]
            window.append(newest)
        newest[1] += failed
        newest[2] += 1
        return sum(b[1] for b in window), sum(b[2] for b in window)

    def totals(self, window: Window, now: float) -> tuple[int, int]:
        """(failures, outcomes) of `window` at `now`, without changing it."""
        first = self.bucket(now) - BUCKETS
        live = [b for b in window if b[0] > first]
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
