"""Errors raised by fallback_router.

The hierarchy:

```text
Exception
└── RoutingError                         base of everything the library raises itself
    ├── InvalidConfigError (+ValueError)      bad configuration or argument
    │   └── NoProvidersError                  the provider collection is empty
    ├── AllProvidersFailedError (+ExceptionGroup)
    │                                         the routed call failed; holds every error
    ├── AllProvidersBenchedError              no attempt: every provider is benched by a hint
    ├── DeadlineExceededError (+TimeoutError) the call's time budget ran out
    ├── AttemptTimeoutError (+TimeoutError)   one attempt ran past its limit
    ├── StreamInterrupted                     a stream failed after delivering items
    └── RejectedResponseError                 `accept=` rejected a response
```

Errors raised by providers that are not fallback triggers, and `BaseException`s
such as `KeyboardInterrupt`, propagate unchanged and are never wrapped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Self

from ._redact import redact
from ._surfaces.display import error_html, error_markdown
from ._surfaces.reprs import error_repr
from ._surfaces.text import seconds

if TYPE_CHECKING:
    from ._results import Attempt

__all__ = [
    "AllProvidersBenchedError",
    "AllProvidersFailedError",
    "AttemptTimeoutError",
    "DeadlineExceededError",
    "InvalidConfigError",
    "NoProvidersError",
    "RejectedResponseError",
    "RoutingError",
    "StreamInterrupted",
]


class RoutingError(Exception):
    """Base class of every error fallback_router raises itself.

    Its `repr()` is redacted (provider names and error texts, DESIGN §8b); the
    attributes keep the real provider names and the providers' own errors.

    Version:
        Added in 0.1.0. Changed in 0.3.0: redacted `repr()`.
    """

    def __repr__(self) -> str:
        return redact(super().__repr__())


class InvalidConfigError(RoutingError, ValueError):
    """Configuration or an argument is invalid; the message names the bad value.

    The message is redacted (a provider name with `?key=...` shows `?key=***`).

    Version:
        Added in 0.1.0.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class NoProvidersError(InvalidConfigError):
    """The provider collection is empty.

    Version:
        Added in 0.1.0.
    """


