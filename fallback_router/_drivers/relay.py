"""What the sync and async relays share: their state, and how a cut stream is recorded."""

from __future__ import annotations

from typing import Any

from fallback_router._engine.call import CallState
from fallback_router._results import AttemptState, Result, new_result

__all__ = ["RelayBase", "carrying"]

_SETTLED = object()


class RelayBase:
    """The consumer's side of a routed stream: the serving attempt and what was delivered.

    A buffered stream (`stream_failover="buffer"`) arrives complete: `opened` is
    every item and the slot is given back already. Otherwise `opened` is the
    provider's generator and its first item.
    """

    __slots__ = (
        "_buffered",
        "_call",
        "_first",
        "_gen",
        "_index",
        "_last",
        "_open",
        "_state",
        "items",
    )

    def __init__(self, call: CallState, index: int, opened: Any, state: AttemptState) -> None:
        self._call = call
        self._index = index
        self._state = state
        self.items = 0
        self._last: Any = None  # the last item delivered (for usage_of=)
        self._open = True
        self._buffered = call.setup.buffer
        if self._buffered:
            self._gen: Any = None
            self._first: Any = iter(opened)
            self._open = False
        else:
            self._gen, self._first = opened

    def _interrupted(self, error: Exception, start: float) -> tuple[bool, str]:
        """Count and report a failure after items were delivered.

        Returns whether the tracker must record it (the driver calls it, then
        `_cooled`) and the error's redacted text.
        """
        call = self._call
        name, number, is_terminus = self._state[:3]
        end = call.clock()
        recorder = call.setup.recorder
        recorder.interrupted(name, self.items, error)
        _, counted, text = call.record.failed(
            name, number, len(call.names), is_terminus, error, max(0.0, end - start), end
        )
        return counted and call.setup.tracker is not None, text

    def _settled(self) -> None:
        """The stream ended complete: `usage_of` reads its last item (once)."""
        quota = self._call.setup.quota
        if quota is None or not self.items or self._last is _SETTLED:
            return
        last, self._last = self._last, _SETTLED  # once, however often the end is reached
        tabs = self._call.tabs
        quota.read(tabs.get(self._index) if tabs else None, last)

    def _cooled(self, duration: object, error: Exception, text: str) -> None:
        """Report what the tracker's `record_failure` answered (a bool from a 0.1 tracker)."""
        call = self._call
        name = self._state[0]
        tracker = call.setup.tracker
        if duration is True and tracker is not None:
            duration = tracker.remaining(name)
        seconds = float(duration) if isinstance(duration, int | float) else 0.0
        call.record.cooled(name, seconds, error, text)


def carrying(result: Result[Any], relay: Any) -> Result[Any]:
    """The routed stream's `Result`: the walk's, with the consumer's `relay` as response."""
    return new_result(
        relay,
        result.provider,
        result.latency,
        result.attempt,
        result.was_terminus,
        result.attempts,
        result.skipped,
        result.elapsed,
    )
