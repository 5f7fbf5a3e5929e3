"""RedisCooldown and RedisRoundRobin (DESIGN §7) against a real redis-server: keys and
namespaces, the process-local mirror, the Lua scripts' edges, round-robin counters.

Key expiry runs on the server's clock, which no fake clock reaches: a cooldown just set is
checked with a one-second margin (``> 59`` of 60 s), and a cooldown's end is simulated by
deleting its key; only ``test_no_keys_remain_once_cooldowns_and_counts_expire`` waits.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from fallback_router import (
    AllProvidersFailedError,
    InvalidConfigError,
    RedisCooldown,
    RedisRateLimiter,
    RedisRoundRobin,
    routed,
)
from fallback_router._redis.cooldown import MIRROR_NAMES

from .conftest import FakeClock
from .support.helpers import fleet, wait_until
from .support.redis_helpers import key, keys, load_scripts, through

# -- keys and namespaces -------------------------------------------------------------------


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
    for name in keys(redis_client):
        assert redis_client.pttl(name) > 0


def test_failure_counts_expire_after_the_window(redis_client):
    """A failure count key expires after the window (the duration without max_duration)."""
    tracker = RedisCooldown(redis_client, namespace="window", duration=7, threshold=3)
    tracker.record_failure("a", RuntimeError())
    ttl = redis_client.pttl(key("window", "failures", "a"))
    assert 6000 < ttl <= 7000  # the window is the duration without max_duration


def test_failures_count_within_the_escalation_window(redis_client):
    """With max_duration, a failure count lives for the escalation window."""
    tracker = RedisCooldown(
        redis_client, namespace="lua-window", duration=5, threshold=3, max_duration=100
    )
    tracker.record_failure("a", RuntimeError())
    assert 99_000 < redis_client.pttl(key("lua-window", "failures", "a")) <= 100_000


def test_no_keys_remain_once_cooldowns_and_counts_expire(redis_client):
    """Everything the tracker writes expires (real, short durations)."""
    tracker = RedisCooldown(redis_client, duration=0.2, threshold=2, max_duration=0.4)
    tracker.record_failure("a", RuntimeError())  # a count
    tracker.record_failure("b", RuntimeError())
    tracker.record_failure("b", RuntimeError())  # a cooldown and a level
    assert len(keys(redis_client)) == 3
    assert wait_until(lambda: keys(redis_client) == [], limit=2.0)


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


# -- the server's clock and scripts --------------------------------------------------------


def test_escalation_in_the_script(redis_client):
    """Re-entering after a cooldown ends doubles its key's expiry, capped; a success resets."""
    tracker = RedisCooldown(redis_client, duration=10, max_duration=30)
    cooldown = key("default", "cooldown", "a")
    lengths = []
    for _ in range(3):
        tracker.record_failure("a", RuntimeError())
        lengths.append(redis_client.pttl(cooldown))
        redis_client.delete(cooldown)  # the cooldown ends (its key expires)
    assert 9_000 < lengths[0] <= 10_000
    assert 19_000 < lengths[1] <= 20_000
    assert 29_000 < lengths[2] <= 30_000
    tracker.record_success("a")
    tracker.record_failure("a", RuntimeError())
    assert 9_000 < redis_client.pttl(cooldown) <= 10_000


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


def test_cooldowns_are_whole_milliseconds(redis_client, logs):
    """Cooldowns are whole milliseconds on the server; 1 ms still benches."""
    tracker = RedisCooldown(redis_client, namespace="lua-ms", duration=0.0015)
    assert tracker.record_failure("a", RuntimeError()) == 0.001  # rounded down
    shortest = RedisCooldown(redis_client, namespace="lua-ms1", duration=0.001)
    assert shortest.record_failure("a", RuntimeError()) == 0.001  # 1 ms still benches
    assert not logs.find("redis unavailable")


def test_is_available_means_no_time_left(redis_client):
    """A sub-second cooldown read back from Redis still counts as unavailable."""
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, namespace="avail", duration=0.5, clock=clock)
    tracker.record_failure("a", RuntimeError())
    assert 0.4 < tracker.remaining("a") < 1.0
    assert tracker.is_available("a") is False


