"""Behaviours that mutation testing found unpinned (issue 12), each through the public API."""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import tenacity

from fallback_router import (
    AllProvidersFailedError,
    CooldownState,
    Event,
    InMemoryCooldown,
    InvalidConfigError,
    TerminusForced,
    default_cooldown_on,
    retry_after_of,
    routed,
    status_of,
)

from .conftest import FakeClock


def fleet(*failing: str):
    def call(provider: str, *args: Any) -> str:
        if provider in failing:
            raise RuntimeError(f"{provider} down")
        return provider

    return call


# 1 -- round-robin on the general path ------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"on_event": lambda e: None},
        {"timeout": 30.0},
        {"providers": lambda: ["a", "b", "c"]},
        {"max_concurrency": 5},
    ],
    ids=["hook", "budget", "callable providers", "limits"],
)
def test_round_robin_rotates_on_the_general_path(options):
    """Hooks, budgets, callable providers and limits leave the happy path; rotation stays."""
    settings = {"providers": ["a", "b", "c"], **options}
    fn = routed(strategy="round_robin", **settings)(lambda p: p)
    assert [fn() for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]
    assert [fn.route().provider for _ in range(2)] == ["b", "c"]


# 2 -- successes clear state while the tracker holds some ------------------------------


def test_a_forced_terminus_that_succeeds_is_cleared():
    """a and b benched; b (the terminus) is forced, succeeds, and is available again."""
    clock = FakeClock()
    broken = {"a", "b"}

    def call(provider: str) -> str:
        if provider in broken:
            raise RuntimeError(f"{provider} down")
        return provider

    fn = routed(providers=["a", "b"], cooldown=InMemoryCooldown(60, clock=clock))(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    broken.clear()
    assert fn.route().skipped == ("a",)
    rows = {row.name: row for row in fn.router.status()}
    assert rows["b"].available
    assert rows["b"].consecutive_failures == 0
    assert not rows["a"].available
    assert fn.route().skipped == ("a",)  # b was not benched again by a stale state


def test_a_success_clears_a_count_below_the_threshold_while_another_is_benched():
    """threshold=2: a fails once (count 1) while c is benched; a's success resets it."""
    clock = FakeClock()
    tracker = InMemoryCooldown(60, threshold=2, clock=clock)
    tracker.record_failure("c", RuntimeError("c down"))
    tracker.record_failure("c", RuntimeError("c down"))
    failing = {"a"}

    def call(provider: str) -> str:
        if provider in failing:
            raise RuntimeError(f"{provider} down")
        return provider

    fn = routed(providers=["a", "b", "c"], cooldown=tracker)(call)
    assert fn() == "b"
    assert tracker.snapshot()["a"].consecutive_failures == 1
    failing.clear()
    assert fn() == "a"
    assert "a" not in tracker.snapshot()
    failing.add("a")
    assert fn() == "b"  # one failure again: a is not benched
    assert tracker.is_available("a")


# 3 -- TerminusForced only for a terminus in cooldown ---------------------------------


def test_terminus_forced_is_emitted_only_for_a_benched_terminus():
    clock = FakeClock()
    events: list[Event] = []
    fn = routed(
        providers=["a", "b"],
        cooldown=InMemoryCooldown(60, clock=clock),
        on_event=events.append,
    )(fleet("a"))
    assert fn() == "b"  # b is the terminus but not in cooldown
    assert not [e for e in events if isinstance(e, TerminusForced)]


# 4 -- under a second of cooldown left still skips ------------------------------------


def test_a_provider_with_half_a_second_left_is_skipped():
    clock = FakeClock()
    calls: list[str] = []

    def call(provider: str) -> str:
        calls.append(provider)
        if provider == "a" and len(calls) == 1:
            raise RuntimeError("a down")
        return provider

    fn = routed(providers=["a", "b"], cooldown=InMemoryCooldown(10, clock=clock))(call)
    fn()
    clock.advance(9.5)
    assert fn.route().skipped == ("a",)
    clock.advance(0.5)
    assert fn() == "a"


# 5 -- reraise with three providers -----------------------------------------------------


def test_reraise_raises_the_last_providers_own_error():
    fn = routed(providers=["a", "b", "c"], reraise=True, cooldown=None)(fleet("a", "b", "c"))
    with pytest.raises(RuntimeError, match=r"^c down$"):
        fn()


# 6 -- a tracker without remaining_many -------------------------------------------------


class MinimalTracker:
    """The CooldownTracker protocol and nothing more (no remaining_many, no probes)."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.deadlines: dict[str, float] = {}

    def remaining(self, name: str) -> float:
        return max(0.0, self.deadlines.get(name, 0.0) - self.clock())

    def is_available(self, name: str) -> bool:
        return self.remaining(name) <= 0.0

    def record_failure(self, name: str, error: BaseException) -> float:
        self.deadlines[name] = self.clock() + 30.0
        return 30.0

    def record_success(self, name: str) -> None:
        self.deadlines.pop(name, None)

    def reset(self, name: str | None = None) -> None:
        if name is None:
            self.deadlines.clear()
        else:
            self.deadlines.pop(name, None)

    def snapshot(self) -> Mapping[str, CooldownState]:
        return {
            n: CooldownState(remaining=self.remaining(n), consecutive_failures=1)
            for n in self.deadlines
            if self.remaining(n) > 0.0
        }


def test_a_tracker_with_only_the_protocol_routes_skips_and_forces():
    clock = FakeClock()
    tracker = MinimalTracker(clock)
    broken = {"a", "b"}

    def call(provider: str) -> str:
        if provider in broken:
            raise RuntimeError(f"{provider} down")
        return provider

    fn = routed(providers=["a", "b", "c"], cooldown=tracker)(call)
    assert fn() == "c"
    assert tracker.deadlines.keys() == {"a", "b"}
    result = fn.route()
    assert (result.provider, result.skipped) == ("c", ("a", "b"))
    clock.advance(30)
    broken.clear()
    assert fn() == "a"
    assert not fn.router.status()[0].cooldown_remaining


# 7 -- retries on the general path keep every argument -------------------------------


def test_retries_on_the_general_path_repeat_the_same_arguments():
    seen: list[tuple[Any, ...]] = []

    def call(provider: str, *args: Any, **kwargs: Any) -> str:
        seen.append((provider, args, kwargs))
        if len(seen) == 1:
            raise RuntimeError("flaky")
        return provider

    retry = tenacity.Retrying(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_none())
    fn = routed(providers=["a", "b"], retry=retry, on_event=lambda e: None)(call)
    assert fn(1, 2, key="v") == "a"
    assert seen == [("a", (1, 2), {"key": "v"})] * 2


# 8 -- a success after the cooldown lapsed clears the escalation level ------------------


def test_a_success_after_a_lapsed_cooldown_resets_escalation():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, max_duration=100, clock=clock, half_open=False)
    assert tracker.record_failure("a", RuntimeError()) == 10
    clock.advance(10)  # the cooldown is over; the level is kept for the window
    assert tracker.snapshot()["a"].level == 0
    tracker.record_success("a")
    assert tracker.record_failure("a", RuntimeError()) == 10  # not 20: escalation restarted


def test_without_a_success_the_next_cooldown_escalates():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, max_duration=100, clock=clock, half_open=False)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.record_failure("a", RuntimeError()) == 20


# 9 -- boundaries of the escalation settings ------------------------------------------


def test_max_duration_equal_to_duration_is_accepted_and_caps_at_once():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, max_duration=10, clock=clock, half_open=False)
    for _ in range(3):
        assert tracker.record_failure("a", RuntimeError()) == 10
        clock.advance(10)
    with pytest.raises(InvalidConfigError, match=r"9\.99"):
        InMemoryCooldown(10, max_duration=9.99)


def test_a_multiplier_between_one_and_two_escalates_by_itself():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, max_duration=100, multiplier=1.5, clock=clock, half_open=False)
    lengths = []
    for _ in range(3):
        lengths.append(tracker.record_failure("a", RuntimeError()))
        clock.advance(lengths[-1])
    assert lengths == [10, 15, 22.5]
    with pytest.raises(InvalidConfigError, match=r"multiplier must be >= 1, got 0\.99"):
        InMemoryCooldown(10, max_duration=100, multiplier=0.99)
    flat = InMemoryCooldown(10, max_duration=100, multiplier=1, clock=clock, half_open=False)
    flat.record_failure("a", RuntimeError())
    clock.advance(10)
    assert flat.record_failure("a", RuntimeError()) == 10  # multiplier 1: no growth


# 13 -- classification edges ----------------------------------------------------------


class Response:
    """An HTTP response object without a status code (a streaming stub, say)."""


class ResponseError(Exception):
    def __init__(self) -> None:
        super().__init__("no status")
        self.response = Response()


def test_an_error_whose_response_has_no_status_code_is_counted_and_falls_back():
    assert status_of(ResponseError()) is None
    assert default_cooldown_on(ResponseError()) is True
    calls: list[str] = []

    def call(provider: str) -> str:
        calls.append(provider)
        if provider == "a":
            raise ResponseError
        return provider

    fn = routed(providers=["a", "b"])(call)
    assert fn() == "b"
    assert fn() == "b"
    assert calls == ["a", "b", "b"]  # counted: a was benched


@pytest.fixture
def far_timezone() -> Iterator[None]:
    """Run with the process' local time twelve hours away from UTC."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"  # UTC+14
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


class HeaderError(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("429")
        self.headers = headers


def test_an_http_date_retry_after_does_not_depend_on_the_local_timezone(far_timezone):
    in_two_minutes = email.utils.formatdate(time.time() + 120, usegmt=True)
    seconds = retry_after_of(HeaderError({"Retry-After": in_two_minutes}))
    assert seconds is not None
    assert 115 <= seconds <= 121


# -- a probe in flight, seen by another call -----------------------------------------------


def claim_probe_when(provider: str, tracker: InMemoryCooldown, events: list[Event]):
    """A hook that, when ``provider`` fails, claims another provider's probe: the race of
    another call claiming it between this call's plan and its reaching that provider."""

    def hook(event: Event) -> None:
        events.append(event)
        if type(event).__name__ == "AttemptFailed" and event.provider == provider:
            for name in ("a", "t"):
                tracker.try_probe(name)

    return hook


def test_a_call_meeting_a_probe_claimed_meanwhile_skips_it_and_says_why(logs):
    from fallback_router import ProviderSkipped

    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError("a down"))
    clock.advance(11)  # a is half-open: planned as available
    events: list[Event] = []
    broken = {"x"}

    def call(provider: str) -> str:
        if provider in broken:
            raise RuntimeError(f"{provider} down")
        return provider

    fn = routed(
        providers=["x", "a", "c"],
        cooldown=tracker,
        exempt={"x"},
        on_event=claim_probe_when("x", tracker, events),
    )(call)
    result = fn.route()
    assert (result.provider, result.attempt, result.skipped) == ("c", 2, ("a",))
    left = tracker.remaining("a")  # how long the probe may still hold a
    assert left > 0
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason, e.remaining) for e in skips] == [("a", "probe in flight", left)]
    assert logs.find(f"skipping provider in cooldown: a ({left:.1f} s left)")
    tracker.end_probe("a")
    broken.add("c")
    with pytest.raises(AllProvidersFailedError) as failed:
        fn()
    assert failed.value.message == "all providers failed (x, c); skipped in cooldown: a"
    tracker.end_probe("a")


