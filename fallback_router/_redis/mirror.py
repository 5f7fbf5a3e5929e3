"""A process's mirror of a Redis namespace's cooldown state (for `RedisCooldown`).

Routed calls read the mirror, never Redis: it is read again (one round trip,
only the names in use) at most once per `refresh` seconds and updated at once
by this process's own writes. See `RedisCooldown` for the guarantees.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from fallback_router._state.cooldown import InMemoryCooldown

__all__ = ["MIRROR_NAMES", "Mirror"]

#: Names one read covers at most (the most recently asked about win).
MIRROR_NAMES = 4096

_State = tuple[dict[str, float], set[str], frozenset[str]]  # deadlines, dirty, covered


class Mirror:
    """The view: deadlines and "has state" per name, the names covered, when read."""

    def __init__(
        self,
        owner: Any,
        fetch: Callable[[list[str]], list[int] | None],
        local: InMemoryCooldown,
        down: Callable[[], bool],
        refresh: float,
        op_timeout: float,
        clock: Callable[[], float] | None,
    ) -> None:
        self.owner = owner  # its quiet_until is kept here (the router's happy path reads it)
        self.fetch = fetch
        self.local = local
        self.down = down
        self.refresh = refresh
        self.op_timeout = op_timeout
        self.clock = clock
        self._watched: dict[str, None] = {}  # fixed names of routers using the tracker
        self._recent: dict[str, None] = {}  # names asked about since the last read
        self.state: _State = ({}, set(), frozenset())
        self._written: dict[str, tuple[float | None, bool]] = {}  # own writes since a read
        self._read_at = -math.inf  # when the state's read started (this process' clock)
        self._lock = threading.Lock()
        self._refreshing = threading.Lock()
        #: Every outcome counts (a failure ratio): never quiet, never an empty answer.
        self.every_outcome = False

    def _now(self) -> float:
        clock = self.clock
        return clock() if clock is not None else time.monotonic()

    def forget(self) -> None:
        """Trust the view no more: the next call reads again."""
        self._read_at = -math.inf
        self.owner.quiet_until = -math.inf

    def dirty(self, name: str) -> bool:
        """`name` had some state at the last read (or since, by this process' writes)."""
        return name in self.state[1]

    def watch(self, names: Sequence[str]) -> None:
        """Include `names` in every read (a router's fixed providers; called once)."""
        with self._lock:
            for name in names:
                self._watched[name] = None
            self.owner.quiet_until = -math.inf

    def _staleness(self, now: float) -> int:
        """0: the mirror is fresh; 1: stale, read again soon; 2: too stale to use."""
        age = now - self._read_at
        if not 0.0 <= age < math.inf:  # never read, or the clock stepped back
            return 2
        if age < self.refresh:
            return 0
        # A read in progress may take a while (a busy process, a slow server): the view
        # serves meanwhile, until it is older than refresh + this margin.
        return 1 if age < self.refresh + min(self.op_timeout, self.refresh / 2) else 2

    def _read_in_background(self, names: Sequence[str]) -> None:
        """Start one read in a thread of its own (for async callers), if none runs."""
        if self._refreshing.acquire(blocking=False):
            try:
                thread = threading.Thread(target=self._read_and_release, args=(list(names),))
                thread.daemon = True
                thread.start()
            except BaseException:
                self._refreshing.release()
                raise

    def _read_and_release(self, names: Sequence[str]) -> None:
        try:
            self._read(names)
        finally:
            self._refreshing.release()

    def _read(self, names: Sequence[str]) -> None:
        """Read the names in use into the mirror: one round trip (under `_refreshing`)."""
        start = self._now()
        with self._lock:
            wanted = dict.fromkeys([*self._watched, *self._recent, *names])
            self._recent = {}
            self._written = {}
        order = list(wanted)[-MIRROR_NAMES - len(self._watched) :]

        raw = self.fetch(order)
        if raw is None:  # failing open: the local tracker answers meanwhile
            return
        count = len(order)
        deadlines = {
            n: start + ms / 1000.0 for n, ms in zip(order, raw[:count], strict=True) if ms > 0
        }
        dirty = {n for n, has in zip(order, raw[count:], strict=True) if has}
        with self._lock:
            for name, (deadline, has) in self._written.items():  # written meanwhile
                _apply(deadlines, dirty, name, deadline, has)
            self._written = {}
            self.state = (deadlines, dirty, frozenset(order))
            self._read_at = start
            quiet = not dirty and not self.every_outcome
            self.owner.quiet_until = start + self.refresh if quiet else -math.inf

    def _answer(self, mirror: _State, names: Sequence[str], now: float) -> Sequence[float]:
        deadlines, dirty, _ = mirror
        recent = self._recent
        for name in names:
            if name not in recent:
                recent[name] = None
        if dirty.isdisjoint(names) and not self.every_outcome:
            return ()
        return [max(0.0, deadlines.get(n, now) - now) for n in names]

    def peek(self, names: Sequence[str]) -> Sequence[float] | None:
        """Answer `remaining_many` from the mirror without waiting on the network, or None.

        None when the mirror does not cover `names` or is too stale to use; a
        mirror due for a read is used while a read starts in the background.
        """
        now = self._now()
        if self.down():
            return self.local.remaining_many(names)
        mirror = self.state
        if not mirror[2].issuperset(names):
            return None
        staleness = self._staleness(now)
        if staleness == 2:
            return None
        if staleness == 1:
            self._read_in_background(names)
        return self._answer(mirror, names, now)

    def remaining_many(self, names: Sequence[str]) -> Sequence[float]:
        """Return the cooldown left for each name, from the process-local mirror.

        A mirror due for a read is read by this call, while other threads keep
        using it; one too stale to use (or that does not cover `names`, or was
        never read) is read before answering: by this call, or by the call this
        one waits for (about one round trip). Returns `()` when none of the names
        has any state.
        """
        now = self._now()
        if self.down():
            return self.local.remaining_many(names)
        mirror = self.state
        covered = mirror[2].issuperset(names)
        staleness = self._staleness(now) if covered else 2
        if staleness == 1 and self._refreshing.acquire(blocking=False):
            self._read_and_release(names)
        elif staleness == 2 and self._refreshing.acquire(timeout=4 * self.op_timeout):
            try:
                # A read that started since this call found the mirror stale will do.
                if self._read_at < now or not self.state[2].issuperset(names):
                    self._read(names)
            finally:
                self._refreshing.release()
        if self.down():  # failing open: the local tracker answers, never the mirror
            return self.local.remaining_many(names)
        mirror = self.state
        if not mirror[2].issuperset(names):  # the read failed or timed out: no view
            return self.local.remaining_many(names)
        return self._answer(mirror, names, self._now())

    def write(self, name: str, deadline: float | None, has: bool) -> None:
        """Apply this process' own write to the mirror at once."""
        with self._lock:  # in place: a write costs the same however many names
            deadlines, dirty, _ = self.state
            _apply(deadlines, dirty, name, deadline, has)
            self._written[name] = (deadline, has)
            if dirty:
                self.owner.quiet_until = -math.inf


def _apply(
    deadlines: dict[str, float], dirty: set[str], name: str, deadline: float | None, has: bool
) -> None:
    """Set `name`'s entry in a mirror: its deadline (None: none) and whether it has state."""
    deadlines.pop(name, None)
    dirty.discard(name)
    if deadline is not None:
        deadlines[name] = deadline
    if has:
        dirty.add(name)
