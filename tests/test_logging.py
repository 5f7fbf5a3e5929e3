"""Logging (DESIGN §3, §8): loguru, disabled until enabled, stable messages with facts in
words and structured fields.
"""

from __future__ import annotations

import logging

from loguru import logger

from fallback_router import (
    Event,
    InMemoryCooldown,
    TerminusForced,
    routed,
)

from .conftest import FakeClock
from .support.helpers import fleet


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
    from fallback_router import _log

    monkeypatch.setattr(_log, "_core", object())
    assert _log.wants("fallback_router._engine.record", _log.DEBUG) is True
    routed(providers=["a", "b"], cooldown=None)(fleet("a"))()
    assert logs.find("provider failed: a")
