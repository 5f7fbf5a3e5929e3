"""Failover scenarios of an LLM app: local fake vendors, the official ``openai`` SDK.

Every app is routed with the recipe (``examples/llm_recipe.py``, shown verbatim in the guide)
and only its time limits shortened (``LIMITS``). Each scenario runs sync
(``openai.OpenAI``) and async (``openai.AsyncOpenAI``), as a plain call, a stream and a
buffered stream where that applies, and ends with the complete answer or a clean,
typed error: no hang, no truncated success, no request to a benched vendor. Cooldowns
are read on a ``FakeClock`` wherever a test moves past them; the few wall-clock bounds
are generous (``MARGIN``).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

import fallback_router
from fallback_router import (
    AllProvidersFailedError,
    AttemptTimeoutError,
    DeadlineExceededError,
    RejectedResponseError,
    Result,
    StreamInterrupted,
    routed,
)

from .support.fake_openai import DEFAULT_TOKENS, FakeOpenAI
from .support.helpers import FakeClock, load_example

_recipe = load_example("llm_recipe")
IncompleteAnswer = _recipe.IncompleteAnswer
atext_of = _recipe.atext_of
benches = _recipe.benches
falls_back = _recipe.falls_back
has_text = _recipe.has_text
llm_options = _recipe.llm_options
text_of = _recipe.text_of


pytestmark = pytest.mark.timeout(30)

TOKENS = list(DEFAULT_TOKENS)
ANSWER = "".join(TOKENS)
PROMPT = "Say something."
#: The recipe's time limits, shortened for a local vendor.
LIMIT = 1.5  # each attempt, first item and silence between items (a healthy vendor: ms;
# a second and a half keeps a healthy backup within it on a loaded machine)
LIMITS = {
    "timeout": 6.0,
    "attempt_timeout": LIMIT,
    "first_item_timeout": LIMIT,
    "idle_timeout": LIMIT,
}
#: Slack on every wall-clock bound (a loaded CI machine, thread and loop start-up).
MARGIN = 1.0
#: Seconds a slow vendor keeps silent: longer than every limit above.
SLOW = 3.0
RETRY_AFTER = 1.0  # the fake's 429s: retry-after: 1, retry-after-ms: 1000
COOLDOWN = 60.0  # the router's default cooldown (no Retry-After)
#: One TLS context for every client: building one is most of a client's cost (unused here).
TLS = ssl.create_default_context()

modes = pytest.mark.parametrize("mode", ["sync", "async"])
kinds = pytest.mark.parametrize("kind", ["call", "stream", "buffer"])
streams = pytest.mark.parametrize("kind", ["stream", "buffer"])


# -- the app under test --------------------------------------------------------------------


def messages(prompt: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}]


def chat(client: openai.OpenAI, prompt: str) -> str | None:
    answer = client.chat.completions.create(model="m", messages=messages(prompt))
    return answer.choices[0].message.content


def chat_stream(client: openai.OpenAI, prompt: str) -> Iterator[str]:
    with client.chat.completions.create(model="m", messages=messages(prompt), stream=True) as s:
        yield from text_of(s)


async def achat(client: openai.AsyncOpenAI, prompt: str) -> str | None:
    answer = await client.chat.completions.create(model="m", messages=messages(prompt))
    return answer.choices[0].message.content


async def achat_stream(client: openai.AsyncOpenAI, prompt: str) -> Any:
    stream = await client.chat.completions.create(model="m", messages=messages(prompt), stream=True)
    async with stream:
        async for piece in atext_of(stream):
            yield piece


FUNCTIONS: dict[tuple[str, bool], Callable[..., Any]] = {
    ("sync", False): chat,
    ("sync", True): chat_stream,
    ("async", False): achat,
    ("async", True): achat_stream,
}


@dataclass
class Outcome:
    """What the user saw: the pieces received (a call: its answer), then any error."""

    pieces: list[str] = field(default_factory=list)
    error: Exception | None = None
    result: Result[Any] | None = None
    seconds: float = 0.0

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
                http_client=http(verify=TLS),
            )
            for v in vendors
        }
        stream = {"call": False, "stream": True, "buffer": "buffer"}[kind]
        settings = llm_options(stream, **{**LIMITS, **options})
        self.fn: Any = routed(providers=self.clients, **settings)(FUNCTIONS[mode, kind != "call"])

    def ask(self) -> Outcome:
        """Route one chat (``fn.route``) and read the whole answer, as the user would."""
        outcome = Outcome()
        start = time.monotonic()
        try:
            if self.runner is not None:
                self.runner.run(self._ask_async(outcome))
            else:
                outcome.result = self.fn.route(PROMPT)
                if self.kind == "call":
                    outcome.pieces.append(outcome.result.response)
                else:
                    outcome.pieces.extend(outcome.result.response)
        except Exception as exc:
            outcome.error = exc
        outcome.seconds = time.monotonic() - start
        return outcome

    async def _ask_async(self, outcome: Outcome) -> None:
        outcome.result = await self.fn.route(PROMPT)
        if self.kind == "call":
            outcome.pieces.append(outcome.result.response)
        else:
            async for piece in outcome.result.response:
                outcome.pieces.append(piece)

    def answer(self) -> str:
        """The plain call: ``fn(prompt)`` (a stream: joined)."""
        if self.runner is None:
            return self.fn(PROMPT) if self.kind == "call" else "".join(self.fn(PROMPT))
        return self.runner.run(self._answer_async())

    async def _answer_async(self) -> str:
        if self.kind == "call":
            return await self.fn(PROMPT)
        return "".join([piece async for piece in self.fn(PROMPT)])

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
    with FakeOpenAI("primary") as primary, FakeOpenAI("backup") as backup:
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


def assert_backup_served(outcome: Outcome, first_error: type[BaseException]) -> None:
    """The backup served the complete answer after the primary failed with ``first_error``."""
    assert outcome.served == "backup"
    assert outcome.text == ANSWER
    assert outcome.result is not None
    assert outcome.result.attempt == 2
    assert errors_of(outcome) == [first_error, None]


# -- the recipe ------------------------------------------------------------------------------


def sdk_error(scenario: str) -> Exception:
    """The error the real SDK raises for ``scenario`` (non-streaming; hang: a 0.2 s client)."""
    chat_messages = messages(PROMPT)
    if scenario == "prefill_rejected":
        chat_messages.append({"role": "assistant", "content": "Sure:"})
    with (
        FakeOpenAI("alpha", scenario=scenario) as vendor,
        openai.OpenAI(
            base_url=vendor.base_url,
            api_key="sk-test-a",
            max_retries=0,
            timeout=0.2,
            http_client=openai.DefaultHttpxClient(verify=TLS),
        ) as client,
    ):
        try:
            client.chat.completions.create(model="m", messages=chat_messages)
        except Exception as exc:
            return exc
    pytest.fail(f"{scenario} did not fail")


@pytest.mark.parametrize(
    ("scenario", "moves_on", "benched"),
    [
        ("rate_limited", True, True),
        ("error_500_once", True, True),
        ("unavailable", True, True),
        ("reset", True, True),
        ("hang", True, True),
        ("malformed_chunk", True, True),
        ("content_policy", True, False),
        ("prefill_rejected", True, False),
        ("context_length", False, False),
    ],
)
def test_the_recipe_sorts_real_sdk_errors(scenario, moves_on, benched):
    """The recipe's predicates on the SDK's own errors: fall back, bench, or propagate."""
    error = sdk_error(scenario)
    assert falls_back(error) is moves_on
    assert (moves_on and benches(error)) is benched


def test_the_recipe_covers_the_routers_own_failures():
    """Timeouts and cut answers bench; a rejected (blank) answer falls back unbenched."""
    timeout = AttemptTimeoutError("primary", 0.4)
    rejected = RejectedResponseError("primary", [" "])
    cut = IncompleteAnswer("cut")
    assert [falls_back(e) for e in (timeout, cut, rejected)] == [True, True, True]
    assert [benches(e) for e in (timeout, cut, rejected)] == [True, True, False]
    assert not falls_back(ValueError("a bug in the app"))  # the app's own errors propagate
    assert [has_text(p) for p in (["Hel", "lo"], [], [" ", "\n"])] == [True, False, False]


@kinds
def test_the_recipe_sets_the_documented_options(kind):
    """``llm_options`` is what the guide says: the predicates, limits, buffer and accept."""
    stream = {"call": False, "stream": True, "buffer": "buffer"}[kind]
    options = llm_options(stream)
    assert options["fallback_on"] is falls_back
    assert options["cooldown_on"] is benches
    assert (options["timeout"], options["attempt_timeout"]) == (60.0, 20.0)
    assert ("idle_timeout" in options) is (kind != "call")
    assert options.get("stream_failover") == ("buffer" if kind == "buffer" else None)
    assert options.get("accept") is (has_text if kind == "buffer" else None)
    fallback_router.Router({"a": 1}, **options)  # valid router options


# -- rate limits and server errors ---------------------------------------------------------


@modes
@kinds
def test_429_once_falls_back_and_benches_for_retry_after_ms(make_app, vendors, mode, kind):
    """A 429 once: the backup answers, the primary sits out retry-after-ms, then serves."""
    primary, backup = vendors
    primary.scenario, primary.retry_after = "rate_limited_once", 0.25  # retry-after: 1
    clock = FakeClock()
    app = make_app(mode, kind, clock=clock)
    assert_backup_served(app.ask(), openai.RateLimitError)
    row = app.rows()["primary"]
    assert not row.available
    assert row.cooldown_remaining == pytest.approx(0.25)  # retry-after-ms wins
    again = app.ask()
    assert again.served == "backup"
    assert again.result.skipped == ("primary",)
    assert primary.requests == 1  # no request while benched
    clock.advance(0.25)
    healed = app.ask()
    assert healed.served == "primary"
    assert healed.text == ANSWER
    assert (primary.requests, backup.requests) == (2, 2)


@modes
@kinds
def test_429_persistent_benches_the_primary_for_about_a_second(make_app, vendors, mode, kind):
    """A vendor answering 429 each time is benched ~1 s (real clock, 0.5 s margin)."""
    primary, backup = vendors
    primary.scenario = "rate_limited"
    app = make_app(mode, kind)
    assert_backup_served(app.ask(), openai.RateLimitError)
    row = app.rows()["primary"]
    assert not row.available
    assert RETRY_AFTER - 0.5 < row.cooldown_remaining <= RETRY_AFTER
    assert row.cooldown_length == pytest.approx(RETRY_AFTER)
    for _ in range(3):
        assert app.ask().served == "backup"
    assert (primary.requests, backup.requests) == (1, 4)


@modes
@kinds
def test_every_vendor_rate_limited_is_one_typed_error_then_no_hammering(
    make_app, vendors, mode, kind
):
    """Both 429: an AllProvidersFailedError of RateLimitErrors; then only the terminus."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "rate_limited"
    app = make_app(mode, kind)
    error = app.ask().raised(AllProvidersFailedError)
    assert [type(e) for e in error.exceptions] == [openai.RateLimitError] * 2
    matched, rest = error.split(openai.RateLimitError)  # what ``except*`` hands over
    assert isinstance(matched, AllProvidersFailedError)
    assert rest is None
    assert not any(row.available for row in app.rows().values())
    forced = app.ask().raised(AllProvidersFailedError)
    assert forced.skipped == ("primary",)  # benched; the terminus is always tried
    assert (primary.requests, backup.requests) == (1, 2)


