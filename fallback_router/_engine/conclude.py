"""How a failed call concludes: the error it raises (`failure`).

Also the reasons a provider is passed over (`ProviderSkipped.reason`), which the
error's message names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from fallback_router._errors import AllProvidersFailedError, DeadlineExceededError, RoutingError

from .record import caller_bug_hint
from .setup import Setup

if TYPE_CHECKING:
    from fallback_router._results import Attempt

__all__ = [
    "BUDGET",
    "COOLDOWN",
    "HUNG",
    "PROBING",
    "RATE_LIMITED",
    "SATURATED",
    "Concluded",
    "failure",
]

#: Why a provider was passed over (`ProviderSkipped.reason`).
COOLDOWN, PROBING, SATURATED = "cooldown", "probe in flight", "saturated"
RATE_LIMITED, BUDGET = "rate limited", "retry budget"
#: Saturated by abandoned attempts (`max_abandoned`): passed over as SATURATED, never
#: waited for (a hung provider's attempts may never end).
HUNG = "saturated by abandoned attempts"


class Concluded(Protocol):
    """The facts of a call that the conclusion reads (a `CallFacts`)."""

    setup: Setup
    hung: list[str]
    timed_out: bool
    budget_refused: bool
    skipped: list[str]
    reasons: list[str]

    def attempts(self) -> list[Attempt]:
        """The attempt records so far."""
        ...


def failure(call: Concluded) -> Exception:
    """The error a failed call raises (`CallFacts.error` sends `CallFailed` with it)."""
    setup = call.setup
    attempts = call.attempts()
    errors = [attempt.error for attempt in attempts if attempt.error is not None]
    error: Exception
    if call.hung and not errors and not call.timed_out:
        # Nothing was attempted: every provider left is hung. Fail at once, saying so.
        errors = [_hung_error(call, name) for name in call.hung]
        error = AllProvidersFailedError(
            "no provider could be attempted" + _skips_text(call),
            errors,
            attempts=attempts,
            skipped=call.skipped,
        )
    elif call.timed_out or not errors:
        timeout = setup.timeout
        what = (
            f"time budget of {timeout} s ran out"
            if timeout is not None
            else "no provider could be attempted"
        )
        error = DeadlineExceededError(
            f"{what} after {len(attempts)} attempt(s)" + _skips_text(call),
            timeout=timeout if timeout is not None else float("inf"),
            attempts=attempts,
        )
        error.__cause__ = errors[-1] if errors else None
    elif setup.reraise:
        error = errors[-1]
    else:
        tried = ", ".join(a.provider for a in attempts)
        if setup.planner.failover:
            message = f"all providers failed ({tried})"
        else:
            message = f"{setup.planner.name.replace('_', '-')} provider failed: {tried}"
        if call.budget_refused:
            message += "; retry budget exhausted: no further attempt"
        error = AllProvidersFailedError(
            message + _skips_text(call) + caller_bug_hint(errors),
            errors,
            attempts=attempts,
            skipped=call.skipped,
        )
    return error


def _hung_error(call: Concluded, name: str) -> RoutingError:
    abandoned = call.setup.abandoned
    limit = abandoned.limit(name) if abandoned is not None else None
    return RoutingError(f"{name}: {HUNG} (max_abandoned={limit} reached)")


def _skips_text(call: Concluded) -> str:
    text = ""
    hung = call.hung
    labels = (
        ((COOLDOWN, PROBING), "in cooldown"),
        ((SATURATED,), "saturated"),
        ((RATE_LIMITED,), "rate limited"),
    )
    for reasons, label in labels:
        names = [
            n
            for n, r in zip(call.skipped, call.reasons, strict=True)
            if r in reasons and n not in hung
        ]
        if names:
            text += f"; skipped {label}: {', '.join(dict.fromkeys(names))}"
    if hung:
        text += f"; skipped {HUNG}: {', '.join(hung)}"
    return text
