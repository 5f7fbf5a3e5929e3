"""The in-memory tracker's tables and how their state lapses: `CooldownTables`."""

from __future__ import annotations

import heapq
import math
import threading

from fallback_router._policy import CooldownPolicy

from .ratio import RatioRule, Window

__all__ = ["CooldownTables"]


class CooldownTables:
    """Deadlines, counts, escalation, probes and hints per name, and their expiry heap.

    The base of [`InMemoryCooldown`][fallback_router.InMemoryCooldown] (its writes, the
    failure-ratio window included): every method here runs under `_lock`; expiries sit
    in a heap so a write never scans other providers.
    """

    policy: CooldownPolicy
    #: The failure-ratio rule, None without `failure_ratio=`.
    ratio: RatioRule | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._deadlines: dict[str, float] = {}
        # name -> (consecutive counted failures, time of the last one)
        self._failures: dict[str, tuple[int, float]] = {}
        # name -> (escalation level, deadline of the last cooldown, its length, tripping count)
        self._levels: dict[str, tuple[int, float, float, int]] = {}
        # name -> until when its half-open probe stays claimed
        self._probes: dict[str, float] = {}
        # name -> until when an explicit hint (Retry-After, cooldown_for=) benches it
        self._hints: dict[str, float] = {}
        # name -> its outcomes over the failure-ratio window (only with a ratio rule)
        self._windows: dict[str, Window] = {}
        # (when to look at name again, name); one live entry per name with state
        self._heap: list[tuple[float, str]] = []
        self._due: dict[str, float] = {}
        #: No provider has state until then: `inf` while idle, `-inf` otherwise.
        self.quiet_until = math.inf

    def _clear(self) -> None:
        for table in (self._failures, self._deadlines, self._levels, self._probes, self._hints):
            table.clear()
        self._windows.clear()
        self._heap.clear()
        self._due.clear()

    def _reanchor(self, name: str, now: float) -> float:
        """Clamp a cooldown the clock stepped back from to its length; return what is left."""
        deadline = self._deadlines.get(name)
        level = self._levels.get(name)
        if deadline is None or level is None:
            return max(0.0, (deadline or now) - now)
        length = level[2]
        if deadline - now > length:
            deadline = now + length
            self._deadlines[name] = deadline
            self._levels[name] = (level[0], deadline, length, level[3])
            self._schedule(name, deadline)
        return deadline - now

    def _schedule(self, name: str, when: float) -> None:
        """Make sure `name` is looked at again by `when` (one live heap entry per name)."""
        due = self._due.get(name)
        if due is None or when < due:
            self._due[name] = when
            heapq.heappush(self._heap, (when, name))

    def _settle(self, now: float) -> None:
        """Drop the state that lapsed by `now`: only the names that are due."""
        heap, due = self._heap, self._due
        while heap and heap[0][0] <= now:
            when, name = heapq.heappop(heap)
            if due.get(name) != when:
                continue  # superseded by an earlier entry for the same name
            del due[name]
            lapses = self._lapse(name, now)
            if lapses:
                self._schedule(name, min(lapses))
        self._refresh_quiet()

    def _lapse(self, name: str, now: float) -> list[float]:
        """Drop `name`'s lapsed state; return when the rest of it lapses."""
        window = self.policy.window
        lapses: list[float] = []
        deadline = self._deadlines.get(name)
        if deadline is not None:
            if deadline <= now:
                del self._deadlines[name]
                self._hints.pop(name, None)
            else:
                lapses.append(deadline)
        failure = self._failures.get(name)
        if failure is not None:
            if failure[1] + window <= now:
                del self._failures[name]
            else:
                lapses.append(failure[1] + window)
        level = self._levels.get(name)
        if level is not None:
            if level[1] + window <= now:
                del self._levels[name]
                self._probes.pop(name, None)
            else:
                lapses.append(level[1] + window)
        outcomes = self._windows.get(name)
        if outcomes is not None:
            ratio = self.ratio
            lapse = ratio.lapse(outcomes) if ratio is not None and outcomes.buckets else now
            if lapse <= now:
                del self._windows[name]
            else:
                lapses.append(lapse)
        return lapses

    def _count(self, name: str, now: float, *, failed: bool) -> bool:
        """Count an outcome in `name`'s ratio window; True when the ratio trips (under the lock)."""
        rule = self.ratio
        if rule is None:
            return False
        window = self._windows.get(name)
        if window is None:
            window = self._windows[name] = Window()
        rule.add(window, now, failed)
        self._schedule(name, rule.lapse(window))
        return failed and rule.trips(window.failures, window.outcomes)

    def _trip(
        self,
        name: str,
        now: float,
        previous: tuple[int, float, float, int] | None,
        deadline: float | None,
        count: int,
        retry_after: float | None,
    ) -> float:
        """Bench `name` (under the lock); return the cooldown started, 0.0 when none is new."""
        policy = self.policy
        self._failures.pop(name, None)
        self._probes.pop(name, None)
        self._windows.pop(name, None)  # tripping empties the ratio window (as Polly does)
        level = 0
        if previous is not None and policy.max_duration is not None:
            # Escalate when re-entering after the last cooldown ended; a failure
            # during a cooldown (a forced terminus, a burst of threads) keeps it.
            level = previous[0] + 1 if deadline is None else previous[0]
        seconds = policy.length(level, retry_after)
        if seconds <= 0.0:
            self._refresh_quiet()
            return 0.0
        new_deadline = now + seconds
        if retry_after is not None and self._hints.get(name, -math.inf) < new_deadline:
            self._hints[name] = new_deadline  # never called before then: a hint
        if deadline is not None and deadline >= new_deadline:
            return 0.0  # benched at least as long already: nothing new starts
        self._deadlines[name] = new_deadline
        self._levels[name] = (level, new_deadline, seconds, count)
        self._schedule(name, new_deadline)  # then half-open until the window lapses
        return seconds

    def _succeeded(self, name: str, now: float, clears_cooldown: bool) -> None:
        """A success with a failure ratio: clear what a success clears, count it (locked)."""
        if self._heap and self._heap[0][0] <= now:
            self._settle(now)
        if name in self._deadlines or name in self._failures or name in self._levels:
            benched = self._deadlines.get(name, -math.inf) > now
            if not clears_cooldown and (benched or self._probes.get(name, -math.inf) > now):
                return  # benched meanwhile: the success does not count either
            self._forget(name, keep_window=not benched)  # a forced success: a new window
        self._count(name, now, failed=False)

    def _forget(self, name: str, *, keep_window: bool = False) -> None:
        for table in (self._failures, self._deadlines, self._levels, self._probes, self._hints):
            table.pop(name, None)
        if not keep_window:
            self._windows.pop(name, None)

    def _refresh_quiet(self) -> None:
        # quiet_until mirrors "no state at all" so the hot path reads one attribute. With a
        # failure ratio every outcome counts: never quiet, so the router reports successes.
        idle = not (self._deadlines or self._failures or self._levels) and self.ratio is None
        self.quiet_until = math.inf if idle else -math.inf