@modes
@kinds
def test_500_once_falls_back_and_the_primary_returns_after_its_cooldown(
    make_app, vendors, mode, kind
):
    """A 500 once: the backup answers; the primary is benched one cooldown, then serves."""
    primary, backup = vendors
    primary.scenario = "error_500_once"
    clock = FakeClock()
    app = make_app(mode, kind, clock=clock)
    assert_backup_served(app.ask(), openai.InternalServerError)
    assert app.rows()["primary"].cooldown_remaining == pytest.approx(COOLDOWN)
    assert app.ask().served == "backup"
    assert primary.requests == 1
    clock.advance(COOLDOWN)
    assert app.ask().served == "primary"
    assert (primary.requests, backup.requests) == (2, 2)


@modes
@kinds
def test_503_persistent_benches_the_primary(make_app, vendors, mode, kind):
    """A vendor answering 503 each time is benched: later calls go straight to the backup."""
    primary, backup = vendors
    primary.scenario = "unavailable"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_backup_served(outcome, openai.InternalServerError)
    assert outcome.result.attempts[0].error.status_code == 503
    assert outcome.result.attempts[0].counted
    for _ in range(3):
        assert app.ask().served == "backup"
    assert (primary.requests, backup.requests) == (1, 4)


@modes
@kinds
def test_every_vendor_unavailable_ends_with_their_503s(make_app, vendors, mode, kind):
    """Both 503: one AllProvidersFailedError naming both; the next call only tries the terminus."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "unavailable"
    app = make_app(mode, kind)
    error = app.ask().raised(AllProvidersFailedError)
    assert [a.provider for a in error.attempts] == ["primary", "backup"]
    assert [e.status_code for e in error.exceptions] == [503, 503]
    app.ask().raised(AllProvidersFailedError)
    assert (primary.requests, backup.requests) == (1, 2)


# -- connection failures --------------------------------------------------------------------


@modes
@kinds
def test_a_reset_before_headers_falls_back_and_benches(make_app, vendors, mode, kind):
    """A TCP reset before any header: APIConnectionError, the backup answers, primary benched."""
    primary, backup = vendors
    primary.scenario = "reset"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_backup_served(outcome, openai.APIConnectionError)
    assert app.ask().served == "backup"
    assert (primary.requests, backup.requests) == (1, 2)


@modes
@kinds
def test_a_hung_vendor_is_bounded_by_the_attempt_timeout(make_app, vendors, mode, kind):
    """No response at all: the attempt times out, the backup answers within the budget."""
    primary, backup = vendors
    primary.scenario = "hang"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_backup_served(outcome, AttemptTimeoutError)
    timeout = outcome.result.attempts[0].error
    assert timeout.kind == ("attempt" if kind == "call" else "first item")
    assert timeout.limit == LIMIT
    assert LIMIT <= outcome.seconds < LIMITS["timeout"] + MARGIN
    assert not app.rows()["primary"].available
    assert app.ask().served == "backup"
    assert (primary.requests, backup.requests) == (1, 2)


@modes
@kinds
def test_every_vendor_hung_ends_within_the_budget(make_app, vendors, mode, kind):
    """Both hang: DeadlineExceededError when the 0.6 s budget runs out, not later."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "hang"
    app = make_app(mode, kind, timeout=0.6, attempt_timeout=0.4, first_item_timeout=0.4)
    outcome = app.ask()
    error = outcome.raised(DeadlineExceededError)
    assert [a.provider for a in error.attempts] == ["primary", "backup"]
    assert all(isinstance(a.error, AttemptTimeoutError) for a in error.attempts)
    assert 0.6 <= outcome.seconds < 0.6 + MARGIN
    assert (primary.requests, backup.requests) == (1, 1)


