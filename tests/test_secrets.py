"""Secrets never reach logs, events, status, results or error displays (DESIGN §8b).

Real httpx, requests and openai errors carry an API key in the URL (`?key=`) and an
`Authorization` header; the key must appear nowhere the router writes or shows, and
`last_error` copies keep no request or response objects. `redact=` adds rules.
"""

from __future__ import annotations

import json
import pickle

import httpx
import openai
import pytest
import requests
from loguru import logger

from fallback_router import (
    AllProvidersFailedError,
    AttemptFailed,
    CallFailed,
    CooldownEntered,
    routed,
)

SECRET = "S3cr3tKeyValue123"
TOKEN = f"sk-proj-{SECRET}"
URL = f"https://api.example.test/v1/generate?key={SECRET}&model=m"


def httpx_error() -> Exception:
    request = httpx.Request("POST", URL, headers={"Authorization": f"Bearer {TOKEN}"})
    response = httpx.Response(429, request=request, headers={"retry-after": "1"})
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return exc
    raise AssertionError


def requests_error() -> Exception:
    response = requests.Response()
    response.status_code = 503
    response.url = URL
    response.request = requests.Request(
        "POST", URL, headers={"Authorization": f"Bearer {TOKEN}"}
    ).prepare()
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError


def openai_error() -> Exception:
    """An openai SDK error as the SDK builds it (on httpx2, which this SDK uses)."""
    http = pytest.importorskip("httpx2")
    request = http.Request("POST", URL, headers={"Authorization": f"Bearer {TOKEN}"})
    body = {
        "error": {"message": f"Incorrect API key provided: {TOKEN}.", "code": "invalid_api_key"}
    }
    raw = http.Response(401, request=request)
    return openai.AuthenticationError(f"Error code: 401 - {body}", response=raw, body=body)


ERRORS = {"httpx": httpx_error, "requests": requests_error, "openai": openai_error}


@pytest.fixture(params=sorted(ERRORS))
def failing(request):
    """A router whose first provider fails with a real client error carrying the key."""
    make = ERRORS[request.param]
    events = []

    def call(provider):
        if provider == "a":
            raise make()
        return provider

    fn = routed(providers=["a", "b"], on_event=events.append)(call)
    return fn, events


def texts(*values) -> str:
    return "\n".join(str(v) for v in values)


def test_log_records_hold_no_secret_in_text_or_serialized(failing):
    """loguru's text and JSON sinks: no key, no bearer token, in messages or fields."""
    fn, _ = failing
    plain, serialized = [], []
    logger.enable("fallback_router")
    ids = [
        logger.add(plain.append, level="DEBUG", format="{message} {extra}"),
        logger.add(serialized.append, level="DEBUG", serialize=True),
    ]
    try:
        fn()
    finally:
        for sink in ids:
            logger.remove(sink)
        logger.disable("fallback_router")
    assert plain
    assert serialized
    for record in serialized:
        json.loads(record)
    everything = texts(*plain, *serialized)
    assert SECRET not in everything
    assert "***" in everything


def test_events_carry_redacted_texts(failing):
    """AttemptFailed, CooldownEntered and CallFailed texts are redacted."""
    fn, events = failing
    fn()
    failed = [e for e in events if isinstance(e, AttemptFailed)]
    cooled = [e for e in events if isinstance(e, CooldownEntered)]
    assert failed
    for event in failed + cooled:
        assert SECRET not in event.error_text
        assert event.error_text


def test_status_in_every_form_holds_no_secret(failing):
    """status(): text, Markdown, HTML (tooltips included) and last_error are clean."""
    fn, _ = failing
    fn()
    status = fn.router.status()
    row = status["a"]
    shown = texts(repr(status), status._repr_markdown_(), status._repr_html_())
    assert SECRET not in shown
    error = row.last_error
    assert error is not None
    assert SECRET not in texts(error, repr(error), error.args, vars(error))
    assert SECRET.encode() not in pickle.dumps(error)
    for attribute in ("request", "response"):
        kept = getattr(error, attribute, None)
        assert kept is None or not isinstance(kept, (httpx.Request, httpx.Response))
        assert kept is None or not isinstance(kept, (requests.Request, requests.Response))


def test_result_and_error_displays_hold_no_secret():
    """Result and AllProvidersFailedError displays show redacted error texts."""

    def call(provider):
        if provider in ("a", "b"):
            raise httpx_error()
        return provider

    fn = routed(providers=["a", "b", "c"], cooldown=None)(call)
    result = fn.route()
    assert SECRET not in texts(result._repr_html_(), result._repr_markdown_())
    assert "***" in result._repr_html_()
    failing = routed(providers=["a", "b"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError) as info:
        failing()
    error = info.value
    assert SECRET not in texts(error, error._repr_html_(), error._repr_markdown_())


def test_a_custom_redact_runs_after_the_built_in_rules():
    """redact= sees text the built-in rules already cleaned, and its result is shown."""
    seen = []

    def scrub_ids(text: str) -> str:
        seen.append(text)
        return text.replace("customer-42", "customer-***")

    def call(provider):
        if provider == "a":
            raise RuntimeError(f"customer-42 failed at {URL}")
        return provider

    events = []
    fn = routed(providers=["a", "b"], redact=scrub_ids, on_event=events.append)(call)
    fn()
    failed = next(e for e in events if isinstance(e, AttemptFailed))
    assert "customer-***" in failed.error_text
    assert SECRET not in failed.error_text
    assert all(SECRET not in text for text in seen)  # built-in rules ran first
    assert "customer-42" not in repr(fn.router.status())


def test_call_failed_text_is_redacted():
    """The whole call's failure event carries a redacted text too."""
    events = []

    def call(provider):
        raise httpx_error()

    fn = routed(providers=["a"], on_event=events.append)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    [closed] = [e for e in events if isinstance(e, CallFailed)]
    assert SECRET not in closed.error_text
