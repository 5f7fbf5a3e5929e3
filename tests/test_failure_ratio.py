"""Failure-ratio cooldowns (`failure_ratio=`, `minimum_calls=`, `sampling=`), in memory and on Redis.

Polly's advanced circuit breaker: a provider also trips when, over the last `sampling`
seconds, it had at least `minimum_calls` outcomes and failures / outcomes >= the ratio.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from fallback_router import (
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
    routed,
)
from fallback_router.testing import FakeClock

from .support.helpers import wait_until

PATIENT = 2.0  # a loaded machine must not make a tracker fail open here
KINDS = ["memory", "redis"]


@pytest.fixture(autouse=True)
def _redis_never_fails_open(request: pytest.FixtureRequest) -> Iterator[None]:
    """A Redis tracker failing open answers from memory: it would pass these tests for Redis."""
    on_redis = "redis_client" in request.fixturenames or "redis" in request.node.name
    logs = request.getfixturevalue("logs") if on_redis else None
    yield
    if logs is not None:
        assert not logs.find("redis unavailable"), "the tracker failed open"
        assert not logs.find("redis misconfigured"), "the tracker failed open"


@pytest.fixture(params=KINDS)
def make(request: pytest.FixtureRequest) -> Any:
    """Build a tracker of the parametrized kind: `make(**options)`."""
    if request.param == "memory":
        return lambda **options: InMemoryCooldown(**options)
    client = request.getfixturevalue("redis_client")
    return lambda **options: RedisCooldown(client, namespace="ratio", op_timeout=PATIENT, **options)


def failures_and_successes(tracker: Any, name: str, successes: int, failures: int) -> list[float]:
    for _ in range(successes):
        tracker.record_success(name)
    return [tracker.record_failure(name, RuntimeError("down")) for _ in range(failures)]


# -- Polly's decision table -----------------------------------------------------------------

# (throughput, minimum throughput, failure ratio seen, failure-ratio threshold, trips)
POLLY = [
    (10, 10, 0.0, 0.1, False),
    (10, 10, 0.1, 0.1, True),
    (10, 10, 0.2, 0.1, True),
    (11, 10, 0.2, 0.1, True),
    (9, 10, 0.1, 0.1, False),
]
# Ours, beyond Polly's: enough outcomes, a ratio below the threshold.
BELOW = [(20, 10, 0.05, 0.1, False), (10, 10, 0.3, 0.5, False), (10, 10, 0.5, 0.5, True)]


@pytest.mark.parametrize(("throughput", "minimum", "ratio", "threshold", "trips"), POLLY + BELOW)
def test_polly_decision_table(make, throughput, minimum, ratio, threshold, trips):
    """Polly's table: the outcomes of one window, failures last, trip exactly when it says."""
    tracker = make(failure_ratio=threshold, minimum_calls=minimum, threshold=1000)
    failures = round(throughput * ratio)
    lengths = failures_and_successes(tracker, "a", throughput - failures, failures)
    assert (tracker.remaining("a") > 0.0) is trips
    assert sum(length > 0.0 for length in lengths) == int(trips)  # later ones: while benched
    state = tracker.snapshot()["a"]
    seen = (state.window_failures, state.window_outcomes)
    assert seen == ((0, 0) if trips else (failures, throughput))


def test_successes_alone_never_trip(make):
    tracker = make(failure_ratio=0.1, minimum_calls=1)
    for _ in range(50):
        tracker.record_success("a")
    assert tracker.is_available("a")
    state = tracker.snapshot()["a"]  # on Redis: the batched successes, sent by the read
    assert (state.window_failures, state.window_outcomes) == (0, 50)


# -- the window -----------------------------------------------------------------------------


def test_outcomes_older_than_sampling_do_not_count():
    clock = FakeClock()
    tracker = InMemoryCooldown(
        failure_ratio=0.5, minimum_calls=10, sampling=30.0, threshold=1000, clock=clock
    )
    failures_and_successes(tracker, "a", 0, 9)
    clock.advance(30.0)  # the nine are now as old as the window: out of it
    assert tracker.record_failure("a", RuntimeError("down")) == 0.0
    state = tracker.snapshot()["a"]
    assert (state.window_failures, state.window_outcomes) == (1, 1)
    # within the window, they count: nine more, then the tenth 29 s later trips
    failures_and_successes(tracker, "a", 0, 8)
    clock.advance(29.0)
    assert tracker.record_failure("a", RuntimeError("down")) == 60.0


