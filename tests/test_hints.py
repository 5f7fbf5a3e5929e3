"""Rate-limit hints (DESIGN §5): Retry-After (seconds, dates, -ms), OpenAI's reset headers,
Google's RetryInfo; read from real SDK and HTTP client errors; they set the cooldown.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import ClassVar

import httpx
import openai
import pytest
import requests
from google.genai import errors as genai_errors

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    UnparsableRetryAfterError,
    http_status_of,
    retry_after_of,
    routed,
)
from fallback_router._hints import parse_retry_after

from .conftest import http_server
from .support.web import endpoints, hits, httpx_get, requests_get, urllib_get


class RateLimited(Exception):
    """A 429 whose response carries ``headers`` (httpx/requests style)."""

    def __init__(self, headers: dict[str, object], details: object = None) -> None:
        super().__init__("429")
        self.status_code = 429
        self.response = type("Response", (), {"headers": headers, "status_code": 429})()
        self.details = details


def test_retry_after_from_attribute_and_headers():
    """Retry-After comes from .retry_after, then the response's or the error's headers."""
    with_attribute = RuntimeError()
    with_attribute.retry_after = 7  # type: ignore[attr-defined]
    assert retry_after_of(with_attribute) == 7
    assert retry_after_of(RateLimited({"Retry-After": "12"})) == 12
    assert retry_after_of(RateLimited({"retry-after": "3"})) == 3
    bare = RuntimeError()
    bare.headers = {"Retry-After": "4"}  # type: ignore[attr-defined]
    assert retry_after_of(bare) == 4
    assert retry_after_of(RateLimited({})) is None
    assert retry_after_of(RuntimeError()) is None


def test_retry_after_headers_without_get_are_ignored():
    """Headers that are not a mapping are ignored."""
    error = RuntimeError()
    error.headers = ["Retry-After: 3"]  # type: ignore[attr-defined]
    assert retry_after_of(error) is None


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


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), (0.0, 0.0), (0.5, 0.5), ("0", 0.0)])
def test_zero_and_fractions_are_valid_waits(value, seconds):
    """0 and fractions of a second are valid Retry-After values."""
    assert parse_retry_after(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "abc",
        b"abc",
        "nan",
        "inf",
        "1e5",
        "-1",
        "+3",
        -1,
        -0.5,
        float("nan"),
        float("inf"),
        object(),
        True,
        "Mon, 99 Foo 2015",
    ],
)
def test_an_unparsable_hint_carries_the_value(value):
    """Anything but digits, a number >= 0, a timedelta or an HTTP date is unparsable."""
    with pytest.raises(UnparsableRetryAfterError) as info:
        parse_retry_after(value)
    assert info.value.args == (value,)


# -- HTTP dates ----------------------------------------------------------------------------


def test_retry_after_http_date(frozen):
    """An HTTP date is converted to seconds from now (wall clock)."""
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=90)
    header = email.utils.format_datetime(when, usegmt=True)
    assert parse_retry_after(header) == pytest.approx(90, abs=1)


def test_retry_after_date_in_the_past_is_zero(frozen):
    """A date in the past means now."""
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_naive_http_date_is_taken_as_utc(frozen):
    """A date without a zone is read as UTC."""
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:00 -0000") == pytest.approx(60)


def test_http_dates_are_measured_against_the_given_now():
    """An HTTP date is seconds from the given wall clock; a date without a zone is UTC."""
    when = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    text = email.utils.format_datetime(when, usegmt=True)
    assert parse_retry_after(text, now=lambda: when.timestamp() - 90) == 90.0
    naive = email.utils.format_datetime(when.replace(tzinfo=None))  # "-0000": no zone
    assert parse_retry_after(naive, now=lambda: when.timestamp() - 30) == 30.0


@pytest.fixture
def far_timezone() -> Iterator[None]:
    """Run with the process' local time twelve hours away from UTC."""
    if not hasattr(time, "tzset"):
        pytest.skip("time.tzset is POSIX-only")
    before = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Kiritimati"  # UTC+14
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


