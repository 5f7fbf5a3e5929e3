"""`cooldown_for=` and `respect_retry_after=` (DESIGN §5): an explicit length per error, and
providers benched by a hint that are never forced; `AllProvidersBenchedError`.

Sync (the happy path and the engine), async, in memory and on a real Redis shared by two
trackers and by two processes.
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest

import fallback_router
from fallback_router import (
    AllProvidersBenchedError,
    AllProvidersFailedError,
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
    RoutingError,
    routed,
)

from .support.helpers import Boom, RetryAfter
from .support.redis_helpers import key


class Quota(Exception):
    """An exhausted quota: the policy benches it for an hour."""


def quota_policy(error: Exception) -> float | None:
    return 3600.0 if isinstance(error, Quota) else None


class Calls:
    """A provider body: raises ``errors[name]`` (an exception, or a factory) else returns."""

    def __init__(self, **errors: Any) -> None:
        self.errors = errors
        self.calls: list[str] = []

    def __call__(self, provider: str) -> str:
        self.calls.append(provider)
        error = self.errors.get(provider)
        if error is not None:
            raise error() if isinstance(error, type) else error
        return provider


class AsyncCalls(Calls):
    async def __call__(self, provider: str) -> str:  # type: ignore[override]
        return super().__call__(provider)


# Both sync paths: the happy path (no limits) and the engine (a time budget).
PATHS = [pytest.param({}, id="happy-path"), pytest.param({"timeout": 30.0}, id="engine")]


# -- cooldown_for -----------------------------------------------------------------------------


@pytest.mark.parametrize("options", PATHS)
def test_cooldown_for_sets_the_length_and_wins_over_hints_and_duration(clock, options):
    """Its seconds bench the provider, over Retry-After and `duration`; None: the usual rules."""
    tracker = InMemoryCooldown(15, clock=clock)
    body = Calls(a=Quota, b=RetryAfter(5), c=Boom)
    fn = routed(providers=["a", "b", "c", "d"], cooldown=tracker, clock=clock,
                cooldown_for=quota_policy, **options)(body)  # fmt: skip
    assert fn() == "d"
    assert tracker.remaining("a") == 3600.0  # the quota: an hour, not 15 s
    assert tracker.remaining("b") == 5.0  # None: the hint rules
    assert tracker.remaining("c") == 15.0  # None: the tracker's duration


def test_cooldown_for_beats_a_retry_after_and_is_clamped(clock):
    """A Retry-After of 5 s loses to cooldown_for's 40 s; huge answers are clamped."""
    answers = iter([40.0, 10**400, 1e9])
    tracker = InMemoryCooldown(15, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock,
                cooldown_for=lambda e: next(answers))(Calls(a=RetryAfter(5)))  # fmt: skip
    fn()
    assert tracker.remaining("a") == 40.0
    tracker.reset()
    fn()
    assert tracker.remaining("a") == 3600.0  # no max_duration: one hour at most
    capped = InMemoryCooldown(15, max_duration=100, clock=clock)
    routed(providers=["a", "b"], cooldown=capped, clock=clock,
           cooldown_for=lambda e: next(answers))(Calls(a=Boom))()  # fmt: skip
    assert capped.remaining("a") == 100.0


def test_cooldown_for_zero_starts_no_cooldown(clock):
    tracker = InMemoryCooldown(15, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock,
                cooldown_for=lambda e: 0)(Calls(a=Boom))  # fmt: skip
    assert fn() == "b"
    assert tracker.is_available("a")


@pytest.mark.parametrize(
    "policy",
    [lambda e: -1.0, lambda e: float("nan"), lambda e: "60", lambda e: True, lambda e: 1 / 0],
    ids=["negative", "nan", "text", "bool", "raises"],
)
def test_a_broken_cooldown_for_is_logged_and_the_usual_rules_apply(clock, logs, policy):
    tracker = InMemoryCooldown(15, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock,
                cooldown_for=policy)(Calls(a=Boom))  # fmt: skip
    assert fn() == "b"
    assert tracker.remaining("a") == 15.0
    (record,) = logs.find("cooldown_for ignored")
    assert record["level"].name == "WARNING"
    assert record["extra"]["provider"] == "a"


