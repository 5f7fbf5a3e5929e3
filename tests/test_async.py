"""Async routing (DESIGN §11): `async def` and async generator functions, routed natively.

Same strategies, trackers, limits, hooks, Result, errors and `current_attempt()` (per
task) as sync; nothing blocks the event loop (waits are awaited, Redis is called off the
loop); cancellation propagates at once and gives everything back.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from fallback_router import (
    AllProvidersFailedError,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CallStarted,
    CallSucceeded,
    ConcurrencyLimiter,
    InMemoryCooldown,
    InMemoryRateLimiter,
    ProviderSkipped,
    RateLimiter,
    RedisCooldown,
    RedisRateLimiter,
    RedisRoundRobin,
    RoundRobin,
    Router,
    StreamInterrupted,
    current_attempt,
    http_status,
    routed,
)

from .conftest import FakeClock, http_server


class Boom(Exception):
    pass


def run(coro):
    return asyncio.run(coro)


def test_a_routed_async_def_is_a_coroutine_function():
    """Frameworks that check inspect.iscoroutinefunction see a routed async def as one."""

    @routed(providers=["a"])
    async def ask(provider, question):
        return provider + question

    assert inspect.iscoroutinefunction(ask)
    assert inspect.iscoroutinefunction(ask.route)
    assert run(ask("?")) == "a?"


def test_async_fallback_result_and_events_match_sync():
    """The same fallback, sync and async: the same Result shape and the same event kinds."""
    kinds: dict[str, list[str]] = {"sync": [], "async": []}

    def sync_call(provider):
        if provider == "a":
            raise Boom("a down")
        return provider

    async def async_call(provider):
        return sync_call(provider)

    sync_fn = routed(
        providers=["a", "b"], on_event=lambda e: kinds["sync"].append(type(e).__name__)
    )(sync_call)
    async_fn = routed(
        providers=["a", "b"], on_event=lambda e: kinds["async"].append(type(e).__name__)
    )(async_call)
    sync_result = sync_fn.route()
    async_result = run(async_fn.route())
    assert (async_result.provider, async_result.attempt) == (
        sync_result.provider,
        sync_result.attempt,
    )
    assert [a.provider for a in async_result.attempts] == ["a", "b"]
    assert kinds["async"] == kinds["sync"]
    assert kinds["async"][0] == "CallStarted"
    assert kinds["async"][-1] == "CallSucceeded"


def test_current_attempt_is_per_task():
    """100 tasks at once: each provider call sees its own attempt facts."""
    seen = []

    @routed(providers=["a", "b", "c"], strategy="round_robin")
    async def call(provider, i):
        await asyncio.sleep(0)
        info = current_attempt()
        assert info is not None
        seen.append((provider, info.provider))
        return provider

    async def main():
        return await asyncio.gather(*(call(i) for i in range(100)))

    served = run(main())
    assert Counter(served) == {"a": 34, "b": 33, "c": 33}
    assert all(provider == name for provider, name in seen)


def test_one_router_serves_sync_and_async_with_shared_state():
    """A failure through the sync function benches the provider for the async one."""
    router = Router(["a", "b"])

    @router
    def sync_call(provider):
        if provider == "a":
            raise Boom("down")
        return provider

    @router
    async def async_call(provider):
        return provider

    assert sync_call() == "b"
    assert run(async_call.route()).skipped == ("a",)


def test_async_methods_and_execute():
    """Async methods route with the provider after self; execute awaits a coroutine."""

    class Client:
        @routed(providers=["a", "b"])
        async def ask(self, provider, question):
            return f"{provider}:{question}"

    router = Router(["x"])

    async def free(provider, value):
        return provider + value

    async def main():
        return (await Client().ask("q"), (await Client().ask.route("r")).provider,
                (await router.execute(free, "!")).response)  # fmt: skip

    assert run(main()) == ("a:q", "a", "x!")
    assert inspect.iscoroutinefunction(Client().ask)


def test_an_async_def_returning_an_awaitable_is_a_type_error():
    """async def returning an un-awaited coroutine: TypeError naming the missing await."""

    async def inner():
        return "x"

    @routed(providers=["a"])
    async def call(provider):
        return inner()

    with pytest.raises(TypeError, match="await"):
        run(call())


def test_a_plain_def_returning_a_coroutine_is_a_type_error_and_records_nothing():
    """A plain def whose call returns a coroutine: TypeError naming async def; no success."""

    async def sdk_call():
        return "response"

    fn = routed(providers=["a"])(lambda provider: sdk_call())
    with pytest.raises(TypeError, match="async def"):
        fn()
    assert fn.router.status()["a"].successes == 0


def test_async_streams_fall_back_until_the_first_item_then_commit():
    """An async generator function: fallback before the first item, StreamInterrupted after."""

    @routed(providers=["a", "b"])
    async def tokens(provider, n):
        if provider == "a":
            raise Boom("down")
        for i in range(n):
            yield f"{provider}{i}"
        raise Boom("cut")

    async def main():
        got = []
        try:
            async for token in tokens(2):
                got.append(token)  # noqa: PERF401 - items seen before the interruption count
        except StreamInterrupted as error:
            return got, error
        raise AssertionError("the stream was not interrupted")

    got, error = run(main())
    assert got == ["b0", "b1"]
    assert (error.provider, error.items) == ("b", 2)
    assert isinstance(error.__cause__, Boom)


def test_cancelling_an_async_call_propagates_at_once_and_records_nothing():
    """CancelledError is never retried or recorded as a provider failure."""
    events = []

    @routed(providers=["a", "b"], on_event=events.append)
    async def call(provider):
        await asyncio.sleep(30)

    async def main():
        task = asyncio.create_task(call())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(main())
    assert not [e for e in events if isinstance(e, AttemptFailed)]
    assert call.router.status()["a"].failures == 0


def test_waiting_for_a_slot_is_awaited_not_blocking():
    """A task waiting for a slot lets other tasks run (the loop keeps ticking)."""
    limiter = ConcurrencyLimiter(1)
    ticks = []

    @routed(providers=["a"], max_concurrency=limiter)
    async def call(provider):
        await asyncio.sleep(0.05)
        return provider

    async def ticker():
        for _ in range(5):
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    async def main():
        return await asyncio.gather(call(), call(), ticker())

    first, second, _ = run(main())
    assert (first, second) == ("a", "a")
    assert len(ticks) == 5
    assert limiter.in_flight("a") == 0


def test_a_thousand_tasks_over_three_providers_one_failing():
    """1,000 concurrent tasks; b fails: exact counts, b benched once, one probe per cooldown end."""
    clock = FakeClock()
    tracker = InMemoryCooldown(1.0, clock=clock)
    started = Counter()

    def hook(event):
        if isinstance(event, AttemptStarted):
            started[(event.provider, event.probe)] += 1

    @routed(providers=["b", "a", "c"], cooldown=tracker, clock=clock, on_event=hook)
    async def call(provider):
        await asyncio.sleep(0)
        if provider == "b":
            raise Boom("b down")
        return provider

    async def wave():
        return await asyncio.gather(*(call() for _ in range(1000)))

    first = run(wave())
    assert Counter(first)["a"] == 1000
    b_first = started[("b", False)]
    assert 1 <= b_first <= 1000  # those in flight before the first failure
    for round_ in range(3):
        clock.advance(1.0)
        served = run(wave())
        assert Counter(served) == {"a": 1000}
        assert started[("b", True)] == round_ + 1  # one probe per cooldown end
    assert started[("b", False)] == b_first
    status = call.router.status()
    assert status["a"].successes == 4000


class _Vendor(BaseHTTPRequestHandler):
    """A local vendor: /limited (429, retry-after-ms), /broken (500), /ok."""

    def do_GET(self) -> None:
        if self.path == "/limited":
            self.send_response(429)
            self.send_header("retry-after-ms", "1500")
        elif self.path == "/broken":
            self.send_response(500)
        else:
            self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_httpx_async_client_against_local_vendors():
    """httpx.AsyncClient: a 429 with retry-after-ms benches for 1.5 s, a 500 falls back too."""
    with http_server(_Vendor) as base:

        async def main():
            async with httpx.AsyncClient(base_url=base) as client:

                @routed(
                    providers={"limited": "/limited", "broken": "/broken", "ok": "/ok"},
                    cooldown_on=http_status(429, 500),
                )
                async def get(path):
                    response = await client.get(path)
                    response.raise_for_status()
                    return response.text

                result = await get.route()
                return result, get.router.status()

        result, status = run(main())
    assert (result.provider, [a.provider for a in result.attempts]) == (
        "ok",
        ["limited", "broken", "ok"],
    )
    assert 1.0 < status["limited"].cooldown_remaining <= 1.5
    assert status["broken"].cooldown_remaining > 1.5  # the default 60 s


@pytest.mark.parametrize("surface", ["tracker", "counter", "limiter"])
def test_the_loop_never_waits_on_a_paused_redis(proxy, surface):
    """Redis holds its reply: while a tracker's, a counter's or a rate limiter's round trip
    waits on the wire, the loop keeps serving other tasks (the round trip runs off the
    loop); released, the call completes. A handshake, not a timing: the proxy tells when a
    reply is held, and only a loop stuck in the round trip would let the watchdog release
    it first."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=proxy.port)
    patient = 30.0  # never reached: the test (or, on failure, the watchdog) releases the reply

    async def serve(provider):
        return provider

    if surface == "tracker":
        tracker = RedisCooldown(client, namespace="paused", op_timeout=patient, refresh=0)
        fn = routed(providers=["a", "b"], cooldown=tracker)(serve)
    elif surface == "counter":
        counter = RedisRoundRobin(client, key="paused-rr", op_timeout=patient)
        fn = routed(providers=["a", "b"], strategy="round_robin", counter=counter)(serve)
    else:
        rates = RedisRateLimiter(client, {"a": "10000/s"}, namespace="paused", op_timeout=patient)
        fn = routed(providers=["a", "b"], cooldown=None, rate_limits=rates)(serve)
    watchdog = threading.Timer(10.0, proxy.release)

    async def main():
        await fn()  # warm: connections made and scripts loaded while Redis answers
        proxy.set("hold")
        task = asyncio.create_task(fn())
        watchdog.start()
        for _ in range(20_000):  # the loop turns until a reply waits on the wire (a thread's
            if proxy.holding.is_set():  # event: polled, so the loop never blocks on it)
                break
            await asyncio.sleep(0.001)
        for _ in range(50):  # ... and keeps turning while it waits
            await asyncio.sleep(0)
        still_held = proxy.mode == "hold" and not task.done()
        proxy.release()
        return still_held, await task

    try:
        still_held, served = run(main())
    finally:
        watchdog.cancel()
        proxy.set("pass")
    assert still_held  # the loop ran 50 turns while the round trip was held
    assert served in {"a", "b"}


