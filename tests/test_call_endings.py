"""Every ending closes the call (DESIGN §4, §8): `CallStarted` is always answered by
`CallSucceeded` or `CallFailed`, and the call gives everything back — also when a
`fallback_on`/`cooldown_on` predicate raises or a hook raises KeyboardInterrupt, on every
path (the sync happy path, the sync general path, and their async twins).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fallback_router import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CallFailed,
    CallStarted,
    CallSucceeded,
    CooldownEntered,
    InMemoryCooldown,
    LeastBusy,
    ProviderSkipped,
    current_attempt,
    routed,
)

from .conftest import FakeClock

PATHS = ["happy", "engine", "async happy", "async engine"]


class Boom(Exception):
    pass


class PredicateBroke(Exception):
    pass


#: scenario -> (benched beforehand, failing providers): the events each one sends
SCENARIOS = {
    "served at once": ((), ()),  # CallStarted, AttemptStarted, AttemptSucceeded, CallSucceeded
    "fails over": ((), ("a",)),  # + AttemptFailed, CooldownEntered
    "skips and fails over": (("a",), ("b",)),  # + ProviderSkipped
}


def build(path: str, scenario: str, on_event: Any, **options: Any) -> tuple[Any, InMemoryCooldown]:
    """Providers a, b, c under LeastBusy (so in-flight counts are kept) on `path`."""
    benched, failing = SCENARIOS[scenario]
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    for name in benched:
        tracker.record_failure(name, Boom("earlier"))
    names = ["a", "b", "c"]

    def call(provider: str) -> str:
        if provider in failing:
            raise Boom(f"{provider} down")
        return provider

    async def acall(provider: str) -> str:
        return call(provider)

    fn = routed(
        providers=names if "engine" not in path else (lambda: names),
        cooldown=tracker, clock=clock, strategy=LeastBusy(), on_event=on_event,
        **options,
    )(acall if "async" in path else call)  # fmt: skip
    return fn, tracker


def run(path: str, fn: Any) -> Any:
    if "async" in path:
        return asyncio.run(fn())
    return fn()


def closed(events: list[Any]) -> bool:
    """Each CallStarted has exactly one CallSucceeded/CallFailed after it (same call id)."""
    opened = [e.call_id for e in events if isinstance(e, CallStarted)]
    ends = [e.call_id for e in events if isinstance(e, CallSucceeded | CallFailed)]
    return bool(opened) and sorted(opened) == sorted(ends)


def given_back(fn: Any) -> bool:
    return all(row.in_flight == 0 for row in fn.router.status()) and current_attempt() is None


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("which", ["fallback_on", "cooldown_on"])
def test_a_raising_predicate_still_closes_the_call(path, which):
    """The predicate's error propagates; CallFailed closes the call; nothing stays held."""
    events: list[Any] = []

    def predicate(error: Exception) -> bool:
        raise PredicateBroke(which)

    fn, _ = build(path, "fails over", events.append, **{which: predicate})
    with pytest.raises(PredicateBroke):
        run(path, fn)
    assert closed(events)
    failed = [e for e in events if isinstance(e, CallFailed)]
    assert [type(e.error) for e in failed] == [PredicateBroke]
    assert given_back(fn)


KINDS = [
    CallStarted,
    ProviderSkipped,
    AttemptStarted,
    AttemptFailed,
    CooldownEntered,
    AttemptSucceeded,
    CallSucceeded,
]


#: The events each scenario sends (a hook can raise at each of them).
SENT = {
    "served at once": [CallStarted, AttemptStarted, AttemptSucceeded, CallSucceeded],
    "fails over": [k for k in KINDS if k is not ProviderSkipped],
    "skips and fails over": KINDS,
}
CASES = [
    pytest.param(scenario, kind, id=f"{scenario}-{kind.__name__}")
    for scenario, kinds in SENT.items()
    for kind in kinds
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("scenario", "kind"), CASES)
def test_keyboard_interrupt_in_a_hook_still_closes_the_call(path, scenario, kind):
    """Ctrl-C in a hook at any event: the call's last event still comes (once)."""
    events: list[Any] = []
    armed = {"on": True}

    def hook(event: Any) -> None:
        events.append(event)
        if armed["on"] and isinstance(event, kind):
            armed["on"] = False
            raise KeyboardInterrupt

    fn, _ = build(path, scenario, hook)
    with pytest.raises(KeyboardInterrupt):
        run(path, fn)
    assert not armed["on"]
    assert closed(events)
    ends = [e for e in events if isinstance(e, CallSucceeded | CallFailed)]
    assert len(ends) == 1
    if kind is not CallSucceeded:
        assert isinstance(ends[0], CallFailed)
        assert isinstance(ends[0].error, KeyboardInterrupt)
    assert given_back(fn)
