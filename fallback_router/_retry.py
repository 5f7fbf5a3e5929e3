"""Per-provider retries: continue a failed first try under a tenacity template."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import tenacity

__all__ = ["retry_after_first"]


class _BudgetStop(tenacity.stop.stop_base):
    """The template's stop, or earlier: before a sleep would pass the call's deadline."""

    def __init__(
        self,
        inner: Callable[[tenacity.RetryCallState], bool],
        deadline: float,
        clock: Callable[[], float] | None,
    ) -> None:
        self.inner = inner
        self.deadline = deadline
        self.clock = clock

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if self.inner(retry_state):
            return True
        now = self.clock() if self.clock is not None else time.monotonic()
        return now + retry_state.upcoming_sleep >= self.deadline


class _ExceptionsOnly(tenacity.retry_base):
    """The template's retry predicate, but never for non-``Exception`` outcomes."""

    def __init__(
        self, inner: tenacity.retry_base | Callable[[tenacity.RetryCallState], bool]
    ) -> None:
        self.inner = inner

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        if (
            outcome is not None
            and outcome.failed
            and not isinstance(outcome.exception(), Exception)
        ):
            return False  # KeyboardInterrupt, SystemExit...: propagate at once
        return bool(self.inner(retry_state))


def retry_after_first(
    template: tenacity.Retrying,
    first: Exception,
    call: Callable[[], Any],
    deadline: float | None,
    clock: Callable[[], float] | None,
) -> Any:
    """Hand a first try that raised ``first`` to a copy of ``template``.

    tenacity sees ``first`` as its first attempt (so the happy path never builds a
    controller), then calls ``call`` for the retries. The copy re-raises the last
    exception itself, never ``tenacity.RetryError``, stops before a sleep would
    pass ``deadline`` and never retries a ``BaseException`` that is not an
    ``Exception`` (``KeyboardInterrupt``, ``SystemExit``), whatever the template says.
    """
    pending = [first]

    def attempt() -> Any:
        if pending:
            raise pending.pop()
        return call()

    stop = template.stop
    if deadline is not None:
        stop = _BudgetStop(stop, deadline, clock)
    retry = _ExceptionsOnly(template.retry)
    return template.copy(stop=stop, retry=retry, reraise=True)(attempt)
