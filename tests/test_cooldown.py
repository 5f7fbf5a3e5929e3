"""Cooldown trackers (DESIGN §6): one contract for every tracker, then in-memory specifics."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from fallback_router import (
    CooldownState,
    CooldownTracker,
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
)


class RateLimited(Exception):
    def __init__(self, retry_after: object = None) -> None:
        super().__init__("429")
        self.retry_after = retry_after


@pytest.fixture(params=["memory", "redis"])
def make_tracker(request: pytest.FixtureRequest):
    """Build a tracker of each implementation with the same options."""
    if request.param == "memory":
        return lambda **options: InMemoryCooldown(**options)
    client = request.getfixturevalue("redis_client")
    return lambda **options: RedisCooldown(client, **options)


def close(actual: float, expected: float, tolerance: float = 0.5) -> bool:
    return abs(actual - expected) <= tolerance


# -- the contract, for every implementation ------------------------------------------


def test_tracker_implements_the_protocol(make_tracker):
    """Both trackers satisfy the runtime-checkable protocol."""
    assert isinstance(make_tracker(), CooldownTracker)


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
    """Only the threshold-th consecutive failure trips the cooldown; the count resets."""
    tracker = make_tracker(duration=30, threshold=3)
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.snapshot()["a"].consecutive_failures == 2
    assert tracker.is_available("a")
    assert tracker.record_failure("a", RuntimeError()) > 0.0
    assert not tracker.is_available("a")
    assert tracker.snapshot()["a"].consecutive_failures == 0


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
    tracker.record_failure("a", RateLimited(retry_after=5))
    assert close(tracker.remaining("a"), 5)


def test_retry_after_is_clamped_to_max_duration(make_tracker):
    """A huge Retry-After is clamped to max_duration."""
    tracker = make_tracker(duration=10, max_duration=100)
    tracker.record_failure("a", RateLimited(retry_after=10**9))
    assert close(tracker.remaining("a"), 100)


def test_retry_after_without_max_is_clamped_to_an_hour(make_tracker):
    """Without max_duration, Retry-After is honoured up to one hour."""
    tracker = make_tracker(duration=10)
    tracker.record_failure("a", RateLimited(retry_after="9" * 400))
    assert close(tracker.remaining("a"), 3600)


def test_the_later_deadline_wins(make_tracker):
    """A shorter new cooldown never shortens an existing one."""
    tracker = make_tracker(duration=10)
    tracker.record_failure("a", RateLimited(retry_after=50))
    tracker.record_failure("a", RuntimeError())
    assert close(tracker.remaining("a"), 50)


def test_zero_retry_after_means_no_cooldown(make_tracker):
    """Retry-After: 0 says the provider may be called again now."""
    tracker = make_tracker(duration=10)
    assert tracker.record_failure("a", RateLimited(retry_after=0)) == 0.0
    assert tracker.is_available("a")


def test_unparsable_retry_after_falls_back_to_duration_and_logs(make_tracker, logs):
    """An unparsable Retry-After uses the normal duration and says so in the log."""
    tracker = make_tracker(duration=20)
    tracker.record_failure("a", RateLimited(retry_after="soon-ish"))
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


# -- validation --------------------------------------------------------------------------


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


# -- in-memory specifics with an injected clock ---------------------------------------


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


def test_escalation_is_forgotten_after_a_healthy_window(clock):
    """A provider healthy for longer than max_duration starts from the base again."""
    tracker = InMemoryCooldown(10, max_duration=30, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10 + 30.001)
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining("a") == 10


def test_failures_during_a_cooldown_do_not_escalate(clock):
    """A burst of failures (threads, a forced terminus) does not escalate the level."""
    tracker = InMemoryCooldown(10, max_duration=1000, clock=clock)
    for _ in range(20):
        tracker.record_failure("a", RuntimeError())
    assert tracker.snapshot()["a"].level == 0
    assert tracker.remaining("a") == 10


def test_escalation_arithmetic_never_overflows(clock):
    """Huge multipliers and levels clamp to max_duration instead of overflowing."""
    tracker = InMemoryCooldown(1, max_duration=3600, multiplier=1e300, clock=clock)
    for _ in range(6):
        tracker.record_failure("a", RuntimeError())
        clock.advance(tracker.remaining("a"))
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining("a") == 3600


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


def test_default_clock_is_looked_up_at_call_time(frozen):
    """Without clock=, freezegun's time.monotonic drives the tracker."""
    tracker = InMemoryCooldown(60)
    tracker.record_failure("a", RuntimeError())
    frozen.tick(59)
    assert tracker.remaining("a") == pytest.approx(1)
    frozen.tick(1)
    assert tracker.is_available("a")


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
