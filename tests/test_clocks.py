"""Time and clocks (DESIGN §6): one injected clock, backwards steps, frozen clocks.

A clock that steps backwards never lengthens a cooldown beyond its length nor makes a
latency negative; waits under a frozen clock (freezegun without tick) end by real time
bounded by the budget.
"""

from __future__ import annotations

import threading
import time

import pytest

from fallback_router import (
    ConcurrencyLimiter,
    DeadlineExceededError,
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
    http_status,
    routed,
)

from .conftest import FakeClock

MARGIN = 3.0  # generous real-time bound for a 0.2 s budget on a loaded machine


@pytest.fixture(params=["memory", "redis"])
def tracker_on(request, redis_client):
    """A tracker kind on a FakeClock (Redis: the mirror's clock; the server keeps its own)."""

    def build(clock: FakeClock, duration: float = 60.0):
        if request.param == "memory":
            return InMemoryCooldown(duration, clock=clock)
        return RedisCooldown(redis_client, duration=duration, clock=clock, namespace="clocks")

    return build


def test_a_backwards_step_never_lengthens_a_cooldown(tracker_on):
    """An hour back after a 60 s cooldown: at most 60 s remain, and it ends 60 s later."""
    clock = FakeClock()
    tracker = tracker_on(clock)
    tracker.record_failure("a", RuntimeError())
    clock.step_back(3600)
    assert 0 < tracker.remaining("a") <= 60


def test_in_memory_cooldown_ends_its_length_after_a_backwards_step():
    """In memory the deadline is re-anchored: the cooldown ends its length after the step."""
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.step_back(3600)
    assert tracker.remaining("a") == 60
    clock.advance(60)
    assert tracker.is_available("a")
    assert tracker.snapshot()["a"].remaining == 0.0


def test_latency_is_never_negative_with_a_backwards_clock():
    """A provider call during which the clock steps back reports latency 0, not negative."""
    clock = FakeClock()

    def call(provider):
        clock.step_back(5)
        return provider

    result = routed(providers=["a"], clock=clock)(call).route()
    assert result.latency == 0.0
    assert result.elapsed == 0.0


def test_a_wait_for_a_slot_under_a_frozen_clock_ends_by_real_time(frozen):
    """freezegun without tick: a call waiting for a slot with timeout=0.2 still ends."""
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire("a")
    fn = routed(providers=["a"], max_concurrency=limiter, timeout=0.2)(lambda p: p)
    start = time.perf_counter()
    with pytest.raises(DeadlineExceededError):
        fn()
    assert time.perf_counter() - start < MARGIN


def test_a_hung_provider_under_a_frozen_clock_is_bounded_by_real_time(frozen):
    """freezegun without tick: timeout=0.2 on a provider that hangs still ends in real time."""
    gate = threading.Event()

    def call(provider):
        gate.wait(30)
        return provider

    fn = routed(providers=["a"], timeout=0.2)(call)
    start = time.perf_counter()
    try:
        with pytest.raises(DeadlineExceededError):
            fn()
    finally:
        gate.set()
    assert time.perf_counter() - start < MARGIN


def test_an_empty_status_range_is_rejected():
    """http_status(range(400, 400)) matches nothing: an InvalidConfigError naming it."""
    with pytest.raises(InvalidConfigError, match=r"range\(400, 400\).*empty range"):
        http_status(range(400, 400))


def test_status_survives_a_raising_providers_callable():
    """status() shows the names seen most recently when the providers callable raises."""
    state = {"fail": False}

    def providers():
        if state["fail"]:
            raise RuntimeError("config service down")
        return ["a", "b"]

    fn = routed(providers=providers)(lambda provider: provider)
    fn()
    state["fail"] = True
    assert [row.name for row in fn.router.status()] == ["a"]
    fn.router.reset()
