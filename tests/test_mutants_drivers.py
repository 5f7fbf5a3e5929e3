"""Behaviour of the drivers (`fallback_router._drivers`) that mutation testing showed
no other suite held, through the public API. Each test names what it pins."""

from __future__ import annotations

import asyncio
import sys
import threading
import types
import warnings

import pytest
from loguru import logger

from fallback_router import (
    AttemptAbandoned,
    AttemptFailed,
    AttemptStarted,
    AttemptTimeoutError,
    CallFailed,
    CallStarted,
    CooldownEntered,
    DeadlineExceededError,
    InMemoryCooldown,
    LeastBusy,
    StreamInterrupted,
    current_attempt,
    routed,
)

from .support.helpers import Boom, fleet, hanging, wait_until


def _warnings_on_the_loop(*calls):
    """Run `calls` inside a coroutine; return the texts of the RuntimeWarnings issued."""

    async def main():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for call in calls:
                call()
        return caught

    caught = asyncio.run(main())
    return [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]


@pytest.mark.parametrize(
    "options",
    [{}, {"timeout": 5}, {"cooldown": None}],
    ids=["happy path", "general path", "no tracker"],
)
def test_a_sync_call_on_a_loop_warns_once_per_function_and_names_it(logs, options):
    """Three calls of one function and one of another on a loop's thread: one
    RuntimeWarning and one WARNING log per function, each naming the function.

    (The twin of test_event_loop's test without its check of the warning's frame, which
    mutation runs leave out: under mutmut's trampolines no stacklevel names the caller.)
    """
    ask = routed(providers=["a", "b"], **options)(fleet("a"))
    tell = routed(providers=["a"], **options)(fleet())
    texts = _warnings_on_the_loop(ask, ask, lambda: ask.route(), tell)
    assert len(texts) == 2
    assert texts[0] == (
        "fallback_router: the sync routed function fleet.<locals>.call was called on a "
        "thread running an event loop; it blocks the loop while it runs: declare it "
        "`async def` (reported once per function)"
    )
    found = logs.find("sync routed function called on an event loop")
    assert [r["level"].name for r in found] == ["WARNING", "WARNING"]
    assert [r["extra"]["function"] for r in found] == ["fleet.<locals>.call"] * 2


def test_a_sync_stream_on_a_loop_warns_once():
    """Iterating a routed generator on the loop warns too, once for the function."""

    def gen(provider):
        yield provider

    stream = routed(providers=["a"])(gen)
    texts = _warnings_on_the_loop(lambda: list(stream()), lambda: list(stream.route().response))
    assert len(texts) == 1
    assert "gen" in texts[0]


def test_a_hedged_attempt_past_attempt_timeout_fails_as_a_timeout_and_the_call_moves_on(gate):
    """Hedging on (a hedge not due yet) and `a` hung: past `attempt_timeout` the attempt
    fails with AttemptTimeoutError(a, 1.0, "attempt"), having run at least its limit, and
    the call falls back to `b` (1 s: `b` answers well within it even on a busy machine)."""
    fn = routed(providers=["a", "b"], attempt_timeout=1.0, hedge_after=30.0)(hanging(gate, "a"))
    result = fn.route()
    assert result.response == "b"
    failed, served = result.attempts
    assert failed.provider == "a"
    assert isinstance(failed.error, AttemptTimeoutError)
    assert (failed.error.provider, failed.error.limit, failed.error.kind) == ("a", 1.0, "attempt")
    assert failed.latency >= 1.0  # it ran (real time) at least to its limit
    assert served.provider == "b"
    assert served.error is None


