"""RedisCooldown and RedisRoundRobin details that mutation testing found unpinned.

Every test runs in-process against the session's real redis-server (or a fault proxy
in front of it), so mutmut sees each behaviour.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from fallback_router import (
    InvalidConfigError,
    RedisCooldown,
    RedisRoundRobin,
    routed,
)
from fallback_router._redis import MIRROR_NAMES

from .conftest import FakeClock, RedisServer, free_port
from .support.fault_proxy import FaultProxy
from .test_redis import fleet, unreachable_client, wait_until


class Retry(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds}")
        self.headers = {"Retry-After": str(seconds)}


@pytest.fixture
def dead_port() -> int:
    return free_port()


def through(proxy: FaultProxy) -> Any:
    import redis

    return redis.Redis(host="127.0.0.1", port=proxy.port)


def key(namespace: str, kind: str, name: str) -> str:
    return f"fallback_router:{{{namespace}}}:{kind}:{name}"


# -- snapshot ------------------------------------------------------------------------------


def test_snapshot_follows_a_provider_through_half_open(redis_client):
    """Cooldown, then half-open, a probe in flight, then an escalated cooldown."""
    tracker = RedisCooldown(
        redis_client, namespace="snap-ho", duration=0.2, max_duration=10, probe_ttl=5
    )
    tracker.record_failure("a", RuntimeError())
    cooling = tracker.snapshot()["a"]
    assert (cooling.level, cooling.length, cooling.half_open) == (0, 0.2, False)
    assert wait_until(lambda: not redis_client.exists(key("snap-ho", "cooldown", "a")))
    waiting = tracker.snapshot()["a"]
    assert (waiting.remaining, waiting.level, waiting.length) == (0.0, 0, 0.0)
    assert (waiting.consecutive_failures, waiting.half_open) == (0, True)
    assert tracker.try_probe("a") is True
    probing = tracker.snapshot()["a"]
    assert 4 < probing.remaining <= 5  # the probe's TTL: probe_ttl, not the window
    assert 4000 < redis_client.pttl(key("snap-ho", "probe", "a")) <= 5000
    assert tracker.record_failure("a", RuntimeError()) == 0.4  # the probe failed
    escalated = tracker.snapshot()["a"]
    assert (escalated.level, escalated.length, escalated.half_open) == (1, 0.4, False)


def test_snapshot_without_half_open_never_reports_it(redis_client):
    tracker = RedisCooldown(redis_client, namespace="snap-nho", duration=0.05, half_open=False)
    tracker.record_failure("a", RuntimeError())
    assert wait_until(lambda: not redis_client.exists(key("snap-nho", "cooldown", "a")))
    assert tracker.snapshot()["a"].half_open is False
    assert tracker.try_probe("a") is None  # nothing to probe without half-open


def test_snapshot_skips_keys_that_expire_while_it_reads(redis_client, monkeypatch):
    """A key gone between SCAN and its read is skipped; the others are all reported."""
    import redis.client

    tracker = RedisCooldown(redis_client, namespace="snap-race", threshold=2)
    names = [f"p{i}" for i in range(12)]
    for name in names:
        tracker.record_failure(name, RuntimeError())  # one failure: a count key only
    original = redis.client.Pipeline.execute
    gone: list[str] = []

    def execute(self: Any, *args: Any, **kwargs: Any) -> Any:
        first = self.command_stack[0][0][1]  # the first key read
        redis_client.delete(first)
        gone.append(first.decode() if isinstance(first, bytes) else first)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", execute)
    snap = tracker.snapshot()
    vanished = gone[0].rsplit(":", 1)[1]
    assert set(snap) == set(names) - {vanished}
    assert all(state.consecutive_failures == 1 for state in snap.values())


def test_snapshot_with_a_decoding_client(redis_server):
    """A client built with decode_responses=True returns str keys; they are read too."""
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    tracker = RedisCooldown(client, namespace="snap-str", duration=30, threshold=2)
    tracker.record_failure("a", RuntimeError())
    tracker.record_failure("b", RuntimeError())
    tracker.record_failure("b", RuntimeError())
    snap = tracker.snapshot()
    assert snap["a"].consecutive_failures == 1
    assert 29 < snap["b"].remaining <= 30


# -- the mirror ----------------------------------------------------------------------------


def test_the_mirror_follows_at_most_mirror_names(redis_client):
    """Asked about more names than MIRROR_NAMES, the oldest are dropped first."""
    tracker = RedisCooldown(redis_client, namespace="mirror-cap", refresh=0)
    tracker.remaining_many([f"n{i}" for i in range(MIRROR_NAMES)])
    tracker.remaining_many(["newest"])
    known = list(tracker._known)
    assert len(known) == MIRROR_NAMES
    assert known[0] == "n1"  # n0, the oldest, went first
    assert known[-1] == "newest"


def test_own_writes_during_a_refresh_survive_it(proxy, redis_client):
    """A failure recorded while another thread's refresh is on the wire is kept."""
    clock = FakeClock()
    tracker = RedisCooldown(
        through(proxy), namespace="mirror-race", refresh=1, op_timeout=2, clock=clock
    )
    assert tracker.remaining_many(["a", "b"]) == ()  # loads the script, reads once
    proxy.set("delay", 0.3)
    clock.advance(1)
    reader = threading.Thread(target=tracker.remaining_many, args=(["a", "b"],))
    reader.start()
    time.sleep(0.1)  # let the reader's round trip start (a thread, not a cooldown)
    proxy.set("pass")
    writer = RedisCooldown(redis_client, namespace="mirror-race")
    # The write goes through its own (undelayed) connection of the same tracker:
    seconds = tracker.record_failure("a", RuntimeError())
    assert reader.is_alive()  # the write landed while the read was on the wire
    reader.join()
    assert seconds == 60.0
    assert writer.remaining("a") > 59
    left = tracker.remaining_many(["a", "b"])  # still fresh: the mirror answers
    assert left[0] > 59
    assert left[1] == 0.0


