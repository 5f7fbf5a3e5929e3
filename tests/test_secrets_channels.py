"""Secrets in provider names and errors never leave by any channel (DESIGN §8b).

Attacked as an attacker would: providers named by URLs that carry a key (`?key=`,
`/key/...`), failing with real `httpx`, `requests`, `openai` and `anthropic` errors
whose URL, headers and bodies carry credentials, plus form and JSON bodies quoted in
messages. Every channel is read: log records (text, serialized, loguru's traceback and
variable dump, including the library's own error record for a raising hook), events
(fields and reprs), `status()` (text, Markdown, HTML tooltips, row reprs), `repr` and
displays of `Result`, `Attempt` and the routing errors, warnings, OpenTelemetry spans
(names, attributes, status descriptions, events) and metrics, and the command line.
Data fields keep the real names (`Result.provider`, `Attempt.provider`, event
`provider`, `ProviderStatus.name`); the providers' own exception objects are left as
they are.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from typing import Any

import anthropic
import httpx
import openai
import pytest
import requests
from loguru import logger
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from fallback_router import (
    AllProvidersFailedError,
    AttemptFailed,
    AttemptStarted,
    AttemptTimeoutError,
    CallFailed,
    DeadlineExceededError,
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
    StreamInterrupted,
    routed,
    routing,
)
from fallback_router._surfaces.cli import main
from fallback_router.otel import OpenTelemetryHook

from .conftest import FakeClock

#: Secrets: each must appear nowhere the library writes or shows.
NAME_KEY = "NameKey0123456789"  # in a provider name's query
PATH_KEY = "PathKey0123456789"  # in a provider name's path
URL_KEY = "UrlKey0123456789"  # in a request URL
BEARER = "BearerTok0123456789"
BODY_KEY = "BodyKey0123456789"
FORM_KEY = "FormKey0123456789"
SDK_KEY = "sk-proj-SdkKey0123456789"
ANTHROPIC_KEY = "sk-ant-api03-AntKey0123456789"
SECRETS = (NAME_KEY, PATH_KEY, URL_KEY, BEARER, BODY_KEY, FORM_KEY, "SdkKey", "AntKey")

#: Provider names as the docs' endpoints example writes them.
NAMED = f"https://gen.example.test/v1/models/m:generate?key={NAME_KEY}"
PATHED = f"https://gen.example.test/key/{PATH_KEY}/v1"
STEADY = "steady"
URL = f"https://api.example.test/v1/generate?key={URL_KEY}&model=m"


def httpx_error() -> Exception:
    """A real httpx error: key in the URL, bearer token and api_key in the request."""
    request = httpx.Request(
        "POST",
        URL,
        headers={"Authorization": f"Bearer {BEARER}", "x-api-key": BODY_KEY},
        json={"api_key": BODY_KEY, "prompt": "hi"},
    )
    response = httpx.Response(429, request=request, headers={"retry-after": "1"})
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return exc
    raise AssertionError


def requests_error() -> Exception:
    """A real requests error: key in the URL, bearer token, form body with api_key."""
    response = requests.Response()
    response.status_code = 503
    response.url = URL
    response.request = requests.Request(
        "POST",
        URL,
        headers={"Authorization": f"Bearer {BEARER}"},
        data={"api_key": FORM_KEY},
    ).prepare()
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    raise AssertionError


def openai_error() -> Exception:
    """An openai SDK error as the SDK builds it (on the SDK's own httpx)."""
    http = pytest.importorskip("httpx2")
    request = http.Request("POST", URL, headers={"Authorization": f"Bearer {BEARER}"})
    body = {"error": {"message": f"Incorrect API key provided: {SDK_KEY}.", "code": "x"}}
    raw = http.Response(401, request=request, json=body)
    return openai.AuthenticationError(f"Error code: 401 - {body}", response=raw, body=body)


def anthropic_error() -> Exception:
    """An anthropic SDK error: x-api-key header, the key echoed in the body."""
    http = pytest.importorskip("httpx2")
    request = http.Request("POST", URL, headers={"x-api-key": ANTHROPIC_KEY})
    body = {
        "type": "error",
        "error": {"type": "authentication_error", "message": f"invalid x-api-key {ANTHROPIC_KEY}"},
    }
    raw = http.Response(401, request=request, json=body)
    return anthropic.AuthenticationError(f"Error code: 401 - {body}", response=raw, body=body)


def form_error() -> Exception:
    """A client's own message quoting a form body, a JSON body and a path token."""
    return RuntimeError(
        f"POST https://h.test/token/{PATH_KEY} failed; body api_key={FORM_KEY}&model=m; "
        f'sent {{"api_key": "{BODY_KEY}", "password": "{BODY_KEY}"}}'
    )


ERRORS = {
    "httpx": httpx_error,
    "requests": requests_error,
    "openai": openai_error,
    "anthropic": anthropic_error,
    "form": form_error,
}


def assert_clean(*values: Any) -> str:
    text = "\n".join(str(v) for v in values)
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} leaked in:\n{text}"
    return text