def test_jitter_only_lengthens_within_its_fraction(redis_client, monkeypatch):
    """The Lua script adds jitter * random() of the duration, no more."""
    import random

    tracker = RedisCooldown(redis_client, namespace="jitter", duration=10, jitter=0.5)
    monkeypatch.setattr(random, "random", lambda: 0.5)
    assert tracker.record_failure("a", RuntimeError()) == 12.5
    monkeypatch.setattr(random, "random", lambda: 0.0)
    assert tracker.record_failure("b", RuntimeError()) == 10.0


def test_a_provider_with_only_a_failure_count_is_available_and_a_success_clears_it(
    redis_client,
):
    """A failure count below the threshold leaves a available; a success deletes the key."""
    tracker = RedisCooldown(redis_client, duration=10, threshold=3)
    assert tracker.record_failure("a", RuntimeError()) == 0.0
    assert tracker.remaining_many(["a", "b"]) in ((), [0.0, 0.0])
    assert tracker.remaining("a") == 0.0
    assert tracker.is_available("a")
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet())
    assert fn.route().skipped == ()
    assert keys(redis_client) == []  # the success cleared the count
    assert tracker.record_failure("a", RuntimeError()) == 0.0  # counting starts again at 1


def test_snapshot_numbers_are_exact(redis_client):
    """A lone probe key is no state in snapshot(); a cooldown's remaining is exact."""
    tracker = RedisCooldown(redis_client, namespace="snap-exact", duration=30, threshold=2)
    tracker.record_failure("counted", RuntimeError())
    tracker.record_failure("benched", RuntimeError())
    benched_at = time.monotonic()
    tracker.record_failure("benched", RuntimeError())
    redis_client.set(key("snap-exact", "probe", "probe-only"), "1", px=5000)
    snap = tracker.snapshot()
    since = time.monotonic() - benched_at  # Redis's clock runs meanwhile (a busy machine)
    assert set(snap) == {"counted", "benched"}  # a lone probe key is no state
    counted = snap["counted"]
    assert (counted.level, counted.length, counted.remaining) == (0, 0.0, 0.0)
    assert 30 - since - 0.002 <= snap["benched"].remaining <= 30  # ms rounding
    assert snap["benched"].length == 30.0


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


# -- routed calls --------------------------------------------------------------------------


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


def test_all_failed_with_redis_tracker(redis_client):
    """A call failing everywhere raises the group; the tracker records each provider."""
    tracker = RedisCooldown(redis_client)
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a", "b"))
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert set(tracker.snapshot()) == {"a", "b"}


# -- the mirror ----------------------------------------------------------------------------


def test_the_mirror_reads_redis_once_per_refresh_interval(
    redis_client, round_trips, real_redis_binary
):
    """Calls read a process-local mirror: one round trip per ``refresh``, none between."""
    load_scripts(redis_client)  # a warm server (one restarted by another test is not)
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
    round_trips[0] = 0
    failing()  # x and y are new to the mirror: read once; x fails: written through
    assert round_trips[0] == 2
    round_trips[0] = 0
    assert failing.route().skipped == ("x",)  # this process' own write is seen at once
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


def test_a_success_keeps_a_cooldown_set_since_its_callers_view(redis_client):
    """Two trackers stand for two processes. Here a call saw a available (one failure counted,
    threshold 2); there a's second failure benches it for 60 s; here the call succeeds:
    record_success(clears_cooldown=False) keeps the fresh cooldown (and a probe claimed
    there), while a plain success, or one with nothing set since, clears everything."""
    here = RedisCooldown(redis_client, duration=60, threshold=2, namespace="keep", refresh=0)
    there = RedisCooldown(redis_client, duration=60, threshold=2, namespace="keep", refresh=0)
    here.record_failure("a", RuntimeError("a down"))
    assert here.remaining("a") == 0.0  # here's view: a is available (its mirror is dirty)
    assert there.record_failure("a", RuntimeError("a down")) == 60.0
    here.record_success("a", clears_cooldown=False)  # a stale success must not clear it
    assert 59_000 < redis_client.pttl(key("keep", "cooldown", "a")) <= 60_000
    assert 59 < there.remaining("a") <= 60
    # the cooldown ends (its key expires): half-open, a probe claimed there
    redis_client.delete(key("keep", "cooldown", "a"))
    assert there.try_probe("a") is True
    here.record_success("a", clears_cooldown=False)
    assert redis_client.exists(key("keep", "probe", "a"))
    assert redis_client.exists(key("keep", "level", "a"))
    here.record_success("a")  # the probe's own success clears it all
    assert keys(redis_client) == []
    # nothing set since the caller's view: its success clears the counted failure
    here.record_failure("a", RuntimeError("a down"))
    assert redis_client.exists(key("keep", "failures", "a"))
    here.record_success("a", clears_cooldown=False)
    assert keys(redis_client) == []


