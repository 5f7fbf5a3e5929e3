"""The fake OpenAI vendor (``tests/support/fake_openai.py``) as the official SDK sees it.

Every scenario is driven with ``openai.OpenAI`` and ``openai.AsyncOpenAI`` (no retries),
streaming and not, and the SDK-visible outcome is asserted: the exception type, its
status, code and headers, and which chunks arrived before it. Where a request is held,
a short client timeout ends it; no test measures wall-clock time.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import openai
import pytest

from .support.fake_openai import DEFAULT_TOKENS, SCENARIOS, FakeOpenAI

TOKENS = list(DEFAULT_TOKENS)
MESSAGES = [{"role": "user", "content": "Say something."}]
SHORT = 0.3  # client timeout where the vendor holds a request
PATIENT = 5.0  # client timeout where it must not matter

# Building a TLS context is most of a client's construction cost; unused over http://.
TLS = ssl.create_default_context()

E = TypeVar("E", bound=Exception)

modes = pytest.mark.parametrize("mode", ["sync", "async"])
streams = pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])


@dataclass
class Outcome:
    """What one chat call saw: the answer or the chunks that came, then any error."""

    stream: bool
    content: str | None = None
    model: str | None = None
    opened: bool = False  # streaming: create() returned, the headers had arrived
    chunks: list[Any] = field(default_factory=list)
    error: Exception | None = None

    @property
    def pieces(self) -> list[str]:
        return [
            c.choices[0].delta.content
            for c in self.chunks
            if c.choices and c.choices[0].delta.content is not None
        ]

    @property
    def text(self) -> str | None:
        return "".join(self.pieces) if self.stream else self.content

    def raised(self, kind: type[E]) -> E:
        assert isinstance(self.error, kind), f"expected {kind.__name__}, got {self.error!r}"
        return self.error


def chat_sync(vendor: FakeOpenAI, stream: bool, timeout: float, **kwargs: Any) -> Outcome:
    outcome = Outcome(stream)
    client = openai.OpenAI(
        base_url=vendor.base_url,
        api_key="test-key",
        max_retries=0,
        timeout=timeout,
        http_client=openai.DefaultHttpxClient(verify=TLS),
    )
    with client:
        try:
            if stream:
                with client.chat.completions.create(stream=True, **kwargs) as chunks:
                    outcome.opened = True
                    for chunk in chunks:
                        outcome.chunks.append(chunk)
            else:
                answer = client.chat.completions.create(**kwargs)
                outcome.content, outcome.model = answer.choices[0].message.content, answer.model
        except Exception as exc:
            outcome.error = exc
    return outcome


async def chat_async(vendor: FakeOpenAI, stream: bool, limit: float, **kwargs: Any) -> Outcome:
    outcome = Outcome(stream)
    client = openai.AsyncOpenAI(
        base_url=vendor.base_url,
        api_key="test-key",
        max_retries=0,
        timeout=limit,
        http_client=openai.DefaultAsyncHttpxClient(verify=TLS),
    )
    async with client:
        try:
            if stream:
                async with await client.chat.completions.create(stream=True, **kwargs) as chunks:
                    outcome.opened = True
                    async for chunk in chunks:
                        outcome.chunks.append(chunk)
            else:
                answer = await client.chat.completions.create(**kwargs)
                outcome.content, outcome.model = answer.choices[0].message.content, answer.model
        except Exception as exc:
            outcome.error = exc
    return outcome


def chat(
    vendor: FakeOpenAI,
    mode: str = "sync",
    stream: bool = False,
    *,
    timeout: float = PATIENT,
    messages: list[dict[str, str]] = MESSAGES,
    **kwargs: Any,
) -> Outcome:
    """One chat completion through the real SDK, sync or async, streamed or not."""
    kwargs = {"model": "requested-model", "messages": messages, **kwargs}
    if mode == "sync":
        return chat_sync(vendor, stream, timeout, **kwargs)
    return asyncio.run(chat_async(vendor, stream, timeout, **kwargs))


def cause_name(error: BaseException | None) -> str:
    """The transport error under the SDK's (httpx or httpx2: named, not imported)."""
    assert error is not None
    return type(error.__cause__).__name__


def raw_stream(vendor: FakeOpenAI) -> str:
    """The streamed body as bytes on the wire, read by plain httpx."""
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    with httpx.Client(timeout=PATIENT) as client:
        response = client.post(f"{vendor.base_url}/chat/completions", json=body)
        assert response.headers["content-type"].startswith("text/event-stream")
        return response.text


