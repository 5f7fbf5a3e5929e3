"""``llm.classify`` on the real SDKs' real errors, built from real HTTP responses.

``openai`` and ``anthropic`` errors come from the SDK's own
``_make_status_error_from_response`` (what a failed request raises), google-genai's
from ``errors.APIError.raise_for_response``, httpx's from ``raise_for_status`` and
requests' likewise; transport errors are the SDKs' own classes. Every ``ErrorKind`` is
produced by at least one real error.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from typing import Any
from urllib.error import URLError

import anthropic
import httpx
import openai
import pytest
import requests

from fallback_router import AttemptTimeoutError, RejectedResponseError, StreamInterrupted, llm

from .support.llm_errors import (
    CONTENT_FILTER_AZURE,
    CONTEXT_OPENAI,
    anthropic_error,
    anthropic_http,
    anthropic_stream_error,
    google_error,
    httpx_error,
    openai_error,
    requests_error,
    sdk_http,
)

K = llm.ErrorKind


def per_quota(quota_id: str) -> list[Any]:
    return [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [{"quotaMetric": "generate_content_requests", "quotaId": quota_id}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"},
    ]


def _request() -> Any:
    return sdk_http.Request("POST", "https://api.openai.test/v1/chat/completions")


def _cases() -> list[tuple[str, Any, llm.ErrorKind]]:
    request = _request()
    ok_response = sdk_http.Response(200, json={"id": 1}, request=request)
    a_request = anthropic_http.Request("POST", "https://api.anthropic.test/v1/messages")
    quota_message = "You exceeded your current quota, please check your plan and billing details."
    google_quota = "You exceeded your current quota, please check your plan and billing details."
    return [
        # openai and OpenAI-compatible servers
        (
            "openai 429",
            lambda: openai_error(
                429,
                {
                    "message": "Rate limit reached",
                    "type": "requests",
                    "code": "rate_limit_exceeded",
                },
                **{"retry-after": "2"},
            ),
            K.RATE_LIMITED,
        ),
        (
            "openai 429 quota",
            lambda: openai_error(
                429,
                {
                    "message": quota_message,
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                },
            ),
            K.QUOTA_EXHAUSTED,
        ),
        (
            "openai 402",
            lambda: openai_error(402, {"message": "Payment required"}),
            K.QUOTA_EXHAUSTED,
        ),
        (
            "openai 500",
            lambda: openai_error(
                500, {"message": "The server had an error", "type": "server_error"}
            ),
            K.SERVER_ERROR,
        ),
        ("openai 502", lambda: openai_error(502), K.SERVER_ERROR),
        ("openai 504", lambda: openai_error(504), K.SERVER_ERROR),
        (
            "openai 503",
            lambda: openai_error(
                503, {"message": "The engine is currently overloaded", "type": "server_error"}
            ),
            K.OVERLOADED,
        ),
        ("openai 400 context", lambda: openai_error(400, CONTEXT_OPENAI), K.CONTEXT_LENGTH),
        (
            "azure 400 content filter",
            lambda: openai_error(400, CONTENT_FILTER_AZURE),
            K.CONTENT_FILTER,
        ),
        (
            "openai 400 content policy",
            lambda: openai_error(
                400,
                {
                    "message": "Your request was rejected as a result of our safety system.",
                    "type": "invalid_request_error",
                    "code": "content_policy_violation",
                },
            ),
            K.CONTENT_FILTER,
        ),
        (
            "openai 400 prefill",
            lambda: openai_error(
                400,
                {
                    "message": "Unsupported value: 'messages[1].role'",
                    "type": "invalid_request_error",
                    "code": "unsupported_value",
                },
            ),
            K.BAD_REQUEST,
        ),
        ("openai 413", lambda: openai_error(413, {"message": "Request too large"}), K.BAD_REQUEST),
        (
            "groq 413 tokens per minute",
            lambda: openai_error(
                413,
                {
                    "message": "Request too large for model on tokens per minute (TPM)",
                    "type": "tokens",
                    "code": "rate_limit_exceeded",
                },
            ),
            K.RATE_LIMITED,
        ),
        ("openai 422", lambda: openai_error(422, {"message": "Unprocessable"}), K.BAD_REQUEST),
        (
            "openai 401",
            lambda: openai_error(
                401,
                {
                    "message": "Incorrect API key provided: sk-abc",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key",
                },
            ),
            K.AUTH,
        ),
        (
            "openai 403",
            lambda: openai_error(
                403,
                {
                    "message": "Country, region, or territory not supported",
                    "code": "unsupported_country_region_territory",
                },
            ),
            K.AUTH,
        ),
        (
            "openai 404 model",
            lambda: openai_error(
                404,
                {
                    "message": "The model `gpt-9` does not exist",
                    "type": "invalid_request_error",
                    "code": "model_not_found",
                },
            ),
            K.NOT_FOUND,
        ),
        (
            "azure 404 deployment",
            lambda: openai_error(
                404,
                {
                    "code": "DeploymentNotFound",
                    "message": "The API deployment for this resource does not exist.",
                },
            ),
            K.NOT_FOUND,
        ),
        ("openai 408", lambda: openai_error(408), K.TIMEOUT),
        ("openai timeout", lambda: openai.APITimeoutError(request=request), K.TIMEOUT),
        ("openai connection", lambda: openai.APIConnectionError(request=request), K.CONNECTION),
        (
            "openai invalid body",
            lambda: openai.APIResponseValidationError(ok_response, {"id": 1}),
            K.MALFORMED,
        ),
        (
            "openai bad chunk",
            lambda: json.JSONDecodeError("Expecting property name", "{not json", 1),
            K.MALFORMED,
        ),
        (
            "openai error event in a stream",
            lambda: openai.APIError(
                "An error occurred during streaming",
                request,
                body={"message": "overloaded", "type": "server_error"},
            ),
            K.SERVER_ERROR,
        ),
        (
            "openai error event, rate limit",
            lambda: openai.APIError(
                "rate limited",
                request,
                body={"message": "slow down", "type": "tokens", "code": "rate_limit_exceeded"},
            ),
            K.RATE_LIMITED,
        ),
        (
            "error event, quota",
            lambda: openai.APIError("quota", request, body={"code": "insufficient_quota"}),
            K.QUOTA_EXHAUSTED,
        ),
        (
            "error event, context",
            lambda: openai.APIError("too long", request, body={"code": "context_length_exceeded"}),
            K.CONTEXT_LENGTH,
        ),
        (
            "error event, context in words",
            lambda: openai.APIError(
                "too long",
                request,
                body={
                    "type": "invalid_request_error",
                    "message": "This model's maximum context length is 8192 tokens",
                },
            ),
            K.CONTEXT_LENGTH,
        ),
        (
            "error event, bad request",
            lambda: openai.APIError(
                "bad", request, body={"type": "invalid_request_error", "message": "bad"}
            ),
            K.BAD_REQUEST,
        ),
        (
            "error event, filter",
            lambda: openai.APIError("filtered", request, body={"code": "content_filter"}),
            K.CONTENT_FILTER,
        ),
        (
            "error event, key",
            lambda: openai.APIError("key", request, body={"code": "invalid_api_key"}),
            K.AUTH,
        ),
        (
            "error event, unknown",
            lambda: openai.APIError("what", request, body={"code": "mystery"}),
            K.OTHER,
        ),
        (
            "anthropic overloaded mid-stream",
            lambda: anthropic_stream_error("overloaded_error", "Overloaded"),
            K.OVERLOADED,
        ),
        (
            "gateway text error",
            lambda: httpx_error(502, {"error": "upstream connect error"}),
            K.SERVER_ERROR,
        ),
        (
            "openai parse, content filter",
            lambda: openai.ContentFilterFinishReasonError(),
            K.CONTENT_FILTER,
        ),
        # anthropic
        (
            "anthropic 529",
            lambda: anthropic_error(529, "overloaded_error", "Overloaded"),
            K.OVERLOADED,
        ),
        (
            "anthropic 429",
            lambda: anthropic_error(
                429,
                "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
            ),
            K.RATE_LIMITED,
        ),
        (
            "anthropic 500",
            lambda: anthropic_error(500, "api_error", "Internal server error"),
            K.SERVER_ERROR,
        ),
        (
            "anthropic 400 too long",
            lambda: anthropic_error(
                400, "invalid_request_error", "prompt is too long: 201234 tokens > 200000 maximum"
            ),
            K.CONTEXT_LENGTH,
        ),
        (
            "anthropic 400 credit",
            lambda: anthropic_error(
                400,
                "invalid_request_error",
                "Your credit balance is too low to access the Anthropic API.",
            ),
            K.QUOTA_EXHAUSTED,
        ),
        (
            "anthropic 402 billing",
            lambda: anthropic_error(402, "billing_error", "Spend limit reached"),
            K.QUOTA_EXHAUSTED,
        ),
        (
            "anthropic 400",
            lambda: anthropic_error(400, "invalid_request_error", "messages: roles must alternate"),
            K.BAD_REQUEST,
        ),
        (
            "anthropic 413",
            lambda: anthropic_error(
                413, "request_too_large", "Request exceeds the maximum allowed number of bytes."
            ),
            K.BAD_REQUEST,
        ),
        (
            "anthropic 401",
            lambda: anthropic_error(401, "authentication_error", "invalid x-api-key"),
            K.AUTH,
        ),
        (
            "anthropic 403",
            lambda: anthropic_error(
                403, "permission_error", "Your API key does not have permission"
            ),
            K.AUTH,
        ),
        (
            "anthropic 404",
            lambda: anthropic_error(404, "not_found_error", "model: claude-9"),
            K.NOT_FOUND,
        ),
        ("anthropic timeout", lambda: anthropic.APITimeoutError(request=a_request), K.TIMEOUT),
        (
            "anthropic connection",
            lambda: anthropic.APIConnectionError(request=a_request),
            K.CONNECTION,
        ),
        # google-genai
        (
            "google 429 per minute",
            lambda: google_error(
                429,
                "RESOURCE_EXHAUSTED",
                google_quota,
                per_quota("GenerateRequestsPerMinutePerProjectPerModel-FreeTier"),
            ),
            K.RATE_LIMITED,
        ),
        (
            "google 429 per day",
            lambda: google_error(
                429,
                "RESOURCE_EXHAUSTED",
                google_quota,
                per_quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier"),
            ),
            K.QUOTA_EXHAUSTED,
        ),
        (
            "google 429 bare",
            lambda: google_error(
                429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."
            ),
            K.RATE_LIMITED,
        ),
        (
            "google 400 tokens",
            lambda: google_error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1234567) exceeds the maximum number of tokens allowed (1048576).",
            ),
            K.CONTEXT_LENGTH,
        ),
        (
            "google 400 key",
            lambda: google_error(
                400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."
            ),
            K.AUTH,
        ),
        (
            "google 400",
            lambda: google_error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
            K.BAD_REQUEST,
        ),
        (
            "google 403",
            lambda: google_error(403, "PERMISSION_DENIED", "Permission denied on resource project"),
            K.AUTH,
        ),
        (
            "google 404",
            lambda: google_error(
                404, "NOT_FOUND", "models/gemini-9 is not found for API version v1beta"
            ),
            K.NOT_FOUND,
        ),
        (
            "google 500",
            lambda: google_error(500, "INTERNAL", "An internal error has occurred."),
            K.SERVER_ERROR,
        ),
        (
            "google 503",
            lambda: google_error(
                503, "UNAVAILABLE", "The model is overloaded. Please try again later."
            ),
            K.OVERLOADED,
        ),
        # httpx
        (
            "httpx 429",
            lambda: httpx_error(429, {"error": {"message": "slow down"}}),
            K.RATE_LIMITED,
        ),
        ("httpx 503", lambda: httpx_error(503), K.OVERLOADED),
        (
            "httpx 400 context",
            lambda: httpx_error(400, {"error": CONTEXT_OPENAI}),
            K.CONTEXT_LENGTH,
        ),
        (
            "httpx 400",
            lambda: httpx_error(
                400, {"error": {"message": "bad", "type": "invalid_request_error"}}
            ),
            K.BAD_REQUEST,
        ),
        (
            "httpx connect",
            lambda: httpx.ConnectError("[Errno 111] Connection refused"),
            K.CONNECTION,
        ),
        (
            "httpx reset mid-body",
            lambda: httpx.RemoteProtocolError("peer closed connection"),
            K.CONNECTION,
        ),
        ("httpx read timeout", lambda: httpx.ReadTimeout("timed out"), K.TIMEOUT),
        ("httpx decoding", lambda: httpx.DecodingError("bad gzip"), K.MALFORMED),
        # requests
        ("requests 500", lambda: requests_error(500), K.SERVER_ERROR),
        (
            "requests 429 quota",
            lambda: requests_error(
                429, {"error": {"code": "insufficient_quota", "message": quota_message}}
            ),
            K.QUOTA_EXHAUSTED,
        ),
        ("requests 401", lambda: requests_error(401, {"error": {"message": "no"}}), K.AUTH),
        ("requests connection", lambda: requests.ConnectionError("refused"), K.CONNECTION),
        ("requests connect timeout", lambda: requests.ConnectTimeout("slow"), K.TIMEOUT),
        ("requests read timeout", lambda: requests.ReadTimeout("slow"), K.TIMEOUT),
        (
            "requests cut body",
            lambda: requests.exceptions.ChunkedEncodingError("cut"),
            K.CONNECTION,
        ),
        (
            "requests bad json",
            lambda: requests.JSONDecodeError("Expecting value", "", 0),
            K.MALFORMED,
        ),
        # builtins and the router's own
        ("reset", lambda: ConnectionResetError(104, "Connection reset by peer"), K.CONNECTION),
        ("builtin timeout", lambda: TimeoutError(), K.TIMEOUT),
        ("router timeout", lambda: AttemptTimeoutError("primary", 20.0), K.TIMEOUT),
        ("incomplete", lambda: llm.IncompleteAnswer(3), K.INCOMPLETE),
        ("a bug", lambda: KeyError("choices"), K.OTHER),
        ("urllib refused", lambda: URLError(ConnectionRefusedError(111, "refused")), K.CONNECTION),
        (
            "urllib DNS",
            lambda: URLError(socket.gaierror(-2, "Name or service not known")),
            K.CONNECTION,
        ),
        ("urllib TLS", lambda: URLError(ssl.SSLCertVerificationError(1, "bad cert")), K.CONNECTION),
        ("urllib timeout", lambda: URLError(TimeoutError("timed out")), K.TIMEOUT),
        ("blank answer", lambda: RejectedResponseError("primary", []), K.OTHER),
    ]


CASES = _cases()


@pytest.mark.parametrize(("make", "kind"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_classify_names_each_real_error(make, kind):
    """Each SDK's real error, from a real HTTP response, is classified as documented."""
    assert llm.classify(make()) is kind


