"""RedisCooldown and RedisRoundRobin (DESIGN §7) against a real redis-server on 127.0.0.1."""

from __future__ import annotations

import multiprocessing
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
    RedisRoundRobin,
    routed,
)

from .conftest import FakeClock, RedisServer, free_port

SUPPORT = str(Path(__file__).parent / "support")


def keys(client: Any) -> list[str]:
    return sorted(k.decode() for k in client.keys("fallback_router:*"))


def wait_until(predicate, limit: float = 3.0) -> bool:
    """Poll the real server's clock (Redis expiry cannot be faked); bounded."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def fleet(*failing: str):
    def call(provider):
        if provider in failing:
            raise RuntimeError(provider)
        return provider

    return call


# -- layout, namespaces, round trips -------------------------------------------------------


def test_cooldown_is_a_key_with_server_side_expiry(redis_client):
    """A cooldown is fallback_router:{namespace}:cooldown:<name> with a PX expiry."""
    tracker = RedisCooldown(redis_client, duration=30)
    tracker.record_failure("gemini", RuntimeError())
    assert keys(redis_client) == [
        "fallback_router:{default}:cooldown:gemini",
        "fallback_router:{default}:level:gemini",
    ]
    ttl = redis_client.pttl("fallback_router:{default}:cooldown:gemini")
    assert 29_000 < ttl <= 30_000


def test_failure_counts_and_levels_are_namespaced_keys_with_expiry(redis_client):
    """Counted failures and escalation memory are keys too, each with an expiry."""
    tracker = RedisCooldown(redis_client, duration=10, threshold=2, max_duration=40)
    tracker.record_failure("a", RuntimeError())
    assert keys(redis_client) == ["fallback_router:{default}:failures:a"]
    tracker.record_failure("a", RuntimeError())
    assert keys(redis_client) == [
        "fallback_router:{default}:cooldown:a",
        "fallback_router:{default}:level:a",
    ]
    for key in keys(redis_client):
        assert redis_client.pttl(key) > 0


def test_same_namespace_shares_state_other_namespaces_do_not(redis_client):
    """Trackers with the same namespace see each other's cooldowns; others do not."""
    first = RedisCooldown(redis_client, namespace="images")
    same = RedisCooldown(redis_client, namespace="images")
    other = RedisCooldown(redis_client, namespace="text")
    first.record_failure("a", RuntimeError())
    assert not same.is_available("a")
    assert other.is_available("a")
    assert set(same.snapshot()) == {"a"}
    assert dict(other.snapshot()) == {}


def test_from_url_builds_a_working_tracker(redis_server, redis_client):
    """RedisCooldown.from_url and RedisRoundRobin.from_url connect by URL."""
    tracker = RedisCooldown.from_url(redis_server.url, duration=5)
    tracker.record_failure("a", RuntimeError())
    assert 4 < tracker.remaining("a") <= 5
    counter = RedisRoundRobin.from_url(redis_server.url, key="rr:url")
    assert [counter.next_index(), counter.next_index()] == [0, 1]


@pytest.fixture
def round_trips(monkeypatch) -> list[int]:
    """Count requests written to Redis sockets (one per round trip, pipelines included)."""
    from redis.connection import AbstractConnection

    sent = [0]
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent[0] += 1
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


def test_the_mirror_reads_redis_once_per_refresh_interval(
    redis_client, round_trips, real_redis_binary
):
    """Calls read a process-local mirror: one round trip per ``refresh``, none between."""
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, duration=60, refresh=0.1, clock=clock)
    fn = routed(providers=["a", "b", "c"], cooldown=tracker, clock=clock)(fleet())
    fn()  # the first call reads the mirror (and loads the script)
    round_trips[0] = 0
    for _ in range(50):
        fn()
    assert round_trips[0] == 0  # within the interval the mirror answers
    clock.advance(0.1)
    fn()
    fn()
    assert round_trips[0] == 1  # one read for the next interval
    failing = routed(providers=["x", "y"], cooldown=tracker, clock=clock)(fleet("x"))
    failing()  # x fails on the happy path: the failure is written through
    round_trips[0] = 0
    assert failing.route().skipped == ("x",)  # this process' own write is seen at once
    assert round_trips[0] == 1  # x and y are read once, as names new to the mirror
    round_trips[0] = 0
    assert failing.route().skipped == ("x",)
    assert round_trips[0] == 0
    tracker.reset()
    round_trips[0] = 0
    failing()  # read (a reset forces it), x fails, its failure written through
    assert round_trips[0] == 2


