"""What went wrong with an LLM call: `ErrorKind` and `classify`.

Errors are recognised without importing any SDK: by the names and modules of the
error's classes (the `openai` and `anthropic` SDKs, and every SDK generated like
them, share `APIConnectionError`, `APITimeoutError`...), the HTTP status it carries
and the code, type or status word of its error body.
"""

from __future__ import annotations

from enum import StrEnum

from fallback_router._classify import http_status_of
from fallback_router._errors import AttemptTimeoutError, RejectedResponseError, StreamInterrupted

from ._body import body_of, google_daily, google_per_minute

__all__ = ["ErrorKind", "IncompleteAnswer", "classify"]


class ErrorKind(StrEnum):
    """What an LLM call's error says about the provider and the request.

    Returned by [`llm.classify`][fallback_router.llm.classify]; the preset
    ([`llm.options`][fallback_router.llm.options]) decides per kind whether to
    retry the same provider, bench it, fall back or raise.

    Version:
        Added in 0.3.0.
    """

    RATE_LIMITED = "rate_limited"
    """429 or a rate-limit code: slow down (often with a Retry-After)."""
    QUOTA_EXHAUSTED = "quota_exhausted"
    """`insufficient_quota`, 402, billing or credit exhausted: not back soon."""
    OVERLOADED = "overloaded"
    """503, 529, `overloaded_error`."""
    SERVER_ERROR = "server_error"
    """500, 502, 504 and other 5xx."""
    CONNECTION = "connection"
    """Reset, refused, DNS, TLS: no answer came."""
    TIMEOUT = "timeout"
    """The SDK's or the router's timeout (`AttemptTimeoutError`), 408."""
    MALFORMED = "malformed"
    """An unparsable body or chunk."""
    INCOMPLETE = "incomplete"
    """A stream that ended without a finish reason (`llm.IncompleteAnswer`)."""
    AUTH = "auth"
    """401, 403: a dead or unauthorised credential."""
    NOT_FOUND = "not_found"
    """404: a model or deployment that does not exist there."""
    CONTEXT_LENGTH = "context_length"
    """The prompt does not fit the model's context window."""
    CONTENT_FILTER = "content_filter"
    """The provider's content policy refused the prompt or the answer."""
    BAD_REQUEST = "bad_request"
    """Any other 400, 413, 422 and other 4xx: the request itself is wrong."""
    OTHER = "other"
    """Anything else."""


class IncompleteAnswer(Exception):  # noqa: N818 - the name users asked for
    """A stream ended without a finish reason: the answer was cut short.

    Raised by [`llm.chunks`][fallback_router.llm.chunks] and its siblings after the
    last chunk; `classify` calls it `incomplete`. `.items` is how many chunks came.

    Version:
        Added in 0.3.0.
    """

    def __init__(self, items: int = 0) -> None:
        super().__init__(f"the stream ended without a finish reason after {items} chunks")
        self.items = items


K = ErrorKind

_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_WORDS = (
    "maximum context length",
    "context length",
    "context window",
    "context_length_exceeded",
    "prompt is too long",
    "exceeds the maximum number of tokens",
    "input is too long",
    "too many tokens",
)
_FILTER_CODES = frozenset(
    {"content_filter", "content_policy_violation", "responsibleaipolicyviolation"}
)
_FILTER_WORDS = ("content management policy", "content_filter", "content policy")
_QUOTA_CODES = frozenset(
    {
        "insufficient_quota",
        "billing_hard_limit_reached",
        "billing_not_active",
        "billing_error",
        "quota_exceeded",
    }
)
_QUOTA_WORDS = ("credit balance is too low", "insufficient_quota", "billing", "spend limit")
_RATE_CODES = frozenset({"rate_limit_exceeded", "rate_limit_error", "too_many_requests"})
_AUTH_CODES = frozenset(
    {
        "authentication_error",
        "permission_error",
        "invalid_api_key",
        "unauthenticated",
        "permission_denied",
        "api_key_invalid",
    }
)
_AUTH_WORDS = ("api key not valid", "incorrect api key", "invalid api key")
#: Body codes and types (and Google status words) that decide without a status.
_BY_CODE = {
    "overloaded_error": K.OVERLOADED,
    "unavailable": K.OVERLOADED,
    "api_error": K.SERVER_ERROR,
    "server_error": K.SERVER_ERROR,
    "internal": K.SERVER_ERROR,
    "deadline_exceeded": K.TIMEOUT,
    "timeout_error": K.TIMEOUT,
    "not_found_error": K.NOT_FOUND,
    "not_found": K.NOT_FOUND,
    "model_not_found": K.NOT_FOUND,
    "deploymentnotfound": K.NOT_FOUND,
    "resource_exhausted": K.RATE_LIMITED,
    "invalid_request_error": K.BAD_REQUEST,
    "invalid_argument": K.BAD_REQUEST,
    "request_too_large": K.BAD_REQUEST,
}
_BY_STATUS = {
    401: K.AUTH,
    402: K.QUOTA_EXHAUSTED,
    403: K.AUTH,
    404: K.NOT_FOUND,
    408: K.TIMEOUT,
    429: K.RATE_LIMITED,
    503: K.OVERLOADED,
    529: K.OVERLOADED,
}
#: Class names (anywhere in the error's MRO) that decide on their own, in order.
_TIMEOUT_NAMES = frozenset(
    {"APITimeoutError", "TimeoutException", "Timeout", "ReadTimeout", "ConnectTimeout"}
)
_CONNECTION_NAMES = frozenset(
    {
        "APIConnectionError",
        "TransportError",  # httpx: network, protocol and proxy errors
        "ConnectionError",  # requests (and the builtin)
        "ChunkedEncodingError",
        "ProtocolError",  # urllib3
        "SSLError",
        "ServerDisconnectedError",
        "ClientConnectionError",  # aiohttp
        "gaierror",  # DNS
    }
)
_MALFORMED_NAMES = frozenset(
    {
        "JSONDecodeError",
        "DecodingError",
        "ContentDecodingError",
        "APIResponseValidationError",
        "UnknownApiResponseError",
    }
)
_FILTER_NAMES = frozenset({"ContentFilterFinishReasonError"})