class HeaderError(Exception):
    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("429")
        self.headers = headers


def test_an_http_date_retry_after_does_not_depend_on_the_local_timezone(far_timezone):
    """An HTTP-date Retry-After means the same wait in any local timezone."""
    in_two_minutes = email.utils.formatdate(time.time() + 120, usegmt=True)
    seconds = retry_after_of(HeaderError({"Retry-After": in_two_minutes}))
    assert seconds is not None
    assert 115 <= seconds <= 121


# -- vendor headers, in process ------------------------------------------------------------


@pytest.mark.parametrize(
    ("millis", "seconds"), [(1500, 1.5), (b"1500", 1.5), ("250", 0.25), (0, 0.0)]
)
def test_retry_after_ms_in_any_form(millis, seconds):
    """retry-after-ms as int, bytes or text is milliseconds."""
    assert retry_after_of(RateLimited({"retry-after-ms": millis})) == seconds


def test_retry_after_ms_unparsable_names_its_value():
    """An unparsable retry-after-ms is reported with its value."""
    with pytest.raises(UnparsableRetryAfterError) as info:
        retry_after_of(RateLimited({"retry-after-ms": b"soon"}))
    assert info.value.args == (b"soon",)


@pytest.mark.parametrize("remaining", ["0", b"0", " 0 "])
def test_openai_resets_pick_the_exhausted_limit(remaining):
    """OpenAI's reset headers on a 429: the exhausted limit's reset wins."""
    headers = {
        "x-ratelimit-reset-requests": b"1s",
        "x-ratelimit-remaining-requests": remaining,
        "x-ratelimit-reset-tokens": "6m0s",
        "x-ratelimit-remaining-tokens": "5",
    }
    assert retry_after_of(RateLimited(headers)) == 1.0


def test_openai_resets_without_an_exhausted_limit_take_the_longest():
    """No limit exhausted: the longest of OpenAI's resets."""
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "20ms"}
    assert retry_after_of(RateLimited(headers)) == 1.0


@pytest.mark.parametrize("bad", [5, b"soon", "1x"])
def test_openai_resets_unparsable(bad):
    """An unparsable OpenAI reset value is reported with its value."""
    with pytest.raises(UnparsableRetryAfterError) as info:
        retry_after_of(RateLimited({"x-ratelimit-reset-requests": bad}))
    assert info.value.args == (bad,)


def test_reset_headers_are_ignored_on_other_statuses():
    """x-ratelimit-reset-* only counts on a 429."""

    class E(Exception):
        status_code = 500
        headers: ClassVar[dict[str, str]] = {"x-ratelimit-reset-requests": "6m0s"}

    assert retry_after_of(E()) is None


def test_google_retry_info_needs_a_retry_delay():
    """Google's RetryInfo detail with a retryDelay counts; other details do not."""
    details = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo"},  # no delay: passed over
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "retryDelay": "9s"},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
    ]
    assert retry_after_of(RateLimited({}, details)) == 3.0
    assert retry_after_of(RateLimited({}, details[:2])) is None


# -- real SDK and client errors from a local server ----------------------------------------
HEADERS: dict[str, dict[str, str]] = {
    "/ms/v1/models": {"retry-after-ms": "1500", "Retry-After": "60"},
    "/seconds/v1/models": {"Retry-After": "7"},
    "/reset-requests/v1/models": {
        "x-ratelimit-reset-requests": "6m0s",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-tokens": "20ms",
        "x-ratelimit-remaining-tokens": "500",
    },
    "/reset-longest/v1/models": {
        "x-ratelimit-reset-requests": "1s",
        "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-tokens": "1h2m3.5s",
        "x-ratelimit-remaining-tokens": "7",
    },
    "/negative/v1/models": {"Retry-After": "-5"},
    "/nan/v1/models": {"retry-after-ms": "NaN"},
    "/huge/v1/models": {"Retry-After": "9" * 400},
}
GOOGLE_BODY = {
    "error": {
        "code": 429,
        "message": "Resource has been exhausted",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT"},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34s"},
        ],
    }
}


class SDKHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/google":
            self.reply(429, {"Content-Type": "application/json"}, json.dumps(GOOGLE_BODY))
        elif path in HEADERS:
            body = json.dumps({"error": {"message": "slow down", "type": "rate_limit"}})
            self.reply(429, {"Content-Type": "application/json", **HEADERS[path]}, body)
        else:
            self.reply(200, {"Content-Type": "application/json"}, '{"data": [], "object": "list"}')

    def reply(self, status: int, headers: dict[str, str], body: str) -> None:
        data = body.encode()
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def sdk_server() -> Iterator[str]:
    """The SDK endpoints above on a local port, for this module."""
    with http_server(SDKHandler) as url:
        yield url


def openai_error(server: str, prefix: str) -> openai.APIStatusError:
    client = openai.OpenAI(base_url=f"{server}/{prefix}/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        client.models.list()
    client.close()
    return info.value


@pytest.mark.parametrize(
    ("prefix", "seconds"),
    [
        ("ms", 1.5),  # retry-after-ms wins over Retry-After
        ("seconds", 7.0),
        ("reset-requests", 360.0),  # the exhausted limit's reset
        ("reset-longest", 3723.5),  # none exhausted: the longest
        ("huge", 365 * 86_400.0),  # clamped, never an OverflowError
    ],
)
def test_openai_sdk_errors_carry_the_hint(sdk_server, prefix, seconds):
    """The official openai SDK's RateLimitError from a real sdk_server: the hint in seconds."""
    assert retry_after_of(openai_error(sdk_server, prefix)) == pytest.approx(seconds)


@pytest.mark.parametrize("prefix", ["negative", "nan"])
def test_malformed_hints_are_unparsable(sdk_server, prefix):
    """Negative and NaN values are refused (RFC 9110: digits only)."""
    with pytest.raises(UnparsableRetryAfterError):
        retry_after_of(openai_error(sdk_server, prefix))


def test_the_router_uses_the_hint_and_clamps_after_jitter(sdk_server, clock):
    """The tracker's cooldown follows the hint; with jitter it never passes max_duration."""
    client = openai.OpenAI(base_url=f"{sdk_server}/reset-requests/v1", api_key="t", max_retries=0)
    tracker = InMemoryCooldown(10, max_duration=300, jitter=1.0, clock=clock)

    @routed(providers={"openai": client, "backup": "b"}, cooldown=tracker)
    def models(provider):
        return "backup" if provider == "b" else provider.models.list()

    for _ in range(20):
        tracker.reset()
        assert models() == "backup"
        assert tracker.remaining("openai") == 300.0  # 360 s hint, clamped to 300 after jitter
    client.close()


def test_an_hour_caps_hints_without_max_duration(sdk_server, clock):
    """Without max_duration a hint is capped at one hour, jitter included."""
    client = openai.OpenAI(base_url=f"{sdk_server}/reset-longest/v1", api_key="t", max_retries=0)
    tracker = InMemoryCooldown(10, jitter=0.5, clock=clock)

    @routed(providers={"openai": client, "backup": "b"}, cooldown=tracker)
    def models(provider):
        return "backup" if provider == "b" else provider.models.list()

    assert models() == "backup"
    assert tracker.remaining("openai") == 3600.0
    client.close()


def test_google_genai_client_error_retry_info(sdk_server):
    """google-genai's ClientError (built from a real 429 response) yields RetryInfo's delay."""
    response = httpx.get(f"{sdk_server}/google")
    with pytest.raises(genai_errors.ClientError) as info:
        genai_errors.APIError.raise_for_response(response)
    assert retry_after_of(info.value) == 34.0


def test_google_hint_sets_the_cooldown(sdk_server, clock):
    """A Gemini-like provider raising ClientError is benched for retryDelay seconds."""
    tracker = InMemoryCooldown(10, clock=clock)

    @routed(providers=["gemini", "backup"], cooldown=tracker)
    def ask(provider):
        if provider == "gemini":
            genai_errors.APIError.raise_for_response(httpx.get(f"{sdk_server}/google"))
        return provider

    assert ask() == "backup"
    assert tracker.remaining("gemini") == 34.0


def test_requests_and_httpx_errors_carry_retry_after_ms(sdk_server):
    """requests' and httpx's HTTP errors are read the same way."""
    resp = requests.get(f"{sdk_server}/ms/v1/models", timeout=5)
    with pytest.raises(requests.HTTPError) as info:
        resp.raise_for_status()
    assert retry_after_of(info.value) == 1.5
    with pytest.raises(httpx.HTTPStatusError) as hinfo:
        httpx.get(f"{sdk_server}/ms/v1/models").raise_for_status()
    assert retry_after_of(hinfo.value) == 1.5


def test_all_failed_error_still_raised_when_every_provider_rate_limits(sdk_server, clock):
    """Two rate-limited vendors: the group holds both SDK errors."""
    a = openai.OpenAI(base_url=f"{sdk_server}/seconds/v1", api_key="t", max_retries=0)
    b = openai.OpenAI(base_url=f"{sdk_server}/ms/v1", api_key="t", max_retries=0)
    tracker = InMemoryCooldown(10, clock=clock)

    @routed(providers={"a": a, "b": b}, cooldown=tracker)
    def models(provider):
        return provider.models.list()

    with pytest.raises(AllProvidersFailedError) as info:
        models()
    assert all(isinstance(e, openai.RateLimitError) for e in info.value.exceptions)
    assert (tracker.remaining("a"), tracker.remaining("b")) == (7.0, 1.5)
    a.close()
    b.close()


def test_retry_after_read_from_each_client(web):
    """Retry-After is read from httpx, urllib and requests errors alike."""
    for get in (httpx_get, urllib_get, requests_get):
        with pytest.raises(Exception) as info:
            get(f"{web}/limited/seconds")
        assert retry_after_of(info.value) == 7


def test_httpx_rate_limit_with_retry_after_seconds(web, web_server, clock):
    """429 + Retry-After: 7 benches that provider 7 s; a 503 benches for the duration."""
    tracker = InMemoryCooldown(30, clock=clock)
    providers = endpoints(web, limited="/limited/seconds", broken="/status/503", healthy="/ok")
    fn = routed(providers=providers, cooldown=tracker)(httpx_get)
    result = fn.route()
    assert result.provider == "healthy"
    assert hits(web_server) == ["/limited/seconds", "/status/503", "/ok"]
    assert [type(a.error) for a in result.attempts[:2]] == [httpx.HTTPStatusError] * 2
    assert tracker.remaining("limited") == 7
    assert tracker.remaining("broken") == 30
    web_server.hits.clear()
    assert fn.route().skipped == ("limited", "broken")
    assert hits(web_server) == ["/ok"]
    clock.advance(7)
    fn()
    assert hits(web_server) == ["/ok", "/limited/seconds", "/ok"]


def test_urllib_rate_limit_with_retry_after_http_date(web, web_server, clock):
    """urllib's HTTPError with an HTTP-date Retry-After benches for about that long."""
    tracker = InMemoryCooldown(30, max_duration=600, clock=clock)
    providers = endpoints(web, limited="/limited/date", healthy="/ok")
    result = routed(providers=providers, cooldown=tracker)(urllib_get).route()
    assert result.provider == "healthy"
    error = result.attempts[0].error
    assert isinstance(error, urllib.error.HTTPError)
    assert http_status_of(error) == 429
    assert tracker.remaining("limited") == pytest.approx(120, abs=2)


def test_unparsable_retry_after_uses_the_duration(web, clock, logs):
    """A garbage Retry-After from a real web_server falls back to the normal duration."""
    tracker = InMemoryCooldown(30, clock=clock)
    providers = endpoints(web, limited="/limited/garbage", healthy="/ok")
    routed(providers=providers, cooldown=tracker)(httpx_get)()
    assert tracker.remaining("limited") == 30
    assert logs.find("unparsable Retry-After")
