"""Event hooks (DESIGN §8): typed, frozen events in order, one call_id per call, CallStarted
first and CallSucceeded or CallFailed last; a raising hook never breaks a call.
"""

from __future__ import annotations

import dataclasses
import warnings

import pytest
import tenacity

from fallback_router import (
    AllProvidersFailedError,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CallFailed,
    CallStarted,
    CallSucceeded,
    ConcurrencyLimiter,
    CooldownEntered,
    Event,
    InMemoryCooldown,
    ProviderSkipped,
    TerminusForced,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, fleet, kinds


def test_happy_path_events():
    """A first-try success: call started, attempt started and succeeded, call succeeded."""
    events: list[Event] = []
    routed(providers=["a", "b"], on_event=events.append)(fleet())()
    assert kinds(events) == [
        ("CallStarted", None),
        ("AttemptStarted", "a"),
        ("AttemptSucceeded", "a"),
        ("CallSucceeded", "a"),
    ]
    call_started, started, succeeded, call_succeeded = events
    assert isinstance(call_started, CallStarted)
    assert call_started.strategy == "fallback"
    assert len({e.call_id for e in events}) == 1
    assert isinstance(call_succeeded, CallSucceeded)
    assert (call_succeeded.attempt, call_succeeded.elapsed) == (1, succeeded.latency)
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
        ("CallStarted", None),
        ("AttemptStarted", "a"),
        ("AttemptFailed", "a"),
        ("CooldownEntered", "a"),
        ("AttemptStarted", "b"),
        ("AttemptSucceeded", "b"),
        ("CallSucceeded", "b"),
    ]
    failed, entered = events[2], events[3]
    assert isinstance(failed, AttemptFailed)
    assert failed.counted is True
    assert failed.fallback is True
    assert failed.timed_out is False
    assert str(failed.error) == "a down"
    assert failed.error_text == "RuntimeError: a down"
    assert isinstance(entered, CooldownEntered)
    assert entered.duration == 30
    assert entered.reason is failed.error
    assert entered.error_text == "RuntimeError: a down"
    assert len({e.call_id for e in events}) == 1


def test_every_log_record_and_event_of_a_fallback_carries_its_facts(logs):
    """One fallback, traced: the records' fields and the events, exactly."""
    from fallback_router import (
        AttemptFailed,
        AttemptStarted,
        AttemptSucceeded,
        CallStarted,
        CallSucceeded,
        CooldownEntered,
    )

    clock = FakeClock()
    events: list[object] = []
    error = Boom("a down")

    def call(provider):
        clock.advance(0.5 if provider == "a" else 0.25)
        if provider == "a":
            raise error
        return provider

    fn = routed(providers=["a", "b"], cooldown=30, clock=clock, on_event=events.append)(call)
    assert fn() == "b"
    (failed,) = logs.find("provider failed")
    assert failed["extra"] == {
        "provider": "a",
        "attempt": 1,
        "of": 2,
        "is_terminus": False,
        "latency": 0.5,
        "error": "Boom: a down",
        "error_type": "Boom",
        "counted": True,
    }
    (cooled,) = logs.find("provider entering cooldown")
    assert cooled["extra"] == {"provider": "a", "duration": 30.0, "error": "Boom: a down"}
    (served,) = logs.find("succeeded on fallback provider")
    assert served["extra"] == {"provider": "b", "attempt": 2, "latency": 0.25}
    name = call.__qualname__
    call_id = events[0].call_id
    assert events == [
        CallStarted(function=name, call_id=call_id, strategy="fallback"),
        AttemptStarted(
            function=name, call_id=call_id, provider="a", attempt=1, is_terminus=False, probe=False
        ),
        AttemptFailed(
            function=name,
            call_id=call_id,
            provider="a",
            attempt=1,
            error=error,
            latency=0.5,
            counted=True,
            fallback=True,
            timed_out=False,
            error_text="Boom: a down",
        ),
        CooldownEntered(
            function=name,
            call_id=call_id,
            provider="a",
            duration=30.0,
            reason=error,
            error_text="Boom: a down",
        ),
        AttemptStarted(
            function=name, call_id=call_id, provider="b", attempt=2, is_terminus=True, probe=False
        ),
        AttemptSucceeded(function=name, call_id=call_id, provider="b", attempt=2, latency=0.25),
        CallSucceeded(function=name, call_id=call_id, provider="b", attempt=2, elapsed=0.75),
    ]
    fn()  # a is benched: b serves on the first attempt, which is not logged as a fallback
    assert len(logs.find("succeeded on fallback provider")) == 1


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
        ("CallStarted", None),
        ("ProviderSkipped", "a"),
        ("TerminusForced", "b"),
        ("AttemptStarted", "b"),
        ("AttemptFailed", "b"),
        ("CooldownEntered", "b"),
        ("CallFailed", None),
    ]
    skipped, forced = events[1], events[2]
    assert isinstance(skipped, ProviderSkipped)
    assert skipped.remaining == 45
    assert isinstance(forced, TerminusForced)
    assert forced.remaining == 45
    call_failed = events[-1]
    assert isinstance(call_failed, CallFailed)
    assert isinstance(call_failed.error, AllProvidersFailedError)
    assert [a.provider for a in call_failed.attempts] == ["b"]
    assert call_failed.error_text == "AllProvidersFailedError: " + str(call_failed.error)


