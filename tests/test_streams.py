"""Streams (DESIGN §9): a generator function routes a stream; fallback until the first item,
then StreamInterrupted; slots held until the consumer closes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from fallback_router import (
    AllProvidersFailedError,
    AttemptFailed,
    AttemptTimeoutError,
    DeadlineExceededError,
    InMemoryCooldown,
    StreamInterrupted,
    current_attempt,
    routed,
)
from fallback_router.testing import stall

from .conftest import FakeClock
from .support.helpers import Boom


def test_a_stream_falls_back_until_its_first_item_and_reports_it(path):
    """Fallback until a first item; route() tells provider, attempt, time to first item."""
    clock = FakeClock()
    seen: list[tuple[str, int]] = []

    def body(provider: str) -> Iterator[str]:
        clock.advance(0.25)
        if provider == "a":
            raise RuntimeError("a down")
        info = current_attempt()
        assert info is not None
        seen.append((info.provider, info.attempt))
        yield "one"
        clock.advance(5)  # after the first item: not part of the latency
        info = current_attempt()
        assert info is not None
        seen.append((info.provider, info.attempt))
        yield "two"

    words = path.routed(["a", "b"], clock=clock, cooldown=None)(body)
    result = words.route()
    assert (result.provider, result.attempt, result.was_terminus) == ("b", 2, True)
    assert (result.latency, result.elapsed) == (0.25, 0.5)  # to the first item
    assert [a.provider for a in result.attempts] == ["a", "b"]
    assert path.collect(result.response) == ["one", "two"]
    assert seen == [("b", 2), ("b", 2)]
    assert words.items() == ["one", "two"]  # a plain call iterates the same stream


def test_a_stream_that_fails_everywhere_raises_the_group(path):
    """No provider produces a first item: AllProvidersFailedError, like a plain call."""

    def body(provider):
        raise Boom(provider)
        yield  # pragma: no cover - makes this a generator function

    chat = path.routed(["a", "b"])(body)
    with pytest.raises(AllProvidersFailedError):
        chat.items()


def test_a_stream_failing_mid_way_is_interrupted_recorded_and_benched(clock, path):
    """After its first item a stream's error is StreamInterrupted: no fallback, a benched."""
    events: list[object] = []
    tried: list[str] = []

    def body(provider):
        tried.append(provider)
        yield 1
        raise Boom("mid-stream")

    stream = path.routed(
        ["a", "b"], cooldown=InMemoryCooldown(30, clock=clock), clock=clock, on_event=events.append
    )(body)
    items = stream.stream()
    assert path.next(items) == 1
    with pytest.raises(StreamInterrupted) as info:
        path.next(items)
    assert (info.value.provider, info.value.items) == ("a", 1)
    assert isinstance(info.value.__cause__, Boom)
    assert str(info.value.__cause__) == "mid-stream"
    (failed,) = [e for e in events if isinstance(e, AttemptFailed)]
    assert (failed.function, failed.provider, failed.attempt) == (
        body.__qualname__,
        "a",
        1,
    )
    assert tried == ["a"]  # the consumer holds part of an answer: no other provider
    assert stream.router.tracker.remaining("a") == 30  # counted: a is benched


def test_a_mid_stream_failure_is_logged_as_that_attempt(logs, path):
    """A mid-stream failure is logged as that attempt's failure and as an interruption."""
    clock = FakeClock()

    def body(provider: str) -> Iterator[str]:
        if provider == "a":
            raise RuntimeError("a down")
        yield "one"
        clock.advance(0.5)
        raise RuntimeError("b broke")

    words = path.routed(["a", "b"], clock=clock, cooldown=None)(body)
    stream = words.stream()
    assert path.next(stream) == "one"
    with pytest.raises(StreamInterrupted) as info:
        path.next(stream)
    assert str(info.value.__cause__) == "b broke"
    messages = [r["message"] for r in logs.find("provider failed")]
    assert messages == [
        "provider failed: a (attempt 1 of 2): RuntimeError: a down",
        "provider failed: b (attempt 2 of 2): RuntimeError: b broke",
    ]
    [last] = logs.find("provider failed: b")
    assert last["extra"]["latency"] == 0.5
    [interrupted] = logs.find("stream interrupted")
    assert interrupted["message"] == "stream interrupted: b after 1 item(s): RuntimeError: b broke"
    assert last["extra"]["is_terminus"] is True
    row = words.router.status()["b"]
    assert (row.successes, row.failures, row.last_latency) == (1, 1, 0.5)


