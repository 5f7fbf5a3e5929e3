"""The sync happy path: the engine's first steps, specialised for calls that need no plan.

A call takes it when the router has fixed providers, no time limits, limiters,
budget, retry template or `accept=`, and no `routing()` preferences are in force.
With a tracker that holds no state (`quiet_until`) it picks the strategy's first
provider and calls it. Otherwise, with a tracker that answers without waiting on
the network, it walks the strategy's order as the engine does: providers in
cooldown are skipped (the pure [`plan_fallback`][fallback_router.plan_fallback]
rule), failures recorded, the next provider tried. It uses the engine's own
helpers for counts, records, events, `current_attempt()` and `Result`; anything
unusual (a half-open provider, a forced terminus, a retry template) hands the
call to the engine (`run_call`) with the walk so far, and the engine goes on.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

from ._engine.call import CallState
from ._engine.facts import COOLDOWN, Outcome
from ._engine.record import attempt_started, attempt_succeeded, call_started, call_succeeded
from ._engine.setup import Setup
from ._responses import check_not_awaitable
from ._results import CURRENT, new_attempt, new_result
from ._routing import ENTERED, ROUTING
from ._sync import SyncRun, drive, run_call

__all__ = ["direct_caller"]

#: Response types seen not to be awaitable (a small per-router cache).
_PLAIN_TYPES = 64


def direct_caller(  # noqa: C901, PLR0915 - the happy path, inlined on purpose
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
    caps = setup.caps
    # The walk needs a view without network I/O and a way to tell a clean provider.
    walks = setup.retry is None and (
        tracker is None or (caps is not None and not caps.blocking and caps.has_state is not None)
    )
    has_state = caps.has_state if caps is not None else None
    remaining_many = caps.remaining_many if caps is not None else None
    counter = planner.counter
    next_index = counter.next_index if counter is not None else None
    pick = None if planner.fixed_first else planner.pick
    fixed_order = list(range(count)) if planner.fixed_first else None
    tracks = planner.tracks
    respect = setup.respect_retry_after
    recorder = setup.recorder
    hooks = recorder.hooks
    cells = tuple(setup.stats.cell(name) for name in names)  # each provider's success counts
    set_current, reset_current = CURRENT.set, CURRENT.reset
    get_routing = ROUTING.get
    entered = ENTERED
    call_ids = setup.call_ids
    emit = recorder.emit
    emit_two = recorder.emit_two
    strategy = recorder.strategy
    plain: set[type[Any]] = set()

    def refused(response: Any, name: str, number: int, failures: Any, call_id: int) -> None:
        """`check_not_awaitable` on an unseen type; a refusal closes the call for the hooks."""
        try:
            check_not_awaitable(response, fn)
        except TypeError as exc:
            if hooks is not None:
                recorder.abandoned(name, number, "call ended", function, call_id)
                recorder.failed_call(exc, tuple(new_attempt(*f) for f in failures),
                                     function, call_id)  # fmt: skip
            raise

    def general(args: Any, kwargs: Any, first: Any, start: Any, call_id: Any) -> Any:
        return run_call(setup, fn, args, kwargs, want_result, function, first, start, call_id)

    def walk(  # noqa: C901, PLR0912, PLR0915 - the engine's walk, for the common case
        args: Any,
        kwargs: Any,
        start: float,
        tick: int,
        view: Any,
        first: tuple[int, Outcome] | None,
        call_id: int,
    ) -> Any:
        """Walk the order from its start (or on from a failed first pick)."""
        clock = router_clock if router_clock is not None else time.monotonic
        if fixed_order is not None:
            order = fixed_order
        else:
            benched: Callable[[int], bool] | None = (lambda i: view[i] > 0.0) if view else None
            if first is None:
                order = planner.order(names, tick, benched)
            else:  # the first pick failed: the strategy's order after it, no second pick
                order = planner.after(names, first[0], tick, benched)
        last = order[-1] if not one else count - 1
        failures: list[tuple[str, Exception, float, bool, bool, str]] = []
        skipped: list[str] = []
        reasons: list[str] = []
        closed = False  # the call's last event was sent (or the engine took it over)
        try:
            for position, index in enumerate(order):
                name = names[index]
                if first is not None and index == first[0] and not failures:
                    failure = first[1]
                else:
                    if one and failures:
                        break
                    left = view[index] if view else 0.0
                    if left > 0.0 and index != last and not respect:
                        skipped.append(name)
                        reasons.append(COOLDOWN)
                        recorder.skipped(name, left, COOLDOWN, function, call_id)
                        continue
                    if left > 0.0 or (view and has_state is not None and has_state(name)):
                        # A forced terminus, a half-open provider, or (respect_retry_after)
                        # any benched one: the engine goes on.
                        progress = (order, position, tick, failures, skipped, reasons)
                        closed = True  # the engine goes on, and closes the call
                        call = CallState(setup, function, want_result, start=start,
                                         call_id=call_id, progress=progress)  # fmt: skip
                        return drive(SyncRun(call, fn, args, kwargs))
                    number = len(failures) + 1
                    if hooks is not None:
                        recorder.started(name, number, index == last, None, False, False,
                                         function, call_id)  # fmt: skip
                    if tracks:
                        planner.started(name)
                    token = set_current(
                        states[index]
                        if number == 1 and terminus[index] == (index == last)
                        else (name, number, index == last, None, router_clock)
                    )
                    begun = clock()
                    try:
                        response = calls[index](*args, **kwargs)
                    except Exception as exc:  # noqa: BLE001 - recorded below
                        failure = (None, exc, begun, clock())
                    except BaseException as exc:  # Ctrl-C, exit: the call ends here, closed
                        if tracks:
                            planner.ended(name)
                        closed = True
                        if hooks is not None:
                            try:
                                recorder.abandoned(name, number, "call ended", function, call_id)
                            finally:
                                recorder.failed_call(exc, tuple(new_attempt(*f) for f in failures),
                                                     function, call_id)  # fmt: skip
                        raise
                    else:
                        end = clock()
                        if tracks:
                            planner.ended(name)
                        cls: Any = response.__class__
                        if cls not in plain:
                            closed = True  # a refusal closes the call
                            refused(response, name, number, failures, call_id)
                            closed = False
                            if len(plain) < _PLAIN_TYPES:
                                plain.add(cls)
                        latency = max(0.0, end - begun)
                        recorder.succeeded(name, number, latency, end, function, call_id)
                        if tracks:
                            planner.observed(name, latency)
                        elapsed = max(0.0, end - start)
                        closed = True
                        if hooks is not None:
                            recorder.succeeded_call(name, number, elapsed, function, call_id)
                        if not want_result:
                            return response
                        done = [new_attempt(*f) for f in failures]
                        done.append(new_attempt(name, None, latency, False))
                        return new_result(response, name, latency, number, index == last,
                                          tuple(done), tuple(skipped), elapsed)  # fmt: skip
                    finally:
                        reset_current(token)
                    if tracks:
                        planner.ended(name)
                # -- a failed attempt: recorded as the engine records it
                error = failure[1]
                assert error is not None  # noqa: S101 - only failures get here
                latency = max(0.0, failure[3] - failure[2])
                fallback, counted, text = recorder.failed(
                    name, len(failures) + 1, count, index == last, error, latency, failure[3],
                    function, call_id,
                )  # fmt: skip
                if counted:
                    assert tracker is not None  # noqa: S101 - counted implies a tracker
                    duration = tracker.record_failure(*recorder.failure_args(name, error))
                    if duration is True:  # a tracker of the 0.1 protocol
                        duration = tracker.remaining(name)
                    recorder.cooled(name, float(duration or 0.0), error, text, function, call_id)
                if not fallback:
                    closed = True
                    if hooks is not None:
                        recorder.failed_call(error, tuple(new_attempt(*f) for f in failures),
                                             function, call_id)  # fmt: skip
                    raise error  # noqa: TRY301 - not a fallback trigger: unchanged, no context
                failures.append((name, error, latency, counted, False, text))
        except BaseException as exc:  # a predicate, a hook, a sink or Ctrl-C: closed here
            if hooks is not None and not closed:
                recorder.failed_call(exc, tuple(new_attempt(*f) for f in failures),
                                     function, call_id)  # fmt: skip
            raise
        progress = (order, len(order), tick, failures, skipped, reasons)
        call = CallState(setup, function, want_result, start=start, call_id=call_id,
                         progress=progress)  # fmt: skip
        raise call.error()

    # Hooks, a strategy that tracks calls or picks per call: the happy path's extra steps,
    # behind one flag so that a plain fallback router pays for none of them.
    special = hooks is not None or tracks or pick is not None or next_index is not None

    def interrupted(name: str, call_id: int, error: BaseException) -> None:
        """Ctrl-C or cancellation in the first attempt: the call ends here, closed."""
        if tracks:
            planner.ended(name)
        if hooks is not None:
            try:
                recorder.abandoned(name, 1, "call ended", function, call_id)
            finally:
                recorder.failed_call(error, (), function, call_id)

    def opened(call_id: int, error: BaseException) -> None:
        """A hook or sink raised (Ctrl-C) at the call's first events: close the call."""
        recorder.failed_call(error, (), function, call_id)

    def begin_walk(args: Any, kwargs: Any, start: float) -> Any:
        """The tracker holds state: walk the strategy's order from its start."""
        view = remaining_many(names)  # type: ignore[misc]
        tick = next_index() if next_index is not None else 0
        call_id = 0
        if hooks is not None:
            call_id = next(call_ids)
            try:
                emit(call_started(function, call_id, strategy))
            except BaseException as exc:
                opened(call_id, exc)
                raise
        # An empty view (the state lapsed meanwhile) walks as well: nothing is skipped.
        return walk(args, kwargs, start, tick, view, None, call_id)

    def direct_call(  # noqa: C901, PLR0911, PLR0912, PLR0915 - inlined on purpose
        *args: Any, **kwargs: Any
    ) -> Any:
        clock = router_clock if router_clock is not None else time.monotonic
        start = clock()
        if entered[0] and get_routing() is not None:
            return general(args, kwargs, None, start, None)
        if tracker is not None and start >= tracker.quiet_until:
            if not walks:
                return general(args, kwargs, None, start, None)
            return begin_walk(args, kwargs, start)
        tick = index = call_id = 0
        if special:  # the tick, the pick, the call id and their events (inlined: ~80 ns less)
            if next_index is not None:
                tick = next_index()
            if pick is not None:
                index = pick(names, tick)
            if hooks is not None:
                call_id = next(call_ids)
                try:
                    emit_two(
                        call_started(function, call_id, strategy),
                        attempt_started(function, call_id, names[index], 1, terminus[index],
                                        False, False),
                    )  # fmt: skip
                except BaseException as exc:  # Ctrl-C in a hook: the call ends, closed
                    opened(call_id, exc)
                    raise
            if tracks:
                planner.started(names[index])
        token = set_current(states[index])
        try:
            # Without keywords, no keyword dict to merge: ~25 ns less.
            response: Any = calls[index](*args, **kwargs) if kwargs else calls[index](*args)
        except Exception as exc:  # noqa: BLE001 - handed to the walk below
            failure: Outcome = (None, exc, start, clock())
        except BaseException as exc:
            if special:
                interrupted(names[index], call_id, exc)
            raise
        else:
            end = clock()
            cls: Any = response.__class__
            if cls not in plain:
                refused(response, names[index], 1, (), call_id)
                if len(plain) < _PLAIN_TYPES:
                    plain.add(cls)
            latency = end - start
            if latency < 0.0:  # noqa: PLR1730 - cheaper than calling max()
                latency = 0.0
            cell = cells[index]
            cell.tick()
            cell.latency = latency
            cell.end = end
            if special:  # the strategy's notes and what Recorder.succeeded(_call) send
                if tracks:
                    planner.ended(names[index])
                    planner.observed(names[index], latency)
                if hooks is not None:
                    try:
                        emit(attempt_succeeded(function, call_id, names[index], 1, latency))
                    except BaseException as exc:  # Ctrl-C in a hook: the call ends, closed
                        opened(call_id, exc)
                        raise
                    emit(call_succeeded(function, call_id, names[index], 1, latency))
            if want_result:
                return new_result(
                    response,
                    names[index],
                    latency,
                    1,
                    terminus[index],
                    (new_attempt(names[index], None, latency, False),),
                    (),
                    latency,
                )
            return response
        finally:
            reset_current(token)
        # Outside the except block: later errors get no __context__ from this one.
        if not walks:  # the engine ends the attempt (in flight through its retries)
            return general(args, kwargs, (index, tick, failure), start, call_id)
        if tracks:
            planner.ended(names[index])
        return walk(args, kwargs, start, tick, (), (index, failure), call_id)

    return direct_call
