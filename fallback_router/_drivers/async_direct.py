"""The async happy path: the async twin of `sync_direct` (same eligibility, same parts).

The quiet one-attempt shortcut, awaited: a tracker with state, a counter that
waits on the network or `routing()` preferences send the call to the engine's
walk (`run_async`) before any attempt; a failed attempt is handed to it as made.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from fallback_router._engine.actions import Made, new_outcome
from fallback_router._engine.setup import Setup
from fallback_router._results import CURRENT
from fallback_router._routing import ENTERED, ROUTING
from fallback_router._state.counters import stepper

from .async_ import run_async
from .responses import check_awaited
from .sync_direct import QuietParts

__all__ = ["async_direct_caller"]


def async_direct_caller(
    setup: Setup, fn: Callable[..., Any], want_result: bool, function: str
) -> Callable[..., Any]:
    """Return `async call(*args, **kwargs)` routing `fn`, the quiet shortcut inlined."""
    counter = setup.planner.counter
    blocking_counter = counter is not None and getattr(counter, "blocking", False)
    next_index = stepper(counter) if counter is not None and not blocking_counter else None
    parts = QuietParts(setup, want_result, function, next_index)
    assert setup.config.static is not None  # noqa: S101 - checked by QuietParts
    objects = setup.config.static[1]
    states, cells, plain, special = parts.states, parts.cells, parts.plain, parts.special
    tracker: Any = setup.tracker
    router_clock = setup.config.clock
    set_current, reset_current = CURRENT.set, CURRENT.reset
    get_routing, entered = ROUTING.get, ENTERED
    check = functools.partial(check_awaited, fn=fn)

    async def direct_call(*args: Any, **kwargs: Any) -> Any:
        clock = router_clock if router_clock is not None else time.monotonic
        start = clock()
        if (
            (tracker is not None and start >= tracker.quiet_until)
            or blocking_counter
            or (entered[0] and get_routing() is not None)
        ):
            return await run_async(setup, fn, args, kwargs, want_result, function, None, start)
        tick = index = call_id = 0
        if special:
            tick, index, call_id = parts.opening()
        token = set_current(states[index])
        try:
            obj = objects[index]
            response: Any = await (fn(obj, *args, **kwargs) if kwargs else fn(obj, *args))
        except Exception as exc:  # noqa: BLE001 - handed to the engine below
            failure = new_outcome((None, exc, start, clock()))
        except BaseException as exc:  # Ctrl-C, cancellation: the call ends here, closed
            if special:
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
            if special:
                parts.closing(index, call_id, latency)
            return parts.result(response, index, latency) if want_result else response
        finally:
            reset_current(token)
        made = Made(index, tick, failure)
        return await run_async(setup, fn, args, kwargs, want_result, function, made, start,
                               call_id)  # fmt: skip

    return direct_call
