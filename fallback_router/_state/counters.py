"""Round-robin counters: the `RoundRobinCounter` protocol and `InMemoryRoundRobin`."""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from fallback_router._errors import InvalidConfigError

__all__ = ["InMemoryRoundRobin", "RoundRobinCounter", "stepper"]


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
    """An in-process [`RoundRobinCounter`][fallback_router.RoundRobinCounter], exact under threads.

    Pass one instance as `counter=` to several routers to share their rotation.
    Each index is one step of an `itertools.count`: a single C call that no other
    thread can interleave with while the GIL is held, so no value is lost or
    repeated and no lock is taken. On a free-threaded build (no GIL), a lock guards it.

    Version:
        Added in 0.1.0. Changed in 0.3.0: lock-free under the GIL.
    """

    __slots__ = ("_count", "_lock", "_step")

    #: `next_index` never waits on the network.
    blocking = False

    def __init__(self, start: int = 0) -> None:
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            msg = f"start must be a non-negative int, got {start!r}"
            raise InvalidConfigError(msg)
        self._count = itertools.count(start)
        self._lock = threading.Lock()
        self._step: Callable[[], int] = self._count.__next__ if _gil_enabled() else self._locked

    def next_index(self) -> int:
        """Return the next index, starting at `start` (default 0)."""
        return self._step()

    def _locked(self) -> int:
        with self._lock:
            return next(self._count)

    def __repr__(self) -> str:
        with self._lock:  # free-threaded builds: no step while the count is read
            text = repr(self._count)  # "count(N)": N is the next index
        return f"InMemoryRoundRobin(next={text[6:-1]})"


def stepper(counter: RoundRobinCounter) -> Callable[[], int]:
    """`counter.next_index`, or for an `InMemoryRoundRobin` its step itself (one C call).

    A subclass that overrides `next_index` gets its own method.
    """
    if type(counter) is InMemoryRoundRobin:
        return counter._step  # noqa: SLF001 - this module's own class
    return counter.next_index


def _gil_enabled() -> bool:
    """False on a free-threaded build running without the GIL (Python 3.13t)."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())
