"""Which failures count: error matchers, HTTP status codes and the caller's own bugs.

Status codes are read duck-typed, so httpx, requests, urllib and the
openai/anthropic/google-genai SDKs work without being dependencies.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TypeAlias, cast

from ._errors import InvalidConfigError

__all__ = [
    "CALLER_BUGS",
    "ErrorMatcher",
    "default_cooldown_on",
    "http_status",
    "http_status_of",
    "is_caller_bug",
    "status_of",
    "to_predicate",
]

ErrorMatcher: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[Exception], bool]
)
"""What `fallback_on=` and `cooldown_on=` accept.

An exception type, a tuple of them, or a predicate taking the exception (such as
[`http_status(429, 503)`][fallback_router.http_status]).
"""

#: 4xx statuses that still say something about the provider, not the request.
_PROVIDER_4XX = frozenset({401, 403, 404, 408, 429})

CALLER_BUGS: tuple[type[Exception], ...] = (
    TypeError,
    AttributeError,
    NameError,
    AssertionError,
    ImportError,
    NotImplementedError,
)
"""Errors that are the caller's own bug: they fall back but never bench a provider.

Applies under the default `cooldown_on`
([`default_cooldown_on`][fallback_router.default_cooldown_on]); `UnboundLocalError`
is a `NameError`.

Version:
    Added in 0.2.0.
"""


def _as_status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    return None


def http_status_of(error: BaseException) -> int | None:
    """Return the HTTP status an error carries, or None.

    Looks at `.status_code` (openai, anthropic), `.response.status_code` (httpx,
    requests), `.status` and `.code` (urllib's `HTTPError`) in that order; only ints
    from 100 to 599 count.

    Args:
        error: any exception.

    Returns:
        The status code, or None when the error carries none.

    Version:
        Added in 0.1.0 as `status_of`. Changed in 0.3.0: renamed; `status_of` warns
        (`DeprecationWarning`) and goes in 0.4.0.
    """
    value = getattr(error, "status_code", None)
    if value is not None and (status := _as_status(value)) is not None:
        return status
    response = getattr(error, "response", None)
    if response is not None:
        value = getattr(response, "status_code", None)
        if value is not None and (status := _as_status(value)) is not None:
            return status
    for name in ("status", "code"):
        value = getattr(error, name, None)
        if value is not None and (status := _as_status(value)) is not None:
            return status
    return None


def status_of(error: BaseException) -> int | None:
    """Deprecated name of [`http_status_of`][fallback_router.http_status_of].

    Warns with a `DeprecationWarning` on each call, then answers as `http_status_of`.

    Version:
        Deprecated in 0.3.0; removed in 0.4.0.
    """
    warnings.warn(
        "fallback_router.status_of is deprecated and goes in 0.4.0; use http_status_of",
        DeprecationWarning,
        stacklevel=2,
    )
    return http_status_of(error)


def http_status(*codes: int | range) -> Callable[[Exception], bool]:
    """Build a predicate true for errors whose HTTP status is one of `codes`.

    Use it as `fallback_on=` or `cooldown_on=`. The status is read by
    [`http_status_of`][fallback_router.http_status_of]; ranges are kept as ranges (no memory
    per code).

    Args:
        *codes: ints or ranges from 100 to 599.

    Returns:
        A predicate over exceptions, named after its codes in reprs.

    Raises:
        InvalidConfigError: no codes, an empty range, or a code or range outside
            100-599.

    Example:
        ```python
        from fallback_router import http_status, routed

        @routed(providers=["a", "b"], cooldown_on=http_status(429, range(500, 600)))
        def complete(provider, prompt): ...
        ```

    Version:
        Added in 0.1.0.
    """
    if not codes:
        msg = "http_status() needs at least one status code"
        raise InvalidConfigError(msg)
    singles: set[int] = set()
    ranges: list[range] = []
    for code in codes:
        if isinstance(code, range):
            if not len(code):
                msg = f"http_status() got {code!r}: an empty range matches no status"
                raise InvalidConfigError(msg)
            if min(code) < 100 or max(code) > 599:
                msg = f"http_status() got {code!r}: ranges must lie within 100-599"
                raise InvalidConfigError(msg)
            ranges.append(code)
        elif _as_status(code) is not None:
            singles.add(code)
        else:
            msg = f"http_status() got {code!r}: expected an int from 100 to 599 or a range"
            raise InvalidConfigError(msg)
    frozen = frozenset(singles)
    spans = tuple(ranges)

    def predicate(error: Exception) -> bool:
        status = http_status_of(error)
        return status is not None and (status in frozen or any(status in r for r in spans))

    predicate.__qualname__ = predicate.__name__ = f"http_status({', '.join(map(repr, codes))})"
    return predicate


def is_caller_bug(error: BaseException) -> bool:
    """Return True for errors that are the routed function's own bug (`CALLER_BUGS`)."""
    return isinstance(error, CALLER_BUGS)


def default_cooldown_on(error: Exception) -> bool:
    """Count every error except a caller's bad request or bug.

    The default `cooldown_on`. Not counted: HTTP 4xx statuses other than 401,
    403, 404, 408 and 429, and the caller's own bugs
    ([`CALLER_BUGS`][fallback_router.CALLER_BUGS]: `TypeError`, `AttributeError`,
    `NameError` and `UnboundLocalError`, `AssertionError`, `ImportError`,
    `NotImplementedError`). They still fall back; they just bench nobody.

    Args:
        error: the provider's exception (one that falls back).

    Returns:
        True when the failure counts towards the provider's cooldown.

    Version:
        Added in 0.1.0. Changed in 0.2.0: the caller's own bugs are no longer counted.
    """
    if isinstance(error, CALLER_BUGS):
        return False
    status = http_status_of(error)
    return status is None or not 400 <= status < 500 or status in _PROVIDER_4XX


def to_predicate(matcher: object, argument: str) -> Callable[[Exception], bool]:
    """Turn an `ErrorMatcher` into a predicate; `argument` names it in errors."""
    if isinstance(matcher, type):
        if issubclass(matcher, BaseException):
            return _isinstance_predicate(matcher)
        msg = f"{argument}: {matcher!r} is a class but not an exception type"
        raise InvalidConfigError(msg)
    if isinstance(matcher, tuple):
        types: list[type[BaseException]] = []
        for item in cast("tuple[object, ...]", matcher):
            if not (isinstance(item, type) and issubclass(item, BaseException)):
                msg = f"{argument}: {item!r} in {matcher!r} is not an exception type"
                raise InvalidConfigError(msg)
            types.append(item)
        return _isinstance_predicate(tuple(types))
    if callable(matcher):
        return cast("Callable[[Exception], bool]", matcher)
    msg = f"{argument} must be an exception type, a tuple of them or a predicate, got {matcher!r}"
    raise InvalidConfigError(msg)


def _isinstance_predicate(
    types: type[BaseException] | tuple[type[BaseException], ...],
) -> Callable[[Exception], bool]:
    def predicate(error: Exception) -> bool:
        return isinstance(error, types)

    return predicate
