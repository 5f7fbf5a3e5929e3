"""Type-checked by mypy --strict and pyright in CI; never run.

Pins that a routed function's type drops its provider parameter and that
``route`` returns ``Result[R]``. Lines marked ``# type: ignore[...]`` must fail:
``warn_unused_ignores`` turns a line that stops failing into an error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import assert_type

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    Result,
    Router,
    Status,
    Strategy,
    current_attempt,
    http_status,
    llm,
    routed,
)


class Client:
    name = "client"

    def generate(self, prompt: str) -> bytes:
        return prompt.encode()


@routed(providers=[Client()], strategy="fallback")
def generate(provider: Client, prompt: str, *, size: int = 1) -> bytes:
    return provider.generate(prompt) * size


png = generate("a cat")
assert_type(png, bytes)
assert_type(generate("a cat", size=2), bytes)
assert_type(generate.route("a cat"), Result[bytes])
assert_type(generate.route("a cat").response, bytes)
assert_type(generate.route("x").attempts[0].provider, str)
assert_type(generate.router.status(), Status)

generate(1)  # type: ignore[arg-type]
generate()  # type: ignore[call-arg]
generate("a", size="big")  # type: ignore[arg-type]
generate(Client(), "a cat")  # type: ignore[call-arg, arg-type]

router = Router(["a", "b"], strategy=Strategy.ROUND_ROBIN, cooldown=InMemoryCooldown(30))


@router
def ask(provider: str, question: str) -> str:
    return provider + question


assert_type(ask("?"), str)
assert_type(router.execute(ask.__wrapped__, "?"), Result[str])
router.execute(ask.__wrapped__, 3)  # type: ignore[arg-type]
assert_type(router.status(), Status)

routed(providers=["a"], cooldown_on=http_status(429, 503), timeout=5.0)
routed(providers=["a"], fallback_on=(TimeoutError, ConnectionError))
routed(providers="a", strategy="fallback")  # a str is a Sequence: caught at run time

info = current_attempt()
if info is not None:
    assert_type(info.time_left, float | None)
    assert_type(info.attempt, int)

try:
    generate("x")
except AllProvidersFailedError as group:
    assert_type(group.last_error, Exception)


# -- async functions, async streams and methods ------------------------------------------


@routed(providers=["a", "b"])
async def answer(provider: str, question: str) -> str:
    return provider + question


async def use_async() -> None:
    assert_type(await answer("?"), str)
    assert_type(await answer.route("?"), Result[str])
    assert_type((await answer.route("?")).response, str)
    await answer(42)  # type: ignore[arg-type]


@routed(providers=["a", "b"])
async def tokens(provider: str, prompt: str) -> AsyncIterator[str]:
    yield provider + prompt


async def use_stream() -> None:
    async for token in tokens("hi"):
        assert_type(token, str)
    result = await tokens.route("hi")
    assert_type(result.response, AsyncIterator[str])
    tokens(1)  # type: ignore[arg-type]


class Svc:
    @routed(providers=["a", "b"])
    def ask(self, provider: str, prompt: str) -> str:
        return provider + prompt

    @routed(providers=["a", "b"])
    async def ask_async(self, provider: str, prompt: str) -> str:
        return provider + prompt


assert_type(Svc().ask("?"), str)
assert_type(Svc().ask.route("?"), Result[str])
Svc().ask(42, 43, 44)  # type: ignore[call-arg, arg-type]
Svc().ask(42)  # type: ignore[arg-type]


async def use_method() -> None:
    assert_type(await Svc().ask_async("?"), str)
    assert_type(await Svc().ask_async.route("?"), Result[str])
    await Svc().ask_async(1)  # type: ignore[arg-type]


# The LLM preset spreads into routed() and keeps the function's type.
@routed(providers=["a", "b"], **llm.options("buffer", hedge_after=1.0))
def chat(provider: str, prompt: str) -> Iterator[str]:
    yield from llm.text([provider, prompt])


assert_type(chat("hi"), Iterator[str])
assert_type(llm.classify(ValueError()), llm.ErrorKind)
llm.options(retries="2")  # type: ignore[arg-type]
