"""What a call gives back (DESIGN §4): every concurrency slot, half-open probe and rate-limit
token it took, whatever ends it — a return, any exception, KeyboardInterrupt anywhere
(provider, hook, log sink, a wait for a slot), a stream never iterated, abandoned or whose
generator's cleanup raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import threading
import time

import pytest
from loguru import logger

from fallback_router import (
    AllProvidersFailedError,
    AttemptStarted,
    ConcurrencyLimiter,
    InMemoryCooldown,
    InMemoryRateLimiter,
    StreamInterrupted,
    routed,
)

from .conftest import FakeClock


class Boom(Exception):
    pass


def free(limiter: ConcurrencyLimiter, *names: str) -> bool:
    return all(limiter.in_flight(name) == 0 for name in names)


# -- plain calls -------------------------------------------------------------------------------


@pytest.mark.parametrize("ending", ["return", "trigger", "non-trigger", "keyboard", "exit"])
def test_every_ending_of_a_plain_call_gives_the_slot_back(ending, path):
    """Return, fallback error, non-trigger error, KeyboardInterrupt, SystemExit: slot freed."""
    limiter = ConcurrencyLimiter(1)
    raised = {
        "trigger": Boom("x"),
        "non-trigger": KeyError("x"),
        "keyboard": KeyboardInterrupt(),
        "exit": SystemExit(3),
    }

    def call(provider):
        if ending != "return":
            raise raised[ending]
        return provider

    fn = path.routed(["a"], max_concurrency=limiter, fallback_on=Boom)(call)
    with (
        pytest.raises((AllProvidersFailedError, KeyError, KeyboardInterrupt, SystemExit))
        if (ending != "return")
        else contextlib.nullcontext()
    ):
        fn()
    assert free(limiter, "a")


@pytest.mark.parametrize("where", ["hook", "sink"])
def test_keyboard_interrupt_at_a_probes_start_gives_probe_and_slot_back(where, path):
    """KeyboardInterrupt in a hook or log sink at AttemptStarted of a probe: all given back."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)
    limiter = ConcurrencyLimiter(1)
    armed = {"on": False}

    def hook(event):
        if armed["on"] and where == "hook" and isinstance(event, AttemptStarted):
            raise KeyboardInterrupt

    def sink(message):
        if armed["on"] and where == "sink" and "probing" in message:
            raise KeyboardInterrupt

    fn = path.routed(
        ["a", "b"], cooldown=tracker, max_concurrency=limiter, clock=clock, on_event=hook
    )(lambda provider: provider)
    tracker.record_failure("a", Boom())
    clock.advance(10)  # a is half-open: the next call probes it
    logger.enable("fallback_router")
    sink_id = logger.add(sink, level="INFO", catch=False)
    armed["on"] = True
    try:
        with pytest.raises(KeyboardInterrupt):
            fn()
    finally:
        logger.remove(sink_id)
        logger.disable("fallback_router")
    assert free(limiter, "a", "b")
    assert tracker.try_probe("a") is True  # the probe was given back


def test_a_rate_limit_token_is_refunded_when_the_call_ends_before_its_attempt(path):
    """KeyboardInterrupt in a hook before the attempt: the token taken for it comes back."""
    clock = FakeClock()
    limits = InMemoryRateLimiter({"a": "1/h"}, clock=clock)

    def hook(event):
        if isinstance(event, AttemptStarted):
            raise KeyboardInterrupt

    fn = path.routed(["a"], rate_limits=limits, on_event=hook, clock=clock)(
        lambda provider: provider
    )
    with pytest.raises(KeyboardInterrupt):
        fn()
    assert limits.tokens("a") == 1.0


