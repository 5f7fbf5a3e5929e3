"""Fault injection between RedisCooldown and a real redis-server.

A TCP proxy (``tests/support/fault_proxy.py``) passes, delays, hangs, resets
connections mid-reply or refuses them; the server's data is flushed and its
connections killed mid-run. Each scenario asserts that no routed call raises, that the
delay a fault adds stays within the documented bound (``2 * op_timeout`` once per
back-off period), and that the shared state converges once the fault is gone.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from fallback_router import RedisCooldown, routed

from .conftest import FakeClock

OP_TIMEOUT = 0.2
SLACK = 0.4  # thread scheduling on a loaded 2-core machine
BOUND = 2 * OP_TIMEOUT + SLACK

# mode, injected delay, whether the tracker must fail open
SCENARIOS: dict[str, tuple[str, float, bool]] = {
    "pass": ("pass", 0.0, False),
    "delay under op_timeout": ("delay", 0.02, False),
    "delay over op_timeout": ("delay", 1.0, True),
    "hang (accept, never answer)": ("hang", 0.0, True),
    "reset mid-reply": ("reset", 0.0, True),
    "refuse connections": ("refuse", 0.0, True),
}


def flaky(provider: str) -> str:
    if provider == "a":
        raise RuntimeError("a down")
    return provider


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
    import redis

    mode, delay, fails_open = SCENARIOS[scenario]
    clock = FakeClock()
    namespace = f"fault-{mode}"
    client = redis.Redis(host="127.0.0.1", port=proxy.port)
    tracker = RedisCooldown(
        client, duration=60, namespace=namespace, op_timeout=OP_TIMEOUT, clock=clock
    )
    observer = RedisCooldown(redis_client, duration=60, namespace=namespace)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(flaky)
    assert fn() == "b"  # through the proxy: a is benched in Redis
    assert observer.remaining("a") > 59

    proxy.set(mode, delay)
    observer.reset("a")  # the shared state changes meanwhile
    clock.advance(0.1)  # the mirror is stale: the next call reads Redis through the fault
    worst = timed_calls(fn)
    assert worst < BOUND, f"{scenario}: a call took {worst:.3f} s"
    outage = logs.find("redis unavailable, failing open")
    assert bool(outage) is fails_open
    if not fails_open:  # Redis answered: a was tried again and benched there
        assert observer.remaining("a") > 59

    proxy.set("pass")
    observer.reset("a")
    clock.advance(5.1)  # the back-off is over: Redis is asked again
    assert fn() == "b"  # a tried again (clean in Redis), failed, benched in Redis
    assert observer.remaining("a") > 59, "the shared state did not converge"
    assert timed_calls(fn) < BOUND
    assert len(outage) <= 1  # one log line per outage, not per call


def test_flushall_mid_run(redis_client, real_redis_binary):
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, duration=60, namespace="flush", clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(flaky)
    assert fn() == "b"
    assert fn.route().skipped == ("a",)
    redis_client.flushall()  # every key (and the cooldown) gone
    clock.advance(0.1)
    result = fn.route()  # the mirror learns a is clean: it is tried and benched again
    assert (result.provider, result.attempt, result.skipped) == ("b", 2, ())
    assert tracker.remaining("a") > 59


def test_client_kill_mid_run(proxy, redis_client, logs):
    clock = FakeClock()
    tracker = RedisCooldown(
        redis_client.__class__(host="127.0.0.1", port=proxy.port),
        duration=60,
        namespace="kill",
        op_timeout=OP_TIMEOUT,
        clock=clock,
    )
    observer = RedisCooldown(redis_client, namespace="kill")
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(flaky)
    assert fn() == "b"
    redis_client.client_kill_filter(_type="normal", skipme=True)  # the tracker's connection
    clock.advance(0.1)
    assert timed_calls(fn) < BOUND  # a dead connection: fail open, never raise
    clock.advance(5.1)
    observer.reset("a")
    assert fn() == "b"
    assert observer.remaining("a") > 59  # back on Redis


def test_other_threads_never_wait_for_a_slow_refresh(proxy):
    """While one call reads a slow Redis (0.3 s per reply), other threads' calls don't wait."""
    import threading

    import redis

    clock = FakeClock()
    tracker = RedisCooldown(
        redis.Redis(host="127.0.0.1", port=proxy.port),
        namespace="slow-refresh",
        op_timeout=2.0,
        clock=clock,
    )
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(lambda p: p)
    assert fn() == "a"  # the mirror is read once
    proxy.set("delay", 0.3)
    clock.advance(0.1)  # stale: the next call reads Redis, slowly
    reading = threading.Thread(target=fn)
    reading.start()
    deadline = time.monotonic() + 5
    while not tracker._refreshing.locked() and time.monotonic() < deadline:
        time.sleep(0.001)  # until the reader holds the refresh (not a cooldown wait)
    assert tracker._refreshing.locked()
    start = time.monotonic()
    assert [fn() for _ in range(100)] == ["a"] * 100  # the mirror as it is
    others = time.monotonic() - start
    reading.join()
    assert others < 0.15, f"100 calls took {others:.3f} s during a 0.3 s refresh"
