"""Failover scenarios of an LLM app: local fake vendors, the official ``openai`` SDK, the preset.

Every app is routed with ``**llm.options(...)`` (plain calls, ``stream=True`` and
``"buffer"``), only its time limits shortened (``LIMITS``), through clients built with
``max_retries=0``. Each scenario of an independent LLM failover benchmark (429 with and
without Retry-After, 500 once, 503 persistent, TCP reset, no response, slow first token,
stream cut, stall, malformed chunk, no [DONE], context length exceeded, content-filter
rejection, prefill rejected by the fallback, a flapping primary, accounting) runs sync
(``openai.OpenAI``) and async (``openai.AsyncOpenAI``) and ends with the complete answer or
the clean, typed error the guide's table prescribes. The fake vendors' request counts
prove that no vendor is hammered: at most ``1 + retries`` requests per call, none while a
Retry-After benches it. Cooldowns are read on a ``FakeClock``; no wall-clock assertion.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

import fallback_router
from fallback_router import (
    AllProvidersBenchedError,
    AllProvidersFailedError,
    AttemptTimeoutError,
    DeadlineExceededError,
    RejectedResponseError,
    Result,
    StreamInterrupted,
    llm,
    routed,
)

from .support.fake_openai import DEFAULT_TOKENS, FakeOpenAI
from .support.helpers import FakeClock

pytestmark = pytest.mark.timeout(60)

TOKENS = list(DEFAULT_TOKENS)
ANSWER = "".join(TOKENS)
PROMPT = "Say something."
#: Each attempt, first item and silence between items (a healthy local vendor: ms).
LIMIT = 1.0
LIMITS = {
    "timeout": 5.0,
    "attempt_timeout": LIMIT,
    "first_item_timeout": LIMIT,
    "idle_timeout": LIMIT,
}
#: Seconds a slow vendor keeps silent: past every limit (woken when the vendor closes).
SLOW = 30.0
COOLDOWN = 15.0  # the preset's default bench
SHORT_HINT = 0.1  # a Retry-After the preset waits out (<= retry_after_cap)
LONG_HINT = 30.0  # one it does not
#: One TLS context for every client: building one is most of a client's cost (unused here).
TLS = ssl.create_default_context()

modes = pytest.mark.parametrize("mode", ["sync", "async"])
kinds = pytest.mark.parametrize("kind", ["call", "stream", "buffer"])
streams = pytest.mark.parametrize("kind", ["stream", "buffer"])
STREAM = {"call": False, "stream": True, "buffer": "buffer"}


# -- the app under test --------------------------------------------------------------------


def messages(prompt: str, prefill: bool) -> list[dict[str, str]]:
    chat = [{"role": "user", "content": prompt}]
    return [*chat, {"role": "assistant", "content": "Sure:"}] if prefill else chat


def chat(client: openai.OpenAI, prompt: str, prefill: bool = False) -> Any:
    return client.chat.completions.create(model="m", messages=messages(prompt, prefill))


def chat_stream(client: openai.OpenAI, prompt: str, prefill: bool = False) -> Iterator[str]:
    with client.chat.completions.create(
        model="m", messages=messages(prompt, prefill), stream=True
    ) as stream:
        yield from llm.text(stream)


async def achat(client: openai.AsyncOpenAI, prompt: str, prefill: bool = False) -> Any:
    return await client.chat.completions.create(model="m", messages=messages(prompt, prefill))


async def achat_stream(client: openai.AsyncOpenAI, prompt: str, prefill: bool = False) -> Any:
    stream = await client.chat.completions.create(
        model="m", messages=messages(prompt, prefill), stream=True
    )
    async with stream:
        async for piece in llm.atext(stream):
            yield piece


FUNCTIONS: dict[tuple[str, bool], Callable[..., Any]] = {
    ("sync", False): chat,
    ("sync", True): chat_stream,
    ("async", False): achat,
    ("async", True): achat_stream,
}


@dataclass
class Outcome:
    """What the user saw: the pieces received (a call: its answer's text), then any error."""

    pieces: list[str] = field(default_factory=list)
    error: Exception | None = None
    result: Result[Any] | None = None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def served(self) -> str:
        assert self.error is None, f"expected an answer, got {self.error!r}"
        assert self.result is not None
        return self.result.provider

    def raised(self, kind: type[BaseException]) -> Any:
        assert isinstance(self.error, kind), f"expected {kind.__name__}, got {self.error!r}"
        return self.error


class App:
    """A routed chat function (``kind``: call, stream or buffered stream) over SDK clients."""

    def __init__(self, mode: str, kind: str, vendors: tuple[FakeOpenAI, ...], **options: Any):
        self.mode, self.kind = mode, kind
        self.runner = asyncio.Runner() if mode == "async" else None
        sdk, http = openai.OpenAI, openai.DefaultHttpxClient
        if self.runner is not None:
            sdk, http = openai.AsyncOpenAI, openai.DefaultAsyncHttpxClient
        self.clients = {
            v.name: sdk(
                base_url=v.base_url,
                api_key=f"sk-test-{v.name}",
                max_retries=0,
                timeout=10.0,
                http_client=http(verify=TLS),
            )
            for v in vendors
        }
        self.clock = options.setdefault("clock", FakeClock())
        settings = llm.options(STREAM[kind], **{**LIMITS, **options})
        self.fn: Any = routed(providers=self.clients, **settings)(FUNCTIONS[mode, kind != "call"])

    def ask(self, prefill: bool = False) -> Outcome:
        """Route one chat (``fn.route``) and read the whole answer, as the user would."""
        outcome = Outcome()
        try:
            if self.runner is not None:
                self.runner.run(self._ask_async(outcome, prefill))
            else:
                outcome.result = self.fn.route(PROMPT, prefill)
                self._read(outcome, outcome.result.response)
        except Exception as exc:
            outcome.error = exc
        return outcome

    def _read(self, outcome: Outcome, response: Any) -> None:
        if self.kind == "call":
            outcome.pieces.append(response.choices[0].message.content)
        else:
            outcome.pieces.extend(response)

    async def _ask_async(self, outcome: Outcome, prefill: bool) -> None:
        outcome.result = await self.fn.route(PROMPT, prefill)
        if self.kind == "call":
            self._read(outcome, outcome.result.response)
        else:
            async for piece in outcome.result.response:
                outcome.pieces.append(piece)

    def rows(self) -> dict[str, fallback_router.ProviderStatus]:
        return {row.name: row for row in self.fn.router.status()}

    def close(self) -> None:
        if self.runner is None:
            for client in self.clients.values():
                client.close()
            return
        for client in self.clients.values():
            self.runner.run(client.close())
        self.runner.close()


@pytest.fixture
def vendors() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    with (
        FakeOpenAI("primary", first_token_delay=SLOW) as primary,
        FakeOpenAI("backup", first_token_delay=SLOW) as backup,
    ):
        yield primary, backup


@pytest.fixture
def make_app(vendors) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def make(mode: str, kind: str, *chosen: FakeOpenAI, **options: Any) -> App:
        app = App(mode, kind, chosen or vendors, **options)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()


def errors_of(outcome: Outcome) -> list[type[BaseException] | None]:
    assert outcome.result is not None
    return [None if a.error is None else type(a.error) for a in outcome.result.attempts]


def assert_served(outcome: Outcome, by: str, errors: list[Any]) -> None:
    """``by`` served the complete answer, after attempts that failed with ``errors``."""
    assert outcome.served == by
    assert outcome.text == ANSWER
    assert errors_of(outcome) == [*errors, None]


def requests(*vendors: FakeOpenAI) -> tuple[int, ...]:
    return tuple(v.requests for v in vendors)


# -- rate limits ----------------------------------------------------------------------------


@modes
@kinds
def test_a_429_asking_for_a_moment_is_waited_out_on_the_same_vendor(make_app, vendors, mode, kind):
    """A 429 with a short Retry-After: the same vendor again after it; no fallback, no bench."""
    primary, backup = vendors
    primary.scenario, primary.retry_after = "rate_limited_once", SHORT_HINT
    app = make_app(mode, kind)
    assert_served(app.ask(), "primary", [])
    assert requests(primary, backup) == (2, 0)
    assert app.rows()["primary"].available


@modes
@kinds
def test_a_429_that_persists_benches_the_vendor_for_its_hint(make_app, vendors, mode, kind):
    """429 again after the retry: benched for the hint; no request until it passed."""
    primary, backup = vendors
    primary.scenario, primary.retry_after = "rate_limited", SHORT_HINT
    app = make_app(mode, kind)
    assert_served(app.ask(), "backup", [openai.RateLimitError])
    assert app.rows()["primary"].cooldown_remaining == pytest.approx(SHORT_HINT)
    assert app.ask().served == "backup"
    assert requests(primary, backup) == (2, 2)  # 1 + retries, then none inside the hint
    primary.scenario = "ok"
    app.clock.advance(SHORT_HINT)
    assert app.ask().served == "primary"


@modes
@kinds
@pytest.mark.parametrize("hint", [LONG_HINT, None], ids=["long-hint", "no-hint"])
def test_a_429_without_a_short_hint_falls_back_at_once(make_app, vendors, mode, kind, hint):
    """A 429 asking for 30 s, or for nothing: no retry; benched for the hint, else cooldown."""
    primary, backup = vendors
    primary.scenario, primary.retry_after = "rate_limited", hint
    app = make_app(mode, kind)
    assert_served(app.ask(), "backup", [openai.RateLimitError])
    assert app.rows()["primary"].cooldown_remaining == pytest.approx(hint or COOLDOWN)
    assert app.ask().served == "backup"
    assert requests(primary, backup) == (1, 2)


@modes
@kinds
def test_a_full_outage_with_retry_after_makes_no_request_inside_it(make_app, vendors, mode, kind):
    """Both 429 for 30 s: one typed failure, then AllProvidersBenchedError without a request."""
    primary, backup = vendors
    for vendor in vendors:
        vendor.scenario, vendor.retry_after = "rate_limited", LONG_HINT
    app = make_app(mode, kind)
    error = app.ask().raised(AllProvidersFailedError)
    assert [type(e) for e in error.exceptions] == [openai.RateLimitError] * 2
    benched = app.ask().raised(AllProvidersBenchedError)
    assert benched.retry_after == pytest.approx(LONG_HINT)
    assert set(benched.skipped) == {"primary", "backup"}
    app.clock.advance(LONG_HINT / 2)
    assert app.ask().raised(AllProvidersBenchedError).retry_after == pytest.approx(LONG_HINT / 2)
    assert requests(primary, backup) == (1, 1)  # the terminus is not hammered either
    primary.scenario = "ok"
    app.clock.advance(LONG_HINT / 2)
    assert app.ask().served == "primary"


@modes
@kinds
def test_an_exhausted_quota_benches_the_vendor_for_an_hour(make_app, vendors, mode, kind):
    """``insufficient_quota``: no retry, benched ``quota_cooldown``; the backup serves."""
    primary, backup = vendors
    primary.scenario = "quota_exhausted"
    app = make_app(mode, kind)
    assert_served(app.ask(), "backup", [openai.RateLimitError])
    assert app.rows()["primary"].cooldown_remaining == pytest.approx(3600.0)
    app.clock.advance(3000)
    assert app.ask().served == "backup"
    assert requests(primary, backup) == (1, 2)


# -- server errors ------------------------------------------------------------------------------


@modes
@kinds
def test_a_500_once_is_retried_on_the_same_vendor(make_app, vendors, mode, kind):
    """A single 500: the same vendor again (short backoff) serves; nobody benched."""
    primary, backup = vendors
    primary.scenario = "error_500_once"
    app = make_app(mode, kind)
    assert_served(app.ask(), "primary", [])
    assert requests(primary, backup) == (2, 0)
    assert all(row.available for row in app.rows().values())


@modes
@kinds
def test_a_persistent_503_is_retried_once_then_benched(make_app, vendors, mode, kind):
    """503 every time: two requests, benched ``cooldown``; later calls go to the backup."""
    primary, backup = vendors
    primary.scenario = "unavailable"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_served(outcome, "backup", [openai.InternalServerError])
    assert outcome.result.attempts[0].error.status_code == 503
    assert app.rows()["primary"].cooldown_remaining == pytest.approx(COOLDOWN)
    for _ in range(3):
        assert app.ask().served == "backup"
    assert requests(primary, backup) == (2, 4)


@modes
@kinds
def test_a_flapping_primary_keeps_its_traffic(make_app, vendors, mode, kind):
    """503 on every other request: each call's retry gets the answer; never benched."""
    primary, backup = vendors
    primary.scenario = "flapping"
    app = make_app(mode, kind)
    assert [app.ask().served for _ in range(3)] == ["primary"] * 3
    assert requests(primary, backup) == (6, 0)
    assert app.rows()["primary"].available


@modes
@kinds
def test_every_vendor_down_is_one_typed_failure(make_app, vendors, mode, kind):
    """Both 503: AllProvidersFailedError of their 503s, each vendor asked 1 + retries times."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "unavailable"
    app = make_app(mode, kind)
    error = app.ask().raised(AllProvidersFailedError)
    assert [e.status_code for e in error.exceptions] == [503, 503]
    assert requests(primary, backup) == (2, 2)


# -- connections and time ------------------------------------------------------------------------


@modes
@kinds
def test_a_tcp_reset_is_retried_then_benched(make_app, vendors, mode, kind):
    """An RST before any header: APIConnectionError twice, benched, the backup answers."""
    primary, backup = vendors
    primary.scenario = "reset"
    app = make_app(mode, kind)
    assert_served(app.ask(), "backup", [openai.APIConnectionError])
    assert app.ask().served == "backup"
    assert requests(primary, backup) == (2, 2)


@modes
@kinds
def test_no_response_times_out_and_falls_back(make_app, vendors, mode, kind):
    """A vendor that never answers: the attempt limit, no retry, benched; the backup answers."""
    primary, backup = vendors
    primary.scenario = "hang"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_served(outcome, "backup", [AttemptTimeoutError])
    assert outcome.result.attempts[0].error.limit == LIMIT
    assert llm.classify(outcome.result.attempts[0].error) is llm.ErrorKind.TIMEOUT
    assert app.rows()["primary"].cooldown_remaining == pytest.approx(COOLDOWN)
    assert app.ask().served == "backup"
    assert requests(primary, backup) == (1, 2)


@modes
@kinds
def test_every_vendor_hung_ends_with_the_budget(make_app, vendors, mode, kind):
    """Both hang: DeadlineExceededError when the budget runs out, one request each."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "hang"
    app = make_app(mode, kind, timeout=1.5, clock=None)  # the budget runs on real time
    error = app.ask().raised(DeadlineExceededError)
    assert [a.provider for a in error.attempts] == ["primary", "backup"]
    assert all(isinstance(a.error, AttemptTimeoutError) for a in error.attempts)
    assert requests(primary, backup) == (1, 1)


@modes
@kinds
def test_a_slow_first_token_falls_back(make_app, vendors, mode, kind):
    """Silent past the first-item (a call: attempt) limit: the backup answers."""
    primary, backup = vendors
    primary.scenario = "slow_first_token"
    app = make_app(mode, kind)
    assert_served(app.ask(), "backup", [AttemptTimeoutError])
    assert requests(primary, backup) == (1, 1)


# -- broken streams ------------------------------------------------------------------------------


@modes
@kinds
def test_a_stream_cut_mid_answer(make_app, vendors, mode, kind):
    """Cut after 3 pieces: a stream ends with StreamInterrupted; a call or buffer retries,
    then the backup's whole answer. Never a truncated success."""
    primary, backup = vendors
    primary.scenario = "cut_stream"
    app = make_app(mode, kind)
    outcome = app.ask()
    if kind == "stream":
        error = outcome.raised(StreamInterrupted)
        assert outcome.pieces == TOKENS[:3]
        assert (error.provider, error.items) == ("primary", 3)
        assert isinstance(error.__cause__, openai.APIConnectionError)
        assert requests(primary, backup) == (1, 0)
    else:
        assert_served(outcome, "backup", [openai.APIConnectionError])
        assert requests(primary, backup) == (2, 1)
    assert not app.rows()["primary"].available


@modes
@kinds
def test_a_stalled_stream(make_app, vendors, mode, kind):
    """Silent after 3 pieces: StreamInterrupted from the idle limit, else the backup."""
    primary, backup = vendors
    primary.scenario = "stall_stream"
    app = make_app(mode, kind)
    outcome = app.ask()
    if kind == "stream":
        error = outcome.raised(StreamInterrupted)
        assert outcome.pieces == TOKENS[:3]
        assert error.__cause__.kind == "idle"
        assert requests(primary, backup) == (1, 0)
    else:
        assert_served(outcome, "backup", [AttemptTimeoutError])
        assert requests(primary, backup) == (1, 1)
    assert not app.rows()["primary"].available


@modes
@kinds
def test_a_malformed_chunk(make_app, vendors, mode, kind):
    """Garbage instead of JSON: StreamInterrupted mid-stream, else a retry, then the backup."""
    primary, backup = vendors
    primary.scenario = "malformed_chunk"
    app = make_app(mode, kind)
    outcome = app.ask()
    if kind == "stream":
        error = outcome.raised(StreamInterrupted)
        assert outcome.pieces == TOKENS[:3]
        assert isinstance(error.__cause__, json.JSONDecodeError)
        assert requests(primary, backup) == (1, 0)
    else:
        assert_served(outcome, "backup", [json.JSONDecodeError])
        assert requests(primary, backup) == (2, 1)
    assert not app.rows()["primary"].available


@modes
@kinds
def test_a_stream_without_done_is_a_complete_answer(make_app, vendors, mode, kind):
    """No [DONE] but a finish reason: the whole answer from the primary; nobody benched."""
    primary, backup = vendors
    primary.scenario = "no_done"
    app = make_app(mode, kind)
    assert_served(app.ask(), "primary", [])
    assert requests(primary, backup) == (1, 0)
    assert all(row.available for row in app.rows().values())


class CleanCutVendor(FakeOpenAI):
    """``no_done`` that also drops the finish chunk: the body ends cleanly mid-answer."""

    def _on_no_done(self, conn: Any, call: Any) -> bool:
        if not call.stream:
            return super()._on_no_done(conn, call)
        return self._stream(conn, call, self._events(call)[: self._cut_at()])


@modes
@streams
def test_a_stream_ending_without_finish_reason_is_never_a_success(make_app, mode, kind):
    """A clean end without finish reason: StreamInterrupted(IncompleteAnswer), or (buffer)
    a retry, then the backup."""
    with CleanCutVendor("primary", scenario="no_done") as primary, FakeOpenAI("backup") as backup:
        app = make_app(mode, kind, primary, backup)
        outcome = app.ask()
        if kind == "stream":
            error = outcome.raised(StreamInterrupted)
            assert outcome.pieces == TOKENS[:3]
            assert isinstance(error.__cause__, llm.IncompleteAnswer)
            assert requests(primary, backup) == (1, 0)
        else:
            assert_served(outcome, "backup", [llm.IncompleteAnswer])
            assert requests(primary, backup) == (2, 1)


@modes
def test_a_blank_buffered_answer_goes_to_the_backup_unbenched(make_app, vendors, mode):
    """``accept=`` refuses a buffered answer without text: the backup's; no bench."""
    primary, backup = vendors
    primary.tokens = []
    app = make_app(mode, "buffer")
    assert_served(app.ask(), "backup", [RejectedResponseError])
    assert app.rows()["primary"].available
    assert requests(primary, backup) == (1, 1)


# -- the caller's request --------------------------------------------------------------------------


@modes
@kinds
def test_context_length_falls_back_and_benches_nobody(make_app, vendors, mode, kind):
    """Too long for the primary: the backup (a larger window) answers; primary not benched."""
    primary, backup = vendors
    primary.scenario = "context_length"
    app = make_app(mode, kind)
    assert_served(app.ask(), "backup", [openai.BadRequestError])
    assert app.rows()["primary"].available
    assert app.ask().served == "backup"
    assert requests(primary, backup) == (2, 2)  # asked again: not benched


@modes
@kinds
def test_context_length_everywhere_or_raise(make_app, vendors, mode, kind):
    """Too long for both: one typed failure; ``on_context_length="raise"``: raised at once."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "context_length"
    error = make_app(mode, kind).ask().raised(AllProvidersFailedError)
    assert [e.code for e in error.exceptions] == ["context_length_exceeded"] * 2
    app = make_app(mode, kind, on_context_length="raise")
    raised = app.ask().raised(openai.BadRequestError)
    assert not isinstance(raised.__context__, fallback_router.RoutingError)
    assert requests(primary, backup) == (2, 1)
    assert all(row.available for row in app.rows().values())


@modes
@kinds
def test_a_content_filter_refusal_reaches_the_caller(make_app, vendors, mode, kind):
    """A content-filter 400: the SDK's error at once, unchanged; no other vendor, no bench."""
    primary, backup = vendors
    primary.scenario = "content_policy"
    app = make_app(mode, kind)
    error = app.ask().raised(openai.BadRequestError)
    assert error.code == "content_filter"
    assert not isinstance(error, fallback_router.RoutingError)
    assert not isinstance(error.__context__, fallback_router.RoutingError)
    assert requests(primary, backup) == (1, 0)
    assert all(row.available for row in app.rows().values())
    fallback = make_app(mode, kind, on_content_filter="fallback")
    assert_served(fallback.ask(), "backup", [openai.BadRequestError])
    assert fallback.rows()["primary"].available


@modes
@kinds
def test_a_prefill_the_fallback_rejects_is_raised(make_app, vendors, mode, kind):
    """Primary down, the backup refuses the assistant prefill (400): that error, unbenched."""
    primary, backup = vendors
    primary.scenario, backup.scenario = "unavailable", "prefill_rejected"
    app = make_app(mode, kind)
    error = app.ask(prefill=True).raised(openai.BadRequestError)
    assert error.code == "unsupported_value"
    assert requests(primary, backup) == (2, 1)
    assert app.rows()["backup"].available
    assert not app.rows()["primary"].available


@modes
@kinds
def test_a_rejected_key_benches_for_ten_minutes_with_one_error_log(
    make_app, vendors, mode, kind, logs
):
    """401: no retry, benched ``auth_cooldown``, one ERROR per cooldown naming the vendor."""
    primary, backup = vendors
    primary.scenario = "unauthorized"
    app = make_app(mode, kind)
    assert_served(app.ask(), "backup", [openai.AuthenticationError])
    assert app.rows()["primary"].cooldown_remaining == pytest.approx(600.0)
    assert app.ask().served == "backup"
    refused = logs.find("provider refused the credentials or the model")
    assert [(r["level"].name, r["extra"]["provider"]) for r in refused] == [("ERROR", "primary")]
    assert "sk-test-primary" not in refused[0]["message"]
    app.clock.advance(600)
    assert app.ask().served == "backup"  # its probe fails again: a second ERROR
    assert len(logs.find("provider refused the credentials or the model")) == 2
    assert requests(primary, backup) == (2, 3)


# -- accounting -------------------------------------------------------------------------------------


@modes
@kinds
def test_route_accounts_for_the_serving_vendor_and_attempts(make_app, vendors, mode, kind):
    """``fn.route`` names the server, each attempt and the skips; retries stay one attempt."""
    primary, _ = vendors
    primary.scenario = "unavailable"
    app = make_app(mode, kind)
    result = app.ask().result
    assert result is not None
    assert (result.provider, result.attempt, result.was_terminus) == ("backup", 2, True)
    failed, served = result.attempts
    assert (failed.provider, failed.counted, served.ok) == ("primary", True, True)
    again = app.ask().result
    assert (again.provider, again.attempt, again.skipped) == ("backup", 1, ("primary",))


@modes
def test_a_call_keeps_the_whole_response_with_its_usage(make_app, vendors, mode):
    """A plain call returns the SDK's response: model, usage and finish reason intact."""
    result = make_app(mode, "call").ask().result
    assert result is not None
    response = result.response
    assert (response.model, response.choices[0].finish_reason) == ("primary", "stop")
    assert response.usage.total_tokens == response.usage.prompt_tokens + len(TOKENS)


class Settling(fallback_router.InMemoryRateLimiter):
    """Token quotas that record the counts the router settles (``usage_of``; no estimate)."""

    def __init__(self) -> None:
        quota = ["1000/s", "10000 tokens/h"]
        super().__init__({"primary": quota, "backup": quota})
        self.settled: list[tuple[str, int]] = []

    def settle(self, name: str, used: int, reserved: int) -> None:
        self.settled.append((name, used))
        super().settle(name, used, reserved)


@modes
def test_the_preset_reads_the_tokens_each_answer_used(make_app, vendors, mode):
    """The preset's ``usage_of`` reads the SDK response's usage: the serving vendor settles it."""
    primary, _ = vendors
    primary.scenario = "error_500_once"
    limiter = Settling()
    result = make_app(mode, "call", rate_limits=limiter).ask().result
    assert result is not None
    used = result.response.usage.total_tokens
    assert limiter.settled == [("primary", used)]  # the 500 settled nothing: no usage
    assert limiter.levels("primary")[1][1] == pytest.approx(10_000 - used, abs=1)


@modes
def test_streamed_chunks_keep_model_finish_reason_and_usage(vendors, mode):
    """``llm.chunks`` through the router: the consumer gets the SDK's chunks, usage last."""
    primary, backup = vendors
    primary.scenario = "unavailable"
    extra = {"stream_options": {"include_usage": True}}

    def chunks(client: openai.OpenAI) -> Iterator[Any]:
        with client.chat.completions.create(
            model="m", messages=messages(PROMPT, False), stream=True, **extra
        ) as stream:
            yield from llm.chunks(stream)

    async def achunks(client: openai.AsyncOpenAI) -> Any:
        stream = await client.chat.completions.create(
            model="m", messages=messages(PROMPT, False), stream=True, **extra
        )
        async with stream:
            async for chunk in llm.achunks(stream):
                yield chunk

    app = App(mode, "stream", vendors)
    try:
        limiter = Settling()
        settings = llm.options("buffer", clock=FakeClock(), rate_limits=limiter)
        fn = routed(providers=app.clients, **settings)(chunks if mode == "sync" else achunks)
        if mode == "sync":
            got = list(fn())
        else:

            async def read() -> list[Any]:
                return [chunk async for chunk in fn()]

            assert app.runner is not None
            got = app.runner.run(read())
    finally:
        app.close()
    assert {chunk.model for chunk in got} == {"backup"}
    assert got[-2].choices[0].finish_reason == "stop"
    assert got[-1].usage.completion_tokens == len(TOKENS)
    assert limiter.settled == [("backup", got[-1].usage.total_tokens)]  # read off the last chunk
    assert requests(primary, backup) == (2, 1)


def test_without_the_preset_the_terminus_is_still_forced(vendors):
    """The router's defaults keep the seed's rule: a benched terminus is always tried."""
    primary, backup = vendors
    for vendor in vendors:
        vendor.scenario, vendor.retry_after = "rate_limited", LONG_HINT
    clients = {
        v.name: openai.OpenAI(base_url=v.base_url, api_key="k", max_retries=0) for v in vendors
    }
    fn = routed(providers=clients, clock=FakeClock())(chat)
    for _ in range(2):
        with pytest.raises(AllProvidersFailedError):
            fn(PROMPT)
    assert requests(primary, backup) == (1, 2)
    for client in clients.values():
        client.close()


# -- hedging and three vendors ----------------------------------------------------------------------


@modes
def test_a_hedge_wins_over_a_slow_primary(make_app, vendors, mode):
    """``hedge_after``: a slow primary gets company; the backup wins, marked as the hedge."""
    primary, backup = vendors
    primary.scenario = "slow_first_token"
    app = make_app(mode, "call", hedge_after=0.2, attempt_timeout=2.0)
    outcome = app.ask()
    assert outcome.served == "backup"
    assert outcome.text == ANSWER
    assert outcome.result.attempts[-1].hedged
    row = app.rows()["primary"]
    assert row.available  # the loser is neither a failure nor a success
    assert (row.failures, row.successes) == (0, 0)
    assert requests(primary, backup) == (1, 1)


@modes
def test_three_vendors_fall_through_to_the_last(make_app, mode):
    """Three vendors, two down: the third answers; both others benched, then skipped."""
    with (
        FakeOpenAI("primary", scenario="unavailable") as primary,
        FakeOpenAI("secondary", scenario="reset") as secondary,
        FakeOpenAI("backup") as backup,
    ):
        app = make_app(mode, "buffer", primary, secondary, backup)
        outcome = app.ask()
        assert_served(outcome, "backup", [openai.InternalServerError, openai.APIConnectionError])
        again = app.ask()
        assert again.result.skipped == ("primary", "secondary")
        assert requests(primary, secondary, backup) == (2, 2, 2)