def test_redis_round_robin_from_async_code_is_exactly_balanced(redis_client):
    """RedisRoundRobin's INCR runs off the loop; picks stay exact across tasks."""
    counter = RedisRoundRobin(redis_client, key="async-rr")

    @routed(providers=["a", "b", "c"], strategy="round_robin", counter=counter)
    async def call(provider):
        return provider

    async def main():
        return await asyncio.gather(*(call() for _ in range(60)))

    assert Counter(run(main())) == {"a": 20, "b": 20, "c": 20}


def test_all_failing_async_call_raises_the_group():
    """An async call where every provider fails raises AllProvidersFailedError (except* works)."""

    @routed(providers=["a", "b"], cooldown=None)
    async def call(provider):
        raise Boom(provider)

    with pytest.raises(AllProvidersFailedError) as info:
        run(call())
    assert [type(e) for e in info.value.exceptions] == [Boom, Boom]


def test_async_hooks_run_on_the_calling_task():
    """Hooks run in the task's own thread and see the task's context."""
    threads = set()
    events = []

    def hook(event):
        threads.add(threading.get_ident())
        events.append(type(event))

    @routed(providers=["a"], on_event=hook)
    async def call(provider):
        return provider

    run(call())
    assert threads == {threading.get_ident()}
    assert events == [CallStarted, AttemptStarted, AttemptSucceeded, CallSucceeded]


