"""``llm.chunks`` / ``llm.text`` (and async twins) on real SDK streams, and ``llm.options``'
arguments: what each sets, and bad values refused by name."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from typing import Any

import openai
import pytest
import tenacity
from anthropic.types import (
    Message,
    MessageDeltaUsage,
    RawContentBlockDeltaEvent,
    RawMessageDeltaEvent,
    RawMessageStartEvent,
    RawMessageStopEvent,
    TextDelta,
    Usage,
)
from anthropic.types.raw_message_delta_event import Delta

from fallback_router import InMemoryCooldown, InvalidConfigError, llm

from .support.fake_openai import DEFAULT_TOKENS, FakeOpenAI

TOKENS = list(DEFAULT_TOKENS)
MESSAGES = [{"role": "user", "content": "Say something."}]
TLS = ssl.create_default_context()


class CleanCutVendor(FakeOpenAI):
    """``no_done`` that also drops the finish chunk: the body ends cleanly mid-answer."""

    def _on_no_done(self, conn: Any, call: Any) -> bool:
        if not call.stream:
            return super()._on_no_done(conn, call)
        return self._stream(conn, call, self._events(call)[: self._cut_at()])


@pytest.fixture
def vendor() -> Iterator[FakeOpenAI]:
    with FakeOpenAI("alpha") as fake:
        yield fake


def read(
    vendor: FakeOpenAI, helper: Any, mode: str, **extra: Any
) -> tuple[list[Any], Exception | None]:
    """Run ``helper`` over a real SDK stream; the items it yielded, then any error."""
    items: list[Any] = []
    kwargs = {"model": "m", "messages": MESSAGES, "stream": True, **extra}
    if mode == "sync":
        with openai.OpenAI(
            base_url=vendor.base_url,
            api_key="k",
            max_retries=0,
            http_client=openai.DefaultHttpxClient(verify=TLS),
        ) as client:
            try:
                with client.chat.completions.create(**kwargs) as stream:
                    for item in helper(stream):
                        items.append(item)  # noqa: PERF402 - keeps the items before an error
            except Exception as exc:
                return items, exc
        return items, None

    async def run() -> Exception | None:
        async with openai.AsyncOpenAI(
            base_url=vendor.base_url,
            api_key="k",
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(verify=TLS),
        ) as client:
            try:
                async with await client.chat.completions.create(**kwargs) as stream:
                    async for item in helper(stream):
                        items.append(item)  # noqa: PERF401 - keeps the items before an error
            except Exception as exc:
                return exc
        return None

    return items, asyncio.run(run())


modes = pytest.mark.parametrize("mode", ["sync", "async"])
HELPERS = {
    ("sync", "chunks"): llm.chunks,
    ("sync", "text"): llm.text,
    ("async", "chunks"): llm.achunks,
    ("async", "text"): llm.atext,
}


@modes
def test_chunks_pass_every_chunk_through_unchanged(vendor, mode):
    """``chunks`` yields the SDK's own chunk objects: model, finish reason and usage kept."""
    chunks, error = read(
        vendor, HELPERS[mode, "chunks"], mode, stream_options={"include_usage": True}
    )
    assert error is None
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    assert [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ] == TOKENS
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == len(TOKENS)
    assert {c.model for c in chunks} == {"alpha"}


@modes
def test_text_yields_the_content_pieces(vendor, mode):
    """``text`` yields each non-empty content piece, in order."""
    pieces, error = read(vendor, HELPERS[mode, "text"], mode)
    assert error is None
    assert pieces == TOKENS


@modes
@pytest.mark.parametrize("helper", ["chunks", "text"])
def test_a_stream_without_finish_reason_raises_incomplete_answer(mode, helper):
    """A body that ends cleanly mid-answer: the pieces, then IncompleteAnswer."""
    with CleanCutVendor("alpha", scenario="no_done") as vendor:
        items, error = read(vendor, HELPERS[mode, helper], mode)
    assert isinstance(error, llm.IncompleteAnswer)
    assert error.items == 3
    assert len(items) == 3
    assert llm.classify(error) is llm.ErrorKind.INCOMPLETE


@modes
def test_a_stream_without_done_but_with_a_finish_reason_is_complete(mode):
    """No ``[DONE]`` (the SDK says nothing), but a finish reason: the answer is whole."""
    with FakeOpenAI("alpha", scenario="no_done") as vendor:
        pieces, error = read(vendor, HELPERS[mode, "text"], mode)
    assert (pieces, error) == (TOKENS, None)


def test_a_transport_error_passes_through_unchanged():
    """A stream cut by the network raises the SDK's own error, not IncompleteAnswer."""
    with FakeOpenAI("alpha", scenario="cut_stream") as vendor:
        pieces, error = read(vendor, llm.text, "sync")
    assert pieces == TOKENS[:3]
    assert isinstance(error, openai.APIConnectionError)


def test_every_choice_must_finish():
    """With several choices (``n=2``) each needs its finish reason; mappings work too."""

    def chunk(index: int, content: str | None, finish: str | None = None) -> dict[str, Any]:
        return {
            "choices": [{"index": index, "delta": {"content": content}, "finish_reason": finish}]
        }

    whole = [chunk(0, "a"), chunk(1, "b"), chunk(0, None, "stop"), chunk(1, None, "stop")]
    assert list(llm.text(whole)) == ["a"]
    with pytest.raises(llm.IncompleteAnswer):
        list(llm.text(whole[:3]))
    with pytest.raises(llm.IncompleteAnswer):
        list(llm.chunks([{"choices": [], "usage": {"total_tokens": 3}}]))
    with pytest.raises(llm.IncompleteAnswer):
        list(llm.chunks([]))