@modes
@kinds
def test_a_slow_first_token_falls_back(make_app, vendors, mode, kind):
    """A vendor silent past the first-item (call: attempt) limit: the backup answers."""
    primary, backup = vendors
    primary.scenario, primary.first_token_delay = "slow_first_token", SLOW
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_backup_served(outcome, AttemptTimeoutError)
    assert outcome.seconds < SLOW  # did not wait for the slow vendor
    assert (primary.requests, backup.requests) == (1, 1)


# -- broken streams --------------------------------------------------------------------------


@modes
def test_a_stream_cut_mid_answer_raises_stream_interrupted(make_app, vendors, mode):
    """A stream cut after 3 pieces: the 3 pieces, then StreamInterrupted; no other vendor."""
    primary, backup = vendors
    primary.scenario = "cut_stream"
    app = make_app(mode, "stream")
    outcome = app.ask()
    error = outcome.raised(StreamInterrupted)
    assert outcome.pieces == TOKENS[:3]
    assert (error.provider, error.items) == ("primary", 3)
    assert isinstance(error.__cause__, openai.APIConnectionError)
    assert not app.rows()["primary"].available
    assert (primary.requests, backup.requests) == (1, 0)


@modes
@pytest.mark.parametrize("kind", ["call", "buffer"])
def test_a_cut_answer_falls_back_when_nothing_was_shown(make_app, vendors, mode, kind):
    """Cut mid-body (a call, or a buffered stream): the user sees only the backup's answer."""
    primary, backup = vendors
    primary.scenario = "cut_stream"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_backup_served(outcome, openai.APIConnectionError)
    assert outcome.pieces == ([ANSWER] if kind == "call" else TOKENS)
    assert (primary.requests, backup.requests) == (1, 1)