def test_a_terminus_whose_probe_was_claimed_meanwhile_is_still_attempted():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("t", RuntimeError("t down"))
    clock.advance(11)  # the terminus is half-open
    events: list[Event] = []

    def call(provider: str) -> str:
        if provider == "x":
            raise RuntimeError("x down")
        return provider

    fn = routed(
        providers=["x", "t"],
        cooldown=tracker,
        exempt={"x"},
        on_event=claim_probe_when("x", tracker, events),
    )(call)
    result = fn.route()  # t's probe is held elsewhere, but t is the terminus: attempted
    assert (result.provider, result.attempt, result.was_terminus) == ("t", 2, True)
    forced = [e for e in events if isinstance(e, TerminusForced)]
    # The probe may hold t until its state lapses: cooldown end (1010) + window (10) - now.
    assert [(e.provider, e.remaining) for e in forced] == [("t", 9.0)]
    assert tracker.snapshot() == {}  # t served: its state (and the stray probe) cleared


def test_a_budget_that_runs_out_says_so_and_keeps_the_last_error_as_cause():
    from fallback_router import DeadlineExceededError

    clock = FakeClock()

    def call(provider: str) -> str:
        clock.advance(3)
        raise RuntimeError(f"{provider} down")

    events: list[Event] = []
    fn = routed(
        providers=["a", "b", "c"], timeout=5, clock=clock, cooldown=None, on_event=events.append
    )(call)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    error = info.value
    assert str(error) == "time budget of 5.0 s ran out after 2 attempt(s)"
    assert error.timeout == 5.0
    assert [a.provider for a in error.attempts] == ["a", "b"]
    assert str(error.__cause__) == "b down"
    failed = [e for e in events if type(e).__name__ == "CallFailed"]
    assert len(failed) == 1
    assert failed[0].error is error
    assert failed[0].function.endswith("call")


