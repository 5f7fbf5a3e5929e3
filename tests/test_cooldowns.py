"""Cooldown trackers (DESIGN §6): one contract run against every tracker (in memory and
Redis), then the in-memory tracker's escalation, threshold, jitter, windows and validation,
and trackers that implement only the protocol.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fallback_router import (
    CooldownState,
    CooldownTracker,
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, Fleet, RetryAfter


@pytest.fixture(params=["memory", "redis"])
def make_tracker(request: pytest.FixtureRequest):
    """Build a tracker of each implementation with the same options."""
    if request.param == "memory":
        return lambda **options: InMemoryCooldown(**options)
    client = request.getfixturevalue("redis_client")
    return lambda **options: RedisCooldown(client, **options)


def close(actual: float, expected: float, tolerance: float = 0.5) -> bool:
    """Equal within ``tolerance`` s: Redis TTLs run on the server's real clock."""
    return abs(actual - expected) <= tolerance


# -- the contract, for every implementation ------------------------------------------------


def test_tracker_implements_the_protocol(make_tracker):
    """Both trackers satisfy the runtime-checkable protocol."""
    assert isinstance(make_tracker(), CooldownTracker)


def test_every_tracker_claims_probes_for_30_seconds_by_default(make_tracker):
    """probe_ttl defaults to 30 s in every tracker (one shared default), and passing it still
    sets it: the hold a crashed prober keeps the provider benched."""
    assert make_tracker().probe_ttl == 30.0
    assert make_tracker(probe_ttl=5).probe_ttl == 5.0


def test_fresh_tracker_has_everything_available(make_tracker):
    """Nothing is in cooldown and there is no state at first."""
    tracker = make_tracker()
    assert tracker.is_available("a")
    assert tracker.remaining("a") == 0.0
    assert dict(tracker.snapshot()) == {}


def test_a_counted_failure_starts_a_cooldown_of_duration(make_tracker):
    """With threshold 1, one failure puts the provider into cooldown for `duration`."""
    tracker = make_tracker(duration=30)
    assert tracker.record_failure("a", RuntimeError()) > 0.0
    assert not tracker.is_available("a")
    assert close(tracker.remaining("a"), 30)
    assert tracker.is_available("b")
    state = tracker.snapshot()["a"]
    assert isinstance(state, CooldownState)
    assert close(state.remaining, 30)


def test_threshold_counts_consecutive_failures(make_tracker):
    """Only the threshold-th consecutive failure trips the cooldown; benched, the count shows it."""
    tracker = make_tracker(duration=30, threshold=3)
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.snapshot()["a"].consecutive_failures == 2
    assert tracker.is_available("a")
    assert tracker.record_failure("a", RuntimeError()) > 0.0
    assert not tracker.is_available("a")
    assert tracker.snapshot()["a"].consecutive_failures == 3  # the count that tripped it


def test_success_resets_the_failure_count(make_tracker):
    """A success in between means the failures are not consecutive."""
    tracker = make_tracker(duration=30, threshold=2)
    tracker.record_failure("a", RuntimeError())
    tracker.record_success("a")
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.is_available("a")


def test_success_clears_an_active_cooldown(make_tracker):
    """A provider that served a call (the forced terminus) is available again."""
    tracker = make_tracker(duration=30)
    tracker.record_failure("a", RuntimeError())
    tracker.record_success("a")
    assert tracker.is_available("a")
    assert "a" not in tracker.snapshot()


def test_reset_one_or_all(make_tracker):
    """reset(name) forgets one provider, reset() all of them."""
    tracker = make_tracker(duration=30)
    tracker.record_failure("a", RuntimeError())
    tracker.record_failure("b", RuntimeError())
    tracker.reset("a")
    assert tracker.is_available("a")
    assert not tracker.is_available("b")
    tracker.reset()
    assert tracker.is_available("b")
    assert dict(tracker.snapshot()) == {}


def test_retry_after_sets_the_cooldown_length(make_tracker):
    """A Retry-After on the error replaces the normal duration."""
    tracker = make_tracker(duration=60)
    tracker.record_failure("a", RetryAfter(5))
    assert close(tracker.remaining("a"), 5)


def test_retry_after_is_clamped_to_max_duration(make_tracker):
    """A huge Retry-After is clamped to max_duration."""
    tracker = make_tracker(duration=10, max_duration=100)
    tracker.record_failure("a", RetryAfter(10**9))
    assert close(tracker.remaining("a"), 100)