def test_terminus_forced_is_emitted_only_for_a_benched_terminus():
    """An available terminus is attempted without TerminusForced."""
    clock = FakeClock()
    events: list[Event] = []
    fn = routed(
        providers=["a", "b"],
        cooldown=InMemoryCooldown(60, clock=clock),
        on_event=events.append,
    )(fleet("a"))
    assert fn() == "b"  # b is the terminus but not in cooldown
    assert not [e for e in events if isinstance(e, TerminusForced)]


def test_non_trigger_error_reports_fallback_false_and_closes_the_call():
    """A non-trigger error: AttemptFailed with fallback=False, then CallFailed with that error."""
    events: list[Event] = []
    fn = routed(providers=["a", "b"], fallback_on=KeyError, on_event=events.append)(fleet("a"))
    with pytest.raises(RuntimeError) as info:
        fn()
    assert kinds(events) == [
        ("CallStarted", None),
        ("AttemptStarted", "a"),
        ("AttemptFailed", "a"),
        ("CallFailed", None),
    ]
    failed, call_failed = events[2], events[3]
    assert isinstance(failed, AttemptFailed)
    assert failed.fallback is False
    assert failed.counted is False
    assert isinstance(call_failed, CallFailed)
    assert call_failed.error is info.value
    assert (call_failed.attempts, call_failed.error_text) == ((), "RuntimeError: a down")


@pytest.mark.parametrize("strategy", ["primary_only", "round_robin"])
def test_single_attempt_strategies_emit_started_and_failed(strategy):
    """primary_only and round_robin report their one attempt and the failure."""
    events: list[Event] = []
    fn = routed(providers=["a", "b"], strategy=strategy, on_event=events.append)(fleet("a"))
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert kinds(events) == [
        ("CallStarted", None),
        ("AttemptStarted", "a"),
        ("AttemptFailed", "a"),
        ("CallFailed", None),
    ]
    assert events[0].strategy == strategy  # type: ignore[attr-defined]
    assert events[2].counted is False  # type: ignore[attr-defined]


def test_every_event_names_the_routed_function():
    """Every kind of event carries the routed function's qualified name."""
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
    seen = {type(e).__name__ for e in events}
    assert {"AttemptStarted", "AttemptFailed", "CooldownEntered", "CallFailed"} <= seen
    assert {"CallStarted", "ProviderSkipped", "TerminusForced"} <= seen
    assert {e.function for e in events} == {ask.__qualname__}


def test_events_of_a_method_name_the_method():
    """Events of a routed method name the method; of a callable object, its repr."""
    events: list[object] = []

    class Bot:
        @routed(providers=["a"], cooldown=None, on_event=events.append)
        def ask(self, provider, prompt):
            return f"{provider}:{prompt}"

    bot = Bot()
    assert bot.ask("hi") == "a:hi"
    assert Bot.ask(bot, "hi") == "a:hi"
    assert bot.ask.route("hi").provider == "a"
    assert {e.function for e in events} == {Bot.ask.__wrapped__.__qualname__}

    class Handler:  # a callable object: no __qualname__ of its own
        def __call__(self, provider):
            return provider

    named: list[object] = []
    fn = routed(providers=["a"], cooldown=None, on_event=named.append)(Handler())
    assert fn.route().provider == "a"
    assert {e.function for e in named} == {repr(fn.__wrapped__)}


def test_each_call_has_its_own_call_id():
    """The events of one call share its call_id; the next call has another."""
    events: list[Event] = []
    fn = routed(providers=["a", "b"], on_event=events.append)(fleet("a"))
    fn()
    first = len(events)
    fn()
    ids = [e.call_id for e in events]
    assert len(set(ids[:first])) == len(set(ids[first:])) == 1
    assert ids[0] != ids[first]


def test_a_call_refused_for_returning_an_awaitable_is_closed():
    """A plain def returning a coroutine: the TypeError's call still ends with CallFailed."""
    events: list[Event] = []

    async def sdk(provider):
        return provider

    fn = routed(providers=["a", "b"], on_event=events.append)(lambda provider: sdk(provider))
    with pytest.raises(TypeError):
        fn()
    assert kinds(events)[0] == ("CallStarted", None)
    assert isinstance(events[-1], CallFailed)


