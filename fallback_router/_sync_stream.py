"""Routing a sync stream: fall back until a provider yields its first item, then relay.

A decorated generator function routes a stream. Providers are tried as for a
plain call until one produces its first item (or finishes empty); that provider
then serves the whole stream, and a later error reaches the consumer as
`StreamInterrupted` (recorded as that provider's failure). With `stream_failover=
"buffer"` each provider's stream is read to its end first, so a cut, a stall, a
malformed item or a rejected stream falls back and the consumer sees exactly one
complete stream. The slot is held until the stream ends, is closed or collected.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Generator, Iterator
from typing import Any, Self

from ._engine.call import CallState
from ._engine.setup import Setup
from ._errors import AttemptTimeoutError, StreamInterrupted
from ._relay import RelayBase
from ._results import CURRENT, AttemptState, Result, new_result
from ._routing import hide_preferences, show_preferences
from ._sync import SyncRun, drive
from ._worker import Job

__all__ = ["Relay", "lazy_stream", "route_stream"]

_EMPTY = object()


def _next_item(gen: Iterator[Any], state: AttemptState) -> Any:
    """The provider's next item, under its attempt's context (`_EMPTY` at the end)."""
    token = CURRENT.set(state)
    hidden = hide_preferences()
    try:
        return next(gen)
    except StopIteration:
        return _EMPTY
    finally:
        show_preferences(hidden)
        CURRENT.reset(token)


def _close(gen: Iterator[Any], state: AttemptState) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        token = CURRENT.set(state)
        hidden = hide_preferences()
        try:
            close()
        finally:
            show_preferences(hidden)
            CURRENT.reset(token)


def _bounded_next(
    setup: Setup,
    gen: Iterator[Any],
    state: AttemptState,
    limit: float | None,
    kind: str,
    release: Callable[[], None],
    orphan: Callable[[], None],
) -> Any:
    """`_next_item` in a worker, waited for at most `limit` seconds (real time).

    Past the limit, or when the wait itself is interrupted (Ctrl-C), the read is
    abandoned: `orphan()` tells the caller the generator and the slot are no
    longer its to close or give back; when the read really returns, the generator
    is closed and `release` gives the slot back. Past the limit,
    `AttemptTimeoutError` is raised.
    """
    if limit is None:
        return _next_item(gen, state)
    job = Job(functools.partial(_next_item, gen, state))
    setup.workers.submit(job)
    try:
        if job.wait(limit):
            return job.result()
    except BaseException:
        if _abandon(setup, job, gen, state, release):
            orphan()
        raise
    if _abandon(setup, job, gen, state, release):
        orphan()
        raise AttemptTimeoutError(state[0], limit, kind)
    return job.result()  # it ended just now


def _abandon(
    setup: Setup, job: Job, gen: Iterator[Any], state: AttemptState, release: Callable[[], None]
) -> bool:
    """Give a read up; False when it ended meanwhile (then nothing changes)."""
    name = state[0]
    abandoned = setup.abandoned

    def on_end() -> None:
        _close_quietly(gen, state)
        if abandoned is not None:
            abandoned.release(name)
        release()

    if abandoned is not None:  # counted first: the read may end any moment now
        abandoned.force_acquire(name)
    if job.abandon(on_end):
        return True
    if abandoned is not None:
        abandoned.release(name)
    return False


def _close_quietly(gen: Iterator[Any], state: AttemptState) -> None:
    with contextlib.suppress(Exception):  # an abandoned stream's cleanup raises nowhere
        _close(gen, state)


class StreamRun(SyncRun):
    """Attempts that open a stream: the first item, or (buffered) every item."""

    __slots__ = ("gens", "opened", "orphans")

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.opened: dict[int, AttemptState] = {}
        self.orphans: set[int] = set()  # attempts whose abandoned read gives the slot back
        self.gens: dict[int, Iterator[Any]] = {}  # hedged attempts' streams (closed if lost)

    def check(self, response: Any) -> None:
        """Streams have no awaitable case."""

    def invoke(self, index: int) -> Any:
        call = self.call
        setup = call.setup
        state = self.opened[index]
        gen = self.fn(call.objects[index], *self.args, **self.kwargs)
        limit, kind = self.call.limit("first item")
        release: Callable[[], None] = functools.partial(call.ended, index)
        orphan: Callable[[], None] = functools.partial(self.orphans.add, index)
        if setup.hedge_after is not None:  # a race in a worker: the driver bounds it
            self.gens[index] = gen
            limit = None
            release = orphan = _nothing  # the driver gives the slot back
        try:
            first = _bounded_next(setup, gen, state, limit, kind, release, orphan)
            if not setup.buffer:
                return (gen, first)
            items: list[Any] = []
            while first is not _EMPTY:
                items.append(first)
                limit, kind = call.limit("idle")
                first = _bounded_next(setup, gen, state, limit, kind, release, orphan)
        except BaseException:
            if index not in self.orphans:  # an abandoned read closes and releases itself
                _close_quietly(gen, state)
            raise
        return items

    def start(self, action: tuple[Any, ...]) -> Any:
        _, index, number, _forced, _probe, _hedged = action
        call = self.call
        limit, kind = call.limit("first item")
        state = call.state(index, number, limit)
        self.opened[index] = state
        if call.setup.hedge_after is not None:  # a race to the first item, in workers
            return self.launch(index, state, limit, kind)
        keep = False
        try:
            outcome = self.attempt(index, state)
            keep = outcome[1] is None and not call.setup.buffer
            return outcome
        finally:
            if not keep and index not in self.orphans:
                call.ended(index)

    def collected(self, index: int, outcome: Any) -> None:
        """A raced attempt ended: a winning stream keeps its slot (the relay gives it back)."""
        if outcome[1] is not None or self.call.setup.buffer:
            self.call.ended(index)

    def released(self, index: int) -> None:
        """A raced attempt that lost (or timed out) ended: its stream is closed."""
        gen = self.gens.pop(index, None)
        if gen is not None:
            _close_quietly(gen, self.opened[index])


def _nothing() -> None:
    """Giving back is the driver's (a raced attempt)."""