def test_a_cooldown_from_another_process_is_honoured_within_the_refresh_interval(
    redis_client,
):
    """Two trackers stand for two processes: each has its own mirror."""
    clock = FakeClock()
    here = RedisCooldown(redis_client, duration=60, refresh=0.1, clock=clock)
    there = RedisCooldown(redis_client, duration=60, refresh=0.1, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=here, clock=clock)(fleet())
    assert fn() == "a"
    there.record_failure("a", RuntimeError("a down"))  # "another process" benches a
    assert fn() == "a"  # stale by at most the refresh interval
    clock.advance(0.1)
    result = fn.route()
    assert (result.provider, result.skipped) == ("b", ("a",))
    assert 59 < here.remaining("a") <= 60
    there.record_success("a")
    clock.advance(0.1)
    assert fn() == "a"


def test_threads_share_one_refresh_and_never_wait_for_it(redis_client, round_trips):
    """16 threads on a stale mirror: one round trip between them."""
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, duration=60, refresh=0.1, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet())
    fn()
    clock.advance(0.1)
    round_trips[0] = 0
    barrier = threading.Barrier(16)

    def work() -> list[str]:
        barrier.wait()
        return [fn() for _ in range(50)]

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: work(), range(16)))
    assert all(r == ["a"] * 50 for r in results)
    assert round_trips[0] == 1


def test_routed_fallback_with_redis_tracker_and_status(redis_client):
    """A router on RedisCooldown benches, skips and reports like the in-memory one."""
    tracker = RedisCooldown(redis_client, duration=60)
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a"))
    assert fn() == "b"
    result = fn.route()
    assert result.skipped == ("a",)
    status = fn.router.status()
    assert status["a"].available is False
    assert 59 < status["a"].cooldown_remaining <= 60
    fn.router.reset()
    assert keys(redis_client) == []


