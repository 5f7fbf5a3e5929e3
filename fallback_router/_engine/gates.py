"""The gates a candidate passes before its attempt (leases), the budget, and waits.

Functions over a call's facts ([`CallFacts`][fallback_router._engine.facts.CallFacts]):
what the walk in `CallState.steps()` asks before it starts an attempt, and the
waiting when every provider left is saturated or rate limited. Each gate of the
router (`Setup.gates`) answers with a lease (see `fallback_router._lease`); the
candidate holds them until it starts or is let go.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from fallback_router._lease import (
    BUDGET,
    HUNG,
    RATE_LIMITED,
    SATURATED,
    Lease,
    Refusal,
    Returned,
    release_all,
)

from .actions import Io, Wait
from .facts import CallFacts

__all__ = [
    "Candidate",
    "acquire",
    "cooldown_wait",
    "full",
    "left_of",
    "let_go",
    "may_continue",
    "remaining_each",
    "token_waits",
    "ungranted",
    "wait_for",
]


class Candidate:
    """A provider the walk may attempt: its index, the leases it holds, `forced` seconds."""

    __slots__ = ("forced", "index", "leases")

    def __init__(
        self, index: int, leases: tuple[Lease, ...] = (), forced: float | None = None
    ) -> None:
        self.index = index
        self.leases = leases
        self.forced = forced


def acquire(
    call: CallFacts, index: int, forced: float | None = None, slot: Lease | None = None
) -> Candidate | Refusal:
    """Take `index`'s leases from every gate, or say why not (then nothing is held).

    `slot`: the limiter's lease, held already (handed over by a wait).
    """
    setup = call.setup
    name = call.names[index]
    leases: list[Lease] = [] if slot is None else [slot]
    abandoned = setup.abandoned
    try:
        if abandoned is not None and full(abandoned, name):
            release_all(leases)
            return Refusal(HUNG, 0.0)
        quota = setup.quota  # token quotas: the rate gate reserves the call's estimate
        for gate in setup.gates:
            if slot is not None and gate is setup.config.limiter:
                continue
            if gate is not quota or quota is None:
                taken = gate.take(name)
            else:
                taken = quota.take(name, call.tokens)
            if taken is None:
                continue
            if isinstance(taken, Refusal):
                release_all(leases)
                return taken
            leases.append(taken)
    except BaseException:
        # Interrupted (Ctrl-C, or a gate that raised): what was granted goes back.
        release_all(leases)
        raise
    return Candidate(index, tuple(leases), forced)


def ungranted(
    call: CallFacts, fn: Callable[..., Any], args: tuple[Any, ...], answer: Any
) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """What to give back of `fn(*args)`'s `answer`, which the call never received.

    A component asked off the loop (an `Io` action) answers after the call was
    cancelled: the leases `acquire` took, or a probe `try_probe` claimed, go back
    when that answer lands.
    """
    ops: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    if fn is acquire:
        if isinstance(answer, Candidate) and answer.leases:  # else nothing held: a Refusal
            ops.append((release_all, (answer.leases,)))
        return ops
    caps = call.setup.caps
    if answer is True and caps is not None and caps.end_probe is not None and fn == caps.try_probe:
        ops.append((caps.end_probe, (args[0],)))
    return ops


def token_waits(call: CallFacts, waiting: Sequence[int]) -> list[float]:
    """Seconds until each rate-limited provider of `waiting` has a token."""
    rates = call.setup.config.rate_limits
    if rates is None:
        return []
    names = call.names
    if call.setup.quota is not None:  # token quotas: until the estimate fits as well
        tokens = call.tokens
        return [rates.wait_time(names[i], tokens) for i in waiting if rates.limited(names[i])]
    return [rates.wait_time(names[i]) for i in waiting if rates.limited(names[i])]


def let_go(call: CallFacts, io: bool) -> Generator[Any, Any, None]:
    """Give back the leases of a candidate that was not started (`io`: through `Io`).

    Detached first, so a call cancelled while a worker releases them never gives
    them back twice.
    """
    pending, call.pending = call.pending, None
    if pending is None or not pending.leases:
        return
    if io:
        yield Io(release_all, (pending.leases,))
    else:
        release_all(pending.leases)


def may_continue(call: CallFacts, name: str) -> bool:
    """Before an attempt after the first: the deadline and the retry budget allow it."""
    if call.deadline is not None and call.clock() >= call.deadline:
        call.timed_out = True
        return False
    budget = call.setup.config.retry_budget
    if budget is not None:
        taken = budget.take(name)
        if isinstance(taken, Refusal):
            call.budget_refused = True
            call.setup.recorder.budget_refused(name, call.number)
            call.skip(name, 0.0, BUDGET)
            return False
        pending = call.pending
        assert pending is not None  # noqa: S101 - asked for a candidate
        pending.leases = (*pending.leases, taken)  # given back unless the attempt starts
    return True


def cooldown_wait(
    call: CallFacts, indices: Sequence[int], remaining: Sequence[float]
) -> float | None:
    """Seconds until the earliest of `indices` leaves cooldown, if within the budget."""
    assert call.deadline is not None  # noqa: S101 - only with a budget
    earliest = min(remaining[i] for i in indices)
    budget = call.deadline - call.start
    if call.clock() + earliest > call.deadline or call.waited + earliest > budget:
        return None
    return earliest


def wait_for(
    call: CallFacts, waiting: list[int], io: bool
) -> Generator[Any, Any, Candidate | None]:
    """Wait until one of `waiting` passes its gates; it, or None out of time.

    `io`: a gate waits on the network: its calls are asked of the driver (`Io`).
    """
    while True:
        found = yield from _take_any(call, waiting, io)
        if found is not None:
            return found
        if not waiting:
            return None
        if call.deadline is not None and call.clock() >= call.deadline:
            call.timed_out = True
            return None
        planned = yield from _next_wait(call, waiting, io)
        if planned is None:
            return None
        wait, span = planned
        got = yield wait
        if got is None:
            if span is not None:
                call.waited += span
                budget = None if call.deadline is None else call.deadline - call.start
                if budget is not None and call.waited >= budget:  # real time is up
                    call.timed_out = True
                    return None
            continue
        found = yield from _take_handed(call, waiting, io, wait.gate, got)
        if found is not None:
            return found


def _take_any(
    call: CallFacts, waiting: list[int], io: bool
) -> Generator[Any, Any, Candidate | None]:
    """The first of `waiting` that passes its gates now (taken off `waiting`), or None."""
    for index in list(waiting):
        taken = (yield Io(acquire, (call, index))) if io else acquire(call, index)
        if isinstance(taken, Candidate):
            waiting.remove(index)
            return taken
        if taken.reason == HUNG:  # its attempts hang: waiting for them could last for ever
            _hung(call, waiting, index)
    return None


def _next_wait(
    call: CallFacts, waiting: list[int], io: bool
) -> Generator[Any, Any, tuple[Wait, float | None] | None]:
    """The wait for `waiting` (a slot, a token, or both) and its span; None: none helps."""
    setup = call.setup
    names = call.names
    now = call.clock()
    gate = setup.config.limiter
    if gate is None or not any(full(gate, names[i]) for i in waiting):
        gate = setup.abandoned
    gated = tuple(names[i] for i in waiting if full(gate, names[i])) if gate is not None else ()
    until = call.deadline
    reason = SATURATED
    waits = (yield Io(token_waits, (call, waiting))) if io else token_waits(call, waiting)
    if waits:
        soonest = now + max(min(waits), 0.001)
        if not gated and call.deadline is not None and soonest > call.deadline:
            call.timed_out = True  # no token can come within the budget: say so now
            return None
        until = soonest if until is None else min(until, soonest)
        reason = RATE_LIMITED
    if not gated and until is None:
        return None  # nothing that could change by waiting
    span = None if until is None else max(0.0, until - now)
    setup.recorder.waiting([names[i] for i in waiting], reason, span)
    return Wait(gate if gated else None, gated, until, reason), span


def _take_handed(
    call: CallFacts, waiting: list[int], io: bool, gate: Any, got: str
) -> Generator[Any, Any, Candidate | None]:
    """A wait handed `got`'s slot on `gate`: its other gates now, or None."""
    index = call.names.index(got)
    limiter = call.setup.config.limiter
    if gate is not limiter or limiter is None:  # room among abandoned calls: only looked at
        gate.release(got)
        return None
    slot = Returned(limiter.release, got, True)
    taken = (
        (yield Io(acquire, (call, index, None, slot))) if io else acquire(call, index, None, slot)
    )
    if isinstance(taken, Candidate):
        waiting.remove(index)
        return taken
    if taken.reason == HUNG:
        _hung(call, waiting, index)
    return None


def _hung(call: CallFacts, waiting: list[int], index: int) -> None:
    """`index` is saturated by abandoned attempts: no longer waited for."""
    waiting.remove(index)
    name = call.names[index]
    if name not in call.hung:
        call.hung.append(name)


def remaining_each(tracker: Any, names: Sequence[str]) -> list[float]:
    return [tracker.remaining(name) for name in names]


def left_of(tracker: Any, name: str) -> float:
    return max(0.0, tracker.remaining(name)) if tracker is not None else 0.0


def full(gate: Any, name: str) -> bool:
    limit = gate.limit(name)
    return limit is not None and gate.in_flight(name) >= limit