def test_retry_after_without_max_is_clamped_to_an_hour(make_tracker):
    """Without max_duration a Retry-After counts up to one hour; without a hint, the duration."""
    tracker = make_tracker(duration=10)
    assert close(tracker.record_failure("a", RetryAfter(7200)), 3600, 0.01)
    assert close(tracker.remaining("a"), 3600)
    tracker.record_failure("huge", RetryAfter("9" * 400))
    assert close(tracker.remaining("huge"), 3600)
    assert close(tracker.record_failure("b", RuntimeError()), 10, 0.01)


def test_the_later_deadline_wins(make_tracker):
    """A shorter new cooldown never shortens a longer one in force, which is reported and kept."""
    tracker = make_tracker(duration=10)
    assert close(tracker.record_failure("a", RetryAfter(100)), 100, 0.01)
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # a longer one is in force
    assert close(tracker.remaining("a"), 100)
    assert tracker.snapshot()["a"].length == 100


def test_zero_retry_after_means_no_cooldown(make_tracker, logs):
    """Retry-After: 0 says the provider may be called again now: no cooldown, no state."""
    tracker = make_tracker(duration=10)
    assert tracker.record_failure("a", RetryAfter(0)) == 0.0
    assert tracker.is_available("a")
    assert dict(tracker.snapshot()) == {}
    assert tracker.try_probe("a") is None  # nothing to probe
    assert not logs.find("redis unavailable")  # (Redis: the script did not fail over)


def test_unparsable_retry_after_falls_back_to_duration_and_logs(make_tracker, logs):
    """An unparsable Retry-After uses the normal duration and says so in the log."""
    tracker = make_tracker(duration=20)
    tracker.record_failure("a", RetryAfter("soon-ish"))
    assert close(tracker.remaining("a"), 20)
    [record] = logs.find("unparsable Retry-After")
    assert record["extra"]["value"] == "soon-ish"


def test_remaining_many_reads_every_provider(make_tracker):
    """remaining_many returns each provider's cooldown in order (or () when clean)."""
    tracker = make_tracker(duration=30)
    assert list(tracker.remaining_many(["a", "b"])) in ([], [0.0, 0.0])
    tracker.record_failure("b", RuntimeError())
    left = tracker.remaining_many(["a", "b"])
    assert left[0] == 0.0
    assert close(left[1], 30)


