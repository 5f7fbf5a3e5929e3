"""Half-open is one probe in the whole system (DESIGN §6, §7): threads, processes, stale views.

A tracker tells "in cooldown" apart from "nothing to probe" and "probe taken elsewhere";
a call whose view is stale learns "in cooldown" and skips; a success never wipes a
cooldown set after that call's view was read; a dead prober frees the provider within
`probe_ttl` (30 s, or the router's `timeout` when shorter). The Redis tracker's mirror
honours shared state from its first call, and within refresh + a round trip while the
process is busy computing.
"""

from __future__ import annotations

import itertools
import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from fallback_router import AttemptStarted, InMemoryCooldown, RedisCooldown, routed

from .conftest import FakeClock

SUPPORT = str(Path(__file__).parent / "support")


@pytest.fixture
def spawn(monkeypatch):
    """A spawn context whose children import tests/support (as the suite's other workers)."""
    monkeypatch.syspath_prepend(SUPPORT)
    monkeypatch.setenv("PYTHONPATH", SUPPORT)
    return multiprocessing.get_context("spawn")


def test_thirty_two_threads_make_one_probe_per_cooldown_end():
    """Sync only (real threads). In memory: each time a failing provider's cooldown ends,
    exactly one call attempts it."""
    clock = FakeClock()
    tracker = InMemoryCooldown(1.0, clock=clock)
    attempts = []
    lock = threading.Lock()

    def call(provider):
        if provider == "a":
            with lock:
                attempts.append(clock())
            raise RuntimeError("a is down")
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(call)
    barrier = threading.Barrier(32)

    def worker():
        barrier.wait()
        for _ in range(5):
            fn()

    for _ in range(6):
        threads = [threading.Thread(target=worker) for _ in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        clock.advance(1.0)  # the cooldown ends: the next round holds one probe
    assert attempts == [1000.0 + round_ for round_ in range(6)]


def test_a_stale_view_learns_the_cooldown_from_the_tracker(path):
    """A call that read 'no cooldown' but meets one set since skips, reason cooldown."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    events = []
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)  # half-open: the view shows state but no cooldown
    view = tracker.remaining_many(["a", "b"])
    assert list(view) == [0.0, 0.0]
    tracker.record_failure("a", RuntimeError())  # re-benched by someone else since
    assert isinstance(tracker.try_probe("a"), float)  # not "go", not "taken"
    fn = path.routed(["a", "b"], cooldown=tracker, clock=clock, on_event=events.append)(
        lambda provider: provider
    )
    assert fn() == "b"


def test_a_success_never_wipes_a_cooldown_set_after_its_view_was_read():
    """Sync only (a second thread benches a mid-call). In memory: a slow success that
    started on a clean view leaves a newer cooldown alone."""
    tracker = InMemoryCooldown(60)
    entered = threading.Event()
    benched = threading.Event()

    def call(provider):
        if provider == "a":
            entered.set()
            benched.wait(10)
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    tracker.record_failure("x", RuntimeError())  # some state, so the call plans with a view
    thread = threading.Thread(target=fn)
    thread.start()
    assert entered.wait(10)
    tracker.record_failure("a", RuntimeError())  # another thread benches a meanwhile
    benched.set()
    thread.join()
    assert tracker.remaining("a") > 59


@pytest.mark.processes
def test_four_processes_make_one_probe_per_cooldown_end(
    redis_server, redis_client, spawn, real_redis_binary
):
    """4 processes x 8 threads on a failing provider: every attempt on it is a claimed probe,
    and no two probes fall within one cooldown (0.2 s)."""
    from probe_workers import hammer

    namespace = "one-probe"
    with spawn.Pool(4) as pool:
        pending = pool.starmap_async(hammer, [(redis_server.url, namespace, 8, 2.5)] * 4)
        # A barrier, not a start time: children slow to import on a busy machine still
        # start together, after the bench. Benched before any worker calls, for 0.5 s: a
        # never-failed provider is tried plainly, so the bench must not race first calls.
        deadline = time.monotonic() + 120
        while int(redis_client.get(f"{namespace}:ready") or 0) < 4:
            assert time.monotonic() < deadline, "the workers never got ready"
            assert not pending.ready(), pending.get()  # a worker that died says why
            time.sleep(0.01)
        bench = RedisCooldown(
            redis_client, duration=0.5, max_duration=60, multiplier=1.0, namespace=namespace
        )
        bench.record_failure("a", RuntimeError())
        redis_client.set(f"{namespace}:go", "1")
        counts = pending.get(timeout=120)
    probes = sum(c[0] for c in counts)
    plain = sum(c[1] for c in counts)
    assert plain == 0
    stamps = [float(s) for s in redis_client.lrange(f"{namespace}:probes", 0, -1)]
    assert len(stamps) == probes >= 3
    gaps = [later - earlier for earlier, later in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.19  # each probe re-benches for 0.2 s (server time; ms rounding)


@pytest.mark.processes
def test_success_in_a_stale_process_keeps_a_newer_cooldown(redis_client):
    """Redis: a success that started before another process benched the provider keeps it benched."""
    mine = RedisCooldown(redis_client, duration=60, namespace="stale-success")
    theirs = RedisCooldown(redis_client, duration=60, namespace="stale-success")
    mine.record_failure("x", RuntimeError())  # some state: the call plans with a view
    entered = threading.Event()
    benched = threading.Event()

    def call(provider):
        if provider == "a":
            entered.set()
            benched.wait(10)
        return provider

    fn = routed(providers=["a", "b"], cooldown=mine)(call)
    thread = threading.Thread(target=fn)
    thread.start()
    assert entered.wait(10)
    theirs.record_failure("a", RuntimeError())
    benched.set()
    thread.join()
    assert theirs.remaining("a") > 59


@pytest.mark.processes
def test_a_killed_prober_frees_the_provider_within_the_routers_timeout(
    redis_server, redis_client, spawn, real_redis_binary
):
    """probe_ttl defaults to 30 s but a router with timeout=2 claims probes for 2 s at most."""
    from probe_workers import hold_probe

    namespace = "killed-prober"
    tracker = RedisCooldown(redis_client, duration=0.05, max_duration=60, namespace=namespace)
    tracker.record_failure("a", RuntimeError())
    time.sleep(0.1)  # Redis expiry is the clock here: let the 50 ms cooldown end
    prober = spawn.Process(target=hold_probe, args=(redis_server.url, namespace, 2.0))
    prober.start()
    try:
        deadline = time.monotonic() + 20
        while not redis_client.exists("test:probing") and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        prober.kill()
        prober.join()
    probe_key = f"fallback_router:{{{namespace}}}:probe:a"
    assert 0 < redis_client.pttl(probe_key) <= 2000


@pytest.mark.processes
def test_a_new_trackers_first_calls_honour_the_shared_state(redis_client):
    """8 threads' first calls through a brand-new tracker never reach a provider benched in Redis."""
    RedisCooldown(redis_client, duration=60, namespace="first-calls").record_failure(
        "a", RuntimeError()
    )
    fresh = RedisCooldown(redis_client, duration=60, namespace="first-calls")
    fn = routed(providers=["a", "b"], cooldown=fresh)(lambda provider: provider)
    barrier = threading.Barrier(8)
    served = []

    def worker():
        barrier.wait()
        served.append(fn())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert served == ["b"] * 8


@pytest.mark.processes
def test_a_busy_process_sees_another_process_cooldown_within_the_bound(
    redis_server, redis_client, spawn, real_redis_binary
):
    """Timing bound (the one the contract states): with 8 CPU-bound threads, process B stops
    calling a within refresh (0.1) + one round trip + 50 ms of A benching it. Marked margin:
    the round trip is allowed 50 ms on top, so the bound checked is 0.2 s."""
    from probe_workers import staleness

    namespace = "busy"
    started = f"{namespace}:started"
    with spawn.Pool(1) as pool:
        pending = pool.apply_async(staleness, (redis_server.url, namespace, started, 2.0, 8))
        deadline = time.monotonic() + 60
        while not redis_client.get(started) and time.monotonic() < deadline:
            time.sleep(0.01)  # B's start-up (spawn, imports) may take long on a busy machine
        time.sleep(0.3)  # B runs its busy threads meanwhile
        RedisCooldown(redis_client, duration=60, namespace=namespace).record_failure(
            "a", RuntimeError()
        )
        benched_at = time.time()
        served = pending.get(timeout=60)
    late = [(start, provider) for start, provider in served if start >= benched_at + 0.2]
    assert late, "B made no call after the bound"
    assert {provider for _, provider in late} == {"b"}
    assert any(provider == "a" for start, provider in served if start < benched_at)


def test_reads_cover_only_the_names_in_use(redis_client, monkeypatch):
    """4,096 rotating names: each read touches the names used since the previous one, no more."""
    from redis.connection import AbstractConnection

    keys_per_script: list[int] = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        text = b"".join(command) if isinstance(command, list) else command
        if b"EVALSHA" in text[:40]:
            parts = text.split(b"\r\n")
            keys_per_script.append(int(parts[6]))
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    tracker = RedisCooldown(redis_client, duration=60, namespace="rotating", refresh=0)
    turn = {"i": 0}

    def providers():
        turn["i"] += 1
        base = 3 * (turn["i"] % 1365)
        return [f"p{base}", f"p{base + 1}", f"p{base + 2}"]

    fn = routed(providers=providers, cooldown=tracker)(lambda provider: provider)
    for _ in range(4096 // 3):
        fn()
    assert keys_per_script
    assert max(keys_per_script) <= 4 * 6  # this call's 3 names + the previous call's 3


def test_tracker_reset_leaves_the_rotation_alone(redis_client):
    """The default round-robin key lies outside every cooldown namespace."""
    from fallback_router import RedisRoundRobin

    counter = RedisRoundRobin(redis_client)
    assert not counter.key.startswith("fallback_router:{")
    assert [counter.next_index() for _ in range(3)] == [0, 1, 2]
    tracker = RedisCooldown(redis_client)
    assert "" not in tracker.snapshot()
    tracker.reset()
    assert counter.next_index() == 3


def test_a_probe_started_event_marks_claimed_probes(path):
    """AttemptStarted.probe is True exactly for the half-open provider's claimed probe."""
    clock = FakeClock()
    tracker = InMemoryCooldown(5, clock=clock)
    events = []
    fn = path.routed(["a", "b"], cooldown=tracker, clock=clock, on_event=events.append)(
        lambda provider: provider
    )
    tracker.record_failure("a", RuntimeError())
    clock.advance(5)
    assert fn() == "a"
    started = [e for e in events if isinstance(e, AttemptStarted)]
    assert [(e.provider, e.probe) for e in started] == [("a", True)]