def classify(error: BaseException) -> ErrorKind:  # noqa: PLR0911 - a decision table
    """Say what kind of failure an LLM call's error is.

    Works for the `openai` SDK (and OpenAI-compatible servers: Azure, DeepSeek,
    Groq, vLLM, Ollama, OpenRouter), `anthropic`, `google-genai`, `httpx` and
    `requests` errors, the builtin `TimeoutError` / `ConnectionError`, the
    router's `AttemptTimeoutError` (`timeout`) and
    [`llm.IncompleteAnswer`][fallback_router.llm.IncompleteAnswer] (`incomplete`);
    a `StreamInterrupted` is classified by its cause. No SDK is imported: the
    error's class names, its HTTP status and its body's code, type or status word
    decide, so an unknown SDK built the same way is understood too.

    Args:
        error: any exception.

    Returns:
        The error's [`ErrorKind`][fallback_router.llm.ErrorKind] (`other` when
        nothing matches).

    Example:
        ```python
        from fallback_router import llm

        try:
            client.chat.completions.create(...)
        except Exception as error:
            if llm.classify(error) is llm.ErrorKind.CONTEXT_LENGTH:
                ...  # shorten the prompt
        ```

    Version:
        Added in 0.3.0.
    """
    inner = _wrapped(error)
    if inner is not None:  # classified by what it wraps (an OSError: a connection's)
        kind = classify(inner)
        return K.CONNECTION if kind is K.OTHER and isinstance(inner, OSError) else kind
    if isinstance(error, IncompleteAnswer):
        return K.INCOMPLETE
    if isinstance(error, AttemptTimeoutError | TimeoutError):
        return K.TIMEOUT
    if isinstance(error, RejectedResponseError):
        return K.OTHER
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & _TIMEOUT_NAMES:
        return K.TIMEOUT
    if names & _CONNECTION_NAMES:
        return K.CONNECTION
    if names & _MALFORMED_NAMES:
        return K.MALFORMED
    if names & _FILTER_NAMES:
        return K.CONTENT_FILTER
    status = http_status_of(error)
    codes, message = body_of(error)
    if status is None or status < 400:  # an error event inside a 200 stream
        return _without_status(codes, message)
    return _with_status(status, codes, message, error)


def _wrapped(error: BaseException) -> BaseException | None:
    """The error a wrapper stands for: a `StreamInterrupted`'s cause, a `URLError`'s reason."""
    if isinstance(error, StreamInterrupted):
        return error.__cause__
    reason = getattr(error, "reason", None)  # urllib's URLError wraps the socket's error
    if isinstance(reason, BaseException) and type(error).__name__ == "URLError":
        return reason
    return None


def _with_status(  # noqa: PLR0911 - a decision table
    status: int, codes: set[str], message: str, error: BaseException
) -> ErrorKind:
    """Decide by status, refined by the body (quota on a 429, context on a 400...)."""
    quota = codes & _QUOTA_CODES or (status in (400, 403, 429) and _has(message, _QUOTA_WORDS))
    if quota and not google_per_minute(status, error):
        return K.QUOTA_EXHAUSTED
    if status == 429:
        return K.QUOTA_EXHAUSTED if google_daily(error) else K.RATE_LIMITED
    if codes & _RATE_CODES:
        return K.RATE_LIMITED  # Groq's 413 "tokens per minute"
    if 400 <= status < 500:
        if codes & _CONTEXT_CODES or _has(message, _CONTEXT_WORDS):
            return K.CONTEXT_LENGTH
        if codes & _FILTER_CODES or _has(message, _FILTER_WORDS):
            return K.CONTENT_FILTER
        if codes & _AUTH_CODES or _has(message, _AUTH_WORDS):
            return K.AUTH  # Google answers a bad key with 400
        return _BY_STATUS.get(status, K.BAD_REQUEST)
    if "overloaded_error" in codes:
        return K.OVERLOADED
    return _BY_STATUS.get(status, K.SERVER_ERROR)  # 5xx (and 6xx-looking statuses)


def _without_status(codes: set[str], message: str) -> ErrorKind:  # noqa: PLR0911 - a decision table
    """Decide by the body alone (an error event inside a stream, a bare API error)."""
    if codes & _QUOTA_CODES:
        return K.QUOTA_EXHAUSTED
    if codes & _RATE_CODES:
        return K.RATE_LIMITED
    if codes & _CONTEXT_CODES:
        return K.CONTEXT_LENGTH
    if codes & _FILTER_CODES:
        return K.CONTENT_FILTER
    if codes & _AUTH_CODES:
        return K.AUTH
    for code in codes:
        kind = _BY_CODE.get(code)
        if kind is not None:
            if kind is K.BAD_REQUEST and _has(message, _CONTEXT_WORDS):
                return K.CONTEXT_LENGTH
            return kind
    return K.OTHER


def _has(message: str, words: tuple[str, ...]) -> bool:
    return any(word in message for word in words)
