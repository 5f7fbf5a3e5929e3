"""Behaviour of the drivers (`fallback_router._drivers`) that mutation testing showed
no other suite held, through the public API. Each test names what it pins."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from fallback_router import (
    AttemptAbandoned,
    AttemptStarted,
    AttemptTimeoutError,
    CallFailed,
    DeadlineExceededError,
    LeastBusy,
    routed,
)

from .support.helpers import fleet, hanging


def _warnings_on_the_loop(*calls):
    """Run `calls` inside a coroutine; return the texts of the RuntimeWarnings issued."""

    async def main():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for call in calls:
                call()
        return caught

    caught = asyncio.run(main())
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(
    "options",
    [{}, {"timeout": 5}, {"cooldown": None}],
    ids=["happy path", "general path", "no tracker"],
)
def test_a_sync_call_on_a_loop_warns_once_per_function_and_names_it(logs, options):
    """Three calls of one function and one of another on a loop's thread: one
    RuntimeWarning and one WARNING log per function, each naming the function.

    (The twin of test_event_loop's test without its check of the warning's frame, which
    mutation runs leave out: under mutmut's trampolines no stacklevel names the caller.)
    """
    ask = routed(providers=["a", "b"], **options)(fleet("a"))
    tell = routed(providers=["a"], **options)(fleet())
    texts = _warnings_on_the_loop(ask, ask, lambda: ask.route(), tell)
    assert len(texts) == 2
    assert texts[0] == (
        "fallback_router: the sync routed function fleet.<locals>.call was called on a "
        "thread running an event loop; it blocks the loop while it runs: declare it "
        "`async def` (reported once per function)"
    )
    found = logs.find("sync routed function called on an event loop")
    assert [r["level"].name for r in found] == ["WARNING", "WARNING"]
    assert [r["extra"]["function"] for r in found] == ["fleet.<locals>.call"] * 2


def test_a_sync_stream_on_a_loop_warns_once():
    """Iterating a routed generator on the loop warns too, once for the function."""

    def gen(provider):
        yield provider

    stream = routed(providers=["a"])(gen)
    texts = _warnings_on_the_loop(lambda: list(stream()), lambda: list(stream.route().response))
    assert len(texts) == 1
    assert "gen" in texts[0]


def test_a_hedged_attempt_past_attempt_timeout_fails_as_a_timeout_and_the_call_moves_on(gate):
    """Hedging on (a hedge not due yet) and `a` hung: past `attempt_timeout` the attempt
    fails with AttemptTimeoutError(a, 0.2, "attempt"), having run at least its limit, and
    the call falls back to `b`."""
    fn = routed(providers=["a", "b"], attempt_timeout=0.2, hedge_after=30.0)(hanging(gate, "a"))
    result = fn.route()
    assert result.response == "b"
    failed, served = result.attempts
    assert failed.provider == "a"
    assert isinstance(failed.error, AttemptTimeoutError)
    assert (failed.error.provider, failed.error.limit, failed.error.kind) == ("a", 0.2, "attempt")
    assert failed.latency >= 0.2  # it ran (real time) at least to its limit
    assert served.provider == "b"
    assert served.error is None


def test_ctrl_c_in_the_first_attempt_closes_the_call_and_frees_its_place():
    """A KeyboardInterrupt on the happy path (least_busy, hooks on): the attempt is told
    abandoned (provider, attempt 1, "call ended") under the call's id before CallFailed,
    and the provider has no call left in flight."""
    events = []

    def call(provider):
        raise KeyboardInterrupt

    fn = routed(providers=["a", "b"], strategy=LeastBusy(), on_event=events.append)(call)
    with pytest.raises(KeyboardInterrupt):
        fn()
    started, attempt, abandoned, failed = events
    assert isinstance(abandoned, AttemptAbandoned)
    assert (abandoned.function, abandoned.provider, abandoned.attempt, abandoned.reason) == (
        call.__qualname__,
        "a",
        1,
        "call ended",
    )
    assert isinstance(failed, CallFailed)
    assert failed.function == call.__qualname__
    assert isinstance(failed.error, KeyboardInterrupt)
    assert abandoned.call_id == failed.call_id == started.call_id == attempt.call_id
    assert isinstance(started.call_id, int)
    assert fn.router.status()["a"].in_flight == 0


@pytest.mark.parametrize("hedge_after", [None, 30.0], ids=["one attempt", "hedging"])
def test_a_budget_spent_before_the_attempt_starts_gives_it_zero_seconds(gate, clock, hedge_after):
    """A hook that moves the router's clock past the deadline as the attempt starts: the
    attempt has 0 s left, and fails as AttemptTimeoutError(a, 0.0, "budget")."""

    def spend(event):
        if isinstance(event, AttemptStarted):
            clock.advance(5.0)

    fn = routed(
        providers=["a", "b"], timeout=1.0, hedge_after=hedge_after, clock=clock, on_event=spend
    )(hanging(gate, "a"))
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    [attempt] = info.value.attempts
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert (attempt.error.provider, attempt.error.limit, attempt.error.kind) == ("a", 0.0, "budget")


def test_a_hedged_attempt_past_the_calls_budget_fails_as_a_budget_timeout(gate):
    """Hedging on and `a` hung past `timeout=`: its error's kind is "budget", not "attempt"."""
    fn = routed(providers=["a", "b"], timeout=0.2, hedge_after=30.0)(hanging(gate, "a"))
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    [attempt] = info.value.attempts
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert (attempt.error.provider, attempt.error.kind) == ("a", "budget")
    assert 0.0 < attempt.error.limit <= 0.2