def test_threshold_counting_is_atomic_across_clients(redis_client, redis_server, real_redis_binary):
    """Many clients failing at once trip the threshold exactly once."""
    trackers = [RedisCooldown(redis_server.client(), threshold=50) for _ in range(10)]
    tripped: list[bool] = []
    barrier = threading.Barrier(10)

    def work(tracker: RedisCooldown) -> None:
        barrier.wait()
        tripped.extend(tracker.record_failure("a", RuntimeError()) for _ in range(10))

    threads = [threading.Thread(target=work, args=(t,)) for t in trackers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(1 for t in tripped if t > 0) == 2  # 100 failures, threshold 50: trips at 50 and 100


def test_escalation_on_the_server_clock(redis_client):
    """Re-entering after a cooldown ends doubles it, capped (real, short durations)."""
    tracker = RedisCooldown(redis_client, duration=0.2, max_duration=0.6)
    key = "fallback_router:{default}:cooldown:a"
    lengths = []
    for _ in range(3):
        tracker.record_failure("a", RuntimeError())
        lengths.append(redis_client.pttl(key))
        assert wait_until(lambda: redis_client.pttl(key) < 0)
    assert 150 < lengths[0] <= 200
    assert 350 < lengths[1] <= 400
    assert 550 < lengths[2] <= 600
    tracker.record_success("a")
    tracker.record_failure("a", RuntimeError())
    assert 150 < redis_client.pttl(key) <= 200


def test_no_keys_remain_once_cooldowns_and_counts_expire(redis_client):
    """Everything the tracker writes expires (real, short durations)."""
    tracker = RedisCooldown(redis_client, duration=0.2, threshold=2, max_duration=0.4)
    tracker.record_failure("a", RuntimeError())  # a count
    tracker.record_failure("b", RuntimeError())
    tracker.record_failure("b", RuntimeError())  # a cooldown and a level
    assert len(keys(redis_client)) == 3
    assert wait_until(lambda: keys(redis_client) == [], limit=2.0)


# -- round robin ---------------------------------------------------------------------------


def test_round_robin_first_pick_is_the_first_provider(redis_client):
    """INCR starts at 1; the first index handed out is 0."""
    counter = RedisRoundRobin(redis_client, key="rr:first")
    fn = routed(providers=["a", "b", "c"], strategy="round_robin", counter=counter)(lambda p: p)
    assert [fn() for _ in range(4)] == ["a", "b", "c", "a"]
    assert redis_client.pttl("rr:first") > 0


def test_round_robin_is_shared_by_routers_using_the_same_key(redis_client):
    """Two routers on one key interleave."""
    f = routed(
        providers=["a", "b"],
        strategy="round_robin",
        counter=RedisRoundRobin(redis_client, key="rr:shared"),
    )(lambda p: p)
    g = routed(
        providers=["a", "b"],
        strategy="round_robin",
        counter=RedisRoundRobin(redis_client, key="rr:shared"),
    )(lambda p: p)
    assert [f(), g(), f(), g()] == ["a", "b", "a", "b"]


@pytest.mark.parametrize("bad", ["", 3])
def test_invalid_round_robin_key(redis_client, bad):
    """key= must be a non-empty str."""
    with pytest.raises(InvalidConfigError, match="key"):
        RedisRoundRobin(redis_client, key=bad)


def test_client_must_be_a_redis_client():
    """Anything without a connection pool is refused with a clear message."""
    with pytest.raises(InvalidConfigError, match=r"redis\.Redis"):
        RedisCooldown(object())


@pytest.mark.parametrize("bad", ["", 3, None])
def test_invalid_namespace(redis_client, bad):
    """namespace= must be a non-empty str."""
    with pytest.raises(InvalidConfigError, match="namespace"):
        RedisCooldown(redis_client, namespace=bad)


# -- across processes ----------------------------------------------------------------------


@pytest.fixture
def spawn(monkeypatch) -> Any:
    monkeypatch.syspath_prepend(SUPPORT)
    return multiprocessing.get_context("spawn")


@pytest.mark.processes
def test_processes_share_one_round_robin_counter(redis_server, redis_client, spawn):
    """Three processes x 30 calls over 3 providers: exactly 30 picks each."""
    from redis_workers import round_robin_picks

    with spawn.Pool(3) as pool:
        results = pool.starmap(round_robin_picks, [(redis_server.url, "rr:procs", 30)] * 3)
    assert Counter(p for picks in results for p in picks) == {"a": 30, "b": 30, "c": 30}


@pytest.mark.processes
def test_processes_share_cooldowns(redis_server, redis_client, spawn):
    """A provider benched by one process is skipped by the others."""
    from redis_workers import bench_provider, calls_to_a

    with spawn.Pool(2) as pool:
        assert pool.apply(bench_provider, (redis_server.url, "procs")) is True
        counts = pool.starmap(calls_to_a, [(redis_server.url, "procs", 20)] * 2)
    assert counts == [0, 0]


# -- failing open --------------------------------------------------------------------------


@pytest.fixture
def dead_port() -> int:
    return free_port()


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port that accepts connections but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def unreachable_client(port: int, **options: Any) -> Any:
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    # The user's client is deliberately patient; the tracker must not be.
    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=30,
        socket_connect_timeout=30,
        retry=Retry(ExponentialBackoff(cap=5), 10),
        **options,
    )


def test_unreachable_redis_fails_open_and_logs_once(dead_port, logs):
    """Nobody listening: calls succeed, the outage is logged once, not per call."""
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), clock=clock)
    counter = RedisRoundRobin(unreachable_client(dead_port), clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet())
    rr = routed(providers=["a", "b"], strategy="round_robin", counter=counter)(lambda p: p)
    assert [fn() for _ in range(20)] == ["a"] * 20
    assert [rr() for _ in range(4)] == ["a", "b", "a", "b"]
    assert len(logs.find("redis unavailable, failing open")) == 2  # one per tracker/counter
    clock.advance(5.1)  # back-off over: one more try, still down, still no new log line
    fn()
    assert len(logs.find("redis unavailable, failing open")) == 2