def route_stream(
    setup: Setup,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    function: str,
) -> Result[Relay]:
    """Route a stream; its `Result` carries the consumer's iterator as `response`.

    `latency` is the time to the first item (buffered: to the stream's end).
    Raises like a plain routed call when no provider produces a first item.
    """
    call = CallState(setup, function, True)
    call.stream = not setup.buffer  # an unbuffered stream's call ends with the stream
    call.streamed = True
    run = StreamRun(call, fn, args, kwargs)
    result: Result[Any] = drive(run)
    index = call.names.index(result.provider)
    relay = Relay(call, index, result.response, run.opened[index])
    return new_result(
        relay,
        result.provider,
        result.latency,
        result.attempt,
        result.was_terminus,
        result.attempts,
        result.skipped,
        result.elapsed,
    )


def lazy_stream(
    setup: Setup,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    function: str,
) -> Generator[Any, None, None]:
    """Route the stream when the consumer first asks for an item."""
    relay = route_stream(setup, fn, args, kwargs, function).response
    try:
        # Not `yield from`: closing this generator would close the relay in the closer's
        # context, before the `finally` below.
        for item in relay:  # noqa: UP028
            yield item
    finally:  # also run by the garbage collector: in a context of its own (see Relay)
        contextvars.copy_context().run(relay.close)


class Relay(RelayBase, Iterator[Any]):
    """The consumer's iterator over the serving provider's stream.

    Each item is produced under the attempt's `current_attempt()`; silence past
    `idle_timeout=` or an error after items were delivered raises
    `StreamInterrupted` (recorded as the provider's failure). `close()` (or the
    end of the stream, or garbage collection) closes the provider's generator
    and gives its slot back, even when that generator's own cleanup raises.
    """

    __slots__ = ()

    def __iter__(self) -> Relay:
        return self

    def __next__(self) -> Any:
        if self._buffered:
            try:
                item = next(self._first)
            except StopIteration:
                self._settled()
                raise
            self.items += 1
            self._last = item
            return item
        if not self._open:
            raise StopIteration
        first = self._first
        if first is not _EMPTY:
            self._first = _EMPTY
            if self.items == 0:
                self.items = 1
                self._last = first
                return first
        call = self._call
        setup = call.setup
        start = call.clock()
        gen = self._gen
        assert gen is not None  # noqa: S101 - an unbuffered relay holds its generator while open
        idle = setup.idle_timeout
        try:
            if idle is None:
                item = _next_item(gen, self._state)
            else:
                release = functools.partial(call.ended, self._index)
                item = _bounded_next(setup, gen, self._state, idle, "idle", release, self._orphan)
        except Exception as exc:
            error = StreamInterrupted(self._state[0], self.items)
            error.__cause__ = exc
            self._fail(exc, start, error)
            raise error from exc
        except BaseException as exc:
            self._call.closed(exc)  # the call's last event: before close() sends another
            self.close()
            raise
        if item is _EMPTY:
            try:
                self._settled()
            finally:
                self.close()
            raise StopIteration
        self.items += 1
        self._last = item
        return item

    def _orphan(self) -> None:
        """The read in progress was abandoned: it closes the stream and releases itself."""
        self._open = False
        self._gen = None

    def _fail(self, error: Exception, start: float, interrupted: StreamInterrupted) -> None:
        """Record a failure after items were delivered, then close."""
        try:
            record, text = self._interrupted(error, start)
            if record:
                tracker = self._call.setup.tracker
                assert tracker is not None  # noqa: S101 - `record` says there is one
                args = self._call.setup.recorder.failure_args(self._state[0], error)
                self._cooled(tracker.record_failure(*args), error, text)
        finally:
            self._call.closed(interrupted)
            self.close()

    def close(self) -> None:
        """Close the provider's stream and give its slot back (once)."""
        if not self._open:
            return
        self._open = False
        gen = self._gen
        try:
            if gen is not None:
                _close(gen, self._state)
        finally:
            self._call.ended(self._index)
            self._call.stream_ended(self._state[0], self._state[1])

    def __del__(self) -> None:
        if getattr(self, "_open", False):
            with contextlib.suppress(Exception):  # a finalizer raises nowhere
                # In a context of its own: the code the collector interrupted keeps its
                # context variables as they were, whatever the provider's cleanup sets.
                contextvars.copy_context().run(self.close)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
