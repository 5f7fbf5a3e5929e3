"""Real SDK errors built from real HTTP responses, for the llm tests.

``openai`` and ``anthropic`` errors come from the SDK's own
``_make_status_error_from_response`` (what a failed request raises), google-genai's from
``errors.APIError.raise_for_response``, httpx's from ``raise_for_status`` and requests'
likewise.
"""

from __future__ import annotations

import functools
import importlib
import json
from typing import Any

import anthropic
import httpx
import openai
import pytest
import requests
from google.genai import errors as genai_errors

#: The HTTP library the Stainless SDKs are built on (httpx, or its fork httpx2).
sdk_http: Any = importlib.import_module(
    openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0]
)
anthropic_http: Any = importlib.import_module(
    anthropic.DefaultHttpxClient.__mro__[1].__module__.split(".")[0]
)

CONTEXT_OPENAI = {
    "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in 131072 tokens.",
    "type": "invalid_request_error",
    "param": "messages",
    "code": "context_length_exceeded",
}
CONTENT_FILTER_AZURE = {
    "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
    "type": None,
    "param": "prompt",
    "code": "content_filter",
    "status": 400,
    "innererror": {"code": "ResponsibleAIPolicyViolation"},
}


@functools.cache
def openai_client() -> openai.OpenAI:
    """One client builds every error (its method reads the response as a request would)."""
    return openai.OpenAI(api_key="sk-test", base_url="https://api.openai.test/v1", max_retries=0)


@functools.cache
def anthropic_client() -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key="sk-ant-test", base_url="https://api.anthropic.test", max_retries=0
    )


def anthropic_stream_error(kind: str, message: str) -> Exception:
    """The error an Anthropic stream raises for an ``error`` event inside its 200 response."""
    request = anthropic_http.Request("POST", "https://api.anthropic.test/v1/messages")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    response = anthropic_http.Response(200, request=request)
    return anthropic_client()._make_status_error(message, body=body, response=response)


def openai_error(status: int, error: dict[str, Any] | None = None, **headers: str) -> Exception:
    request = sdk_http.Request("POST", "https://api.openai.test/v1/chat/completions")
    body = {"error": error} if error is not None else {"error": {"message": "failed"}}
    response = sdk_http.Response(status, json=body, headers=headers, request=request)
    return openai_client()._make_status_error_from_response(response)


def anthropic_error(status: int, kind: str, message: str) -> Exception:
    request = anthropic_http.Request("POST", "https://api.anthropic.test/v1/messages")
    body = {"type": "error", "error": {"type": kind, "message": message}}
    response = anthropic_http.Response(status, json=body, request=request)
    return anthropic_client()._make_status_error_from_response(response)


def google_error(
    status: int, word: str, message: str, details: list[Any] | None = None
) -> Exception:
    body = {"error": {"code": status, "message": message, "status": word, "details": details or []}}
    request = httpx.Request(
        "POST", "https://generativelanguage.test/v1beta/models/m:generateContent"
    )
    try:
        genai_errors.APIError.raise_for_response(httpx.Response(status, json=body, request=request))
    except genai_errors.APIError as exc:
        return exc
    pytest.fail("no error raised")


def httpx_error(status: int, body: Any = None) -> Exception:
    request = httpx.Request("POST", "https://llm.test/v1/chat/completions")
    response = httpx.Response(status, json=body, request=request)
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        return exc
    pytest.fail("no error raised")


def requests_error(status: int, body: Any = None) -> Exception:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode() if body is not None else b""
    response.url = "https://llm.test/v1/chat/completions"
    try:
        response.raise_for_status()
    except requests.HTTPError as exc:
        return exc
    pytest.fail("no error raised")