def test_buckets_leave_the_window_one_by_one():
    """Buckets of sampling/10: an outcome counts while its bucket started < sampling ago."""
    clock = FakeClock(1000.0)
    tracker = InMemoryCooldown(failure_ratio=0.9, minimum_calls=100, sampling=10.0, clock=clock)
    for i in range(10):
        if i:
            clock.advance(1.0)  # one bucket each: at 1000, 1001, ... 1009
        tracker.record_success("a")
    assert tracker.snapshot()["a"].window_outcomes == 10
    clock.advance(0.999)
    assert tracker.snapshot()["a"].window_outcomes == 10
    clock.advance(0.001)  # 1010: the bucket of 1000 started `sampling` ago
    assert tracker.snapshot()["a"].window_outcomes == 9
    clock.advance(8.0)
    assert tracker.snapshot()["a"].window_outcomes == 1
    clock.advance(1.0)
    assert "a" not in tracker.snapshot()  # every outcome lapsed: no state left


def test_outcomes_older_than_sampling_do_not_count_on_redis(redis_client):
    """The server's clock numbers the buckets: wait (polling it) until the nine are too old."""
    tracker = RedisCooldown(
        redis_client, namespace="old", failure_ratio=0.5, minimum_calls=10, sampling=0.5,
        threshold=1000, op_timeout=PATIENT,
    )  # fmt: skip
    failures_and_successes(tracker, "a", 0, 9)

    def server_time() -> float:
        seconds, micros = redis_client.time()
        return seconds + micros / 1e6

    after = server_time() + 0.6
    while server_time() < after:
        time.sleep(0.02)  # the server's clock, not a cooldown: nothing else can move it
    assert tracker.record_failure("a", RuntimeError("down")) == 0.0
    state = tracker.snapshot()["a"]
    assert (state.window_failures, state.window_outcomes) == (1, 1)


