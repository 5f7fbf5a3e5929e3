"""What the OpenTelemetry hook's call metric needs: open calls' start times, attributes.

Kept apart from `fallback_router.otel` (no OpenTelemetry import here): the start time
of each open call (bounded, oldest forgotten first) and the `fallback_router.function`
/ `fallback_router.outcome` attributes per function, built once.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable

__all__ = ["CallTimes"]

#: Distinct function names whose attributes are kept prebuilt.
_MAX_FUNCTIONS = 1024


class CallTimes:
    """Start times of the calls in flight, and the call metric's attributes."""

    def __init__(self, bound: int) -> None:
        self._bound = bound
        self._lock = threading.Lock()
        self._starts: OrderedDict[int, float] = OrderedDict()
        self._attributes: dict[tuple[str, bool], dict[str, str]] = {}

    def __len__(self) -> int:
        return len(self._starts)

    def start(self, call_id: int) -> None:
        """A call starts now."""
        with self._lock:
            self._starts[call_id] = time.monotonic()
            if len(self._starts) > self._bound:
                self._starts.popitem(last=False)

    def end(self, call_id: int, latencies: Iterable[float] = ()) -> float:
        """Seconds since the call started (its attempts' sum when its start is unknown)."""
        with self._lock:
            start = self._starts.pop(call_id, None)
        if start is None:
            return sum(latencies)
        return max(0.0, time.monotonic() - start)

    def attributes(self, function: str, success: bool) -> dict[str, str]:
        """`fallback_router.function` and `fallback_router.outcome` for one call."""
        found = self._attributes.get((function, success))
        if found is None:
            if len(self._attributes) >= _MAX_FUNCTIONS:
                self._attributes = {}
            outcome = "success" if success else "failure"
            found = {"fallback_router.function": function, "fallback_router.outcome": outcome}
            self._attributes[function, success] = found
        return found