def test_a_plain_success_after_a_cooldown_clears_its_escalation_memory(redis_client):
    """half_open=False: once a's cooldown is over, a call that saw it available succeeds:
    record_success(clears_cooldown=False) clears the escalation level too (only a cooldown
    or a probe set since the caller's view is kept), so the next cooldown is the first."""
    tracker = RedisCooldown(
        redis_client, duration=10, max_duration=100, half_open=False, namespace="plain"
    )
    tracker.record_failure("a", RuntimeError("a down"))
    redis_client.delete(key("plain", "cooldown", "a"))  # the cooldown ends (its key expires)
    assert redis_client.exists(key("plain", "level", "a"))
    tracker.record_success("a", clears_cooldown=False)
    assert keys(redis_client) == []
    assert tracker.record_failure("a", RuntimeError("a down")) == 10.0  # not escalated


def test_threads_share_one_refresh_and_never_wait_for_it(redis_client, round_trips):
    """16 threads on a mirror due for a read (within its margin): one read, nobody waits."""
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


def held_read(proxy: Any, redis_client: Any, namespace: str, age: float) -> tuple[Any, Any]:
    """A tracker whose view is ``age`` s old, and a thread whose read of it the proxy holds.

    refresh=1 and op_timeout=2: a view older than 1 s is read again; one older than
    1 + min(2, 1 / 2) = 1.5 s is too old to serve. Meanwhile another process benched a.
    """
    import threading

    import redis

    clock = FakeClock()
    tracker = RedisCooldown(
        redis.Redis(host="127.0.0.1", port=proxy.port),
        namespace=namespace,
        refresh=1,
        op_timeout=2,
        clock=clock,
    )
    assert tracker.remaining_many(["a"]) == ()  # the view: a is clean
    RedisCooldown(redis_client, namespace=namespace).record_failure("a", RuntimeError())
    clock.advance(age)
    proxy.requests.clear()
    proxy.set("hold")
    answers: list[Any] = []
    reader = threading.Thread(target=lambda: answers.append(tracker.remaining_many(["a"])))
    reader.start()
    assert proxy.holding.wait(10)  # the read is on the wire, its reply held
    return tracker, (reader, answers)


def test_a_stale_view_serves_other_threads_while_one_reads(proxy, redis_client):
    """Older than refresh (within the margin): other calls answer from the view, no wait."""
    import threading

    tracker, (reader, answers) = held_read(proxy, redis_client, "slow-view", age=1.0)
    mine: list[Any] = []
    caller = threading.Thread(target=lambda: mine.append(tracker.remaining_many(["a"])))
    caller.start()
    caller.join(10)
    assert not caller.is_alive()  # answered while the read's reply is still held
    assert mine == [()]  # the view as it was: a clean there
    proxy.release()
    reader.join(10)
    assert answers[0][0] > 59  # the read learnt that a is benched
    assert proxy.count(b"EVALSHA") == 1  # one read between both calls


def test_a_view_too_old_to_serve_waits_for_the_read_in_progress(proxy, redis_client):
    """Older than refresh + margin: calls wait for the read in progress and use its answer."""
    import threading

    tracker, (reader, answers) = held_read(proxy, redis_client, "slow-wait", age=1.5)
    mine: list[Any] = []
    caller = threading.Thread(target=lambda: mine.append(tracker.remaining_many(["a"])))
    caller.start()
    caller.join(0.2)  # (a correct tracker never returns here: the proxy holds the read)
    assert caller.is_alive()  # waiting for the read in progress
    proxy.release()
    reader.join(10)
    caller.join(10)
    assert answers[0][0] > 59
    assert mine[0][0] > 59  # the fresh answer, not the stale view
    assert proxy.count(b"EVALSHA") == 1  # it waited for that read instead of making its own