def test_a_stream_gets_keyword_arguments_and_holds_its_slot_until_closed(path):
    """An open stream holds its slot; closing the consumer closes the provider's generator."""
    seen: list[tuple[str, int]] = []
    closed: list[str] = []

    def body(provider, n, *, tag):
        try:
            for i in range(n):
                state = current_attempt()
                seen.append((state.provider, state.attempt))
                yield f"{tag}{provider}{i}"
        finally:
            closed.append(provider)

    stream = path.routed(["a", "b"], max_concurrency=1, cooldown=None)(body)
    result = stream.route(3, tag="#")
    items = result.response
    assert path.next(items) == "#a0"
    unread = stream.route(1, tag="!")
    assert unread.provider == "b"  # a's slot is held by the open stream
    path.close(unread.response)
    path.close(items)  # the consumer stops early: the provider's generator is closed
    assert closed == ["b", "a"]
    assert stream.router.limiter.in_flight("a") == 0
    assert stream.route(1, tag="!").provider == "a"  # and the slot is free again
    assert seen[0] == ("a", 1)


def test_a_forced_terminus_streams(path):
    """A benched terminus is forced and streams."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)

    def body(provider):
        if provider == "a":
            raise Boom
        yield provider

    stream = path.routed(["a", "b"], cooldown=tracker, clock=clock)(body)
    tracker.record_failure("b", Boom())
    result = stream.route()
    assert (result.provider, result.was_terminus) == ("b", True)
    assert path.collect(result.response) == ["b"]


# -- a stream's call lasts as long as the stream ---------------------------------------------


def kinds_of(events) -> list[str]:
    return [type(event).__name__ for event in events]


@pytest.mark.parametrize("ending", ["complete", "closed early", "cut"])
def test_a_streams_call_ends_with_the_stream(ending, path):
    """The call's last event comes when the stream ends, is closed or is cut, and nothing
    follows it: CallSucceeded (elapsed up to then) or, when cut, AttemptFailed then CallFailed.
    """
    from fallback_router import CallFailed, CallSucceeded

    clock = FakeClock()
    events: list[object] = []

    def words(provider: str) -> Iterator[str]:
        yield "one"
        clock.advance(2)
        if ending == "cut":
            raise Boom("cut")
        yield "two"

    fn = path.routed(["a"], clock=clock, cooldown=None, on_event=events.append)(words)

    def consume() -> list[str]:
        got: list[str] = []
        stream = fn.stream()
        try:
            while True:
                try:
                    got.append(path.next(stream))
                except (StopIteration, StopAsyncIteration):
                    break
                assert kinds_of(events)[-1] == "AttemptSucceeded"  # the call is not over yet
                if ending == "closed early":
                    break
        finally:
            path.close(stream)
        return got

    if ending == "cut":
        with pytest.raises(StreamInterrupted):
            consume()
        assert kinds_of(events)[-3:] == ["AttemptSucceeded", "AttemptFailed", "CallFailed"]
        assert isinstance(events[-1], CallFailed)
        assert isinstance(events[-1].error, StreamInterrupted)
        return
    words = consume()
    assert words == (["one"] if ending == "closed early" else ["one", "two"])
    assert kinds_of(events) == [
        "CallStarted",
        "AttemptStarted",
        "AttemptSucceeded",
        "CallSucceeded",
    ]
    done = events[-1]
    assert isinstance(done, CallSucceeded)
    assert done.elapsed == (0.0 if ending == "closed early" else 2.0)


@pytest.mark.parametrize("form", ["iterator", "route"])
def test_a_collected_stream_leaves_the_interrupted_codes_context_alone(form):
    """A dropped stream is closed by the garbage collector wherever it happens to run: the
    hooks and cleanup it runs then set context variables in a context of their own."""
    import contextvars
    import gc

    from fallback_router import CallSucceeded

    marker = contextvars.ContextVar("marker", default="untouched")

    def hook(event):
        if isinstance(event, CallSucceeded):
            marker.set("set by a hook at the stream's end")

    @routed(providers=["a"], on_event=hook)
    def stream(provider: str) -> Iterator[int]:
        yield 1
        yield 2

    iterator = stream() if form == "iterator" else stream.route().response
    assert next(iterator) == 1
    holder: list[object] = [iterator]
    holder.append(holder)  # a reference cycle: only the cyclic collector frees it
    del iterator, holder
    gc.collect()
    assert marker.get() == "untouched"


# -- a stream's time limits, in process (the HTTP scenarios drive them against a server) ----


def stalling(scripts, items_first: int):
    """Streams by name, and a routed body: `a` yields `items_first` items then falls silent
    (until the test ends), `b` answers."""
    silent = scripts(stall([f"a{i}" for i in range(items_first)], None))
    providers = {"a": silent, "b": scripts(["b0", "b1"])}

    def chat(provider):
        yield from provider.stream()

    async def achat(provider):  # the async twin the `path` fixture calls
        async for item in provider.astream():
            yield item

    chat.acall = achat  # type: ignore[attr-defined]
    return providers, chat


LIMIT_CASES = [
    # options, the kind of limit the silent first item meets
    ({"first_item_timeout": 0.05}, "first item"),
    ({"attempt_timeout": 0.05}, "attempt"),  # no first_item_timeout: attempt_timeout bounds it
    ({"first_item_timeout": 0.05, "attempt_timeout": 30}, "first item"),
    ({"first_item_timeout": 30, "timeout": 0.05}, "budget"),  # the budget is nearer
]


@pytest.mark.parametrize(("options", "kind"), LIMIT_CASES)
def test_a_silent_stream_falls_back_at_its_first_item_limit(scripts, options, kind, path):
    """No first item within the limit: AttemptTimeoutError of that kind, then the next."""
    providers, chat = stalling(scripts, 0)
    fn = path.routed(providers, cooldown=None, **options)(chat)
    if kind == "budget":
        with pytest.raises(DeadlineExceededError) as info:
            fn.items()
        [attempt] = info.value.attempts
    else:
        result = fn.route()
        assert (result.provider, path.collect(result.response)) == ("b", ["b0", "b1"])
        attempt = result.attempts[0]
    assert attempt.provider == "a"
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert attempt.error.kind == kind


@pytest.mark.parametrize(("options", "kind"), LIMIT_CASES)
def test_an_async_silent_stream_falls_back_at_its_first_item_limit(options, kind):
    """The same for an async generator function (the attempt is cancelled)."""

    async def chat(provider):
        if provider == "a":
            await asyncio.sleep(30)
        yield f"{provider}0"
        yield f"{provider}1"

    fn = routed(providers=["a", "b"], cooldown=None, **options)(chat)

    async def run():
        if kind == "budget":
            with pytest.raises(DeadlineExceededError) as info:
                [item async for item in fn()]
            return info.value.attempts[0]
        result = await fn.route()
        assert (result.provider, [item async for item in result.response]) == ("b", ["b0", "b1"])
        return result.attempts[0]

    attempt = asyncio.run(run())
    assert attempt.provider == "a"
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert attempt.error.kind == kind


def test_a_stream_silent_after_its_first_item_is_interrupted_by_idle_timeout(scripts, path):
    """One item, then silence past idle_timeout: StreamInterrupted from an 'idle' timeout."""
    providers, chat = stalling(scripts, 1)
    fn = path.routed(providers, cooldown=None, idle_timeout=0.05)(chat)
    stream = fn.stream()
    assert path.next(stream) == "a0"
    with pytest.raises(StreamInterrupted) as info:
        path.next(stream)
    assert isinstance(info.value.__cause__, AttemptTimeoutError)
    assert info.value.__cause__.kind == "idle"


def test_an_async_stream_silent_after_its_first_item_is_interrupted_by_idle_timeout():
    """The same for an async generator function."""

    async def chat(provider):
        yield f"{provider}0"
        await asyncio.sleep(30)
        yield f"{provider}1"

    fn = routed(providers=["a", "b"], cooldown=None, idle_timeout=0.05)(chat)

    async def run():
        stream = fn()
        assert await anext(stream) == "a0"
        await anext(stream)

    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(run())
    assert info.value.__cause__.kind == "idle"


def test_a_fallen_back_streams_call_ends_once_with_the_stream(path):
    """x fails, a streams; read to the end, closed twice, collected: one CallSucceeded, the
    last event, naming the function, the call and a."""
    import gc

    from fallback_router import CallSucceeded

    events: list[object] = []

    def words(provider: str) -> Iterator[str]:
        if provider == "x":
            raise Boom("x")
        yield "one"
        yield "two"

    fn = path.routed(["x", "a"], cooldown=None, on_event=events.append)(words)
    stream = fn.stream()
    assert path.collect(stream) == ["one", "two"]
    path.close(stream)
    path.close(stream)
    del stream
    gc.collect()
    ended = [e for e in events if isinstance(e, CallSucceeded)]
    assert ended == [events[-1]]
    assert (ended[0].provider, ended[0].attempt) == ("a", 2)
    assert ended[0].function == words.__qualname__
    assert ended[0].call_id == events[0].call_id


def test_a_buffered_stream_that_stalls_falls_back_on_its_idle_limit(scripts, path):
    """stream_failover='buffer': a stalls after one item; b's whole stream, a's 'idle' timeout."""
    providers, chat = stalling(scripts, 1)
    fn = path.routed(providers, cooldown=None, idle_timeout=0.05, stream_failover="buffer")(chat)
    result = fn.route()
    assert (result.provider, path.collect(result.response)) == ("b", ["b0", "b1"])
    error = result.attempts[0].error
    assert isinstance(error, AttemptTimeoutError)
    assert error.kind == "idle"


def test_an_async_buffered_stream_that_stalls_falls_back_on_its_idle_limit():
    """The same for an async generator function."""

    async def chat(provider):
        yield f"{provider}0"
        if provider == "a":
            await asyncio.sleep(30)
        yield f"{provider}1"

    fn = routed(providers=["a", "b"], cooldown=None, idle_timeout=0.05, stream_failover="buffer")(
        chat
    )

    async def run():
        result = await fn.route()
        return result, [item async for item in result.response]

    result, items = asyncio.run(run())
    assert (result.provider, items) == ("b", ["b0", "b1"])
    assert result.attempts[0].error.kind == "idle"


# -- every provider's first item, every gap between items ------------------------------------


def test_first_item_timeout_bounds_every_providers_first_item(gate):
    """a and b both stall before their first item: each meets first_item_timeout, c serves.

    A limit applied to the first provider only would let b answer "late" after 3 s.
    """

    def chat(provider):
        if provider in ("a", "b"):
            gate.wait(3)
            yield f"{provider} late"
            return
        yield f"{provider}0"

    fn = routed(providers=["a", "b", "c"], cooldown=None, first_item_timeout=0.05)(chat)
    result = fn.route()
    assert (result.provider, list(result.response)) == ("c", ["c0"])
    errors = [(a.provider, a.error) for a in result.attempts[:2]]
    assert [(name, type(e), e.kind) for name, e in errors] == [  # type: ignore[union-attr]
        ("a", AttemptTimeoutError, "first item"),
        ("b", AttemptTimeoutError, "first item"),
    ]


def test_an_async_first_item_timeout_bounds_every_providers_first_item():
    """The same for an async generator function: a and b time out, c serves."""

    async def chat(provider):
        if provider in ("a", "b"):
            await asyncio.sleep(3)
            yield f"{provider} late"
            return
        yield f"{provider}0"

    fn = routed(providers=["a", "b", "c"], cooldown=None, first_item_timeout=0.05)(chat)

    async def run():
        result = await fn.route()
        return result, [item async for item in result.response]

    result, items = asyncio.run(run())
    assert (result.provider, items) == ("c", ["c0"])
    assert [(a.provider, a.error.kind) for a in result.attempts[:2]] == [
        ("a", "first item"),
        ("b", "first item"),
    ]


#: A steady stream: an item every GAP seconds, ITEMS of them, lasting longer than IDLE in
#: all while no single gap comes near it (a margin of a second a busy machine keeps).
GAP, ITEMS, IDLE = 0.4, 6, 1.5


def test_a_steady_stream_longer_than_idle_timeout_is_never_interrupted():
    """idle_timeout bounds each gap, not the stream: 2 s of items 0.4 s apart all arrive.

    A limit measured from the first item (not reset after each) would cut it at 1.5 s.
    """

    def chat(provider):
        yield "0"
        for i in range(1, ITEMS):
            time.sleep(GAP)  # the provider's own pace, not a wait on the library
            yield str(i)

    fn = routed(providers=["a", "b"], cooldown=None, idle_timeout=IDLE)(chat)
    started = time.monotonic()
    assert list(fn()) == [str(i) for i in range(ITEMS)]
    assert time.monotonic() - started > IDLE  # the stream did outlast idle_timeout


def test_an_async_steady_stream_longer_than_idle_timeout_is_never_interrupted():
    """The same for an async generator function."""

    async def chat(provider):
        yield "0"
        for i in range(1, ITEMS):
            await asyncio.sleep(GAP)
            yield str(i)

    fn = routed(providers=["a", "b"], cooldown=None, idle_timeout=IDLE)(chat)

    async def run():
        return [item async for item in fn()]

    started = time.monotonic()
    assert asyncio.run(run()) == [str(i) for i in range(ITEMS)]
    assert time.monotonic() - started > IDLE