def test_a_success_updates_the_mirror_at_once(redis_client, monkeypatch):
    """After record_success the name is clean in the mirror: no round trip until refresh."""
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, namespace="mirror-ok", refresh=10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining_many(["a", "b"])[0] > 59
    tracker.record_success("a")
    assert tracker.remaining_many(["a", "b"]) == ()  # clean, without reading Redis
    assert tracker._idle is True  # the router's inlined happy path is back
    assert tracker.try_probe("a") is None  # clean in the mirror: no round trip to ask


def mirrored_through(
    proxy: FaultProxy, redis_client: Any, namespace: str, outage: Callable[[Any], object]
) -> tuple[RedisCooldown, RedisCooldown, FakeClock]:
    """A tracker behind the proxy that read its mirror, then lived through an outage.

    ``outage(tracker)`` is the write that fails while the proxy refuses; the back-off
    (5 s) has just ended. Returns the tracker, an observer and the clock.
    """
    clock = FakeClock()
    tracker = RedisCooldown(through(proxy), namespace=namespace, refresh=30, backoff=5, clock=clock)
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


def test_after_a_failed_operation_the_client_is_built_again(proxy):
    tracker = RedisCooldown(through(proxy), namespace="rebuild")
    tracker.record_failure("a", RuntimeError())
    assert tracker._conn._client is not None
    proxy.set("refuse")
    tracker.reset("a")
    assert tracker._conn._client is None  # a Sentinel or cluster is discovered again
    counter = RedisRoundRobin(through(proxy), key="rebuild:rr")
    assert counter.next_index() == 0  # refused: the local counter answers
    assert counter._conn._client is None


# -- fail-open details --------------------------------------------------------------------


def test_back_off_ends_exactly_after_backoff_seconds(proxy, redis_client, logs):
    clock = FakeClock()
    tracker = RedisCooldown(through(proxy), namespace="backoff", backoff=5, clock=clock)
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


def test_round_robin_outage_is_logged_with_its_name_and_clock(dead_port, logs):
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


# -- writes --------------------------------------------------------------------------------


def test_probes_are_claimed_and_released_across_trackers(redis_client):
    clock = FakeClock()
    first = RedisCooldown(redis_client, namespace="probe", duration=0.05, clock=clock)
    second = RedisCooldown(redis_client, namespace="probe", duration=0.05, clock=clock)
    assert first.try_probe("a") is None  # nothing known about a
    first.record_failure("a", RuntimeError())
    assert first.try_probe("a") is None  # still in cooldown: nothing to probe
    assert wait_until(lambda: not redis_client.exists(key("probe", "cooldown", "a")))
    second.remaining_many(["a"])  # second reads the shared state
    assert first.try_probe("a") is True
    assert second.try_probe("a") is False  # in flight elsewhere
    first.end_probe("a")
    assert not redis_client.exists(key("probe", "probe", "a"))
    assert redis_client.exists(key("probe", "level", "a"))  # no verdict: still half-open
    assert second.try_probe("a") is True


