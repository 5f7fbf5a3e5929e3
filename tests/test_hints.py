"""Rate-limit hints of real SDKs set the cooldown length (a local HTTP server, real clients)."""

from __future__ import annotations

import json
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
    retry_after_of,
    routed,
)

from .conftest import http_server

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


class Handler(BaseHTTPRequestHandler):
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
def server() -> Iterator[str]:
    with http_server(Handler) as url:
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
def test_openai_sdk_errors_carry_the_hint(server, prefix, seconds):
    """The official openai SDK's RateLimitError from a real server: the hint in seconds."""
    assert retry_after_of(openai_error(server, prefix)) == pytest.approx(seconds)


@pytest.mark.parametrize("prefix", ["negative", "nan"])
def test_malformed_hints_are_unparsable(server, prefix):
    """Negative and NaN values are refused (RFC 9110: digits only)."""
    with pytest.raises(UnparsableRetryAfterError):
        retry_after_of(openai_error(server, prefix))


def test_the_router_uses_the_hint_and_clamps_after_jitter(server, clock):
    """The tracker's cooldown follows the hint; with jitter it never passes max_duration."""
    client = openai.OpenAI(base_url=f"{server}/reset-requests/v1", api_key="t", max_retries=0)
    tracker = InMemoryCooldown(10, max_duration=300, jitter=1.0, clock=clock)

    @routed(providers={"openai": client, "backup": "b"}, cooldown=tracker)
    def models(provider):
        return "backup" if provider == "b" else provider.models.list()

    for _ in range(20):
        tracker.reset()
        assert models() == "backup"
        assert tracker.remaining("openai") == 300.0  # 360 s hint, clamped to 300 after jitter
    client.close()


def test_an_hour_caps_hints_without_max_duration(server, clock):
    """Without max_duration a hint is capped at one hour, jitter included."""
    client = openai.OpenAI(base_url=f"{server}/reset-longest/v1", api_key="t", max_retries=0)
    tracker = InMemoryCooldown(10, jitter=0.5, clock=clock)

    @routed(providers={"openai": client, "backup": "b"}, cooldown=tracker)
    def models(provider):
        return "backup" if provider == "b" else provider.models.list()

    assert models() == "backup"
    assert tracker.remaining("openai") == 3600.0
    client.close()


def test_google_genai_client_error_retry_info(server):
    """google-genai's ClientError (built from a real 429 response) yields RetryInfo's delay."""
    response = httpx.get(f"{server}/google")
    with pytest.raises(genai_errors.ClientError) as info:
        genai_errors.APIError.raise_for_response(response)
    assert retry_after_of(info.value) == 34.0


def test_google_hint_sets_the_cooldown(server, clock):
    """A Gemini-like provider raising ClientError is benched for retryDelay seconds."""
    tracker = InMemoryCooldown(10, clock=clock)

    @routed(providers=["gemini", "backup"], cooldown=tracker)
    def ask(provider):
        if provider == "gemini":
            genai_errors.APIError.raise_for_response(httpx.get(f"{server}/google"))
        return provider

    assert ask() == "backup"
    assert tracker.remaining("gemini") == 34.0


def test_requests_and_httpx_errors_carry_retry_after_ms(server):
    """requests' and httpx's HTTP errors are read the same way."""
    resp = requests.get(f"{server}/ms/v1/models", timeout=5)
    with pytest.raises(requests.HTTPError) as info:
        resp.raise_for_status()
    assert retry_after_of(info.value) == 1.5
    with pytest.raises(httpx.HTTPStatusError) as hinfo:
        httpx.get(f"{server}/ms/v1/models").raise_for_status()
    assert retry_after_of(hinfo.value) == 1.5


def test_reset_headers_are_ignored_on_other_statuses():
    """x-ratelimit-reset-* only counts on a 429."""

    class E(Exception):
        status_code = 500
        headers: ClassVar[dict[str, str]] = {"x-ratelimit-reset-requests": "6m0s"}

    assert retry_after_of(E()) is None


def test_all_failed_error_still_raised_when_every_provider_rate_limits(server, clock):
    """Two rate-limited vendors: the group holds both SDK errors."""
    a = openai.OpenAI(base_url=f"{server}/seconds/v1", api_key="t", max_retries=0)
    b = openai.OpenAI(base_url=f"{server}/ms/v1", api_key="t", max_retries=0)
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