@pytest.mark.signals
def test_keyboard_interrupt_while_waiting_for_a_slot_leaves_the_queue():
    """Ctrl-C in a wait for a slot: the waiter leaves; the next freed slot is not swallowed."""
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire("a")  # someone else holds the only slot
    fn = routed(providers=["a"], max_concurrency=limiter)(lambda provider: provider)
    main = threading.main_thread().ident
    assert main == threading.get_ident()

    def interrupt():
        for _ in range(500):  # bounded: until the main thread waits in the queue
            if limiter._waiters:
                break
            time.sleep(0.005)
        signal.pthread_kill(main, signal.SIGINT)

    thread = threading.Thread(target=interrupt)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        fn()
    thread.join()
    limiter.release("a")
    assert free(limiter, "a")
    assert fn() == "a"  # proceeds at once


# -- streams ----------------------------------------------------------------------------------


def test_a_routed_stream_never_iterated_gives_its_slot_back_when_collected():
    """fn.route() on a generator whose Result is dropped: the slot comes back on collection."""
    limiter = ConcurrencyLimiter(1)

    @routed(providers=["a"], max_concurrency=limiter)
    def stream(provider):
        yield 1
        yield 2

    for _ in range(3):  # more than the limit: each dropped result gave its slot back
        result = stream.route()
        assert limiter.in_flight("a") == 1
        del result
        gc.collect()
    assert free(limiter, "a")


def test_a_stream_abandoned_midway_gives_its_slot_back():
    """A consumer that stops after one item and drops the iterator frees the slot."""
    limiter = ConcurrencyLimiter(1)
    closed = []

    @routed(providers=["a"], max_concurrency=limiter)
    def stream(provider):
        try:
            yield from range(10)
        finally:
            closed.append(provider)

    iterator = stream()
    assert next(iterator) == 0
    del iterator
    gc.collect()
    assert free(limiter, "a")
    assert closed == ["a"]


def test_a_stream_collected_while_its_thread_holds_the_limiters_lock_does_not_deadlock():
    """The cyclic GC may run a dropped stream's cleanup inside any allocation, also one the
    limiter makes under its own lock: the slot is given back when the lock is let go.

    (The collection is run under the lock explicitly; on its own it happens at random.)
    """
    limiter = ConcurrencyLimiter(2)

    @routed(providers=["a"], max_concurrency=limiter)
    def stream(provider):
        yield 1
        yield 2

    iterator = stream()
    assert next(iterator) == 1
    holder: list[object] = [iterator]
    holder.append(holder)  # a reference cycle: only the cyclic GC frees it
    del iterator, holder
    assert limiter.in_flight("a") == 1
    finished = threading.Event()

    def collect_under_the_lock():
        with limiter._locked():
            gc.collect()
        finished.set()

    worker = threading.Thread(target=collect_under_the_lock, daemon=True)
    worker.start()
    assert finished.wait(30), "the finalizer waited for a lock its own thread holds"
    assert free(limiter, "a")


def test_a_provider_generator_whose_cleanup_raises_still_gives_its_slot_back(path):
    """The provider's close() raising does not leak the slot."""
    limiter = ConcurrencyLimiter(1)

    def body(provider):
        try:
            yield 1
            yield 2
        finally:
            raise Boom("cleanup")

    result = path.routed(["a"], max_concurrency=limiter)(body).route()
    assert path.next(result.response) == 1
    with pytest.raises(Boom):
        path.close(result.response)
    assert free(limiter, "a")


def test_a_stream_failing_midway_gives_its_slot_back(path):
    """StreamInterrupted after an item: the slot is free."""
    limiter = ConcurrencyLimiter(1)

    def body(provider):
        yield 1
        raise Boom("cut")

    with pytest.raises(StreamInterrupted):
        path.routed(["a"], max_concurrency=limiter)(body).items()
    assert free(limiter, "a")


# -- async ------------------------------------------------------------------------------------


