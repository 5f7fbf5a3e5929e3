"""The sync happy path: the quiet one-attempt shortcut, and nothing else.

A call takes it when the router has fixed providers, no time limits, limiters,
budget, retry template or `accept=`, and no `routing()` preferences are in force,
and the tracker holds no state (`quiet_until`): it picks the strategy's first
provider and calls it. Anything else (a skip, a failure, a gate) is the engine's:
a tracker with state sends the call to the engine's walk (`run_call`) before any
attempt; a failed attempt is handed to it as made (`Made`), and the walk records
it and goes on. There is one walk.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from fallback_router._engine.actions import Made, new_outcome
from fallback_router._engine.call import CallState
from fallback_router._engine.record import (
    attempt_started,
    attempt_succeeded,
    call_started,
    call_succeeded,
)
from fallback_router._engine.setup import Setup
from fallback_router._results import CURRENT, new_attempt, new_result
from fallback_router._routing import ENTERED, ROUTING
from fallback_router._state.counters import stepper

from .loop import on_loop, running_loop
from .responses import check_not_awaitable
from .sync import SyncRun, drive, run_call

__all__ = ["QuietParts", "direct_caller"]

#: Response types seen not to be awaitable (a small per-router cache).
_PLAIN_TYPES = 64


class QuietParts:
    """What the shortcut needs of a router, computed once (shared by both drivers)."""

    __slots__ = (
        "call_ids",
        "cells",
        "closes",
        "function",
        "hooks",
        "modulo",
        "names",
        "next_index",
        "pick",
        "plain",
        "planner",
        "recorder",
        "setup",
        "special",
        "states",
        "terminus",
        "ticks",
        "want_result",
    )

    def __init__(self, setup: Setup, want_result: bool, function: str, next_index: Any) -> None:
        static = setup.config.static
        assert static is not None  # noqa: S101 - the happy path needs fixed providers
        names = static[0]
        count = len(names)
        planner = setup.planner
        one = not planner.failover
        # current_attempt() facts per first pick: one-attempt strategies keep the list's
        # last provider as terminus; a failover order ends elsewhere unless n == 1.
        self.terminus = tuple((i == count - 1) if one else count == 1 for i in range(count))
        self.states = tuple(
            (name, 1, self.terminus[i], None, setup.config.clock) for i, name in enumerate(names)
        )
        self.setup, self.names, self.planner = setup, names, planner
        self.function, self.want_result = function, want_result
        self.recorder = setup.recorder
        self.hooks = setup.recorder.hooks
        self.call_ids = setup.call_ids
        self.cells = tuple(setup.stats.cell(name) for name in names)
        self.next_index = next_index
        self.pick = None if planner.fixed_first else planner.pick
        #: The pick is `tick % modulo` (round robin's own): inlined; 0 for any other.
        self.modulo = count if planner.rotates else 0
        self.plain: set[type[Any]] = set()
        # Hooks, a strategy that tracks calls or picks per call: the shortcut's extra
        # steps, behind one flag so that a plain fallback router pays for none of them.
        self.special = (
            self.hooks is not None
            or planner.tracks
            or self.pick is not None
            or next_index is not None
        )
        #: Strategy notes or success events after the attempt (`closing`).
        self.closes = self.hooks is not None or planner.tracks
        #: The opening is a tick and a pick only (round robin without hooks): inlined.
        self.ticks = not self.closes and next_index is not None and self.pick is not None

    def opening(self) -> tuple[int, int, int]:
        """The tick, the pick and the call id, with their events: `(tick, index, call_id)`."""
        tick = index = call_id = 0
        if self.next_index is not None:
            tick = self.next_index()
        if self.pick is not None:
            index = self.pick(self.names, tick)
        name = self.names[index]
        if self.hooks is not None:
            call_id = next(self.call_ids)
            function = self.function
            try:
                self.recorder.emit_two(
                    call_started(function, call_id, self.recorder.strategy),
                    attempt_started(function, call_id, name, 1, self.terminus[index], False, False),
                )
            except BaseException as exc:  # Ctrl-C in a hook: the call ends, closed
                self.recorder.for_call(function, call_id).failed_call(exc, ())
                raise
        if self.planner.tracks:
            self.planner.started(name)
        return tick, index, call_id

    def admit(self, response: Any, index: int, call_id: int, check: Callable[[Any], None]) -> None:
        """`check` a response of an unseen type; a refusal closes the call for the hooks."""
        try:
            check(response)
        except TypeError as exc:
            if self.hooks is not None:
                record = self.recorder.for_call(self.function, call_id)
                record.abandoned(self.names[index], 1, "call ended")
                record.failed_call(exc, ())
            raise
        if len(self.plain) < _PLAIN_TYPES:
            self.plain.add(response.__class__)

    def interrupted(self, index: int, call_id: int, error: BaseException) -> None:
        """Ctrl-C or cancellation in the attempt: the call ends here, closed."""
        name = self.names[index]
        if self.planner.tracks:
            self.planner.ended(name)
        if self.hooks is not None:
            record = self.recorder.for_call(self.function, call_id)
            try:
                record.abandoned(name, 1, "call ended")
            finally:
                record.failed_call(error, ())

    def closing(self, index: int, call_id: int, latency: float) -> None:
        """The strategy's notes and the success events (what `Recorder.succeeded` sends)."""
        name = self.names[index]
        if self.planner.tracks:
            self.planner.ended(name)
            self.planner.observed(name, latency)
        if self.hooks is not None:
            function, emit = self.function, self.recorder.emit
            try:
                emit(attempt_succeeded(function, call_id, name, 1, latency))
            except BaseException as exc:  # Ctrl-C in a hook: the call ends, closed
                self.recorder.for_call(function, call_id).failed_call(exc, ())
                raise
            emit(call_succeeded(function, call_id, name, 1, latency))

    def result(self, response: Any, index: int, latency: float) -> Any:
        """The `Result` of a call its first attempt served."""
        name = self.names[index]
        attempts = (new_attempt(name, None, latency, False),)
        return new_result(response, name, latency, 1, self.terminus[index], attempts, (), latency)


