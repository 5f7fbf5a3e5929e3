"""Which failures count: error matchers, HTTP status and ``Retry-After`` parsing.

Status codes and ``Retry-After`` are read duck-typed, so httpx, requests, urllib and
the openai/anthropic SDKs work without being dependencies.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import time
from collections.abc import Callable
from typing import Any, TypeAlias, cast

from ._errors import InvalidConfigError

__all__ = [
    "ErrorMatcher",
    "default_cooldown_on",
    "http_status",
    "retry_after_of",
    "status_of",
    "to_predicate",
]

#: What ``fallback_on`` / ``cooldown_on`` accept: an exception type, a tuple of
#: them, or a predicate taking the exception.
ErrorMatcher: TypeAlias = (
    type[BaseException] | tuple[type[BaseException], ...] | Callable[[Exception], bool]
)

#: 4xx statuses that still say something about the provider, not the request.
_PROVIDER_4XX = frozenset({401, 403, 404, 408, 429})


def _as_status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    return None


def status_of(error: BaseException) -> int | None:
    """Return the HTTP status an error carries, or None.

    Looks at ``.status_code``, ``.response.status_code``, ``.status`` and ``.code``
    in that order; only ints from 100 to 599 count.

    .. versionadded:: 0.1.0
    """
    status = _as_status(getattr(error, "status_code", None))
    if status is None:
        response = getattr(error, "response", None)
        if response is not None:
            status = _as_status(getattr(response, "status_code", None))
    if status is None:
        status = _as_status(getattr(error, "status", None))
    if status is None:
        status = _as_status(getattr(error, "code", None))
    return status


def http_status(*codes: int | range) -> Callable[[Exception], bool]:
    """Build a predicate true for errors whose HTTP status is one of ``codes``.

    ``codes`` are ints or ranges, e.g. ``http_status(429, range(500, 600))``.
    Use it as ``fallback_on=`` or ``cooldown_on=``.

    .. versionadded:: 0.1.0
    """
    if not codes:
        msg = "http_status() needs at least one status code"
        raise InvalidConfigError(msg)
    wanted: set[int] = set()
    for code in codes:
        if isinstance(code, range):
            wanted.update(code)
        elif _as_status(code) is not None:
            wanted.add(code)
        else:
            msg = f"http_status() got {code!r}: expected an int from 100 to 599 or a range"
            raise InvalidConfigError(msg)
    frozen = frozenset(wanted)

    def predicate(error: Exception) -> bool:
        return status_of(error) in frozen

    predicate.__qualname__ = predicate.__name__ = f"http_status({', '.join(map(repr, codes))})"
    return predicate


def default_cooldown_on(error: Exception) -> bool:
    """Count every error except 4xx statuses other than 401, 403, 404, 408 and 429.

    .. versionadded:: 0.1.0
    """
    status = status_of(error)
    return status is None or not 400 <= status < 500 or status in _PROVIDER_4XX


def to_predicate(matcher: object, argument: str) -> Callable[[Exception], bool]:
    """Turn an :data:`ErrorMatcher` into a predicate; ``argument`` names it in errors."""
    if isinstance(matcher, type) and issubclass(matcher, BaseException):
        return _isinstance_predicate(matcher)
    if isinstance(matcher, tuple):
        types: list[type[BaseException]] = []
        for item in cast("tuple[object, ...]", matcher):
            if not (isinstance(item, type) and issubclass(item, BaseException)):
                msg = f"{argument}: {item!r} in {matcher!r} is not an exception type"
                raise InvalidConfigError(msg)
            types.append(item)
        return _isinstance_predicate(tuple(types))
    if callable(matcher):  # pyright: ignore[reportUnknownArgumentType]
        return cast("Callable[[Exception], bool]", matcher)
    msg = f"{argument} must be an exception type, a tuple of them or a predicate, got {matcher!r}"
    raise InvalidConfigError(msg)


def _isinstance_predicate(
    types: type[BaseException] | tuple[type[BaseException], ...],
) -> Callable[[Exception], bool]:
    def predicate(error: Exception) -> bool:
        return isinstance(error, types)

    return predicate


def _headers_of(error: BaseException) -> Any:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None) if response is not None else None
    if headers is None:
        headers = getattr(error, "headers", None)
    return headers


def _header(headers: Any, name: str) -> object:
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None:
        value = getter(name.lower())
    return value


class UnparsableRetryAfterError(ValueError):
    """A ``Retry-After`` value was present but could not be understood."""


def parse_retry_after(value: object, now: Callable[[], float] | None = None) -> float:
    """Parse a ``Retry-After`` value into non-negative seconds.

    Accepts numbers, ``timedelta``, digit strings and HTTP dates (RFC 9110), the
    latter measured against ``now()`` (default ``time.time``, looked up at call
    time). Raises ``UnparsableRetryAfterError`` for anything else.
    """
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str | bytes):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        text = text.strip()
        try:
            seconds = float(text)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                raise UnparsableRetryAfterError(value) from None
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            seconds = when.timestamp() - (now() if now is not None else time.time())
    else:
        raise UnparsableRetryAfterError(value)
    if math.isnan(seconds):
        raise UnparsableRetryAfterError(value)
    return max(0.0, seconds)


def retry_after_of(error: BaseException) -> float | None:
    """Return the ``Retry-After`` seconds an error carries, or None.

    Read from ``.retry_after``, then the ``Retry-After`` header of
    ``.response.headers`` or ``.headers``. Raises ``UnparsableRetryAfterError``
    when a value is present but not understood.

    .. versionadded:: 0.1.0
    """
    value = getattr(error, "retry_after", None)
    if value is None:
        headers = _headers_of(error)
        if headers is None:
            return None
        value = _header(headers, "Retry-After")
        if value is None:
            return None
    return parse_retry_after(value)