class AllProvidersFailedError(RoutingError, ExceptionGroup):
    """Every attempted provider failed with a fallback-triggering error.

    It is an `ExceptionGroup`: `.exceptions` holds each provider's error in
    attempt order, so `except* RateLimitError as group:` works, and `group` is
    still an `AllProvidersFailedError` (`derive` keeps the attributes).
    `.attempts` holds the [`Attempt`][fallback_router.Attempt] records,
    `.last_error` the last provider's error and `.skipped` the names passed over
    (in cooldown, probed elsewhere, saturated or rate limited). In a notebook it
    shows the attempt chain, with error texts redacted.

    Version:
        Added in 0.1.0. Changed in 0.2.0: `skipped`; `except*` keeps the type and
        attributes. Changed in 0.3.0: notebook display.
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
        """Build the group; `attempts` and `skipped` describe the routed call."""
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

    def __repr__(self) -> str:
        """The message and each attempt's redacted error text (never the errors' reprs)."""
        texts = [error_repr(a.error, a.error_text) for a in self.attempts if a.error is not None]
        if not texts:
            texts = [error_repr(e) for e in self.exceptions]
        return redact(f"{type(self).__name__}({self.message!r}, [{', '.join(texts)}])")

    def derive(self, excs: Sequence[Exception]) -> AllProvidersFailedError:  # type: ignore[override]
        """Return a group of `excs` with this one's attempts and skipped names.

        `except*` and `split`/`subgroup` call it; the matched part keeps the type
        and the call's facts.
        """
        return AllProvidersFailedError(
            self.message, excs, attempts=self.attempts, skipped=self.skipped
        )

    def _repr_html_(self) -> str:
        """The attempt chain as HTML for notebooks (escaped, redacted)."""
        return error_html(self, self.attempts, self.skipped)

    def _repr_markdown_(self) -> str:
        """The attempt chain as Markdown (escaped, redacted)."""
        return error_markdown(self, self.attempts, self.skipped)


class AllProvidersBenchedError(RoutingError):
    """No provider may be tried: each is benched by an explicit hint.

    Raised, without any attempt, by a router with `respect_retry_after=True`
    when every provider of the call is benched by a server's hint
    (`retry-after-ms`, `Retry-After`, rate-limit reset headers, `RetryInfo`)
    or by `cooldown_for=`. `.retry_after` is the seconds until the earliest of
    them is available again (a web service can answer 503 with that
    `Retry-After`), `.skipped` the names passed over. It is not an
    `AllProvidersFailedError`: no provider failed in this call.

    Version:
        Added in 0.3.0.
    """

    def __init__(self, message: str, *, retry_after: float, skipped: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.skipped: tuple[str, ...] = tuple(skipped)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_benched, (str(self), self.retry_after, self.skipped))


def _rebuild_benched(
    message: str, retry_after: float, skipped: tuple[str, ...]
) -> AllProvidersBenchedError:
    return AllProvidersBenchedError(message, retry_after=retry_after, skipped=skipped)


class DeadlineExceededError(RoutingError, TimeoutError):
    """The routed call's time budget (`timeout=`) ran out.

    `.attempts` holds the attempts made so far (an attempt the budget
    interrupted is among them, its error an
    [`AttemptTimeoutError`][fallback_router.AttemptTimeoutError]) and `.timeout`
    the budget; the last provider error, if any, is chained as `__cause__`.

    Version:
        Added in 0.1.0. Changed in 0.3.0: raised within the budget even while a
        provider hangs; notebook display.
    """

    def __init__(self, message: str, *, timeout: float, attempts: Sequence[Attempt] = ()) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.attempts: tuple[Attempt, ...] = tuple(attempts)

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last attempt, or None when no attempt was made."""
        return self.attempts[-1].error if self.attempts else None

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_deadline, (str(self), self.timeout, self.attempts))

    def _repr_html_(self) -> str:
        """The attempt chain as HTML for notebooks (escaped, redacted)."""
        return error_html(self, self.attempts, ())

    def _repr_markdown_(self) -> str:
        """The attempt chain as Markdown (escaped, redacted)."""
        return error_markdown(self, self.attempts, ())


def _rebuild_deadline(
    message: str, timeout: float, attempts: tuple[Attempt, ...]
) -> DeadlineExceededError:
    return DeadlineExceededError(message, timeout=timeout, attempts=attempts)


class AttemptTimeoutError(RoutingError, TimeoutError):
    """One attempt ran past its limit; it counts as that provider's failure.

    Raised for `attempt_timeout=`, a stream's `first_item_timeout=` and
    `idle_timeout=`. `.provider` names the provider, `.limit` the limit in
    seconds and `.kind` which limit it was (`"attempt"`, `"first item"`,
    `"idle"` or `"budget"` when the call's whole budget ran out during it).

    Version:
        Added in 0.3.0.
    """

    def __init__(self, provider: str, limit: float, kind: str = "attempt") -> None:
        super().__init__(f"{kind} timed out after {seconds(limit)} on {redact(provider)}")
        self.provider = provider
        self.limit = limit
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.provider, self.limit, self.kind))


class StreamInterrupted(RoutingError):  # noqa: N818 - the name the design gives it
    """A stream failed after it had delivered items; no other provider was tried.

    `.provider` served the stream, `.items` is how many items the consumer
    received and `__cause__` is the provider's error (an
    [`AttemptTimeoutError`][fallback_router.AttemptTimeoutError] when the stream
    fell silent past `idle_timeout=`). A cut stream never looks like a complete
    one.

    Version:
        Added in 0.3.0.
    """

    def __init__(self, provider: str, items: int) -> None:
        super().__init__(f"stream from {redact(provider)} failed after {items} item(s)")
        self.provider = provider
        self.items = items

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.provider, self.items))


class RejectedResponseError(RoutingError):
    """`accept=` returned False for a provider's response.

    It is that provider's failure and counts for cooldown; `.response` keeps
    the rejected response (for a buffered stream, the list of its items) and
    `.provider` names the provider.

    Version:
        Added in 0.3.0.
    """

    def __init__(self, provider: str, response: object) -> None:
        super().__init__(f"response from {redact(provider)} rejected by accept=")
        self.provider = provider
        self.response = response

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.provider, self.response))
