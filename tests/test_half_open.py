"""Half-open probing (DESIGN §6): after a cooldown one call probes the provider, every other
call treats it as benched until the probe returns; in memory, across trackers and processes.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from fallback_router import (
    AllProvidersFailedError,
    AttemptStarted,
    Event,
    InMemoryCooldown,
    ProviderSkipped,
    RedisCooldown,
    TerminusForced,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, saturated_router, wait_until
from .support.redis_helpers import key, keys, unreachable_client


def test_exactly_one_of_16_threads_probes_an_expired_provider(clock):
    """Sync only (real threads): 16 threads reach a provider whose cooldown ended: exactly one attempts it."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", Boom())
    clock.advance(11)
    inside = threading.Event()
    release = threading.Event()
    served: list[str] = []
    barrier = threading.Barrier(16)

    @routed(providers=["a", "b"], cooldown=tracker)
    def f(provider):
        if provider == "a":
            inside.set()
            release.wait(10)
        served.append(provider)
        return provider

    def call():
        barrier.wait()
        f()

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    assert inside.wait(10)
    for _ in range(200):
        if served.count("b") == 15:
            break
        threading.Event().wait(0.01)  # poll for the other 15 calls (not a cooldown wait)
    release.set()
    for t in threads:
        t.join()
    assert served.count("a") == 1
    assert served.count("b") == 15
    assert tracker.snapshot() == {}  # the successful probe cleared it


def test_only_a_probe_is_logged_and_marked_as_one(clock, logs, path):
    """A probe is logged and its AttemptStarted says probe=True; a plain attempt neither."""
    tracker = InMemoryCooldown(10, clock=clock)
    events: list[Event] = []
    fn = path.routed(["a", "b"], cooldown=tracker, clock=clock, on_event=events.append)(lambda p: p)
    assert fn() == "a"  # with a hook every attempt is announced; it is no probe
    assert [e.probe for e in events if isinstance(e, AttemptStarted)] == [False]
    assert not logs.find("probing half-open provider")
    tracker.record_failure("a", RuntimeError("a down"))
    clock.advance(10)
    events.clear()
    assert fn() == "a"
    starts = [e for e in events if isinstance(e, AttemptStarted)]
    assert [(e.provider, e.attempt, e.probe, e.is_terminus) for e in starts] == [
        ("a", 1, True, False)
    ]
    [record] = logs.find("probing half-open provider")
    assert record["message"] == "probing half-open provider: a (attempt 1)"
    assert record["extra"] == {"provider": "a", "attempt": 1}


def test_a_failed_probe_goes_straight_back_whatever_the_threshold(clock, path):
    """threshold=3, but a failed probe benches again at the next escalation level."""
    tracker = InMemoryCooldown(10, threshold=3, max_duration=100, clock=clock)
    for _ in range(3):
        tracker.record_failure("a", Boom())
    assert tracker.remaining("a") == 10
    clock.advance(10)
    assert tracker.snapshot()["a"].half_open
    events: list[object] = []

    def body(provider):
        if provider == "a":
            raise Boom
        return provider

    f = path.routed(["a", "b"], cooldown=tracker, on_event=events.append)(body)
    assert f() == "b"
    assert tracker.remaining("a") == 20
    status = f.router.status()["a"]
    assert (status.available, status.cooldown_length) == (False, 20)
    started = [e for e in events if type(e).__name__ == "AttemptStarted"]
    assert started[0].probe is True


def test_half_open_false_restores_the_threshold(clock):
    """half_open=False: after a cooldown, one failure below the threshold benches nobody."""
    tracker = InMemoryCooldown(10, threshold=2, half_open=False, clock=clock)
    tracker.record_failure("a", Boom())
    tracker.record_failure("a", Boom())
    clock.advance(11)
    assert tracker.try_probe("a") is None
    assert tracker.record_failure("a", Boom()) == 0.0


def test_status_shows_half_open(clock, path):
    """ProviderStatus.half_open is True between the cooldown's end and a success."""

    def body(provider):
        if provider == "a":
            raise Boom
        return provider

    f = path.routed(["a", "b"], cooldown=InMemoryCooldown(5, clock=clock), clock=clock)(body)

    f()
    clock.advance(6)
    row = f.router.status()["a"]
    assert (row.available, row.half_open) == (True, True)
    assert "half-open" in repr(f.router.status())


