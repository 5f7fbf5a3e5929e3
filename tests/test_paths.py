"""One call, every path (DESIGN §3, §6, §11): the same outcome whichever code serves it.

A sync router with fixed providers serves most calls on its happy path; a providers
callable (or a limit, a budget, accept=) sends every call through the engine's general
walk; async functions have twins of both. Each scenario below runs on all four and must
give the same Result, events, log lines and tracker writes, spelled out exactly.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
import tenacity

from fallback_router import AllProvidersFailedError, Event, InMemoryCooldown, RoundRobin, routed

from .conftest import FakeClock

PATHS = ["happy", "engine", "async happy", "async engine"]


class Boom(Exception):
    pass


class Writes(InMemoryCooldown):
    """An in-memory tracker that lists the writes a call makes (name, method)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.writes: list[tuple[str, str]] = []

    def record_failure(self, name: str, error: BaseException) -> float:
        self.writes.append((name, "record_failure"))
        return super().record_failure(name, error)

    def record_success(self, name: str, clears_cooldown: bool = True) -> None:
        self.writes.append((name, "record_success" if clears_cooldown else "keep"))
        super().record_success(name, clears_cooldown)

    def try_probe(self, name: str, ttl: float | None = None) -> Any:
        self.writes.append((name, "try_probe"))
        return super().try_probe(name, ttl)


def event_facts(event: Event) -> tuple[Any, ...]:
    """An event's type and facts, without ids, timings and exception objects."""
    skip = {"function", "call_id", "latency", "elapsed", "error", "reason", "attempts", "exc"}
    facts = {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)  # type: ignore[arg-type]
        if f.name not in skip
    }
    return (type(event).__name__, *sorted(facts.items()))


def call_on(path: str, fail: set[str], tracker: Writes, clock: FakeClock, logs: Any):
    """Route one call over a, b, c on `path` (providers in `fail` raise Boom).

    Returns (Result or error, event facts, log messages, tracker writes).
    """
    events: list[Event] = []
    names = ["a", "b", "c"]
    providers: Any = names if "engine" not in path else (lambda: names)
    options = {"cooldown": tracker, "clock": clock, "on_event": events.append}

    def sync_call(provider: str) -> str:
        if provider in fail:
            raise Boom(provider)
        return provider

    async def async_call(provider: str) -> str:
        return sync_call(provider)

    tracker.writes.clear()
    logs.records.clear()
    try:
        if path.startswith("async"):
            fn = routed(providers=providers, **options)(async_call)
            outcome: Any = asyncio.run(fn.route())
        else:
            outcome = routed(providers=providers, **options)(sync_call).route()
    except AllProvidersFailedError as error:
        outcome = error
    messages = [r["message"] for r in logs.records]
    return outcome, [event_facts(e) for e in events], messages, list(tracker.writes)


def started(attempt: int, provider: str, is_terminus: bool, probe: bool = False) -> tuple:
    """The facts of the AttemptStarted event expected for one attempt (not hedged)."""
    return (
        "AttemptStarted",
        ("attempt", attempt),
        ("hedged", False),
        ("is_terminus", is_terminus),
        ("probe", probe),
        ("provider", provider),
    )


