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

The generator returns the call's `Result` (or the bare response) and raises
the call's error. The driver gives a finished attempt's slot back
(`CallState.ended`), and on an abnormal end asks `CallState.abort` what to
give back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from typing import Any

from .._errors import AllProvidersFailedError, AttemptTimeoutError, DeadlineExceededError
from .._results import Attempt, AttemptState, Result, new_attempt, new_result
from .._routing import ROUTING, prefer_order
from .record import caller_bug_hint
from .setup import Setup

__all__ = [
    "AWAIT",
    "HEDGE",
    "IO",
    "START",
    "STARTED",
    "WAIT",
    "CallState",
    "Outcome",
]

#: What one attempt produced: `(response, error, start, end)` on the router's clock.
Outcome = tuple[Any, Exception | None, float, float]

START, AWAIT, IO, WAIT = 1, 2, 3, 4
STARTED = object()
HEDGE = object()
COOLDOWN, PROBING, SATURATED, RATE_LIMITED, BUDGET = (
    "cooldown",
    "probe in flight",
    "saturated",
    "rate limited",
    "retry budget",
)


class CallState:
    """The state of one routed call on the general path."""

    __slots__ = (
        "budget_refused",
        "call_id",
        "clean",
        "clock",
        "deadline",
        "defer_io",
        "failures",
        "first",
        "function",
        "names",
        "number",
        "objects",
        "order",
        "pending",
        "probes",
        "reasons",
        "running",
        "setup",
        "skipped",
        "start",
        "tick",
        "timed_out",
        "waited",
        "want_result",
    )

    def __init__(  # noqa: PLR0913 - the call's facts
        self,
        setup: Setup,
        function: str,
        want_result: bool,
        defer_io: bool = False,
        first: tuple[int, int, Outcome] | None = None,
        start: float | None = None,
        call_id: int | None = None,
    ) -> None:
        self.setup = setup
        self.names, self.objects = setup.providers()
        if setup.budget is not None:
            setup.budget.deposit()
        self.clock = clock = setup.clock if setup.clock is not None else time.monotonic
        self.start = clock() if start is None else start
        timeout = setup.timeout
        self.deadline = None if timeout is None else self.start + timeout
        self.function = function
        self.want_result = want_result
        self.defer_io = defer_io
        #: The happy path's failed first attempt: (index, tick, outcome).
        self.first = first
        self.tick = 0
        if call_id is None:
            call_id = next(setup.call_ids) if setup.recorder.hooks is not None else 0
        self.call_id = call_id
        #: (provider, error, latency, counted, hedged, text) of each failed attempt.
        self.failures: list[tuple[str, Exception, float, bool, bool, str]] = []
        self.skipped: list[str] = []
        self.reasons: list[str] = []
        self.timed_out = False
        #: Seconds spent in waits (real time): a frozen clock cannot stretch a budget.
        self.waited = 0.0
        self.budget_refused = False
        self.clean = True
        self.number = 0  # attempts started
        self.order: list[int] = []
        self.running: dict[
            int, tuple[int, bool, bool, bool]
        ] = {}  # index -> number, probe, hedged, forced
        self.pending: tuple[int, bool, bool] | None = None  # (index, slot, token) not started
        self.probes: set[str] = set()

    # -- facts for drivers ------------------------------------------------------------

    def state(self, index: int, number: int, limit: float | None) -> AttemptState:
        """The `current_attempt()` facts of attempt `number` on provider `index`.

        `limit` is the attempt's own limit in seconds (None: none); `time_left`
        counts to the nearer of it and the call's deadline.
        """
        deadline = self.deadline
        if limit is not None:
            own = self.clock() + limit
            deadline = own if deadline is None else min(deadline, own)
        return (
            self.names[index],
            number,
            index == self.terminus(),
            deadline,
            self.setup.clock,
        )

    def terminus(self) -> int:
        """The index of this call's terminus: the last of its order (one-attempt
        strategies: the last provider, as ever)."""
        if self.order and self.setup.planner.failover:
            return self.order[-1]
        return len(self.names) - 1

    def ended(self, index: int, deferred: bool = False) -> None:
        """An attempt on `index` really ended: give its slot back (`deferred`: from a finalizer)."""
        setup = self.setup
        name = self.names[index]
        if setup.limiter is not None:
            if deferred:
                setup.limiter.release_later(name)
            else:
                setup.limiter.release(name)
        if setup.planner.tracks:
            setup.planner.ended(name)

    def abort(self) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
        """What to give back when the call ends abnormally (run by the driver)."""
        setup = self.setup
        ops: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        if self.pending is not None:
            index, slot, token = self.pending
            self.pending = None
            name = self.names[index]
            if slot and setup.limiter is not None:
                ops.append((setup.limiter.release, (name,)))
            if token and setup.rates is not None:
                ops.append((setup.rates.refund, (name,)))
        caps = setup.caps
        if caps is not None and caps.end_probe is not None:
            ops.extend((caps.end_probe, (name,)) for name in self.probes)
        self.probes.clear()
        return ops

    # -- the walk ------------------------------------------------------------------------

    def steps(self) -> Generator[Any, Any, Any]:  # noqa: C901, PLR0912, PLR0915 - one walk
        """Plan, walk and conclude the call (see the module documentation)."""
        setup = self.setup
        names = self.names
        recorder = setup.recorder
        planner = setup.planner
        tracker = setup.tracker
        caps = setup.caps
        defer = self.defer_io
        if recorder.hooks is not None and self.first is None:
            recorder.started_call(self.function, self.call_id)
        # -- the view of the cooldowns
        remaining: Sequence[float] = ()
        if tracker is not None:
            remaining = yield from self._view()
            self.clean = not remaining
        benched = (lambda i: remaining[i] > 0.0) if remaining else None  # noqa: E731
        # -- the order
        first = self.first
        counter = planner.counter
        if first is not None:
            self.tick = first[1]
        elif counter is not None:
            blocking = defer and getattr(counter, "blocking", False)
            self.tick = (yield (IO, counter.next_index, ())) if blocking else counter.next_index()
        order = planner.order(names, self.tick, benched)
        prefs = ROUTING.get()
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
        position = 0
        probing = caps is not None and caps.try_probe is not None and not self.clean
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
                    if left > 0.0:
                        if index != last:
                            self._skip(name, left, COOLDOWN)
                            benched_here.append(index)
                            continue
                        if setup.wait_for_cooldown and self.deadline is not None:
                            wait = self._cooldown_wait([*benched_here, index], remaining)
                            if wait is not None:
                                recorder.waiting([names[i] for i in benched_here], COOLDOWN, wait)
                                self.waited += wait
                                yield (WAIT, None, (), self.clock() + wait, COOLDOWN)
                                remaining = yield from self._view()
                                order = [*benched_here, index]
                                benched_here = []
                                self.order, position, last = order, 0, index
                                continue
                        forced = left
                    taken = self._acquire(index)
                    if isinstance(taken, str):
                        wait_for = setup.rates.wait_time(name) if taken == RATE_LIMITED else 0.0
                        self._skip(name, wait_for, taken)
                        waiting.append(index)
                        continue
                    ready = (index, *taken)
                elif self.running:
                    reply = yield (AWAIT, False)
                    index, outcome = reply
                elif waiting and not self.timed_out:
                    ready = yield from self._wait(waiting)
                    if ready is None:
                        break
                    index = ready[0]
                    if remaining and remaining[index] > 0.0:
                        forced = remaining[index]
                else:
                    break
                if ready is not None:
                    # -- a candidate with its slot and token: the budget, a probe, start
                    index, slot, token = ready
                    name = names[index]
                    self.pending = ready
                    if self.number and (not planner.failover or not self._may_continue(name)):
                        break  # one-attempt strategies make one; else the deadline or budget
                    probe = False
                    if probing and forced is None:
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
                                    (yield (IO, _left_of, (tracker, name)))
                                    if defer
                                    else _left_of(tracker, name)
                                )
                            else:
                                seconds = float(claim)
                            if index != last:
                                self._give_back()
                                self._skip(name, seconds, PROBING if claim is False else COOLDOWN)
                                continue
                            forced = seconds
                    made = first is not None and index == first[0] and not self.number
                    self.number += 1
                    number = self.number
                    hedged = bool(self.running)
                    if not made:  # the happy path reported its own attempt
                        recorder.started(
                            name, number, index == self.terminus(), forced, probe, hedged,
                            self.function,
                            self.call_id,
                        )  # fmt: skip
                        if planner.tracks:
                            planner.started(name)
                    self.running[index] = (number, probe, hedged, forced is not None)
                    self.pending = None  # the driver gives the slot back from here on
                    reply = yield (START, index, number, forced, probe, hedged)
                    if reply is STARTED:
                        reply = yield (AWAIT, position < len(order) or bool(waiting))
                        if reply is HEDGE:
                            continue
                        index, outcome = reply
                    else:
                        outcome = reply
            # -- an attempt ended: `index`, `outcome`
            assert outcome is not None  # noqa: S101
            number, probe, hedged, was_forced = self.running.pop(index)
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
                if planner.tracks:
                    planner.observed(name, latency)
                return self._done(response, index, number, latency, hedged)
            fallback, counted, text = recorder.failed(
                name, number, len(names), index == self.terminus(), error, latency, end,
                self.function, self.call_id,
            )  # fmt: skip
            if counted:
                assert tracker is not None  # noqa: S101 - counted implies a tracker
                self.probes.discard(name)
                duration = (
                    (yield (IO, tracker.record_failure, (name, error)))
                    if defer
                    else tracker.record_failure(name, error)
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
                self._close(error)
                raise error  # not a fallback trigger: unchanged, no context added
            self.failures.append((name, error, latency, counted, hedged, text))
            if isinstance(error, AttemptTimeoutError) and error.kind == "budget":
                self.timed_out = True
                break
        self._give_back()
        raise self._error()

    # -- pieces of the walk -------------------------------------------------------------------

    def _view(self) -> Generator[Any, Any, Sequence[float]]:
        """Each provider's remaining cooldown (empty: none has any state)."""
        tracker, caps, names = self.setup.tracker, self.setup.caps, self.names
        assert tracker is not None  # noqa: S101 - only called with a tracker
        assert caps is not None  # noqa: S101 - built together
        many = caps.remaining_many
        if many is None:
            self.clean = False
            if self.defer_io:
                each: Sequence[float] = yield (IO, _remaining_each, (tracker, names))
                return each
            return _remaining_each(tracker, names)
        view = caps.peek(names) if self.defer_io and caps.peek is not None else None
        if view is None:
            view = (yield (IO, many, (names,))) if self.defer_io else many(names)
        return view

    def _acquire(self, index: int, slot: bool = False) -> tuple[bool, bool] | str:
        """Take `index`'s slot and token: `(slot, token)` held, or why not (nothing held).

        `slot`: the slot is held already (handed over by a wait).
        """
        setup = self.setup
        name = self.names[index]
        abandoned, limiter, rates = setup.abandoned, setup.limiter, setup.rates
        if abandoned is not None and _full(abandoned, name):
            if slot:
                limiter.release(name)  # type: ignore[union-attr]
            return SATURATED
        if limiter is not None and not slot:
            if not limiter.try_acquire(name):
                return SATURATED
            slot = True
        if rates is not None and rates.limited(name):
            if not rates.try_acquire(name):
                if slot:
                    limiter.release(name)  # type: ignore[union-attr]
                return RATE_LIMITED
            return slot, True
        return slot, False

    def _give_back(self) -> None:
        """Give back the slot and token of a candidate that was not started."""
        pending = self.pending
        self.pending = None
        if pending is None:
            return
        index, slot, token = pending
        name = self.names[index]
        if slot:
            self.setup.limiter.release(name)  # type: ignore[union-attr]
        if token:
            self.setup.rates.refund(name)

    def _skip(self, name: str, remaining: float, reason: str) -> None:
        self.skipped.append(name)
        self.reasons.append(reason)
        self.setup.recorder.skipped(name, remaining, reason, self.function, self.call_id)

    def _may_continue(self, name: str) -> bool:
        """Before an attempt after the first: the deadline and the retry budget allow it."""
        if self.deadline is not None and self.clock() >= self.deadline:
            self.timed_out = True
            return False
        budget = self.setup.budget
        if budget is not None and not budget.withdraw():
            self.budget_refused = True
            self.setup.recorder.budget_refused(name, self.number)
            self._skip(name, 0.0, BUDGET)
            return False
        return True

    def _cooldown_wait(self, indices: Sequence[int], remaining: Sequence[float]) -> float | None:
        """Seconds until the earliest of `indices` leaves cooldown, if within the budget."""
        assert self.deadline is not None  # noqa: S101 - only with a budget
        earliest = min(remaining[i] for i in indices)
        budget = self.deadline - self.start
        if self.clock() + earliest > self.deadline or self.waited + earliest > budget:
            return None
        return earliest

    def _wait(self, waiting: list[int]) -> Generator[Any, Any, tuple[int, bool, bool] | None]:
        """Wait until one of `waiting` has a slot and a token; it, or None out of time."""
        setup = self.setup
        names = self.names
        rates = setup.rates
        while True:
            for index in list(waiting):
                taken = self._acquire(index)
                if not isinstance(taken, str):
                    waiting.remove(index)
                    return (index, *taken)
            now = self.clock()
            if self.deadline is not None and now >= self.deadline:
                self.timed_out = True
                return None
            until = self.deadline
            reason = SATURATED
            if rates is not None:
                waits = [rates.wait_time(names[i]) for i in waiting if rates.limited(names[i])]
                if waits:
                    soonest = now + max(min(waits), 0.001)
                    until = soonest if until is None else min(until, soonest)
                    reason = RATE_LIMITED
            gate = setup.limiter
            if gate is None or not any(_full(gate, names[i]) for i in waiting):
                gate = setup.abandoned
            gated = (
                tuple(names[i] for i in waiting if _full(gate, names[i]))
                if gate is not None
                else ()
            )
            if not gated and until is None:
                return None  # nothing that could change by waiting
            span = None if until is None else max(0.0, until - now)
            setup.recorder.waiting([names[i] for i in waiting], reason, span or -1.0)
            got = yield (WAIT, gate if gated else None, gated, until, reason)
            if got is None:
                if span is not None:
                    self.waited += span
                    budget = None if self.deadline is None else self.deadline - self.start
                    if budget is not None and self.waited >= budget:  # real time is up
                        self.timed_out = True
                        return None
                continue
            assert gate is not None  # noqa: S101 - a slot comes from the gate
            index = names.index(got)
            if gate is not setup.limiter:  # room among abandoned calls: only looked at
                gate.release(got)
                continue
            taken = self._acquire(index, slot=True)
            if not isinstance(taken, str):
                waiting.remove(index)
                return (index, *taken)

    def _done(self, response: Any, index: int, number: int, latency: float, hedged: bool) -> Any:
        setup = self.setup
        elapsed = max(0.0, self.clock() - self.start)
        prefs = ROUTING.get()
        if prefs is not None and prefs.affinity is not None:
            setup.affinity.pin(prefs.affinity, self.names[index], self.clock())
        if setup.recorder.hooks is not None:
            setup.recorder.succeeded_call(
                self.names[index], number, elapsed, self.function, self.call_id
            )
        if not self.want_result:
            return response
        return self.result(response, index, number, latency, hedged, elapsed)

    def result(  # noqa: PLR0913 - the serving attempt's facts
        self, response: Any, index: int, number: int, latency: float, hedged: bool, elapsed: float
    ) -> Result[Any]:
        """The [`Result`][fallback_router.Result] of a call that `index` served."""
        name = self.names[index]
        return new_result(
            response,
            name,
            latency,
            number,
            index == self.terminus(),
            (*self.attempts(), new_attempt(name, None, latency, False, hedged)),
            tuple(self.skipped),
            elapsed,
        )

    def attempts(self) -> list[Attempt]:
        """The [`Attempt`][fallback_router.Attempt] records of the failed attempts so far."""
        return [new_attempt(*failure) for failure in self.failures]

    def _close(self, error: BaseException) -> None:
        recorder = self.setup.recorder
        if recorder.hooks is not None:
            recorder.failed_call(error, tuple(self.attempts()), self.function, self.call_id)

    def closed(self, error: BaseException) -> None:
        """The call ended by `error` outside the walk (a `BaseException`): tell the hooks."""
        self._close(error)

    def _error(self) -> Exception:
        """Build the error the caller receives, and emit `CallFailed`."""
        setup = self.setup
        attempts = self.attempts()
        errors = [failure[1] for failure in self.failures]
        error: Exception
        if self.timed_out or not errors:
            timeout = setup.timeout
            error = DeadlineExceededError(
                f"time budget of {timeout} s ran out after {len(attempts)} attempt(s)"
                + self._skips_text(),
                timeout=timeout if timeout is not None else float("inf"),
                attempts=attempts,
            )
            error.__cause__ = errors[-1] if errors else None
        elif setup.reraise:
            error = errors[-1]
        else:
            tried = ", ".join(a.provider for a in attempts)
            if setup.planner.failover:
                message = f"all providers failed ({tried})"
            else:
                message = f"{setup.planner.name.replace('_', '-')} provider failed: {tried}"
            if self.budget_refused:
                message += "; retry budget exhausted: no further attempt"
            error = AllProvidersFailedError(
                message + self._skips_text() + caller_bug_hint(errors),
                errors,
                attempts=attempts,
                skipped=self.skipped,
            )
        self._close(error)
        return error

    def _skips_text(self) -> str:
        text = ""
        labels = (
            ((COOLDOWN, PROBING), "in cooldown"),
            ((SATURATED,), "saturated"),
            ((RATE_LIMITED,), "rate limited"),
        )
        for reasons, label in labels:
            names = [n for n, r in zip(self.skipped, self.reasons, strict=True) if r in reasons]
            if names:
                text += f"; skipped {label}: {', '.join(dict.fromkeys(names))}"
        return text


def _remaining_each(tracker: Any, names: Sequence[str]) -> list[float]:
    return [tracker.remaining(name) for name in names]


def _left_of(tracker: Any, name: str) -> float:
    return max(0.0, tracker.remaining(name)) if tracker is not None else 0.0


def _full(gate: Any, name: str) -> bool:
    limit = gate.limit(name)
    return limit is not None and gate.in_flight(name) >= limit