def test_a_half_open_stream_is_a_probe_and_its_success_clears(path):
    """A stream's first item from a half-open provider is its probe; it clears the state."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, half_open=True, clock=clock)

    def body(provider):
        yield provider

    stream = path.routed(["a", "b"], cooldown=tracker, clock=clock)(body)
    tracker.record_failure("a", Boom())
    assert stream.items() == ["b"]
    clock.advance(10)
    assert stream.items() == ["a"]  # the probe streamed
    assert tracker.snapshot() == {}


def test_a_half_open_provider_waited_for_is_probed(path):
    """A half-open provider the call waited a slot for is attempted as its probe."""
    from fallback_router import AttemptStarted

    fn, limiter, tracker, clock, events = saturated_router(
        benched=["b"], half_open=True, release_on=[("ProviderSkipped", "b", ["b"])], path=path
    )
    clock.advance(0.5)  # b's cooldown is over: half-open
    assert limiter.try_acquire("b")
    assert fn() == "b"
    started = [e for e in events if isinstance(e, AttemptStarted) and e.provider == "b"]
    assert [e.probe for e in started] == [True]
    assert "b" not in tracker.snapshot()  # the probe succeeded: b is clean


# -- the tracker's probe -------------------------------------------------------------------


def test_end_probe_makes_the_provider_probeable_again():
    """try_probe: seconds left in cooldown, True when claimed, False while held; end_probe frees it."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    assert tracker.try_probe("a") == 10.0  # in cooldown: the seconds left, no probe yet
    clock.advance(10)
    assert tracker.try_probe("a") is True
    assert tracker.try_probe("a") is False  # held
    assert tracker.remaining("a") == 10.0  # held at most until the state lapses
    clock.advance(9.5)
    assert tracker.remaining("a") == 0.5
    tracker.end_probe("a")  # released without a verdict
    assert tracker.remaining("a") == 0.0
    assert tracker.try_probe("a") is True
    tracker.end_probe("b")  # a provider without a probe: nothing happens


def test_a_failed_probe_benches_again_and_the_next_cooldown_end_is_probed_again():
    """A failed probe benches again; when that cooldown ends a new probe can be claimed."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.try_probe("a") is True
    assert tracker.record_failure("a", RuntimeError()) == 10  # the probe failed
    assert tracker.try_probe("a") == 10.0  # benched again (seconds left), not "probed elsewhere"
    clock.advance(10)
    assert tracker.try_probe("a") is True  # the next probe is not blocked by the old one


def test_a_probe_ending_in_a_non_trigger_error_is_released(path):
    """The probe is given back when the error is not a fallback trigger: probe again."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, half_open=True, clock=clock)
    state: dict[str, Exception | None] = {"error": Boom("down")}

    def call(provider):
        error = state["error"]
        if provider == "a" and error is not None:
            raise error
        return provider

    fn = path.routed(["a", "b"], cooldown=tracker, fallback_on=Boom, clock=clock)(call)
    assert fn() == "b"  # a benched
    clock.advance(10)
    state["error"] = KeyError("the caller's bug")  # not a fallback trigger: raised as is
    with pytest.raises(KeyError):
        fn()
    assert tracker.try_probe("a") is True  # released: a new probe can be claimed
    tracker.end_probe("a")
    state["error"] = None
    call_result = fn.route()
    assert (call_result.provider, call_result.attempts[0].provider) == ("a", "a")


def test_a_plain_attempt_never_releases_anothers_probe(path):
    """Releasing is for the probing call only: a forced terminus leaves the probe alone."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, half_open=True, clock=clock)

    def call(provider):
        raise KeyError(provider)  # not a fallback trigger

    fn = path.routed(["a"], cooldown=tracker, fallback_on=Boom, clock=clock, max_concurrency=5)(
        call
    )  # with a limiter, every attempt gives back what it took
    tracker.record_failure("a", Boom())
    clock.advance(10)
    assert tracker.try_probe("a") is True  # someone else probes a
    with pytest.raises(KeyError):
        fn()  # the terminus is tried anyway (not as a probe) and raises
    assert tracker.try_probe("a") is False  # the other probe is still held


# -- a probe taken by another call ---------------------------------------------------------


def test_a_probe_held_by_another_call_is_planned_as_cooldown(path):
    """Planning sees a held probe as time left (reason "cooldown"), like a cooldown."""
    from fallback_router import ProviderSkipped

    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.try_probe("a") is True  # another call probes a
    events: list[Event] = []
    fn = path.routed(["a", "b"], cooldown=tracker, on_event=events.append)(lambda p: p)
    assert fn.route().skipped == ("a",)
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason, e.remaining) for e in skips] == [("a", "cooldown", 10.0)]


def claim_probe_when(provider: str, tracker: InMemoryCooldown, events: list[Event]):
    """A hook that, when ``provider`` fails, claims another provider's probe: the race of
    another call claiming it between this call's plan and its reaching that provider."""

    def hook(event: Event) -> None:
        events.append(event)
        if type(event).__name__ == "AttemptFailed" and event.provider == provider:
            for name in ("a", "t"):
                tracker.try_probe(name)

    return hook