def test_a_new_name_during_a_slow_read_waits_for_a_read_that_covers_it(proxy, redis_client):
    """No call is answered from a view that does not cover its names, even during a read."""
    clock = FakeClock()
    tracker = RedisCooldown(
        through(proxy), namespace="slow-new", refresh=1, op_timeout=2, clock=clock
    )
    other = RedisCooldown(redis_client, namespace="slow-new")
    assert tracker.remaining_many(["a"]) == ()
    other.record_failure("new", RuntimeError())  # another process benches "new"
    clock.advance(1)  # due for a read
    proxy.requests.clear()
    proxy.set("hold")
    answers: dict[str, Any] = {}
    reader = threading.Thread(target=lambda: answers.update(a=tracker.remaining_many(["a"])))
    reader.start()
    assert proxy.holding.wait(10)  # the read of "a" is on the wire
    caller = threading.Thread(target=lambda: answers.update(new=tracker.remaining_many(["new"])))
    caller.start()
    caller.join(0.2)  # (a correct tracker never returns here: the proxy holds the read)
    assert caller.is_alive()  # waits: the view does not cover "new"
    proxy.release()
    reader.join(10)
    caller.join(10)
    assert answers["a"] == ()
    assert answers["new"][0] > 59  # read, not guessed: "new" is benched
    assert proxy.count(b"EVALSHA") == 2  # the held read, then one that covers "new"


def test_the_mirror_follows_at_most_mirror_names(redis_client, round_trips):
    """Asked about more names than MIRROR_NAMES, a read covers the newest; the oldest go."""
    tracker = RedisCooldown(
        redis_client, namespace="mirror-cap", refresh=30, op_timeout=2, clock=FakeClock()
    )
    tracker.remaining_many([f"n{i}" for i in range(MIRROR_NAMES)])  # one read covers them all
    tracker.remaining_many(["newest"])  # not covered: read again, without n0 (the oldest)
    round_trips[0] = 0
    assert tracker.remaining_many(["n1", f"n{MIRROR_NAMES - 1}", "newest"]) == ()
    assert round_trips[0] == 0  # covered by the last read, which is fresh: no round trip
    tracker.remaining_many(["n0"])
    assert round_trips[0] == 1  # n0 was left out: a call for it reads again


def test_own_writes_during_a_refresh_survive_it(proxy, redis_client):
    """A failure recorded while another thread's refresh is on the wire is kept."""
    clock = FakeClock()
    tracker = RedisCooldown(
        through(proxy), namespace="mirror-race", refresh=1, op_timeout=2, clock=clock
    )
    assert tracker.remaining_many(["a", "b"]) == ()  # loads the script, reads once
    proxy.set("hold")
    clock.advance(1)
    reader = threading.Thread(target=tracker.remaining_many, args=(["a", "b"],))
    reader.start()
    assert proxy.holding.wait(10)  # the read was answered (a clean), its reply is held
    proxy.set("pass")  # new traffic passes; the held reply stays held
    writer = RedisCooldown(redis_client, namespace="mirror-race")
    # The write goes through its own connection of the same tracker:
    seconds = tracker.record_failure("a", RuntimeError())
    assert reader.is_alive()  # the write landed while the read was on the wire
    proxy.release()
    reader.join(10)
    assert seconds == 60.0
    assert writer.remaining("a") > 59
    left = tracker.remaining_many(["a", "b"])  # still fresh: the mirror answers
    assert left[0] > 59
    assert left[1] == 0.0


def test_a_success_updates_the_mirror_at_once(redis_client, round_trips):
    """After record_success the name is clean in the mirror: no round trip until refresh."""
    clock = FakeClock()
    tracker = RedisCooldown(redis_client, namespace="mirror-ok", refresh=10, clock=clock)
    tracker.record_failure("a", RuntimeError())
    assert tracker.remaining_many(["a", "b"])[0] > 59
    tracker.record_success("a")
    round_trips[0] = 0
    assert tracker.remaining_many(["a", "b"]) == ()  # clean, without reading Redis
    assert tracker.try_probe("a") is None  # clean in the mirror: nothing to ask Redis
    assert round_trips[0] == 0