# -- where components are called: off the loop exactly when they say they block ------------


class Noting:
    """Notes the thread each method of a component ran on, by method name."""

    def __init__(self) -> None:
        self.threads: dict[str, set[int]] = {}

    def note(self, method: str) -> None:
        self.threads.setdefault(method, set()).add(threading.get_ident())


class NotingCooldown(InMemoryCooldown):
    """An in-memory tracker that says whether it blocks, and notes where it was called."""

    def __init__(self, blocking: bool, **options):
        super().__init__(**options)
        self.blocking = blocking
        self.seen = Noting()
        self.probed_elsewhere: set[str] = set()  # as another process's probe, unseen by views

    def remaining_many(self, names):
        self.seen.note("remaining_many")
        return super().remaining_many(names)

    def peek(self, names) -> Sequence[float] | None:
        """Never answers without I/O (None): the read is asked of the driver."""
        self.seen.note("peek")
        return None

    def remaining(self, name):
        self.seen.note("remaining")
        if name in self.probed_elsewhere:
            return 0.25  # the other process's probe may hold it that long
        return super().remaining(name)

    def try_probe(self, name, ttl=None):
        self.seen.note("try_probe")
        if name in self.probed_elsewhere:
            return False
        return super().try_probe(name, ttl)

    def record_failure(self, name, error):
        self.seen.note("record_failure")
        return super().record_failure(name, error)

    def record_success(self, name, clears_cooldown=True):
        self.seen.note("record_success")
        return super().record_success(name, clears_cooldown)


