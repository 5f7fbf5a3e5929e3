"""The `max_retries` warning (DESIGN §5b): any router logs one WARNING per provider object
that is an `openai` / `anthropic` client built with `max_retries > 0`.

Real SDK client objects (no request is made: building a client does no I/O).
"""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
import pytest

from fallback_router import Router, routed

URL = "http://127.0.0.1:9/v1"  # never contacted


def retry_warnings(logs: Any) -> list[dict[str, Any]]:
    return logs.find("provider client retries on its own")


def test_a_retrying_openai_client_is_named_with_the_fix(logs):
    client = openai.OpenAI(api_key="sk-test", base_url=URL)  # the SDK's default: 2
    routed(providers={"gpt": client, "spare": "spare"})(lambda provider: provider)
    (record,) = retry_warnings(logs)
    assert record["level"].name == "WARNING"
    assert record["extra"]["provider"] == "gpt"
    assert record["extra"]["max_retries"] == 2
    message = record["message"]
    assert "gpt is an openai.OpenAI with max_retries=2" in message
    assert "max_retries=0" in message
    assert ".with_options(max_retries=0)" in message


@pytest.mark.parametrize(
    "build",
    [
        lambda: openai.AsyncOpenAI(api_key="sk-test", base_url=URL, max_retries=3),
        lambda: openai.AzureOpenAI(
            api_key="k", api_version="2024-06-01", azure_endpoint=URL, max_retries=1
        ),
        lambda: anthropic.Anthropic(api_key="sk-ant-test", base_url=URL),
        lambda: anthropic.AsyncAnthropic(api_key="sk-ant-test", base_url=URL, max_retries=5),
    ],
    ids=["AsyncOpenAI", "AzureOpenAI", "Anthropic", "AsyncAnthropic"],
)
def test_every_sdk_client_kind_is_recognised(logs, build):
    client = build()
    routed(providers={"llm": client})(lambda provider: provider)
    (record,) = retry_warnings(logs)
    assert record["extra"]["max_retries"] == client.max_retries
    assert type(client).__name__ in record["message"]


def test_clients_without_retries_and_other_objects_are_quiet(logs):
    quiet = openai.OpenAI(api_key="sk-test", base_url=URL, max_retries=0)
    wrapped = openai.OpenAI(api_key="sk-test", base_url=URL).with_options(max_retries=0)
    claude = anthropic.Anthropic(api_key="sk-ant-test", base_url=URL, max_retries=0)

    class LookAlike:  # max_retries alone does not make an SDK client
        name = "lookalike"
        max_retries = 3

    routed(providers={"a": quiet, "b": wrapped, "c": claude, "d": LookAlike(), "e": "e"})(
        lambda provider: provider
    )
    assert retry_warnings(logs) == []


def test_once_per_provider_object_per_router(logs):
    """A router warns once per object, whatever the number of calls or functions."""
    client = openai.OpenAI(api_key="sk-test", base_url=URL)
    other = openai.OpenAI(api_key="sk-test", base_url=URL)
    router = Router({"a": client, "b": other, "c": "c"})

    @router
    def one(provider: Any) -> str:
        return "ok"

    @router
    async def two(provider: Any) -> str:
        return "ok"

    for _ in range(3):
        one()
        asyncio.run(two())
    assert [r["extra"]["provider"] for r in retry_warnings(logs)] == ["a", "b"]
    Router({"a": client})  # another router: its own warning
    assert len(retry_warnings(logs)) == 3


def test_providers_from_a_callable_are_checked_when_read(logs):
    """A providers callable: each new client object is named once, when it first appears."""
    clients = {"a": openai.OpenAI(api_key="sk-test", base_url=URL, max_retries=0)}
    fn = routed(providers=lambda: clients)(lambda provider: "ok")
    fn()
    assert retry_warnings(logs) == []
    clients["b"] = anthropic.Anthropic(api_key="sk-ant-test", base_url=URL)
    fn()
    fn()
    assert [r["extra"]["provider"] for r in retry_warnings(logs)] == ["b"]