def anthropic_events(*, stop: bool = True) -> list[Any]:
    message = Message(
        id="msg_1",
        type="message",
        role="assistant",
        model="claude",
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=Usage(input_tokens=5, output_tokens=0),
    )
    events: list[Any] = [RawMessageStartEvent(type="message_start", message=message)]
    events += [
        RawContentBlockDeltaEvent(
            type="content_block_delta", index=0, delta=TextDelta(type="text_delta", text=t)
        )
        for t in ("Hel", "lo")
    ]
    if stop:
        delta = Delta(stop_reason="end_turn", stop_sequence=None)
        events.append(
            RawMessageDeltaEvent(
                type="message_delta", delta=delta, usage=MessageDeltaUsage(output_tokens=2)
            )
        )
        events.append(RawMessageStopEvent(type="message_stop"))
    return events


def test_anthropic_message_events_are_read():
    """Anthropic's raw message stream: text deltas, and the stop reason as the finish."""
    assert list(llm.text(anthropic_events())) == ["Hel", "lo"]
    assert list(llm.chunks(anthropic_events())) == anthropic_events()
    with pytest.raises(llm.IncompleteAnswer):
        list(llm.text(anthropic_events(stop=False)))

    async def collect() -> list[str]:
        async def events() -> Any:
            for event in anthropic_events():
                yield event

        return [piece async for piece in llm.atext(events())]

    assert asyncio.run(collect()) == ["Hel", "lo"]


# -- options --------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True, "buffer"])
def test_options_set_what_the_table_says(stream):
    """Limits per mode, hints respected, usage read, buffering with a blank-answer check."""
    options = llm.options(stream)
    assert (options["timeout"], options["attempt_timeout"]) == (60.0, 20.0)
    assert options["respect_retry_after"] is True
    assert options["cooldown"] == 15.0
    assert isinstance(options["retry"], tenacity.Retrying)
    if stream is False:
        assert "first_item_timeout" not in options
        assert "idle_timeout" not in options
    else:
        assert (options["first_item_timeout"], options["idle_timeout"]) == (10.0, 15.0)
    assert options.get("stream_failover") == ("buffer" if stream == "buffer" else None)
    accept = options.get("accept")
    assert (accept is not None) is (stream == "buffer")
    if accept is not None:
        assert accept(["Hel", "lo"])
        assert not accept([])
        assert not accept([" ", "\n"])
        assert accept([{"choices": [{"index": 0, "delta": {"content": "Hi"}}]}])
        assert not accept([{"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}])
        assert not accept(anthropic_events()[:1])  # a message start: no text yet
        assert accept(anthropic_events())
        assert accept([{"image": b"png"}])  # not text or chunks: the caller's own content


def test_more_options_pass_through_and_win():
    """``**more`` reaches the router unchanged and overrides the preset."""
    clock = lambda: 0.0  # noqa: E731
    options = llm.options(
        clock=clock, timeout=None, attempt_timeout=5.0, accept=None, hedge_after=1.0
    )
    assert options["clock"] is clock
    assert options["hedge_after"] == 1.0
    assert options["accept"] is None
    tracker = InMemoryCooldown(15, max_duration=86400, multiplier=1)
    assert llm.options(cooldown=tracker, quota_cooldown=86400)["cooldown"] is tracker


def test_usage_of_reads_openai_and_anthropic_usage():
    """``usage_of``: total tokens of a completion, a usage chunk or a message; None for text."""
    usage_of = llm.options()["usage_of"]
    completion = openai.types.chat.ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 1,
            "model": "m",
            "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
        }
    )
    assert usage_of(completion) == 7
    assert usage_of({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}) == 7
    assert usage_of(anthropic_events()[0].message) == 5
    assert usage_of(["Hel", "lo"]) is None
    assert usage_of([completion]) == 7
    assert usage_of([]) is None
    assert usage_of("text") is None
    assert usage_of({"usage": {}}) is None
    assert usage_of(object()) is None


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"stream": "yes"}, "stream"),
        ({"stream": 1}, "stream"),
        ({"retries": -1}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"retries": True}, "retries"),
        ({"retry_after_cap": -1}, "retry_after_cap"),
        ({"retry_after_cap": float("nan")}, "retry_after_cap"),
        ({"timeout": 0}, "timeout"),
        ({"attempt_timeout": "20"}, "attempt_timeout"),
        ({"first_item_timeout": float("inf")}, "first_item_timeout"),
        ({"idle_timeout": -5}, "idle_timeout"),
        ({"on_context_length": "ignore"}, "on_context_length"),
        ({"on_content_filter": "fall back"}, "on_content_filter"),
        ({"cooldown": 0}, "cooldown"),
        ({"cooldown": "15"}, "cooldown"),
        ({"quota_cooldown": 0}, "quota_cooldown"),
        ({"auth_cooldown": None}, "auth_cooldown"),
        ({"quota_cooldown": 7200}, "quota_cooldown"),
        ({"auth_cooldown": 4000.0}, "auth_cooldown"),
        ({"retry_budget_": 1}, "retry_budget_"),
    ],
)
def test_bad_arguments_are_refused_by_name(arguments, named):
    """Each bad value is an InvalidConfigError naming its argument."""
    stream = arguments.pop("stream", False)
    with pytest.raises(InvalidConfigError, match=named):
        llm.options(stream, **arguments)