@pytest.fixture(params=sorted(ERRORS))
def make_error(request):
    return ERRORS[request.param]


@pytest.fixture
def otel():
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    hook = OpenTelemetryHook(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield exporter, reader, hook
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
def every_log():
    """Text (with loguru's traceback and diagnose dump) and serialized records."""
    text: list[str] = []
    serialized: list[str] = []
    logger.enable("fallback_router")
    sinks = [
        logger.add(
            text.append,
            level="DEBUG",
            format="{message} | {extra}\n{exception}",
            backtrace=True,
            diagnose=True,
        ),
        logger.add(serialized.append, level="DEBUG", serialize=True),
    ]
    yield text, serialized
    for sink in sinks:
        logger.remove(sink)
    logger.disable("fallback_router")


def failing_router(make_error, *, asynchronous: bool = False, **options: Any):
    """Providers named with keys fail with `make_error()`; `steady` serves.

    With `asynchronous`, the routed function is `async def` and the returned callable
    runs one call to the end (`asyncio.run`), so tests read the same either way.
    """
    raised: list[Exception] = []

    def call(provider: str) -> str:
        if provider == STEADY:
            return provider
        error = make_error()
        raised.append(error)
        raise error

    async def acall(provider: str) -> str:
        return call(provider)

    fn = routed(providers=[NAMED, PATHED, STEADY], **options)(acall if asynchronous else call)
    if not asynchronous:
        return fn, raised

    def run(*args: Any) -> Any:
        return asyncio.run(fn(*args))

    run.router = fn.router  # type: ignore[attr-defined]
    run.route = lambda *args: asyncio.run(fn.route(*args))  # type: ignore[attr-defined]
    return run, raised


# -- logs ------------------------------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True])
def test_log_records_hold_no_secret_of_names_or_errors(make_error, asynchronous, every_log):
    """Messages, `extra` and serialized records: names and error texts redacted."""
    text, serialized = every_log
    fn, _ = failing_router(make_error, asynchronous=asynchronous)
    assert fn() == STEADY
    with routing(prefer=[STEADY]):
        fn()
    assert text
    for record in serialized:
        data = json.loads(record)["record"]
        assert_clean(data["message"], data["extra"], data["exception"])
    logged = assert_clean(*text, *serialized)
    assert "?key=***" in logged
    assert "/key/***/v1" in logged


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_raising_hook_is_logged_with_redacted_text_and_no_variable_dump(
    make_error, asynchronous, every_log
):
    """A hook that raises the provider's own error (the worst case): the library's error
    record carries the redacted text, not loguru's traceback with its variable dump."""
    text, serialized = every_log

    def hook(event):
        if isinstance(event, AttemptFailed):
            raise event.error  # the raw provider error, key and all
        if isinstance(event, AttemptStarted):
            raise RuntimeError(f"cannot export {event.provider}")

    fn, _ = failing_router(make_error, asynchronous=asynchronous, on_event=hook)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fn() == STEADY
    errors = [json.loads(r)["record"] for r in serialized]
    errors = [r for r in errors if r["level"]["name"] == "ERROR"]
    assert errors
    assert all(r["exception"] is None for r in errors)
    assert_clean(*text, *serialized, *(str(w.message) for w in caught))


def test_the_otel_hook_s_own_failure_is_logged_redacted(make_error, every_log, otel):
    """The OpenTelemetry hook's own error record: redacted text, no traceback."""
    text, serialized = every_log
    _, _, hook = otel

    def exporter_down(*args, **kwargs):
        raise RuntimeError(f"exporter refused span for {NAMED}")

    hook._duration.record = exporter_down  # an exporter failing on every attempt
    fn, _ = failing_router(make_error, on_event=hook)
    assert fn() == STEADY
    records = [json.loads(r)["record"] for r in serialized]
    failures = [r for r in records if r["message"].startswith("OpenTelemetry hook failed")]
    assert failures
    assert all(r["exception"] is None for r in failures)
    assert_clean(*text, *serialized)


# -- events ------------------------------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True])
def test_events_keep_real_names_and_render_redacted(make_error, asynchronous):
    """Event fields keep the real names and errors; reprs and error_text are redacted."""
    events: list[Any] = []
    fn, raised = failing_router(make_error, asynchronous=asynchronous, on_event=events.append)
    assert fn() == STEADY
    started = [e.provider for e in events if isinstance(e, AttemptStarted)]
    assert started == [NAMED, PATHED, STEADY]  # real names, what only=/prefer= take
    failed = [e for e in events if isinstance(e, AttemptFailed)]
    assert [e.error for e in failed] == raised  # the providers' own objects, as they are
    assert_clean(*(repr(e) for e in events), *(e.error_text for e in failed))


def test_call_failed_and_its_attempts_render_redacted(make_error):
    events: list[Any] = []

    def call(provider):
        raise make_error()

    fn = routed(providers=[NAMED, PATHED], on_event=events.append)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    [closed] = [e for e in events if isinstance(e, CallFailed)]
    assert [a.provider for a in closed.attempts] == [NAMED, PATHED]
    assert_clean(repr(closed), closed.error_text)


# -- status ------------------------------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True])
def test_status_renders_names_and_errors_redacted_and_indexes_by_real_name(
    make_error, asynchronous
):
    fn, _ = failing_router(make_error, asynchronous=asynchronous)
    assert fn() == STEADY
    status = fn.router.status()
    assert [row.name for row in status] == [NAMED, PATHED, STEADY]
    assert status[NAMED].failures == 1  # indexed by the real name
    to_dict = getattr(status, "to_dict", None)
    shown = assert_clean(
        repr(status),
        status._repr_markdown_(),
        status._repr_html_(),
        *(repr(row) for row in status),
        json.dumps(to_dict()) if to_dict is not None else "",
    )
    assert "?key=***" in shown


# -- results and errors -------------------------------------------------------------------


@pytest.mark.parametrize("asynchronous", [False, True])
def test_result_and_attempt_reprs_and_displays_are_redacted(make_error, asynchronous):
    fn, raised = failing_router(make_error, asynchronous=asynchronous)
    result = fn.route()
    assert result.provider == STEADY
    assert [a.provider for a in result.attempts] == [NAMED, PATHED, STEADY]
    assert [a.error for a in result.attempts[:2]] == raised  # left as they are
    shown = assert_clean(
        repr(result),
        *(repr(a) for a in result.attempts),
        result._repr_html_(),
        result._repr_markdown_(),
    )
    assert "?key=***" in shown


def test_a_result_served_by_a_named_provider_renders_redacted():
    fn = routed(providers=[NAMED])(lambda provider: "ok")
    result = fn.route()
    assert result.provider == NAMED
    assert_clean(repr(result), result._repr_html_(), result._repr_markdown_())


@pytest.mark.parametrize("asynchronous", [False, True])
def test_all_providers_failed_renders_redacted(make_error, asynchronous):
    """str, repr, notes, HTML and Markdown of the group; its attempts keep the real names."""

    def call(provider):
        raise make_error()

    async def acall(provider):
        call(provider)

    fn = routed(providers=[NAMED, PATHED])(acall if asynchronous else call)
    with pytest.raises(AllProvidersFailedError) as info:
        asyncio.run(fn()) if asynchronous else fn()
    error = info.value
    assert [a.provider for a in error.attempts] == [NAMED, PATHED]
    assert_clean(str(error), repr(error), error._repr_html_(), error._repr_markdown_())
    skipped = routed(providers=[NAMED, STEADY], cooldown=InMemoryCooldown(60))(call)
    with pytest.raises(AllProvidersFailedError):
        skipped()
    with pytest.raises(AllProvidersFailedError) as again:
        skipped()  # NAMED is skipped now: the message names it
    assert again.value.skipped == (NAMED,)
    assert_clean(str(again.value), repr(again.value), again.value._repr_html_())


def test_deadline_and_timeout_errors_render_redacted():
    """A provider named with a key uses up the budget: the library's own errors
    (DeadlineExceededError with its skips, AttemptTimeoutError) show the redacted name."""
    clock = FakeClock()

    def call(provider):
        clock.advance(5.0)  # the budget runs out while the first provider fails
        raise RuntimeError("slow and down")

    fn = routed(providers=[NAMED, PATHED, STEADY], timeout=1.0, clock=clock)(call)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    error = info.value
    assert error.attempts[0].provider == NAMED
    assert_clean(str(error), repr(error), error._repr_html_(), error._repr_markdown_())
    timeout = AttemptTimeoutError(NAMED, 1.0)
    assert timeout.provider == NAMED
    assert_clean(str(timeout), repr(timeout))


@pytest.mark.parametrize("asynchronous", [False, True])
def test_an_interrupted_stream_renders_its_provider_redacted(make_error, asynchronous, every_log):
    """A stream from a provider named with a key fails after an item: StreamInterrupted
    and the "stream interrupted" record show the redacted name; `.provider` is real."""
    text, serialized = every_log

    def stream(provider):
        yield "first"
        raise make_error()

    async def astream(provider):
        yield "first"
        raise make_error()

    fn = routed(providers=[NAMED, STEADY])(astream if asynchronous else stream)

    async def consume_async():
        return [item async for item in fn()]

    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(consume_async()) if asynchronous else list(fn())
    assert info.value.provider == NAMED
    assert_clean(str(info.value), repr(info.value), *text, *serialized)
    assert any("stream interrupted: https://gen.example.test" in t for t in text)


def test_config_errors_naming_providers_are_redacted():
    """routing(prefer=) with a name the router lacks: the message lists the (redacted)
    providers it has."""
    fn = routed(providers=[NAMED, PATHED])(lambda provider: provider)
    with routing(prefer=["other"]), pytest.raises(InvalidConfigError) as info:
        fn()
    assert "other" in str(info.value)
    assert_clean(str(info.value), repr(info.value))


# -- OpenTelemetry ------------------------------------------------------------------------


def test_spans_and_metrics_hold_no_secret(make_error, otel):
    """Span names, attributes, status descriptions and span events are redacted; the hook
    never records the provider's exception object (no exception stack trace)."""
    exporter, reader, hook = otel

    def call(provider):
        raise make_error()

    fn, _ = failing_router(make_error, on_event=hook)
    assert fn() == STEADY
    failing = routed(providers=[NAMED, PATHED], on_event=hook)(call)
    with pytest.raises(AllProvidersFailedError):
        failing()
    spans = exporter.get_finished_spans()
    assert {s.name for s in spans} >= {
        "attempt https://gen.example.test/v1/models/m:generate?key=***"
    }
    parts: list[Any] = []
    for span in spans:
        parts += [span.name, dict(span.attributes or {}), span.status.description]
        for event in span.events:
            parts += [event.name, dict(event.attributes or {})]
            assert "exception.stacktrace" not in (event.attributes or {})
    data = reader.get_metrics_data()
    assert data is not None
    parts.append(data.to_json())
    assert_clean(*parts)


# -- command line -------------------------------------------------------------------------


def test_the_command_line_prints_names_redacted(redis_server, redis_client, capsys):
    """status, status --json and reset print a benched provider's name redacted."""
    tracker = RedisCooldown(redis_client, duration=300.0)

    def call(provider):
        if provider != STEADY:
            raise RuntimeError("down")
        return provider

    fn = routed(providers=[NAMED, PATHED, STEADY], cooldown=tracker)(call)
    assert fn() == STEADY
    outputs = []
    for argv in (["status"], ["status", "--json"], ["reset", NAMED], ["reset"]):
        assert main([argv[0], "--redis", redis_server.url, *argv[1:]]) == 0
        out = capsys.readouterr()
        outputs += [out.out, out.err]
    shown = assert_clean(*outputs)
    assert "?key=***" in shown
    assert "/key/***/v1" in shown
