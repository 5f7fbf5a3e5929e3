"""The sync driver: carries out the engine's actions with plain calls and threads.

`drive` runs a call's `steps()` to the end. An attempt runs inline, unless a
time limit or hedging is set: then it runs in a worker thread (`worker`) and
the caller waits for it at most until the limit. `direct_caller` is the happy
path: the engine's first step specialised for a call that needs no plan.
"""

from __future__ import annotations

import contextlib
import functools
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
from fallback_router._engine.actions import new_outcome as _outcome
from fallback_router._engine.call import CallState
from fallback_router._engine.setup import Setup
from fallback_router._errors import AttemptTimeoutError
from fallback_router._results import CURRENT, AttemptState
from fallback_router._routing import ENTERED, hide_preferences, show_preferences

from .held import GRACE, RENEW_AT, keep_probe, real_now
from .responses import PLAIN, check_not_awaitable, judge
from .retry import retry_after_first
from .worker import Job

__all__ = ["GRACE", "SyncRun", "drive", "run_call"]


class SyncRun:
    """Runs one call's attempts in the calling thread (or workers, with limits)."""

    __slots__ = ("args", "call", "fn", "jobs", "kwargs", "renew", "signal")

    def __init__(
        self, call: CallState, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.call = call
        self.fn = fn
        self.args, self.kwargs = args, kwargs
        call.tokens = call.setup.quota.tokens(args, kwargs) if call.setup.quota else 0  # quotas
        # index -> (job, start, until (time.monotonic), limit, kind)
        self.jobs: dict[int, tuple[Job, float, float | None, float | None, str]] = {}
        self.signal: threading.Event | None = None
        # index -> when (time.monotonic) to renew a probe's claim, before it lapses with
        # the call's budget (the claim's ttl), so the attempt can keep it (`keep_probe`)
        self.renew: dict[int, float] = {}

    # -- one attempt ------------------------------------------------------------------------

    def invoke(self, index: int) -> Any:
        """Call the provider once (what one attempt runs; streams override it)."""
        return self.fn(self.call.objects[index], *self.args, **self.kwargs)

    def check(self, response: Any) -> None:
        """Refuse an awaitable response (streams override it: they have no such case)."""
        if type(response) not in PLAIN:
            check_not_awaitable(response, self.fn)

    def attempt(self, index: int, state: AttemptState) -> Outcome:
        """One attempt with its retries, under `current_attempt()`; never raises `Exception`."""
        call = self.call
        setup = call.setup
        clock = call.clock
        token = CURRENT.set(state)
        hidden = hide_preferences() if ENTERED[0] else None  # routing() was ever used
        try:
            made = call.made
            if made is not None and made.index == index and call.number == 1:
                error = made.outcome.error
                start = made.outcome.start
            else:
                start = clock()
                try:
                    response = self.invoke(index)
                except Exception as exc:  # noqa: BLE001 - reported, not handled, here
                    error = exc
                else:
                    end = clock()
                    self.check(response)  # outside the handler: a TypeError propagates
                    outcome = _outcome((response, None, start, end))
                    accept = setup.config.accept  # None: nothing to judge, no call
                    return outcome if accept is None else judge(setup, *state[:2], outcome)
            retry = setup.config.retry
            trigger = setup.recorder.fallback_on
            if retry is None or error is None or not trigger(error):
                return _outcome((None, error, start, clock()))
            try:
                response = retry_after_first(
                    retry, error, functools.partial(self.invoke, index), state[3],
                    setup.config.clock, setup.config.retry_budget, trigger,
                )  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the retries' last error is the outcome
                return Outcome(None, exc, start, clock())
            end = clock()
            self.check(response)
            return judge(setup, state[0], state[1], _outcome((response, None, start, end)))
        finally:
            if hidden is not None:
                show_preferences(hidden)
            CURRENT.reset(token)

    def start(self, action: Start) -> Any:
        """Carry out a `Start`: run the attempt (or start it beside others when hedging)."""
        index, number, probe = action.index, action.number, action.probe
        call = self.call
        setup = call.setup
        if not setup.limits:
            try:
                return self.attempt(index, call.state(index, number, None))
            finally:
                call.ended(index)
        limit, kind = call.limit("attempt")
        state = call.state(index, number, setup.config.attempt_timeout)
        return self.launch(index, state, limit, kind, probe)

    def launch(
        self, index: int, state: AttemptState, limit: float | None, kind: str, probe: bool
    ) -> Any:
        """Run the attempt in a worker: wait for it up to `limit`, or (hedging) `STARTED`.

        A probe's claim is renewed before `limit` could lapse it (`keep_probe`).
        """
        call = self.call
        setup = call.setup
        if self.signal is None:
            self.signal = threading.Event()
        job = Job(functools.partial(self.attempt, index, state), self.signal)
        setup.workers.submit(job)
        start = call.clock()
        # A provider that sets its own timeout from current_attempt().time_left fails
        # with its own error just before the limit: GRACE lets that error win.
        until = None if limit is None else real_now() + limit + GRACE
        self.jobs[index] = (job, start, until, limit, kind)
        caps = setup.caps
        if probe and limit is not None and caps is not None and caps.hold_probe is not None:
            self.renew[index] = real_now() + limit * RENEW_AT
        if setup.config.hedge_after is not None:
            return STARTED
        return self._collect(index, kind, limit)

    def _collect(self, index: int, kind: str, limit: float | None) -> Outcome:
        """Wait for the attempt on `index` until its limit: its outcome, or a timeout."""
        job, start, until, _, _ = self.jobs[index]
        call = self.call
        try:
            renew = self.renew.pop(index, None)
            done = renew is not None and job.wait(max(0.0, renew - real_now()))
            if renew is not None and not done:
                self._hold(index)
            done = done or job.wait(None if until is None else max(0.0, until - real_now()))
        except BaseException:
            self._abandon(index, "call ended")
            raise
        if done:
            del self.jobs[index]
            call.ended(index)
            outcome: Outcome = job.result()
            return outcome
        self._abandon(index, None)
        error = AttemptTimeoutError(call.names[index], limit or 0.0, kind)
        return Outcome(None, error, start, call.clock())

    def _renew_due(self, now: float) -> list[float]:
        """Renew the probe claims due by `now`; when the others are due."""
        for index, renew in list(self.renew.items()):
            if renew <= now:
                self._hold(index)
        return list(self.renew.values())

    def _hold(self, index: int) -> None:
        """Renew the probe claim of the attempt on `index` (it may outlive its call)."""
        self.renew.pop(index, None)
        hold = self.call.setup.caps.hold_probe  # type: ignore[union-attr]
        hold(self.call.names[index])  # type: ignore[misc]

    def _abandon(self, index: int, reason: str | None) -> None:
        """Stop watching the attempt on `index` (`reason` None: it timed out); held till it ends."""
        job = self.jobs.pop(index)[0]
        self.renew.pop(index, None)
        call = self.call
        name = call.names[index]
        abandoned = call.setup.abandoned
        running = call.running.pop(index, None) if reason is not None else call.running.get(index)
        release = None
        if running is not None and running[1]:  # a probe: this attempt keeps it
            if reason is None:  # the engine records the timeout, the probe stays here
                call.running[index] = running._replace(probe=False)
            release = keep_probe(call, name)

        def on_end() -> None:
            call.ended(index)
            self.released(index)
            if abandoned is not None:
                abandoned.release(name)
            if release is not None:
                release()

        if abandoned is not None:  # counted first: the job may end any moment now
            abandoned.force_acquire(name)
        if reason is not None and running is not None:
            call.record.abandoned(name, running.number, reason)
        if not job.abandon(on_end):
            on_end()  # it ended meanwhile: its outcome goes nowhere, its holds come back

    def await_(self, more: bool) -> Any:
        """Carry out an AWAIT: the next attempt to end, or HEDGE after `hedge_after`."""
        call = self.call
        setup = call.setup
        signal = self.signal
        assert signal is not None  # noqa: S101 - set by the first START
        hedge_at = None
        if more and setup.config.hedge_after is not None:
            newest = max(entry[1] for entry in self.jobs.values())
            hedge_at = real_now() + max(0.0, newest + setup.config.hedge_after - call.clock())
        while True:
            for index, (job, *_) in list(self.jobs.items()):
                if job.done.is_set():
                    return self._take(index, job)
            now = real_now()
            limits = [entry[2] for entry in self.jobs.values() if entry[2] is not None]
            limits += self._renew_due(now)
            for index, (_, _, until, limit, kind) in list(self.jobs.items()):
                if until is not None and until <= now:
                    return index, self._timeout(index, kind, limit)
            if hedge_at is not None and hedge_at <= now:
                return HEDGE
            if hedge_at is not None:
                limits.append(hedge_at)
            wake = min(limits) if limits else None
            signal.clear()
            if not any(entry[0].done.is_set() for entry in self.jobs.values()):
                signal.wait(None if wake is None else max(0.0, wake - now))

    def _take(self, index: int, job: Job) -> tuple[int, Outcome]:
        """Collect the ended attempt on `index`: `(index, outcome)`."""
        del self.jobs[index]
        try:
            outcome: Outcome = job.result()
        except BaseException:
            self.call.ended(index)
            raise
        self.collected(index, outcome)
        return index, outcome

    def collected(self, index: int, outcome: Outcome) -> None:  # noqa: ARG002 - streams use it
        """An attempt's outcome was collected: its slot goes back (a stream keeps a winner's)."""
        self.call.ended(index)

    def released(self, index: int) -> None:
        """An abandoned attempt really ended (streams close what it opened)."""

    def _timeout(self, index: int, kind: str, limit: float | None) -> Outcome:
        call = self.call
        start = self.jobs[index][1]
        self._abandon(index, None)
        error = AttemptTimeoutError(call.names[index], limit or 0.0, kind)
        return Outcome(None, error, start, call.clock())

    def finish(self, reason: str) -> None:
        """Abandon the attempts still running (hedges that lost, or the call ended)."""
        for index in list(self.jobs):
            self._abandon(index, reason)

    def abort(self) -> None:
        """The call ends abnormally: give back what it holds, and abandon what runs."""
        self.finish("call ended")
        call = self.call
        call.cut_short()
        for fn, args in self.call.abort():
            with contextlib.suppress(Exception):  # giving back must not mask the real error
                fn(*args)


def drive(run: SyncRun) -> Any:
    """Run a call's steps to the end: its response or Result, or its error."""
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
                reply = run.start(action)
            elif kind is Io:
                reply = action.fn(*action.args)
            elif kind is Await:
                reply = run.await_(action.more)
            elif kind is Abandon:
                run.finish(action.reason)
                reply = None
            else:
                reply = _wait(call, action)
        except BaseException as exc:
            steps.close()
            run.abort()
            call.closed(exc)
            raise


def _wait(call: CallState, action: Wait) -> str | None:
    """Carry out a `Wait`: a free slot of `names` on `gate`, or the time `until`."""
    gate, names, until = action.gate, action.names, action.until
    if gate is not None and names:
        got: str | None = gate.acquire_any(names, until, call.setup.config.clock)
        return got
    if until is not None:
        delay = until - call.clock()
        if delay > 0:
            threading.Event().wait(min(delay, threading.TIMEOUT_MAX))  # real time, not the clock
    return None


def run_call(  # noqa: PLR0913 - the call's facts
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
    """Route one call on the general path (`made`: the happy path's failed attempt)."""
    call = CallState(setup, function, want_result, made, start, call_id)
    return drive(SyncRun(call, fn, args, kwargs))