def test_during_an_outage_cooldowns_are_kept_locally(dead_port):
    """Fail-open uses a process-local tracker, so a broken provider stays benched; every
    call consults it, within one refresh interval too (the inlined path never bypasses it).
    """
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), duration=60, clock=clock)
    calls: list[str] = []

    def call(provider):
        calls.append(provider)
        if provider == "a":
            raise RuntimeError("a down")
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(call)
    for _ in range(6):
        assert fn() == "b"
    assert calls == ["a", "b", "b", "b", "b", "b", "b"]
    assert set(tracker.snapshot()) == {"a"}


def test_hanging_redis_adds_a_bounded_delay(hanging_port):
    """A Redis that never answers costs at most ~2 x op_timeout, then nothing."""
    tracker = RedisCooldown(unreachable_client(hanging_port), op_timeout=0.1)
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet())
    start = time.monotonic()
    assert fn() == "a"
    first = time.monotonic() - start
    start = time.monotonic()
    for _ in range(50):
        fn()
    rest = time.monotonic() - start
    assert first < 0.2 + 0.5  # documented bound 2 x op_timeout, plus scheduling slack
    assert rest < 0.5  # inside the back-off nothing waits on Redis


def test_redis_stopped_mid_run_then_back(logs, real_redis_binary):
    """Terminate the server mid-run: calls go on; after the back-off Redis is used again."""
    server = RedisServer(real_redis_binary)
    server.start()
    clock = FakeClock()
    try:
        tracker = RedisCooldown(server.client(), duration=60, clock=clock)
        fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a"))
        assert fn() == "b"
        assert not tracker.is_available("a")
        server.stop()
        assert [fn() for _ in range(5)] == ["b"] * 5  # the mirror answers, a still benched
        assert logs.find("redis unavailable, failing open") == []  # not asked yet
        clock.advance(0.1)  # the next read of the shared state finds the outage
        assert [fn() for _ in range(5)] == ["b"] * 5
        assert len(logs.find("redis unavailable, failing open")) == 1
        server.start()  # same port, empty data
        clock.advance(5.1)
        assert dict(tracker.local.snapshot())  # benched locally during the outage
        assert fn() == "b"  # "a" fails again, now recorded on the new server
        assert logs.find("redis reachable again")
        assert server.client().exists("fallback_router:{default}:cooldown:a") == 1
        assert dict(tracker.local.snapshot()) == {}  # local state dropped on recovery
    finally:
        server.stop()


@pytest.mark.processes
def test_import_without_redis_names_the_extra():
    """Without redis-py, the package imports and Redis classes say which extra to install."""
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import fallback_router\n"
        "try:\n"
        "    fallback_router.RedisCooldown(object())\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'fallback-router[redis]'" in out


def test_reset_all_clears_only_the_namespace(redis_client):
    """reset() deletes this namespace's keys and nothing else."""
    mine = RedisCooldown(redis_client, namespace="mine")
    theirs = RedisCooldown(redis_client, namespace="theirs")
    mine.record_failure("a", RuntimeError())
    theirs.record_failure("a", RuntimeError())
    mine.reset()
    assert keys(redis_client) == [
        "fallback_router:{theirs}:cooldown:a",
        "fallback_router:{theirs}:level:a",
    ]


def test_redis_round_robin_repr_and_tracker_repr(redis_client):
    """Both classes have readable reprs."""
    assert "rr:x" in repr(RedisRoundRobin(redis_client, key="rr:x"))
    assert "namespace='default'" in repr(RedisCooldown(redis_client))


def test_all_failed_with_redis_tracker(redis_client):
    """A call failing everywhere raises the group; the tracker records each provider."""
    tracker = RedisCooldown(redis_client)
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a", "b"))
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert set(tracker.snapshot()) == {"a", "b"}


