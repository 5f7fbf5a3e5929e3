"""Errors raised by fallback_router.

The hierarchy::

    Exception
    └── RoutingError                      base of everything the library raises itself
        ├── InvalidConfigError (+ValueError)   bad configuration or argument
        │   └── NoProvidersError               the provider collection is empty
        ├── AllProvidersFailedError (+ExceptionGroup)
        │                                      the routed call failed; holds every error
        └── DeadlineExceededError (+TimeoutError)
                                               the call's time budget ran out

Errors raised by providers that are not fallback triggers, and ``BaseException``s
such as ``KeyboardInterrupt``, propagate unchanged and are never wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from ._results import Attempt

__all__ = [
    "AllProvidersFailedError",
    "DeadlineExceededError",
    "InvalidConfigError",
    "NoProvidersError",
    "RoutingError",
]


class RoutingError(Exception):
    """Base class of every error fallback_router raises itself.

    .. versionadded:: 0.1.0
    """


class InvalidConfigError(RoutingError, ValueError):
    """Configuration or an argument is invalid; the message names the bad value.

    .. versionadded:: 0.1.0
    """


class NoProvidersError(InvalidConfigError):
    """The provider collection is empty.

    .. versionadded:: 0.1.0
    """


class AllProvidersFailedError(RoutingError, ExceptionGroup):
    """Every attempted provider failed with a fallback-triggering error.

    It is an ``ExceptionGroup``: ``.exceptions`` holds each provider's error in
    attempt order, so ``except* RateLimitError as group:`` works, and ``group`` is
    still an ``AllProvidersFailedError`` (``derive`` keeps the attributes).
    ``.attempts`` holds the :class:`Attempt` records, ``.last_error`` the last
    provider's error and ``.skipped`` the names passed over (in cooldown, or
    saturated under ``max_concurrency``).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``skipped``; ``except*`` keeps the type and attributes.
    """

    attempts: tuple[Attempt, ...]
    skipped: tuple[str, ...]

    def __new__(
        cls,
        message: str,
        exceptions: Sequence[Exception],
        *,
        attempts: Sequence[Attempt] = (),
        skipped: Sequence[str] = (),
    ) -> Self:
        """Build the group; ``attempts`` and ``skipped`` describe the routed call."""
        self = super().__new__(cls, message, exceptions)
        self.attempts = tuple(attempts)
        self.skipped = tuple(skipped)
        return self

    def __init__(
        self,
        message: str,
        exceptions: Sequence[Exception],
        *,
        attempts: Sequence[Attempt] = (),  # noqa: ARG002 - stored by __new__
        skipped: Sequence[str] = (),  # noqa: ARG002 - stored by __new__
    ) -> None:
        super().__init__(message, exceptions)

    @property
    def last_error(self) -> Exception:
        """The error of the last attempted provider (of the whole call, after a split)."""
        errors = [a.error for a in self.attempts if a.error is not None]
        return errors[-1] if errors else self.exceptions[-1]

    def derive(self, excs: Sequence[Exception]) -> AllProvidersFailedError:  # type: ignore[override]
        """Return a group of ``excs`` with this one's attempts and skipped names.

        ``except*`` and ``split``/``subgroup`` call it; the matched part keeps the
        type and the call's facts.
        """
        return AllProvidersFailedError(
            self.message, excs, attempts=self.attempts, skipped=self.skipped
        )


class DeadlineExceededError(RoutingError, TimeoutError):
    """The routed call's time budget (``timeout=``) ran out between attempts.

    ``.attempts`` holds the attempts made so far and ``.timeout`` the budget; the
    last provider error, if any, is chained as ``__cause__``.

    .. versionadded:: 0.1.0
    """

    def __init__(self, message: str, *, timeout: float, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.attempts: tuple[Attempt, ...] = tuple(attempts)

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last attempt, or None when no attempt was made."""
        return self.attempts[-1].error if self.attempts else None
