"""The sync happy path: the engine's first step, specialised for a call that needs no plan.

A call takes it when the router has fixed providers, no time limits, limiters,
budget or `accept=`, no `routing()` preferences are in force, and the tracker
(if the strategy uses one) promises it holds no state (`quiet_until`). It picks
the strategy's first provider, calls it and counts the success exactly as the
general path would, with the same helpers; a failed first attempt is handed to
the general path (`run_call`), which continues it instead of making it again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from ._engine.call import Outcome
from ._engine.setup import Setup
from ._results import CURRENT, new_attempt, new_result
from ._routing import ROUTING
from ._sync import check_not_awaitable, run_call

__all__ = ["direct_caller"]

#: Response types seen not to be awaitable (a small cache; checked once per type).
_PLAIN_TYPES = 64


def direct_caller(
    setup: Setup, fn: Callable[..., Any], want_result: bool, function: str
) -> Callable[..., Any]:
    """Return `call(*args, **kwargs)` routing `fn` with the happy path inlined."""
    static = setup.static
    assert static is not None  # noqa: S101 - the happy path needs fixed providers
    names, objects = static
    count = len(names)
    planner = setup.planner
    router_clock = setup.clock
    one = not planner.failover
    # current_attempt() facts per first pick: one-attempt strategies keep the list's
    # last provider as terminus; a failover order ends elsewhere unless n == 1.
    terminus = tuple((i == count - 1) if one else count == 1 for i in range(count))
    states = tuple((name, 1, terminus[i], None, router_clock) for i, name in enumerate(names))
    calls = tuple(functools.partial(fn, provider) for provider in objects)
    tracker: Any = setup.tracker
    counter = planner.counter
    next_index = counter.next_index if counter is not None else None
    pick = None if planner.fixed_first else planner.pick
    tracks = planner.tracks
    recorder = setup.recorder
    hooks = recorder.hooks
    stats = setup.stats
    local = stats.local
    set_current, reset_current = CURRENT.set, CURRENT.reset
    get_routing = ROUTING.get
    call_ids = setup.call_ids
    plain: set[type] = set()

    def general(args: Any, kwargs: Any, first: Any, start: Any, call_id: Any) -> Any:
        return run_call(setup, fn, args, kwargs, want_result, function, first, start, call_id)

    def direct_call(*args: Any, **kwargs: Any) -> Any:
        clock = router_clock if router_clock is not None else time.monotonic
        start = clock()
        if (tracker is not None and start >= tracker.quiet_until) or get_routing() is not None:
            return general(args, kwargs, None, start, None)
        tick = next_index() if next_index is not None else 0
        index = 0 if pick is None else pick(names, tick)
        name = names[index]
        call_id = 0
        if hooks is not None:
            call_id = next(call_ids)
            recorder.started_call(function, call_id)
            recorder.started(name, 1, terminus[index], None, False, False, function, call_id)
        if tracks:
            planner.started(name)
        token = set_current(states[index])
        try:
            response = calls[index](*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - handed to the general path below
            failure: Outcome = (None, exc, start, clock())
        except BaseException as exc:  # Ctrl-C, cancellation: the call ends here, closed
            if tracks:
                planner.ended(name)
            if hooks is not None:
                recorder.abandoned(name, 1, "call ended", function, call_id)
                recorder.failed_call(exc, (), function, call_id)
            raise
        else:
            end = clock()
            if tracks:
                planner.ended(name)
            cls = type(response)
            if cls not in plain:
                check_not_awaitable(response, fn)
                if len(plain) < _PLAIN_TYPES:
                    plain.add(cls)
            latency = end - start
            latency = max(latency, 0.0)
            if tracks:
                planner.observed(name, latency)
            if hooks is None:
                try:
                    row = local.rows[name]
                except (AttributeError, KeyError):
                    row = stats.row(name)
                row[0] += 1
                row[1] = latency
                row[2] = end
            else:
                recorder.succeeded(name, 1, latency, end, function, call_id)
                recorder.succeeded_call(name, 1, latency, function, call_id)
            if want_result:
                return new_result(
                    response,
                    name,
                    latency,
                    1,
                    terminus[index],
                    (new_attempt(name, None, latency, False),),
                    (),
                    latency,
                )
            return response
        finally:
            reset_current(token)
        # Outside the except block: later errors get no __context__ from this one.
        return general(args, kwargs, (index, tick, failure), start, call_id)

    return direct_call
