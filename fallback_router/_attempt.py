"""One provider attempt: its context, its clock, its retries and its latency."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tenacity

from ._results import CURRENT, AttemptState
from ._retry import retry_after_first

__all__ = ["Outcome", "attempt"]


#: What one attempt produced: ``(response, error, start, end)`` — a response or an
#: error (never both) and when it ran, on the router's clock. A plain tuple: the
#: call path builds one per attempt.
Outcome = tuple[Any, Exception | None, float, float]


def attempt(
    call: Callable[[], Any],
    state: AttemptState,
    clock: Callable[[], float],
    retry: tenacity.Retrying | None,
    first: Outcome | None = None,
) -> Outcome:
    """Run ``call`` as one attempt and return its :data:`Outcome`; never raises ``Exception``.

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
                return (call(), None, start, clock())
            except Exception as exc:  # noqa: BLE001 - reported, not handled, here
                error = exc
        else:
            _, failed, start, _ = first
            assert failed is not None  # noqa: S101 - only failed attempts are continued
            error = failed
        if retry is None:
            return (None, error, start, clock())
        try:
            response = retry_after_first(retry, error, call, state[3], state[4])
        except Exception as exc:  # noqa: BLE001 - the retries' last error is the outcome
            return (None, exc, start, clock())
        return (response, None, start, clock())
    finally:
        CURRENT.reset(token)
