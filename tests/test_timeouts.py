"""Time-bounded calls (DESIGN §6): enforced `timeout=`, `attempt_timeout=`, abandonment,
`max_abandoned=`, hedging and `wait_for_cooldown=`, for sync and async functions.

Providers that "hang" wait on an event the test sets at the end, so nothing outlives
the test. Wall-clock bounds are asserted only with generous margins (seconds against
budgets of a tenth), so a busy machine cannot break them.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time

import pytest

from fallback_router import (
    AllProvidersFailedError,
    Attempt,
    AttemptAbandoned,
    AttemptFailed,
    AttemptTimeoutError,
    CallSucceeded,
    ConcurrencyLimiter,
    DeadlineExceededError,
    InMemoryCooldown,
    ProviderSkipped,
    current_attempt,
    routed,
)

from .conftest import FakeClock
from .support.helpers import hanging, wait_until

#: Generous: a budget of 0.1-0.3 s must end far below this even on a loaded machine.
MARGIN = 3.0


class Boom(Exception):
    pass


def test_timeout_is_enforced_while_a_provider_hangs(gate, path):
    """timeout=0.2 with a hung provider: DeadlineExceededError well within the budget."""
    fn = path.routed(["a", "b"], timeout=0.2)(hanging(gate, "a"))
    start = time.monotonic()
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    assert time.monotonic() - start < MARGIN
    [attempt] = info.value.attempts
    assert attempt.provider == "a"
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert attempt.error.kind == "budget"
    assert isinstance(info.value.__cause__, AttemptTimeoutError)
    assert attempt.counted  # a hung: benched like any timeout, so the next call skips it
    assert not fn.router.status()["a"].available


def test_the_routers_own_verdicts_move_the_call_on_whatever_fallback_on_says(gate, path):
    """fallback_on=KeyError: a timed-out or rejected attempt still falls back (and benches)."""
    timed = path.routed(["a", "b"], attempt_timeout=0.05, fallback_on=KeyError)(hanging(gate, "a"))
    assert timed() == "b"
    refused = path.routed(["a", "b"], accept=lambda r: r != "a", fallback_on=KeyError)(
        lambda provider: provider
    )
    assert refused() == "b"
    assert not timed.router.status()["a"].available
    assert not refused.router.status()["a"].available


def test_an_abandoned_call_gives_its_slot_back_when_it_really_ends(gate):
    """Sync only (a worker thread runs on): the hung attempt keeps its slot until it returns; its late result goes nowhere."""
    limiter = ConcurrencyLimiter(1)
    fn = routed(providers=["a", "b"], timeout=0.2, max_concurrency=limiter, cooldown=None)(
        hanging(gate, "a")
    )
    with pytest.raises(DeadlineExceededError):
        fn()
    assert limiter.in_flight("a") == 1  # still running, abandoned
    gate.set()
    for _ in range(500):  # bounded: the worker returns at once once released
        if limiter.in_flight("a") == 0:
            break
        time.sleep(0.01)
    assert limiter.in_flight("a") == 0
    status = fn.router.status()["a"]
    assert (status.successes, status.failures) == (0, 1)  # only the timeout recorded


def test_attempt_timeout_moves_on_and_counts_for_cooldown(gate, path):
    """attempt_timeout=0.1: the hung provider fails with AttemptTimeoutError, b serves."""
    fn = path.routed(["a", "b"], attempt_timeout=0.1)(hanging(gate, "a"))
    result = fn.route()
    assert result.provider == "b"
    first = result.attempts[0]
    assert isinstance(first.error, AttemptTimeoutError)
    assert (first.error.kind, first.counted) == ("attempt", True)
    assert not fn.router.status()["a"].available  # benched for the timeout


#: attempt_timeout for the checks of when it starts: each attempt (SLOW) fits in it with
#: 0.6 s to spare, two attempts in a row (2 x SLOW) do not.
ATTEMPT_LIMIT, SLOW = 1.5, 0.9


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_attempt_timeout_counts_from_each_attempts_own_start(flavour):
    """a fails after 0.9 s, b answers after 0.9 s: within attempt_timeout=1.5 each, though
    the call has run 1.8 s. Each attempt is told the whole limit as its time_left."""
    clock = FakeClock()
    told: list[float | None] = []

    def begin(provider: str) -> None:
        info = current_attempt()
        assert info is not None
        told.append(info.time_left)
        clock.advance(SLOW)

    def call(provider):
        begin(provider)
        time.sleep(SLOW)  # the provider's own work, in real time (the limit is real time)
        if provider == "a":
            raise Boom("a down")
        return provider

    async def async_call(provider):
        begin(provider)
        await asyncio.sleep(SLOW)
        if provider == "a":
            raise Boom("a down")
        return provider

    fn = routed(providers=["a", "b"], attempt_timeout=ATTEMPT_LIMIT, cooldown=None, clock=clock)(
        call if flavour == "sync" else async_call
    )
    result = fn.route() if flavour == "sync" else asyncio.run(fn.route())
    assert result.provider == "b"
    assert [type(a.error) for a in result.attempts] == [Boom, type(None)]
    assert told == [ATTEMPT_LIMIT, ATTEMPT_LIMIT]


def test_an_answer_after_the_attempt_timeout_is_too_late():
    """Sync only (the provider blocks its thread): attempt_timeout=0.1 and a answers after 0.6 s: a timed out (the grace that lets a
    provider's own just-in-time error win is milliseconds, not seconds); b serves."""

    def call(provider):
        if provider == "a":
            time.sleep(0.6)  # late by half a second
        return provider

    fn = routed(providers=["a", "b"], attempt_timeout=0.1, cooldown=None)(call)
    result = fn.route()
    assert result.provider == "b"
    error = result.attempts[0].error
    assert isinstance(error, AttemptTimeoutError)
    assert (error.kind, error.limit) == ("attempt", 0.1)


def test_no_thread_is_started_without_a_time_limit():
    """Sync only (worker threads): without timeout= or attempt_timeout=, attempts run inline: no worker thread."""
    fn = routed(providers=["a", "b"])(lambda provider: threading.current_thread().name)
    assert fn() == threading.current_thread().name
    assert fn.router.setup.workers.started == 0


def test_time_left_is_the_nearer_of_both_limits(path):
    """current_attempt().time_left counts to the attempt's limit when it is nearer."""
    seen = []

    def call(provider):
        info = current_attempt()
        assert info is not None
        seen.append(info.time_left)
        return provider

    clock = FakeClock()
    path.routed(["a"], timeout=10, attempt_timeout=2, clock=clock)(call)()
    path.routed(["a"], timeout=1, attempt_timeout=2, clock=clock)(call)()
    assert seen == [2.0, 1.0]


def test_max_abandoned_passes_a_provider_over_as_saturated(gate):
    """Sync only (abandoned worker threads; async attempts are cancelled): two abandoned calls still running: the provider is passed over until one ends."""
    events = []
    fn = routed(
        providers=["a", "b"], attempt_timeout=0.05, max_abandoned=2, cooldown=None,
        on_event=events.append,
    )(hanging(gate, "a"))  # fmt: skip
    assert fn() == "b"
    assert fn() == "b"
    events.clear()
    assert fn.route().attempts[0].provider == "b"  # a not attempted at all
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason) for e in skips] == [("a", "saturated")]


