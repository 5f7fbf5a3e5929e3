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
from typing import Any

from fallback_router._lease import Refusal
from fallback_router._routing import ROUTING, prefer_order

from .actions import (
    HEDGE,
    STARTED,
    Abandon,
    Await,
    Io,
    Outcome,
    Wait,
)
from .facts import COOLDOWN, HUNG
from .gates import Candidate, acquire, cooldown_wait, let_go, wait_for
from .starts import _SLOW, _STOP, Starts
from .views import benched_in, forced_last, hinted_view, view

__all__ = ["CallState", "Steps"]

#: What a step of the walk yields and is sent back (see the module documentation).
Steps = Generator[Any, Any, Any]


class CallState(Starts):
    """One routed call on the general path: its facts, and the walk over its providers."""

    __slots__ = ()

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
        self.gated, self.gates_io = setup.gated, setup.gates_io

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
            if made is not None:  # `after` put it first; preferences may have moved it
                order = [made.index, *(i for i in order if i != made.index)]
        return order

    # -- the walk ------------------------------------------------------------------------

    def _advance(self) -> Generator[Any, Any, tuple[int, Outcome] | None]:
        """Start candidates until an attempt ends: `(index, outcome)`; None: no more.

        A candidate that needs nothing of the driver before its `Start` (the common
        case) is started in place, without a generator per candidate.
        """
        while True:
            if self.position >= len(self.order):
                return (yield from self._past_order())
            found: Any = self._next_in_order()
            if found.__class__ is int:
                found = yield from self._pass_slowly(found)
            if found is None:
                continue
            start = self._quick_start(found)
            if start is _SLOW:
                start = yield from self._prepare(found)
                if start is None:
                    continue
                if start is _STOP:
                    return None
            reply = yield start
            if reply is STARTED:
                reply = yield Await(self.position < len(self.order) or bool(self.waiting))
                if reply is HEDGE:
                    continue
                ended: tuple[int, Outcome] = reply
                return ended
            return start.index, reply

    def _past_order(self) -> Generator[Any, Any, tuple[int, Outcome] | None]:
        """The order is walked: await what runs, or wait for a gated provider and start it."""
        while True:
            if self.running:
                ended: tuple[int, Outcome] = yield Await(False)
                return ended
            if not self.waiting or self.timed_out:
                return None
            candidate = yield from self._wait_for_gates()
            if candidate is None:
                return None
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
            if self.hinted or (self.setup.config.wait_for_cooldown and self.deadline is not None):
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
        if not self.setup.config.wait_for_cooldown or self.deadline is None:
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
