"""Per-provider counters kept by a router, exact under any number of threads."""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["RECENT_NAMES", "Counts", "Stats"]

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


class _ThreadMark:
    """Lives in one thread's `threading.local`; its death means the thread ended."""

    __slots__ = ("__weakref__",)


class Stats:
    """Per-provider counters kept by a router, exact under any number of threads.

    Successes sit on the hot path, so each thread counts into rows of its own
    (`[successes, last_latency, last_end]`), written by that thread only: no
    lock and no lost updates. `get` sums the rows. When a thread ends (any
    thread, `_thread.start_new_thread` included: its thread-local storage is
    freed), its rows are folded into a base at the next locked step, so memory
    follows the number of live threads. Failures and skips are counted under a
    lock; a failure keeps a scrubbed copy of its error (no traceback, no request
    or response objects, texts redacted) and the wall-clock time it happened.
    `bound` drops the counts of names a provider callable no longer returns
    beyond the `RECENT_NAMES` most recent.
    """

    __slots__ = ("_base", "_dead", "_failures", "_lock", "_names", "_threads", "local")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.local = threading.local()
        self._threads: dict[weakref.ref[_ThreadMark], dict[str, list[Any]]] = {}
        self._dead: list[weakref.ref[_ThreadMark]] = []
        # name -> [successes, last_latency, last_end]: folded rows of finished threads
        self._base: dict[str, list[Any]] = {}
        # name -> [failures, last_error, last_latency, last_end, skips, last_failure_at]
        self._failures: dict[str, list[Any]] = {}
        # every name with counts, least recently added first
        self._names: dict[str, None] = {}

    def _fold(self) -> None:
        """Fold the rows of finished threads into the base (under the lock)."""
        while self._dead:
            rows = self._threads.pop(self._dead.pop(), None)
            for name, row in (rows or {}).items():
                if name in self._names:
                    _merge(self._base.setdefault(name, [0, None, -math.inf]), row)

    def _register(self) -> dict[str, list[Any]]:
        rows: dict[str, list[Any]] = {}
        mark = _ThreadMark()
        # list.append is atomic: the callback takes no lock, whichever thread runs it.
        ref = weakref.ref(mark, self._dead.append)
        with self._lock:
            self._fold()
            self._threads[ref] = rows
        self.local.rows = rows
        self.local.mark = mark
        return rows

    def row(self, name: str) -> list[Any]:
        """Return the calling thread's `[successes, last_latency, last_end]` for `name`."""
        try:
            rows: dict[str, list[Any]] = self.local.rows
        except AttributeError:
            rows = self._register()
        row = rows.get(name)
        if row is None:
            if name not in self._names:
                with self._lock:
                    self._names[name] = None
            row = rows[name] = [0, None, -math.inf]
        return row

    def success(self, name: str, latency: float, end: float) -> None:
        """Count a success of `name` that ended at `end` (router clock)."""
        row = self.row(name)
        row[0] += 1
        row[1] = latency
        row[2] = end

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
            self._fold()
            keep = set(current)
            others = [n for n in self._names if n not in keep]
            keep.update(others[len(others) - RECENT_NAMES // 2 :])
            self._names = {n: None for n in self._names if n in keep}
            tables = [self._base, self._failures, *self._threads.values()]
            for table in tables:
                for name in [n for n in table.copy() if n not in keep]:
                    table.pop(name, None)

    def known(self) -> list[str]:
        """Every name with counts, oldest first."""
        with self._lock:
            return list(self._names)

    def get(self, name: str) -> Counts:
        """Return the counts of `name`."""
        total: list[Any] = [0, None, -math.inf]
        with self._lock:
            self._fold()
            base = self._base.get(name)
            if base is not None:
                _merge(total, base)
            for rows in self._threads.values():
                row = rows.get(name)
                if row is not None:
                    _merge(total, list(row))
            failed = self._failures.get(name)
            failed = list(failed) if failed is not None else None
        successes: int = total[0]
        latency: float | None = total[1]
        if failed is None:
            return Counts(successes=successes, last_latency=latency)
        if failed[1] is not None and failed[3] >= total[2]:
            latency = failed[2]
        return Counts(successes, failed[0], failed[4], failed[1], latency, failed[5])

    def reset(self) -> None:
        """Forget every count; safe while calls run (those in flight may still land)."""
        with self._lock:
            self._fold()
            for rows in self._threads.values():
                for row in rows.copy().values():  # zeroed in place: threads keep their rows
                    row[:] = 0, None, -math.inf
            self._base.clear()
            self._failures.clear()


def _merge(total: list[Any], row: list[Any]) -> None:
    total[0] += row[0]
    if row[2] >= total[2] and row[1] is not None:
        total[1], total[2] = row[1], row[2]
