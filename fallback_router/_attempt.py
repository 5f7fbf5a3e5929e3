"""One provider attempt: its context, its clock, its retries and its latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import tenacity

from ._results import CURRENT, AttemptState
from ._retry import retry_after_first

__all__ = ["Outcome", "attempt"]


class Outcome(NamedTuple):
    """What one attempt produced: a response or an error, and when it ran."""

    response: Any
    error: Exception | None
    start: float
    end: float


def attempt(
    call: Callable[[], Any],
    state: AttemptState,
    clock: Callable[[], float],
    retry: tenacity.Retrying | None,
    first: Outcome | None = None,
) -> Outcome:
    """Run ``call`` as one attempt and return its :class:`Outcome`; never raises ``Exception``.

    ``current_attempt()`` describes ``state`` while it runs. A failure goes to the
    ``retry`` template (bounded by the attempt's deadline) before it is reported;
    ``first`` is an attempt the caller already made (the inlined happy path), which
    is then only continued. ``BaseException``s that are not ``Exception``
    propagate at once and are never retried.
    """
    token = CURRENT.set(state)
    try:
        if first is None:
            start = clock()
            try:
                return Outcome(call(), None, start, clock())
            except Exception as exc:  # noqa: BLE001 - reported, not handled, here
                error = exc
        else:
            assert first.error is not None  # noqa: S101 - only failed attempts are continued
            start, error = first.start, first.error
        if retry is None:
            return Outcome(None, error, start, clock())
        try:
            response = retry_after_first(retry, error, call, state[3], state[4])
        except Exception as exc:  # noqa: BLE001 - the retries' last error is the outcome
            return Outcome(None, exc, start, clock())
        return Outcome(response, None, start, clock())
    finally:
        CURRENT.reset(token)


def now_of(clock: Callable[[], float] | None) -> Callable[[], float]:
    """The clock to read: the router's, else ``time.monotonic`` looked up now."""
    return clock if clock is not None else time.monotonic
