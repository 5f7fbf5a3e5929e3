"""Rate-limit hints, value by value (in-process; the SDK round trips are in test_hints)."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest

from fallback_router import UnparsableRetryAfterError, retry_after_of
from fallback_router._hints import parse_retry_after


class RateLimited(Exception):
    """A 429 whose response carries ``headers`` (httpx/requests style)."""

    def __init__(self, headers: dict[str, object], details: object = None) -> None:
        super().__init__("429")
        self.status_code = 429
        self.response = type("Response", (), {"headers": headers, "status_code": 429})()
        self.details = details


@pytest.mark.parametrize(
    "value", ["abc", b"abc", "1e5", "-1", -1, -0.5, float("nan"), float("inf"), object()]
)
def test_an_unparsable_hint_carries_the_value(value):
    with pytest.raises(UnparsableRetryAfterError) as info:
        parse_retry_after(value)
    assert info.value.args == (value,)


@pytest.mark.parametrize(("value", "seconds"), [(0, 0.0), (0.0, 0.0), (0.5, 0.5), ("0", 0.0)])
def test_zero_and_fractions_are_valid_waits(value, seconds):
    assert parse_retry_after(value) == seconds


def test_http_dates_are_measured_against_the_given_now():
    when = dt.datetime(2030, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    text = email.utils.format_datetime(when, usegmt=True)
    assert parse_retry_after(text, now=lambda: when.timestamp() - 90) == 90.0
    naive = email.utils.format_datetime(when.replace(tzinfo=None))  # "-0000": no zone
    assert parse_retry_after(naive, now=lambda: when.timestamp() - 30) == 30.0


@pytest.mark.parametrize(
    ("millis", "seconds"), [(1500, 1.5), (b"1500", 1.5), ("250", 0.25), (0, 0.0)]
)
def test_retry_after_ms_in_any_form(millis, seconds):
    assert retry_after_of(RateLimited({"retry-after-ms": millis})) == seconds


def test_retry_after_ms_unparsable_names_its_value():
    with pytest.raises(UnparsableRetryAfterError) as info:
        retry_after_of(RateLimited({"retry-after-ms": b"soon"}))
    assert info.value.args == (b"soon",)


@pytest.mark.parametrize("remaining", ["0", b"0", " 0 "])
def test_openai_resets_pick_the_exhausted_limit(remaining):
    headers = {
        "x-ratelimit-reset-requests": b"1s",
        "x-ratelimit-remaining-requests": remaining,
        "x-ratelimit-reset-tokens": "6m0s",
        "x-ratelimit-remaining-tokens": "5",
    }
    assert retry_after_of(RateLimited(headers)) == 1.0


def test_openai_resets_without_an_exhausted_limit_take_the_longest():
    headers = {"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "20ms"}
    assert retry_after_of(RateLimited(headers)) == 1.0


@pytest.mark.parametrize("bad", [5, b"soon", "1x"])
def test_openai_resets_unparsable(bad):
    with pytest.raises(UnparsableRetryAfterError) as info:
        retry_after_of(RateLimited({"x-ratelimit-reset-requests": bad}))
    assert info.value.args == (bad,)


def test_google_retry_info_needs_a_retry_delay():
    details = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo"},  # no delay: passed over
        {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "retryDelay": "9s"},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "3s"},
    ]
    assert retry_after_of(RateLimited({}, details)) == 3.0
    assert retry_after_of(RateLimited({}, details[:2])) is None
