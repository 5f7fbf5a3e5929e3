"""Logging (DESIGN §3, §8): loguru, disabled until enabled, stable messages with facts in
words and structured fields.
"""

from __future__ import annotations

import logging
import warnings

import pytest
from loguru import logger

from fallback_router import (
    AllProvidersFailedError,
    Event,
    InMemoryCooldown,
    RetryBudget,
    TerminusForced,
    routed,
)

from .conftest import FakeClock
from .support.helpers import fleet, hanging


def test_logging_is_disabled_until_the_application_enables_it():
    """Importing the library adds no output: the namespace is disabled."""
    seen = []
    sink = logger.add(lambda m: seen.append(m), level="DEBUG")
    try:
        routed(providers=["a", "b"])(fleet("a"))()
    finally:
        logger.remove(sink)
    assert seen == []


def test_happy_path_logs_nothing(logs):
    """A first-try success emits no record at all."""
    routed(providers=["a", "b"])(fleet())()
    assert logs.records == []


def test_failure_and_cooldown_messages_with_fields(logs, clock):
    """A failure logs 'provider failed' and 'provider entering cooldown' with fields."""
    fn = routed(providers=["a", "b"], cooldown=30, clock=clock)(fleet("a"))
    fn()
    [failed] = logs.find("provider failed")
    assert failed["level"].name == "WARNING"
    extra = failed["extra"]
    assert extra["provider"] == "a"
    assert extra["attempt"] == 1
    assert extra["is_terminus"] is False
    assert extra["counted"] is True
    assert extra["error"] == "RuntimeError: a down"  # redacted text, not the object
    assert extra["error_type"] == "RuntimeError"
    assert extra["latency"] == 0.0
    [entering] = logs.find("provider entering cooldown")
    assert entering["level"].name == "WARNING"
    assert entering["extra"]["duration"] == 30
    [success] = logs.find("succeeded on fallback provider")
    assert success["level"].name == "INFO"
    assert success["extra"]["provider"] == "b"
    assert success["extra"]["attempt"] == 2


def test_skip_and_terminus_messages(logs, clock):
    """Skipping logs at debug with the remaining time; forcing the terminus at info."""
    fn = routed(providers=["a", "b"], cooldown=30, clock=clock)(fleet("a", "b"))
    try:
        fn()
    except Exception:
        pass
    logs.records.clear()
    clock.advance(10)
    try:
        fn()
    except Exception:
        pass
    [skipped] = logs.find("skipping provider in cooldown")
    assert skipped["level"].name == "DEBUG"
    assert skipped["extra"] == {"provider": "a", "remaining": 20.0, "reason": "cooldown"}
    assert skipped["message"] == "skipping provider in cooldown: a (20.0 s left)"
    [forced] = logs.find("attempting terminus provider despite cooldown")
    assert forced["level"].name == "INFO"
    assert forced["extra"] == {"provider": "b", "remaining": 20.0}


def test_a_forced_terminus_is_logged_with_its_remaining_cooldown(logs):
    """Forcing a benched terminus logs its remaining cooldown and emits TerminusForced."""
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


def test_loguru_can_be_routed_into_standard_logging(caplog):
    """The README recipe: forward loguru records to the logging module."""

    class PropagateHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logging.getLogger(record.name).handle(record)

    logger.enable("fallback_router")
    sink = logger.add(PropagateHandler(), format="{message}", level="WARNING")
    try:
        with caplog.at_level(logging.WARNING):
            routed(providers=["a", "b"])(fleet("a"))()
    finally:
        logger.remove(sink)
    assert "provider failed: a (attempt 1 of 2): RuntimeError: a down" in caplog.messages


def test_enable_disable_add_and_remove_take_effect_on_the_next_call():
    """The call path's shortcut past disabled logging follows loguru's state at once."""
    seen: list[str] = []
    fn = routed(providers=["a", "b"], cooldown=None)(fleet("a"))

    def failed_messages() -> list[str]:
        before = len(seen)
        fn()
        return [m for m in seen[before:] if m.startswith("provider failed")]

    sink = logger.add(lambda m: seen.append(m.record["message"]), level="WARNING")
    try:
        assert failed_messages() == []  # disabled (the state after import)
        logger.enable("fallback_router")
        assert failed_messages() == ["provider failed: a (attempt 1 of 2): RuntimeError: a down"]
        logger.disable("fallback_router")
        assert failed_messages() == []
        logger.enable("fallback_router")
        assert len(failed_messages()) == 1
    finally:
        logger.remove(sink)
    assert failed_messages() == []  # no handler at all
    # A handler above the record's level takes nothing; one at DEBUG takes the skip too.
    high = logger.add(lambda m: seen.append(m.record["message"]), level="ERROR")
    try:
        assert failed_messages() == []
    finally:
        logger.remove(high)
        logger.disable("fallback_router")