class StaleView(InMemoryCooldown):
    """A tracker whose bulk view misses held probes (as a stale mirror would)."""

    def remaining_many(self, names):
        return [0.0 for _ in names]  # "no cooldown": only try_probe knows better


def test_a_call_meeting_a_probe_claimed_meanwhile_skips_it_and_says_why(clock, logs, path):
    """A probe claimed after the call's view: skipped as 'probe in flight', named in the error."""
    tracker = StaleView(10, clock=clock)
    tracker.record_failure("a", RuntimeError("a down"))
    clock.advance(11)  # a is half-open
    assert tracker.try_probe("a") is True  # another call probes a
    events: list[Event] = []
    broken = {"x"}

    def call(provider: str) -> str:
        if provider in broken:
            raise RuntimeError(f"{provider} down")
        return provider

    fn = path.routed(["x", "a", "c"], cooldown=tracker, exempt={"x"}, on_event=events.append)(call)
    result = fn.route()
    assert (result.provider, result.attempt, result.skipped) == ("c", 2, ("a",))
    left = tracker.remaining("a")  # how long the probe may still hold a
    assert left == 9.0  # until a's state lapses: cooldown end (1010) + window (10) - now
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason, e.remaining) for e in skips] == [("a", "probe in flight", 9.0)]
    assert logs.find("skipping provider in cooldown: a (9.0 s left)")
    broken.add("c")
    with pytest.raises(AllProvidersFailedError) as failed:
        fn()
    assert failed.value.message == "all providers failed (x, c); skipped in cooldown: a"


