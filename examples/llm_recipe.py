"""Recipe: LLM APIs through the official ``openai`` SDK (clients built with ``max_retries=0``).

- fall back: every ``openai.APIError`` (HTTP statuses, connection errors, SDK timeouts),
  ``json.JSONDecodeError`` (the SDK raises it bare for a malformed body or chunk),
  ``TimeoutError`` (the router's ``AttemptTimeoutError``), a stream that ended without a
  ``finish_reason`` (``IncompleteAnswer``) and an answer ``accept=`` rejected;
- bench (cooldown): 429 and 500/502/503/504 (a Retry-After sets the length), connection
  errors and timeouts (reset, hung or stalled vendor), garbage instead of JSON and cut
  answers. A stream that fails after delivering text reaches the consumer as
  ``StreamInterrupted``; the predicates judge the error under it;
- fall back, no bench: content-policy refusals (``content_filter``), other 4xx and blank
  answers: the vendor is healthy, another may take this prompt, and benching it would
  turn one user's prompt into an outage for everybody;
- propagate at once: ``context_length_exceeded``: every vendor would refuse the prompt,
  the caller must shorten it.

The SDK swallows ``data: [DONE]`` and ends a stream that lacks it without a word, so its
absence cannot be seen; whether the answer finished can: ``text_of`` raises
``IncompleteAnswer`` when no chunk carried a ``finish_reason``. The check sits in the
generator because ``accept=`` only sees the yielded text, and because it also guards
unbuffered streams. ``stream="buffer"`` holds the text until the stream ends, so a cut,
stalled or garbled stream falls back and the user never sees a cut answer. A sync
attempt past its limit is abandoned, not stopped: give the clients an HTTP ``timeout=``
near ``attempt_timeout`` so its thread ends too.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

import openai

from fallback_router import RejectedResponseError, http_status


class IncompleteAnswer(Exception):
    """The stream ended without a ``finish_reason``: the answer was cut short."""


def is_context_length(error: Exception) -> bool:
    """The prompt is too long for the model: the caller must shorten it."""
    return isinstance(error, openai.BadRequestError) and error.code == "context_length_exceeded"


def falls_back(error: Exception) -> bool:
    """What moves the call on to the next vendor (``fallback_on=``)."""
    moves_on = (openai.APIError, json.JSONDecodeError, TimeoutError, IncompleteAnswer)
    return isinstance(error, (*moves_on, RejectedResponseError)) and not is_context_length(error)


overloaded = http_status(429, 500, 502, 503, 504)


def benches(error: Exception) -> bool:
    """What puts the vendor in cooldown (``cooldown_on=``; only errors that fall back)."""
    broken = (openai.APIConnectionError, TimeoutError, json.JSONDecodeError, IncompleteAnswer)
    return overloaded(error) or isinstance(error, broken)


def has_text(pieces: list[str]) -> bool:
    """``accept=`` for buffered streams: a blank answer is another vendor's turn."""
    return bool("".join(pieces).strip())


def text_of(stream: Iterable[Any]) -> Iterator[str]:
    """The content pieces of a chat completion stream; ``IncompleteAnswer`` if unfinished."""
    finished = False
    for chunk in stream:
        if chunk.choices:
            finished = finished or chunk.choices[0].finish_reason is not None
            if chunk.choices[0].delta.content is not None:
                yield chunk.choices[0].delta.content
    if not finished:
        raise IncompleteAnswer("the stream ended without a finish_reason")


async def atext_of(stream: AsyncIterable[Any]) -> AsyncIterator[str]:
    """``text_of`` for an ``openai.AsyncStream``."""
    finished = False
    async for chunk in stream:
        if chunk.choices:
            finished = finished or chunk.choices[0].finish_reason is not None
            if chunk.choices[0].delta.content is not None:
                yield chunk.choices[0].delta.content
    if not finished:
        raise IncompleteAnswer("the stream ended without a finish_reason")


def llm_options(
    stream: bool | str = False,
    *,
    timeout: float = 60.0,
    attempt_timeout: float = 20.0,
    first_item_timeout: float = 10.0,
    idle_timeout: float = 15.0,
    **more: Any,
) -> dict[str, Any]:
    """Router options for chat calls (``stream=True``: streams; ``"buffer"``: buffered).

    ``timeout`` bounds the whole call (a stream: until its first piece; buffered: until
    its end), ``attempt_timeout`` one vendor's answer, ``first_item_timeout`` a stream's
    wait for its first piece, ``idle_timeout`` the silence between pieces. ``more`` is
    passed on (``clock=``, ``cooldown=``, ``hedge_after=``...).
    """
    options: dict[str, Any] = {
        "fallback_on": falls_back,
        "cooldown_on": benches,
        "timeout": timeout,
        "attempt_timeout": attempt_timeout,
    }
    if stream:
        options |= {"first_item_timeout": first_item_timeout, "idle_timeout": idle_timeout}
    if stream == "buffer":
        options |= {"stream_failover": "buffer", "accept": has_text}
    return options | more
