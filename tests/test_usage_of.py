"""`usage_of=` (DESIGN §6): the tokens a response used, read where the router knows a
success and handed to the rate limiter's token settlement (`settle(name, tokens)`).

The built-in limiters settle nothing yet (token limits come in a later release), so a
limiter that records what it is told stands in: plain calls, streams (their last item),
buffered streams, sync and async.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fallback_router import InMemoryRateLimiter, routed


class Settling(InMemoryRateLimiter):
    """A rate limiter that settles token counts: it records them."""

    def __init__(self) -> None:
        super().__init__({"a": "100/s", "b": "100/s"})
        self.settled: list[tuple[str, int]] = []

    def settle(self, name: str, tokens: int) -> None:
        self.settled.append((name, tokens))


def usage(response: Any) -> int | None:
    """OpenAI-style: `response["usage"]["total_tokens"]`, None without usage."""
    found = response.get("usage") if isinstance(response, dict) else None
    return None if found is None else found["total_tokens"]


def answer(provider: str) -> dict[str, Any]:
    if provider == "a":
        raise RuntimeError("a is down")
    return {"text": "hi", "usage": {"total_tokens": 42}}


def test_a_plain_call_settles_what_usage_of_reads():
    limiter = Settling()
    fn = routed(providers=["a", "b"], rate_limits=limiter, usage_of=usage)(answer)
    assert fn()["text"] == "hi"
    assert limiter.settled == [("b", 42)]  # the serving provider's count; a failed


def test_an_async_call_settles_too():
    limiter = Settling()

    @routed(providers=["a", "b"], rate_limits=limiter, usage_of=usage)
    async def fn(provider: str) -> dict[str, Any]:
        return answer(provider)

    asyncio.run(fn())
    assert limiter.settled == [("b", 42)]


def chunks(provider: str):
    yield {"delta": "h"}
    yield {"delta": "i"}
    yield {"delta": "", "usage": {"total_tokens": 7}}  # OpenAI's include_usage chunk


async def achunks(provider: str):
    for chunk in chunks(provider):
        yield chunk


@pytest.mark.parametrize("failover", [None, "buffer"])
def test_a_stream_settles_its_last_item_when_it_ends(failover):
    limiter = Settling()
    fn = routed(providers=["b"], rate_limits=limiter, usage_of=usage,
                stream_failover=failover)(chunks)  # fmt: skip
    stream = fn()
    assert next(stream) == {"delta": "h"}
    assert limiter.settled == []  # not before the end
    assert len(list(stream)) == 2
    assert list(stream) == []  # asked again after the end: settled once
    assert limiter.settled == [("b", 7)]


@pytest.mark.parametrize("failover", [None, "buffer"])
def test_an_async_stream_settles_its_last_item_when_it_ends(failover):
    limiter = Settling()
    fn = routed(providers=["b"], rate_limits=limiter, usage_of=usage,
                stream_failover=failover)(achunks)  # fmt: skip

    async def main() -> None:
        result = await fn.route()
        assert len([chunk async for chunk in result.response]) == 3
        assert [chunk async for chunk in result.response] == []
        assert limiter.settled == [("b", 7)]

    asyncio.run(main())


def test_a_stream_closed_early_settles_nothing():
    limiter = Settling()
    stream = routed(providers=["b"], rate_limits=limiter, usage_of=usage)(chunks)()
    next(stream)
    stream.close()
    assert limiter.settled == []


@pytest.mark.parametrize(
    ("reader", "settled", "warned"),
    [
        (lambda r: None, [], False),
        (lambda r: -1, [], True),
        (lambda r: "42", [], True),
        (lambda r: r["missing"], [], True),
    ],
    ids=["none", "negative", "text", "raises"],
)
def test_usage_of_none_or_broken_settles_nothing(logs, reader, settled, warned):
    limiter = Settling()
    fn = routed(providers=["b"], rate_limits=limiter, usage_of=reader)(answer)
    assert fn()["text"] == "hi"  # a served answer stays served
    assert limiter.settled == settled
    assert bool(logs.find("usage_of ignored")) is warned


def test_without_a_settling_limiter_usage_of_is_never_read():
    """No token settlement (the built-in limiters, or none): the option costs nothing."""
    reads: list[Any] = []

    def reader(response: Any) -> int:
        reads.append(response)
        return 1

    routed(providers=["b"], usage_of=reader)(answer)()
    routed(providers=["b"], usage_of=reader, rate_limits={"b": "10/s"})(answer)()
    assert reads == []
