"""Routing a sync stream: fall back until a provider yields its first item, then relay.

A decorated generator function routes a stream. Providers are tried as for a
plain call until one produces its first item (or finishes empty); that provider
then serves the whole stream; a later error reaches the consumer as `StreamInterrupted`
(that provider's failure). With `stream_failover="buffer"` each stream is read to its
end first, so a cut, a stall, a malformed item or a rejected stream falls back and the
consumer sees one complete stream. The slot is held until the stream ends, closes or is collected.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any, Self

from fallback_router._engine.actions import Start
from fallback_router._engine.call import CallState
from fallback_router._engine.setup import Setup
from fallback_router._errors import StreamInterrupted
from fallback_router._results import AttemptState, Result

from .held import keep_probe
from .relay import RelayBase, carrying
from .stream_reads import (
    EMPTY,
    bounded_next,
    close_on,
    lane_for,
    next_item,
    reads_limited,
)
from .sync import SyncRun, drive
from .worker import Lane

__all__ = ["Relay", "lazy_stream", "route_stream"]


class StreamRun(SyncRun):
    """Attempts that open a stream: the first item, or (buffered) every item."""

    __slots__ = (
        "done",
        "gens",
        "kept",
        "lanes",
        "lock",
        "opened",
        "orphans",
        "probing",
        "releases",
    )

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.opened: dict[int, AttemptState] = {}
        self.orphans: set[int] = set()  # attempts whose abandoned read gives the slot back
        self.gens: dict[int, Iterator[Any]] = {}  # hedged attempts' streams (closed if lost)
        self.lanes: dict[int, Lane | None] = {}  # each open stream's reading thread
        self.kept: dict[int, Iterator[Any]] = {}  # streams that delivered a first item
        self.probing: set[int] = set()  # probe attempts being opened
        # A probe whose abandoned read still runs keeps the probe: its release, run when
        # the read ends (`done`: it ended before the release was known).
        # Only reads that may be abandoned (time-limited) race their release: a lock then.
        limited = reads_limited(self.call.setup)
        self.lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if limited else _UNLOCKED
        )
        self.releases: dict[int, Callable[[], None]] = {}
        self.done: set[int] = set()

    def check(self, response: Any) -> None:
        """Streams have no awaitable case."""

    def invoke(self, index: int) -> Any:
        call = self.call
        setup = call.setup
        state = self.opened[index]
        gen = self.fn(call.objects[index], *self.args, **self.kwargs)
        limit, kind = self.call.limit("first item")
        release: Callable[[], None] = functools.partial(self._read_ended, index)
        orphan: Callable[[], None] = functools.partial(self.orphans.add, index)
        lane = self.lanes[index] = lane_for(setup)
        if setup.config.hedge_after is not None:  # a race in a worker: the driver bounds it
            self.gens[index] = gen
            limit = None
            release = orphan = _nothing  # the driver gives the slot back
        caps = setup.caps
        renew = None
        if index in self.probing and caps is not None and caps.hold_probe is not None:
            renew = functools.partial(caps.hold_probe, call.names[index])
        try:
            first = bounded_next(setup, gen, state, limit, kind, release, orphan, lane, renew)
            if not setup.buffer:
                return (gen, first)
            items: list[Any] = []
            while first is not EMPTY:
                items.append(first)
                limit, kind = call.limit("idle")
                first = bounded_next(setup, gen, state, limit, kind, release, orphan, lane)
        except BaseException:
            if index not in self.orphans:  # an abandoned read closes and releases itself
                with contextlib.suppress(Exception):  # the attempt's error wins
                    close_on(lane, gen, state)
            raise
        if lane is not None:
            lane.stop()  # the stream ended on its lane
        return items

    def drop_kept(self) -> None:
        """The call failed after a stream opened (a hook raised): close it, free its slot."""
        for index, gen in self.kept.items():
            with contextlib.suppress(Exception):  # the call's own error wins
                close_on(self.lanes.get(index), gen, self.opened[index])
            self.call.ended(index)
        self.kept.clear()

    def _read_ended(self, index: int) -> None:
        """An abandoned read really ended: its slot comes back, and a probe it kept."""
        self.call.ended(index)
        with self.lock:
            release = self.releases.pop(index, None)
            if release is None:
                self.done.add(index)
        if release is not None:
            release()

    def _keep_probe(self, index: int) -> None:
        """The probe's read was abandoned and still runs: it keeps the probe (`keep_probe`)."""
        call = self.call
        running = call.running.get(index)
        if running is None or not running[1]:
            return
        call.running[index] = running._replace(probe=False)  # not the engine's to end
        release = keep_probe(call, call.names[index])
        with self.lock:
            ended = index in self.done
            if not ended:
                self.releases[index] = release
        if ended:
            release()

    def start(self, action: Start) -> Any:
        index, number, probe = action.index, action.number, action.probe
        call = self.call
        limit, kind = call.limit("first item")
        state = call.state(index, number, limit)
        self.opened[index] = state
        if call.setup.config.hedge_after is not None:  # a race to the first item, in workers
            return self.launch(index, state, limit, kind, probe)
        if probe:
            self.probing.add(index)
        keep = False
        try:
            outcome = self.attempt(index, state)
            keep = outcome[1] is None and not call.setup.buffer
            if keep:
                self.kept[index] = outcome[0][0]
            return outcome
        finally:
            self.probing.discard(index)
            if index in self.orphans:
                self._keep_probe(index)
            elif not keep:
                call.ended(index)

    def collected(self, index: int, outcome: Any) -> None:
        """A raced attempt ended: a winning stream keeps its slot (the relay gives it back)."""
        if outcome[1] is not None or self.call.setup.buffer:
            self.call.ended(index)

    def released(self, index: int) -> None:
        """A raced attempt that lost (or timed out) ended: its stream is closed (on its lane)."""
        gen = self.gens.pop(index, None)
        if gen is not None:
            with contextlib.suppress(Exception):  # a loser's cleanup raises nowhere
                close_on(self.lanes.get(index), gen, self.opened[index])


