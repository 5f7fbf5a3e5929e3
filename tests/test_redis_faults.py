"""Redis faults (DESIGN §7): fail-open on a process-local tracker, bounded delays, one log
line per outage, misconfiguration named with its fix, recovery; a fault proxy between
the tracker and a real redis-server.

The delay bound (``2 * op_timeout`` once per back-off) is the contract, so it is checked on
the wall clock, with the documented slack for a loaded machine; back-offs use a FakeClock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from fallback_router import (
    InMemoryCooldown,
    RedisCooldown,
    RedisRoundRobin,
    routed,
)

from .conftest import FakeClock, RedisServer
from .support.fault_proxy import FaultProxy
from .support.helpers import RetryAfter, fleet
from .support.redis_helpers import load_scripts, through, unreachable_client

OP_TIMEOUT = 1.0
# Wall clock, unavoidable: the documented bound plus scheduling. A second: the suite runs
# beside two CPU burners (scripts/busy_check.sh); a doubled bound (4 x op_timeout) is still
# caught.
SLACK = 1.0
BOUND = 2 * OP_TIMEOUT + SLACK
# Where a test needs Redis to answer through the proxy (its subject is not the time bound):
# a first connection through the proxy's threads can outlast 0.1 s on a loaded machine.
PATIENT = 2.0


# mode, injected delay, whether the tracker must fail open, its op_timeout. Where Redis
# must answer, op_timeout is PATIENT: a loaded machine must not make it fail open.
SCENARIOS: dict[str, tuple[str, float, bool, float]] = {
    "pass": ("pass", 0.0, False, PATIENT),
    "delay under op_timeout": ("delay", 0.02, False, PATIENT),
    "delay over op_timeout": ("delay", 3.0, True, OP_TIMEOUT),
    "hang (accept, never answer)": ("hang", 0.0, True, OP_TIMEOUT),
    "reset mid-reply": ("reset", 0.0, True, OP_TIMEOUT),
    "refuse connections": ("refuse", 0.0, True, OP_TIMEOUT),
}


def warmed(tracker: RedisCooldown, redis_client: Any, clock: FakeClock) -> None:
    """Scripts loaded and the tracker's connection made before the part under test: a first
    connection through the proxy may outlast op_timeout on a loaded machine (then the
    tracker rightly fails open for a back-off, and is asked again after it)."""
    load_scripts(redis_client)
    for _ in range(20):
        tracker.remaining_many(["a", "b"])
        if not tracker._guard.down:
            return
        clock.advance(5.1)  # the back-off
    raise AssertionError("Redis never answered through the proxy")


def timed_calls(fn: Any, count: int = 20) -> float:
    """Make ``count`` calls (each must be served by b); return the slowest one's seconds."""
    worst = 0.0
    for _ in range(count):
        start = time.monotonic()
        assert fn() == "b"
        worst = max(worst, time.monotonic() - start)
    return worst


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_fault(scenario, proxy, redis_client, logs):
    """Through each fault a routed call never raises, stays within the bound, then converges."""
    import redis

    mode, delay, fails_open, op_timeout = SCENARIOS[scenario]
    bound = 2 * op_timeout + SLACK
    clock = FakeClock()
    namespace = f"fault-{mode}"
    client = redis.Redis(host="127.0.0.1", port=proxy.port)
    tracker = RedisCooldown(
        client, duration=60, namespace=namespace, op_timeout=op_timeout, clock=clock
    )
    observer = RedisCooldown(redis_client, duration=60, namespace=namespace)
    warmed(tracker, redis_client, clock)
    logs.records.clear()  # an outage while warming is not the one under test
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet("a"))
    assert fn() == "b"  # through the proxy: a is benched in Redis
    assert observer.remaining("a") > 59

    proxy.set(mode, delay)
    observer.reset("a")  # the shared state changes meanwhile
    clock.advance(0.1)  # the mirror is stale: the next call reads Redis through the fault
    worst = timed_calls(fn)
    assert worst < bound, f"{scenario}: a call took {worst:.3f} s"
    outage = logs.find("redis unavailable, failing open")
    assert bool(outage) is fails_open
    if not fails_open:  # Redis answered: a was tried again and benched there
        assert observer.remaining("a") > 59

    assert len(outage) <= 1  # one log line per outage, not per call

    proxy.set("pass")
    observer.reset("a")
    for _ in range(20):  # a first round trip that outlasts op_timeout on a loaded machine
        clock.advance(5.1)  # the back-off is over: Redis is asked again
        assert fn() == "b"  # a tried again (clean in Redis), failed, benched in Redis
        if observer.remaining("a") > 59:
            break
    assert observer.remaining("a") > 59, "the shared state did not converge"
    assert timed_calls(fn) < bound