def test_cooldown_for_in_an_async_router(clock):
    tracker = InMemoryCooldown(15, clock=clock)
    body = AsyncCalls(a=Quota, b=Boom)
    fn = routed(providers=["a", "b", "c"], cooldown=tracker, clock=clock,
                cooldown_for=quota_policy)(body)  # fmt: skip
    assert asyncio.run(fn()) == "c"
    assert (tracker.remaining("a"), tracker.remaining("b")) == (3600.0, 15.0)


def test_cooldown_for_on_a_stream_cut_mid_way(clock):
    """A stream that fails after items is benched for what cooldown_for says."""
    tracker = InMemoryCooldown(15, clock=clock)

    @routed(providers=["a", "b"], cooldown=tracker, clock=clock, cooldown_for=quota_policy)
    def chat(provider):
        yield 1
        raise Quota(provider)

    with pytest.raises(fallback_router.StreamInterrupted):
        list(chat())
    assert tracker.remaining("a") == 3600.0


def test_options_are_checked_when_decorating():
    with pytest.raises(InvalidConfigError, match="cooldown_for must be a callable, got 60"):
        routed(providers=["a"], cooldown_for=60)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="usage_of must be a callable, got 'x'"):
        routed(providers=["a"], usage_of="x")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="respect_retry_after must be a bool, got 1"):
        routed(providers=["a"], respect_retry_after=1)  # type: ignore[arg-type]


