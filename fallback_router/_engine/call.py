"""One routed call's decisions: `CallState.steps()`, a generator of named actions.

The engine decides and never blocks: it yields what it needs done (the actions
of [`actions`][fallback_router._engine.actions]), and the driver (sync or async)
carries it out and sends the answer back. A component that waits on the network
(its `blocking` capability) is asked through an `Io` action; one that answers
from memory is asked in place, whichever driver runs the call.

The generator returns the call's `Result` (or the bare response) and raises the
call's error. The driver gives a finished attempt's leases back
(`CallFacts.ended`), and on an abnormal end asks `CallFacts.abort` what to give
back.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any, NamedTuple

from fallback_router._lease import Refusal
from fallback_router._routing import ROUTING, prefer_order

from .actions import HEDGE, STARTED, Abandon, Await, Io, Outcome, Running, Start, Wait
from .facts import COOLDOWN, HUNG, PROBING
from .gates import Candidate, acquire, cooldown_wait, left_of, let_go, may_continue, wait_for
from .verdicts import Verdicts
from .views import benched_in, forced_last, hinted_view, view

__all__ = ["CallState", "Steps"]

#: What a step of the walk yields and is sent back (see the module documentation).
Steps = Generator[Any, Any, Any]


class _Stop(NamedTuple):
    """`_start` answers it when the call starts no more attempts."""


_STOP = _Stop()


class CallState(Verdicts):
    """One routed call on the general path: its facts, and the walk over its providers."""

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

    def steps(self) -> Steps:
        """Plan, walk and conclude the call (see the module documentation)."""
        yield from self._plan()
        while True:
            ended = yield from self._advance()
            if ended is None:
                break
            index, outcome = ended
            if outcome.error is None:
                return (yield from self._succeeded(index, outcome))
            if not (yield from self._failed(index, outcome)):
                break
        yield from let_go(self, self.gates_io)
        if self.running:
            yield Abandon("call ended")
        raise self.error()

    # -- the plan ------------------------------------------------------------------------

    def _plan(self) -> Steps:
        """Read the cooldowns, pick the order, and note what the walk will need."""
        setup = self.setup
        caps = setup.caps
        if setup.recorder.hooks is not None and self.made is None:
            self.record.started_call()
        remaining: Sequence[float] = ()
        if caps is not None:  # a tracker: its view (in place when it answers from memory)
            many = caps.remaining_many
            if many is not None and not caps.blocking:
                remaining = many(self.names)
            else:
                remaining = yield from view(self)
            self.clean = not remaining
        self.remaining = remaining
        made, counter = self.made, setup.planner.counter
        if made is not None:
            self.tick = made.tick
        elif counter is not None:
            blocking = getattr(counter, "blocking", False)
            self.tick = (yield Io(counter.next_index, ())) if blocking else counter.next_index()
        order = self._order(benched_in(remaining))
        self.order = order
        self.position = 0
        self.last = order[-1]
        self.waiting: list[int] = []  # saturated or rate limited: may be waited for
        self.benched_here: list[int] = []  # skipped for cooldown (for wait_for_cooldown)
        # respect_retry_after: a provider a hint benches is never forced; the one
        # forced, if any, is the last of the order that no hint benches.
        self.hinted: Sequence[float] = ()
        if setup.respect_retry_after:
            self.hinted, self.last = yield from forced_last(self, remaining, order, 0, self.last)
        self.probing = caps is not None and caps.try_probe is not None and not self.clean
        self.gated = (
            setup.limiter is not None or setup.rates is not None or setup.abandoned is not None
        )
        # A rate limiter that waits on the network is asked through `Io`.
        self.gates_io = bool(getattr(setup.rates, "blocking", False))

    def _order(self, benched: Callable[[int], bool] | None) -> list[int]:
        """The strategy's order, `routing()` preferences applied, a made attempt first."""
        setup = self.setup
        planner = setup.planner
        made = self.made
        if made is not None:  # the happy path picked already: no second pick
            order = planner.after(self.names, made.index, self.tick, benched)
        else:
            order = planner.order(self.names, self.tick, benched)
        prefs = ROUTING.get()
        if prefs is not None:
            pinned = None
            if prefs.affinity is not None:
                pinned = setup.affinity.get(prefs.affinity, self.clock())
            order = prefer_order(order, self.names, prefs, pinned, benched)
        if made is not None:
            order = [made.index, *(i for i in order if i != made.index)]
        return order

    # -- the walk ------------------------------------------------------------------------

    def _advance(self) -> Generator[Any, Any, tuple[int, Outcome] | None]:
        """Start candidates until an attempt ends: `(index, outcome)`; None: no more."""
        while True:
            candidate: Candidate | None
            if self.position < len(self.order):
                found = self._next_in_order()
                if isinstance(found, int):
                    found = yield from self._pass_slowly(found)
                candidate = found
            elif self.running:
                ended: tuple[int, Outcome] = yield Await(False)
                return ended
            elif self.waiting and not self.timed_out:
                candidate = yield from self._wait_for_gates()
                if candidate is None:
                    return None
            else:
                return None
            if candidate is None:
                continue
            started = yield from self._start(candidate)
            if started is _STOP:
                return None
            if started is not None:
                done: tuple[int, Outcome] = started
                return done

    def _wait_for_gates(self) -> Generator[Any, Any, Candidate | None]:
        """Wait for one of the saturated or rate-limited providers; None: out of time."""
        candidate = yield from wait_for(self, self.waiting, self.gates_io)
        if candidate is not None:
            self.unskip([self.names[candidate.index]])
            still = self.remaining[candidate.index] if self.remaining else 0.0
            if still > 0.0:
                candidate.forced = still
        return candidate

    def _next_in_order(self) -> Candidate | int | None:
        """The next provider of the order with its gates passed; None: passed over.

        Its index (an int) when passing it needs the driver: `_pass_slowly` then.
        """
        index = self.order[self.position]
        self.position += 1
        made = self.made
        if made is not None and index == made.index and not self.number:
            return Candidate(index)  # the happy path's attempt: made already, only recorded
        left = self.remaining[index] if self.remaining else 0.0
        forced = None
        if left > 0.0:
            if index != self.last:
                self.skip(self.names[index], left, COOLDOWN)
                self.benched_here.append(index)
                return None
            if self.hinted or (self.setup.wait_for_cooldown and self.deadline is not None):
                return index
            forced = left
        if not self.gated:
            return Candidate(index, forced=forced)
        if self.gates_io:
            return index
        return self._gated(index, acquire(self, index, forced))

    def _pass_slowly(self, index: int) -> Generator[Any, Any, Candidate | None]:
        """`_next_in_order` for a terminus that may wait or be hinted, or gates that wait."""
        left = self.remaining[index] if self.remaining else 0.0
        forced = None
        if left > 0.0:
            name = self.names[index]
            if (yield from self._wait_cooldown(index)):
                return None
            if self.hinted and self.hinted[index] > 0.0:  # every provider left: hinted
                self.held_by_hint = True
                self.setup.recorder.hint_respected(name, left)
                self.skip(name, left, COOLDOWN)
                return None
            forced = left
        if not self.gated:
            return Candidate(index, forced=forced)
        io = self.gates_io
        taken = (yield Io(acquire, (self, index, forced))) if io else acquire(self, index, forced)
        return self._gated(index, taken)

    def _gated(self, index: int, taken: Candidate | Refusal) -> Candidate | None:
        """What `acquire` answered: the candidate, or a refusal (then maybe waited for)."""
        if isinstance(taken, Candidate):
            return taken
        reason, seconds = taken
        self.skip(self.names[index], seconds, reason)
        if reason != HUNG:  # hung attempts may never end: not waited for
            self.waiting.append(index)
        return None

    def _wait_cooldown(self, index: int) -> Generator[Any, Any, bool]:
        """`wait_for_cooldown`: wait for the earliest of those benched, then walk them again.

        False when not asked or no cooldown ends within the budget (the terminus is forced).
        """
        if not self.setup.wait_for_cooldown or self.deadline is None:
            return False
        benched = [*self.benched_here, index]
        wait = cooldown_wait(self, benched, self.remaining)
        if wait is None:
            return False
        self.setup.recorder.waiting([self.names[i] for i in benched], COOLDOWN, wait)
        self.waited += wait
        self.unskip([self.names[i] for i in self.benched_here])
        yield Wait(None, (), self.clock() + wait, COOLDOWN)
        self.remaining = yield from view(self)
        self.order = [*benched, *self.order[self.position :]]
        self.benched_here = []
        self.position, self.last = 0, index
        if self.hinted:
            self.hinted = yield from hinted_view(self)
        return True

    def _start(self, candidate: Candidate) -> Generator[Any, Any, Any]:
        """Start `candidate` (the budget, a probe): `(index, outcome)` once it ended.

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
        reply = yield self._begin(index, forced, probe, made)
        if reply is STARTED:
            reply = yield Await(self.position < len(self.order) or bool(self.waiting))
            return None if reply is HEDGE else reply
        return index, reply

    def _probe_call(self, name: str) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The tracker's `try_probe` and its arguments for `name` (a ttl when it takes one)."""
        setup = self.setup
        caps = setup.caps
        assert caps is not None  # noqa: S101 - probing implies caps
        try_probe: Callable[..., Any] = caps.try_probe  # type: ignore[assignment]
        if caps.probe_ttl and setup.probe_ttl is not None:
            return try_probe, (name, setup.probe_ttl)
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
        # a hedge's delay: since the earliest attempt still running started
        after = self.clock() - min(e.started for e in running.values()) if hedged else 0.0
        for other, entry in list(running.items()):  # raced: hedged as well
            running[other] = entry._replace(hedged=True)
        if not made and (
            setup.recorder.hooks is not None or forced is not None or probe or hedged
        ):  # the happy path reported its own attempt; logs only in these cases
            terminus = index == self.terminus()
            self.record.started(name, number, terminus, forced, probe, hedged, after)
        if not made and setup.planner.tracks:
            setup.planner.started(name)
        running[index] = Running(number, probe, hedged, forced is not None, self.clock())
        pending, self.pending = self.pending, None
        if pending is not None and pending.leases:  # a slot is held until the attempt ends,
            kept = tuple(lease for lease in pending.leases if lease.until_end)  # the rest spent
            if kept:
                self.leases[index] = kept
        return Start(index, number, forced, probe, hedged)
