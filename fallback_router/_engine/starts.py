"""Starting a candidate: the budget, a probe claim, and the `Start` the driver carries out.

`Starts` is the base of [`CallState`][fallback_router._engine.call.CallState] (it
holds the walk's own facts): a candidate that needs nothing of the driver before
its `Start` is started in place (`_quick_start`), without a generator.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, NamedTuple

from fallback_router._lease import Lease
from fallback_router._quota import Tab

from .actions import HEDGE, STARTED, Await, Io, Start, new_running
from .facts import COOLDOWN, PROBING
from .gates import Candidate, left_of, let_go, may_continue
from .verdicts import Verdicts
from .views import hinted_view

__all__ = ["_SLOW", "_STOP", "Starts"]


class _Stop(NamedTuple):
    """`_start` answers it when the call starts no more attempts."""


_STOP = _Stop()
#: `_quick_start` answers it when the candidate needs the generator `_start`.
_SLOW: Any = object()


class Starts(Verdicts):
    """A call's facts, its verdicts, and how its candidates start."""

    __slots__ = (
        "benched_here",
        "gated",
        "gates_io",
        "hinted",
        "last",
        "position",
        "probing",
        "remaining",
        "waiting",
    )
    #: The walk's own facts (set by `CallState._plan`).
    benched_here: list[int]
    gated: bool
    gates_io: bool
    hinted: Sequence[float]
    last: int
    position: int
    probing: bool
    remaining: Sequence[float]
    waiting: list[int]

    def _quick_start(self, candidate: Candidate) -> Any:
        """`_start` for a candidate that needs nothing of the driver before its `Start`.

        The `Start` to carry out, or `_SLOW` (then `_start`): a later attempt under a
        deadline, a budget or a one-attempt strategy, or a probe claim that waits on
        the network or was refused.
        """
        setup = self.setup
        if self.number and (
            self.deadline is not None
            or setup.config.retry_budget is not None
            or not setup.planner.failover
        ):
            return _SLOW
        index = candidate.index
        made = self.made is not None and index == self.made.index and not self.number
        probe = False
        if self.probing and candidate.forced is None and not made:
            caps = setup.caps
            assert caps is not None  # noqa: S101 - probing implies caps
            if caps.blocking:
                return _SLOW
            name = self.names[index]
            try_probe: Any = caps.try_probe  # `_probe_call`, inlined: a frame less per call
            ttl = setup.config.timeout if caps.probe_ttl else None  # the budget: the ttl
            self.pending = candidate
            claim = try_probe(name) if ttl is None else try_probe(name, ttl)
            if claim is not None and claim is not True:  # nothing claimed: asked again there
                return _SLOW
            if claim is True:
                self.probes.add(name)
                probe = True
        self.pending = candidate
        return self._begin(index, candidate.forced, probe, made)

    def _start(self, candidate: Candidate) -> Generator[Any, Any, Any]:
        """Start `candidate`: `(index, outcome)` once it ended; None to walk on; `_STOP`."""
        start = yield from self._prepare(candidate)
        if start is None or start is _STOP:
            return start
        reply = yield start
        if reply is STARTED:
            reply = yield Await(self.position < len(self.order) or bool(self.waiting))
            return None if reply is HEDGE else reply
        return start.index, reply

    def _prepare(self, candidate: Candidate) -> Generator[Any, Any, Any]:
        """Before `candidate`'s attempt: the budget, a probe. Its `Start`, None or `_STOP`.

        None to go on walking, `_STOP` when the call starts no more attempts.
        """
        index = candidate.index
        name = self.names[index]
        self.pending = candidate
        if self.number and (not self.setup.planner.failover or not may_continue(self, name)):
            # One-attempt strategies make one; else the deadline or budget.
            if not self.running:
                return _STOP
            yield from let_go(self, self.gates_io)  # attempts still run: start no more
            self.position = len(self.order)
            self.waiting.clear()
            return None
        made = self.made is not None and index == self.made.index and not self.number
        forced, probe = candidate.forced, False
        if self.probing and forced is None and not made:  # made: its outcome is in
            try_probe, args = self._probe_call(name)
            io = self.setup.caps.blocking  # type: ignore[union-attr]
            claim = (yield Io(try_probe, args)) if io else try_probe(*args)
            if claim is True:
                self.probes.add(name)
                probe = True
            elif claim is not None:  # another call's probe, or a cooldown set since
                forced = yield from self._claimed(index, claim)
                if forced is None:
                    return None
        return self._begin(index, forced, probe, made)

    def _probe_call(self, name: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The tracker's `try_probe` and its arguments for `name` (a ttl when it takes one)."""
        setup = self.setup
        caps = setup.caps
        assert caps is not None  # noqa: S101 - probing implies caps
        try_probe: Callable[..., Any] = caps.try_probe  # type: ignore[assignment]
        if caps.probe_ttl and setup.config.timeout is not None:  # the budget is the ttl
            return try_probe, (name, setup.config.timeout)
        return try_probe, (name,)

    def _claimed(self, index: int, claim: Any) -> Generator[Any, Any, float | None]:
        """`index`'s probe is another call's (`claim` False) or it cooled since (seconds).

        The seconds it stays benched when it is forced (the terminus); None: passed over.
        """
        setup = self.setup
        name = self.names[index]
        if claim is False:  # the probe's hold, as the tracker says
            tracker = setup.tracker
            io = setup.caps is not None and setup.caps.blocking
            seconds = (yield Io(left_of, (tracker, name))) if io else left_of(tracker, name)
        else:
            seconds = float(claim)
        held = False
        if index == self.last and claim is not False and setup.respect_retry_after:
            held = (yield from hinted_view(self, [name]))[0] > 0.0
        if index != self.last or held:
            yield from let_go(self, self.gates_io)
            if held:
                self.held_by_hint = True
                setup.recorder.hint_respected(name, seconds)
            self.skip(name, seconds, PROBING if claim is False else COOLDOWN)
            return None
        return seconds

    def _begin(self, index: int, forced: float | None, probe: bool, made: bool) -> Start:
        """Note attempt `index` as started: the `Start` action the driver carries out."""
        setup = self.setup
        name = self.names[index]
        self.number += 1
        number = self.number
        running = self.running
        hedged = bool(running)
        after = 0.0
        if hedged:
            # a hedge's delay: since the earliest attempt still running started
            after = self.clock() - min(e.started for e in running.values())
            for other, entry in list(running.items()):  # raced: hedged as well
                running[other] = entry._replace(hedged=True)
        if not made and (
            setup.recorder.hooks is not None or forced is not None or probe or hedged
        ):  # the happy path reported its own attempt; logs only in these cases
            terminus = index == self.terminus()
            self.record.started(name, number, terminus, forced, probe, hedged, after)
        if not made and setup.planner.tracks:
            setup.planner.started(name)
        running[index] = new_running((number, probe, hedged, forced is not None, self.clock()))
        pending, self.pending = self.pending, None
        if pending is not None and pending.leases:
            self._keep(index, pending.leases)
        return Start(index, number, forced, probe, hedged)

    def _keep(self, index: int, leases: tuple[Lease, ...]) -> None:
        """Attempt `index` starts: a slot is held until it ends, the rest are spent."""
        if len(leases) == 1:  # the common case, without a generator
            kept: tuple[Lease, ...] = leases if leases[0].until_end else ()
        else:
            kept = tuple(lease for lease in leases if lease.until_end)
        if kept:
            self.leases[index] = kept
            tabs = self.tabs
            if tabs is not None:  # token quotas: the reservation is the attempt's now
                for lease in kept:
                    if isinstance(lease, Tab):
                        lease.started = True
                        tabs[index] = lease
