"""Which failures count (DESIGN §5): status codes, http_status, Retry-After parsing."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

from fallback_router import (
    InMemoryCooldown,
    InvalidConfigError,
    default_cooldown_on,
    http_status,
    retry_after_of,
    routed,
    status_of,
)
from fallback_router._hints import UnparsableRetryAfterError, parse_retry_after


class Response:
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.headers = headers or {}


class SDKError(Exception):  # openai / anthropic style
    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


class ClientError(Exception):  # httpx / requests style
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code)
        self.response = Response(status_code, headers)


class AiohttpStyle(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class UrllibStyle(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (SDKError(429), 429),
        (ClientError(503), 503),
        (AiohttpStyle(500), 500),
        (UrllibStyle(404), 404),
        (RuntimeError("no status"), None),
        (UrllibStyle(7), None),  # not an HTTP status
        (AiohttpStyle(True), None),  # bools are not statuses
    ],
)
def test_status_of_reads_the_usual_attributes(error, status):
    """The status is read from .status_code, .response.status_code, .status or .code."""
    assert status_of(error) == status


def test_status_of_ignores_a_response_without_status():
    """A .response of None (requests without a response) gives no status."""
    error = RuntimeError()
    error.response = None  # type: ignore[attr-defined]
    assert status_of(error) is None


def test_http_status_predicate_matches_codes_and_ranges():
    """http_status(429, range(500, 600)) matches those statuses only."""
    predicate = http_status(429, range(500, 600))
    assert predicate(SDKError(429))
    assert predicate(ClientError(503))
    assert not predicate(ClientError(400))
    assert not predicate(RuntimeError())
    assert "429" in predicate.__name__


@pytest.mark.parametrize("bad", [(), (99,), ("429",), (600,)])
def test_http_status_rejects_bad_codes(bad):
    """Codes must be ints from 100 to 599 or ranges, at least one."""
    with pytest.raises(InvalidConfigError, match="http_status"):
        http_status(*bad)


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        (400, False),
        (401, True),
        (403, True),
        (404, True),
        (408, True),
        (409, False),
        (422, False),
        (429, True),
        (500, True),
        (503, True),
        (None, True),
    ],
)
def test_default_cooldown_on_spares_callers_bad_requests(status, counts):
    """Default: everything counts except 4xx other than 401, 403, 404, 408, 429."""
    error = RuntimeError() if status is None else SDKError(status)
    assert default_cooldown_on(error) is counts


def test_a_4xx_falls_back_without_cooldown_and_says_so(clock, logs):
    """A 400 moves on to the next provider but does not bench the first."""
    tracker = InMemoryCooldown(60, clock=clock)

    def call(provider):
        if provider == "a":
            raise SDKError(400)
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    result = fn.route()
    assert result.provider == "b"
    assert result.attempts[0].counted is False
    assert tracker.snapshot() == {}
    [record] = logs.find("failure not counted for cooldown")
    assert record["extra"]["provider"] == "a"


def test_cooldown_on_http_status_limits_what_is_recorded(clock):
    """cooldown_on=http_status(429) records only rate limits."""
    tracker = InMemoryCooldown(60, clock=clock)
    errors = {"a": SDKError(500), "b": SDKError(429)}

    def call(provider):
        if provider in errors:
            raise errors[provider]
        return provider

    fn = routed(providers=["a", "b", "c"], cooldown=tracker, cooldown_on=http_status(429))(call)
    result = fn.route()
    assert [a.counted for a in result.attempts] == [False, True, False]
    assert set(tracker.snapshot()) == {"b"}


def test_cooldown_on_accepts_exception_types(clock):
    """cooldown_on may be a tuple of exception types."""
    fn = routed(providers=["a", "b"], cooldown_on=(KeyError,), clock=clock)(
        lambda p: (_ for _ in ()).throw(ValueError()) if p == "a" else p
    )
    assert fn.route().attempts[0].counted is False


# -- Retry-After -------------------------------------------------------------------------


def test_retry_after_from_attribute_and_headers():
    """Retry-After comes from .retry_after, then the response's or the error's headers."""
    with_attribute = RuntimeError()
    with_attribute.retry_after = 7  # type: ignore[attr-defined]
    assert retry_after_of(with_attribute) == 7
    assert retry_after_of(ClientError(429, {"Retry-After": "12"})) == 12
    assert retry_after_of(ClientError(429, {"retry-after": "3"})) == 3
    bare = RuntimeError()
    bare.headers = {"Retry-After": "4"}  # type: ignore[attr-defined]
    assert retry_after_of(bare) == 4
    assert retry_after_of(ClientError(429)) is None
    assert retry_after_of(RuntimeError()) is None


def test_retry_after_headers_without_get_are_ignored():
    """Headers that are not a mapping are ignored."""
    error = RuntimeError()
    error.headers = ["Retry-After: 3"]  # type: ignore[attr-defined]
    assert retry_after_of(error) is None


def test_retry_after_http_date(frozen):
    """An HTTP date is converted to seconds from now (wall clock)."""
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    header = email.utils.format_datetime(when, usegmt=True)
    assert parse_retry_after(header) == pytest.approx(90, abs=1)


def test_retry_after_date_in_the_past_is_zero(frozen):
    """A date in the past means now."""
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (5, 5.0),
        (2.5, 2.5),
        ("  10 ", 10.0),
        (b"4", 4.0),
        (dt.timedelta(minutes=1), 60.0),
        (10**400, 365 * 86_400.0),
        ("9" * 400, 365 * 86_400.0),
    ],
)
def test_retry_after_values(value, seconds):
    """Numbers, digit strings, bytes and timedeltas are understood; huge ones are clamped."""
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "soon",
        "nan",
        "inf",
        "-3",
        "+3",
        "1e3",
        -3,
        float("nan"),
        float("inf"),
        object(),
        True,
        "Mon, 99 Foo 2015",
    ],
)
def test_unparsable_retry_after_raises(value):
    """Anything else is reported as unparsable."""
    with pytest.raises(UnparsableRetryAfterError):
        parse_retry_after(value)


def test_naive_http_date_is_taken_as_utc(frozen):
    """A date without a zone is read as UTC."""
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:00 -0000") == pytest.approx(60)


def test_http_status_boundaries_and_name():
    """Ranges may start at 100 and end at 599; the predicate is named after its codes."""
    predicate = http_status(range(100, 200), 599)
    assert predicate(SDKError(100))
    assert predicate(SDKError(599))
    assert not predicate(SDKError(200))
    assert predicate.__name__ == "http_status(range(100, 200), 599)"
    with pytest.raises(
        InvalidConfigError, match=r"^http_status\(\) needs at least one status code$"
    ):
        http_status()
