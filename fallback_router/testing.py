"""Test your routing without a network: scripted providers and a clock you move.

[`Script`][fallback_router.testing.Script] is a provider whose successive calls follow
a script of steps; [`FakeClock`][fallback_router.testing.FakeClock] is a clock for
`Router(clock=...)` and the trackers. The steps:

- a value: returned (for a stream: an iterable whose items are yielded one by one);
- an exception instance or class: raised (a class is instantiated on each call);
- [`http_error(...)`][fallback_router.testing.http_error]: a real
  `httpx.HTTPStatusError` shaped like a vendor's (needs httpx), raised;
- [`hang(...)`][fallback_router.testing.hang]: blocks (sync) or sleeps (async);
- [`cut(...)`][fallback_router.testing.cut] and [`stall(...)`][fallback_router.testing.stall]:
  stream steps that yield items, then fail or fall silent.

The last step repeats. A malformed script is a `TypeError` naming the step: no steps,
a step that cannot be replayed (a one-shot iterator, a coroutine, a helper such as
`hang` passed without calling it), a stream step on a plain call, or a value that is not
an iterable of items on a stream call. Numbers out of range are a `ValueError`.

Importing this module imports nothing beyond the package and the standard library;
`http_error` imports httpx when it is called.
"""

from __future__ import annotations

import math
import threading

from ._script import Script
from ._scripted import Step, cut, hang, http_error, seconds_of, stall

__all__ = ["FakeClock", "Script", "Step", "cut", "hang", "http_error", "stall"]


class FakeClock:
    """A clock that moves only when told: pass the instance as `clock=`.

    The instance is the zero-argument clock that `Router(clock=...)`,
    `InMemoryCooldown(clock=...)` and the other trackers and limiters read; give the
    router and its tracker the same one. `fake()` reads it, `fake.advance(seconds)`
    moves it forward. Advancing is atomic across threads.

    It moves cooldowns, half-open probes, rate-limit buckets and `Result` timings;
    real waits (a hang, `attempt_timeout=`) keep real time, and a Redis server keeps
    its own clock for key expiry.

    Args:
        start: the first reading, in seconds.

    Raises:
        TypeError: `start` is not a number.
        ValueError: `start` is infinite or NaN.

    Example:
        ```python
        from fallback_router import InMemoryCooldown
        from fallback_router.testing import FakeClock

        clock = FakeClock()
        tracker = InMemoryCooldown(60, clock=clock)
        tracker.record_failure("a", RuntimeError("down"))
        clock.advance(60)
        assert tracker.is_available("a")
        ```

    Version:
        Added in 0.3.0.
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float = 0.0) -> None:
        if isinstance(start, bool) or not isinstance(start, int | float):
            msg = f"FakeClock(start) must be a number of seconds, got {start!r}"
            raise TypeError(msg)
        if not math.isfinite(start):
            msg = f"FakeClock(start) must be finite, got {start!r}"
            raise ValueError(msg)
        self._now = float(start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current reading, in seconds."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds`.

        Raises:
            TypeError: `seconds` is not a number.
            ValueError: `seconds` is negative, infinite or NaN (a monotonic clock
                never goes back).
        """
        step = seconds_of(seconds, "FakeClock.advance(seconds)")
        if step is None:
            msg = "FakeClock.advance(seconds) must be a number of seconds, got None"
            raise TypeError(msg)
        with self._lock:
            self._now += step

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"


for _public in (Script, Step, cut, hang, http_error, stall):
    _public.__module__ = __name__  # reprs and tracebacks say fallback_router.testing