@modes
def test_a_stalled_stream_raises_stream_interrupted_after_idle_timeout(make_app, vendors, mode):
    """A stream silent after 3 pieces: StreamInterrupted from an idle AttemptTimeoutError."""
    primary, backup = vendors
    primary.scenario = "stall_stream"
    app = make_app(mode, "stream")
    outcome = app.ask()
    error = outcome.raised(StreamInterrupted)
    assert outcome.pieces == TOKENS[:3]
    assert isinstance(error.__cause__, AttemptTimeoutError)
    assert error.__cause__.kind == "idle"
    assert outcome.seconds < LIMITS["idle_timeout"] + MARGIN
    assert not app.rows()["primary"].available
    assert (primary.requests, backup.requests) == (1, 0)


@modes
@pytest.mark.parametrize("kind", ["call", "buffer"])
def test_a_stalled_answer_falls_back_when_nothing_was_shown(make_app, vendors, mode, kind):
    """Stalled mid-body (a call, or a buffered stream): the backup's complete answer."""
    primary, backup = vendors
    primary.scenario = "stall_stream"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_backup_served(outcome, AttemptTimeoutError)
    assert outcome.result.attempts[0].error.kind == ("attempt" if kind == "call" else "idle")
    assert (primary.requests, backup.requests) == (1, 1)


