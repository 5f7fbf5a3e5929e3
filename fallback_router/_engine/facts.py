"""A routed call's facts and how it concludes: `CallFacts`, the base of `CallState`.

The facts (names, clock, deadline, failures, skips, what is held) and the
conclusions drawn from them (the `Result`, the error, the call's last event).
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable
from typing import Any

from fallback_router._lease import Lease, release_all
from fallback_router._quota import Tab, judge_all
from fallback_router._results import Attempt, AttemptState, Result, new_attempt, new_result
from fallback_router._routing import ROUTING

from .actions import Failure, Made, Running
from .conclude import BUDGET, COOLDOWN, HUNG, PROBING, RATE_LIMITED, SATURATED, call_error
from .record import CallRecorder
from .setup import Setup

__all__ = [
    "BUDGET",
    "COOLDOWN",
    "HUNG",
    "PROBING",
    "RATE_LIMITED",
    "SATURATED",
    "CallFacts",
]


class CallFacts:
    """The facts of one routed call on the general path, and how it concludes."""

    __slots__ = (
        "benched_left",
        "budget_refused",
        "call_id",
        "clean",
        "clock",
        "closed_event",
        "deadline",
        "failures",
        "function",
        "held",
        "held_by_hint",
        "hung",
        "leases",
        "losers",
        "made",
        "names",
        "number",
        "numbers",
        "objects",
        "order",
        "pending",
        "probes",
        "reasons",
        "record",
        "running",
        "setup",
        "skipped",
        "start",
        "stream",
        "streamed",
        "tabs",
        "tick",
        "timed_out",
        "tokens",
        "waited",
        "want_result",
    )

    def __init__(
        self,
        setup: Setup,
        function: str,
        want_result: bool,
        made: Made | None = None,
        start: float | None = None,
        call_id: int | None = None,
    ) -> None:
        self.setup = setup
        config = setup.config
        self.names, self.objects = config.static or setup.providers()
        if config.retry_budget is not None:
            config.retry_budget.deposit()
        self.clock = clock = config.clock if config.clock is not None else time.monotonic
        self.start = clock() if start is None else start
        timeout = config.timeout
        self.deadline = None if timeout is None else self.start + timeout
        self.function = function
        self.want_result = want_result
        #: A stream: its last event comes when the stream ends (sent by its relay).
        self.stream = False
        #: A routed stream (buffered or not): its relay settles usage, not the engine.
        self.streamed = False
        #: The happy path's first attempt, made already (it failed).
        self.made = made
        self.tick = 0
        if call_id is None:
            call_id = next(setup.call_ids) if setup.recorder.hooks is not None else 0
        self.call_id = call_id
        #: What this call reports (its attempts, its end), under its id.
        self.record = CallRecorder(setup.recorder, function, call_id)
        self.failures: list[Failure] = []
        self.skipped: list[str] = []
        self.reasons: list[str] = []
        #: Names passed over as saturated by abandoned attempts (never waited for).
        self.hung: list[str] = []
        #: Seconds each provider skipped for cooldown stays benched (for the error).
        self.benched_left: dict[str, float] = {}
        #: A benched provider was not forced because a hint benches it.
        self.held_by_hint = False
        self.timed_out = False
        #: Seconds spent in waits (real time): a frozen clock cannot stretch a budget.
        self.waited = 0.0
        self.budget_refused = False
        self.clean = True
        self.number: int = 0  # attempts started
        self.order: list[int] = []
        self.running: dict[int, Running] = {}
        #: The candidate passing its gates, with the leases it holds (not started yet).
        self.pending: Any = None
        #: The leases of started attempts, given back when each ends (`ended`).
        self.leases: dict[int, tuple[Lease, ...]] = {}
        self.probes: set[str] = set()
        #: Probes kept by attempts this call abandoned: their driver releases each when
        #: the attempt really ends, unless a verdict (a counted failure) came first.
        self.held: set[str] = set()
        self.losers: list[tuple[int, Attempt]] = []  # hedges that lost: (number, record)
        #: Attempt numbers of `failures` (in order: hedged attempts may end out of order).
        self.numbers: list[int] = []
        #: The call's last event (CallSucceeded or CallFailed) was sent.
        self.closed_event = False
        #: Token quotas: the call's estimate, and each started attempt's reservation.
        self.tokens = 0
        self.tabs: dict[int, Tab] | None = None if setup.quota is None else {}

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
        clock = self.setup.config.clock
        state = (self.names[index], number, index == self.terminus(), deadline, clock)
        tabs = self.tabs  # token quotas: the attempt's reservation (for `settle()`)
        return state if tabs is None else (*state, tabs.get(index))

    def limit(self, what: str) -> tuple[float | None, str]:
        """Seconds the next wait may take, and which limit that is.

        `what`: `"attempt"` (`attempt_timeout`), `"first item"` (a stream's
        `first_item_timeout`, else `attempt_timeout`) or `"idle"` (`idle_timeout`);
        the call's budget (kind `"budget"`) when it is nearer.
        """
        setup = self.setup
        limit = setup.config.idle_timeout if what == "idle" else setup.config.attempt_timeout
        kind = what if what != "first item" else "attempt"
        if what == "first item" and setup.config.first_item_timeout is not None:
            limit, kind = setup.config.first_item_timeout, what
        if self.deadline is not None:
            left = max(0.0, self.deadline - self.clock())
            if limit is None or left < limit:
                limit, kind = left, "budget"
        return limit, kind

    def terminus(self) -> int:
        """The index of this call's terminus (one-attempt strategies: the last provider).

        The terminus is the last of the call's order.
        """
        if self.order and self.setup.planner.failover:
            return self.order[-1]
        return len(self.names) - 1

    def ended(self, index: int) -> None:
        """An attempt on `index` really ended: give its leases back (the one place).

        Never waits (finalizers too): a lease held until the attempt ends answers from
        memory (a slot).
        """
        leases = self.leases.pop(index, None)
        try:
            if leases:
                if len(leases) == 1:  # the common case: a frame less
                    leases[0].release()
                else:
                    release_all(leases)
        finally:
            planner = self.setup.planner
            if planner.tracks:
                planner.ended(self.names[index])

    def cut_short(self) -> None:
        """The call ends abnormally: the attempts it still runs are reported abandoned."""
        for index, running in list(self.running.items()):
            self.record.abandoned(self.names[index], running.number, "call ended")
        self.running.clear()

    def abort(self) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
        """What to give back when the call ends abnormally (run by the driver)."""
        setup = self.setup
        ops: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
        pending, self.pending = self.pending, None  # a candidate's leases, not started
        if pending is not None and pending.leases:
            ops.append((release_all, (pending.leases,)))
        judge_all(self.tabs)  # token quotas: attempts cut short give their tokens back
        caps = setup.caps
        if caps is not None and caps.end_probe is not None:
            ops.extend((caps.end_probe, (name,)) for name in self.probes)
        self.probes.clear()
        return ops

    # -- the walk ------------------------------------------------------------------------

    def note_losers(self) -> None:
        """Attempts still running as another wins: listed in the Result as abandoned.

        Each is a censored latency sample for the strategy: slower than the time it ran.
        """
        now = self.clock()
        planner = self.setup.planner
        for index, (number, _, _, _, started) in self.running.items():
            latency = max(0.0, now - started)
            loser = new_attempt(self.names[index], None, latency, False, True, "", True)
            self.losers.append((number, loser))
            if planner.tracks:
                planner.censored(self.names[index], latency)

    def unskip(self, names: list[str]) -> None:
        """`names` were waited for, not passed over: they leave `skipped`."""
        kept = [(n, r) for n, r in zip(self.skipped, self.reasons, strict=True) if n not in names]
        self.skipped[:] = [n for n, _ in kept]
        self.reasons[:] = [r for _, r in kept]
        for name in names:
            self.benched_left.pop(name, None)

    def skip(self, name: str, remaining: float, reason: str) -> None:
        if reason == HUNG:  # told as saturated; remembered for the error's message
            reason = SATURATED
            if name not in self.hung:
                self.hung.append(name)
        self.skipped.append(name)
        self.reasons.append(reason)
        if reason == COOLDOWN:
            self.benched_left[name] = remaining
        self.record.skipped(name, remaining, reason)

    def done(self, response: Any, index: int, number: int, latency: float, hedged: bool) -> Any:
        setup = self.setup
        if hedged:  # token quotas: attempts that lost, abandoned, have no verdict of their own
            judge_all(self.tabs)
        elapsed = max(0.0, self.clock() - self.start)
        prefs = ROUTING.get()
        if prefs is not None and prefs.affinity is not None:
            setup.affinity.pin(prefs.affinity, self.names[index], self.clock())
        if setup.recorder.hooks is not None and not self.stream:
            self.closed_event = True
            self.record.succeeded_call(self.names[index], number, elapsed)
        if not self.want_result:
            return response
        return self.result(response, index, number, latency, hedged, elapsed)

    def result(
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
        done = [(n, new_attempt(*f)) for n, f in zip(self.numbers, self.failures, strict=True)]
        done += self.losers
        return [attempt for _, attempt in sorted(done, key=lambda pair: pair[0])]

    def failed(self, number: int, failure: Failure) -> None:
        """Note a failed attempt, in attempt order (hedged attempts may end out of order)."""
        position = bisect.bisect(self.numbers, number)
        self.numbers.insert(position, number)
        self.failures.insert(position, failure)

    def closed(self, error: BaseException) -> None:
        """The call ended by `error`: tell the hooks (once; not after its last event)."""
        if self.closed_event:
            return
        self.closed_event = True
        recorder = self.setup.recorder
        if recorder.hooks is not None:
            self.record.failed_call(error, tuple(self.attempts()))

    def stream_ended(self, name: str, number: int) -> None:
        """A stream this call served ended, was closed or dropped: its last event (once)."""
        if self.closed_event:
            return
        self.closed_event = True
        recorder = self.setup.recorder
        if recorder.hooks is not None:
            elapsed = max(0.0, self.clock() - self.start)
            self.record.succeeded_call(name, number, elapsed)

    def error(self) -> Exception:
        """Build the error the caller receives, and emit `CallFailed`."""
        error = call_error(self)
        judge_all(self.tabs)
        self.closed(error)
        return error