def test_a_terminus_whose_probe_was_claimed_meanwhile_is_still_attempted(path):
    """A terminus whose probe another call holds is still attempted (forced), not as a probe."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("t", RuntimeError("t down"))
    clock.advance(11)  # the terminus is half-open
    events: list[Event] = []

    def call(provider: str) -> str:
        if provider == "x":
            raise RuntimeError("x down")
        return provider

    fn = path.routed(
        ["x", "t"],
        cooldown=tracker,
        exempt={"x"},
        on_event=claim_probe_when("x", tracker, events),
    )(call)
    result = fn.route()  # t's probe is held elsewhere, but t is the terminus: attempted
    assert (result.provider, result.attempt, result.was_terminus) == ("t", 2, True)
    forced = [e for e in events if isinstance(e, TerminusForced)]
    # The probe may hold t until its state lapses: cooldown end (1010) + window (10) - now.
    assert [(e.provider, e.remaining) for e in forced] == [("t", 9.0)]
    assert tracker.snapshot() == {}  # t served: its state (and the stray probe) cleared


# -- Redis: one probe across trackers and processes ----------------------------------------


def test_probes_are_claimed_and_released_across_trackers(redis_client):
    """Two trackers on one namespace share one probe: claimed by one, False for the other."""
    clock = FakeClock()
    first = RedisCooldown(redis_client, namespace="probe", duration=60, clock=clock)
    second = RedisCooldown(redis_client, namespace="probe", duration=60, clock=clock)
    assert first.try_probe("a") is None  # nothing known about a
    first.record_failure("a", RuntimeError())
    assert 59 < first.try_probe("a") <= 60  # still in cooldown: the seconds left
    redis_client.delete(key("probe", "cooldown", "a"))  # the cooldown ends (its key expires)
    second.remaining_many(["a"])  # second reads the shared state
    assert first.try_probe("a") is True
    assert second.try_probe("a") is False  # in flight elsewhere
    first.end_probe("a")
    assert not redis_client.exists(key("probe", "probe", "a"))
    assert redis_client.exists(key("probe", "level", "a"))  # no verdict: still half-open
    assert second.try_probe("a") is True


def test_a_failed_probe_ends_its_claim_with_the_new_cooldown(redis_client):
    """Redis: a probe that fails re-benches the provider and ends its claim in one step: once
    that cooldown ends the next call probes again (the claim does not hold it for probe_ttl)."""
    tracker = RedisCooldown(redis_client, namespace="probe-fails", duration=60, refresh=0)
    tracker.record_failure("a", Boom())
    cooldown = key("probe-fails", "cooldown", "a")
    redis_client.delete(cooldown)  # the cooldown ends (its key expires): half-open
    down = {"a"}
    calls: list[str] = []

    def call(provider: str) -> str:
        calls.append(provider)
        if provider in down:
            raise Boom(provider)
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    assert fn() == "b"  # a's probe failed: benched again
    assert redis_client.pttl(cooldown) > 59_000
    assert not redis_client.exists(key("probe-fails", "probe", "a"))
    redis_client.delete(cooldown)  # that cooldown ends too
    down.clear()
    assert fn() == "a"  # probed again at once, and served
    assert calls == ["a", "b", "a"]


def test_snapshot_follows_a_provider_through_half_open(redis_client):
    """Cooldown, then half-open, a probe in flight, then an escalated cooldown."""
    tracker = RedisCooldown(
        redis_client, namespace="snap-ho", duration=10, max_duration=100, probe_ttl=5
    )
    tracker.record_failure("a", RuntimeError())
    cooling = tracker.snapshot()["a"]
    assert (cooling.level, cooling.length, cooling.half_open) == (0, 10.0, False)
    redis_client.delete(key("snap-ho", "cooldown", "a"))  # the cooldown ends (its key expires)
    waiting = tracker.snapshot()["a"]
    assert (waiting.remaining, waiting.level, waiting.length) == (0.0, 0, 0.0)
    assert (waiting.consecutive_failures, waiting.half_open) == (0, True)
    assert tracker.try_probe("a") is True
    probing = tracker.snapshot()["a"]
    assert 4 < probing.remaining <= 5  # the probe's TTL: probe_ttl, not the window
    assert 4000 < redis_client.pttl(key("snap-ho", "probe", "a")) <= 5000
    assert tracker.record_failure("a", RuntimeError()) == 20.0  # the probe failed
    escalated = tracker.snapshot()["a"]
    assert (escalated.level, escalated.length, escalated.half_open) == (1, 20.0, False)


def test_snapshot_without_half_open_never_reports_it(redis_client):
    """With half_open=False a cooldown that ended is not half-open and has nothing to probe."""
    tracker = RedisCooldown(redis_client, namespace="snap-nho", duration=60, half_open=False)
    tracker.record_failure("a", RuntimeError())
    redis_client.delete(key("snap-nho", "cooldown", "a"))  # the cooldown ends
    assert tracker.snapshot()["a"].half_open is False
    assert tracker.try_probe("a") is None  # nothing to probe without half-open


def test_a_failed_probe_rebenches_below_the_threshold(redis_client):
    """Half-open probation: one failure after a cooldown re-benches, whatever threshold."""
    tracker = RedisCooldown(
        redis_client, namespace="lua-prob", duration=10, threshold=3, max_duration=100
    )
    for _ in range(2):
        assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.record_failure("a", RuntimeError()) == 10.0
    redis_client.delete(key("lua-prob", "cooldown", "a"))  # the cooldown ends
    assert tracker.remaining("a") == 0.0  # half-open: available, a level but no cooldown
    assert tracker.record_failure("a", RuntimeError()) == 20.0  # one failure: escalated


def test_without_half_open_a_failure_after_a_cooldown_counts_again(redis_client):
    """With half_open=False a failure after a cooldown starts a new count (Lua script)."""
    tracker = RedisCooldown(
        redis_client, namespace="lua-noho", duration=60, threshold=3, half_open=False
    )
    for _ in range(3):
        tracker.record_failure("a", RuntimeError())
    redis_client.delete(key("lua-noho", "cooldown", "a"))  # the cooldown ends
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # counting starts again


def half_open_probed_elsewhere(redis_client: Any, namespace: str) -> RedisCooldown:
    """A tracker whose mirror says a is half-open, after another process claimed a's probe."""
    clock = FakeClock()
    mine = RedisCooldown(redis_client, namespace=namespace, duration=60, refresh=30, clock=clock)
    other = RedisCooldown(redis_client, namespace=namespace, duration=60)
    mine.record_failure("a", RuntimeError())
    redis_client.delete(key(namespace, "cooldown", "a"))  # the cooldown ends
    assert mine.remaining_many(["a", "b"]) == [0.0, 0.0]  # read: a is half-open
    other.remaining_many(["a"])
    assert other.try_probe("a") is True  # another process probes a meanwhile
    return mine


