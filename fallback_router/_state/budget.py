"""A cap on extra attempts across calls: `RetryBudget`."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from fallback_router._errors import InvalidConfigError
from fallback_router._lease import BUDGET, Refusal, Returned

__all__ = ["RetryBudget"]


class RetryBudget:
    """Allow attempts after a call's first only while the budget holds.

    Each routed call deposits `ratio` (0.2: one extra attempt per five calls);
    `min_per_second` more are allowed every second, and the budget starts with
    `min_per_second` in hand, so a quiet service can still fail over. Every
    attempt after a call's first (a fallback, a hedge, a `retry=` template's
    retry) withdraws one. Deposits lapse: they decay with a time constant of
    `ttl` seconds, so a long healthy stretch does not pile up a burst of retries
    for the next outage. In a total outage, attempts stay within
    `(1 + ratio) * calls + min_per_second * (seconds + 1)`.

    A call whose next attempt the budget refuses ends with its
    `AllProvidersFailedError`, whose message says so; the skip event's reason is
    `"retry budget"`. Share one instance between routers to share the budget.

    Args:
        ratio: extra attempts allowed per call (>= 0; default 0.2).
        min_per_second: extra attempts allowed per second regardless (>= 0; 10).
        ttl: seconds a deposit lasts, as a decay constant (> 0; 10).
        clock: zero-argument callable returning seconds (default `time.monotonic`,
            looked up at call time).

    Version:
        Added in 0.3.0.
    """

    __slots__ = (
        "_allowance",
        "_deposits",
        "_last",
        "_lock",
        "clock",
        "min_per_second",
        "ratio",
        "ttl",
    )

    def __init__(
        self,
        ratio: float = 0.2,
        min_per_second: float = 10.0,
        *,
        ttl: float = 10.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        for argument, value, low in (
            ("ratio", ratio, 0.0),
            ("min_per_second", min_per_second, 0.0),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < low
            ):
                msg = f"RetryBudget({argument}=) must be a finite number >= 0, got {value!r}"
                raise InvalidConfigError(msg)
        if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not 0 < ttl < math.inf:
            msg = f"RetryBudget(ttl=) must be a finite number > 0, got {ttl!r}"
            raise InvalidConfigError(msg)
        if clock is not None and not callable(clock):
            msg = f"RetryBudget(clock=) must be a zero-argument callable, got {clock!r}"
            raise InvalidConfigError(msg)
        self.ratio = float(ratio)
        self.min_per_second = float(min_per_second)
        self.ttl = float(ttl)
        self.clock = clock
        self._lock = threading.Lock()
        self._deposits = 0.0
        self._allowance = self.min_per_second
        self._last: float | None = None

    def _refill(self, now: float) -> None:
        last = self._last
        self._last = now
        if last is None or now <= last:
            return
        elapsed = now - last
        self._allowance = min(self.min_per_second, self._allowance + self.min_per_second * elapsed)
        self._deposits *= math.exp(-elapsed / self.ttl)

    def _now(self) -> float:
        return self.clock() if self.clock is not None else time.monotonic()

    def deposit(self) -> None:
        """A routed call starts: deposit `ratio`."""
        with self._lock:
            self._refill(self._now())
            self._deposits += self.ratio

    def withdraw(self) -> bool:
        """Take one extra attempt from the budget; False when it is spent."""
        with self._lock:
            self._refill(self._now())
            if self._allowance >= 1.0:
                self._allowance -= 1.0
                return True
            if self._deposits >= 1.0:
                self._deposits -= 1.0
                return True
            return False

    #: The budget answers from memory.
    blocking = False

    def take(self, name: str) -> Returned | Refusal:
        """The gate: one unit for an extra attempt on `name` (spent when it starts), or why not."""
        if self.withdraw():
            return Returned(self._give_back, name, False)
        return Refusal(BUDGET, 0.0)

    def _give_back(self, name: str) -> None:  # noqa: ARG002 - a lease gives back by name
        self.refund()

    def refund(self) -> None:
        """Give back one unit withdrawn for an attempt that never ran (a cancelled call).

        It returns to the per-second allowance while that has room (capped at
        `min_per_second`), else to the deposits.
        """
        with self._lock:
            self._refill(self._now())
            if self._allowance + 1.0 <= self.min_per_second:
                self._allowance += 1.0
            else:
                self._deposits += 1.0

    def available(self) -> float:
        """Extra attempts the budget would allow now."""
        with self._lock:
            self._refill(self._now())
            return math.floor(self._allowance) + math.floor(self._deposits)

    def __repr__(self) -> str:
        return (
            f"RetryBudget(ratio={self.ratio}, min_per_second={self.min_per_second}, "
            f"available={self.available()})"
        )