@pytest.fixture
def vendor() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("alpha") as fake:
        yield fake


# -- ok ---------------------------------------------------------------------------------


@modes
@streams
def test_ok_answers_the_tokens_under_the_vendor_name(vendor, mode, stream):
    """``ok`` answers the configured tokens, served under the vendor's name as model."""
    outcome = chat(vendor, mode, stream)
    assert outcome.error is None
    assert outcome.text == "".join(TOKENS)
    model = outcome.chunks[0].model if stream else outcome.model
    assert model == "alpha"
    assert vendor.requests == 1


@modes
def test_a_stream_sends_one_chunk_per_token_then_a_stop(vendor, mode):
    """A streamed answer is one chunk per token, the role first, then a "stop" chunk."""
    outcome = chat(vendor, mode, stream=True)
    assert outcome.pieces == TOKENS
    assert outcome.chunks[0].choices[0].delta.role == "assistant"
    assert outcome.chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.object == "chat.completion.chunk" for c in outcome.chunks)


def test_a_stream_ends_with_done_on_the_wire(vendor):
    """On the wire a stream is ``data: {json}`` events ending with ``data: [DONE]``."""
    events = raw_stream(vendor).split("\n\n")
    assert events[-2:] == ["data: [DONE]", ""]
    assert [json.loads(e.removeprefix("data: "))["object"] for e in events[:-2]] == [
        "chat.completion.chunk"
    ] * (len(TOKENS) + 1)


def test_include_usage_adds_a_usage_chunk(vendor):
    """``stream_options.include_usage`` adds a last chunk with usage and no choices."""
    outcome = chat(vendor, stream=True, stream_options={"include_usage": True})
    assert outcome.chunks[-1].choices == []
    assert outcome.chunks[-1].usage.completion_tokens == len(TOKENS)


def test_tokens_are_configurable():
    """The answer is whatever ``tokens`` the server was given."""
    with FakeOpenAI("beta", tokens=["Hel", "lo"]) as vendor:
        assert chat(vendor).text == "Hello"
        assert chat(vendor, stream=True).pieces == ["Hel", "lo"]


@modes
@streams
def test_each_request_body_and_headers_are_recorded(vendor, mode, stream):
    """Each request's parsed JSON body (model, messages, stream) and headers are kept."""
    chat(vendor, mode, stream)
    chat(vendor, mode, stream, messages=[{"role": "user", "content": "Again."}])
    first, second = vendor.bodies
    assert first["model"] == "requested-model"
    assert first["messages"] == MESSAGES
    assert bool(first.get("stream")) is stream
    assert second["messages"] == [{"role": "user", "content": "Again."}]
    assert vendor.last_body == second
    assert vendor.headers[0]["authorization"] == "Bearer test-key"


def test_two_vendors_are_told_apart_by_name():
    """Two servers run side by side on their own ports, each answering under its name."""
    with FakeOpenAI("primary") as primary, FakeOpenAI("backup") as backup:
        assert primary.base_url != backup.base_url
        assert primary.base_url.startswith("http://127.0.0.1:")
        assert primary.base_url.endswith("/v1")
        assert chat(primary).model == "primary"
        assert chat(backup).model == "backup"


