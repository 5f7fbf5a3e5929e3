"""Routing an async stream (an async generator function), as `sync_stream` does for sync.

Providers are tried until one yields its first item (`first_item_timeout=`
bounds the wait; the attempt is cancelled past it); that provider then serves
the stream, with `idle_timeout=` between items, and a later error reaches the
consumer as `StreamInterrupted`. `stream_failover="buffer"` reads each
provider's stream to its end first. The slot is given back when the stream
ends, is closed (`aclose()`), or its iterator is garbage-collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Self

from fallback_router._engine.actions import STARTED, Outcome, Start
from fallback_router._engine.call import CallState
from fallback_router._engine.setup import Setup
from fallback_router._errors import AttemptTimeoutError, StreamInterrupted
from fallback_router._results import CURRENT, AttemptState, Result
from fallback_router._routing import ENTERED, hide_preferences, show_preferences

from .async_ import AsyncRun, drive_async
from .relay import RelayBase, carrying

__all__ = ["AsyncRelay", "lazy_stream_async", "route_stream_async"]

_EMPTY = object()


async def _next_item(
    gen: AsyncIterator[Any], state: AttemptState, limit: float | None, kind: str
) -> Any:
    """The provider's next item under its context, within `limit` (`_EMPTY` at the end)."""
    token = CURRENT.set(state)
    hidden = hide_preferences() if ENTERED[0] else None  # routing() was ever used
    scope = asyncio.timeout(limit)
    try:
        async with scope:
            return await anext(gen)
    except StopAsyncIteration:
        return _EMPTY
    except TimeoutError:
        if scope.expired():
            raise AttemptTimeoutError(state[0], limit or 0.0, kind) from None
        raise
    finally:
        if hidden is not None:
            show_preferences(hidden)
        CURRENT.reset(token)


async def _close(gen: AsyncIterator[Any], state: AttemptState) -> None:
    aclose = getattr(gen, "aclose", None)
    if aclose is not None:
        token = CURRENT.set(state)
        hidden = hide_preferences() if ENTERED[0] else None  # routing() was ever used
        try:
            await aclose()
        finally:
            if hidden is not None:
                show_preferences(hidden)
            CURRENT.reset(token)


class AsyncStreamRun(AsyncRun):
    """Attempts that open an async stream: the first item, or (buffered) every item."""

    __slots__ = ("lost", "opened")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.opened: dict[int, AttemptState] = {}
        self.lost: list[tuple[AsyncIterator[Any], AttemptState]] = []  # streams to close

    def check(self, response: Any) -> None:
        """Streams have no awaitable case."""

    async def invoke(self, index: int) -> Any:
        call = self.call
        setup = call.setup
        state = self.opened[index]
        gen = self.fn(call.objects[index], *self.args, **self.kwargs)
        limit, kind = self.call.limit("first item")
        try:
            first = await _next_item(gen, state, limit, kind)
            if not setup.buffer:
                return (gen, first)
            items: list[Any] = []
            while first is not _EMPTY:
                items.append(first)
                limit, kind = call.limit("idle")
                first = await _next_item(gen, state, limit, kind)
        except BaseException:
            await asyncio.shield(_close_quietly(gen, state))
            raise
        return items

    async def start(self, action: Start) -> Any:
        index, number = action.index, action.number
        call = self.call
        state = call.state(index, number, self.call.limit("first item")[0])
        self.opened[index] = state
        if call.setup.config.hedge_after is not None:  # a race to the first item, in tasks
            task = asyncio.create_task(self.attempt(index, state, None, "attempt"))
            self.tasks[index] = (task, call.clock())
            return STARTED
        keep = False
        try:
            outcome = await self.attempt(index, state, None, "attempt")
            keep = outcome[1] is None and not call.setup.buffer
            return outcome
        finally:
            if not keep:
                call.ended(index)

    def collected(self, index: int, outcome: Outcome) -> None:
        """A raced attempt ended: a winning stream keeps its slot (the relay gives it back)."""
        if outcome[1] is not None or self.call.setup.buffer:
            self.call.ended(index)

    def finish(self, reason: str = "hedge lost") -> None:
        """Cancel the raced attempts still running; keep the streams that opened, to close."""
        for index, (task, _) in self.tasks.items():
            if task.done() and not task.cancelled() and task.exception() is None:
                response, error, _, _ = task.result()
                if error is None and not self.call.setup.buffer:
                    self.lost.append((response[0], self.opened[index]))
        super().finish(reason)

    async def settle(self) -> None:
        """Close the streams of the raced attempts that lost after they opened."""
        lost, self.lost = self.lost, []
        for gen, state in lost:
            await asyncio.shield(_close_quietly(gen, state))


