"""Event hooks (DESIGN §8): typed, frozen events in order; a raising hook is harmless."""

from __future__ import annotations

import dataclasses

import pytest

from fallback_router import (
    AllProvidersFailedError,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CallFailed,
    CooldownEntered,
    DeadlineExceededError,
    Event,
    ProviderSkipped,
    TerminusForced,
    routed,
)


def fleet(*failing: str, clock=None, cost: float = 0.0):
    def call(provider):
        if clock is not None:
            clock.advance(cost)
        if provider in failing:
            raise RuntimeError(provider)
        return provider

    return call


def kinds(events: list[Event]) -> list[tuple[str, str | None]]:
    return [(type(e).__name__, getattr(e, "provider", None)) for e in events]


def test_happy_path_events():
    """A first-try success: started, succeeded."""
    events: list[Event] = []
    routed(providers=["a", "b"], on_event=events.append)(fleet())()
    assert kinds(events) == [("AttemptStarted", "a"), ("AttemptSucceeded", "a")]
    started, succeeded = events
    assert isinstance(started, AttemptStarted)
    assert started.attempt == 1
    assert started.is_terminus is False
    assert isinstance(succeeded, AttemptSucceeded)
    assert succeeded.latency >= 0
    assert succeeded.function.endswith("fleet.<locals>.call")


def test_fallback_events_with_cooldown(clock):
    """Failure, cooldown entered, then the next provider serves."""
    events: list[Event] = []
    fn = routed(providers=["a", "b"], on_event=events.append, cooldown=30, clock=clock)(fleet("a"))
    fn()
    assert kinds(events) == [
        ("AttemptStarted", "a"),
        ("AttemptFailed", "a"),
        ("CooldownEntered", "a"),
        ("AttemptStarted", "b"),
        ("AttemptSucceeded", "b"),
    ]
    failed, entered = events[1], events[2]
    assert isinstance(failed, AttemptFailed)
    assert failed.counted is True
    assert failed.fallback is True
    assert str(failed.error) == "a"
    assert isinstance(entered, CooldownEntered)
    assert entered.duration == 30
    assert entered.reason is failed.error


def test_skip_and_forced_terminus_events(clock):
    """Skipped providers and a forced terminus are reported with the time left."""
    events: list[Event] = []
    fn = routed(providers=["a", "b"], on_event=events.append, clock=clock)(fleet("a", "b"))
    with pytest.raises(AllProvidersFailedError):
        fn()
    events.clear()
    clock.advance(15)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert kinds(events) == [
        ("ProviderSkipped", "a"),
        ("TerminusForced", "b"),
        ("AttemptStarted", "b"),
        ("AttemptFailed", "b"),
        ("CooldownEntered", "b"),
        ("CallFailed", None),
    ]
    skipped, forced = events[0], events[1]
    assert isinstance(skipped, ProviderSkipped)
    assert skipped.remaining == 45
    assert isinstance(forced, TerminusForced)
    assert forced.remaining == 45
    call_failed = events[-1]
    assert isinstance(call_failed, CallFailed)
    assert isinstance(call_failed.error, AllProvidersFailedError)
    assert [a.provider for a in call_failed.attempts] == ["b"]


def test_non_trigger_error_reports_fallback_false():
    """An error that is not a fallback trigger is reported with fallback=False."""
    events: list[Event] = []
    fn = routed(providers=["a", "b"], fallback_on=KeyError, on_event=events.append)(fleet("a"))
    with pytest.raises(RuntimeError):
        fn()
    failed = events[-1]
    assert isinstance(failed, AttemptFailed)
    assert failed.fallback is False
    assert failed.counted is False


def test_deadline_emits_call_failed(clock):
    """A spent budget ends with CallFailed carrying the DeadlineExceededError."""
    events: list[Event] = []
    fn = routed(
        providers=["a", "b"], timeout=1, clock=clock, on_event=events.append, cooldown=None
    )(fleet("a", clock=clock, cost=2))
    with pytest.raises(DeadlineExceededError):
        fn()
    assert isinstance(events[-1], CallFailed)
    assert isinstance(events[-1].error, DeadlineExceededError)


@pytest.mark.parametrize("strategy", ["primary_only", "round_robin"])
def test_single_attempt_strategies_emit_started_and_failed(strategy):
    """primary_only and round_robin report their one attempt and the failure."""
    events: list[Event] = []
    fn = routed(providers=["a", "b"], strategy=strategy, on_event=events.append)(fleet("a"))
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert kinds(events) == [("AttemptStarted", "a"), ("AttemptFailed", "a"), ("CallFailed", None)]
    assert events[1].counted is False  # type: ignore[attr-defined]


def test_several_hooks_all_receive_events_and_a_raising_hook_is_ignored(logs):
    """on_event takes a list; a hook that raises is logged and never breaks the call."""
    good: list[Event] = []

    def bad(event: Event) -> None:
        raise ValueError("metrics backend down")

    fn = routed(providers=["a"], on_event=[bad, good.append])(fleet())
    assert fn() == "a"
    assert len(good) == 2
    records = logs.find("event hook raised; ignored")
    assert len(records) == 2
    assert records[0]["exception"] is not None
    assert records[0]["extra"]["event"] == "AttemptStarted"


def test_events_are_frozen_and_keyword_only():
    """Events are immutable values."""
    event = AttemptStarted(function="f", provider="a", attempt=1, is_terminus=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.attempt = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        AttemptStarted("f", "a", 1, True)  # type: ignore[misc]