def test_events_are_frozen_and_keyword_only():
    """Events are immutable values."""
    event = AttemptStarted(function="f", provider="a", attempt=1, is_terminus=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.attempt = 2  # type: ignore[misc]
    with pytest.raises(TypeError):
        AttemptStarted("f", "a", 1, True)  # type: ignore[misc]


# -- hooks that raise ----------------------------------------------------------------------


def test_several_hooks_all_receive_events_and_a_raising_hook_is_ignored(logs):
    """on_event takes a list; a hook that raises is logged and never breaks the call."""
    good: list[Event] = []

    def bad(event: Event) -> None:
        raise ValueError("metrics backend down")

    fn = routed(providers=["a"], on_event=[bad, good.append])(fleet())
    with pytest.warns(RuntimeWarning, match="on_event hook .*bad raised ValueError"):
        assert fn() == "a"
    assert len(good) == 4
    records = logs.find("event hook raised; ignored")
    assert [r["extra"]["event"] for r in records] == [type(e).__name__ for e in good]
    assert records[0]["exception"] is None  # the redacted text only, no traceback (§8b)


def test_several_hooks_each_receive_every_event_of_a_failover_in_order():
    """Two hooks on a call that falls back: both see the same events, in the same order."""
    first: list[Event] = []
    second: list[Event] = []
    fn = routed(providers=["a", "b"], on_event=[first.append, second.append])(fleet("a"))
    assert fn() == "b"
    assert first == second
    assert [type(e).__name__ for e in first] == [
        "CallStarted",
        "AttemptStarted",
        "AttemptFailed",
        "CooldownEntered",
        "AttemptStarted",
        "AttemptSucceeded",
        "CallSucceeded",
    ]


def broken_hook(event: Event) -> None:
    raise ValueError("boom")


def other_broken_hook(event: Event) -> None:
    raise KeyError("bang")


def test_raising_hooks_are_logged_and_warned_once_each(logs):
    """A raising hook is logged on every event and warned about once per hook, word for word."""
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
    # 2 calls x 4 events (call and attempt started, succeeded) x 2 hooks: every time
    assert len(records) == 16
    first = records[0]
    assert first["message"] == (
        "event hook raised; ignored: broken_hook on CallStarted: ValueError: boom"
    )
    assert first["extra"] == {
        "hook": "broken_hook",
        "event": "CallStarted",
        "error": "ValueError: boom",
        "error_type": "ValueError",
    }
    assert first["exception"] is None  # the redacted text only, no traceback (§8b)
    assert [r["extra"]["event"] for r in records[:8:2]] == [
        "CallStarted",
        "AttemptStarted",
        "AttemptSucceeded",
        "CallSucceeded",
    ]


def test_a_hook_without_a_qualname_is_named_by_its_repr(logs):
    """A hook object without __qualname__ is named by its repr in warning and log."""

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


def general_path_cases():
    """Routers whose calls take the general path, each with a skip, a wait or a failure."""
    clock = FakeClock()
    benched = InMemoryCooldown(60, clock=clock)
    benched.record_failure("a", Boom("a"))
    later = FakeClock()
    half_open = InMemoryCooldown(1.0, clock=later)
    half_open.record_failure("a", Boom("a"))
    later.advance(1.0)  # a's cooldown is over: the next call probes it
    limits = ConcurrencyLimiter({"a": 1})
    limits.try_acquire("a")  # a is saturated for the whole test
    return {
        "rate limited": ({"rate_limits": {"a": "1/h"}}, 2, fleet()),
        "saturated": ({"max_concurrency": limits}, 1, fleet()),
        "benched, retry template": (
            {"cooldown": benched, "retry": tenacity.Retrying(stop=tenacity.stop_after_attempt(2))},
            1,
            fleet(),
        ),
        "forced terminus": ({"cooldown": benched, "providers": ["a"]}, 1, fleet()),
        "a fails under a budget": ({"cooldown": None, "timeout": 30}, 1, fleet("a")),
        "accept= refuses a": ({"accept": lambda response: response != "a"}, 1, fleet()),
        "stream, a fails first": ({"cooldown": None}, 1, None),
        "probe": ({"cooldown": half_open, "clock": later}, 1, fleet()),
    }


@pytest.mark.parametrize("case", list(general_path_cases()))
def test_every_event_of_a_call_names_its_function_and_call_id(case):
    """Off the happy path too: one function name and one call_id on all of a call's events."""
    options, calls, fn = general_path_cases()[case]

    def chat(provider):
        if provider == "a":
            raise Boom(provider)
        yield provider

    events: list[Event] = []
    options = {"providers": ["a", "b"], **options, "on_event": events.append}
    routed_fn = routed(**options)(fn if fn is not None else chat)
    for _ in range(calls):
        outcome = routed_fn()
        if fn is None:
            list(outcome)
    name = (fn if fn is not None else chat).__qualname__
    per_call = [e for e in events if e.call_id == events[-1].call_id]
    assert len(per_call) >= 3
    assert {e.function for e in events} == {name}
    assert isinstance(per_call[0], CallStarted)
    assert isinstance(per_call[-1], CallSucceeded)
    ids = [e.call_id for e in events]
    assert ids == sorted(ids)  # each call's events together, calls in order
    assert len(set(ids)) == calls  # one id per call