async def _close_quietly(gen: AsyncIterator[Any], state: AttemptState) -> None:
    with contextlib.suppress(Exception):  # the attempt's own error is what counts
        await _close(gen, state)


async def route_stream_async(
    setup: Setup,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    function: str,
) -> Result[AsyncRelay]:
    """Route an async stream; its `Result` carries the consumer's async iterator."""
    call = CallState(setup, function, True)
    call.stream = not setup.buffer  # an unbuffered stream's call ends with the stream
    call.streamed = True
    run = AsyncStreamRun(call, fn, args, kwargs)
    result: Result[Any] = await drive_async(run)
    index = call.names.index(result.provider)
    relay = AsyncRelay(call, index, result.response, run.opened[index])
    return carrying(result, relay)


async def lazy_stream_async(
    setup: Setup,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    function: str,
) -> AsyncGenerator[Any, None]:
    """Route the stream when the consumer first asks for an item."""
    relay = (await route_stream_async(setup, fn, args, kwargs, function)).response
    try:
        async for item in relay:
            yield item
    finally:
        await relay.aclose()


class AsyncRelay(RelayBase, AsyncIterator[Any]):
    """The consumer's async iterator over the serving provider's stream (see `Relay`)."""

    __slots__ = ()

    def __aiter__(self) -> AsyncRelay:
        return self

    async def __anext__(self) -> Any:
        if self._buffered:
            try:
                item = next(self._first)
            except StopIteration:
                await self._asettled()
                raise StopAsyncIteration from None
            self.items += 1
            self._last = item
            return item
        if not self._open:
            raise StopAsyncIteration
        first = self._first
        if first is not _EMPTY and self.items == 0:
            self._first = _EMPTY
            self.items = 1
            self._last = first
            return first
        call = self._call
        start = call.clock()
        gen = self._gen
        assert gen is not None  # noqa: S101 - an unbuffered relay holds its generator while open
        try:
            item = await _next_item(gen, self._state, call.setup.config.idle_timeout, "idle")
        except Exception as exc:
            error = StreamInterrupted(self._state[0], self.items)
            error.__cause__ = exc
            await self._fail(exc, start, error)
            raise error from exc
        except BaseException as exc:  # cancelled: the call's last event, then close
            call.closed(exc)
            await asyncio.shield(self.aclose())
            raise
        if item is _EMPTY:
            try:
                await self._asettled()
            finally:
                await self.aclose()
            raise StopAsyncIteration
        self.items += 1
        self._last = item
        return item

    async def _asettled(self) -> None:
        """The stream ended complete: `usage_of` reads its last item (once)."""
        self._settled()

    async def _fail(self, error: Exception, start: float, interrupted: StreamInterrupted) -> None:
        """Record a failure after items were delivered, then close."""
        try:
            record, text = self._interrupted(error, start)
            if record:
                tracker = self._call.setup.tracker
                assert tracker is not None  # noqa: S101 - `record` says there is one
                args = self._call.setup.recorder.failure_args(self._state[0], error)
                if self._call.setup.blocking():
                    duration = await asyncio.to_thread(tracker.record_failure, *args)
                else:
                    duration = tracker.record_failure(*args)
                self._cooled(duration, error, text)
        finally:
            self._call.closed(interrupted)
            await self.aclose()

    async def aclose(self) -> None:
        """Close the provider's stream and give its slot back (once)."""
        if not self._open:
            return
        self._open = False
        gen = self._gen
        try:
            if gen is not None:
                await _close(gen, self._state)
        finally:
            self._call.ended(self._index)
            self._call.stream_ended(self._state[0], self._state[1])

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            self._open = False
            with contextlib.suppress(Exception):  # a finalizer raises nowhere
                self._call.ended(self._index)
                # The call's last event, in a context of its own (see `Relay.__del__`).
                contextvars.copy_context().run(
                    self._call.stream_ended, self._state[0], self._state[1]
                )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
