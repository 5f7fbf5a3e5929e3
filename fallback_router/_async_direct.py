"""The async happy path: the async twin of `_direct` (same eligibility, same helpers)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ._async import check_awaited, run_async
from ._engine.facts import Outcome
from ._engine.setup import Setup
from ._results import CURRENT, new_attempt, new_result
from ._routing import ENTERED, ROUTING

__all__ = ["async_direct_caller"]


def async_direct_caller(  # noqa: C901, PLR0915 - the happy path, inlined on purpose
    setup: Setup, fn: Callable[..., Any], want_result: bool, function: str
) -> Callable[..., Any]:
    """Return `async call(*args, **kwargs)` routing `fn`, the happy path inlined.

    The async twin of the sync happy path (see `_direct`): same eligibility, same
    helpers; a tracker whose view would need a round trip sends the call to the
    general path, which reads it off the loop.
    """
    static = setup.static
    assert static is not None  # noqa: S101 - the happy path needs fixed providers
    names, objects = static
    count = len(names)
    planner = setup.planner
    router_clock = setup.clock
    one = not planner.failover
    terminus = tuple((i == count - 1) if one else count == 1 for i in range(count))
    states = tuple((name, 1, terminus[i], None, router_clock) for i, name in enumerate(names))
    tracker: Any = setup.tracker
    counter = planner.counter
    next_index = (
        counter.next_index
        if counter is not None and not getattr(counter, "blocking", False)
        else None
    )
    blocking_counter = counter is not None and next_index is None
    pick = None if planner.fixed_first else planner.pick
    tracks = planner.tracks
    recorder = setup.recorder
    hooks = recorder.hooks
    cells = tuple(setup.stats.cell(name) for name in names)  # each provider's success counts
    set_current, reset_current = CURRENT.set, CURRENT.reset
    get_routing = ROUTING.get
    entered = ENTERED
    call_ids = setup.call_ids
    plain: set[type[Any]] = set()

    async def direct_call(*args: Any, **kwargs: Any) -> Any:  # noqa: C901, PLR0912, PLR0915 - inlined on purpose
        clock = router_clock if router_clock is not None else time.monotonic
        start = clock()
        if (
            (tracker is not None and start >= tracker.quiet_until)
            or blocking_counter
            or (entered[0] and get_routing() is not None)
        ):
            return await run_async(setup, fn, args, kwargs, want_result, function, None, start)
        tick = next_index() if next_index is not None else 0
        index = 0 if pick is None else pick(names, tick)
        name = names[index]
        call_id = 0
        if hooks is not None:
            call_id = next(call_ids)
            try:
                recorder.started_call(function, call_id)
                recorder.started(name, 1, terminus[index], None, False, False, function, call_id)
            except BaseException as exc:  # Ctrl-C in a hook: the call ends, closed
                recorder.failed_call(exc, (), function, call_id)
                raise
        if tracks:
            planner.started(name)
        token = set_current(states[index])
        try:
            obj = objects[index]
            response: Any = await (fn(obj, *args, **kwargs) if kwargs else fn(obj, *args))
        except Exception as exc:  # noqa: BLE001 - handed to the general path below
            failure: Outcome = (None, exc, start, clock())
        except BaseException as exc:  # Ctrl-C, cancellation: the call ends here, closed
            if tracks:
                planner.ended(name)
            if hooks is not None:
                try:
                    recorder.abandoned(name, 1, "call ended", function, call_id)
                finally:
                    recorder.failed_call(exc, (), function, call_id)
            raise
        else:
            end = clock()
            if tracks:
                planner.ended(name)
            cls: Any = response.__class__
            if cls not in plain:
                try:
                    check_awaited(response, fn)
                except TypeError as exc:  # the call ends here: closed for the hooks
                    if hooks is not None:
                        recorder.abandoned(name, 1, "call ended", function, call_id)
                        recorder.failed_call(exc, (), function, call_id)
                    raise
                if len(plain) < 64:
                    plain.add(cls)
            latency = max(0.0, end - start)
            if tracks:
                planner.observed(name, latency)
            if hooks is None:
                cell = cells[index]
                cell.tick()
                cell.latency = latency
                cell.end = end
            else:
                try:
                    recorder.succeeded(name, 1, latency, end, function, call_id)
                except BaseException as exc:  # Ctrl-C in a hook: the call ends, closed
                    recorder.failed_call(exc, (), function, call_id)
                    raise
                recorder.succeeded_call(name, 1, latency, function, call_id)
            if want_result:
                return new_result(
                    response, name, latency, 1, terminus[index],
                    (new_attempt(name, None, latency, False),), (), latency,
                )  # fmt: skip
            return response
        finally:
            reset_current(token)
        first = (index, tick, failure)
        return await run_async(setup, fn, args, kwargs, want_result, function, first, start,
                               call_id)  # fmt: skip

    return direct_call