def test_a_late_exception_is_raised_nowhere(gate):
    """Sync only (worker threads): an abandoned call that fails later leaves no trace: no thread exception warning."""

    def call(provider):
        if provider == "a":
            gate.wait(30)
            raise Boom("late")
        return provider

    fn = routed(providers=["a", "b"], attempt_timeout=0.05, cooldown=None)(call)
    assert fn() == "b"
    gate.set()
    time.sleep(0.05)  # let the worker finish its abandoned call (nothing to wait for)
    gc.collect()


def test_hedging_starts_the_next_provider_and_the_first_success_wins(gate, path):
    """hedge_after: a is slow, b starts beside it and wins; a is abandoned, not recorded."""
    fn = path.routed(["a", "b"], hedge_after=0.05, cooldown=None)(hanging(gate, "a"))
    result = fn.route()
    assert result.provider == "b"
    assert [(a.provider, a.hedged, a.abandoned) for a in result.attempts] == [
        ("a", True, True),  # the slow one, abandoned without a verdict
        ("b", True, False),
    ]
    assert not result.attempts[0].ok
    assert result.attempt == 2
    loser, winner = result.attempts
    assert loser == Attempt(provider="a", error=None, latency=loser.latency, counted=False,
                            hedged=True, error_text="", abandoned=True)  # fmt: skip
    assert winner == Attempt(provider="b", error=None, latency=result.latency, counted=False,
                             hedged=True, error_text="", abandoned=False)  # fmt: skip
    assert 0.05 <= loser.latency <= result.elapsed  # ran from the start until b won
    status = fn.router.status()
    assert (status["a"].successes, status["a"].failures) == (0, 0)