def test_an_unknown_loguru_layout_leaves_the_decision_to_loguru(monkeypatch, logs):
    """If loguru's internals ever differ, nothing is dropped: loguru decides."""
    from fallback_router._surfaces import log as _log

    monkeypatch.setattr(_log, "_core", object())
    assert _log.wants("fallback_router._engine.record", _log.DEBUG) is True
    routed(providers=["a", "b"], cooldown=None)(fleet("a"))()
    assert logs.find("provider failed: a")


# -- the messages of the rarer paths, word for word -----------------------------------------


def test_a_hedge_is_logged_with_its_delay(logs, gate):
    """'hedging: b started after X s (attempt 2)': X is the time a had been running."""
    fn = routed(providers=["a", "b"], hedge_after=0.05, cooldown=None)(hanging(gate, "a"))
    result = fn.route()
    assert result.provider == "b"
    [hedge] = logs.find("hedging")
    extra = hedge["extra"]
    assert (extra["provider"], extra["attempt"]) == ("b", 2)
    assert 0.05 <= extra["after"] <= result.elapsed  # a ran that long; the call, longer
    assert hedge["message"] == f"hedging: b started after {extra['after']:.3f} s (attempt 2)"
    assert hedge["level"].name == "INFO"


def test_a_rejected_response_is_logged(logs):
    """accept= refusing a's answer: 'response rejected: a (attempt 1) by accept='."""
    fn = routed(providers=["a", "b"], accept=lambda response: response != "a")(fleet())
    assert fn() == "b"
    [rejected] = logs.find("response rejected")
    assert rejected["message"] == "response rejected: a (attempt 1) by accept="
    assert (rejected["extra"]["provider"], rejected["extra"]["attempt"]) == ("a", 1)
    assert rejected["level"].name == "INFO"


def test_a_spent_retry_budget_is_logged(logs, clock):
    """No budget left after a's failure: 'retry budget exhausted: b not attempted after attempt 1'."""
    budget = RetryBudget(0.0, 0.0, clock=clock)
    fn = routed(providers=["a", "b"], retry_budget=budget, cooldown=None, clock=clock)(fleet("a"))
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert (
        info.value.message == "all providers failed (a); retry budget exhausted: no further attempt"
    )
    [spent] = logs.find("retry budget exhausted")
    assert spent["message"] == "retry budget exhausted: b not attempted after attempt 1"
    assert (spent["extra"]["provider"], spent["extra"]["attempt"]) == ("b", 1)
    assert spent["level"].name == "WARNING"


def test_a_wait_is_logged_with_who_why_and_how_long(logs):
    """'waiting for a provider: a, b (rate limited, up to X s)' at DEBUG."""
    fn = routed(providers=["a", "b"], rate_limits={"a": "1/s", "b": "1/s"}, timeout=2.0)(
        lambda provider: provider
    )
    assert [fn(), fn(), fn()] == ["a", "b", "a"]  # then both are out of tokens: a refills first
    [wait] = logs.find("waiting for a provider")
    seconds = wait["extra"]["wait"]
    assert 0.0 < seconds <= 1.0
    assert wait["message"] == f"waiting for a provider: a, b (rate limited, up to {seconds:.3f} s)"
    assert wait["level"].name == "DEBUG"


def test_a_wait_without_a_budget_is_logged_as_having_no_time_limit(logs, gate):
    """Saturated, no timeout=: 'waiting for a provider: a (saturated, no time limit)'."""
    import threading
    import time

    from fallback_router import ConcurrencyLimiter

    entered = threading.Event()

    def call(provider):
        if not entered.is_set():
            entered.set()
            gate.wait(10)
        return provider

    fn = routed(providers=["a"], max_concurrency=ConcurrencyLimiter(1))(call)
    holder = threading.Thread(target=fn)
    holder.start()
    assert entered.wait(10)
    waiter = threading.Thread(target=fn)
    waiter.start()
    deadline = time.monotonic() + 10
    while not logs.find("waiting for a provider") and time.monotonic() < deadline:
        time.sleep(0.001)  # until the second call says it waits (a condition, not a delay)
    gate.set()
    holder.join(10)
    waiter.join(10)
    assert not holder.is_alive()
    assert not waiter.is_alive()
    [wait] = logs.find("waiting for a provider")
    assert wait["message"] == "waiting for a provider: a (saturated, no time limit)"
    assert (wait["extra"]["reason"], wait["extra"]["wait"]) == ("saturated", None)


def test_a_timed_out_attempt_is_logged_as_such(logs, gate):
    """'attempt timed out: a (attempt 1): AttemptTimeoutError: ...', not 'provider failed'."""
    fn = routed(providers=["a", "b"], attempt_timeout=0.05)(hanging(gate, "a"))
    assert fn() == "b"
    [timed_out] = logs.find("attempt timed out")
    assert timed_out["message"].startswith("attempt timed out: a (attempt 1): AttemptTimeoutError")
    assert logs.find("provider failed") == []