def test_flushall_mid_run(redis_client, real_redis_binary):
    """After FLUSHALL the mirror learns a is clean: a is tried again and benched again."""
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, duration=60, namespace="flush", clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet("a"))
    assert fn() == "b"
    assert fn.route().skipped == ("a",)
    redis_client.flushall()  # every key (and the cooldown) gone
    clock.advance(0.1)
    result = fn.route()  # the mirror learns a is clean: it is tried and benched again
    assert (result.provider, result.attempt, result.skipped) == ("b", 2, ())
    assert tracker.remaining("a") > 59


def test_client_kill_mid_run(proxy, redis_client, logs):
    """A killed connection fails open without raising; after the back-off Redis is used again."""
    clock = FakeClock()
    tracker = RedisCooldown(
        redis_client.__class__(host="127.0.0.1", port=proxy.port),
        duration=60,
        namespace="kill",
        op_timeout=OP_TIMEOUT,
        clock=clock,
    )
    observer = RedisCooldown(redis_client, namespace="kill")
    warmed(tracker, redis_client, clock)
    logs.records.clear()  # an outage while warming is not the one under test
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet("a"))
    assert fn() == "b"
    redis_client.client_kill_filter(_type="normal", skipme=True)  # the tracker's connection
    clock.advance(0.1)
    assert timed_calls(fn) < BOUND  # a dead connection: fail open, never raise
    clock.advance(5.1)
    observer.reset("a")
    assert fn() == "b"
    assert observer.remaining("a") > 59  # back on Redis


# -- outages -------------------------------------------------------------------------------


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


def test_outage_logs_name_the_error(dead_port, logs):
    """The fail-open log carries the error as redacted text and its type's name."""
    tracker = RedisCooldown(unreachable_client(dead_port), namespace="log-error")
    tracker.record_failure("a", RuntimeError())
    (down,) = logs.find("redis unavailable, failing open")
    assert "(cooldown): ConnectionError: " in down["message"]
    assert down["extra"]["error"].startswith("ConnectionError: ")
    assert down["extra"]["error_type"] == "ConnectionError"


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
    assert rest < 0.5  # 50 calls inside the back-off wait on nothing (wall clock, generous)


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


def test_a_second_outage_after_recovery_is_logged_again(logs, real_redis_binary):
    """Each outage is logged once, and so is each recovery."""
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


def test_back_off_ends_exactly_after_backoff_seconds(proxy, redis_client, logs):
    """Redis is asked again exactly backoff seconds after a failure; both log lines exact."""
    clock = FakeClock()
    tracker = RedisCooldown(
        through(proxy), namespace="backoff", backoff=5, op_timeout=PATIENT, clock=clock
    )
    proxy.set("refuse")
    assert tracker.record_failure("a", RuntimeError()) == 60.0  # locally
    proxy.set("pass")
    clock.advance(4.999)
    assert tracker.snapshot()["a"].remaining == pytest.approx(60.0 - 4.999)  # still the local state
    clock.advance(0.001)
    assert tracker.snapshot() == {}  # Redis again: it never heard of a
    (back,) = logs.find("redis reachable again")
    assert back["message"] == "redis reachable again (cooldown)"
    (down,) = logs.find("redis unavailable, failing open")
    assert "(cooldown)" in down["message"]
    assert "retrying in 5" in down["message"]


def test_after_a_failed_operation_the_client_is_built_again(proxy):
    """After a failed operation the tracker's and the counter's clients are rebuilt."""
    tracker = RedisCooldown(through(proxy), namespace="rebuild", op_timeout=PATIENT)
    tracker.record_failure("a", RuntimeError())
    assert tracker._conn.current is not None
    proxy.set("refuse")
    tracker.reset("a")
    assert tracker._conn.current is None  # a Sentinel or cluster is discovered again
    counter = RedisRoundRobin(through(proxy), key="rebuild:rr", op_timeout=PATIENT)
    assert counter.next_index() == 0  # refused: the local counter answers
    assert counter._conn.current is None


# -- the local tracker meanwhile -----------------------------------------------------------


def test_during_an_outage_cooldowns_are_kept_locally(dead_port):
    """During an outage every call consults the local tracker, which keeps a benched."""
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


def test_local_jitter_matches_the_policy(dead_port):
    """The local fallback tracker has the same policy, jitter included."""
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, jitter=0.25)
    assert tracker.local.policy == tracker.policy
    assert tracker.local.policy.jitter == 0.25


def test_the_local_fallback_reads_retry_after(dead_port):
    """The local fallback tracker honours Retry-After."""
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, clock=clock)
    assert tracker.record_failure("a", RetryAfter(42)) == 42.0
    assert tracker.local.policy.jitter == tracker.policy.jitter


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


def test_reset_during_an_outage_resets_only_that_name(dead_port):
    """reset(name) during an outage forgets that name locally, never raises."""
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    tracker.record_failure("b", RuntimeError())
    tracker.reset("a")  # never raises; the local tracker forgets a only
    assert set(tracker.snapshot()) == {"b"}


# -- the mirror after an outage ------------------------------------------------------------