def test_probes_fail_open_to_the_local_tracker(dead_port):
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, backoff=60, clock=clock)
    tracker.record_failure("a", RuntimeError())
    clock.advance(10)
    assert tracker.try_probe("a") is True  # the local tracker's probe
    assert tracker.try_probe("a") is False
    tracker.end_probe("a")
    assert tracker.try_probe("a") is True  # released locally


def test_failure_counts_expire_after_the_window(redis_client):
    tracker = RedisCooldown(redis_client, namespace="window", duration=7, threshold=3)
    tracker.record_failure("a", RuntimeError())
    ttl = redis_client.pttl(key("window", "failures", "a"))
    assert 6000 < ttl <= 7000  # the window is the duration without max_duration


def test_jitter_only_lengthens_within_its_fraction(redis_client, monkeypatch):
    import random

    tracker = RedisCooldown(redis_client, namespace="jitter", duration=10, jitter=0.5)
    monkeypatch.setattr(random, "random", lambda: 0.5)
    assert tracker.record_failure("a", RuntimeError()) == 12.5
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert tracker.record_failure("b", RuntimeError()) == 10.0


def test_the_local_fallback_reads_retry_after(dead_port):
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, clock=clock)
    assert tracker.record_failure("a", Retry(42)) == 42.0
    assert tracker.local.policy.jitter == tracker.policy.jitter


def test_local_jitter_matches_the_policy(dead_port):
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, jitter=0.25)
    assert tracker.local.policy == tracker.policy
    assert tracker.local.policy.jitter == 0.25


def test_reset_during_an_outage_resets_only_that_name(dead_port):
    clock = FakeClock()
    tracker = RedisCooldown(unreachable_client(dead_port), duration=10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    tracker.record_failure("b", RuntimeError())
    tracker.reset("a")  # never raises; the local tracker forgets a only
    assert set(tracker.snapshot()) == {"b"}


def test_is_available_means_no_time_left(redis_client):
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, namespace="avail", duration=0.5, clock=clock)
    tracker.record_failure("a", RuntimeError())
    assert 0.4 < tracker.remaining("a") < 1.0
    assert tracker.is_available("a") is False


# -- construction --------------------------------------------------------------------------


def test_constructor_defaults(redis_client):
    tracker = RedisCooldown(redis_client)
    assert tracker.policy.duration == 60.0
    assert tracker.half_open is True
    assert tracker.probe_ttl == tracker.policy.window
    assert tracker._guard.backoff == 5.0
    counter = RedisRoundRobin(redis_client)
    assert counter._guard.backoff == 5.0
    assert RedisCooldown(redis_client, refresh=0).refresh == 0


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"refresh": -1}, "refresh"),
        ({"probe_ttl": -1}, "probe_ttl"),
        ({"probe_ttl": 0}, "probe_ttl"),
        ({"op_timeout": -1}, "op_timeout"),
        ({"backoff": -1}, "backoff"),
        ({"half_open": 1}, "half_open"),
    ],
)
def test_bad_options_are_named(redis_client, options, named):
    with pytest.raises(InvalidConfigError, match=named):
        RedisCooldown(redis_client, **options)


@pytest.mark.parametrize(("options", "named"), [({"op_timeout": 0}, "op_timeout")])
def test_bad_round_robin_options_are_named(redis_client, options, named):
    with pytest.raises(InvalidConfigError, match=named):
        RedisRoundRobin(redis_client, **options)


def test_round_robin_from_url_passes_options(redis_server, redis_client):
    counter = RedisRoundRobin.from_url(redis_server.url, key="rr:opts", op_timeout=0.5)
    assert counter.op_timeout == 0.5
    assert counter.next_index() == 0
    assert redis_client.exists("rr:opts")
    assert 86_399_000 < redis_client.pttl("rr:opts") <= 86_400_000  # a day


def test_routed_calls_skip_a_provider_benched_through_the_mirror(redis_client):
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, namespace="mirror-route", clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock)(fleet("a"))
    assert fn.route().provider == "b"
    assert fn.route().skipped == ("a",)


# -- the Lua scripts' edges ----------------------------------------------------------------