def test_concurrent_requests_are_all_counted(vendor):
    """Requests arriving together are all answered and counted."""
    outcomes: list[Outcome] = []
    threads = [threading.Thread(target=lambda: outcomes.append(chat(vendor))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(PATIENT)
    assert [o.text for o in outcomes] == ["".join(TOKENS)] * 8
    assert vendor.requests == 8
    assert len(vendor.bodies) == 8


def test_the_scenario_changes_at_run_time(vendor):
    """The scenario can be switched between requests; an unknown one is refused."""
    assert chat(vendor).error is None
    vendor.scenario = "unavailable"
    assert isinstance(chat(vendor).error, openai.InternalServerError)
    vendor.set_scenario("ok")
    assert chat(vendor).error is None
    assert vendor.requests == 3
    with pytest.raises(ValueError, match="unknown scenario"):
        vendor.scenario = "sunny"
    assert vendor.scenario == "ok"


def test_every_scenario_is_known():
    """Every scenario named in the brief (and ``prefill_rejected``) is accepted."""
    assert set(SCENARIOS) == {
        "ok",
        "rate_limited_once",
        "rate_limited",
        "error_500_once",
        "unavailable",
        "reset",
        "hang",
        "slow_first_token",
        "cut_stream",
        "stall_stream",
        "malformed_chunk",
        "no_done",
        "context_length",
        "content_policy",
        "down_then_healthy",
        "prefill_rejected",
        "quota_exhausted",
        "unauthorized",
        "flapping",
    }


def test_an_unknown_path_is_a_404(vendor):
    """Anything but ``POST /v1/chat/completions`` is a 404 (counted as a request)."""
    client = openai.OpenAI(base_url=vendor.base_url, api_key="k", max_retries=0)
    with client, pytest.raises(openai.NotFoundError) as caught:
        client.models.list()
    assert caught.value.status_code == 404
    assert vendor.requests == 1


def test_waiting_for_requests_is_bounded(vendor):
    """``wait_for_requests`` says False when the requests do not come in time."""
    assert vendor.wait_for_requests(0)
    assert not vendor.wait_for_requests(1, timeout=0.05)


# -- rate limits and server errors ---------------------------------------------------------


@modes
@streams
def test_rate_limited_once_is_a_429_with_retry_after_then_ok(mode, stream):
    """``rate_limited_once``: a RateLimitError with retry-after headers, then the answer."""
    with FakeOpenAI("alpha", scenario="rate_limited_once") as vendor:
        error = chat(vendor, mode, stream).raised(openai.RateLimitError)
        assert error.status_code == 429
        assert error.response.headers["retry-after"] == "1"
        assert error.response.headers["retry-after-ms"] == "1000"
        assert error.code == "rate_limit_exceeded"
        assert isinstance(error.body, dict)
        assert "Rate limit reached for alpha" in error.body["message"]
        assert chat(vendor, mode, stream).text == "".join(TOKENS)
        assert vendor.requests == 2


@modes
@streams
def test_rate_limited_is_a_429_every_time(mode, stream):
    """``rate_limited``: every request gets a RateLimitError."""
    with FakeOpenAI("alpha", scenario="rate_limited") as vendor:
        for _ in range(3):
            error = chat(vendor, mode, stream).raised(openai.RateLimitError)
            assert error.response.headers["retry-after-ms"] == "1000"
        assert vendor.requests == 3


def test_the_advertised_retry_after_is_configurable():
    """``retry_after`` sets both headers (seconds rounded up, and milliseconds)."""
    with FakeOpenAI("alpha", scenario="rate_limited", retry_after=0.25) as vendor:
        headers = chat(vendor).raised(openai.RateLimitError).response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("1", "250")


@modes
@streams
def test_a_429_without_retry_after_carries_no_hint(mode, stream):
    """``retry_after=None``: a 429 with neither ``retry-after`` nor ``retry-after-ms``."""
    with FakeOpenAI("alpha", scenario="rate_limited", retry_after=None) as vendor:
        error = chat(vendor, mode, stream).raised(openai.RateLimitError)
    assert "retry-after" not in error.response.headers
    assert "retry-after-ms" not in error.response.headers
    assert error.code == "rate_limit_exceeded"


@modes
@streams
def test_quota_exhausted_is_a_429_insufficient_quota(mode, stream):
    """``quota_exhausted``: a RateLimitError whose code is ``insufficient_quota``, no hint."""
    with FakeOpenAI("alpha", scenario="quota_exhausted") as vendor:
        for _ in range(2):
            error = chat(vendor, mode, stream).raised(openai.RateLimitError)
            assert (error.status_code, error.code) == (429, "insufficient_quota")
            assert "retry-after" not in error.response.headers
        assert vendor.requests == 2


@modes
@streams
def test_unauthorized_is_a_401_invalid_api_key(mode, stream):
    """``unauthorized``: an AuthenticationError (401, ``invalid_api_key``) every time."""
    with FakeOpenAI("alpha", scenario="unauthorized") as vendor:
        error = chat(vendor, mode, stream).raised(openai.AuthenticationError)
    assert (error.status_code, error.code) == (401, "invalid_api_key")


@modes
@streams
def test_flapping_alternates_503_and_the_answer(mode, stream):
    """``flapping``: 503 for the first, third... request, the answer for the others."""
    with FakeOpenAI("alpha", scenario="flapping") as vendor:
        outcomes = [chat(vendor, mode, stream) for _ in range(4)]
    assert [o.raised(openai.InternalServerError).status_code for o in outcomes[::2]] == [503] * 2
    assert [o.text for o in outcomes[1::2]] == ["".join(TOKENS)] * 2


def test_setting_a_once_scenario_again_fails_once_more(vendor):
    """ "Once" counts from when the scenario was set: setting it again re-arms it."""
    vendor.scenario = "rate_limited_once"
    assert isinstance(chat(vendor).error, openai.RateLimitError)
    assert chat(vendor).error is None
    vendor.scenario = "rate_limited_once"
    assert isinstance(chat(vendor).error, openai.RateLimitError)


@modes
@streams
def test_error_500_once_is_an_internal_server_error_then_ok(mode, stream):
    """``error_500_once``: an InternalServerError (500), then the answer."""
    with FakeOpenAI("alpha", scenario="error_500_once") as vendor:
        error = chat(vendor, mode, stream).raised(openai.InternalServerError)
        assert error.status_code == 500
        assert chat(vendor, mode, stream).text == "".join(TOKENS)


@modes
@streams
def test_unavailable_is_a_503_every_time(mode, stream):
    """``unavailable``: every request gets an InternalServerError with status 503."""
    with FakeOpenAI("alpha", scenario="unavailable") as vendor:
        for _ in range(2):
            assert chat(vendor, mode, stream).raised(openai.InternalServerError).status_code == 503


@modes
def test_down_then_healthy_answers_after_heal(mode):
    """``down_then_healthy``: 503s until ``heal()``, then answers; re-setting it unheals."""
    with FakeOpenAI("alpha", scenario="down_then_healthy") as vendor:
        assert chat(vendor, mode).raised(openai.InternalServerError).status_code == 503
        assert chat(vendor, mode, stream=True).raised(openai.InternalServerError).status_code == 503
        vendor.heal()
        assert chat(vendor, mode).text == "".join(TOKENS)
        assert chat(vendor, mode, stream=True).pieces == TOKENS
        vendor.scenario = "down_then_healthy"
        assert isinstance(chat(vendor, mode).error, openai.InternalServerError)


# -- request errors -------------------------------------------------------------------------


@modes
@streams
def test_context_length_is_a_bad_request_with_its_code(mode, stream):
    """``context_length``: a BadRequestError, code ``context_length_exceeded``."""
    with FakeOpenAI("alpha", scenario="context_length") as vendor:
        error = chat(vendor, mode, stream).raised(openai.BadRequestError)
    assert error.status_code == 400
    assert error.code == "context_length_exceeded"
    assert error.type == "invalid_request_error"
    assert error.param == "messages"
    assert "maximum context length" in error.message


@modes
@streams
def test_content_policy_is_a_bad_request_with_content_filter(mode, stream):
    """``content_policy``: a BadRequestError, code ``content_filter``, Azure's details."""
    with FakeOpenAI("alpha", scenario="content_policy") as vendor:
        error = chat(vendor, mode, stream).raised(openai.BadRequestError)
    assert error.status_code == 400
    assert error.code == "content_filter"
    assert error.type == "invalid_request_error"
    assert "content management policy" in error.message
    assert isinstance(error.body, dict)
    assert error.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"


@modes
@streams
def test_prefill_rejected_refuses_a_last_assistant_message(mode, stream):
    """``prefill_rejected``: a BadRequestError when the last message is the assistant's."""
    prefill = [*MESSAGES, {"role": "assistant", "content": "Sure:"}]
    with FakeOpenAI("alpha", scenario="prefill_rejected") as vendor:
        error = chat(vendor, mode, stream, messages=prefill).raised(openai.BadRequestError)
        assert error.code == "unsupported_value"
        assert error.param == "messages[1].role"
        assert chat(vendor, mode, stream).text == "".join(TOKENS)


# -- connection failures ----------------------------------------------------------------------


@modes
@streams
def test_reset_is_a_connection_error(mode, stream):
    """``reset``: the request arrives, then an RST: APIConnectionError (not a timeout)."""
    with FakeOpenAI("alpha", scenario="reset") as vendor:
        outcome = chat(vendor, mode, stream)
        error = outcome.raised(openai.APIConnectionError)
        assert not isinstance(error, openai.APITimeoutError)
        assert cause_name(error) == "ReadError"
        assert not outcome.opened
        assert vendor.requests == 1
        assert vendor.last_body["model"] == "requested-model"


@modes
@streams
def test_hang_is_a_timeout(mode, stream):
    """``hang``: the request is read and never answered: APITimeoutError."""
    with FakeOpenAI("alpha", scenario="hang") as vendor:
        outcome = chat(vendor, mode, stream, timeout=SHORT)
        assert cause_name(outcome.raised(openai.APITimeoutError)) == "ReadTimeout"
        assert not outcome.opened
        assert vendor.requests == 1
        assert vendor.last_body["messages"] == MESSAGES


def test_release_lets_a_hung_request_answer():
    """``release()`` wakes a hung request, which then gets the answer."""
    with FakeOpenAI("alpha", scenario="hang") as vendor:
        outcomes: list[Outcome] = []
        caller = threading.Thread(target=lambda: outcomes.append(chat(vendor)))
        caller.start()
        assert vendor.wait_for_requests(1)
        vendor.release()
        caller.join(PATIENT)
        assert [o.text for o in outcomes] == ["".join(TOKENS)]


def test_close_drops_a_hung_request_without_waiting_for_it():
    """``close()`` returns while a request hangs; the caller gets APIConnectionError."""
    vendor = FakeOpenAI("alpha", scenario="hang")
    outcomes: list[Outcome] = []
    caller = threading.Thread(target=lambda: outcomes.append(chat(vendor, timeout=30)))
    caller.start()
    assert vendor.wait_for_requests(1)
    vendor.close()
    caller.join(PATIENT)
    assert not caller.is_alive()
    error = outcomes[0].raised(openai.APIConnectionError)
    assert not isinstance(error, openai.APITimeoutError)
    assert not any(thread.is_alive() for thread in vendor._threads)


def test_close_wakes_a_stalled_stream():
    """``close()`` ends a stalled stream: its consumer gets APIConnectionError."""
    vendor = FakeOpenAI("alpha", scenario="stall_stream")
    try:
        with openai.OpenAI(base_url=vendor.base_url, api_key="k", max_retries=0) as client:
            stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            with stream:
                pieces = [next(stream).choices[0].delta.content for _ in range(3)]
                vendor.close()
                with pytest.raises(openai.APIConnectionError) as caught:
                    next(stream)
    finally:
        vendor.close()
    assert pieces == TOKENS[:3]
    assert cause_name(caught.value) == "RemoteProtocolError"
    assert not any(thread.is_alive() for thread in vendor._threads)


# -- slow and broken answers ---------------------------------------------------------------


@modes
@streams
def test_slow_first_token_times_out_a_short_client(mode, stream):
    """``slow_first_token``: streaming gets its headers, then APITimeoutError, no chunk."""
    with FakeOpenAI("alpha", scenario="slow_first_token") as vendor:
        outcome = chat(vendor, mode, stream, timeout=SHORT)
    outcome.raised(openai.APITimeoutError)
    assert outcome.opened is stream  # a stream is open before its first token is due
    assert outcome.chunks == []


@modes
@streams
def test_slow_first_token_arrives_for_a_patient_client(mode, stream):
    """``slow_first_token`` with a short ``first_token_delay``: the whole answer comes."""
    with FakeOpenAI("alpha", scenario="slow_first_token", first_token_delay=0.05) as vendor:
        assert chat(vendor, mode, stream).text == "".join(TOKENS)


def test_release_cuts_a_slow_first_token_short():
    """``release()`` also ends a ``slow_first_token`` wait early."""
    with FakeOpenAI("alpha", scenario="slow_first_token", first_token_delay=60) as vendor:
        outcomes: list[Outcome] = []
        caller = threading.Thread(target=lambda: outcomes.append(chat(vendor, stream=True)))
        caller.start()
        assert vendor.wait_for_requests(1)
        vendor.release()
        caller.join(PATIENT)
        assert [o.pieces for o in outcomes] == [TOKENS]


@modes
def test_cut_stream_raises_a_connection_error_after_some_chunks(mode):
    """``cut_stream``: ``cut_after`` chunks, then APIConnectionError (RemoteProtocolError)."""
    with FakeOpenAI("alpha", scenario="cut_stream") as vendor:
        outcome = chat(vendor, mode, stream=True)
    error = outcome.raised(openai.APIConnectionError)
    assert not isinstance(error, openai.APITimeoutError)
    assert cause_name(error) == "RemoteProtocolError"
    assert outcome.pieces == TOKENS[:3]


@modes
def test_cut_stream_without_streaming_is_a_half_body_then_connection_error(mode):
    """``cut_stream`` non-streaming: half a JSON body, then APIConnectionError."""
    with FakeOpenAI("alpha", scenario="cut_stream") as vendor:
        error = chat(vendor, mode).raised(openai.APIConnectionError)
    assert cause_name(error) == "RemoteProtocolError"


def test_cut_after_is_configurable():
    """``cut_after`` sets how many token chunks come before the cut."""
    with FakeOpenAI("alpha", scenario="cut_stream", cut_after=1) as vendor:
        outcome = chat(vendor, stream=True)
    assert isinstance(outcome.error, openai.APIConnectionError)
    assert outcome.pieces == TOKENS[:1]


@modes
def test_stall_stream_times_out_after_some_chunks(mode):
    """``stall_stream``: ``cut_after`` chunks, then silence: APITimeoutError."""
    with FakeOpenAI("alpha", scenario="stall_stream") as vendor:
        outcome = chat(vendor, mode, stream=True, timeout=SHORT)
    assert cause_name(outcome.raised(openai.APITimeoutError)) == "ReadTimeout"
    assert outcome.pieces == TOKENS[:3]


@modes
def test_stall_stream_without_streaming_times_out(mode):
    """``stall_stream`` non-streaming: half a body, then silence: APITimeoutError."""
    with FakeOpenAI("alpha", scenario="stall_stream") as vendor:
        chat(vendor, mode, timeout=SHORT).raised(openai.APITimeoutError)


def test_release_resumes_a_stalled_stream(vendor):
    """``release()`` lets a stalled stream send the rest of its chunks and finish."""
    vendor.scenario = "stall_stream"
    with openai.OpenAI(base_url=vendor.base_url, api_key="k", max_retries=0) as client:
        stream = client.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        with stream:
            first = [next(stream).choices[0].delta.content for _ in range(3)]
            vendor.release()
            rest = [c.choices[0].delta.content for c in stream]
    assert first == TOKENS[:3]
    assert rest == [*TOKENS[3:], None]


@modes
def test_malformed_chunk_raises_a_json_decode_error_mid_stream(mode):
    """``malformed_chunk``: ``cut_after`` chunks, then the SDK raises JSONDecodeError."""
    with FakeOpenAI("alpha", scenario="malformed_chunk") as vendor:
        outcome = chat(vendor, mode, stream=True)
    outcome.raised(json.JSONDecodeError)
    assert not isinstance(outcome.error, openai.OpenAIError)  # not wrapped by the SDK
    assert outcome.pieces == TOKENS[:3]


def test_malformed_chunk_goes_on_after_the_bad_line(vendor):
    """On the wire, ``malformed_chunk`` sends ``data: {not json`` and then the rest."""
    vendor.scenario = "malformed_chunk"
    events = raw_stream(vendor).split("\n\n")
    assert events[3] == "data: {not json"
    assert len(events) == len(TOKENS) + 4  # tokens, bad line, stop, [DONE], trailing ""
    assert events[-2] == "data: [DONE]"


@modes
def test_malformed_chunk_without_streaming_is_a_json_decode_error(mode):
    """``malformed_chunk`` non-streaming: a 200 with a bad JSON body: JSONDecodeError."""
    with FakeOpenAI("alpha", scenario="malformed_chunk") as vendor:
        chat(vendor, mode).raised(json.JSONDecodeError)


@modes
@streams
def test_no_done_ends_the_stream_normally_for_the_sdk(mode, stream):
    """``no_done``: the SDK reads every chunk and ends without error, [DONE] or not."""
    with FakeOpenAI("alpha", scenario="no_done") as vendor:
        outcome = chat(vendor, mode, stream)
    assert outcome.error is None
    assert outcome.text == "".join(TOKENS)


def test_no_done_sends_no_done_on_the_wire(vendor):
    """On the wire, ``no_done`` ends the body cleanly right after the stop chunk."""
    vendor.scenario = "no_done"
    body = raw_stream(vendor)
    assert "[DONE]" not in body
    last = json.loads(body.split("\n\n")[-2].removeprefix("data: "))
    assert last["choices"][0]["finish_reason"] == "stop"


def test_connections_are_kept_alive_and_a_reset_one_is_replaced(vendor):
    """Answers keep the connection alive; after a reset the client opens a new one."""
    with openai.OpenAI(base_url=vendor.base_url, api_key="k", max_retries=0) as client:

        def ask() -> Any:
            return client.chat.completions.create(model="m", messages=MESSAGES)

        ask()
        ask()
        assert vendor.connections == 1
        vendor.scenario = "reset"
        with pytest.raises(openai.APIConnectionError):
            ask()
        vendor.scenario = "ok"
        assert ask().model == "alpha"
    assert vendor.connections == 2
    assert vendor.requests == 4
