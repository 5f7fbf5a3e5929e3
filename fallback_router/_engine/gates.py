"""The gates a candidate passes before its attempt: slots, tokens, the budget, waits.

Functions over a call's facts ([`CallFacts`][fallback_router._engine.facts.CallFacts]):
what the walk in `CallState.steps()` asks before it starts an attempt, and the
waiting when every provider left is saturated or rate limited.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Sequence
from typing import Any

from .facts import BUDGET, HUNG, IO, RATE_LIMITED, SATURATED, WAIT, CallFacts
from .holds import release_held

__all__ = [
    "Taken",
    "acquire",
    "cooldown_wait",
    "detach",
    "full",
    "give_back",
    "left_of",
    "let_go",
    "may_continue",
    "release",
    "remaining_each",
    "token_waits",
    "ungranted",
    "wait_for",
]


#: What `acquire` answers: `(slot held, token held)`, or `(reason, seconds)` when the
#: provider cannot be attempted now (saturated, saturated by abandoned attempts (`HUNG`:
#: never waited for), or rate limited for that long).
Taken = tuple[bool, bool] | tuple[str, float]


def acquire(call: CallFacts, index: int, slot: bool = False) -> Taken:
    """Take `index`'s slot and token, or say why not (then nothing is held).

    `slot`: the slot is held already (handed over by a wait).
    """
    setup = call.setup
    name = call.names[index]
    abandoned, limiter, rates = setup.abandoned, setup.limiter, setup.rates
    if abandoned is not None and full(abandoned, name):
        if slot:
            limiter.release(name)  # type: ignore[union-attr]
        return (HUNG, 0.0)
    if limiter is not None and not slot:
        if not limiter.try_acquire(name):
            return (SATURATED, 0.0)
        slot = True
    if rates is not None and rates.limited(name):
        # Token quotas: the call's estimate is reserved with the request token.
        extra = (call.tokens,) if setup.quota is not None else ()
        try:
            got = rates.try_acquire(name, call.tokens) if extra else rates.try_acquire(name)
        except BaseException:
            # Interrupted during the token's round trip (Ctrl-C, or a limiter that raised):
            # the slot goes back, and so does the token the server may have granted
            # (a refund is capped at the bucket's capacity).
            if slot:
                limiter.release(name)  # type: ignore[union-attr]
            with contextlib.suppress(Exception):
                rates.refund(name, *extra)
            raise
        if not got:
            if slot:
                limiter.release(name)  # type: ignore[union-attr]
            return (RATE_LIMITED, float(rates.wait_time(name, *extra)))
        return slot, True
    return slot, False


def ungranted(
    call: CallFacts, fn: Callable[..., Any], args: tuple[Any, ...], answer: Any
) -> list[tuple[Callable[..., Any], tuple[Any, ...]]]:
    """What to give back of `fn(*args)`'s `answer`, which the call never received.

    A component asked off the loop (an `IO` action) answers after the call was
    cancelled: the slot and token `acquire` took, or a probe `try_probe` claimed,
    go back when that answer lands.
    """
    setup = call.setup
    ops: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []
    if fn is acquire:
        slot, token = answer
        index: int = args[1]
        if isinstance(slot, bool) and (slot or token):  # else nothing held: (reason, seconds)
            held = (index, slot, bool(token))
            ops.append((release_held, (setup, call.names, held, False, call.tokens)))
        return ops
    caps = setup.caps
    if answer is True and caps is not None and caps.end_probe is not None and fn == caps.try_probe:
        ops.append((caps.end_probe, (args[0],)))
    return ops


def token_waits(call: CallFacts, waiting: Sequence[int]) -> list[float]:
    """Seconds until each rate-limited provider of `waiting` has a token."""
    rates = call.setup.rates
    if rates is None:
        return []
    extra = (call.tokens,) if call.setup.quota is not None else ()
    names = call.names
    return [rates.wait_time(names[i], *extra) for i in waiting if rates.limited(names[i])]


def give_back(call: CallFacts) -> None:
    """Give back the slot, token and retry-budget unit of a candidate that was not started."""
    release(call, *detach(call))


def let_go(call: CallFacts, io: bool) -> Generator[Any, Any, None]:
    """`give_back`, asked of the driver (off the loop) when `io` and something is held."""
    if io and call.pending is not None:
        yield (IO, release, (call, *detach(call)))
    else:
        give_back(call)


def detach(call: CallFacts) -> tuple[tuple[int, bool, bool] | None, bool]:
    """Take the not-started candidate's holds off the call (for `release`, maybe off the loop).

    Detached first, so a call cancelled while a worker releases them never gives
    them back twice.
    """
    pending, withdrawn = call.pending, call.withdrawn
    call.pending, call.withdrawn = None, False
    return pending, withdrawn


def release(call: CallFacts, pending: tuple[int, bool, bool] | None, withdrawn: bool) -> None:
    """Give back what `detach` took: the slot and token of `pending`, a budget unit."""
    release_held(call.setup, call.names, pending, withdrawn, call.tokens)


def may_continue(call: CallFacts, name: str) -> bool:
    """Before an attempt after the first: the deadline and the retry budget allow it."""
    if call.deadline is not None and call.clock() >= call.deadline:
        call.timed_out = True
        return False
    budget = call.setup.budget
    if budget is not None:
        if not budget.withdraw():
            call.budget_refused = True
            call.setup.recorder.budget_refused(name, call.number)
            call.skip(name, 0.0, BUDGET)
            return False
        call.withdrawn = True  # refunded unless the attempt starts
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


def wait_for(  # noqa: C901, PLR0911, PLR0912 - one wait loop: slots, tokens, real time
    call: CallFacts, waiting: list[int], io: bool
) -> Generator[Any, Any, tuple[int, bool, bool] | None]:
    """Wait until one of `waiting` has a slot and a token; it, or None out of time.

    `io`: the rate limiter waits on the network: its calls are asked of the driver.
    """
    setup = call.setup
    names = call.names
    while True:
        for index in list(waiting):
            taken: Taken = (yield (IO, acquire, (call, index))) if io else acquire(call, index)
            if isinstance(taken[0], bool):
                waiting.remove(index)
                return (index, taken[0], bool(taken[1]))
            if taken[0] == HUNG:  # its attempts hang: waiting for them could last for ever
                _hung(call, waiting, index)
        if not waiting:
            return None
        now = call.clock()
        if call.deadline is not None and now >= call.deadline:
            call.timed_out = True
            return None
        gate = setup.limiter
        if gate is None or not any(full(gate, names[i]) for i in waiting):
            gate = setup.abandoned
        gated = tuple(names[i] for i in waiting if full(gate, names[i])) if gate is not None else ()
        until = call.deadline
        reason = SATURATED
        waits = (yield (IO, token_waits, (call, waiting))) if io else token_waits(call, waiting)
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
        got = yield (WAIT, gate if gated else None, gated, until, reason)
        if got is None:
            if span is not None:
                call.waited += span
                budget = None if call.deadline is None else call.deadline - call.start
                if budget is not None and call.waited >= budget:  # real time is up
                    call.timed_out = True
                    return None
            continue
        assert gate is not None  # noqa: S101 - a slot comes from the gate
        index = names.index(got)
        if gate is not setup.limiter:  # room among abandoned calls: only looked at
            gate.release(got)
            continue
        taken = (yield (IO, acquire, (call, index, True))) if io else acquire(call, index, True)
        if isinstance(taken[0], bool):
            waiting.remove(index)
            return (index, taken[0], bool(taken[1]))
        if taken[0] == HUNG:
            _hung(call, waiting, index)


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