def test_a_failed_probe_rebenches_below_the_threshold(redis_client):
    """Half-open probation: one failure after a cooldown re-benches, whatever threshold."""
    tracker = RedisCooldown(
        redis_client, namespace="lua-prob", duration=0.05, threshold=3, max_duration=10
    )
    for _ in range(2):
        assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.record_failure("a", RuntimeError()) == 0.05
    assert wait_until(lambda: not redis_client.exists(key("lua-prob", "cooldown", "a")))
    assert tracker.remaining("a") == 0.0  # half-open: available, a level but no cooldown
    assert tracker.record_failure("a", RuntimeError()) == 0.1  # one failure: escalated


def test_without_half_open_a_failure_after_a_cooldown_counts_again(redis_client):
    tracker = RedisCooldown(
        redis_client, namespace="lua-noho", duration=0.05, threshold=3, half_open=False
    )
    for _ in range(3):
        tracker.record_failure("a", RuntimeError())
    assert wait_until(lambda: not redis_client.exists(key("lua-noho", "cooldown", "a")))
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # counting starts again


def test_retry_after_zero_starts_no_cooldown(redis_client, logs):
    tracker = RedisCooldown(redis_client, namespace="lua-ra0", duration=10)
    assert tracker.record_failure("a", Retry(0)) == 0.0
    assert not redis_client.exists(key("lua-ra0", "cooldown", "a"))
    assert not logs.find("redis unavailable")  # the script did not fail


def test_cooldowns_are_whole_milliseconds(redis_client, logs):
    tracker = RedisCooldown(redis_client, namespace="lua-ms", duration=0.0015)
    assert tracker.record_failure("a", RuntimeError()) == 0.001  # rounded down
    shortest = RedisCooldown(redis_client, namespace="lua-ms1", duration=0.001)
    assert shortest.record_failure("a", RuntimeError()) == 0.001  # 1 ms still benches
    assert not logs.find("redis unavailable")


def test_failures_count_within_the_escalation_window(redis_client):
    tracker = RedisCooldown(
        redis_client, namespace="lua-window", duration=5, threshold=3, max_duration=100
    )
    tracker.record_failure("a", RuntimeError())
    assert 99_000 < redis_client.pttl(key("lua-window", "failures", "a")) <= 100_000


def test_a_longer_cooldown_in_force_is_kept_and_reported(redis_client):
    tracker = RedisCooldown(redis_client, namespace="lua-keep", duration=10)
    assert tracker.record_failure("a", Retry(100)) == 100.0
    assert 99 < tracker.record_failure("a", RuntimeError()) <= 100  # not cut to 10 s
    assert redis_client.pttl(key("lua-keep", "cooldown", "a")) > 99_000


# -- the mirror after outages, and snapshot details ----------------------------------------


def fail_x(tracker: RedisCooldown) -> None:
    tracker.record_failure("x", RuntimeError())


def test_the_mirror_is_read_again_after_an_outage_that_began_in_a_write(proxy, redis_client):
    """A write fails: the mirror is not trusted any more; the first read after it asks."""
    tracker, other, _ = mirrored_through(proxy, redis_client, "out-write", fail_x)
    other.record_failure("a", RuntimeError())
    assert tracker.remaining_many(["a", "b"])[0] > 59  # read again, within refresh


def test_the_mirror_is_read_again_after_a_recovery_in_a_write(proxy, redis_client):
    tracker, other, _ = mirrored_through(proxy, redis_client, "back-write", fail_x)
    tracker.record_failure("y", RuntimeError())  # Redis answers: recovered in a write
    other.record_failure("a", RuntimeError())
    assert tracker.remaining_many(["a", "b"])[0] > 59


def test_a_new_name_during_a_slow_refresh_does_not_wait(proxy):
    clock = FakeClock()
    tracker = RedisCooldown(
        through(proxy), namespace="slow-new", refresh=1, op_timeout=2, clock=clock
    )
    assert tracker.remaining_many(["a"]) == ()
    proxy.set("delay", 0.3)
    clock.advance(1)
    reader = threading.Thread(target=tracker.remaining_many, args=(["a"],))
    reader.start()
    deadline = time.monotonic() + 5
    while not tracker._refreshing.locked() and time.monotonic() < deadline:
        time.sleep(0.001)  # until the reader holds the refresh (a thread handshake)
    start = time.monotonic()
    assert tracker.remaining_many(["new"]) == ()  # the mirror as it is: no wait
    waited = time.monotonic() - start
    reader.join()
    assert waited < 0.15