def test_ctrl_c_in_the_first_attempt_closes_the_call_and_frees_its_place():
    """A KeyboardInterrupt on the happy path (least_busy, hooks on): the attempt is told
    abandoned (provider, attempt 1, "call ended") under the call's id before CallFailed,
    and the provider has no call left in flight."""
    events = []

    def call(provider):
        raise KeyboardInterrupt

    fn = routed(providers=["a", "b"], strategy=LeastBusy(), on_event=events.append)(call)
    with pytest.raises(KeyboardInterrupt):
        fn()
    started, attempt, abandoned, failed = events
    assert isinstance(abandoned, AttemptAbandoned)
    assert (abandoned.function, abandoned.provider, abandoned.attempt, abandoned.reason) == (
        call.__qualname__,
        "a",
        1,
        "call ended",
    )
    assert isinstance(failed, CallFailed)
    assert failed.function == call.__qualname__
    assert isinstance(failed.error, KeyboardInterrupt)
    assert abandoned.call_id == failed.call_id == started.call_id == attempt.call_id
    assert isinstance(started.call_id, int)
    assert fn.router.status()["a"].in_flight == 0


@pytest.mark.parametrize("hedge_after", [None, 30.0], ids=["one attempt", "hedging"])
def test_a_budget_spent_before_the_attempt_starts_gives_it_zero_seconds(gate, clock, hedge_after):
    """A hook that moves the router's clock past the deadline as the attempt starts: the
    attempt has 0 s left, and fails as AttemptTimeoutError(a, 0.0, "budget")."""

    def spend(event):
        if isinstance(event, AttemptStarted):
            clock.advance(5.0)

    fn = routed(
        providers=["a", "b"], timeout=1.0, hedge_after=hedge_after, clock=clock, on_event=spend
    )(hanging(gate, "a"))
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    [attempt] = info.value.attempts
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert (attempt.error.provider, attempt.error.limit, attempt.error.kind) == ("a", 0.0, "budget")


def test_a_hedged_attempt_past_the_calls_budget_fails_as_a_budget_timeout(gate):
    """Hedging on and `a` hung past `timeout=`: its error's kind is "budget", not "attempt"."""
    fn = routed(providers=["a", "b"], timeout=1.0, hedge_after=30.0)(hanging(gate, "a"))
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    [attempt] = info.value.attempts  # 1 s: the attempt starts within it on a busy machine
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert (attempt.error.provider, attempt.error.kind) == ("a", "budget")
    assert 0.0 <= attempt.error.limit <= 1.0  # what was left of the budget as it started


class _Tracker:
    """A third-party tracker whose `record_failure` answers `answer` (a 0.1 tracker: True)."""

    def __init__(self, answer: object, left: float, blocking: bool = False) -> None:
        self.answer = answer
        self.left = left
        self.blocking = blocking  # True: asked off the event loop, as Redis is
        self.failed: set[str] = set()
        self.errors: list[BaseException] = []

    def is_available(self, name: str) -> bool:
        return name not in self.failed

    def remaining(self, name: str) -> float:
        return self.left if name in self.failed else 0.0

    def record_failure(self, name: str, error: BaseException) -> object:
        self.failed.add(name)
        self.errors.append(error)
        return self.answer

    def record_success(self, name: str) -> None:
        pass

    def reset(self, name: str | None = None) -> None:
        pass

    def snapshot(self) -> dict[str, object]:
        return {}


def _cut_stream(provider):
    yield 1
    raise Boom("mid-stream")