def test_a_lost_hedge_keeps_its_slot_until_its_call_really_ends(gate):
    """Sync: the losing attempt is abandoned, not stopped: it holds its concurrency slot
    until the provider call returns, then gives it back; its late answer goes nowhere."""
    limiter = ConcurrencyLimiter(1)
    fn = routed(providers=["a", "b"], hedge_after=0.05, max_concurrency=limiter, cooldown=None)(
        hanging(gate, "a")
    )
    assert fn() == "b"
    assert (limiter.in_flight("a"), limiter.in_flight("b")) == (1, 0)
    gate.set()  # a's call returns now
    assert wait_until(lambda: limiter.in_flight("a") == 0, MARGIN)
    status = fn.router.status()["a"]
    assert (status.successes, status.failures) == (0, 0)


def test_an_attempt_that_fails_while_its_hedge_runs_is_recorded_as_hedged():
    """Sync only (the providers hand over through thread events): a fails after b was started beside it: a's failure counts (benched) and, like b's
    success, is marked hedged."""
    b_started = threading.Event()
    a_failed = threading.Event()
    clock = FakeClock()

    def hook(event):
        if isinstance(event, AttemptFailed):
            a_failed.set()

    def call(provider):
        if provider == "a":
            assert b_started.wait(10)
            raise RuntimeError("a down")
        b_started.set()
        assert a_failed.wait(10)
        return provider

    tracker = InMemoryCooldown(60, clock=clock)
    fn = routed(providers=["a", "b"], hedge_after=0.01, cooldown=tracker, clock=clock,
                on_event=hook)(call)  # fmt: skip
    result = fn.route()
    assert result.provider == "b"
    assert [(a.provider, a.error_text, a.counted, a.hedged) for a in result.attempts] == [
        ("a", "RuntimeError: a down", True, True),
        ("b", "", False, True),
    ]
    assert tracker.remaining("a") == 60.0


def test_a_lost_hedge_is_told_as_abandoned_before_the_call_succeeds(gate, path):
    """Events: a's AttemptAbandoned ('hedge lost'), with the call's id, before CallSucceeded."""
    events = []
    fn = path.routed(["a", "b"], hedge_after=0.05, cooldown=None, on_event=events.append)(
        hanging(gate, "a")
    )
    assert fn() == "b"
    call_id = events[0].call_id
    abandoned = [e for e in events if isinstance(e, AttemptAbandoned)]
    assert abandoned == [
        AttemptAbandoned(function="hanging.<locals>.call", call_id=call_id, provider="a", attempt=1,
                         reason="hedge lost")
    ]  # fmt: skip
    assert isinstance(events[-1], CallSucceeded)
    assert events.index(abandoned[0]) < len(events) - 1