@pytest.mark.parametrize(
    "namespace", ["prod-*", "prod-?", "prod-[ab]", "a}b", "{x}", "p:q", "line\nbreak", "\udc80"]
)
def test_namespaces_with_glob_braces_or_surrogates_cannot_touch_other_keys(redis_client, namespace):
    """Any namespace text is encoded: reset() of 'prod-*' never deletes 'prod-a' keys."""
    other = RedisCooldown(redis_client, namespace="prod-a")
    other.record_failure("x", RuntimeError())
    mine = RedisCooldown(redis_client, namespace=namespace)
    mine.record_failure("x", RuntimeError())
    mine.reset()
    assert keys(redis_client) == [
        "fallback_router:{prod-a}:cooldown:x",
        "fallback_router:{prod-a}:level:x",
    ]


@pytest.mark.parametrize("name", ["\udc80", "a*", "b}c", "x:y", "n\nl", "é" * 5000])
def test_any_provider_name_round_trips_through_redis(redis_client, name):
    """Lone surrogates, globs, braces and long names neither raise nor collide."""
    tracker = RedisCooldown(redis_client, namespace="names")
    assert tracker.record_failure(name, RuntimeError()) > 0.0
    assert tracker.remaining(name) > 0.0
    assert tracker.remaining(name[:-1] or "z") == 0.0
    assert set(tracker.snapshot()) == {name}


# -- behaviours pinned for mutation testing (issue 12) -------------------------------------


class RetryAfterError(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__("429")
        self.headers = {"Retry-After": str(seconds)}


def test_a_failure_during_a_cooldown_does_not_escalate(redis_client):
    """Only re-entering after a cooldown ended escalates (as in memory)."""
    tracker = RedisCooldown(redis_client, duration=10, max_duration=100)
    assert tracker.record_failure("a", RuntimeError()) == pytest.approx(10, abs=0.01)
    again = tracker.record_failure("a", RuntimeError())  # a forced terminus, say
    assert 9 < again <= 10
    assert redis_client.pttl("fallback_router:{default}:cooldown:a") <= 10_000
    assert tracker.snapshot()["a"].level == 0


def test_retry_after_is_capped_at_an_hour_without_max_duration(redis_client):
    tracker = RedisCooldown(redis_client, duration=10)
    assert tracker.record_failure("a", RetryAfterError(7200)) == pytest.approx(3600, abs=0.01)
    assert 3_599_000 < redis_client.pttl("fallback_router:{default}:cooldown:a") <= 3_600_000
    assert tracker.record_failure("b", RetryAfterError(30)) == pytest.approx(30, abs=0.01)


def test_a_provider_with_only_a_failure_count_is_available_and_a_success_clears_it(
    redis_client,
):
    tracker = RedisCooldown(redis_client, duration=10, threshold=3)
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.remaining_many(["a", "b"]) in ((), [0.0, 0.0])
    assert tracker.remaining("a") == 0.0
    assert tracker.is_available("a")
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet())
    assert fn.route().skipped == ()
    assert keys(redis_client) == []  # the success cleared the count
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # counting starts again at 1


