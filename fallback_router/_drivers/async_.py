"""The async driver: carries out the engine's actions without blocking the event loop.

The sync driver's engine (`CallState.steps()`) carried out with `await`: attempts
run in the calling task (hedges in tasks of their own), waits are awaited, and
components that wait on the network (Redis) are called in a worker thread (`_io`).
Time limits cancel the attempt; a cancelled call gives back everything it holds,
also what a component grants after the cancellation (its late answer is reconciled).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any

from fallback_router._engine.actions import (
    HEDGE,
    STARTED,
    Abandon,
    Await,
    Io,
    Made,
    Outcome,
    Start,
    Wait,
)
from fallback_router._engine.call import CallState
from fallback_router._engine.gates import ungranted
from fallback_router._engine.setup import Setup
from fallback_router._errors import AttemptTimeoutError
from fallback_router._results import CURRENT, AttemptState
from fallback_router._routing import ENTERED, hide_preferences, show_preferences

from .responses import check_awaited, judge
from .retry import retry_after_first_async

__all__ = ["AsyncRun", "drive_async", "run_async"]


class AsyncRun:
    """Runs one call's attempts in the calling task (hedged ones in tasks of their own)."""

    __slots__ = ("args", "call", "fn", "kwargs", "tasks")

    def __init__(
        self, call: CallState, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.call = call
        self.fn = fn
        self.args, self.kwargs = args, kwargs
        self.tasks: dict[int, tuple[asyncio.Task[Outcome], float]] = {}
        call.tokens = call.setup.quota.tokens(args, kwargs) if call.setup.quota else 0  # quotas

    async def invoke(self, index: int) -> Any:
        """Await the provider once (what one attempt runs; streams override it)."""
        return await self.fn(self.call.objects[index], *self.args, **self.kwargs)

    def check(self, response: Any) -> None:
        """Refuse an awaitable response (streams override it)."""
        check_awaited(response, self.fn)

    async def attempt(
        self, index: int, state: AttemptState, limit: float | None, kind: str
    ) -> Outcome:
        """One attempt with its retries, bounded by `limit`; never raises `Exception`."""
        call = self.call
        setup, clock = call.setup, call.clock
        token = CURRENT.set(state)
        hidden = hide_preferences() if ENTERED[0] else None  # routing() was ever used
        start = clock()
        try:
            made = call.made
            scope = asyncio.timeout(limit)
            try:
                async with scope:
                    if made is not None and made.index == index and call.number == 1:
                        error = made.outcome.error
                        start = made.outcome.start
                    else:
                        try:
                            response = await self.invoke(index)
                        except Exception as exc:  # noqa: BLE001 - reported, not handled, here
                            error = exc
                        else:
                            outcome = Outcome(response, None, start, clock())
                            self.check(response)
                            return judge(setup, state[0], state[1], outcome)
                    retry = setup.config.retry
                    trigger = setup.recorder.fallback_on
                    if retry is None or error is None or not trigger(error):
                        return Outcome(None, error, start, clock())
                    try:
                        response = await retry_after_first_async(
                            retry, error, lambda: self.invoke(index), state[3], setup.config.clock,
                            setup.config.retry_budget, trigger,
                        )  # fmt: skip
                    except Exception as exc:  # noqa: BLE001 - the retries' last error
                        return Outcome(None, exc, start, clock())
                    end = clock()
                    self.check(response)
                    return judge(setup, state[0], state[1], Outcome(response, None, start, end))
            except TimeoutError:
                if not scope.expired():
                    raise
                error = AttemptTimeoutError(state[0], limit or 0.0, kind)
                return Outcome(None, error, start, clock())
        finally:
            if hidden is not None:
                show_preferences(hidden)
            CURRENT.reset(token)

    async def start(self, action: Start) -> Any:
        """Carry out a `Start`: await the attempt (or start it as a task, when hedging)."""
        index, number = action.index, action.number
        call = self.call
        setup = call.setup
        limit, kind = call.limit("attempt") if setup.limits else (None, "attempt")
        state = call.state(index, number, setup.config.attempt_timeout)
        if setup.config.hedge_after is None:
            try:
                return await self.attempt(index, state, limit, kind)
            finally:
                call.ended(index)
        task = asyncio.create_task(self.attempt(index, state, limit, kind))
        self.tasks[index] = (task, call.clock())
        return STARTED

    async def await_(self, more: bool) -> Any:
        """Carry out an AWAIT: the next attempt to end, or HEDGE after `hedge_after`."""
        call = self.call
        hedge_after = call.setup.config.hedge_after
        timeout = None
        if more and hedge_after is not None:
            newest = max(start for _, start in self.tasks.values())
            timeout = max(0.0, newest + hedge_after - call.clock())
        tasks = {task: index for index, (task, _) in self.tasks.items()}
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            return HEDGE
        task = next(iter(done))
        index = tasks[task]
        del self.tasks[index]
        try:
            outcome: Outcome = task.result()
        except BaseException:
            call.ended(index)
            raise
        self.collected(index, outcome)
        return index, outcome

    def collected(self, index: int, outcome: Outcome) -> None:  # noqa: ARG002 - streams use it
        """An attempt's outcome was collected: its slot goes back (a stream keeps a winner's)."""
        self.call.ended(index)

    async def settle(self) -> None:
        """After `finish`: streams close the ones that lost (nothing to do here)."""

    def finish(self, reason: str = "hedge lost") -> None:
        """The call concluded: cancel the attempts still running; they give back on end."""
        call = self.call
        for index, (task, _) in list(self.tasks.items()):
            del self.tasks[index]
            running = call.running.pop(index, None)
            name = call.names[index]
            probe = running is not None and running.probe
            if probe:
                call.probes.discard(name)
            task.add_done_callback(_released(call, index, probe))
            task.cancel()
            if running is not None:
                call.record.abandoned(name, running.number, reason)

    def abort(self) -> None:
        """The call ends abnormally: give back what it holds (off the loop if blocking)."""
        self.finish("call ended")
        call = self.call
        call.cut_short()
        blocking = self.call.setup.blocking()
        for fn, args in self.call.abort():
            if blocking:
                asyncio.get_running_loop().run_in_executor(None, _quietly, fn, args)
            else:
                _quietly(fn, args)


async def _io(call: CallState, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Run a component's `fn(*args)` in a worker thread; a late answer is reconciled.

    When the call is cancelled while the worker waits on the network, the worker
    still gets the component's answer: what it granted (a slot and token, a probe
    claim) is given back there, when it lands.
    """
    handoff = _Handoff(call, fn, args)
    loop = asyncio.get_running_loop()
    context = contextvars.copy_context()
    future = loop.run_in_executor(None, context.run, handoff.work)
    try:
        # Shielded: a cancelled call never cancels the job, which then always runs (a
        # give-back asked of it included) and reconciles what it was granted.
        return await asyncio.shield(future)
    except BaseException:
        future.add_done_callback(_retrieve)
        handoff.give_up(loop)
        raise


class _Handoff:
    """One component call off the loop, and who gives back what it grants."""

    __slots__ = ("answer", "args", "call", "fn", "lock", "state")

    def __init__(self, call: CallState, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.call = call
        self.fn = fn
        self.args = args
        self.lock = threading.Lock()
        self.state = _PENDING
        self.answer: Any = None

    def work(self) -> Any:
        """In the worker: the answer, given back here when the caller gave up already."""
        answer = self.fn(*self.args)
        with self.lock:
            gave_up = self.state is _GAVE_UP
            if not gave_up:
                self.state, self.answer = _ANSWERED, answer
        if gave_up:
            for fn, args in ungranted(self.call, self.fn, self.args, answer):
                _quietly(fn, args)
        return answer

    def give_up(self, loop: asyncio.AbstractEventLoop) -> None:
        """The caller stops waiting: an answer already in is given back (off the loop)."""
        with self.lock:
            state, self.state = self.state, _GAVE_UP
        if state is _ANSWERED:  # it landed, but never reached the caller
            for fn, args in ungranted(self.call, self.fn, self.args, self.answer):
                loop.run_in_executor(None, _quietly, fn, args)


_PENDING, _ANSWERED, _GAVE_UP = object(), object(), object()


def _retrieve(future: asyncio.Future[Any]) -> None:
    """A job whose caller gave up: its error is raised nowhere (and logged by nobody)."""
    if not future.cancelled():
        future.exception()


def _quietly(fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    with contextlib.suppress(Exception):  # giving back must not mask the real error
        fn(*args)


def _released(call: CallState, index: int, probe: bool) -> Callable[[asyncio.Task[Outcome]], None]:
    def done(task: asyncio.Task[Outcome]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: a loser's error is raised nowhere
        call.ended(index)
        caps = call.setup.caps
        if probe and caps is not None and caps.end_probe is not None:
            args = (caps.end_probe, (call.names[index],))
            if caps.blocking:  # a Redis round trip: never on the event loop
                asyncio.get_running_loop().run_in_executor(None, _quietly, *args)
            else:
                _quietly(*args)

    return done


async def drive_async(run: AsyncRun) -> Any:
    """Run a call's steps to the end, awaiting what waits: its response, Result or error."""
    call = run.call
    steps = call.steps()
    send = steps.send
    reply: Any = None
    while True:
        try:
            action = send(reply)
        except StopIteration as stop:
            return stop.value
        except BaseException as exc:  # the call's error, or a hook/sink/predicate that raised
            run.abort()
            call.closed(exc)  # once: nothing when the call's last event went already
            raise
        try:
            kind = action.__class__
            if kind is Start:
                reply = await run.start(action)
            elif kind is Io:
                peek = action.peek
                reply = None if peek is None else peek(*action.args)
                if reply is None:
                    reply = await _io(call, action.fn, action.args)
            elif kind is Await:
                reply = await run.await_(action.more)
            elif kind is Abandon:
                run.finish(action.reason)
                await run.settle()
                reply = None
            else:
                reply = await _wait(call, action)
        except BaseException as exc:
            steps.close()
            run.abort()
            call.closed(exc)
            raise


async def _wait(call: CallState, action: Wait) -> str | None:
    """Carry out a `Wait` without blocking the loop."""
    gate, names, until = action.gate, action.names, action.until
    if gate is not None and names:
        got: str | None = await gate.acquire_any_async(names, until, call.setup.config.clock)
        return got
    if until is not None:
        delay = until - call.clock()
        if delay > 0:
            await asyncio.sleep(delay)
    return None


async def run_async(  # noqa: PLR0913 - the call's facts
    setup: Setup,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    want_result: bool,
    function: str,
    made: Made | None = None,
    start: float | None = None,
    call_id: int | None = None,
) -> Any:
    """Route one async call on the general path."""
    call = CallState(setup, function, want_result, made, start, call_id)
    return await drive_async(AsyncRun(call, fn, args, kwargs))