@pytest.mark.parametrize(
    ("options", "logged"),
    [
        ({"cooldown_on": lambda error: False}, True),  # moves on, not benched: said so
        ({}, False),  # counted: the cooldown log says it
        ({"exempt": {"a"}}, False),  # exempt: never counted, nothing to say
        ({"cooldown": None}, False),  # no tracker: nothing to count with
    ],
)
def test_a_failure_that_moves_on_without_counting_says_so(logs, options, logged):
    """'failure not counted for cooldown: a (RuntimeError: a down)' only when it applies."""
    fn = routed(providers=["a", "b"], **options)(fleet("a"))
    assert fn() == "b"
    records = logs.find("failure not counted for cooldown")
    if not logged:
        assert records == []
        return
    [record] = records
    assert record["message"] == "failure not counted for cooldown: a (RuntimeError: a down)"
    assert (record["extra"]["provider"], record["extra"]["error"]) == ("a", "RuntimeError: a down")


def broken_hook(event: Event) -> None:
    raise ValueError("boom")


def test_a_single_raising_hook_is_named_on_every_event(logs):
    """One hook (the single-hook delivery): every event it broke on is logged by name."""
    seen: list[str] = []
    fn = routed(
        providers=["a", "b"], cooldown=None, on_event=lambda e: seen.append(type(e).__name__)
    )
    expected_events = (fn(fleet("a"))(), seen)[1]
    fn = routed(providers=["a", "b"], cooldown=None, on_event=broken_hook)(fleet("a"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fn() == "b"
    records = logs.find("event hook raised")
    assert [r["extra"]["event"] for r in records] == expected_events
    assert {r["extra"]["hook"] for r in records} == {"broken_hook"}
    assert {r["extra"]["error"] for r in records} == {"ValueError: boom"}
    assert all(r["exception"] is None for r in records)  # redacted text, no traceback
    once = " (ignored; reported once per hook)"
    assert [str(w.message) for w in caught] == [
        "fallback_router: on_event hook broken_hook raised ValueError: boom" + once
    ]


def test_a_warnings_filter_set_to_error_does_not_break_the_call():
    """The once-per-hook RuntimeWarning under an 'error' filter: still ignored."""
    fn = routed(providers=["a"], on_event=broken_hook)(fleet())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fn() == "a"


@pytest.fixture
def others_disabled(logs):
    """Every module disabled but this package, and loguru's view of code without a module
    name (exec'd text) cached as disabled: the package's records must not follow it."""
    logger.disable(None)
    logger.enable("fallback_router")
    exec("from loguru import logger\nlogger.info('from code without __name__')", {})
    yield logs
    logger.enable(None)
    logger.disable("fallback_router")


def test_the_packages_records_follow_its_own_activation_only(others_disabled, gate):
    """With everything else disabled, each kind of record the package logs still comes."""
    from fallback_router import (
        DeadlineExceededError,
        InMemoryRateLimiter,
        RateLimit,
        StreamInterrupted,
    )

    logs = others_disabled
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet("a"))
    assert fn() == "b"  # provider failed, entering cooldown, succeeded on fallback
    assert fn() == "b"  # skipping a
    clock.advance(10)
    calls = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet())
    assert calls() == "a"  # probing a
    rejecting = routed(providers=["a", "b"], cooldown=None, accept=lambda r: r != "a")(fleet())
    assert rejecting() == "b"  # response rejected (and not counted: no tracker)
    budget = RetryBudget(0.2, 0, clock=clock)
    spent = routed(providers=["a", "b"], cooldown=None, retry_budget=budget)(fleet("a"))
    with pytest.raises(AllProvidersFailedError):
        spent()  # retry budget exhausted
    tokens = InMemoryRateLimiter({"a": RateLimit(1, 0.02)}, clock=clock)  # never refills
    limited = routed(providers=["a"], rate_limits=tokens, timeout=0.05, clock=clock)(fleet())
    assert limited() == "a"
    with pytest.raises(DeadlineExceededError):
        limited()  # waiting for a provider (a token), until real time spends the budget
    hedged = routed(providers=["a", "b"], hedge_after=0.01, cooldown=None)(hanging(gate, "a"))
    assert hedged() == "b"  # hedging
    hooked = routed(providers=["a"], on_event=broken_hook)(fleet())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert hooked() == "a"  # event hook raised
    everyone_benched = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet())
    tracker.record_failure("a", RuntimeError())
    tracker.record_failure("b", RuntimeError())
    assert everyone_benched() == "b"  # attempting terminus provider despite cooldown
    forgiving = routed(providers=["a", "b"], cooldown_on=lambda error: False)(fleet("a"))
    assert forgiving() == "b"  # failure not counted for cooldown

    @routed(providers=["a", "b"], cooldown=None)
    def stream(provider):
        yield provider
        raise RuntimeError("cut")

    items = stream()
    assert next(items) == "a"
    with pytest.raises(StreamInterrupted):
        next(items)  # stream interrupted
    for phrase in (
        "attempting terminus provider despite cooldown",
        "failure not counted for cooldown",
        "stream interrupted",
        "provider failed",
        "provider entering cooldown",
        "succeeded on fallback provider",
        "skipping provider in cooldown",
        "probing half-open provider",
        "response rejected",
        "retry budget exhausted",
        "waiting for a provider",
        "hedging",
        "event hook raised",
    ):
        assert logs.find(phrase), phrase