@pytest.mark.parametrize(
    ("cooldown", "expected"),
    [
        (lambda clock: InMemoryCooldown(30, clock=clock), 30.0),
        (lambda clock: _Tracker(True, 12.5), 12.5),  # True: the tracker's remaining()
        (lambda clock: _Tracker(7.0, 12.5), 7.0),  # a length: that length
        (lambda clock: _Tracker(7.0, 12.5, blocking=True), 7.0),  # asked in a thread
        (lambda clock: _Tracker(None, 12.5), None),  # no length: no cooldown told
    ],
    ids=["in memory", "0.1 tracker", "a length", "blocking", "no length"],
)
def test_a_stream_cut_mid_way_tells_the_cooldown_it_entered(clock, path, cooldown, expected):
    """A stream failing after its first item: CooldownEntered names the provider, the
    length the tracker answered (True: its `remaining`), the error and its text."""
    events = []
    tracker = cooldown(clock)
    stream = path.routed(["a", "b"], cooldown=tracker, clock=clock, on_event=events.append)(
        _cut_stream
    )
    items = stream.stream()
    assert path.next(items) == 1
    with pytest.raises(StreamInterrupted):
        path.next(items)
    (failed,) = [e for e in events if isinstance(e, AttemptFailed)]
    entered = [e for e in events if isinstance(e, CooldownEntered)]
    if isinstance(tracker, _Tracker):  # the tracker was told the provider's own error
        assert [str(e) for e in tracker.errors] == ["mid-stream"]
    if expected is None:
        assert entered == []
        return
    (cooled,) = entered
    assert (cooled.function, cooled.call_id) == (failed.function, failed.call_id)
    assert (cooled.provider, cooled.duration) == ("a", expected)
    assert isinstance(cooled.reason, Boom)
    assert cooled.error_text == failed.error_text == "Boom: mid-stream"


def test_a_lost_sync_stream_is_closed_on_its_own_thread_under_its_attempt(gate):
    """Hedged sync streams: the loser's generator, once its late first item comes, is
    closed on the thread that read it, with its own `current_attempt()`."""
    readers, closed, done = [], [], threading.Event()

    def body(provider):
        if provider == "fast":
            yield "fast"
            return
        readers.append(threading.current_thread().name)
        try:
            gate.wait(10)
            yield "slow"
        finally:
            attempt = current_attempt()
            closed.append((threading.current_thread().name, attempt and attempt.provider))
            done.set()

    # attempt_timeout: reads run on each stream's own thread (a lane), raced or not
    fn = routed(providers=["slow", "fast"], hedge_after=0.05, attempt_timeout=30)(body)
    result = fn.route()
    assert result.provider == "fast"
    assert list(result.response) == ["fast"]
    gate.set()
    assert done.wait(10)
    assert closed == [(readers[0], "slow")]


def _client_class(events: list[object]) -> type:
    """A fresh class (fresh routers: nothing warned yet) with routed methods of every kind;
    each reads its instance and its arguments; their events go to `events`."""

    class _Client:
        def __init__(self, tag: str) -> None:
            self.tag = tag

        @routed(providers=["a", "b"], cooldown=None, on_event=events.append)
        def ask(self, provider, n, *, sep=""):
            return f"{self.tag}{provider}{sep}{n}"

        @routed(providers=["a", "b"], cooldown=None, on_event=events.append)
        async def aask(self, provider, n, *, sep=""):
            return f"{self.tag}{provider}{sep}{n}"

        @routed(providers=["a", "b"], cooldown=None, on_event=events.append)
        def stream(self, provider, n, *, sep=""):
            for i in range(n):
                yield f"{self.tag}{provider}{sep}{i}"

        @routed(providers=["a", "b"], cooldown=None)
        def rstream(self, provider, n):
            yield from (f"{self.tag}{provider}{i}" for i in range(n))

        @routed(providers=["a", "b"], cooldown=None, on_event=events.append)
        async def astream(self, provider, n, *, sep=""):
            for i in range(n):
                yield f"{self.tag}{provider}{sep}{i}"

    return _Client


def test_routed_methods_of_every_kind_bind_their_instance_and_name_their_function():
    """Plain, async, stream and async stream methods, called and routed: each gets its
    instance and arguments, and its events name the method."""
    events: list[object] = []
    client = _client_class(events)("x-")
    assert client.ask(1, sep=":") == "x-a:1"
    assert client.ask.route(2).response == "x-a2"
    assert asyncio.run(client.aask(3, sep=":")) == "x-a:3"
    assert asyncio.run(client.aask.route(4)).response == "x-a4"
    assert list(client.stream(2, sep=":")) == ["x-a:0", "x-a:1"]
    result = client.stream.route(1)
    assert (result.provider, list(result.response)) == ("a", ["x-a0"])

    async def read_async_streams():
        items = [item async for item in client.astream(2, sep=":")]
        routed_stream = await client.astream.route(1)
        assert routed_stream.provider == "a"
        return items, [item async for item in routed_stream.response]

    assert asyncio.run(read_async_streams()) == (["x-a:0", "x-a:1"], ["x-a0"])
    prefix = "_client_class.<locals>._Client"
    assert [e.function for e in events if isinstance(e, CallStarted)] == [
        *[f"{prefix}.ask"] * 2,
        *[f"{prefix}.aask"] * 2,
        *[f"{prefix}.stream"] * 2,
        *[f"{prefix}.astream"] * 2,
    ]