def test_outage_logs_name_the_error(dead_port, logs):
    tracker = RedisCooldown(unreachable_client(dead_port), namespace="log-error")
    tracker.record_failure("a", RuntimeError())
    (down,) = logs.find("redis unavailable, failing open")
    assert "(cooldown): ConnectionError: " in down["message"]
    assert down["extra"]["error"].__class__.__name__ == "ConnectionError"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"refresh": -1}, "refresh must be a finite number >= 0, got -1"),
        ({"probe_ttl": 0}, "probe_ttl must be a finite number > 0, got 0"),
        ({"op_timeout": 0}, "op_timeout must be a finite number > 0, got 0"),
        ({"backoff": -1}, "backoff must be a finite number > 0, got -1"),
    ],
)
def test_bad_redis_options_word_for_word(redis_client, options, message):
    import re

    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        RedisCooldown(redis_client, **options)


def test_snapshot_numbers_are_exact(redis_client):
    tracker = RedisCooldown(redis_client, namespace="snap-exact", duration=30, threshold=2)
    tracker.record_failure("counted", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    redis_client.set(key("snap-exact", "probe", "probe-only"), "1", px=5000)
    snap = tracker.snapshot()
    assert set(snap) == {"counted", "benched"}  # a lone probe key is no state
    counted = snap["counted"]
    assert (counted.level, counted.length, counted.remaining) == (0, 0.0, 0.0)
    assert snap["benched"].remaining == pytest.approx(30, abs=0.01)
    assert snap["benched"].length == 30.0


def test_a_round_robin_counter_recovers_without_raising(proxy, logs):
    clock = FakeClock()
    counter = RedisRoundRobin(through(proxy), key="rr:back", backoff=5, clock=clock)
    assert counter.next_index() == 0
    proxy.set("refuse")
    assert counter.next_index() == 0  # the local counter answers
    proxy.set("pass")
    clock.advance(5)
    assert counter.next_index() == 1  # Redis again, where it left off
    assert logs.find("redis reachable again (round_robin)")


def test_a_sub_second_cooldown_is_in_the_mirror_at_once(redis_client):
    clock = FakeClock()
    tracker = RedisCooldown(
        redis_client, namespace="mirror-short", duration=0.5, refresh=30, clock=clock
    )
    assert tracker.remaining_many(["a", "b"]) == ()
    assert tracker.record_failure("a", RuntimeError()) == 0.5
    assert tracker.remaining_many(["a", "b"]) == [0.5, 0.0]  # no read: this process' write


def half_open_probed_elsewhere(redis_client: Any, namespace: str) -> RedisCooldown:
    """A tracker whose mirror says a is half-open, after another process claimed a's probe."""
    clock = FakeClock()
    mine = RedisCooldown(redis_client, namespace=namespace, duration=0.05, refresh=30, clock=clock)
    other = RedisCooldown(redis_client, namespace=namespace, duration=0.05)
    mine.record_failure("a", RuntimeError())
    assert wait_until(lambda: not redis_client.exists(key(namespace, "cooldown", "a")))
    assert mine.remaining_many(["a", "b"]) == [0.0, 0.0]  # read: a is half-open
    other.remaining_many(["a"])
    assert other.try_probe("a") is True  # another process probes a meanwhile
    return mine


def test_a_provider_probed_elsewhere_since_the_last_read_is_skipped(redis_client):
    from fallback_router import ProviderSkipped

    mine = half_open_probed_elsewhere(redis_client, "claim-race")
    events: list[object] = []
    fn = routed(providers=["a", "b"], cooldown=mine, clock=mine._clock, on_event=events.append)(
        lambda provider: provider
    )
    assert fn() == "b"
    (skip,) = [e for e in events if isinstance(e, ProviderSkipped)]
    assert (skip.provider, skip.reason, skip.remaining) == ("a", "probe in flight", 0.0)


def test_a_terminus_probed_elsewhere_is_tried_but_not_as_a_probe(redis_client):
    from fallback_router import AttemptStarted, TerminusForced

    mine = half_open_probed_elsewhere(redis_client, "claim-race-terminus")
    events: list[object] = []

    def call(provider):
        if provider == "b":
            raise RuntimeError("b down")
        return provider

    fn = routed(providers=["b", "a"], cooldown=mine, clock=mine._clock, on_event=events.append)(
        call
    )
    assert fn() == "a"
    forced = [e for e in events if isinstance(e, TerminusForced)]
    assert [(e.provider, e.remaining) for e in forced] == [("a", 0.0)]
    started = [(e.provider, e.probe) for e in events if isinstance(e, AttemptStarted)]
    assert started == [("b", False), ("a", False)]
    assert not redis_client.exists(key("claim-race-terminus", "level", "a"))  # a works: clean