def test_snapshot_values_for_each_kind_of_state(make_tracker):
    """snapshot(): a count below the threshold, and a cooldown with the count that tripped it."""
    tracker = make_tracker(duration=10, threshold=2)
    tracker.record_failure("counted", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    snap = tracker.snapshot()
    assert set(snap) == {"counted", "benched"}
    assert snap["counted"] == CooldownState(
        remaining=0.0, consecutive_failures=1, level=0, length=0.0, half_open=False
    )
    benched = snap["benched"]
    assert close(benched.remaining, 10)
    assert (benched.consecutive_failures, benched.level, benched.length) == (2, 0, 10.0)
    assert benched.half_open is False


def test_failures_during_a_cooldown_do_not_escalate(make_tracker):
    """A burst of failures during a cooldown (threads, a forced terminus) keeps its level."""
    tracker = make_tracker(duration=10, max_duration=1000)
    assert close(tracker.record_failure("a", RuntimeError()), 10, 0.01)
    for _ in range(5):
        tracker.record_failure("a", RuntimeError())
    assert tracker.snapshot()["a"].level == 0
    assert close(tracker.remaining("a"), 10)


def test_a_failure_during_a_cooldown_reports_only_what_it_starts_or_extends(clock):
    """In memory: 0.0 while a cooldown at least as long is in force; a later end extends it."""
    tracker = InMemoryCooldown(10, clock=clock)
    assert tracker.record_failure("a", RuntimeError()) == 10
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # the same end: nothing new
    clock.advance(4)
    assert tracker.record_failure("a", RuntimeError()) == 10  # 6 s left: a fresh 10 s
    assert tracker.remaining("a") == 10
    assert tracker.record_failure("a", RetryAfter(30)) == 30
    assert tracker.record_failure("a", RetryAfter(5)) == 0.0
    assert tracker.remaining("a") == 30


def test_a_cooldown_that_ended_is_half_open_in_the_snapshot(clock):
    """In memory: once the cooldown is over, the snapshot says half-open until a verdict."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    assert tracker.snapshot()["a"].half_open is False
    clock.advance(10)
    assert tracker.snapshot()["a"].half_open is True


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"duration": 0}, "duration"),
        ({"duration": -1}, "duration"),
        ({"duration": float("nan")}, "duration"),
        ({"duration": float("inf")}, "duration"),
        ({"duration": "60"}, "duration"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": True}, "threshold"),
        ({"max_duration": 5, "duration": 10}, "max_duration"),
        ({"max_duration": float("nan")}, "max_duration"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"multiplier": float("nan")}, "multiplier"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": 1.5}, "jitter"),
        ({"clock": 5}, "clock"),
    ],
)
def test_invalid_arguments_name_the_argument(options: dict[str, Any], argument: str):
    """Every invalid argument is an InvalidConfigError that names it."""
    with pytest.raises(InvalidConfigError, match=argument):
        InMemoryCooldown(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": 0}, "duration must be a finite number > 0, got 0"),
        ({"max_duration": 5}, "max_duration (5) must be >= duration (10)"),
        ({"max_duration": -1}, "max_duration must be a finite number > 0, got -1"),
        ({"multiplier": 0.5}, "multiplier must be >= 1, got 0.5"),
        ({"multiplier": float("nan")}, "multiplier must be a finite number > 0, got nan"),
        ({"jitter": -1}, "jitter must be a finite number >= 0, got -1"),
        ({"jitter": 2}, "jitter must be between 0 and 1, got 2"),
        ({"threshold": 0}, "threshold must be an int >= 1, got 0"),
        ({"half_open": 1}, "half_open must be a bool, got 1"),
        (
            {"duration": 10**400},
            "duration must be a finite number > 0, got " + "1" + "0" * 36 + "...",
        ),
    ],
)
def test_cooldown_errors_word_for_word(options, message):
    """Each bad tracker option is an InvalidConfigError naming the value, exactly."""
    from fallback_router import InMemoryCooldown

    options = {"duration": 10, **options}
    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        InMemoryCooldown(options.pop("duration"), **options)


def test_long_invalid_values_are_shown_cut_at_40_characters():
    """A bad value is shown whole up to 40 characters, then cut with '...'."""
    forty = "x" * 38  # repr adds the quotes: exactly 40 characters, shown whole
    with pytest.raises(InvalidConfigError) as shown:
        InMemoryCooldown(forty)  # type: ignore[arg-type]
    assert str(shown.value) == f"duration must be a finite number > 0, got '{forty}'"
    with pytest.raises(InvalidConfigError) as cut:
        InMemoryCooldown(10**400)
    assert str(cut.value) == "duration must be a finite number > 0, got " + "1" + "0" * 36 + "..."


@pytest.mark.parametrize("argument", ["duration", "max_duration", "multiplier", "jitter"])
def test_tracker_numbers_reject_huge_ints(argument):
    """Tracker policy numbers reject 10**400 with InvalidConfigError."""
    with pytest.raises(InvalidConfigError, match=argument):
        InMemoryCooldown(**{argument: 10**400})


# -- in memory, on an injected clock -------------------------------------------------------


def test_cooldown_ends_after_duration(clock):
    """The provider is available again once its deadline passes."""
    tracker = InMemoryCooldown(30, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(29.9)
    assert not tracker.is_available("a")
    assert tracker.remaining("a") == pytest.approx(0.1)
    clock.advance(0.1)
    assert tracker.is_available("a")
    assert tracker.remaining("a") == 0.0


def test_default_clock_is_looked_up_at_call_time(frozen):
    """Without clock=, freezegun's time.monotonic drives the tracker."""
    tracker = InMemoryCooldown(60)
    tracker.record_failure("a", RuntimeError())
    frozen.tick(59)
    assert tracker.remaining("a") == pytest.approx(1)
    frozen.tick(1)
    assert tracker.is_available("a")


def test_expired_state_does_not_accumulate(clock):
    """After the cooldown and the escalation window, nothing is left."""
    tracker = InMemoryCooldown(10, max_duration=40, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.snapshot()["a"].level == 0  # escalation memory lasts a window
    clock.advance(40.001)
    assert tracker.snapshot() == {}
    assert tracker._deadlines == {}
    assert tracker._levels == {}


def test_without_max_duration_state_is_gone_after_the_base_duration(clock):
    """Without a maximum, a provider healthy for longer than `duration` has no state."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(20.001)
    assert tracker.snapshot() == {}


def test_failures_further_apart_than_the_window_do_not_add_up(clock):
    """A failure long after the previous one starts a new count."""
    tracker = InMemoryCooldown(10, threshold=2, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10.5)
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.record_failure("a", RuntimeError()) > 0.0


def test_failure_counts_lapse_after_the_window():
    """Counted failures lapse one window (here: the duration) after the last one."""
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


def test_an_unparsable_retry_after_is_logged_with_its_provider(logs):
    """An unparsable Retry-After is logged with the provider and its value, word for word."""
    tracker = InMemoryCooldown(10, clock=FakeClock())
    assert tracker.record_failure("a", RetryAfter("soon")) == 10
    [record] = logs.find("unparsable Retry-After")
    assert record["extra"]["provider"] == "a"
    assert record["message"] == "unparsable Retry-After from a: 'soon'; using the normal cooldown"


def test_availability_check_does_not_wait_for_the_write_lock(clock):
    """is_available / remaining never queue behind a writer holding the lock."""
    tracker = InMemoryCooldown(30, clock=clock)
    tracker.record_failure("a", RuntimeError())
    results: list[object] = []
    with tracker._lock:
        reader = threading.Thread(
            target=lambda: results.extend(
                [tracker.is_available("a"), tracker.remaining("a"), tracker.remaining_many(["a"])]
            )
        )
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive()
    assert results == [False, 30.0, [30.0]]


def test_repr_is_readable():
    """The tracker's repr shows its settings."""
    assert "duration=60.0" in repr(InMemoryCooldown())


# -- escalation ----------------------------------------------------------------------------


def test_escalation_doubles_up_to_max_duration(clock):
    """Re-entering soon after leaving doubles the cooldown, capped at max_duration."""
    tracker = InMemoryCooldown(10, max_duration=50, clock=clock)
    lengths = []
    for _ in range(5):
        tracker.record_failure("a", RuntimeError())
        left = tracker.remaining("a")
        lengths.append(left)
        clock.advance(left)
    assert lengths == [10, 20, 40, 50, 50]
    assert tracker.snapshot()["a"].level == 4


def test_without_a_success_the_next_cooldown_escalates():
    """Failing again after a cooldown, with no success between, doubles the length."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, max_duration=100, clock=clock, half_open=False)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.record_failure("a", RuntimeError()) == 20


def test_success_resets_escalation(clock):
    """After a success the next cooldown is the base one again."""
    tracker = InMemoryCooldown(10, max_duration=100, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining("a") == 20
    clock.advance(20)
    tracker.record_success("a")
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining("a") == 10


def test_a_success_after_a_lapsed_cooldown_resets_escalation():
    """A success after a cooldown ended (its level still remembered) restarts escalation."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, max_duration=100, clock=clock, half_open=False)
    assert tracker.record_failure("a", RuntimeError()) == 10
    clock.advance(10)  # the cooldown is over; the level is kept for the window
    assert tracker.snapshot()["a"].level == 0
    tracker.record_success("a")
    assert tracker.record_failure("a", RuntimeError()) == 10  # not 20: escalation restarted


def test_escalation_is_forgotten_after_a_healthy_window(clock):
    """A provider healthy for longer than max_duration starts from the base again."""
    tracker = InMemoryCooldown(10, max_duration=30, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10 + 30.001)
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining("a") == 10


def test_max_duration_equal_to_duration_is_accepted_and_caps_at_once():
    """max_duration == duration is valid and caps every cooldown; below it is refused."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, max_duration=10, clock=clock, half_open=False)
    for _ in range(3):
        assert tracker.record_failure("a", RuntimeError()) == 10
        clock.advance(10)
    with pytest.raises(InvalidConfigError, match=r"9\.99"):
        InMemoryCooldown(10, max_duration=9.99)


def test_a_multiplier_between_one_and_two_escalates_by_itself():
    """multiplier=1.5 grows 10, 15, 22.5; 1 keeps the length; below 1 is refused."""
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


def test_escalation_arithmetic_never_overflows(clock):
    """Huge multipliers and levels clamp to max_duration instead of overflowing."""
    tracker = InMemoryCooldown(1, max_duration=3600, multiplier=1e300, clock=clock)
    for _ in range(6):
        tracker.record_failure("a", RuntimeError())
        clock.advance(tracker.remaining("a"))
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining("a") == 3600


# -- jitter --------------------------------------------------------------------------------


def test_jitter_adds_up_to_the_fraction_and_respects_the_cap(clock):
    """Jitter lengthens a cooldown by at most `jitter` of it, never past max_duration."""
    lengths = set()
    for _ in range(200):
        tracker = InMemoryCooldown(10, jitter=0.5, clock=clock)
        tracker.record_failure("a", RuntimeError())
        lengths.add(tracker.remaining("a"))
    assert all(10 <= x <= 15 for x in lengths)
    assert len(lengths) > 100
    capped = InMemoryCooldown(10, max_duration=12, jitter=1.0, clock=clock)
    for _ in range(50):
        capped.reset()
        capped.record_failure("a", RuntimeError())
        assert capped.remaining("a") <= 12


def test_jitter_may_lengthen_a_cooldown_past_an_hour_without_max_duration(monkeypatch):
    """Only Retry-After is capped at an hour: jitter may lengthen a long duration past it."""
    import random

    monkeypatch.setattr(random, "random", lambda: 1.0)
    tracker = InMemoryCooldown(3600, jitter=0.5, clock=FakeClock())
    assert tracker.record_failure("a", RuntimeError()) == 5400  # only Retry-After is capped


# -- random histories ----------------------------------------------------------------------


operations = st.lists(
    st.one_of(
        st.tuples(st.just("fail"), st.sampled_from("ab"), st.none()),
        st.tuples(st.just("fail"), st.sampled_from("ab"), st.floats(0, 10_000)),
        st.tuples(st.just("succeed"), st.sampled_from("ab"), st.none()),
        st.tuples(st.just("wait"), st.none(), st.floats(0, 500)),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(ops=operations, threshold=st.integers(1, 3), capped=st.booleans())
def test_tracker_invariants_over_random_histories(ops, threshold, capped):
    """Whatever happens: remaining stays in [0, cap], deadlines never shrink, counts stay in range."""
    now = [0.0]
    max_duration = 300.0 if capped else None
    tracker = InMemoryCooldown(
        10, threshold=threshold, max_duration=max_duration, clock=lambda: now[0]
    )
    cap = max_duration if max_duration is not None else 3600.0
    for op, name, value in ops:
        if op == "wait":
            now[0] += value
        elif op == "succeed":
            tracker.record_success(name)
            assert tracker.is_available(name)
        else:
            before = tracker.remaining(name)
            error = RuntimeError() if value is None else RetryAfter(value)
            tracker.record_failure(name, error)
            assert tracker.remaining(name) >= before  # the later deadline wins
        for provider in "ab":
            left = tracker.remaining(provider)
            assert 0.0 <= left <= cap + 1e-9  # deadline - now: float rounding
            assert tracker.is_available(provider) == (left == 0.0)
        for state in tracker.snapshot().values():
            if state.remaining > 0 and not state.half_open:  # benched: the tripping count
                assert 1 <= state.consecutive_failures <= threshold
            else:
                assert 0 <= state.consecutive_failures < threshold


# -- routers recording with their tracker --------------------------------------------------


def test_success_is_recorded_with_the_tracker(clock):
    """A success clears the provider's counted failures."""
    tracker = InMemoryCooldown(60, threshold=3, clock=clock)
    fleet = Fleet("a")
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet)
    fn()
    fn()
    assert tracker.snapshot()["a"].consecutive_failures == 2
    fleet.failing.clear()
    fn()
    assert "a" not in tracker.snapshot()


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


# -- trackers with only the protocol -------------------------------------------------------


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
    """A tracker with the protocol's methods only: calls skip, force the terminus, recover."""
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


def test_a_tracker_without_remaining_many_still_clears_counts_on_success():
    """The protocol's minimum (remaining, not remaining_many): successes still clear."""

    class Minimal:
        def __init__(self) -> None:
            self.inner = InMemoryCooldown(30, threshold=2)

        def remaining(self, name):
            return self.inner.remaining(name)

        def is_available(self, name):
            return self.inner.is_available(name)

        def record_failure(self, name, error):
            return self.inner.record_failure(name, error)

        def record_success(self, name):
            self.inner.record_success(name)

        def reset(self, name=None):
            self.inner.reset(name)

        def snapshot(self):
            return self.inner.snapshot()

    state = {"fail": True}

    def call(provider):
        if provider == "a" and state["fail"]:
            raise Boom
        return provider

    tracker = Minimal()
    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    assert fn() == "b"  # a: one failure, below the threshold
    state["fail"] = False
    assert fn() == "a"  # success: the count is cleared
    state["fail"] = True
    assert fn() == "b"  # one failure again: still below the threshold
    assert tracker.inner.is_available("a")