def test_sync_routed_methods_on_a_loop_warn_naming_the_method():
    """A sync method, a stream method read lazily and one routed with `.route()`, on a
    loop's thread: one RuntimeWarning per method, naming it."""
    client = _client_class([])("")
    texts = _warnings_on_the_loop(
        lambda: client.ask(1),
        lambda: list(client.stream(1)),
        lambda: list(client.rstream.route(1).response),
        lambda: list(client.rstream(1)),
    )
    assert len(texts) == 3
    prefix = "function _client_class.<locals>._Client"
    assert f"{prefix}.ask was called" in texts[0]
    assert f"{prefix}.stream was called" in texts[1]
    assert f"{prefix}.rstream was called" in texts[2]


def test_the_loop_warning_follows_the_packages_own_log_activation(logs):
    """With code without a module name cached as disabled and the package enabled, the
    loop warning is still logged (only the package's activation decides)."""
    logger.disable(None)
    logger.enable("fallback_router")
    exec("from loguru import logger\nlogger.info('from code without __name__')", {})
    try:
        assert len(_warnings_on_the_loop(routed(providers=["a"])(fleet()))) == 1
        assert len(logs.find("sync routed function called on an event loop")) == 1
    finally:
        logger.enable(None)
        logger.disable("fallback_router")


def test_a_warnings_filter_set_to_error_does_not_break_a_call_on_a_loop():
    """The loop's RuntimeWarning under an 'error' filter: the call still returns."""
    ask = routed(providers=["a"])(fleet())

    async def main():
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return ask()

    assert asyncio.run(main()) == "a"


def test_an_ipython_that_cannot_say_whether_it_runs_a_shell_does_not_silence_the_warning(
    monkeypatch,
):
    """IPython imported but its `get_ipython()` raising: not a shell, so the call warns."""
    shell = types.ModuleType("IPython")

    def broken():
        raise RuntimeError("no shell here")

    shell.get_ipython = broken  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", shell)
    assert len(_warnings_on_the_loop(routed(providers=["a"])(fleet()))) == 1


def test_an_abandoned_stream_read_counts_against_max_abandoned_until_it_ends(gate):
    """Sync streams (reads on worker threads): `a` stalls before its first item past
    `first_item_timeout`; while that read still runs, `max_abandoned=1` passes `a` over
    as saturated; when it ends, its generator is closed under its attempt and `a` is
    attempted again."""
    closed = threading.Event()
    seen = []

    def body(provider):
        if provider == "a" and not gate.is_set():
            try:
                gate.wait(10)
                yield "late a"
            finally:
                attempt = current_attempt()
                seen.append(attempt and attempt.provider)
                closed.set()
            return
        yield provider

    fn = routed(providers=["a", "b"], first_item_timeout=1.0, max_abandoned=1, cooldown=None)(body)
    first = fn.route()
    assert first.provider == "b"
    assert isinstance(first.attempts[0].error, AttemptTimeoutError)
    assert list(first.response) == ["b"]
    second = fn.route()  # a's read still runs: a is passed over, not attempted
    assert [a.provider for a in second.attempts] == ["b"]
    assert second.skipped == ("a",)
    assert list(second.response) == ["b"]
    gate.set()
    assert closed.wait(10)
    assert seen == ["a"]
    assert wait_until(lambda: fn.route().provider == "a")  # its place among abandoned: back