# -- InMemoryCooldown details (found by mutation testing) ----------------------------------


class RetryAfter(Exception):
    def __init__(self, seconds: float | str) -> None:
        super().__init__("429")
        self.retry_after = seconds


def test_end_probe_makes_the_provider_probeable_again():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    assert tracker.try_probe("a") is None  # in cooldown: nothing to probe yet
    clock.advance(10)
    assert tracker.try_probe("a") is True
    assert tracker.try_probe("a") is False  # held
    assert tracker.remaining("a") == 10.0  # held at most until the state lapses
    clock.advance(9.5)
    assert tracker.remaining("a") == 0.5
    tracker.end_probe("a")  # released without a verdict
    assert tracker.remaining("a") == 0.0
    assert tracker.try_probe("a") is True
    tracker.end_probe("b")  # a provider without a probe: nothing happens


def test_a_failed_probe_benches_again_and_the_next_cooldown_end_is_probed_again():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.try_probe("a") is True
    assert tracker.record_failure("a", RuntimeError()) == 10  # the probe failed
    assert tracker.try_probe("a") is None  # benched again, not "probed elsewhere"
    clock.advance(10)
    assert tracker.try_probe("a") is True  # the next probe is not blocked by the old one


def test_snapshot_values_for_each_kind_of_state():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, threshold=2, clock=clock)
    tracker.record_failure("counted", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    snap = tracker.snapshot()
    assert snap["counted"] == CooldownState(
        remaining=0.0, consecutive_failures=1, level=0, length=0.0, half_open=False
    )
    assert snap["benched"] == CooldownState(
        remaining=10.0, consecutive_failures=0, level=0, length=10.0, half_open=False
    )
    clock.advance(10)
    assert tracker.snapshot()["benched"].half_open is True


def test_a_later_deadline_keeps_its_length():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    assert tracker.record_failure("a", RetryAfter(100)) == 100
    assert tracker.record_failure("a", RuntimeError()) == 100  # the later deadline wins
    assert tracker.snapshot()["a"].length == 100


def test_retry_after_zero_means_no_cooldown_and_no_state():
    tracker = InMemoryCooldown(10, clock=FakeClock())
    assert tracker.record_failure("a", RetryAfter(0)) == 0.0
    assert tracker.snapshot() == {}
    assert tracker.try_probe("a") is None


def test_retry_after_is_capped_at_an_hour_in_memory_too():
    tracker = InMemoryCooldown(10, clock=FakeClock())
    assert tracker.record_failure("a", RetryAfter(7200)) == 3600
    assert tracker.record_failure("b", RuntimeError()) == 10  # no hint: the duration


def test_an_unparsable_retry_after_is_logged_with_its_provider(logs):
    tracker = InMemoryCooldown(10, clock=FakeClock())
    assert tracker.record_failure("a", RetryAfter("soon")) == 10
    [record] = logs.find("unparsable Retry-After")
    assert record["extra"]["provider"] == "a"
    assert record["message"] == "unparsable Retry-After from a: 'soon'; using the normal cooldown"


def test_half_open_must_be_a_bool():
    with pytest.raises(InvalidConfigError, match="half_open must be a bool, got 'yes'"):
        InMemoryCooldown(10, half_open="yes")  # type: ignore[arg-type]


def test_a_probe_held_by_another_call_is_planned_as_cooldown():
    """Planning sees a held probe as time left (reason "cooldown"), like a cooldown."""
    from fallback_router import ProviderSkipped

    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.try_probe("a") is True  # another call probes a
    events: list[Event] = []
    fn = routed(providers=["a", "b"], cooldown=tracker, on_event=events.append)(lambda p: p)
    assert fn.route().skipped == ("a",)
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason, e.remaining) for e in skips] == [("a", "cooldown", 10.0)]