def test_a_sub_second_cooldown_is_in_the_mirror_at_once(redis_client):
    """This process' own sub-second cooldown is in its mirror at once, without a read."""
    clock = FakeClock()
    tracker = RedisCooldown(
        redis_client, namespace="mirror-short", duration=0.5, refresh=30, clock=clock
    )
    assert tracker.remaining_many(["a", "b"]) == ()
    assert tracker.record_failure("a", RuntimeError()) == 0.5
    assert tracker.remaining_many(["a", "b"]) == [0.5, 0.0]  # no read: this process' write


# -- construction --------------------------------------------------------------------------


def test_from_url_builds_a_working_tracker(redis_server, redis_client):
    """RedisCooldown.from_url and RedisRoundRobin.from_url connect by URL."""
    tracker = RedisCooldown.from_url(redis_server.url, duration=5)
    tracker.record_failure("a", RuntimeError())
    assert 4 < tracker.remaining("a") <= 5
    counter = RedisRoundRobin.from_url(redis_server.url, key="rr:url")
    assert [counter.next_index(), counter.next_index()] == [0, 1]


def test_constructor_defaults(redis_client):
    """RedisCooldown defaults: 60 s, half-open, probe_ttl 30 s, back-off 5 s; refresh 0 allowed."""
    tracker = RedisCooldown(redis_client)
    assert tracker.policy.duration == 60.0
    assert tracker.half_open is True
    assert tracker.probe_ttl == 30.0
    assert tracker._guard.backoff == 5.0
    counter = RedisRoundRobin(redis_client)
    assert counter._guard.backoff == 5.0
    assert RedisCooldown(redis_client, refresh=0).refresh == 0


@pytest.mark.parametrize("bad", ["", 3, None])
def test_invalid_namespace(redis_client, bad):
    """namespace= must be a non-empty str."""
    with pytest.raises(InvalidConfigError, match="namespace"):
        RedisCooldown(redis_client, namespace=bad)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"refresh": -1}, "refresh must be a finite number >= 0, got -1"),
        ({"probe_ttl": 0}, "probe_ttl must be a finite number > 0, got 0"),
        ({"op_timeout": 0}, "op_timeout must be a finite number > 0, got 0"),
        ({"backoff": -1}, "backoff must be a finite number > 0, got -1"),
        ({"probe_ttl": -1}, "probe_ttl must be a finite number > 0, got -1"),
        ({"op_timeout": -1}, "op_timeout must be a finite number > 0, got -1"),
        ({"half_open": 1}, "half_open must be a bool, got 1"),
    ],
)
def test_bad_redis_options_word_for_word(redis_client, options, message):
    """Bad RedisCooldown options are named, word for word."""
    import re

    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        RedisCooldown(redis_client, **options)


@pytest.mark.parametrize("argument", ["op_timeout", "backoff", "duration"])
def test_redis_numbers_reject_huge_ints(redis_client, argument):
    """RedisCooldown's numbers reject 10**400 with InvalidConfigError."""
    with pytest.raises(InvalidConfigError, match=argument):
        RedisCooldown(redis_client, **{argument: 10**400})


def test_redis_round_robin_repr_and_tracker_repr(redis_client):
    """Both classes have readable reprs."""
    assert "rr:x" in repr(RedisRoundRobin(redis_client, key="rr:x"))
    assert "namespace='default'" in repr(RedisCooldown(redis_client))


@pytest.mark.parametrize(
    "build",
    [RedisCooldown, RedisRoundRobin, lambda client: RedisRateLimiter(client, {"a": "1/s"})],
)
def test_a_redis_class_without_redis_py_names_the_extra(monkeypatch, build):
    """redis-py missing (in this process): each Redis class raises ImportError naming the
    extra to install. (The package importing without it needs a fresh interpreter: below.)"""
    monkeypatch.setitem(sys.modules, "redis", None)  # `import redis` now fails
    with pytest.raises(ImportError, match=r"pip install 'fallback-router\[redis\]'"):
        build(object())


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


# -- round robin ---------------------------------------------------------------------------


def test_round_robin_first_pick_is_the_first_provider(redis_client):
    """INCR starts at 1; the first index handed out is 0."""
    counter = RedisRoundRobin(redis_client, key="rr:first")
    fn = routed(providers=["a", "b", "c"], strategy="round_robin", counter=counter)(lambda p: p)
    assert [fn() for _ in range(4)] == ["a", "b", "c", "a"]
    assert redis_client.pttl("rr:first") > 0


