"""Per-provider retries: continue a failed first try under a tenacity template."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity

from fallback_router._state.budget import RetryBudget

__all__ = ["retry_after_first", "retry_after_first_async", "retry_controller"]


class _BudgetStop(tenacity.stop.stop_base):
    """The template's stop, or earlier: past the call's deadline, or out of budget.

    It stops before a sleep would pass the deadline, and when the router's retry
    budget refuses the retry.
    """

    def __init__(
        self,
        inner: Callable[[tenacity.RetryCallState], bool],
        deadline: float | None,
        clock: Callable[[], float] | None,
        budget: RetryBudget | None,
    ) -> None:
        self.inner = inner
        self.deadline = deadline
        self.clock = clock
        self.budget = budget
        #: A unit was withdrawn for a retry that has not started yet (it may be cancelled
        #: during the sleep before it: then the unit is refunded).
        self.owed = False

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if self.inner(retry_state):
            return True
        if self.deadline is not None:
            now = self.clock() if self.clock is not None else time.monotonic()
            if now + retry_state.upcoming_sleep >= self.deadline:
                return True
        if self.budget is None:
            return False
        if not self.budget.withdraw():
            return True
        self.owed = True
        return False

    def started(self) -> None:
        """The retry the last withdrawal paid for starts: the unit is spent."""
        self.owed = False

    def settle(self) -> None:
        """The retries end before the retry paid for ran: refund its unit."""
        if self.owed and self.budget is not None:
            self.owed = False
            self.budget.refund()


class _TriggersOnly(tenacity.retry_base):
    """The template's retry predicate, only for the router's fallback triggers.

    A non-`Exception` (`KeyboardInterrupt`, `SystemExit`) or an error that is not
    a fallback trigger propagates at once, whatever the template says.
    """

    def __init__(
        self,
        inner: tenacity.retry_base | Callable[[tenacity.RetryCallState], bool],
        trigger: Callable[[Exception], bool],
    ) -> None:
        self.inner = inner
        self.trigger = trigger

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            error = outcome.exception()
            if not isinstance(error, Exception) or not self.trigger(error):
                return False
        return bool(self.inner(retry_state))


def retry_controller(
    template: tenacity.BaseRetrying,
    deadline: float | None,
    clock: Callable[[], float] | None,
    budget: RetryBudget | None,
    trigger: Callable[[Exception], bool],
    async_: bool = False,
) -> Any:
    """A copy of `template` bounded by the deadline and the budget (sync or async)."""
    stop: Any = template.stop
    if deadline is not None or budget is not None:
        stop = _BudgetStop(stop, deadline, clock, budget)
    retry = _TriggersOnly(template.retry, trigger)
    if not async_:
        return template.copy(stop=stop, retry=retry, reraise=True)
    sleep = template.sleep if inspect.iscoroutinefunction(template.sleep) else asyncio.sleep
    return tenacity.AsyncRetrying(
        sleep=sleep,
        stop=stop,
        wait=template.wait,
        retry=retry,
        before=template.before,
        after=template.after,
        before_sleep=template.before_sleep,
        reraise=True,
        retry_error_callback=template.retry_error_callback,
    )


def retry_after_first(
    template: tenacity.Retrying,
    first: Exception,
    call: Callable[[], Any],
    deadline: float | None,
    clock: Callable[[], float] | None,
    budget: RetryBudget | None,
    trigger: Callable[[Exception], bool],
) -> Any:
    """Hand a first try that raised `first` to a copy of `template`.

    tenacity sees `first` as its first attempt (so the happy path never builds a
    controller), then calls `call` for the retries. The copy re-raises the last
    exception itself, never `tenacity.RetryError`, stops before a sleep would
    pass `deadline` and retries only errors for which `trigger` (the router's
    `fallback_on`) is true: never a `KeyboardInterrupt` or `SystemExit`, nor an
    error that would not move the call on, whatever the template says.
    """
    pending = [first]
    controller = retry_controller(template, deadline, clock, budget, trigger)
    stop = controller.stop if isinstance(controller.stop, _BudgetStop) else None

    def attempt() -> Any:
        if pending:
            raise pending.pop()
        if stop is not None:
            stop.started()
        return call()

    try:
        return controller(attempt)
    finally:
        if stop is not None:  # interrupted in a sleep (Ctrl-C): the unspent unit goes back
            stop.settle()


async def retry_after_first_async(
    template: tenacity.Retrying,
    first: Exception,
    call: Callable[[], Awaitable[Any]],
    deadline: float | None,
    clock: Callable[[], float] | None,
    budget: RetryBudget | None,
    trigger: Callable[[Exception], bool],
) -> Any:
    """`retry_after_first` for an async attempt: tenacity's `AsyncRetrying`, same template."""
    pending = [first]
    controller = retry_controller(template, deadline, clock, budget, trigger, async_=True)
    stop = controller.stop if isinstance(controller.stop, _BudgetStop) else None

    async def attempt() -> Any:
        if pending:
            raise pending.pop()
        if stop is not None:
            stop.started()
        return await call()

    try:
        return await controller(attempt)
    finally:
        if stop is not None:  # cancelled in a sleep: the unspent unit goes back
            stop.settle()