@modes
@kinds
def test_a_malformed_chunk_never_reaches_the_user_as_an_answer(make_app, vendors, mode, kind):
    """Garbage instead of JSON: StreamInterrupted mid-stream, else the backup; benched."""
    primary, backup = vendors
    primary.scenario = "malformed_chunk"
    app = make_app(mode, kind)
    outcome = app.ask()
    if kind == "stream":
        error = outcome.raised(StreamInterrupted)
        assert outcome.pieces == TOKENS[:3]
        assert isinstance(error.__cause__, json.JSONDecodeError)
        assert backup.requests == 0
    else:
        assert_backup_served(outcome, json.JSONDecodeError)
        assert backup.requests == 1
    assert not app.rows()["primary"].available
    assert primary.requests == 1


@modes
@kinds
def test_a_stream_without_done_is_a_complete_answer(make_app, vendors, mode, kind):
    """No [DONE] but a finish_reason: the answer is whole; served, nobody benched."""
    primary, backup = vendors
    primary.scenario = "no_done"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert outcome.served == "primary"
    assert outcome.text == ANSWER
    assert all(row.available for row in app.rows().values())
    assert (primary.requests, backup.requests) == (1, 0)


class CleanCutVendor(FakeOpenAI):
    """``no_done`` that also drops the finish chunk: the body ends cleanly mid-answer."""

    def _on_no_done(self, conn: Any, call: Any) -> bool:
        if not call.stream:
            return super()._on_no_done(conn, call)
        return self._stream(conn, call, self._events(call)[: self._cut_at()])


@modes
@streams
def test_a_stream_ending_without_finish_reason_is_never_a_success(make_app, mode, kind):
    """A clean end without finish_reason or [DONE]: StreamInterrupted, or (buffer) the backup."""
    with (
        CleanCutVendor("primary", scenario="no_done") as primary,
        FakeOpenAI("backup") as backup,
    ):
        app = make_app(mode, kind, primary, backup)
        outcome = app.ask()
        if kind == "stream":
            error = outcome.raised(StreamInterrupted)
            assert outcome.pieces == TOKENS[:3]
            assert isinstance(error.__cause__, IncompleteAnswer)
            assert backup.requests == 0
        else:
            assert_backup_served(outcome, IncompleteAnswer)
            assert backup.requests == 1
        assert not app.rows()["primary"].available
        assert primary.requests == 1


