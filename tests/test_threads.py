"""Thread safety with real threads started on a Barrier, asserting exact invariants."""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable

import pytest

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    InMemoryRoundRobin,
    routed,
)

THREADS = 16
CALLS = 2000


class BadRequest(Exception):
    status_code = 400


def run_threads(work: Callable[[int], None], threads: int = THREADS) -> None:
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def target(index: int) -> None:
        try:
            barrier.wait()
            work(index)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    pool = [threading.Thread(target=target, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert errors == []


def test_round_robin_is_exactly_balanced_with_failures_mixed_in():
    """16 threads x 2000 calls over 3 providers: each gets floor or ceil of k/n."""
    picks: list[str] = []

    def call(provider):
        picks.append(provider)
        if provider == "b":
            raise RuntimeError("b fails")
        return provider

    fn = routed(providers=["a", "b", "c"], strategy="round_robin")(call)
    outcomes = Counter()

    def work(_: int) -> None:
        local = Counter()
        for _ in range(CALLS):
            try:
                local[fn()] += 1
            except AllProvidersFailedError:
                local["failed"] += 1
        outcomes.update(local)

    run_threads(work)
    total = THREADS * CALLS
    counts = Counter(picks)
    assert sum(counts.values()) == total
    assert set(counts.values()) <= {total // 3, -(-total // 3)}
    assert outcomes == {"a": counts["a"], "c": counts["c"], "failed": counts["b"]}
    status = fn.router.status()
    assert status["a"].successes == counts["a"]
    assert status["b"].failures == counts["b"]
    assert status["c"].successes == counts["c"]


def test_shared_counter_balances_across_routers_and_threads():
    """Two routers sharing a counter stay balanced together."""
    counter = InMemoryRoundRobin()
    picks: list[str] = []
    f = routed(providers=["a", "b"], strategy="round_robin", counter=counter)(picks.append)
    g = routed(providers=["a", "b"], strategy="round_robin", counter=counter)(picks.append)

    def work(index: int) -> None:
        fn = f if index % 2 else g
        for _ in range(CALLS):
            fn()

    run_threads(work)
    assert Counter(picks) == {"a": THREADS * CALLS // 2, "b": THREADS * CALLS // 2}


def test_fallback_counts_stay_exact_under_threads(clock):
    """Mixed successes and uncounted failures: every count in status() is exact."""

    def call(provider, n):
        if provider == "a" and n % 2:
            raise BadRequest("odd")
        return provider

    fn = routed(providers=["a", "b"], cooldown=InMemoryCooldown(60, clock=clock))(call)
    served = Counter()

    def work(_: int) -> None:
        local = Counter(fn(n) for n in range(CALLS))
        served.update(local)

    run_threads(work)
    half = THREADS * CALLS // 2
    assert served == {"a": half, "b": half}
    status = fn.router.status()
    assert (status["a"].successes, status["a"].failures) == (half, half)
    assert (status["b"].successes, status["b"].failures) == (half, 0)
    assert fn.router.tracker.snapshot() == {}  # 400s fall back but are never counted


def test_tracker_stays_consistent_when_a_provider_breaks_under_load(clock):
    """A provider that breaks is benched once for all threads; the rest is served."""
    calls_to_a = Counter()

    def call(provider):
        if provider == "a":
            calls_to_a[threading.get_ident()] += 1
            raise RuntimeError("a down")
        return provider

    tracker = InMemoryCooldown(60, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    served = Counter()

    def work(_: int) -> None:
        served.update(fn() for _ in range(CALLS))

    run_threads(work)
    assert served == {"b": THREADS * CALLS}
    # each thread can hit "a" at most once before it is benched for everyone
    assert 1 <= sum(calls_to_a.values()) <= THREADS
    assert all(count == 1 for count in calls_to_a.values())
    status = fn.router.status()
    assert status["a"].failures == sum(calls_to_a.values())
    assert status["a"].available is False
    assert tracker.snapshot()["a"].remaining == 60


def test_provider_calls_run_in_parallel_not_under_a_lock():
    """8 threads can be inside provider calls at the same moment."""
    inside = threading.Barrier(8, timeout=10)

    def call(provider):
        inside.wait()  # only passes if all 8 calls are running at once
        return provider

    fn = routed(providers=["a", "b"])(call)
    results: list[str] = []
    run_threads(lambda _: results.append(fn()), threads=8)
    assert results == ["a"] * 8


@pytest.mark.parametrize("threads", [4])
def test_status_survives_threads_that_finished(threads):
    """Counts of finished threads are kept when new threads start calling."""
    fn = routed(providers=["a"])(lambda p: p)
    for _ in range(3):
        run_threads(lambda _: [fn() for _ in range(100)], threads=threads)
    assert fn.router.status()["a"].successes == 3 * threads * 100


def test_reset_and_status_are_safe_while_threads_call():
    """16 threads call while another resets and reads status: nothing raises, counts stay sane."""
    names = [f"p{i}" for i in range(40)]
    counter = iter(range(10**9))

    @routed(providers=lambda: [names[next(counter) % 40]])
    def f(provider):
        return provider

    stop = threading.Event()
    errors: list[BaseException] = []
    barrier = threading.Barrier(17)

    def call():
        barrier.wait()
        try:
            while not stop.is_set():
                f()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    barrier.wait()
    try:
        for _ in range(300):
            f.router.reset()
            for row in f.router.status():
                assert row.successes >= 0
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


@pytest.mark.parametrize("gil", [True, False], ids=["gil", "free-threaded"])
def test_the_in_memory_counter_hands_out_each_index_once_under_threads(monkeypatch, gil):
    """16 threads x 2000 steps: every index from 0 appears exactly once, with or without
    the GIL (a free-threaded build takes the lock)."""
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: gil, raising=False)
    counter = InMemoryRoundRobin()
    seen: list[list[int]] = [[] for _ in range(THREADS)]

    def work(index: int) -> None:
        step = counter.next_index
        seen[index].extend(step() for _ in range(CALLS))

    run_threads(work)
    values = sorted(v for part in seen for v in part)
    assert values == list(range(THREADS * CALLS))
    assert repr(counter) == f"InMemoryRoundRobin(next={THREADS * CALLS})"