def test_long_invalid_values_are_shown_cut_at_40_characters():
    forty = "x" * 38  # repr adds the quotes: exactly 40 characters, shown whole
    with pytest.raises(InvalidConfigError) as shown:
        InMemoryCooldown(forty)  # type: ignore[arg-type]
    assert str(shown.value) == f"duration must be a finite number > 0, got '{forty}'"
    with pytest.raises(InvalidConfigError) as cut:
        InMemoryCooldown(10**400)
    assert str(cut.value) == "duration must be a finite number > 0, got " + "1" + "0" * 36 + "..."


def test_jitter_may_lengthen_a_cooldown_past_an_hour_without_max_duration(monkeypatch):
    import random

    monkeypatch.setattr(random, "random", lambda: 1.0)
    tracker = InMemoryCooldown(3600, jitter=0.5, clock=FakeClock())
    assert tracker.record_failure("a", RuntimeError()) == 5400  # only Retry-After is capped


def test_failure_counts_lapse_after_the_window():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, threshold=3, clock=clock)
    tracker.record_failure("a", RuntimeError())
    tracker.record_failure("a", RuntimeError())
    assert tracker.snapshot()["a"].consecutive_failures == 2
    clock.advance(9.9)
    assert tracker.snapshot()["a"].consecutive_failures == 2
    clock.advance(0.1)  # the window (the duration, without max_duration) has passed
    assert tracker.snapshot() == {}
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # counting starts again
    assert tracker.snapshot()["a"].consecutive_failures == 1