def direct_caller(
    setup: Setup, fn: Callable[..., Any], want_result: bool, function: str
) -> Callable[..., Any]:
    """Return `call(*args, **kwargs)` routing `fn`, the quiet shortcut inlined."""
    counter = setup.planner.counter
    parts = QuietParts(setup, want_result, function, counter and stepper(counter))
    assert setup.config.static is not None  # noqa: S101 - checked by QuietParts
    calls = tuple(functools.partial(fn, provider) for provider in setup.config.static[1])
    states, cells, plain, special = parts.states, parts.cells, parts.plain, parts.special
    closes, ticks, names, modulo = parts.closes, parts.ticks, parts.names, parts.modulo
    next_index: Any = parts.next_index  # both set when `ticks`
    pick: Any = parts.pick
    tracker: Any = setup.tracker
    router_clock = setup.config.clock
    set_current, reset_current = CURRENT.set, CURRENT.reset
    get_routing, entered = ROUTING.get, ENTERED
    check = functools.partial(check_not_awaitable, fn=fn)

    engine = functools.partial(run_call, setup, fn)
    elsewhere = functools.partial(_elsewhere, setup, fn, want_result, function)

    def direct_call(*args: Any, **kwargs: Any) -> Any:
        clock = router_clock if router_clock is not None else time.monotonic
        start = clock()
        if (
            (tracker is not None and start >= tracker.quiet_until)
            or (entered[0] and get_routing() is not None)
            or running_loop() is not None  # one C call; on a loop's thread: warned
        ):
            return elsewhere(args, kwargs, start)
        tick = index = call_id = 0
        if ticks:  # round robin without hooks: the tick and the pick, inlined
            tick = next_index()
            index = tick % modulo if modulo else pick(names, tick)
        elif special:
            tick, index, call_id = parts.opening()
        token = set_current(states[index])
        try:
            # Without keywords, no keyword dict to merge: ~25 ns less.
            response: Any = calls[index](*args, **kwargs) if kwargs else calls[index](*args)
        except Exception as exc:  # noqa: BLE001 - handed to the engine below
            failure = new_outcome((None, exc, start, clock()))
        except BaseException as exc:  # rare: no flag spent on it
            parts.interrupted(index, call_id, exc)
            raise
        else:
            end = clock()
            if response.__class__ not in plain:
                parts.admit(response, index, call_id, check)
            latency = end - start if end > start else 0.0  # cheaper than calling max()
            cell = cells[index]
            cell.tick()
            cell.latency = latency
            cell.end = end
            if closes:
                parts.closing(index, call_id, latency)
            return parts.result(response, index, latency) if want_result else response
        finally:
            reset_current(token)
        # Outside the except block: later errors get no __context__ from this one.
        made = Made(index, tick, failure)
        return engine(args, kwargs, want_result, function, made, start, call_id)

    return direct_call


def _elsewhere(
    setup: Setup,
    fn: Callable[..., Any],
    want_result: bool,
    function: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    start: float,
) -> Any:
    """A call the shortcut does not serve: warned on a loop's thread, then the engine's."""
    if running_loop() is not None:
        on_loop(function, setup.warned)  # depth 4: the routed function's caller
    call = CallState(setup, function, want_result, None, start)  # `run_call`, a frame less
    return drive(SyncRun(call, fn, args, kwargs))