def verdicts(writes: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The writes that change state (the general walk also asks providers with some state
    seen for a probe, and tells a success that must keep a newer cooldown: no-ops here)."""
    return [w for w in writes if w[1] in ("record_failure", "record_success")]


def summary(result: Any) -> tuple[Any, ...]:
    attempts = tuple((a.provider, a.error_text, a.counted) for a in result.attempts)
    return result.provider, result.attempt, result.was_terminus, result.skipped, attempts


@pytest.mark.parametrize("path", PATHS)
def test_a_clean_first_try_writes_nothing_to_the_tracker(path, logs):
    """No state anywhere: a serves; no tracker write, no probe, no log line."""
    clock = FakeClock()
    tracker = Writes(duration=60, clock=clock)
    result, events, messages, writes = call_on(path, set(), tracker, clock, logs)
    assert summary(result) == ("a", 1, False, (), (("a", "", False),))
    assert (messages, writes) == ([], [])
    assert [e[0] for e in events] == [
        "CallStarted",
        "AttemptStarted",
        "AttemptSucceeded",
        "CallSucceeded",
    ]


@pytest.mark.parametrize("path", PATHS)
def test_a_benched_provider_is_skipped_and_a_failure_benches(path, logs):
    """a benched, b fails (benched for 60 s), c serves as the terminus."""
    clock = FakeClock()
    tracker = Writes(duration=60, clock=clock)
    tracker.record_failure("a", Boom("a"))
    result, events, messages, writes = call_on(path, {"b"}, tracker, clock, logs)
    assert summary(result) == ("c", 2, True, ("a",), (("b", "Boom: b", True), ("c", "", False)))
    assert verdicts(writes) == [("b", "record_failure")]  # c was seen available: kept as is
    assert tracker.remaining("a") == tracker.remaining("b") == 60.0
    assert events == [
        ("CallStarted", ("strategy", "fallback")),
        ("ProviderSkipped", ("provider", "a"), ("remaining", 60.0)),
        started(1, "b", is_terminus=False),
        (
            "AttemptFailed",
            ("attempt", 1),
            ("counted", True),
            ("error_text", "Boom: b"),
            ("fallback", True),
            ("provider", "b"),
            ("timed_out", False),
        ),
        ("CooldownEntered", ("duration", 60.0), ("error_text", "Boom: b"), ("provider", "b")),
        started(2, "c", is_terminus=True),
        ("AttemptSucceeded", ("attempt", 2), ("provider", "c")),
        ("CallSucceeded", ("attempt", 2), ("provider", "c")),
    ]
    assert messages == [
        "skipping provider in cooldown: a (60.0 s left)",
        "provider failed: b (attempt 1 of 3): Boom: b",
        "provider entering cooldown: b for 60.0 s",
        "succeeded on fallback provider: c (attempt 2, 0.000 s)",
    ]


@pytest.mark.parametrize("path", PATHS)
def test_a_half_open_provider_is_probed_once_and_cleared(path, logs):
    """a's cooldown ended: the call claims its probe; the success clears a."""
    clock = FakeClock()
    tracker = Writes(duration=10, clock=clock)
    tracker.record_failure("a", Boom("a"))
    clock.advance(10)
    result, events, messages, writes = call_on(path, set(), tracker, clock, logs)
    assert summary(result) == ("a", 1, False, (), (("a", "", False),))
    assert writes == [("a", "try_probe"), ("a", "record_success")]
    assert tracker.snapshot() == {}
    attempts = [e for e in events if e[0] == "AttemptStarted"]
    assert attempts == [started(1, "a", is_terminus=False, probe=True)]
    assert messages == ["probing half-open provider: a (attempt 1)"]


@pytest.mark.parametrize("path", PATHS)
def test_every_provider_benched_forces_the_terminus(path, logs):
    """a, b and c benched: a and b are skipped, c is tried anyway and fails: all failed."""
    clock = FakeClock()
    tracker = Writes(duration=60, clock=clock)
    for name in "abc":
        tracker.record_failure(name, Boom(name))
    clock.advance(30)
    error, events, messages, writes = call_on(path, {"c"}, tracker, clock, logs)
    assert isinstance(error, AllProvidersFailedError)
    assert [type(e) for e in error.exceptions] == [Boom]
    assert verdicts(writes) == [("c", "record_failure")]
    assert [e[0] for e in events] == [
        "CallStarted",
        "ProviderSkipped",
        "ProviderSkipped",
        "TerminusForced",
        "AttemptStarted",
        "AttemptFailed",
        "CooldownEntered",
        "CallFailed",
    ]
    assert ("TerminusForced", ("provider", "c"), ("remaining", 30.0)) in events
    assert messages[:3] == [
        "skipping provider in cooldown: a (30.0 s left)",
        "skipping provider in cooldown: b (30.0 s left)",
        "attempting terminus provider despite cooldown: c (30.0 s left)",
    ]


@pytest.mark.parametrize("path", ["async happy", "retry template"])
def test_the_happy_paths_attempt_stays_recorded_when_state_changes_meanwhile(path):
    """The happy path's pick runs on a quiet tracker and fails; meanwhile a and b were
    benched (as by other calls). The general walk that goes on from it records a's failure
    as attempt 1 (it was made: no probe is asked for it, nothing skips it), then c serves.
    Both paths that hand a made attempt to the engine, on every lap of the rotation."""
    tracker = InMemoryCooldown(60)

    def sync_call(provider: str) -> str:
        if provider == "a":
            tracker.record_failure("a", Boom("a"))
            tracker.record_failure("b", Boom("b"))
            raise Boom("a")
        return provider

    async def async_call(provider: str) -> str:
        return sync_call(provider)

    options: dict[str, Any] = {"strategy": RoundRobin(failover=True), "cooldown": tracker}
    if path == "async happy":
        fn = routed(providers=["a", "b", "c"], **options)(async_call)
    else:  # a retry template hands a failed first pick to the engine
        retry = tenacity.Retrying(stop=tenacity.stop_after_attempt(1))
        fn = routed(providers=["a", "b", "c"], retry=retry, **options)(sync_call)
    results = []
    for _ in range(4):  # ticks 0..3: a's turns are the first and the fourth
        tracker.reset()
        result = fn.route()
        results.append(asyncio.run(result) if path == "async happy" else result)
    assert [r.provider for r in results] == ["c", "b", "c", "c"]
    for result in (results[0], results[3]):
        assert [(a.provider, a.error_text) for a in result.attempts] == [
            ("a", "Boom: a"),
            ("c", ""),
        ]
        # b, benched, is passed over on the way to c: counted as fallback counts it
        assert (result.attempt, result.skipped) == (2, ("b",))