class NotingCounter:
    """A round-robin counter that says whether it blocks and notes where it was called."""

    def __init__(self, blocking: bool) -> None:
        self.blocking = blocking
        self.seen = Noting()
        self.value = -1

    def next_index(self) -> int:
        self.seen.note("next_index")
        self.value += 1
        return self.value


class NotingRates(RateLimiter):
    """The in-memory rate limiter, saying whether it blocks and noting where it was called."""

    def __init__(self, blocking: bool, limits, clock=None) -> None:
        self.inner = InMemoryRateLimiter(limits, clock=clock)
        self.blocking = blocking
        self.seen = Noting()

    def try_acquire(self, name):
        self.seen.note("try_acquire")
        return self.inner.try_acquire(name)

    def wait_time(self, name):
        self.seen.note("wait_time")
        return self.inner.wait_time(name)

    def refund(self, name):
        self.seen.note("refund")
        self.inner.refund(name)

    def tokens(self, name):
        return self.inner.tokens(name)

    def limited(self, name):
        self.seen.note("limited")
        return self.inner.limited(name)


class NotingLimiter(ConcurrencyLimiter):
    """A concurrency limiter (always in memory) that notes where slots were taken."""

    def __init__(self, limits) -> None:
        super().__init__(limits)
        self.seen = Noting()

    def try_acquire(self, name):
        self.seen.note("try_acquire")
        return super().try_acquire(name)


def placement_calls(blocking: bool, fixed: bool):
    """Async calls that reach every tracker, counter and rate-limiter method of the walk
    (`fixed`: provider lists, else providers callables: every call takes the engine).

    Returns the components and the loop's thread.
    """

    def providers(*names: str):
        return list(names) if fixed else (lambda: list(names))

    clock = FakeClock()
    tracker = NotingCooldown(blocking, duration=10, clock=clock)
    counter = NotingCounter(blocking)
    rates = NotingRates(blocking, {"c": "1/s"}, clock)
    limiter = NotingLimiter(10)
    tracker.record_failure("x", RuntimeError())  # some state: calls plan from a view
    tracker.seen.threads.clear()

    skips = []

    def skipped(event):
        if isinstance(event, ProviderSkipped):
            skips.append((event.provider, event.remaining, event.reason))

    @routed(
        providers=providers("a", "b"),
        cooldown=tracker,
        clock=clock,
        max_concurrency=limiter,
        on_event=skipped,
    )
    async def fail_over(provider):
        if provider == "a":
            raise Boom(provider)
        return provider

    @routed(providers=providers("a", "b"), strategy="round_robin", counter=counter, cooldown=None)
    async def rotate(provider):
        return provider

    @routed(providers=providers("c", "d"), cooldown=None, rate_limits=rates)
    async def limited(provider):
        return provider

    async def main():
        assert await fail_over() == "b"  # a fails (record_failure), b succeeds (record_success)
        clock.advance(10)  # a is half-open, and probed by another process (a stale view)
        tracker.probed_elsewhere.add("a")
        assert await fail_over() == "b"  # a: the probe is taken (remaining), skipped
        assert skips == [("a", 0.25, "probe in flight")]  # the hold the tracker reports
        assert [await rotate() for _ in range(3)] == ["a", "b", "a"]
        assert [await limited() for _ in range(2)] == ["c", "d"]  # c's one token, then d
        return threading.get_ident()

    loop = run(main())
    # The limiter is in memory: its slots are taken on the loop (beside a blocking tracker or
    # counter; a blocking rate limiter would take both off the loop, in one hop).
    assert limiter.seen.threads == {"try_acquire": {loop}}
    return tracker, counter, rates, loop


