"""One routed call's decisions: `CallState.steps()`, a generator of actions.

The engine decides and never blocks: it yields what it needs done, and the
driver (sync or async) carries it out and sends the answer back:

- `(START, index, number, forced, probe, hedged)`: attempt provider `index`
  (its slot and rate-limit token are taken). Reply: the attempt's `Outcome`,
  or `STARTED` when the driver runs attempts side by side (hedging).
- `(AWAIT, more)`: attempts are running; reply `(index, outcome)` when one
  ends, or `HEDGE` (only when `more`) to start the next candidate beside them.
- `(IO, fn, args)`: call `fn(*args)` (a component that may wait on the network)
  and reply its result.
- `(WAIT, gate, names, until, reason)`: wait until one of `names` has a free
  slot on the limiter `gate` (reply its name, the slot taken) or until `until`
  on the router's clock (reply None); `gate` None: just wait until `until`.
- `(ABANDON, reason)`: the call concludes while attempts still run (hedges that
  lost, or a deadline): give them up now, with `reason`; reply anything.

The generator returns the call's `Result` (or the bare response) and raises
the call's error. The driver gives a finished attempt's slot back
(`CallState.ended`), and on an abnormal end asks `CallState.abort` what to
give back.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from fallback_router._errors import AttemptTimeoutError
from fallback_router._routing import ROUTING, prefer_order

from .facts import COOLDOWN, HUNG, IO, PROBING, WAIT, CallFacts, Outcome
from .gates import Taken, acquire, cooldown_wait, left_of, let_go, may_continue, wait_for
from .views import benched_in, forced_last, hinted_view, view

__all__ = [
    "ABANDON",
    "AWAIT",
    "HEDGE",
    "IO",
    "START",
    "STARTED",
    "WAIT",
    "CallState",
    "Outcome",
]

START, AWAIT, ABANDON = 1, 2, 5
STARTED = object()
HEDGE = object()


class CallState(CallFacts):
    """One routed call on the general path: its facts, and the walk over its providers."""

    __slots__ = ()

    def steps(self) -> Generator[Any, Any, Any]:  # noqa: C901, PLR0912, PLR0915 - one walk
        """Plan, walk and conclude the call (see the module documentation)."""
        setup = self.setup
        names = self.names
        recorder = setup.recorder
        planner = setup.planner
        tracker = setup.tracker
        caps = setup.caps
        defer = self.defer_io
        progress = self.progress
        if recorder.hooks is not None and self.first is None and progress is None:
            recorder.started_call(self.function, self.call_id)
        # -- the view of the cooldowns
        remaining: Sequence[float] = ()
        if tracker is not None:
            many = caps.remaining_many if caps is not None else None
            if many is not None and not defer:  # the common case, without a sub-generator
                remaining = many(names)
            else:
                remaining = yield from view(self)
            self.clean = not remaining
        benched = benched_in(remaining)
        # -- the order
        first = self.first
        counter = planner.counter
        if first is not None:
            self.tick = first[1]
        elif progress is not None:
            self.tick = progress[2]
        elif counter is not None:
            blocking = defer and getattr(counter, "blocking", False)
            self.tick = (yield (IO, counter.next_index, ())) if blocking else counter.next_index()
        order: list[int]
        if progress is not None:
            order = progress[0]
        elif first is not None:  # the happy path picked already: no second pick
            order = planner.after(names, first[0], self.tick, benched)
        else:
            order = planner.order(names, self.tick, benched)
        prefs = ROUTING.get() if progress is None else None
        if prefs is not None:
            pinned = None
            if prefs.affinity is not None:
                pinned = setup.affinity.get(prefs.affinity, self.clock())
            order = prefer_order(order, names, prefs, pinned, benched)
        if first is not None:
            order = [first[0], *(i for i in order if i != first[0])]
        self.order = order
        last = order[-1]
        # -- the walk
        waiting: list[int] = []  # saturated or rate limited: may be waited for
        benched_here: list[int] = []  # skipped for cooldown (for wait_for_cooldown)
        position = 0 if progress is None else progress[1]
        # respect_retry_after: a provider a hint benches is never forced; the one
        # forced, if any, is the last of the order that no hint benches.
        hinted: Sequence[float] = ()
        if setup.respect_retry_after:
            hinted, last = yield from forced_last(self, remaining, order, position, last)
        probing = caps is not None and caps.try_probe is not None and not self.clean
        gated = setup.limiter is not None or setup.rates is not None or setup.abandoned is not None
        # A rate limiter that waits on the network is asked off the loop (async drivers).
        gates_io = defer and bool(getattr(setup.rates, "blocking", False))
        outcome: Outcome | None = None
        index = -1
        while True:
            if outcome is None:
                ready: tuple[int, bool, bool] | None = None
                forced: float | None = None
                if position < len(order):
                    index = order[position]
                    position += 1
                    name = names[index]
                    left = remaining[index] if remaining else 0.0
                    if first is not None and index == first[0] and not self.number:
                        left = 0.0  # the happy path's attempt: made already, only recorded
                        ready = (index, False, False)
                    elif left > 0.0:
                        if index != last:
                            self.skip(name, left, COOLDOWN)
                            benched_here.append(index)
                            continue
                        if setup.wait_for_cooldown and self.deadline is not None:
                            wait = cooldown_wait(self, [*benched_here, index], remaining)
                            if wait is not None:
                                recorder.waiting(
                                    [names[i] for i in (*benched_here, index)], COOLDOWN, wait
                                )
                                self.waited += wait
                                self.unskip([names[i] for i in benched_here])
                                yield (WAIT, None, (), self.clock() + wait, COOLDOWN)
                                fresh: Sequence[float] = yield from view(self)
                                remaining = fresh
                                order = [*benched_here, index, *order[position:]]
                                benched_here = []
                                self.order, position, last = order, 0, index
                                if hinted:
                                    hinted = yield from hinted_view(self)
                                continue
                        if hinted and hinted[index] > 0.0:  # every provider left: hinted
                            self.held_by_hint = True
                            recorder.hint_respected(name, left)
                            self.skip(name, left, COOLDOWN)
                            continue
                        forced = left
                    if ready is not None:
                        pass
                    elif not gated:
                        ready = (index, False, False)
                    else:
                        taken: Taken = (
                            (yield (IO, acquire, (self, index)))
                            if gates_io
                            else acquire(self, index)
                        )
                        slot, token = taken
                        if isinstance(slot, str):  # (reason, seconds to wait)
                            self.skip(name, float(token), slot)
                            if slot != HUNG:  # hung attempts may never end: not waited for
                                waiting.append(index)
                            continue
                        ready = (index, slot, bool(token))
                elif self.running:
                    reply = yield (AWAIT, False)
                    index, outcome = reply
                elif waiting and not self.timed_out:
                    ready = yield from wait_for(self, waiting, gates_io)
                    if ready is None:
                        break
                    index = ready[0]
                    self.unskip([names[index]])
                    still: float = remaining[index] if remaining else 0.0
                    if still > 0.0:
                        forced = still
                else:
                    break
                if ready is not None:
                    # -- a candidate with its slot and token: the budget, a probe, start
                    index = ready[0]
                    name = names[index]
                    self.pending = ready
                    if self.number and (not planner.failover or not may_continue(self, name)):
                        # One-attempt strategies make one; else the deadline or budget.
                        if not self.running:
                            break
                        yield from let_go(self, gates_io)  # attempts still run: start no more
                        position, ready = len(order), None
                        waiting.clear()
                        continue
                    probe = False
                    made = first is not None and index == first[0] and not self.number
                    if probing and forced is None and not made:  # made: its outcome is in
                        assert caps is not None  # noqa: S101 - probing implies caps
                        args: tuple[Any, ...] = (name,)
                        if caps.probe_ttl and setup.probe_ttl is not None:
                            args = (name, setup.probe_ttl)
                        try_probe = caps.try_probe
                        claim = (yield (IO, try_probe, args)) if defer else try_probe(*args)  # type: ignore[misc]
                        if claim is True:
                            probe = True
                            self.probes.add(name)
                        elif claim is not None:  # another call's probe, or a cooldown set since
                            if claim is False:  # the probe's hold, as the tracker says
                                seconds = (
                                    (yield (IO, left_of, (tracker, name)))
                                    if defer
                                    else left_of(tracker, name)
                                )
                            else:
                                seconds = float(claim)
                            held = False
                            if index == last and claim is not False and setup.respect_retry_after:
                                held = (yield from hinted_view(self, [name]))[0] > 0.0
                            if index != last or held:
                                yield from let_go(self, gates_io)
                                if held:
                                    self.held_by_hint = True
                                    recorder.hint_respected(name, seconds)
                                self.skip(name, seconds, PROBING if claim is False else COOLDOWN)
                                continue
                            forced = seconds
                    self.number += 1
                    number = self.number
                    hedged = bool(self.running)
                    # a hedge's delay: since the earliest attempt still running started
                    after = (
                        self.clock() - min(e[4] for e in self.running.values()) if hedged else 0.0
                    )
                    for other, entry in list(self.running.items()):  # raced: hedged as well
                        self.running[other] = (entry[0], entry[1], True, entry[3], entry[4])
                    if not made and (
                        recorder.hooks is not None or forced is not None or probe or hedged
                    ):  # the happy path reported its own attempt; logs only in these cases
                        recorder.started(
                            name, number, index == self.terminus(), forced, probe, hedged,
                            self.function,
                            self.call_id,
                            after,
                        )  # fmt: skip
                    if not made and planner.tracks:
                        planner.started(name)
                    self.running[index] = (number, probe, hedged, forced is not None, self.clock())
                    self.pending = None  # the driver gives the slot back from here on
                    self.withdrawn = False  # the budget's unit is spent: the attempt starts
                    reply = yield (START, index, number, forced, probe, hedged)
                    if reply is STARTED:
                        reply = yield (AWAIT, position < len(order) or bool(waiting))
                        if reply is HEDGE:
                            continue
                        index, outcome = reply
                    else:
                        outcome = reply
            # -- an attempt ended: `index`, `outcome`
            assert outcome is not None  # noqa: S101 - set by every branch above
            number, probe, hedged, was_forced, _ = self.running.pop(index)
            name = names[index]
            response, error, begun, end = outcome
            outcome = None
            latency = max(0.0, end - begun)
            if error is None:
                if tracker is not None and (probe or not self.clean):
                    self.probes.discard(name)
                    # A call that saw the provider available keeps a cooldown set since.
                    keep = not (probe or was_forced) and caps is not None and caps.keeps_cooldown
                    args = (name, False) if keep else (name,)
                    if defer:
                        yield (IO, tracker.record_success, args)
                    else:
                        tracker.record_success(*args)
                recorder.succeeded(name, number, latency, end, self.function, self.call_id)
                if self.tabs:  # token quotas: the reservation settles from the usage
                    quota = setup.quota
                    assert quota is not None  # noqa: S101 - tabs imply a quota
                    quota.succeeded(self.tabs.get(index), response, self.streamed, setup.buffer)
                if planner.tracks:
                    planner.observed(name, latency)
                if self.running:  # hedges that lost: abandoned before the call's last event
                    self.note_losers()
                    hedged = True
                    yield (ABANDON, "hedge lost")
                return self.done(response, index, number, latency, hedged)
            fallback, counted, text = recorder.failed(
                name, number, len(names), index == self.terminus(), error, latency, end,
                self.function, self.call_id,
            )  # fmt: skip
            if self.tabs and index in self.tabs:
                self.tabs[index].judge(False)  # given back, unless the provider settled
            if counted:
                assert tracker is not None  # noqa: S101 - counted implies a tracker
                self.probes.discard(name)
                self.held.discard(name)  # the verdict ends a probe an abandoned attempt kept
                args = recorder.failure_args(name, error)
                duration = (
                    (yield (IO, tracker.record_failure, args))
                    if defer
                    else tracker.record_failure(*args)
                )
                if duration is True:  # a tracker of the 0.1 protocol
                    duration = tracker.remaining(name)
                recorder.cooled(name, float(duration or 0.0), error, text, self.function,
                                self.call_id)  # fmt: skip
            elif probe:
                self.probes.discard(name)
                end_probe = caps.end_probe if caps is not None else None
                if end_probe is not None:
                    if defer:
                        yield (IO, end_probe, (name,))
                    else:
                        end_probe(name)
            if not fallback:
                if self.running:
                    yield (ABANDON, "call ended")
                self.closed(error)
                raise error  # not a fallback trigger: unchanged, no context added
            self.failed(number, (name, error, latency, counted, hedged, text))
            if isinstance(error, AttemptTimeoutError) and error.kind == "budget":
                self.timed_out = True
                break
        yield from let_go(self, gates_io)
        if self.running:
            yield (ABANDON, "call ended")
        raise self.error()
