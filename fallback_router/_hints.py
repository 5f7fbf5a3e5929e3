"""Rate-limit hints: how long a server asks a client to wait, read from its error.

Read duck-typed from the error's attributes and its response headers, so httpx,
requests, urllib, the `openai` SDK and `google-genai` work without being
dependencies. In order (the first present wins):

1. `retry-after-ms` (milliseconds; the OpenAI SDK honours it first);
2. `Retry-After` (delta-seconds or an HTTP date), or an error's `.retry_after`;
3. on a 429 only: OpenAI's `x-ratelimit-reset-requests` / `-tokens` (durations
   such as `6m0s`): the reset of the limit whose `x-ratelimit-remaining-*` is 0,
   else the longest;
4. on a 429 only: Google's `RetryInfo.retryDelay` in the error details
   (`google-genai`'s `errors.ClientError.details`).

Values that are present but not understood (negative, NaN, infinite, not digits)
raise [`UnparsableRetryAfterError`][fallback_router.UnparsableRetryAfterError]; huge
values are clamped to `HUGE` seconds (a year), never an `OverflowError`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from ._classify import http_status_of

__all__ = ["HUGE", "UnparsableRetryAfterError", "parse_retry_after", "retry_after_of"]

#: Seconds any hint is clamped to before the tracker's own cap (a year).
HUGE = 365 * 86_400.0

_DELTA = re.compile(r"\s*(\d+(?:\.\d+)?)\s*")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_RETRY_INFO = "google.rpc.RetryInfo"


class UnparsableRetryAfterError(ValueError):
    """A rate-limit hint was present but could not be understood.

    Raised by [`retry_after_of`][fallback_router.retry_after_of]; `args[0]` is the
    value as found. The trackers catch it, log "unparsable Retry-After" and use
    the normal cooldown.

    Version:
        Added in 0.2.0.
    """


def _seconds(text: str, value: object, scale: float = 1.0) -> float:
    """Parse decimal digits (no sign, no exponent) into clamped seconds."""
    match = _DELTA.fullmatch(text)
    if match is None:
        raise UnparsableRetryAfterError(value)
    try:
        number = Decimal(match.group(1)) * Decimal(scale)
    except InvalidOperation:  # pragma: no cover - the regex admits only digits
        raise UnparsableRetryAfterError(value) from None
    return float(min(number, Decimal(HUGE)))


def _number(value: object) -> float:
    """Clamp a numeric hint; reject NaN, infinities and negatives."""
    if isinstance(value, int):
        if value < 0:
            raise UnparsableRetryAfterError(value)
        return float(min(value, int(HUGE)))
    seconds = cast("float", value)
    if not math.isfinite(seconds) or seconds < 0:
        raise UnparsableRetryAfterError(value)
    return min(seconds, HUGE)


def parse_retry_after(value: object, now: Callable[[], float] | None = None) -> float:
    """Parse a `Retry-After` value into seconds (at most `HUGE`).

    Accepts non-negative numbers, `timedelta`, digit strings and HTTP dates (RFC
    9110); a date is measured against `now()` (default `time.time`, looked up at
    call time) and a past date means 0. Raises `UnparsableRetryAfterError` for
    anything else: negative numbers, NaN, infinities, signs, exponents, words.
    """
    if isinstance(value, dt.timedelta):
        return _number(value.total_seconds())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    if not isinstance(value, str | bytes):
        raise UnparsableRetryAfterError(value)
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if _DELTA.fullmatch(text):
        return _seconds(text, value)
    try:
        when = email.utils.parsedate_to_datetime(text.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        raise UnparsableRetryAfterError(value) from None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=dt.UTC)
    seconds = when.timestamp() - (now() if now is not None else time.time())
    return min(max(0.0, seconds), HUGE)


def parse_duration(value: object) -> float:
    """Parse an OpenAI reset duration (`1s`, `6m0s`, `20ms`, `1h2m3.5s`)."""
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    if not isinstance(text, str) or not _DURATION.fullmatch(text.strip()):
        raise UnparsableRetryAfterError(value)
    total = sum(
        Decimal(number) * Decimal(_UNIT[unit])
        for number, unit in _DURATION_PART.findall(text.strip())
    )
    return float(min(total, Decimal(HUGE)))


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


def _openai_reset(headers: Any) -> float | None:
    """The reset of the exhausted limit, else the longest reset; None without any."""
    resets: dict[str, float] = {}
    for kind in ("requests", "tokens"):
        raw = _header(headers, f"x-ratelimit-reset-{kind}")
        if raw is not None:
            resets[kind] = parse_duration(raw)
    if not resets:
        return None
    for kind, seconds in resets.items():
        remaining = _header(headers, f"x-ratelimit-remaining-{kind}")
        if isinstance(remaining, bytes):
            remaining = remaining.decode("latin-1")
        if isinstance(remaining, str) and remaining.strip() == "0":
            return seconds
    return max(resets.values())


def _iter_details(details: object) -> Iterable[Mapping[str, object]]:
    """Yield every mapping in a Google error payload's `details` lists."""
    if isinstance(details, Mapping):
        payload = cast("Mapping[str, object]", details)
        inner = payload.get("error")
        if isinstance(inner, Mapping):
            payload = cast("Mapping[str, object]", inner)
        details = payload.get("details")
    if isinstance(details, list | tuple):
        for item in cast("Iterable[object]", details):
            if isinstance(item, Mapping):
                yield cast("Mapping[str, object]", item)