class OldTracker:
    """A third-party tracker of the bare protocol: no explicit duration, no hint reads."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def is_available(self, name: str) -> bool:
        return True

    def remaining(self, name: str) -> float:
        return 0.0

    def record_failure(self, name: str, error: BaseException) -> float:
        self.failures.append(name)
        return 0.0

    def record_success(self, name: str) -> None:
        pass

    def reset(self, name: str | None = None) -> None:
        pass

    def snapshot(self) -> dict[str, Any]:
        return {}


def test_a_tracker_without_the_capabilities_is_refused_only_for_these_options():
    """Without the options it works as before; with them: a clear error, not a silent no-op."""
    tracker = OldTracker()
    assert routed(providers=["a", "b"], cooldown=tracker)(Calls(a=Boom))() == "b"
    assert tracker.failures == ["a"]
    with pytest.raises(InvalidConfigError, match=r"cooldown_for= needs a tracker .*OldTracker"):
        routed(providers=["a"], cooldown=tracker, cooldown_for=quota_policy)
    with pytest.raises(InvalidConfigError, match=r"respect_retry_after=True needs .*hinted"):
        routed(providers=["a"], cooldown=tracker, respect_retry_after=True)
    routed(providers=["a"], cooldown=None, cooldown_for=quota_policy, respect_retry_after=True)


# -- respect_retry_after ----------------------------------------------------------------------


def test_the_benched_error_is_public_and_not_a_failure():
    assert AllProvidersBenchedError.__module__ == "fallback_router"
    assert "AllProvidersBenchedError" in fallback_router.__all__
    assert issubclass(AllProvidersBenchedError, RoutingError)
    assert not issubclass(AllProvidersBenchedError, AllProvidersFailedError)
    error = AllProvidersBenchedError("benched", retry_after=2.5, skipped=["a"])
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.retry_after, copy.skipped) == ("benched", 2.5, ("a",))


@pytest.mark.parametrize("options", PATHS)
def test_hint_benched_providers_are_never_forced(clock, options):
    """Every provider benched by a Retry-After: no attempt, AllProvidersBenchedError."""
    tracker = InMemoryCooldown(15, clock=clock)
    body = Calls(a=RetryAfter(30), b=RetryAfter(20))
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock,
                respect_retry_after=True, **options)(body)  # fmt: skip
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert body.calls == ["a", "b"]
    clock.advance(5)
    with pytest.raises(AllProvidersBenchedError) as caught:
        fn.route()
    assert body.calls == ["a", "b"]  # no attempt, the terminus included
    assert caught.value.retry_after == 15.0  # b, the earliest, in 15 s
    assert caught.value.skipped == ("a", "b")
    assert "benched by a hint" in str(caught.value)
    clock.advance(15)  # b's hint is over: b is tried again
    body.errors.clear()
    assert fn() == "b"


@pytest.mark.parametrize("options", PATHS)
def test_without_the_option_the_terminus_is_forced_as_before(clock, options):
    tracker = InMemoryCooldown(15, clock=clock)
    body = Calls(a=RetryAfter(30), b=RetryAfter(20))
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock, **options)(body)
    with pytest.raises(AllProvidersFailedError):
        fn()
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert body.calls == ["a", "b", "b"]  # the terminus, forced inside its Retry-After


@pytest.mark.parametrize("options", PATHS)
def test_a_plain_cooldown_is_still_forced_at_the_end(clock, options):
    """Benched without a hint, the last provider is forced as usual; hinted ones never are."""
    tracker = InMemoryCooldown(15, clock=clock)
    body = Calls(a=Boom, b=RetryAfter(60))
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock,
                respect_retry_after=True, **options)(body)  # fmt: skip
    with pytest.raises(AllProvidersFailedError):
        fn()
    body.errors.clear()
    # a (a plain cooldown) is the last provider no hint benches: it is forced, b is not.
    assert fn() == "a"
    assert body.calls == ["a", "b", "a"]


@pytest.mark.parametrize("options", PATHS)
def test_attempts_then_only_hinted_providers_left_is_a_failure(clock, options):
    """A call that made attempts raises its AllProvidersFailedError, hinted ones skipped."""
    tracker = InMemoryCooldown(15, clock=clock)
    body = Calls(b=RetryAfter(60))
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock,
                respect_retry_after=True, **options)(body)  # fmt: skip
    body.errors["a"] = Boom
    with pytest.raises(AllProvidersFailedError):
        fn()  # a fails (15 s), b fails (60 s hint)
    clock.advance(16)  # a is back, b is still benched by its hint
    with pytest.raises(AllProvidersFailedError) as caught:
        fn()
    assert body.calls == ["a", "b", "a"]
    assert caught.value.skipped == ("b",)
    assert [a.provider for a in caught.value.attempts] == ["a"]


def test_cooldown_for_counts_as_a_hint(clock):
    tracker = InMemoryCooldown(15, clock=clock)
    body = Calls(a=Quota)
    fn = routed(providers=["a"], cooldown=tracker, clock=clock,
                cooldown_for=quota_policy, respect_retry_after=True)(body)  # fmt: skip
    with pytest.raises(AllProvidersFailedError):
        fn()
    with pytest.raises(AllProvidersBenchedError) as caught:
        fn()
    assert (caught.value.retry_after, body.calls) == (3600.0, ["a"])
    tracker.record_success("a")  # a success clears the hint with the cooldown
    body.errors.clear()
    assert fn() == "a"


def test_a_hint_shorter_than_a_cooldown_holds_only_for_its_own_length(clock):
    """A hint of 5 s inside a 60 s escalated cooldown: forced again once the hint ends."""
    tracker = InMemoryCooldown(60, clock=clock)
    body = Calls(a=Boom)
    fn = routed(providers=["a"], cooldown=tracker, clock=clock, respect_retry_after=True)(body)
    with pytest.raises(AllProvidersFailedError):
        fn()  # 60 s, no hint
    body.errors["a"] = RetryAfter(5)
    with pytest.raises(AllProvidersFailedError):
        fn()  # forced (no hint yet); its 429 says 5 s, the 60 s cooldown stays
    assert tracker.hinted(["a"]) == [5.0]
    with pytest.raises(AllProvidersBenchedError):
        fn()
    clock.advance(5)
    with pytest.raises(AllProvidersFailedError):
        fn()  # the hint is over: the terminus is forced again
    assert body.calls == ["a", "a", "a"]


def test_the_respected_hint_is_logged_and_skipped_events_are_sent(clock, logs):
    events: list[Any] = []
    tracker = InMemoryCooldown(15, clock=clock)
    fn = routed(providers=["a"], cooldown=tracker, clock=clock, respect_retry_after=True,
                on_event=events.append)(Calls(a=RetryAfter(9)))  # fmt: skip
    with pytest.raises(AllProvidersFailedError):
        fn()
    events.clear()
    with pytest.raises(AllProvidersBenchedError):
        fn()
    assert [type(e).__name__ for e in events] == ["CallStarted", "ProviderSkipped", "CallFailed"]
    assert isinstance(events[-1].error, AllProvidersBenchedError)
    (record,) = logs.find("skipping provider benched by a hint")
    assert record["extra"]["provider"] == "a"


def test_respect_retry_after_in_an_async_router(clock):
    tracker = InMemoryCooldown(15, clock=clock)
    body = AsyncCalls(a=RetryAfter(30), b=Boom)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock,
                respect_retry_after=True)(body)  # fmt: skip

    async def main() -> None:
        with pytest.raises(AllProvidersFailedError):
            await fn()
        body.errors["b"] = RetryAfter(10)
        clock.advance(16)  # b's plain cooldown is over
        with pytest.raises(AllProvidersFailedError):
            await fn()  # b fails with a hint this time; a is skipped (hinted)
        with pytest.raises(AllProvidersBenchedError) as caught:
            await fn.route()
        assert caught.value.retry_after == 10.0
        assert caught.value.skipped == ("a", "b")

    asyncio.run(main())
    assert body.calls == ["a", "b", "b"]


def test_respect_retry_after_on_streams(clock):
    tracker = InMemoryCooldown(15, clock=clock)
    calls: list[str] = []

    @routed(providers=["a"], cooldown=tracker, clock=clock, respect_retry_after=True)
    def chat(provider):
        calls.append(provider)
        raise RetryAfter(30)
        yield  # pragma: no cover - makes this a generator function

    @routed(providers=["a"], cooldown=tracker, clock=clock, respect_retry_after=True)
    async def achat(provider):
        calls.append(provider)
        raise RetryAfter(30)
        yield  # pragma: no cover - makes this an async generator function

    with pytest.raises(AllProvidersFailedError):
        list(chat())
    with pytest.raises(AllProvidersBenchedError):
        list(chat())

    async def consume() -> None:
        with pytest.raises(AllProvidersBenchedError):
            async for _ in achat():
                pass  # pragma: no cover - nothing is served

    asyncio.run(consume())
    assert calls == ["a"]


def test_respect_retry_after_with_wait_for_cooldown_waits_for_the_hint(clock):
    """Waiting for a hint to end respects it; past the budget the call is refused."""
    tracker = InMemoryCooldown(15, clock=clock)
    body = Calls(a=RetryAfter(0.05))
    fn = routed(providers=["a"], cooldown=tracker, clock=clock, respect_retry_after=True,
                wait_for_cooldown=True, timeout=5.0)(body)  # fmt: skip
    with pytest.raises(AllProvidersFailedError):
        fn()
    body.errors["a"] = RetryAfter(60)
    clock.advance(0.05)
    with pytest.raises(AllProvidersFailedError):
        fn()  # the 0.05 s hint was over; this 429 says 60 s
    with pytest.raises(AllProvidersBenchedError):
        fn()  # 60 s do not fit in the 5 s budget
    assert body.calls == ["a", "a"]


# -- on Redis: the hint is shared ----------------------------------------------------------------


def test_redis_stores_the_hint_with_the_cooldown(redis_client):
    tracker = RedisCooldown(redis_client, namespace="hints", duration=15)
    tracker.record_failure("a", RetryAfter(30))
    tracker.record_failure("b", Boom())
    tracker.record_failure("c", Boom(), 90.0)
    assert 29_000 < redis_client.pttl(key("hints", "hint", "a")) <= 30_000
    assert not redis_client.exists(key("hints", "hint", "b"))
    assert 89_000 < redis_client.pttl(key("hints", "cooldown", "c")) <= 90_000
    assert redis_client.exists(key("hints", "hint", "c"))
    hinted = tracker.hinted(["a", "b", "c", "d"])
    assert 29 < hinted[0] <= 30
    assert 89 < hinted[2] <= 90
    assert (hinted[1], hinted[3]) == (0.0, 0.0)
    assert set(tracker.snapshot()) == {"a", "b", "c"}
    tracker.record_success("a")
    assert not redis_client.exists(key("hints", "hint", "a"))
    tracker.reset("c")
    assert tracker.hinted(["c"]) == [0.0]


def test_a_shorter_hint_never_shortens_a_longer_one_on_redis(redis_client):
    """A 429 saying 30 s inside a 300 s hint: the provider stays benched by the hint for
    the 300 s (the cooldown and the hint keep the longer length)."""
    tracker = RedisCooldown(redis_client, namespace="hint-kept", duration=15, refresh=0)
    tracker.record_failure("a", RetryAfter(300))
    tracker.record_failure("a", RetryAfter(30))
    assert redis_client.pttl(key("hint-kept", "hint", "a")) > 290_000
    assert 290 < tracker.hinted(["a"])[0] <= 300
    body = Calls()
    fn = routed(providers=["a"], cooldown=tracker, respect_retry_after=True)(body)
    with pytest.raises(AllProvidersBenchedError) as caught:
        fn()
    assert 290 < caught.value.retry_after <= 300
    assert body.calls == []


def test_a_hint_never_outlasts_the_cooldown_it_came_with(redis_client):
    """A cooldown ended by hand (its key deleted: the hint key outlives it) ends its hint:
    the provider is not benched by a hint any more, and a router tries it."""
    tracker = RedisCooldown(redis_client, namespace="hint-ends", duration=15, refresh=0)
    tracker.record_failure("a", RetryAfter(30))
    redis_client.delete(key("hint-ends", "cooldown", "a"))  # an operator ends the cooldown
    assert redis_client.pttl(key("hint-ends", "hint", "a")) > 29_000  # still there
    assert tracker.hinted(["a"]) == [0.0]
    body = Calls()
    assert routed(providers=["a"], cooldown=tracker, respect_retry_after=True)(body)() == "a"


def test_two_trackers_on_one_namespace_share_the_hint(redis_client, redis_server):
    """One tracker records a 429 with Retry-After; a router on another never forces it."""
    first = RedisCooldown(redis_server.client(), namespace="shared-hint", duration=15,
                          refresh=0)  # fmt: skip
    second = RedisCooldown(redis_server.client(), namespace="shared-hint", duration=15,
                           refresh=0)  # fmt: skip
    body = Calls(a=RetryAfter(30))
    routed(providers=["a", "b"], cooldown=first)(body)()
    body.errors["b"] = Quota
    with pytest.raises(AllProvidersFailedError):
        routed(providers=["b"], cooldown=first, cooldown_for=quota_policy)(body)()
    polite = routed(providers=["a", "b"], cooldown=second, respect_retry_after=True)(body)
    with pytest.raises(AllProvidersBenchedError) as caught:
        polite()
    assert 29 < caught.value.retry_after <= 30
    assert body.calls == ["a", "b", "b"]

    async def main() -> None:
        apolite = routed(providers=["a", "b"], cooldown=second, respect_retry_after=True)(
            AsyncCalls()
        )
        with pytest.raises(AllProvidersBenchedError):
            await apolite()

    asyncio.run(main())
    # Without the option, the same view forces the terminus as before.
    assert routed(providers=["a", "b"], cooldown=second)(Calls())() == "b"


@pytest.mark.processes
def test_a_hint_recorded_by_another_process_is_respected(redis_server, redis_client, spawn):
    from redis_workers import bench_with_hint

    with spawn.Pool(1) as pool:
        assert pool.apply(bench_with_hint, (redis_server.url, "hint-procs", 45.0)) > 40
    tracker = RedisCooldown(redis_client, namespace="hint-procs", duration=15)
    body = Calls()
    fn = routed(providers=["a"], cooldown=tracker, respect_retry_after=True)(body)
    with pytest.raises(AllProvidersBenchedError) as caught:
        fn()
    assert 40 < caught.value.retry_after <= 45
    assert body.calls == []


def test_a_stale_view_learns_the_hint_from_the_server(redis_client, redis_server):
    """A mirror that missed the hint: the probe claim says "benched", the hint is read,
    and the terminus is not forced."""
    writer = RedisCooldown(redis_server.client(), namespace="stale-hint", threshold=2)
    stale = RedisCooldown(redis_server.client(), namespace="stale-hint", threshold=2,
                          refresh=30)  # fmt: skip
    writer.record_failure("b", Boom())  # counted, not benched yet
    assert stale.remaining_many(["b"]) == [0.0]  # the mirror: b has state, no cooldown
    writer.record_failure("b", RetryAfter(30))  # now benched by a hint: the mirror misses it
    body = Calls()
    fn = routed(providers=["b"], cooldown=stale, respect_retry_after=True)(body)
    with pytest.raises(AllProvidersBenchedError) as caught:
        fn()
    assert body.calls == []
    assert 29 < caught.value.retry_after <= 30