#: The lock of a stream whose reads are never abandoned (stateless: shared).
_UNLOCKED = contextlib.nullcontext()


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
    try:
        result: Result[Any] = drive(run)
    except BaseException:
        run.drop_kept()
        raise
    index = call.names.index(result.provider)
    relay = Relay(call, index, result.response, run.opened[index], run.lanes.get(index))
    return carrying(result, relay)


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

    __slots__ = ("_lane",)

    def __init__(
        self, call: CallState, index: int, opened: Any, state: AttemptState, lane: Lane | None
    ) -> None:
        super().__init__(call, index, opened, state)
        #: The thread that runs every step of the provider's generator (None: inline).
        self._lane = lane

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
        if first is not EMPTY:
            self._first = EMPTY
            if self.items == 0:
                self.items = 1
                self._last = first
                return first
        call = self._call
        setup = call.setup
        start = call.clock()
        gen = self._gen
        assert gen is not None  # noqa: S101 - an unbuffered relay holds its generator while open
        lane = self._lane
        try:
            if lane is None:
                item = next_item(gen, self._state)
            else:  # on the stream's own thread, within idle_timeout (if any)
                release = functools.partial(call.ended, self._index)
                item = bounded_next(setup, gen, self._state, setup.config.idle_timeout, "idle",
                                     release, self._orphan, lane)  # fmt: skip
        except Exception as exc:
            error = StreamInterrupted(self._state[0], self.items)
            error.__cause__ = exc
            self._fail(exc, start, error)
            raise error from exc
        except BaseException as exc:
            self._call.closed(exc)  # the call's last event: before close() sends another
            self.close()
            raise
        if item is EMPTY:
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
                close_on(self._lane, gen, self._state)
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