def test_a_hedge_that_is_not_needed_never_starts(path):
    """A provider answering before hedge_after: no second attempt."""
    calls = []

    def call(provider):
        calls.append(provider)
        return provider

    fn = path.routed(["a", "b"], hedge_after=5.0)(call)
    assert fn() == "a"
    assert calls == ["a"]


def test_wait_for_cooldown_waits_for_the_earliest_end_within_the_budget(path):
    """Every provider benched: the call waits for the earliest cooldown instead of forcing."""
    calls = []

    def call(provider):
        calls.append(provider)
        if len(calls) <= 2:
            raise Boom(provider)
        return provider

    fn = path.routed(["a", "b"], cooldown=0.1, timeout=2.0, wait_for_cooldown=True)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()  # both fail and are benched for 0.1 s
    result = fn.route()
    assert result.provider == "a"  # waited for a's cooldown, did not force b
    assert calls == ["a", "b", "a"]


@pytest.mark.parametrize(
    ("first_takes", "left", "waits"),
    [
        (0.0625, 0.09375, 0),  # b's end (view + a's attempt) is past the deadline: forced
        (0.03125, 0.09375, 1),  # it ends exactly at the deadline: waited for
        (0.0, 0.125, 1),  # the whole budget: waited once, then the budget is spent
        (0.0, 0.0625, 2),  # half the budget: twice (the clock is frozen), then spent
    ],
)
def test_wait_for_cooldown_waits_only_within_the_budget(logs, first_takes, left, waits, path):
    """A cooldown is waited for only while its end and the time waited fit in the budget."""
    clock = FakeClock()
    tracker = InMemoryCooldown(left, clock=clock)
    tracker.record_failure("b", Boom("b"))  # the call's view: b benched for `left`

    def call(provider):
        if provider == "a":
            clock.advance(first_takes)
            raise Boom(provider)
        return provider

    fn = path.routed(["a", "b"], cooldown=tracker, timeout=0.125, wait_for_cooldown=True,
                     clock=clock)(call)  # fmt: skip
    result = fn.route()
    assert [a.provider for a in result.attempts] == ["a", "b"]
    waited = logs.find("waiting for a provider")
    assert [r["extra"]["providers"] for r in waited] == ["b"] * waits
    assert [r["extra"]["wait"] for r in waited] == [left] * waits


# -- async ----------------------------------------------------------------------------------


def test_async_timeout_cancels_the_attempt():
    """An async attempt past the budget is cancelled (its cleanup runs), then DeadlineExceeded."""
    cancelled = []

    async def call(provider):
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(provider)
            raise
        return provider

    fn = routed(providers=["a", "b"], timeout=0.1)(call)
    with pytest.raises(DeadlineExceededError):
        asyncio.run(fn())
    assert cancelled == ["a"]


def test_async_attempt_timeout_moves_on():
    """attempt_timeout on an async provider: AttemptTimeoutError, then the next serves."""

    async def call(provider):
        if provider == "a":
            await asyncio.sleep(30)
        return provider

    fn = routed(providers=["a", "b"], attempt_timeout=0.05)(call)
    result = asyncio.run(fn.route())
    assert result.provider == "b"
    assert isinstance(result.attempts[0].error, AttemptTimeoutError)


def test_async_hedging_cancels_the_loser():
    """hedge_after on async: b wins, a sees CancelledError while the caller goes on (not at
    asyncio.run's shutdown, which cancels every task left) and is recorded as nothing."""
    cancelled = asyncio.Event()

    async def call(provider):
        if provider == "a":
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise
        return provider

    fn = routed(providers=["a", "b"], hedge_after=0.02, cooldown=None)(call)

    async def main():
        result = await fn.route()
        await asyncio.wait_for(cancelled.wait(), MARGIN)  # the loser's cancellation runs
        return result

    result = asyncio.run(main())
    assert result.provider == "b"
    assert cancelled.is_set()
    assert fn.router.status()["a"].failures == 0