@modes
def test_a_blank_buffered_answer_goes_to_the_backup_unbenched(make_app, vendors, mode):
    """``accept=`` rejects a buffered stream with no text: the backup answers, no bench."""
    primary, backup = vendors
    primary.tokens = []
    app = make_app(mode, "buffer")
    outcome = app.ask()
    assert_backup_served(outcome, RejectedResponseError)
    assert app.rows()["primary"].available
    assert (primary.requests, backup.requests) == (1, 1)


# -- the caller's request ------------------------------------------------------------------


@modes
@kinds
def test_context_length_exceeded_propagates_at_once(make_app, vendors, mode, kind):
    """Too long a prompt: the SDK's BadRequestError at once; backup never called; no bench."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "context_length"
    app = make_app(mode, kind)
    error = app.ask().raised(openai.BadRequestError)
    assert not isinstance(error, fallback_router.RoutingError)
    assert not isinstance(error.__context__, fallback_router.RoutingError)  # nothing added
    assert error.code == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        app.answer()
    assert (primary.requests, backup.requests) == (2, 0)
    assert all(row.available and row.cooldown_remaining == 0 for row in app.rows().values())


@modes
@kinds
def test_a_content_policy_rejection_falls_back_without_benching(make_app, vendors, mode, kind):
    """A content_filter 400: the backup answers; the primary is not benched (tried again)."""
    primary, backup = vendors
    primary.scenario = "content_policy"
    app = make_app(mode, kind)
    outcome = app.ask()
    assert_backup_served(outcome, openai.BadRequestError)
    assert outcome.result.attempts[0].error.code == "content_filter"
    assert not outcome.result.attempts[0].counted
    assert app.rows()["primary"].available
    assert app.ask().served == "backup"
    assert (primary.requests, backup.requests) == (2, 2)  # asked again: not benched


@modes
def test_content_policy_everywhere_fails_typed_and_benches_nobody(make_app, vendors, mode):
    """Every vendor refuses the prompt: AllProvidersFailedError of BadRequestErrors."""
    primary, backup = vendors
    primary.scenario = backup.scenario = "content_policy"
    app = make_app(mode, "call")
    error = app.ask().raised(AllProvidersFailedError)
    assert [e.code for e in error.exceptions] == ["content_filter"] * 2
    assert all(row.available for row in app.rows().values())


# -- recovery, accounting, hedging ----------------------------------------------------------


@modes
@kinds
def test_traffic_returns_to_the_primary_within_one_cooldown_of_recovery(
    make_app, vendors, mode, kind
):
    """Down, then healed: the backup serves while benched; one cooldown later the primary."""
    primary, backup = vendors
    primary.scenario = "down_then_healthy"
    clock = FakeClock()
    app = make_app(mode, kind, clock=clock)
    assert_backup_served(app.ask(), openai.InternalServerError)
    clock.advance(COOLDOWN / 2)
    primary.heal()
    assert app.ask().served == "backup"  # still benched: no request to find out
    assert primary.requests == 1
    clock.advance(COOLDOWN / 2)
    assert [app.ask().served for _ in range(3)] == ["primary"] * 3
    assert (primary.requests, backup.requests) == (4, 2)
    assert app.rows()["primary"].successes == 3


@modes
@kinds
def test_route_accounts_for_the_serving_vendor_attempts_and_time(make_app, vendors, mode, kind):
    """``fn.route`` names the server, each attempt (error, counted, latency) and elapsed."""
    primary, _ = vendors
    primary.scenario = "hang"
    app = make_app(mode, kind)
    result = app.ask().result
    assert result is not None
    assert (result.provider, result.attempt, result.was_terminus) == ("backup", 2, True)
    failed, served = result.attempts
    assert (failed.provider, served.provider) == ("primary", "backup")
    assert isinstance(failed.error, AttemptTimeoutError)
    assert (failed.counted, failed.hedged) == (True, False)
    assert "timed out" in failed.error_text
    assert served.ok
    assert served.latency == result.latency
    assert failed.latency >= LIMIT
    assert result.elapsed >= failed.latency + served.latency
    assert result.elapsed < LIMITS["timeout"] + MARGIN
    assert result.skipped == ()
    again = app.ask().result
    assert (again.provider, again.attempt, again.skipped) == ("backup", 1, ("primary",))
    assert [a.provider for a in again.attempts] == ["backup"]


@modes
def test_a_hedge_wins_over_a_slow_primary(make_app, vendors, mode):
    """``hedge_after``: a slow primary gets company; the backup wins, marked as the hedge."""
    primary, backup = vendors
    primary.scenario, primary.first_token_delay = "slow_first_token", SLOW
    app = make_app(mode, "call", hedge_after=0.2, attempt_timeout=2.0)
    outcome = app.ask()
    assert outcome.served == "backup"
    assert outcome.text == ANSWER
    assert 0.2 <= outcome.seconds < SLOW  # the hedge, not the primary's answer
    attempts = outcome.result.attempts
    assert attempts[-1].provider == "backup"
    assert attempts[-1].hedged
    assert outcome.result.attempt == 2
    row = app.rows()["primary"]
    assert row.available  # the loser is neither a failure nor a success
    assert (row.failures, row.successes) == (0, 0)
    assert (primary.requests, backup.requests) == (1, 1)


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
        assert outcome.served == "backup"
        assert errors_of(outcome) == [openai.InternalServerError, openai.APIConnectionError, None]
        again = app.ask()
        assert again.result.skipped == ("primary", "secondary")
        assert (primary.requests, secondary.requests, backup.requests) == (1, 1, 2)


@modes
@kinds
def test_wait_for_cooldown_waits_out_a_short_retry_after(make_app, vendors, mode, kind):
    """Both vendors 429 briefly: with wait_for_cooldown the next call waits, the primary serves."""
    primary, backup = vendors
    for vendor in vendors:
        vendor.scenario, vendor.retry_after = "rate_limited_once", 0.25
    app = make_app(mode, kind, wait_for_cooldown=True)
    app.ask().raised(AllProvidersFailedError)
    outcome = app.ask()
    assert outcome.served == "primary"
    assert outcome.text == ANSWER
    assert 0.2 <= outcome.seconds < 0.25 + MARGIN  # waited the Retry-After, not the budget
    assert (primary.requests, backup.requests) == (2, 1)


# -- router bugs these scenarios found (fixed) ------------------------------------------------


@modes
def test_a_hedged_call_lists_every_attempt_made(make_app, vendors, mode):
    """Result.attempts lists the slow primary's abandoned attempt next to the hedge that won."""
    primary, _ = vendors
    primary.scenario, primary.first_token_delay = "slow_first_token", SLOW
    app = make_app(mode, "call", hedge_after=0.2, attempt_timeout=2.0)
    result = app.ask().result
    assert result is not None
    assert len(result.attempts) == result.attempt == 2
    assert [a.provider for a in result.attempts] == ["primary", "backup"]


@modes
def test_an_attempt_timeout_moves_on_with_an_sdk_only_fallback_on(make_app, vendors, mode):
    """``fallback_on=openai.APIError`` (no TimeoutError): a hung primary still hands over."""
    primary, _ = vendors
    primary.scenario = "hang"
    app = make_app(mode, "call", fallback_on=openai.APIError)
    outcome = app.ask()
    assert outcome.served == "backup"
    assert not app.rows()["primary"].available  # "counts for cooldown" (DESIGN §4)


@modes
def test_accept_on_an_unbuffered_stream_never_sees_router_internals(make_app, vendors, mode):
    """``accept=`` on an unbuffered stream is refused, or judges stream items, not internals."""
    seen: list[Any] = []
    try:
        app = make_app(mode, "stream", accept=lambda response: seen.append(response) or True)
    except fallback_router.InvalidConfigError:
        return
    assert app.ask().text == ANSWER
    assert not any(isinstance(response, tuple) for response in seen), seen
