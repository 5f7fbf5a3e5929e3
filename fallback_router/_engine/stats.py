"""Per-provider counters kept by a router, exact under any number of threads."""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RECENT_NAMES", "Cell", "Counts", "Stats"]

#: Names of providers no longer returned by a `providers` callable whose counts a
#: router keeps (the most recently seen), besides its current providers.
RECENT_NAMES = 64


@dataclass(frozen=True, slots=True)
class Counts:
    """One provider's counts, as `Stats.get` returns them."""

    successes: int = 0
    failures: int = 0
    skips: int = 0
    last_error: Exception | None = None
    last_latency: float | None = None
    last_failure_at: float | None = None


class Cell:
    """One provider's successes and its latest success, written without a lock.

    `tick()` counts a success: `itertools.count.__next__`, one C call that no
    other thread can interleave with, so no count is lost however many threads
    succeed at once. `latency` and `end` are the latest success's (a plain
    attribute store each). `reset` keeps the counter and moves its zero.
    """

    __slots__ = ("_counter", "_zero", "end", "latency", "tick")

    def __init__(self) -> None:
        self._counter = itertools.count()
        self.tick = self._counter.__next__
        self._zero = 0
        self.latency: float | None = None
        self.end = -math.inf

    def successes(self) -> int:
        """The successes counted since the last reset."""
        return int(repr(self._counter)[6:-1]) - self._zero  # "count(N)": N ticks so far

    def reset(self) -> None:
        """Count from zero again (calls in flight may still land)."""
        self._zero = int(repr(self._counter)[6:-1])
        self.latency, self.end = None, -math.inf


class Stats:
    """Per-provider counters kept by a router, exact under any number of threads.

    Successes sit on the hot path: each provider's `Cell` counts them without a
    lock and without lost updates, and keeps no per-thread state. Failures and
    skips are counted under a lock; a failure keeps a scrubbed copy of its error
    (no traceback, no request or response objects, texts redacted) and the
    wall-clock time it happened. `bound` drops the counts of names a provider
    callable no longer returns beyond the `RECENT_NAMES` most recent.
    """

    __slots__ = ("_cells", "_failures", "_lock", "_names")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cells: dict[str, Cell] = {}
        # name -> [failures, last_error, last_latency, last_end, skips, last_failure_at]
        self._failures: dict[str, list[Any]] = {}
        # every name with counts, least recently added first
        self._names: dict[str, None] = {}

    def cell(self, name: str) -> Cell:
        """Return `name`'s success cell (made on first use)."""
        cell = self._cells.get(name)
        if cell is None:
            with self._lock:
                cell = self._cells.get(name)
                if cell is None:
                    cell = self._cells[name] = Cell()
                    self._names[name] = None
        return cell

    def success(self, name: str, latency: float, end: float) -> None:
        """Count a success of `name` that ended at `end` (router clock)."""
        cell = self._cells.get(name) or self.cell(name)
        cell.tick()
        cell.latency = latency
        cell.end = end

    def _failure_row(self, name: str) -> list[Any]:
        self._names[name] = None
        row = self._failures.get(name)
        if row is None:
            row = self._failures[name] = [0, None, None, -math.inf, 0, None]
        return row

    def failure(self, name: str, kept: Exception, latency: float, end: float) -> None:
        """Count a failure of `name` that ended at `end`; `kept` is its scrubbed copy."""
        now = time.time()
        with self._lock:
            row = self._failure_row(name)
            row[0] += 1
            row[1:4] = kept, latency, end
            row[5] = now

    def skip(self, name: str) -> None:
        """Count that a call passed `name` over."""
        with self._lock:
            self._failure_row(name)[4] += 1

    def bound(self, current: Sequence[str]) -> None:
        """Keep counts for `current` names plus the most recent others only.

        Trims to the newest half once more than `RECENT_NAMES` others are kept.
        """
        names = self._names
        if len(names) <= RECENT_NAMES:  # the common case: nothing to count
            return
        if len(names) - sum(n in names for n in current) <= RECENT_NAMES:
            return
        with self._lock:
            keep = set(current)
            others = [n for n in self._names if n not in keep]
            keep.update(others[len(others) - RECENT_NAMES // 2 :])
            self._names = {n: None for n in self._names if n in keep}
            for table in (self._cells, self._failures):
                for name in [n for n in table.copy() if n not in keep]:
                    table.pop(name, None)

    def known(self) -> list[str]:
        """Every name with counts, oldest first."""
        with self._lock:
            return list(self._names)

    def get(self, name: str) -> Counts:
        """Return the counts of `name`."""
        with self._lock:
            cell = self._cells.get(name)
            failed = self._failures.get(name)
            failed = list(failed) if failed is not None else None
        successes, latency, end = 0, None, -math.inf
        if cell is not None:
            successes, latency, end = cell.successes(), cell.latency, cell.end
        if failed is None:
            return Counts(successes=successes, last_latency=latency)
        if failed[1] is not None and failed[3] >= end:
            latency = failed[2]
        return Counts(successes, failed[0], failed[4], failed[1], latency, failed[5])

    def reset(self) -> None:
        """Forget every count; safe while calls run (those in flight may still land)."""
        with self._lock:
            for cell in self._cells.values():  # kept: the happy paths hold them
                cell.reset()
            self._failures.clear()
