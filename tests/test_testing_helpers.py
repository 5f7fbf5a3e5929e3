"""fallback_router.testing (issue 29): scripted providers and a fake clock, through the public API."""

from __future__ import annotations

import asyncio
import functools
import math
import sys
import threading
from typing import Any

import httpx
import pytest

from fallback_router import (
    AllProvidersFailedError,
    AttemptTimeoutError,
    InMemoryCooldown,
    InMemoryRateLimiter,
    Router,
    StreamInterrupted,
    routed,
)
from fallback_router.testing import FakeClock, Script, Step, cut, hang, http_error, stall


def run_async(test: Any) -> Any:
    """Run an async test in its own event loop (no pytest plugin needed)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return asyncio.run(test(*args, **kwargs))

    return run


def outcome(fn: Any, *args: Any) -> Any:
    """What `fn(*args)` returned, or the exception it raised."""
    try:
        return fn(*args)
    except BaseException as exc:
        return exc


async def aoutcome(fn: Any, *args: Any) -> Any:
    try:
        return await fn(*args)
    except BaseException as exc:
        return exc


def drain(iterator: Any) -> tuple[list[Any], BaseException | None]:
    """The items of a stream and the error that ended it (None: it ended normally)."""
    items: list[Any] = []
    try:
        items.extend(iterator)
    except BaseException as exc:
        return items, exc
    return items, None


async def adrain(iterator: Any) -> tuple[list[Any], BaseException | None]:
    items: list[Any] = []
    try:
        async for item in iterator:
            items.append(item)  # noqa: PERF401 - keep the items that came before an error
    except BaseException as exc:
        return items, exc
    return items, None


# -- Script: plain and async calls -------------------------------------------------------------


def test_steps_are_taken_in_order_and_the_last_repeats():
    """Each call takes the next step; after the last, the last again; calls are counted."""
    script = Script("a", "b")
    assert [script("prompt"), script(), script(x=1), script()] == ["a", "b", "b", "b"]
    assert script.calls == 4


@run_async
async def test_acall_takes_the_same_steps():
    """`await script.acall(...)` follows the script as plain calls do, and counts alike."""
    script = Script("a", ValueError("bad"), "c")
    assert await script.acall("p") == "a"
    with pytest.raises(ValueError, match="bad"):
        await script.acall("p")
    assert [await script.acall(), script()] == ["c", "c"]
    assert script.calls == 4


def test_an_exception_class_is_raised_fresh_on_each_call():
    """A class step raises a new instance per call; an instance step raises that instance."""
    by_class, by_instance = Script(TimeoutError), Script(KeyError("k"))
    first, second = outcome(by_class), outcome(by_class)
    assert type(first) is TimeoutError
    assert type(second) is TimeoutError
    assert first is not second
    one, two = outcome(by_instance), outcome(by_instance)
    assert one is two
    assert isinstance(one, KeyError)


def test_a_repeated_instance_keeps_a_short_traceback():
    """Raising the same instance again does not grow its traceback frame by frame."""
    script = Script(RuntimeError("down"))
    depths = []
    for _ in range(5):
        error = outcome(script)
        depth, tb = 0, error.__traceback__
        while tb is not None:
            depth, tb = depth + 1, tb.tb_next
        depths.append(depth)
    assert len(set(depths)) == 1


def test_no_steps_is_a_type_error():
    """A script needs at least one step."""
    with pytest.raises(TypeError, match="at least one step"):
        Script()


@pytest.mark.parametrize("helper", [hang, cut, stall, http_error], ids=lambda h: h.__name__)
def test_a_helper_passed_without_calling_it_is_a_type_error(helper):
    """`Script(hang)` (the helper itself) names the helper and says to call it."""
    with pytest.raises(TypeError, match=rf"step 2 is the helper {helper.__name__} itself"):
        Script("ok", helper)


def test_one_shot_steps_are_a_type_error():
    """An iterator, a generator or a coroutine cannot be replayed: a TypeError at once."""

    async def coro() -> None:
        return None

    def gen():
        yield 1

    pending = coro()
    for step in (iter([1, 2]), gen(), pending):
        with pytest.raises(TypeError, match="one-shot"):
            Script(step)
    pending.close()


def test_an_exception_class_that_needs_arguments_is_a_type_error():
    """A class that cannot be raised bare asks for an instance."""
    with pytest.raises(TypeError, match=r"UnicodeDecodeError.*give an instance"):
        Script(UnicodeDecodeError)


@pytest.mark.parametrize("step", [cut(["a"]), stall(["a"], 1)], ids=["cut", "stall"])
def test_a_stream_step_on_a_plain_call_is_a_type_error(step):
    """A cut or a stall used by a plain call says to call stream(), before any hang."""
    script = Script(step, hang(60, then=step))
    for _ in range(2):
        with pytest.raises(TypeError, match=r"stream step, used on a plain call.*stream\(\)"):
            script()


@pytest.mark.parametrize("step", [cut(["a"]), stall(["a"], 1)], ids=["cut", "stall"])
@run_async
async def test_a_stream_step_on_an_async_call_is_a_type_error(step):
    """Also for `acall`, and also after a hang that carries on with a stream step."""
    with pytest.raises(TypeError, match="used on an async call"):
        await Script(step).acall()
    with pytest.raises(TypeError, match="used on an async call"):
        await Script(hang(60, then=step)).acall()


def test_a_named_script_is_a_provider_in_a_list():
    """`name=` names the provider; routed with fallback, the backup serves."""
    primary = Script(ConnectionError("down"), name="primary")
    backup = Script("from backup", name="backup")
    result = routed(providers=[primary, backup])(lambda provider, prompt: provider(prompt)).route(
        "hi"
    )
    assert (result.response, result.provider) == ("from backup", "backup")
    assert (primary.calls, backup.calls) == (1, 1)
    assert repr(primary) == "Script(ConnectionError('down'), name='primary', calls=1)"


def test_calls_from_many_threads_take_distinct_steps():
    """Under 8 racing threads, every step is taken exactly once and every call counted."""
    script = Script(*range(800))
    barrier = threading.Barrier(8)
    got: list[list[int]] = [[] for _ in range(8)]

    def work(index: int) -> None:
        barrier.wait()
        got[index].extend(script() for _ in range(100))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(n for part in got for n in part) == list(range(800))
    assert script.calls == 800


# -- hang ----------------------------------------------------------------------------------------


def test_a_timed_hang_ends_in_a_timeout_error():
    """After its seconds, a hang without `then` raises TimeoutError, as a read timeout would."""
    error = outcome(Script(hang(0.01)))
    assert isinstance(error, TimeoutError)
    assert "hang(0.01)" in str(error)


def test_a_hang_carries_on_with_then():
    """`hang(seconds, then=...)` answers late with the value, or raises the error."""
    assert Script(hang(0.01, then="late"))() == "late"
    assert isinstance(outcome(Script(hang(0, then=KeyError))), KeyError)


def test_an_endless_hang_blocks_until_the_script_is_closed(scripts):
    """`hang()` blocks its thread until `close()`; then the call raises TimeoutError."""
    script = scripts(hang())
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(outcome(script)))
    thread.start()
    thread.join(0.05)
    assert thread.is_alive()
    assert not script.closed
    script.close()
    thread.join(10)
    assert not thread.is_alive()
    assert script.closed
    assert isinstance(results[0], TimeoutError)


def test_a_closed_script_hangs_no_more():
    """After `close()` (here by a with block), a hang ends at once: the script still counts."""
    with Script(hang(), "ok") as script:
        pass
    assert isinstance(outcome(script), TimeoutError)
    assert script() == "ok"
    assert script.calls == 2


@run_async
async def test_an_async_hang_is_cancelled_by_a_timeout(scripts):
    """`acall` sleeps for a hang; cancelling it (asyncio.wait_for) ends it at once."""
    script = scripts(hang())
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(script.acall(), 0.01)
    assert script.calls == 1


@run_async
async def test_an_async_hang_ends_when_another_thread_closes_the_script():
    """`close()` from another thread wakes an awaiting hang; `then` is returned."""
    script = Script(hang(then="released"))
    task = asyncio.create_task(script.acall())
    await asyncio.sleep(0)  # the task starts sleeping
    closer = threading.Thread(target=script.close)
    closer.start()
    assert await asyncio.wait_for(task, 10) == "released"
    closer.join()


@run_async
async def test_a_closed_script_sleeps_no_more():
    """After `close()`, an async hang or stall ends at once, and the script still counts."""
    script = Script(hang(), stall(["a"], None))
    script.close()
    assert isinstance(await aoutcome(script.acall), TimeoutError)
    assert (await adrain(script.astream()))[0] == ["a"]
    assert script.calls == 2


@run_async
async def test_a_timed_async_hang_ends_in_a_timeout_error():
    """An async hang of some seconds raises TimeoutError when they are over."""
    error = await aoutcome(Script(hang(0.01)).acall)
    assert isinstance(error, TimeoutError)


def test_hang_arguments_are_checked():
    """Negative, NaN or infinite seconds are a ValueError; text or a nested hang a TypeError."""
    for bad in (-1, math.nan, math.inf):
        with pytest.raises(ValueError, match="hang"):
            hang(bad)
    with pytest.raises(TypeError, match="hang"):
        hang("5")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="another hang"):
        hang(1, then=hang(1))
    with pytest.raises(TypeError, match="helper cut itself"):
        hang(1, then=cut)
    assert repr(hang(2, then="x")) == "hang(2.0, then='x')"
    assert isinstance(hang(), Step)


def test_a_hang_trips_a_routers_attempt_timeout(scripts):
    """A hanging primary is abandoned at `attempt_timeout=` and the backup serves."""
    primary, backup = scripts(hang(), name="primary"), scripts("ok", name="backup")
    fn = routed(providers=[primary, backup], attempt_timeout=0.5)(lambda provider: provider())
    result = fn.route()
    assert result.response == "ok"
    assert isinstance(result.attempts[0].error, AttemptTimeoutError)


@run_async
async def test_an_async_hang_trips_a_routers_attempt_timeout(scripts):
    """The same with an async provider: the hang is cancelled at the limit."""
    primary, backup = scripts(hang(), name="primary"), scripts("ok", name="backup")

    @routed(providers=[primary, backup], attempt_timeout=0.5)
    async def ask(provider: Script) -> Any:
        return await provider.acall()

    result = await ask.route()
    assert result.response == "ok"
    assert isinstance(result.attempts[0].error, AttemptTimeoutError)


# -- streams ------------------------------------------------------------------------------------


def test_a_stream_yields_a_values_items_and_repeats():
    """A value step is an iterable yielded item by item; an error step raises on iteration."""
    script = Script(["a", "b"], KeyError("k"), ("c",))
    assert drain(script.stream("p")) == (["a", "b"], None)
    items, error = drain(script.stream())
    assert items == []
    assert isinstance(error, KeyError)
    assert [drain(script.stream()), drain(script.stream())] == [(["c"], None)] * 2
    assert script.calls == 4


@run_async
async def test_an_async_stream_yields_the_same():
    """`astream` follows the same script, as an async iterator."""
    script = Script(["a", "b"], KeyError("k"), cut(["x"]))
    assert await adrain(script.astream()) == (["a", "b"], None)
    items, error = await adrain(script.astream())
    assert (items, type(error)) == ([], KeyError)
    items, error = await adrain(script.astream())
    assert (items, type(error)) == (["x"], ConnectionResetError)


@pytest.mark.parametrize("value", ["text", b"bytes", {"a": 1}, 42])
def test_a_stream_call_needs_an_iterable_of_items(value):
    """A str, bytes, a mapping or a non-iterable value on a stream call is a TypeError."""
    script = Script(value)
    with pytest.raises(TypeError, match="iterable of items"):
        script.stream()
    with pytest.raises(TypeError, match="iterable of items"):
        script.astream()


def test_cut_yields_then_fails():
    """`cut` yields its items then raises its error: a class, an instance or the default."""
    default, by_class, by_instance = cut(["a"]), cut(["a", "b"], OSError), cut([], KeyError("k"))
    items, error = drain(Script(default).stream())
    assert (items, type(error)) == (["a"], ConnectionResetError)
    assert "after 1 items" in str(error)
    items, error = drain(Script(by_class).stream())
    assert (items, type(error)) == (["a", "b"], OSError)
    items, error = drain(Script(by_instance).stream())
    assert (items, type(error)) == ([], KeyError)
    assert repr(by_class) == "cut(['a', 'b'], error=<class 'OSError'>)"


def test_cut_and_stall_arguments_are_checked():
    """Items must be an iterable of items; the error an exception; seconds a number."""
    with pytest.raises(TypeError, match=r"cut\(items\)"):
        cut("abc")
    with pytest.raises(TypeError, match=r"cut\(error"):
        cut(["a"], error="boom")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"stall\(items\)"):
        stall(5, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"stall\(seconds\)"):
        stall(["a"], -1)
    assert cut(item for item in "ab") == cut(["a", "b"])  # items are taken once, here


def test_a_stall_falls_silent_then_times_out():
    """`stall` yields its items, waits its seconds, then raises TimeoutError."""
    items, error = drain(Script(stall(["a"], 0.01)).stream())
    assert (items, type(error)) == (["a"], TimeoutError)
    assert repr(stall(["a"], 2)) == "stall(['a'], 2.0)"


def test_an_endless_stall_ends_when_the_script_is_closed(scripts):
    """`stall(items, None)` keeps the consumer waiting until `close()`."""
    script = scripts(stall(["a"], None))
    stream = script.stream()
    assert next(stream) == "a"
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(drain(stream)))
    thread.start()
    thread.join(0.05)
    assert thread.is_alive()
    script.close()
    thread.join(10)
    assert type(results[0][1]) is TimeoutError


@run_async
async def test_an_async_stall_ends_when_the_script_is_closed():
    """The async stall is released by `close()` as well, and a timed one times out."""
    script = Script(stall(["a"], None))
    stream = script.astream()
    assert await anext(stream) == "a"
    pending = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    script.close()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(pending, 10)
    items, error = await adrain(Script(stall(["b"], 0.01)).astream())
    assert (items, type(error)) == (["b"], TimeoutError)


def test_a_stream_hang_comes_before_the_first_item():
    """A hang on a stream call waits, then carries on with `then` as the stream."""
    assert drain(Script(hang(0, then=["x", "y"])).stream()) == (["x", "y"], None)
    items, error = drain(Script(hang(0)).stream())
    assert (items, type(error)) == ([], TimeoutError)
    with pytest.raises(TypeError, match="iterable of items"):
        Script(hang(60, then=5)).stream()  # at once, before the hang
    with pytest.raises(TypeError, match="iterable of items"):
        Script(hang(60, then="text")).astream()


@run_async
async def test_an_async_stream_hang_comes_before_the_first_item():
    """The same for astream."""
    assert await adrain(Script(hang(0, then=["x"])).astream()) == (["x"], None)
    items, error = await adrain(Script(hang(0)).astream())
    assert (items, type(error)) == ([], TimeoutError)


def test_a_cut_stream_is_interrupted_in_a_routed_stream():
    """A stream cut after its first item reaches the consumer as StreamInterrupted."""
    primary, backup = Script(cut(["Hel"]), name="primary"), Script(["Hello"], name="backup")

    @routed(providers=[primary, backup])
    def chat(provider: Script):
        yield from provider.stream()

    stream = chat()
    assert next(stream) == "Hel"
    with pytest.raises(StreamInterrupted) as info:
        next(stream)
    assert (info.value.provider, info.value.items) == ("primary", 1)
    assert isinstance(info.value.__cause__, ConnectionResetError)
    assert backup.calls == 0


@run_async
async def test_a_stalled_async_stream_trips_idle_timeout(scripts):
    """A stall in an async routed stream ends at `idle_timeout=` as StreamInterrupted."""
    primary = scripts(stall(["a"], None), name="primary")

    @routed(providers=[primary, "unused"], idle_timeout=0.05)
    async def chat(provider: Any):
        async for item in provider.astream():
            yield item

    items, error = await adrain(chat())
    assert items == ["a"]
    assert isinstance(error, StreamInterrupted)
    assert isinstance(error.__cause__, AttemptTimeoutError)


# -- http_error ---------------------------------------------------------------------------------


def test_http_error_is_a_vendor_shaped_httpx_error():
    """A real HTTPStatusError: request, status, Retry-After, a JSON error body."""
    error = http_error(429, retry_after=30, headers={"x-request-id": "r1"})
    assert isinstance(error, httpx.HTTPStatusError)
    assert error.request.method == "POST"
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "30"
    assert error.response.headers["x-request-id"] == "r1"
    assert error.response.json() == {
        "error": {
            "message": "scripted 429",
            "type": "rate_limit_error",
            "code": "rate_limit_exceeded",
            "param": None,
        }
    }
    assert "429 Too Many Requests" in str(error)
    assert error.__traceback__ is None


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (500, None, "api_error"),
        (529, None, "overloaded_error"),
        (400, "context_length_exceeded", "invalid_request_error"),
        (422, None, "invalid_request_error"),
    ],
)
def test_http_error_bodies_by_status(status, code, kind):
    """The body's type follows the status; `code` is the caller's, and no header is invented."""
    error = http_error(status, code=code)
    assert error.response.json()["error"]["type"] == kind
    assert error.response.json()["error"]["code"] == code
    assert "Retry-After" not in error.response.headers


def test_http_error_retry_after_forms():
    """A fractional number and any text (an HTTP date, garbage) are sent as given."""
    assert http_error(503, retry_after=1.5).response.headers["Retry-After"] == "1.5"
    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    assert http_error(503, retry_after=date).response.headers["Retry-After"] == date
    assert http_error(429, retry_after="soon").response.headers["Retry-After"] == "soon"


def test_http_error_arguments_are_checked():
    """A status outside 400-599, a bool or text status, a negative Retry-After: clear errors."""
    for bad in (200, 302, 600):
        with pytest.raises(ValueError, match="400-599"):
            http_error(bad)
    with pytest.raises(TypeError, match="status"):
        http_error(True)
    with pytest.raises(TypeError, match="status"):
        http_error("429")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="retry_after"):
        http_error(429, retry_after=-1)


def test_http_error_without_httpx_names_the_install(monkeypatch):
    """Without httpx, `http_error` raises ImportError saying `pip install httpx`."""
    monkeypatch.setitem(sys.modules, "httpx", None)
    with pytest.raises(ImportError, match="pip install httpx"):
        http_error(429)


def test_a_429_benches_its_provider_for_the_retry_after():
    """Routed, the 429 benches the vendor for exactly its Retry-After; the backup serves."""
    clock = FakeClock()
    primary = Script(http_error(429, retry_after=30), "ok", name="primary")
    backup = Script("from backup", name="backup")
    router = Router(providers=[primary, backup], cooldown=5, clock=clock)
    ask = router(lambda provider: provider())
    assert ask() == "from backup"
    tracker = router.tracker
    assert tracker is not None
    assert tracker.remaining("primary") == 30
    clock.advance(29)
    assert ask() == "from backup"
    assert primary.calls == 1
    clock.advance(1)
    assert ask() == "ok"


# -- FakeClock ----------------------------------------------------------------------------------


def test_fake_clock_reads_and_advances():
    """The instance is the clock: it reads its start, and moves only by advance()."""
    clock = FakeClock()
    assert clock() == 0.0
    clock.advance(1.5)
    clock.advance(0)
    assert clock() == 1.5
    assert repr(FakeClock(10)) == "FakeClock(10.0)"


def test_fake_clock_rejects_what_a_monotonic_clock_cannot_do():
    """Negative, NaN or infinite steps and starts are a ValueError; text a TypeError."""
    clock = FakeClock(5)
    for bad in (-1, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"advance\(seconds\)"):
            clock.advance(bad)
    for bad_start in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            FakeClock(bad_start)
    with pytest.raises(TypeError, match="number"):
        FakeClock("0")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="None"):
        clock.advance(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        clock.advance(True)
    assert clock() == 5.0  # nothing half-done


def test_fake_clock_advances_exactly_under_threads():
    """8 threads advancing 1,000 times each move the clock by exactly 8,000 steps."""
    clock = FakeClock()
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(1000):
            clock.advance(1)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock() == 8000.0


def test_fake_clock_drives_a_tracker_and_its_half_open_probe():
    """A cooldown ends when the clock moves; the probe's success clears the provider."""
    clock = FakeClock(100)
    tracker = InMemoryCooldown(60, clock=clock)
    primary = Script(ConnectionError("down"), "back", name="primary")
    ask = routed(providers=[primary, "backup"], cooldown=tracker, clock=clock)(
        lambda provider: provider() if isinstance(provider, Script) else provider
    )
    assert ask() == "backup"
    assert tracker.remaining("primary") == 60
    clock.advance(59.5)
    assert ask() == "backup"
    clock.advance(0.5)
    result = ask.route()
    assert (result.provider, result.response) == ("primary", "back")
    assert tracker.snapshot() == {}


def test_fake_clock_drives_a_rate_limiter():
    """A rate limiter's bucket refills on the fake clock."""
    clock = FakeClock()
    limiter = InMemoryRateLimiter({"a": "1/s"}, clock=clock)
    ask = routed(providers=["a", "b"], rate_limits=limiter, clock=clock)(lambda provider: provider)
    assert [ask(), ask()] == ["a", "b"]
    clock.advance(1)
    assert ask() == "a"


@run_async
async def test_fake_clock_drives_an_async_router():
    """An async routed function benches and restores a provider on the fake clock."""
    clock = FakeClock()
    primary = Script(http_error(503), "ok", name="primary")

    @routed(providers=[primary, Script("backup", name="backup")], cooldown=10, clock=clock)
    async def ask(provider: Script) -> Any:
        return await provider.acall()

    assert await ask() == "backup"
    clock.advance(10)
    assert await ask() == "ok"


def test_every_provider_failing_keeps_the_scripted_errors():
    """The group holds each script's own error, in attempt order."""
    fn = routed(providers={"a": Script(KeyError("a")), "b": Script(http_error(500))})(
        lambda provider: provider()
    )
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert [type(e) for e in info.value.exceptions] == [KeyError, httpx.HTTPStatusError]