def test_a_bucket_leaves_the_shared_window_exactly_sampling_after_it_started(redis_client):
    """On Redis, buckets of 50 ms (sampling 0.5 s): the bucket that started `sampling` ago is out.

    The failures' bucket is read back from the server; the next failure is sent as soon
    as the server's clock enters the tenth bucket after it (if a loaded machine sends it
    later, the outcome is the same: not tripped).
    """
    tracker = RedisCooldown(
        redis_client, namespace="edge", failure_ratio=0.5, minimum_calls=10, sampling=0.5,
        threshold=1000, op_timeout=PATIENT,
    )  # fmt: skip
    failures_and_successes(tracker, "a", 0, 9)
    fields = redis_client.hgetall("fallback_router:{edge}:window:a")
    newest = max(int(f[1:]) for f in fields if f.startswith(b"n"))

    def bucket() -> int:
        seconds, micros = redis_client.time()
        return (seconds * 1000 + micros // 1000) // 50

    while bucket() < newest + 10:
        time.sleep(0.002)  # the server's clock, not a cooldown
    assert tracker.record_failure("a", RuntimeError("down")) == 0.0
    assert tracker.snapshot()["a"].window_outcomes == 1


@pytest.mark.memory
@pytest.mark.parametrize(
    "calls", [100_000, pytest.param(1_000_000, marks=pytest.mark.slow)], ids=["100k", "1M"]
)
def test_many_outcomes_leave_a_few_buckets(calls):
    """Memory per provider is bounded: outcomes over 1,000 s keep ten buckets, no list of calls."""
    clock = FakeClock()
    tracker = InMemoryCooldown(
        failure_ratio=0.99, minimum_calls=10**9, sampling=3.0, clock=clock, threshold=10**9
    )
    error = RuntimeError("down")

    def record(count: int) -> None:
        for i in range(count):
            if i % 2:
                tracker.record_success("a")
            else:
                tracker.record_failure("a", error)
            clock.advance(0.001)  # a bucket every 300 outcomes

    record(calls)
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        record(20_000)  # 20 s more: every bucket replaced six times over
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert grown < 4_000, grown
    assert len(tracker._windows["a"].buckets) <= 10  # the layout behind it (white box)
    state = tracker.snapshot()["a"]
    assert 2_700 <= state.window_outcomes <= 3_000  # the last 3 s of outcomes, no more
    assert abs(state.window_failures * 2 - state.window_outcomes) <= 1


def test_redis_window_is_one_small_hash_with_an_expiry(redis_client):
    tracker = RedisCooldown(
        redis_client, namespace="small", failure_ratio=0.99, minimum_calls=10**6, sampling=30.0,
        threshold=10**6, op_timeout=PATIENT,
    )  # fmt: skip
    failures_and_successes(tracker, "a", 500, 500)
    key = "fallback_router:{small}:window:a"
    assert redis_client.hlen(key) <= 2 * 10 + 1
    assert 30_000 < redis_client.pttl(key) <= 33_000  # the newest bucket counts 30 s at most
    assert tracker.snapshot()["a"].window_outcomes == 1000


def test_redis_window_drops_old_buckets_as_time_passes(redis_client):
    """Outcomes over 0.6 s of buckets of 20 ms (30 buckets): the hash keeps the last ten."""
    tracker = RedisCooldown(
        redis_client, namespace="rolling", failure_ratio=0.99, minimum_calls=10**6, sampling=0.2,
        threshold=10**6, op_timeout=PATIENT,
    )  # fmt: skip

    def server_ms() -> int:
        seconds, micros = redis_client.time()
        return seconds * 1000 + micros // 1000

    end = server_ms() + 600
    while server_ms() < end:
        tracker.record_failure("a", RuntimeError("down"))  # each prunes the old buckets
    tracker.record_failure("a", RuntimeError("down"))
    assert redis_client.hlen("fallback_router:{rolling}:window:a") <= 2 * 11 + 1


# -- tripping -------------------------------------------------------------------------------


def test_a_trip_empties_the_window_and_benched_outcomes_do_not_count(make):
    tracker = make(failure_ratio=0.5, minimum_calls=4, threshold=1000, duration=60.0)
    assert failures_and_successes(tracker, "a", 2, 2) == [0.0, 60.0]
    state = tracker.snapshot()["a"]
    assert (state.window_failures, state.window_outcomes) == (0, 0)
    # a forced terminus fails while benched: not counted, the cooldown is not extended
    assert failures_and_successes(tracker, "a", 0, 3) == [0.0, 0.0, 0.0]
    tracker.record_success("a", clears_cooldown=False)  # a call that saw it available
    state = tracker.snapshot()["a"]
    assert (state.remaining > 0.0, state.window_outcomes) == (True, 0)


def test_the_consecutive_rule_still_applies_and_its_trip_empties_the_window(make):
    tracker = make(failure_ratio=0.9, minimum_calls=10, threshold=3)
    assert failures_and_successes(tracker, "a", 5, 3) == [0.0, 0.0, 60.0]
    assert tracker.snapshot()["a"].window_outcomes == 0


def test_the_repr_names_the_ratio_options(make):
    assert "failure_ratio=0.4, minimum_calls=10, sampling=30.0" in repr(make(failure_ratio=0.4))
    assert "failure_ratio" not in repr(make())


def test_threshold_defaults_to_minimum_calls_with_a_ratio(make):
    assert make(failure_ratio=0.5, minimum_calls=7).policy.threshold == 7
    assert make().policy.threshold == 1
    assert make(failure_ratio=0.5, threshold=2).policy.threshold == 2


def test_half_open_probe_after_a_ratio_trip():
    """After a ratio trip the probe is judged alone: a failure benches it again (escalated)."""
    clock = FakeClock()
    tracker = InMemoryCooldown(
        10.0, failure_ratio=0.5, minimum_calls=4, max_duration=100.0, clock=clock
    )
    assert failures_and_successes(tracker, "a", 2, 2)[-1] == 10.0
    clock.advance(10.0)
    assert tracker.try_probe("a") is True
    assert tracker.record_failure("a", RuntimeError("still down")) == 20.0  # level 1
    clock.advance(20.0)
    assert tracker.try_probe("a") is True
    tracker.record_success("a")
    state = tracker.snapshot()["a"]  # cleared; the probe's success opens a new window
    assert (state.remaining, state.level, state.window_failures, state.window_outcomes) == (
        0.0,
        0,
        0,
        1,
    )


def test_half_open_probe_after_a_ratio_trip_on_redis(redis_client):
    """On Redis (the server's clock ends the cooldown): a failed probe benches again."""
    tracker = RedisCooldown(
        redis_client, namespace="probe", duration=0.05, max_duration=60.0, failure_ratio=0.5,
        minimum_calls=4, op_timeout=PATIENT,
    )  # fmt: skip
    assert failures_and_successes(tracker, "a", 2, 2)[-1] > 0.0
    assert wait_until(lambda: tracker.snapshot()["a"].half_open)  # the key expired
    assert tracker.try_probe("a") is True
    assert tracker.record_failure("a", RuntimeError("still down")) > 0.0  # whatever the window
    state = tracker.snapshot()["a"]
    assert (state.level, state.window_outcomes) == (1, 0)


def test_invalid_options_name_the_value(make):
    bad: list[tuple[dict[str, Any], str]] = [
        ({"failure_ratio": 0}, "failure_ratio must be a number in (0, 1], got 0"),
        ({"failure_ratio": 1.5}, "got 1.5"),
        ({"failure_ratio": -0.1}, "got -0.1"),
        ({"failure_ratio": math.nan}, "got nan"),
        ({"failure_ratio": "0.5"}, "got '0.5'"),
        ({"failure_ratio": True}, "got True"),
        ({"failure_ratio": 0.5, "minimum_calls": 0}, "minimum_calls must be an int >= 1, got 0"),
        ({"failure_ratio": 0.5, "minimum_calls": 2.5}, "got 2.5"),
        ({"failure_ratio": 0.5, "minimum_calls": True}, "got True"),
        ({"failure_ratio": 0.5, "sampling": 0}, "sampling must be a finite number > 0, got 0"),
        ({"failure_ratio": 0.5, "sampling": math.inf}, "got inf"),
        ({"failure_ratio": 0.5, "sampling": -1}, "got -1"),
        ({"minimum_calls": 5}, "minimum_calls=5, sampling=30.0 shape the failure ratio"),
        ({"sampling": 60}, "minimum_calls=10, sampling=60 shape the failure ratio: they need"),
    ]
    for options, message in bad:
        with pytest.raises(InvalidConfigError) as info:
            make(**options)
        assert message in str(info.value), (options, str(info.value))
    assert make(failure_ratio=1).ratio.ratio == 1.0
    assert make(minimum_calls=10, sampling=30).ratio is None  # the defaults, said aloud


# -- through a routed function --------------------------------------------------------------

PATTERN = [True, False, True, True, False]  # 40 % failures, never two in a row


def flaky_fleet() -> Any:
    calls = {"flaky": 0}

    def provider(name: str) -> str:
        if name == "flaky":
            ok = PATTERN[calls["flaky"] % len(PATTERN)]
            calls["flaky"] += 1
            if not ok:
                raise ConnectionError("flaky")
        return name

    return provider


def test_a_provider_failing_40_percent_trips_through_a_routed_function(make):
    tracker = make(failure_ratio=0.4, minimum_calls=10)
    fn = routed(providers=["flaky", "backup"], cooldown=tracker)(flaky_fleet())
    served = [fn.route().provider for _ in range(9)]
    assert served == ["flaky", "backup", "flaky", "flaky", "backup"] * 1 + [
        "flaky",
        "backup",
        "flaky",
        "flaky",
    ]
    row = fn.router.status()["flaky"]
    assert row.available
    assert (row.window_failures, row.window_outcomes) == (3, 9)
    assert row.failure_ratio == pytest.approx(3 / 9)
    assert fn.route().attempts[0].provider == "flaky"  # the tenth outcome: 4 of 10 failed
    row = fn.router.status()["flaky"]
    assert not row.available
    assert (row.window_outcomes, row.failure_ratio) == (0, None)  # the trip emptied it
    assert [fn() for _ in range(5)] == ["backup"] * 5


def test_without_a_ratio_the_same_provider_never_trips(make):
    """The consecutive rule alone (threshold 2) never sees two failures in a row."""
    fn = routed(providers=["flaky", "backup"], cooldown=make(threshold=2))(flaky_fleet())
    for _ in range(40):
        fn()
    row = fn.router.status()["flaky"]
    assert row.available
    assert (row.window_outcomes, row.failure_ratio) == (0, None)


def test_async_routed_function_trips_on_the_ratio(make):
    sync = flaky_fleet()

    async def provider(name: str) -> str:
        return sync(name)

    fn = routed(providers=["flaky", "backup"], cooldown=make(failure_ratio=0.4))(provider)

    async def main() -> list[str]:
        return [(await fn.route()).provider for _ in range(15)]

    served = asyncio.run(main())
    assert served[-5:] == ["backup"] * 5
    assert not fn.router.status()["flaky"].available


def test_exempt_providers_never_trip(make):
    tracker = make(failure_ratio=0.1, minimum_calls=2)

    def provider(name: str) -> str:
        if name == "a":
            raise ConnectionError("down")
        return name

    fn = routed(providers=["a", "b"], cooldown=tracker, exempt={"a"})(provider)
    assert [fn.route().attempts[0].provider for _ in range(20)] == ["a"] * 20
    assert fn.router.status()["a"].available


# -- status and its displays ----------------------------------------------------------------


def test_status_shows_the_failure_ratio_over_the_window(make):
    tracker = make(failure_ratio=0.5)
    fn = routed(providers=["flaky", "backup"], cooldown=tracker)(flaky_fleet())
    for _ in range(5):
        fn()
    status = fn.router.status()
    row = status["flaky"]
    assert (row.window_failures, row.window_outcomes, row.failure_ratio) == (2, 5, 0.4)
    data = status.to_dict()["providers"][0]
    assert (data["window_failures"], data["window_outcomes"], data["failure_ratio"]) == (2, 5, 0.4)
    json.dumps(status.to_dict())
    lines = repr(status).splitlines()
    assert "failure ratio" in lines[0]
    assert "40% of 5" in lines[1]
    assert "100% of 2" not in repr(status)
    assert "40% of 5" in status._repr_markdown_()
    assert "40% of 5" in status._repr_html_()


def test_status_without_a_ratio_has_no_ratio_column():
    fn = routed(providers=["a"], cooldown=InMemoryCooldown())(lambda provider: provider)
    fn()
    status = fn.router.status()
    assert status["a"].failure_ratio is None
    assert "failure ratio" not in repr(status)


# -- threads and processes ------------------------------------------------------------------


def test_threads_recording_at_once_count_every_outcome(make):
    tracker = make(failure_ratio=0.99, minimum_calls=10**6, threshold=10**6)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        failures_and_successes(tracker, "a", 250, 250)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = tracker.snapshot()["a"]
    assert (state.window_failures, state.window_outcomes) == (2000, 4000)


def test_threads_failing_at_once_trip_exactly_once(make):
    tracker = make(failure_ratio=0.5, minimum_calls=10, threshold=10**6)
    barrier = threading.Barrier(8)
    lengths: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        barrier.wait()
        mine = [tracker.record_failure("a", RuntimeError("down")) for _ in range(50)]
        with lock:
            lengths.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(lengths) == 400
    assert [length for length in lengths if length > 0.0] == [60.0]


@pytest.mark.processes
def test_two_processes_share_the_redis_window(redis_server, redis_client, spawn):
    """6 successes and 3 failures in one process, then 1 failure in another: 4 of 10 trips."""
    from ratio_workers import record_outcomes

    with spawn.Pool(1) as first, spawn.Pool(1) as second:
        assert first.apply(record_outcomes, (redis_server.url, "shared", 6, 3)) == [0.0] * 3
        assert second.apply(record_outcomes, (redis_server.url, "shared", 0, 1)) == [60.0]
    assert redis_client.pttl("fallback_router:{shared}:cooldown:a") > 50_000


def test_successes_on_their_way_land_before_the_next_failure_is_judged(redis_client, monkeypatch):
    """A flush of this process's successes under way (a mirror read in another thread)
    lands before a failure that follows them is judged: 9 successes then 1 failure is a
    ratio of 0.1 (no trip), never 1 failure alone (a trip)."""
    import fallback_router._redis.ratio as ratio_module

    tracker = RedisCooldown(
        redis_client, namespace="order", failure_ratio=0.5, minimum_calls=1, threshold=100,
        op_timeout=PATIENT,
    )  # fmt: skip
    for _ in range(9):
        tracker.record_success("a")
    taken, release = threading.Event(), threading.Event()
    original = ratio_module.width_ms

    def slow_width(rule: Any) -> int:  # the flush's thread pauses with the successes taken
        if threading.current_thread().name == "flusher":
            taken.set()
            assert release.wait(30)
        return original(rule)

    monkeypatch.setattr(ratio_module, "width_ms", slow_width)
    flusher = threading.Thread(target=tracker.snapshot, name="flusher")
    flusher.start()
    assert taken.wait(30)
    judged: list[float] = []
    failing = threading.Thread(
        target=lambda: judged.append(tracker.record_failure("a", RuntimeError("down")))
    )
    failing.start()
    failing.join(1.0)  # a failure that does not wait would be judged by now, alone
    release.set()
    flusher.join(30)
    failing.join(30)
    assert judged == [0.0]
    state = tracker.snapshot()["a"]
    assert (state.window_failures, state.window_outcomes) == (1, 10)