def test_cancelling_an_async_call_gives_everything_back():
    """Task cancellation during the attempt and during a wait for a slot: all given back."""
    limiter = ConcurrencyLimiter(1)
    started = asyncio.Event

    async def main():
        began = started()

        @routed(providers=["a"], max_concurrency=limiter)
        async def call(provider):
            began.set()
            await asyncio.sleep(30)
            return provider

        running = asyncio.create_task(call())
        await began.wait()
        waiting = asyncio.create_task(call())  # queued behind the first
        await asyncio.sleep(0.01)
        waiting.cancel()
        running.cancel()
        for task in (running, waiting):
            with pytest.raises(asyncio.CancelledError):
                await task
        return free(limiter, "a")

    assert asyncio.run(main())


@pytest.mark.parametrize("form", ["function", "method"])
def test_aclose_returns_after_the_providers_generator_closed_and_its_slot_is_free(form):
    """`await stream.aclose()` midway: on return the provider's `finally` ran and the slot
    is back (not some time later, when the loop finalizes a generator left open)."""
    limiter = ConcurrencyLimiter(1)
    closed: list[str] = []

    async def words(provider):
        try:
            yield f"{provider}0"
            yield f"{provider}1"
        finally:
            closed.append(provider)

    class Client:
        @routed(providers=["a"], max_concurrency=limiter)
        async def stream(self, provider):
            try:
                yield f"{provider}0"
                yield f"{provider}1"
            finally:
                closed.append(provider)

    plain = routed(providers=["a"], max_concurrency=limiter)(words)

    async def main() -> tuple[list[str], bool]:
        stream = plain() if form == "function" else Client().stream()
        assert await anext(stream) == "a0"
        assert not free(limiter, "a")
        await stream.aclose()
        return list(closed), free(limiter, "a")

    assert asyncio.run(main()) == (["a"], True)


def test_close_returns_after_the_providers_generator_closed_and_its_slot_is_free():
    """The sync twin: `close()` midway returns once the provider's generator is closed."""
    limiter = ConcurrencyLimiter(1)
    closed: list[str] = []

    @routed(providers=["a"], max_concurrency=limiter)
    def stream(provider):
        try:
            yield f"{provider}0"
            yield f"{provider}1"
        finally:
            closed.append(provider)

    words = stream()
    assert next(words) == "a0"
    words.close()
    assert (closed, free(limiter, "a")) == (["a"], True)


# -- many threads, every ending ----------------------------------------------------------------


@pytest.mark.signals
def test_random_endings_under_sixteen_threads_leave_nothing_held():  # noqa: C901 - every ending
    """16 threads x rounds of calls ending every way: after each round nothing is held."""
    limiter = ConcurrencyLimiter({"a": 2, "b": 2, "c": 3})
    tracker = InMemoryCooldown(0.001)
    rng = random.Random(7)
    endings = ["ok", "boom", "keyerror", "keyboard", "stream-drop", "stream-cut", "stream-ok"]

    def call(provider, ending):
        if ending == "boom":
            raise Boom(provider)
        if ending == "keyerror":
            raise KeyError(provider)
        if ending == "keyboard" and provider == "b":
            raise KeyboardInterrupt
        return provider

    @routed(providers=["a", "b", "c"], cooldown=tracker, max_concurrency=limiter, fallback_on=Boom)
    def plain(provider, ending):
        return call(provider, ending)

    @routed(providers=["a", "b", "c"], cooldown=tracker, max_concurrency=limiter, fallback_on=Boom)
    def stream(provider, ending):
        if ending == "boom":
            raise Boom(provider)
        yield 1
        if ending == "stream-cut":
            raise Boom("cut")
        yield 2

    def worker(seed):
        local = random.Random(seed)
        for _ in range(100):
            ending = local.choice(endings)
            try:
                if ending.startswith("stream"):
                    iterator = stream(ending)
                    next(iterator)
                    if ending != "stream-drop":
                        list(iterator)
                    del iterator
                else:
                    plain(ending)
            except (AllProvidersFailedError, KeyError, KeyboardInterrupt, StreamInterrupted):
                pass

    for _ in range(5):
        threads = [threading.Thread(target=worker, args=(rng.random(),)) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gc.collect()
        assert free(limiter, "a", "b", "c")


def test_a_candidate_the_budget_refuses_gives_its_slot_and_token_back(path):
    """a fails; b has its slot and token taken, then the retry budget refuses it: both go
    back, and b is reported skipped for the budget (0 s), never attempted."""
    from fallback_router import ProviderSkipped, RetryBudget

    clock = FakeClock()
    limiter = ConcurrencyLimiter(2)
    rates = InMemoryRateLimiter({"b": "5/min"}, clock=clock)
    events = []
    options = {
        "cooldown": None,
        "max_concurrency": limiter,
        "rate_limits": rates,
        "retry_budget": RetryBudget(0.2, 0, clock=clock),  # no deposits: nothing to spend
        "clock": clock,
        "on_event": events.append,
    }

    def call(provider):
        raise Boom(provider)

    with pytest.raises(AllProvidersFailedError, match="retry budget exhausted") as info:
        path.routed(["a", "b"], **options)(call)()
    assert [type(e) for e in info.value.exceptions] == [Boom]
    assert free(limiter, "a", "b")
    assert rates.tokens("b") == 5.0
    skipped = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.remaining, e.reason) for e in skipped] == [("b", 0.0, "retry budget")]
    assert not [e for e in events if isinstance(e, AttemptStarted) and e.provider == "b"]