def test_a_provider_probed_elsewhere_since_the_last_read_is_skipped(redis_client, path):
    """Half-open in this mirror, probed by another process since: skipped as 'probe in flight'."""
    from fallback_router import ProviderSkipped

    mine = half_open_probed_elsewhere(redis_client, "claim-race")
    events: list[object] = []
    fn = path.routed(["a", "b"], cooldown=mine, clock=mine.clock, on_event=events.append)(
        lambda provider: provider
    )
    assert fn() == "b"
    (skip,) = [e for e in events if isinstance(e, ProviderSkipped)]
    assert (skip.provider, skip.reason, skip.remaining) == ("a", "probe in flight", 0.0)


def test_a_terminus_probed_elsewhere_is_tried_but_not_as_a_probe(redis_client, path):
    """A terminus probed by another process is forced, not probed; its success clears it."""
    from fallback_router import AttemptStarted, TerminusForced

    mine = half_open_probed_elsewhere(redis_client, "claim-race-terminus")
    events: list[object] = []

    def call(provider):
        if provider == "b":
            raise RuntimeError("b down")
        return provider

    fn = path.routed(["b", "a"], cooldown=mine, clock=mine.clock, on_event=events.append)(call)
    assert fn() == "a"
    forced = [e for e in events if isinstance(e, TerminusForced)]
    assert [(e.provider, e.remaining) for e in forced] == [("a", 0.0)]
    started = [(e.provider, e.probe) for e in events if isinstance(e, AttemptStarted)]
    assert started == [("b", False), ("a", False)]
    assert not redis_client.exists(key("claim-race-terminus", "level", "a"))  # a works: clean


def test_probes_fail_open_to_the_local_tracker(dead_port):
    """During an outage the local tracker holds the probe: claimed, held, released."""
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, backoff=60, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.try_probe("a") is True  # the local tracker's probe
    assert tracker.try_probe("a") is False
    tracker.end_probe("a")
    assert tracker.try_probe("a") is True  # released locally


def half_open(redis_client: Any, namespace: str) -> None:
    """Bench a, then end its cooldown now (delete the key): a is half-open."""
    tracker = RedisCooldown(redis_client, duration=60, namespace=namespace)
    tracker.record_failure("a", RuntimeError("a down"))
    redis_client.delete(key(namespace, "cooldown", "a"))
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
    """Kill the probing process: its probe key carries probe_ttl (60 s) as its TTL, so the
    provider stays held meanwhile; when the key expires, a is probed again.

    No race with the clock: the TTL is long enough that no spawn on a loaded machine
    outlasts it, and its end is brought forward on the server instead of waited for.
    """
    from redis_workers import probe_or_skip

    half_open(redis_client, "crash")
    prober = spawn.Process(target=probe_or_skip, args=(redis_server.url, "crash", True, 60.0))
    prober.start()
    try:
        assert wait_until(lambda: redis_client.get("test:reached") == b"1", limit=20)
    finally:
        prober.kill()
        prober.join()
    probe_key = "fallback_router:{crash}:probe:a"
    assert 30_000 < redis_client.pttl(probe_key) <= 60_000  # the documented bound: probe_ttl
    with spawn.Pool(1) as pool:
        assert pool.apply(probe_or_skip, (redis_server.url, "crash", False, 60.0)) == "b"
        redis_client.pexpire(probe_key, 1)  # the 60 s run out (on the server's clock)
        assert wait_until(lambda: redis_client.exists(probe_key) == 0, limit=5.0)
        assert pool.apply(probe_or_skip, (redis_server.url, "crash", False, 60.0)) == "a"
