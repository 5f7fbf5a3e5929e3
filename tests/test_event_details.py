"""The exact content of events, log records and warnings (pinned for mutation testing)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

from fallback_router import (
    AttemptStarted,
    ConcurrencyLimiter,
    Event,
    InMemoryCooldown,
    ProviderSkipped,
    TerminusForced,
    current_attempt,
    routed,
)

from .conftest import FakeClock


def test_every_event_names_the_routed_function():
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    events: list[Event] = []

    def ask(provider: str) -> str:
        if provider in ("a", "b"):
            raise RuntimeError(f"{provider} down")
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker, on_event=events.append)(ask)
    with pytest.raises(Exception, match="all providers failed"):
        fn()
    fn2 = routed(providers=["a", "b"], cooldown=tracker, on_event=events.append)(ask)
    with pytest.raises(Exception, match="all providers failed"):
        fn2()  # a skipped, b forced
    kinds = {type(e).__name__ for e in events}
    assert {"AttemptStarted", "AttemptFailed", "CooldownEntered", "CallFailed"} <= kinds
    assert {"ProviderSkipped", "TerminusForced"} <= kinds
    assert {e.function for e in events} == {ask.__qualname__}


def test_a_probe_is_logged_and_marked_in_its_start_event(logs):
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError("a down"))
    clock.advance(10)
    events: list[Event] = []
    fn = routed(providers=["a", "b"], cooldown=tracker, on_event=events.append)(lambda p: p)
    assert fn() == "a"
    starts = [e for e in events if isinstance(e, AttemptStarted)]
    assert [(e.provider, e.attempt, e.probe, e.is_terminus) for e in starts] == [
        ("a", 1, True, False)
    ]
    [record] = logs.find("probing half-open provider")
    assert record["message"] == "probing half-open provider: a (attempt 1)"
    assert record["extra"] == {"provider": "a", "attempt": 1}


def test_a_saturated_skip_is_logged_with_its_reason(logs):
    limiter = ConcurrencyLimiter({"a": 1})
    assert limiter.try_acquire("a")  # another call holds a's only slot
    events: list[Event] = []
    fn = routed(providers=["a", "b"], max_concurrency=limiter, on_event=events.append)(lambda p: p)
    assert fn() == "b"
    [record] = logs.find("skipping saturated provider")
    assert record["message"] == "skipping saturated provider: a (saturated)"
    assert record["extra"] == {"provider": "a", "reason": "saturated"}
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason, e.remaining) for e in skips] == [("a", "saturated", 0.0)]
    limiter.release("a")


def test_a_forced_terminus_is_logged_with_its_remaining_cooldown(logs):
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    tracker.record_failure("b", RuntimeError("b down"))
    clock.advance(15)
    events: list[Event] = []
    fn = routed(providers=["a", "b"], cooldown=tracker, on_event=events.append)(
        lambda p: (_ for _ in ()).throw(RuntimeError("a down")) if p == "a" else p
    )
    assert fn() == "b"
    [record] = logs.find("attempting terminus provider despite cooldown")
    assert record["message"] == "attempting terminus provider despite cooldown: b (45.0 s left)"
    forced = [e for e in events if isinstance(e, TerminusForced)]
    assert [(e.provider, e.remaining) for e in forced] == [("b", 45.0)]


# -- hooks that raise ---------------------------------------------------------------------


def broken_hook(event: Event) -> None:
    raise ValueError("boom")


def other_broken_hook(event: Event) -> None:
    raise KeyError("bang")


def test_raising_hooks_are_logged_and_warned_once_each(logs):
    fn = routed(providers=["a"], on_event=[broken_hook, other_broken_hook])(lambda p: p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fn() == "a"
        assert fn() == "a"
    messages = [str(w.message) for w in caught]
    once = " (ignored; reported once per hook)"
    assert messages == [
        "fallback_router: on_event hook broken_hook raised ValueError: boom" + once,
        "fallback_router: on_event hook other_broken_hook raised KeyError: 'bang'" + once,
    ]
    assert all(w.category is RuntimeWarning for w in caught)
    records = logs.find("event hook raised")
    assert len(records) == 8  # 2 calls x 2 events (started, succeeded) x 2 hooks: every time
    first = records[0]
    assert first["message"] == (
        "event hook raised; ignored: broken_hook on AttemptStarted: ValueError: boom"
    )
    assert first["extra"]["hook"] == "broken_hook"
    assert first["extra"]["event"] == "AttemptStarted"
    assert isinstance(first["extra"]["error"], ValueError)
    assert first["exception"] is not None


def test_a_hook_without_a_qualname_is_named_by_its_repr(logs):
    class Hook:
        def __call__(self, event: Event) -> None:
            raise ValueError("boom")

        def __repr__(self) -> str:
            return "<the hook>"

    fn = routed(providers=["a"], on_event=Hook())(lambda p: p)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    assert "on_event hook <the hook> raised" in str(caught[0].message)
    assert logs.find("event hook raised; ignored: <the hook> on AttemptStarted")


# -- streams --------------------------------------------------------------------------------


def test_a_stream_reports_the_time_to_its_first_item_and_its_attempt():
    clock = FakeClock()
    seen: list[tuple[str, int]] = []

    @routed(providers=["a", "b"], clock=clock, cooldown=None)
    def words(provider: str) -> Iterator[str]:
        clock.advance(0.25)
        if provider == "a":
            raise RuntimeError("a down")
        info = current_attempt()
        assert info is not None
        seen.append((info.provider, info.attempt))
        yield "one"
        clock.advance(5)  # after the first item: not part of the latency
        info = current_attempt()
        assert info is not None
        seen.append((info.provider, info.attempt))
        yield "two"

    result = words.route()
    assert (result.provider, result.attempt, result.was_terminus) == ("b", 2, True)
    assert result.latency == 0.25
    assert [a.provider for a in result.attempts] == ["a", "b"]
    assert list(result.response) == ["one", "two"]
    assert seen == [("b", 2), ("b", 2)]


def test_a_mid_stream_failure_is_logged_as_that_attempt(logs):
    clock = FakeClock()

    @routed(providers=["a", "b"], clock=clock, cooldown=None)
    def words(provider: str) -> Iterator[str]:
        if provider == "a":
            raise RuntimeError("a down")
        yield "one"
        clock.advance(0.5)
        raise RuntimeError("b broke")

    stream = words()
    assert next(stream) == "one"
    with pytest.raises(RuntimeError, match="b broke"):
        next(stream)
    messages = [r["message"] for r in logs.find("provider failed")]
    assert messages == [
        "provider failed: a (attempt 1 of 2): RuntimeError: a down",
        "provider failed: b (attempt 2 of 2): RuntimeError: b broke",
    ]
    [last] = logs.find("provider failed: b")
    assert last["extra"]["latency"] == 0.5
    assert last["extra"]["is_terminus"] is True
    row = words.router.status()["b"]
    assert (row.successes, row.failures, row.last_latency) == (1, 1, 0.5)