#: The tracker methods placement_calls reaches (besides `peek`).
WALK_METHODS = {"remaining_many", "record_failure", "record_success", "try_probe", "remaining"}


@pytest.mark.parametrize("fixed", [True, False])
def test_components_that_block_are_only_called_off_the_loop(fixed):
    """blocking = True: every tracker, counter and limiter call runs in a worker thread,
    except `peek` (answers without I/O, on the loop; None: the read goes off the loop)."""
    tracker, counter, rates, loop = placement_calls(blocking=True, fixed=fixed)
    assert set(tracker.seen.threads) == {"peek", *WALK_METHODS}
    assert tracker.seen.threads.pop("peek") == {loop}
    for seen in (tracker.seen, counter.seen, rates.seen):
        assert seen.threads, "not reached"
        for method, threads in seen.threads.items():
            assert loop not in threads, f"{method} ran on the event loop"
    assert set(rates.seen.threads) >= {"try_acquire", "limited"}


@pytest.mark.parametrize("fixed", [True, False])
def test_components_that_do_not_block_are_called_on_the_loop(fixed):
    """blocking = False (in-memory structures): called on the loop, never a thread hop."""
    tracker, counter, rates, loop = placement_calls(blocking=False, fixed=fixed)
    assert set(tracker.seen.threads) == WALK_METHODS  # no peek: the view is read directly
    for seen in (tracker.seen, counter.seen, rates.seen):
        assert seen.threads, "not reached"
        assert set().union(*seen.threads.values()) == {loop}


@pytest.mark.parametrize("fixed", [True, False])
@pytest.mark.parametrize("tracker_blocks", [True, False, None])
def test_a_counter_that_does_not_say_it_blocks_stays_on_the_loop(fixed, tracker_blocks):
    """A counter without a `blocking` attribute is called on the loop, alone (None), beside
    an in-memory tracker (also on the loop) or beside a tracker that blocks (off it)."""
    tracker = None if tracker_blocks is None else NotingCooldown(tracker_blocks, duration=10)
    counter = NotingCounter(False)
    del counter.blocking  # a third-party counter that never heard of the attribute
    names = ["a", "b"]
    started = []
    calls = []

    @routed(
        providers=names if fixed else (lambda: names),
        strategy=RoundRobin(failover=True),
        counter=counter,
        cooldown=tracker,
        on_event=lambda e: started.append(e.provider) if isinstance(e, AttemptStarted) else None,
    )
    async def rotate(provider):
        calls.append(provider)
        if provider == "b":
            raise Boom(provider)  # b benched: the tracker is read and written
        return provider

    async def main():
        return [await rotate() for _ in range(5)], threading.get_ident()

    picks, loop = run(main())
    assert picks == ["a"] * 5  # b's turns (ticks 1 and 3) fall back to a
    assert started == calls  # every attempt made once, announced once
    assert counter.seen.threads == {"next_index": {loop}}
    if tracker is not None:
        tracker.seen.threads.pop("peek", None)  # on the loop by design: answers without I/O
        threads = set().union(*tracker.seen.threads.values())
        assert threads
        assert (loop in threads) is not tracker_blocks