def test_the_default_round_robin_key_lies_outside_every_cooldown_namespace(redis_client):
    """RedisRoundRobin's default key is fallback_router-round_robin:{default}."""
    counter = RedisRoundRobin(redis_client)
    assert [counter.next_index(), counter.next_index()] == [0, 1]
    assert [k.decode() for k in redis_client.keys("*")] == ["fallback_router-round_robin:{default}"]
    RedisCooldown(redis_client).reset()  # a reset of the default namespace keeps it
    assert counter.next_index() == 2


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


@pytest.mark.parametrize(("options", "named"), [({"op_timeout": 0}, "op_timeout")])
def test_bad_round_robin_options_are_named(redis_client, options, named):
    """A bad RedisRoundRobin op_timeout is named."""
    with pytest.raises(InvalidConfigError, match=named):
        RedisRoundRobin(redis_client, **options)


def test_round_robin_from_url_passes_options(redis_server, redis_client):
    """RedisRoundRobin.from_url passes options; the counter key lives a day."""
    counter = RedisRoundRobin.from_url(redis_server.url, key="rr:opts", op_timeout=0.5)
    assert counter.op_timeout == 0.5
    assert counter.next_index() == 0
    assert redis_client.exists("rr:opts")
    assert 86_399_000 < redis_client.pttl("rr:opts") <= 86_400_000  # a day


# -- across processes ----------------------------------------------------------------------


@pytest.mark.processes
def test_processes_share_one_round_robin_counter(redis_server, redis_client, spawn):
    """Three processes x 30 calls over 3 providers: exactly 30 picks each."""
    from redis_workers import round_robin_picks

    with spawn.Pool(3) as pool:
        results = pool.starmap(round_robin_picks, [(redis_server.url, "rr:procs", 30)] * 3)
    assert Counter(p for picks in results for p in picks) == {"a": 30, "b": 30, "c": 30}


@pytest.mark.processes
def test_a_stale_success_in_one_process_keeps_anothers_fresh_cooldown(
    redis_server, redis_client, spawn
):
    """One process's call reaches a (seen available: one failure of two counted); meanwhile
    this process benches a for 60 s; that call then succeeds: a stays benched."""
    from redis_workers import succeed_while_benched_elsewhere

    with spawn.Pool(1) as pool:
        pending = pool.apply_async(succeed_while_benched_elsewhere, (redis_server.url, "stale"))
        assert wait_until(lambda: redis_client.exists("stale:in_a"), 60)
        here = RedisCooldown(redis_client, duration=60, threshold=2, namespace="stale")
        assert here.record_failure("a", RuntimeError("a down")) == 60.0
        redis_client.set("stale:release", "1")
        assert pending.get(60) == ["b", "a"]
    assert 50_000 < redis_client.pttl(key("stale", "cooldown", "a")) <= 60_000


@pytest.mark.processes
def test_processes_share_cooldowns(redis_server, redis_client, spawn):
    """A provider benched by one process is skipped by the others."""
    from redis_workers import bench_provider, calls_to_a

    with spawn.Pool(2) as pool:
        assert pool.apply(bench_provider, (redis_server.url, "procs")) is True
        counts = pool.starmap(calls_to_a, [(redis_server.url, "procs", 20)] * 2)
    assert counts == [0, 0]


def test_a_shorter_cooldown_during_a_longer_one_keeps_the_longer_everywhere(redis_client):
    """A 10 s cooldown recorded inside a 300 s one: the 300 s stay on the server, in the
    escalation memory and in the tracker's local view (its mirror, read for 30 s)."""
    tracker = RedisCooldown(redis_client, namespace="kept-longer", duration=10, refresh=30)
    assert tracker.record_failure("a", RuntimeError(), 300.0) == 300.0
    assert tracker.record_failure("a", RuntimeError(), 10.0) == 0.0  # a longer one kept
    assert 290 < tracker.remaining("a") <= 300
    assert redis_client.pttl(key("kept-longer", "cooldown", "a")) > 290_000
    assert redis_client.pttl(key("kept-longer", "level", "a")) > 300_000  # cooldown + window
