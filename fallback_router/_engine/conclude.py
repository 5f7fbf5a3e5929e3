"""How a failed call is told: the error its caller receives (`call_error`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fallback_router._classify import is_caller_bug
from fallback_router._errors import (
    AllProvidersBenchedError,
    AllProvidersFailedError,
    DeadlineExceededError,
    RoutingError,
)
from fallback_router._lease import BUDGET, COOLDOWN, HUNG, PROBING, RATE_LIMITED, SATURATED
from fallback_router._redact import redact
from fallback_router._surfaces.text import listing

__all__ = [
    "BUDGET",
    "COOLDOWN",
    "HUNG",
    "PROBING",
    "RATE_LIMITED",
    "SATURATED",
    "call_error",
]


def call_error(call: Any) -> Exception:
    """The error the caller of a call that served nothing receives.

    `call` is the call's [`CallFacts`][fallback_router._engine.facts.CallFacts]
    (typed loosely: the facts import this module).
    """
    setup = call.setup
    attempts = call.attempts()
    errors = [attempt.error for attempt in attempts if attempt.error is not None]
    error: Exception
    if call.held_by_hint and not attempts and not call.timed_out:
        error = _benched_error(call)
    elif call.hung and not errors and not call.timed_out:
        # Nothing was attempted: every provider left is hung. Fail at once, saying so.
        error = AllProvidersFailedError(
            "no provider could be attempted" + _skips_text(call),
            [_hung_error(call, name) for name in call.hung],
            attempts=attempts,
            skipped=call.skipped,
        )
    elif call.timed_out or not errors:
        timeout = setup.config.timeout
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
    elif setup.config.reraise:
        error = errors[-1]
    else:
        tried = listing([redact(a.provider) for a in attempts])
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


def _benched_error(call: Any) -> AllProvidersBenchedError:
    """No attempt: every provider left is benched by a hint (`respect_retry_after`)."""
    left = call.benched_left
    retry_after = min(left.values()) if left else 0.0
    names = listing([redact(n) for n in left]) or listing(
        [redact(n) for n in dict.fromkeys(call.skipped)]
    )
    return AllProvidersBenchedError(
        f"every provider is benched by a hint ({names}); the earliest is available "
        f"in {retry_after:.1f} s",
        retry_after=retry_after,
        skipped=call.skipped,
    )


def _hung_error(call: Any, name: str) -> RoutingError:
    abandoned = call.setup.abandoned
    limit = abandoned.limit(name) if abandoned is not None else None
    return RoutingError(f"{redact(name)}: {HUNG} (max_abandoned={limit} reached)")


def _skips_text(call: Any) -> str:
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
            text += f"; skipped {label}: {listing([redact(n) for n in dict.fromkeys(names)])}"
    if hung:
        text += f"; skipped {HUNG}: {listing([redact(n) for n in hung])}"
    return text


def caller_bug_hint(errors: Sequence[Exception]) -> str:
    """A sentence for the failure message when every error is the same caller bug."""
    kinds = {type(e) for e in errors}
    if errors and len(kinds) == 1 and is_caller_bug(errors[0]):
        return (
            f"; every attempt raised {type(errors[0]).__name__}: this looks like a bug in "
            f"the routed function rather than a provider failure"
        )
    return ""