def _google_retry_delay(error: BaseException) -> float | None:
    for item in _iter_details(getattr(error, "details", None)):
        kind = item.get("@type")
        if isinstance(kind, str) and kind.endswith(_RETRY_INFO) and "retryDelay" in item:
            return parse_duration(item["retryDelay"])
    return None


def retry_after_of(error: BaseException) -> float | None:
    """Return the seconds a server asked to wait before calling again, or None.

    Read duck-typed from the error's `.response.headers`, `.headers` and
    attributes (httpx, requests, urllib, the `openai` SDK, `google-genai`); the
    first hint present wins:

    1. `retry-after-ms` (milliseconds; the OpenAI SDK honours it first);
    2. `Retry-After` (delta-seconds or an HTTP date), or the error's `.retry_after`;
    3. on a 429 only: OpenAI's `x-ratelimit-reset-requests` / `-tokens` (durations
       such as `6m0s`): the reset of the limit whose `x-ratelimit-remaining-*` is
       `0`, else the longest;
    4. on a 429 only: Google's `RetryInfo.retryDelay` in the error details
       (`google-genai`'s `errors.ClientError.details`).

    Huge values are clamped to a year, never an `OverflowError`; the trackers then
    clamp to their own `max_duration` (or one hour).

    Args:
        error: the provider's exception.

    Returns:
        Seconds to wait, or None when the error carries no hint.

    Raises:
        UnparsableRetryAfterError: a hint is present but not understood (negative,
            NaN, infinite, signs, exponents, words).

    Version:
        Added in 0.1.0. Changed in 0.2.0: reads `retry-after-ms`, OpenAI's
        `x-ratelimit-reset-*` and Google's `RetryInfo`; rejects negative, NaN and
        infinite values; clamps huge ones.
    """
    headers = _headers_of(error)
    if headers is not None:
        millis = _header(headers, "retry-after-ms")
        if millis is not None:
            text = millis.decode("latin-1") if isinstance(millis, bytes) else millis
            if not isinstance(text, str):
                return _number(millis) / 1000.0
            return _seconds(text, millis, 0.001)
    value = getattr(error, "retry_after", None)
    if value is None and headers is not None:
        value = _header(headers, "Retry-After")
    if value is not None:
        return parse_retry_after(value)
    if http_status_of(error) != 429:
        return None
    if headers is not None:
        reset = _openai_reset(headers)
        if reset is not None:
            return reset
    return _google_retry_delay(error)
