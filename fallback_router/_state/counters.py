"""Round-robin counters: the `RoundRobinCounter` protocol and `InMemoryRoundRobin`."""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from fallback_router._errors import InvalidConfigError

__all__ = ["InMemoryRoundRobin", "RoundRobinCounter"]


@runtime_checkable
class RoundRobinCounter(Protocol):
    """A shared counter for the round-robin strategies.

    `next_index()` returns 0, 1, 2, … — each value exactly once, even when many
    threads (or, for [`RedisRoundRobin`][fallback_router.RedisRoundRobin],
    processes) call it at once. A counter whose `next_index` waits on the network
    sets `blocking = True`, so async routers call it off the event loop.

    Version:
        Added in 0.1.0.
    """

    def next_index(self) -> int:
        """Return the next index, starting at 0."""
        ...


class InMemoryRoundRobin:
    """A lock-guarded, in-process [`RoundRobinCounter`][fallback_router.RoundRobinCounter].

    Pass one instance as `counter=` to several routers to share their rotation.

    Version:
        Added in 0.1.0.
    """

    __slots__ = ("_lock", "_value")

    #: `next_index` never waits on the network.
    blocking = False

    def __init__(self, start: int = 0) -> None:
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            msg = f"start must be a non-negative int, got {start!r}"
            raise InvalidConfigError(msg)
        self._lock = threading.Lock()
        self._value = start

    def next_index(self) -> int:
        """Return the next index, starting at `start` (default 0)."""
        with self._lock:
            value = self._value
            self._value = value + 1
        return value

    def __repr__(self) -> str:
        return f"InMemoryRoundRobin(next={self._value})"