def test_every_kind_is_produced_by_a_real_error():
    """The table above covers every ErrorKind."""
    assert {case[2] for case in CASES} == set(llm.ErrorKind)


def test_a_stream_interrupted_is_classified_by_its_cause():
    """The router's StreamInterrupted is what cut the stream; without a cause: other."""
    interrupted = StreamInterrupted("primary", 3)
    assert llm.classify(interrupted) is K.OTHER
    interrupted.__cause__ = openai.APIConnectionError(request=_request())
    assert llm.classify(interrupted) is K.CONNECTION


def test_an_unread_streamed_response_is_classified_by_status():
    """An httpx status error on a stream whose body was never read: its status decides."""
    request = httpx.Request("POST", "https://llm.test/v1/chat/completions")
    response = httpx.Response(503, request=request, stream=httpx.ByteStream(b"{}"))
    error = httpx.HTTPStatusError("503", request=request, response=response)
    assert llm.classify(error) is K.OVERLOADED
    garbage = httpx.Response(400, request=request, content=b"<html>bad gateway</html>")
    assert (
        llm.classify(httpx.HTTPStatusError("400", request=request, response=garbage))
        is K.BAD_REQUEST
    )


def test_error_kind_is_a_str_enum():
    """Kinds compare equal to their names: logs, metrics and JSON read them as strings."""
    assert K.RATE_LIMITED == "rate_limited"
    assert [kind.value for kind in K][:3] == ["rate_limited", "quota_exhausted", "overloaded"]
    assert repr(K.AUTH).startswith("<ErrorKind.AUTH")
    assert llm.ErrorKind.__module__ == "fallback_router.llm"


def test_importing_llm_imports_no_sdk():
    """``import fallback_router.llm`` loads no SDK and no HTTP library."""
    code = (
        "import sys, fallback_router.llm\n"
        "roots = {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(roots & {'openai', 'anthropic', 'google', 'httpx', 'httpx2', 'requests', 'aiohttp'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
