"""Chat-completion streams: chunks and text with a completeness check, and usage counts.

OpenAI-style chat completion chunks (`choices[i].delta.content`,
`choices[i].finish_reason`, a last `usage` chunk) and Anthropic message stream
events (`content_block_delta` / `text_delta`, `message_delta.stop_reason`,
`message_stop`) are read duck-typed, as objects or as mappings.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, TypeVar, cast

from ._kinds import IncompleteAnswer

__all__ = ["Watch", "achunks", "atext", "chunks", "get", "text", "usage_of"]

T = TypeVar("T")


def get(obj: Any, name: str) -> Any:
    """`obj.name`, or `obj[name]` for a mapping; None when absent."""
    if isinstance(obj, Mapping):
        return cast("Mapping[str, Any]", obj).get(name)
    return getattr(obj, name, None)


class Watch:
    """Follows a stream's chunks: the text each carries and whether the answer finished."""

    __slots__ = ("done", "items", "seen", "stopped")

    def __init__(self) -> None:
        self.items = 0
        self.seen: set[int] = set()  # OpenAI choice indexes that appeared
        self.done: set[int] = set()  # ... and those that carried a finish reason
        self.stopped = False  # Anthropic: a stop reason or message_stop arrived

    def see(self, chunk: Any) -> str | None:
        """Note one chunk; return its text piece (choice 0's content), if any."""
        self.items += 1
        choices = get(chunk, "choices")
        if choices is not None:
            piece = None
            for choice in choices:
                index = get(choice, "index") or 0
                self.seen.add(index)
                if get(choice, "finish_reason") is not None:
                    self.done.add(index)
                if index == 0:
                    piece = get(get(choice, "delta"), "content")
            return piece
        kind = get(chunk, "type")
        if kind == "content_block_delta":
            delta = get(chunk, "delta")
            return get(delta, "text") if get(delta, "type") == "text_delta" else None
        if kind == "message_stop" or (
            kind == "message_delta" and get(get(chunk, "delta"), "stop_reason") is not None
        ):
            self.stopped = True
        return None

    def check(self) -> None:
        """Raise `IncompleteAnswer` unless the answer finished."""
        if self.stopped or (self.seen and self.seen <= self.done):
            return
        raise IncompleteAnswer(self.items)


def chunks(stream: Iterable[T]) -> Iterator[T]:
    """Pass a chat-completion stream's chunks through unchanged, checking it finished.

    Model, usage and finish reason stay in the chunks (ask the SDK for a last usage
    chunk with `stream_options={"include_usage": True}`). When the stream ends
    without a finish reason (OpenAI: every choice's `finish_reason`; Anthropic: a
    stop reason or `message_stop`), [`llm.IncompleteAnswer`][fallback_router.llm.IncompleteAnswer]
    is raised after the last chunk: a cut stream never passes for a whole answer
    (the SDK ends a stream that lost its `[DONE]` without a word).

    Args:
        stream: an `openai.Stream` of chat completion chunks, an Anthropic message
            stream, or any iterable of such chunks (objects or mappings).

    Yields:
        Each chunk, unchanged.

    Raises:
        IncompleteAnswer: the stream ended without a finish reason.

    Example:
        ```python
        @routed(providers=clients, **llm.options(stream=True))
        def chat(client, prompt):
            with client.chat.completions.create(..., stream=True) as stream:
                yield from llm.chunks(stream)
        ```

    Version:
        Added in 0.3.0.
    """
    watch = Watch()
    for chunk in stream:
        watch.see(chunk)
        yield chunk
    watch.check()


async def achunks(stream: AsyncIterable[T]) -> AsyncIterator[T]:
    """[`llm.chunks`][fallback_router.llm.chunks] for an async stream (`openai.AsyncStream`).

    Args:
        stream: an async iterable of chat completion chunks or message events.

    Yields:
        Each chunk, unchanged.

    Raises:
        IncompleteAnswer: the stream ended without a finish reason.

    Version:
        Added in 0.3.0.
    """
    watch = Watch()
    async for chunk in stream:
        watch.see(chunk)
        yield chunk
    watch.check()


def text(stream: Iterable[Any]) -> Iterator[str]:
    """Yield a chat-completion stream's content pieces, checking it finished.

    Empty pieces (a role-only first chunk, a finish chunk) are left out, so a
    router's first-item limit waits for real text. Like
    [`llm.chunks`][fallback_router.llm.chunks], raises `IncompleteAnswer` when
    the stream ended without a finish reason.

    Args:
        stream: an `openai.Stream` of chat completion chunks, an Anthropic message
            stream, or any iterable of such chunks.

    Yields:
        The content pieces (OpenAI: the first choice's `delta.content`; Anthropic:
        each `text_delta`).

    Raises:
        IncompleteAnswer: the stream ended without a finish reason.

    Version:
        Added in 0.3.0.
    """
    watch = Watch()
    for chunk in stream:
        piece = watch.see(chunk)
        if piece:
            yield piece
    watch.check()


async def atext(stream: AsyncIterable[Any]) -> AsyncIterator[str]:
    """[`llm.text`][fallback_router.llm.text] for an async stream.

    Args:
        stream: an async iterable of chat completion chunks or message events.

    Yields:
        The content pieces.

    Raises:
        IncompleteAnswer: the stream ended without a finish reason.

    Version:
        Added in 0.3.0.
    """
    watch = Watch()
    async for chunk in stream:
        piece = watch.see(chunk)
        if piece:
            yield piece
    watch.check()


def usage_of(response: Any) -> int | None:
    """The tokens an OpenAI-style (or Anthropic) response or usage chunk reports, or None.

    Reads `usage.total_tokens` (else `prompt_tokens + completion_tokens`, or
    Anthropic's `input_tokens + output_tokens`); for a list (a buffered stream's
    items) the last item's. Anything else (text pieces) has no usage: None.
    """
    if isinstance(response, str):
        return None
    if isinstance(response, list | tuple):
        items = cast("list[Any]", response)
        return usage_of(items[-1]) if items else None
    usage = get(response, "usage")
    if usage is None:
        return None
    total = get(usage, "total_tokens")
    if isinstance(total, int):
        return total
    parts = [get(usage, name) for name in ("prompt_tokens", "completion_tokens")]
    if not any(isinstance(part, int) for part in parts):
        parts = [get(usage, name) for name in ("input_tokens", "output_tokens")]
    counted = [part for part in parts if isinstance(part, int)]
    return sum(counted) if counted else None