def test_a_slot_taken_for_a_provider_without_a_token_goes_back_at_once(path):
    """a's slot is free but its token is spent: the slot taken for it is released before the
    call moves on to b (a is skipped as rate limited, never saturated by itself)."""
    from fallback_router import ProviderSkipped

    clock = FakeClock()
    limiter = ConcurrencyLimiter(1)
    rates = InMemoryRateLimiter({"a": "1/min"}, clock=clock)
    events = []
    a_free_in_b = []

    def call(provider):
        if provider == "b":
            a_free_in_b.append(limiter.in_flight("a") == 0)
        return provider

    fn = path.routed(
        ["a", "b"],
        cooldown=None,
        max_concurrency=limiter,
        rate_limits=rates,
        clock=clock,
        on_event=events.append,
    )(call)
    assert [fn(), fn(), fn()] == ["a", "b", "b"]
    assert a_free_in_b == [True, True]  # released before the call moved on to b
    assert free(limiter, "a", "b")
    skipped = [(e.provider, e.reason) for e in events if isinstance(e, ProviderSkipped)]
    assert skipped == [("a", "rate limited")] * 2


def test_a_token_waited_for_goes_back_when_the_budget_then_refuses(path):
    """a fails; b's token comes after a wait, then the retry budget refuses b: the token
    that was waited for is refunded (b's bucket is full again), the slot freed."""
    from fallback_router import RateLimit, RetryBudget

    class Refunds(InMemoryRateLimiter):
        def __init__(self, limits):
            super().__init__(limits)
            self.refunded: list[str] = []

        def refund(self, name):
            self.refunded.append(name)
            super().refund(name)

    limiter = ConcurrencyLimiter(2)
    rates = Refunds({"b": RateLimit(1, 0.05)})  # real time: a 50 ms refill
    assert rates.try_acquire("b")  # b's token is spent: the call will wait for the next
    fn = path.routed(
        ["a", "b"],
        cooldown=None,
        max_concurrency=limiter,
        rate_limits=rates,
        retry_budget=RetryBudget(0.2, 0, clock=FakeClock()),
    )(lambda provider: (_ for _ in ()).throw(Boom(provider)))
    with pytest.raises(AllProvidersFailedError, match="retry budget exhausted"):
        fn()
    assert rates.refunded == ["b"]  # the token waited for, given back
    assert rates.tokens("b") == pytest.approx(1.0)  # the bucket holds one
    assert free(limiter, "a", "b")
