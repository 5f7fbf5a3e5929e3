"""Long-running processes (DESIGN §10): bounded memory whatever the call pattern, no frames
kept, no state per thread, tracker writes that never scan.
"""

from __future__ import annotations

import _thread
import gc
import threading
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    http_status,
    routed,
)
from fallback_router._engine.stats import RECENT_NAMES, Counts

from .support.helpers import Boom


@pytest.mark.parametrize("new_per_call", [1, 2, 3])
def test_status_counts_are_bounded_for_a_changing_provider_list(new_per_call):
    """Counts are kept for the current providers plus RECENT_NAMES others, newest first."""
    state = {"i": 0}

    def providers():
        state["i"] += 1
        return [f"n{k}-{state['i']}" for k in range(new_per_call)] + ["steady"]

    def call(provider):
        if provider != "steady":
            raise Boom(provider)
        return provider

    fn = routed(providers=providers, cooldown=None)(call)
    stats = fn.router.setup.stats
    sizes = []
    for _ in range(3 * RECENT_NAMES):
        fn()
        sizes.append(len(stats.known()))
        assert state["i"] == 1 or f"n0-{state['i'] - 1}" in stats.known()  # newest kept
    current = new_per_call + 1
    # Never more than current + RECENT_NAMES, and the bound is reached (within a step).
    assert current + RECENT_NAMES - new_per_call < max(sizes) <= current + RECENT_NAMES
    assert min(sizes[RECENT_NAMES:]) >= current + RECENT_NAMES // 2  # trimmed to half
    assert "steady" in stats.known()  # a current provider is never dropped
    assert "n0-1" not in stats.known()  # the oldest went ...
    assert stats.get("n0-1") == Counts()  # ... with its counts
    assert stats.get(f"n0-{state['i']}").failures == 1
    assert fn.router.status()["steady"].successes == 3 * RECENT_NAMES


@pytest.mark.memory
@pytest.mark.slow
def test_counts_are_bounded_for_a_changing_provider_list():
    """100,000 distinct names over a router's life: counts kept for current + RECENT_NAMES."""

    state = {"i": 0}

    def providers():
        state["i"] += 1
        return [f"name-{state['i']}", "steady"]

    @routed(providers=providers, exempt=(), cooldown=None)
    def f(provider):
        if provider != "steady":
            raise Boom(provider)
        return provider

    # Only the library's own allocations (threads left by other tests may allocate meanwhile),
    # after a collection: failed calls leave cycles (error, traceback, frame) for the GC.
    ours = [tracemalloc.Filter(inclusive=True, filename_pattern="*/fallback_router/*")]
    tracemalloc.start()
    for _ in range(2_000):
        f()
    gc.collect()
    before = tracemalloc.take_snapshot().filter_traces(ours)
    for _ in range(100_000):
        f()
    gc.collect()
    after = tracemalloc.take_snapshot().filter_traces(ours)
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    stats = f.router.setup.stats
    assert len(stats.known()) <= 2 + RECENT_NAMES
    assert len(stats._failures) <= 2 + RECENT_NAMES
    assert grown < 1_000_000  # unbounded growth would be ~30 MB


def test_last_error_keeps_no_frames_alive():
    """The status' last_error has no traceback, cause or context; big locals are freed."""

    class Big:
        pass

    alive: list[object] = []

    @routed(providers=["a", "b"], cooldown=None)
    def f(provider):
        big = Big()
        alive.append(__import__("weakref").ref(big))
        try:
            raise KeyError("inner")
        except KeyError:
            raise Boom(provider) from None

    with pytest.raises(AllProvidersFailedError):
        f()
    gc.collect()
    error = f.router.status()["a"].last_error
    assert isinstance(error, Boom)
    assert str(error) == "a"
    assert error.__traceback__ is None
    assert error.__context__ is None
    assert all(ref() is None for ref in alive)


@pytest.mark.memory
@pytest.mark.slow
def test_counts_keep_no_state_per_thread_and_stay_exact_across_raw_threads():
    """50 raw `_thread` threads and a pool: counts exact, and memory does not grow per thread."""

    @routed(providers=["a"])
    def f(provider):
        return provider

    def work(done):
        for _ in range(10):
            f()
        done.release()

    def threads(n):
        for _ in range(n):
            done = threading.Lock()
            done.acquire()
            _thread.start_new_thread(work, (done,))
            done.acquire()

    threads(5)  # warm up: every lazily built structure exists
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        threads(50)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: f(), range(40)))
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    assert f.router.status()["a"].successes == 590
    grown = sum(
        stat.size_diff
        for stat in after.compare_to(before, "filename")
        if "fallback_router" in stat.traceback[0].filename
    )
    assert grown < 2_000  # the library's own allocations: nothing kept per thread


class CountingDict(dict):
    """A dict that counts whole-table walks (iteration, items, values, keys, copies)."""

    walks = 0

    def _walk(self, method, *args):
        CountingDict.walks += 1
        return method(self, *args)

    def __iter__(self):
        return self._walk(dict.__iter__)

    def items(self):
        return self._walk(dict.items)

    def values(self):
        return self._walk(dict.values)

    def keys(self):
        return self._walk(dict.keys)

    def copy(self):
        return self._walk(dict.copy)


def test_tracker_writes_do_not_scan_every_provider(clock):
    """With 100,000 providers in cooldown, writes walk no table: only their own entries."""
    tracker = InMemoryCooldown(60, threshold=2, clock=clock)
    for table in ("_deadlines", "_failures", "_levels", "_probes", "_due"):
        setattr(tracker, table, CountingDict(getattr(tracker, table)))
    for i in range(100_000):
        tracker.record_failure(f"p{i}", Boom())
        tracker.record_failure(f"p{i}", Boom())
    CountingDict.walks = 0
    clock.advance(1)
    for _ in range(1_000):
        tracker.record_failure("x", Boom())
        tracker.record_success("x")
    assert CountingDict.walks == 0
    assert len(tracker._deadlines) == 100_000
    clock.advance(61 + 60)  # every cooldown and its half-open window lapse
    tracker.record_failure("y", Boom())
    assert set(tracker.snapshot()) == {"y"}


@pytest.mark.memory
@pytest.mark.slow
def test_http_status_ranges_cost_no_memory_per_code():
    """http_status(range(100, 600)) is about as big as one range."""

    class E(Exception):
        status_code = 503

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    predicate = http_status(range(100, 600))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    # Only what the classification module allocated (where http_status builds its
    # predicate): threads left by other tests may allocate meanwhile.
    ours = [tracemalloc.Filter(inclusive=True, filename_pattern="*fallback_router/_classify.py")]
    diff = after.filter_traces(ours).compare_to(before.filter_traces(ours), "filename")
    grown = sum(s.size_diff for s in diff)
    assert grown < 4_000, [str(d) for d in diff[:5]]
    assert predicate(E())