def test_snapshot_values(redis_client):
    tracker = RedisCooldown(redis_client, duration=10, threshold=2, max_duration=100)
    tracker.record_failure("counted", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    snap = tracker.snapshot()
    assert set(snap) == {"counted", "benched"}
    counted, benched = snap["counted"], snap["benched"]
    assert (counted.remaining, counted.consecutive_failures, counted.half_open) == (0.0, 1, False)
    assert 9 < benched.remaining <= 10
    assert (benched.level, benched.length, benched.half_open) == (0, 10.0, False)


def test_the_fail_open_tracker_uses_the_configured_policy(dead_port):
    """During an outage: threshold, duration, escalation and jitter are the tracker's own."""
    clock = FakeClock()
    tracker = RedisCooldown(
        unreachable_client(dead_port),
        duration=7,
        threshold=2,
        max_duration=100,
        multiplier=3,
        jitter=0.0,
        clock=clock,
        half_open=False,
    )
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # below the threshold
    assert tracker.record_failure("a", RuntimeError()) == 7
    clock.advance(7)
    tracker.record_failure("a", RuntimeError())
    assert tracker.record_failure("a", RuntimeError()) == 21  # escalated by 3
    assert tracker.local.policy == tracker.policy


def test_successes_during_an_outage_clear_the_local_count(dead_port):
    """threshold=2: fail, ok, fail, ok, fail never benches a (as in memory)."""
    tracker = RedisCooldown(unreachable_client(dead_port), threshold=2, clock=FakeClock())
    memory = InMemoryCooldown(threshold=2, clock=FakeClock())
    routes = []
    for cooldown in (tracker, memory):
        flags = iter([False, True, False, True, False])

        def call(provider, flags=flags):
            if provider == "a" and not next(flags):
                raise RuntimeError("a down")
            return provider

        fn = routed(providers=["a", "b"], cooldown=cooldown)(call)
        routes.append([fn.route().attempt for _ in range(5)])
    assert routes[0] == routes[1] == [2, 1, 2, 1, 2]
    assert tracker.is_available("a")


def test_the_bounded_client_has_short_timeouts_and_no_retries(dead_port):
    """The tracker's own connection settings are what bound the delay of an outage."""
    tracker = RedisCooldown(unreachable_client(dead_port), op_timeout=0.15)
    kwargs = tracker._conn.get().connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.15
    assert kwargs["retry"].get_retries() == 0


def test_a_second_outage_after_recovery_is_logged_again(logs, real_redis_binary):
    server = RedisServer(real_redis_binary)
    clock = FakeClock()
    try:
        tracker = RedisCooldown(server.client(), clock=clock)
        assert tracker.is_available("a")  # down (never started)
        server.start()
        clock.advance(5.1)
        assert tracker.is_available("a")  # back
        server.stop()
        clock.advance(5.1)
        assert tracker.is_available("a")  # down again
        assert len(logs.find("redis unavailable, failing open")) == 2
        assert len(logs.find("redis reachable again")) == 1
    finally:
        server.stop()


def half_open(redis_client: Any, namespace: str) -> None:
    """Bench a, then end its cooldown now (delete the key): a is half-open."""
    tracker = RedisCooldown(redis_client, duration=60, namespace=namespace)
    tracker.record_failure("a", RuntimeError("a down"))
    redis_client.delete(f"fallback_router:{{{namespace}}}:cooldown:a")
    assert tracker.snapshot()["a"].half_open


@pytest.mark.processes
def test_processes_share_one_half_open_probe(redis_server, redis_client, spawn, real_redis_binary):
    """One process probes a; calls from three other processes skip it meanwhile."""
    from redis_workers import probe_or_skip

    half_open(redis_client, "probe")
    with spawn.Pool(4) as pool:
        prober = pool.apply_async(probe_or_skip, (redis_server.url, "probe", True))
        assert wait_until(lambda: redis_client.get("test:reached") == b"1", limit=20)
        others = pool.starmap(probe_or_skip, [(redis_server.url, "probe", False)] * 3)
        assert others == ["b", "b", "b"]
        assert redis_client.get("test:reached") == b"1"
        redis_client.set("test:release", 1)
        assert prober.get(timeout=20) == "a"
        # The probe succeeded: a is clean for every process.
        assert pool.apply(probe_or_skip, (redis_server.url, "probe", False)) == "a"
    assert keys(redis_client) == []


@pytest.mark.processes
def test_a_crashed_prober_holds_the_provider_only_until_probe_ttl(
    redis_server, redis_client, spawn, real_redis_binary
):
    """Kill the probing process: the probe key expires after probe_ttl; then a is probed again."""
    from redis_workers import probe_or_skip

    half_open(redis_client, "crash")
    prober = spawn.Process(target=probe_or_skip, args=(redis_server.url, "crash", True, 3.0))
    prober.start()
    try:
        assert wait_until(lambda: redis_client.get("test:reached") == b"1", limit=20)
    finally:
        prober.kill()
        prober.join()
    probe_key = "fallback_router:{crash}:probe:a"
    assert 0 < redis_client.pttl(probe_key) <= 3000  # the documented bound: probe_ttl
    with spawn.Pool(1) as pool:
        assert pool.apply(probe_or_skip, (redis_server.url, "crash", False, 3.0)) == "b"
        assert wait_until(lambda: redis_client.exists(probe_key) == 0, limit=5.0)
        assert pool.apply(probe_or_skip, (redis_server.url, "crash", False, 3.0)) == "a"