def mirrored_through(
    proxy: FaultProxy, redis_client: Any, namespace: str, outage: Callable[[Any], object]
) -> tuple[RedisCooldown, RedisCooldown, FakeClock]:
    """A tracker behind the proxy that read its mirror, then lived through an outage.

    ``outage(tracker)`` is the write that fails while the proxy refuses; the back-off
    (5 s) has just ended. Returns the tracker, an observer and the clock.
    """
    clock = FakeClock()
    tracker = RedisCooldown(
        through(proxy),
        namespace=namespace,
        refresh=30,
        backoff=5,
        op_timeout=PATIENT,
        clock=clock,
    )
    other = RedisCooldown(redis_client, namespace=namespace)
    assert tracker.remaining_many(["a", "b"]) == ()
    proxy.set("refuse")
    outage(tracker)
    proxy.set("pass")
    clock.advance(5)  # exactly the back-off: Redis is asked again
    return tracker, other, clock


def test_a_refresh_sees_other_processes_after_recovery(proxy, redis_client):
    """After an outage ends, the next call reads Redis again (the mirror is not kept)."""
    tracker, other, clock = mirrored_through(
        proxy, redis_client, "mirror-back", lambda t: t.reset("x")
    )
    assert tracker.remaining_many(["a", "b"]) == ()  # recovered, mirror read again
    other.record_failure("a", RuntimeError())
    clock.advance(1)  # within refresh: only a recovery-forced read would see it
    assert tracker.remaining_many(["a", "b"]) == ()
    clock.advance(30)
    assert tracker.remaining_many(["a", "b"])[0] > 59


def fail_x(tracker: RedisCooldown) -> None:
    tracker.record_failure("x", RuntimeError())


def test_the_mirror_is_read_again_after_an_outage_that_began_in_a_write(proxy, redis_client):
    """A write fails: the mirror is not trusted any more; the first read after it asks."""
    tracker, other, _ = mirrored_through(proxy, redis_client, "out-write", fail_x)
    other.record_failure("a", RuntimeError())
    assert tracker.remaining_many(["a", "b"])[0] > 59  # read again, within refresh


def test_the_mirror_is_read_again_after_a_recovery_in_a_write(proxy, redis_client):
    """Redis answering a write after an outage makes the next call read the mirror again."""
    tracker, other, _ = mirrored_through(proxy, redis_client, "back-write", fail_x)
    tracker.record_failure("y", RuntimeError())  # Redis answers: recovered in a write
    other.record_failure("a", RuntimeError())
    assert tracker.remaining_many(["a", "b"])[0] > 59


# -- round robin ---------------------------------------------------------------------------


def test_round_robin_outage_is_logged_with_its_name_and_clock(dead_port, logs):
    """A counter's outage is logged as round_robin; its back-off runs on the given clock."""
    clock = FakeClock()
    counter = RedisRoundRobin(unreachable_client(dead_port), key="rr:down", clock=clock)
    assert [counter.next_index() for _ in range(3)] == [0, 1, 2]  # local counter
    (down,) = logs.find("redis unavailable, failing open")
    assert "(round_robin)" in down["message"]
    assert "retrying in 5.0 s" in down["message"]  # the default back-off
    assert counter.op_timeout == 0.1  # DEFAULT_OP_TIMEOUT
    assert counter._guard.down
    clock.advance(5)
    assert not counter._guard.down  # the back-off runs on the given clock


def test_a_round_robin_counter_recovers_without_raising(proxy, logs):
    """A counter answers locally during an outage and goes on from Redis's count after it."""
    clock = FakeClock()
    counter = RedisRoundRobin(
        through(proxy), key="rr:back", backoff=5, op_timeout=PATIENT, clock=clock
    )
    assert counter.next_index() == 0
    proxy.set("refuse")
    assert counter.next_index() == 0  # the local counter answers
    proxy.set("pass")
    clock.advance(5)
    assert counter.next_index() == 1  # Redis again, where it left off
    assert logs.find("redis reachable again (round_robin)")


# -- misconfiguration ----------------------------------------------------------------------


def test_misconfiguration_is_logged_with_the_fix_every_backoff(redis_server, logs):
    """A server that wants a password: NOAUTH is named, with the fix, once per back-off."""
    import redis

    server = RedisServer(redis_server.binary)
    server.start()
    try:
        redis.Redis.from_url(server.url).config_set("requirepass", "s3cret")
        clock = FakeClock()
        tracker = RedisCooldown(
            redis.Redis.from_url(server.url), namespace="auth", backoff=2, clock=clock
        )
        assert tracker.record_failure("a", RuntimeError()) == 60.0  # locally
        clock.advance(2)
        tracker.record_failure("b", RuntimeError())
        records = logs.find("redis misconfigured, failing open")
        assert len(records) == 2  # every back-off period, until fixed
        message = records[0]["message"]
        assert message.startswith("redis misconfigured, failing open (cooldown): ")
        assert "AuthenticationError" in message  # the error
        assert "fix: Redis refused the credentials" in message  # the fix
        assert message.endswith("retrying in 2.0 s")  # and the back-off
        assert not logs.find("redis unavailable, failing open")
    finally:
        server.stop()
