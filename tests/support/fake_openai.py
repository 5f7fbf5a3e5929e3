"""A fake OpenAI-compatible vendor on 127.0.0.1, for failover tests (stdlib only).

``FakeOpenAI(name)`` serves ``POST /v1/chat/completions`` on a free loopback port from
raw sockets, in daemon threads, until ``close()`` (or the end of its ``with`` block)::

    with FakeOpenAI("alpha", scenario="rate_limited_once") as vendor:
        client = openai.OpenAI(base_url=vendor.base_url, api_key="test", max_retries=0)

Answers are a chat completion (``"stream": true``: SSE ``chat.completion.chunk`` events
ending with ``data: [DONE]``) whose content is ``tokens``, served under the model name
``name``. What a request gets depends on ``scenario``, which may change at any time:

- ``ok``: the answer;
- ``rate_limited_once`` / ``rate_limited``: 429 (``retry-after``, ``retry-after-ms``;
  none when ``retry_after`` is None) for the first request / every request;
- ``quota_exhausted``: 429 ``insufficient_quota`` (no Retry-After) for every request;
- ``unauthorized``: 401 ``invalid_api_key`` for every request;
- ``flapping``: 503 for odd requests (the first, third...), the answer for even ones;
- ``error_500_once``: 500 for the first request, then the answer;
- ``unavailable``: 503 for every request;
- ``down_then_healthy``: 503 until ``heal()``, then the answer;
- ``context_length`` / ``content_policy``: 400 with OpenAI's (Azure's) error body;
- ``prefill_rejected``: 400 when the last message is the assistant's, else the answer;
- ``reset``: the request is read, then the connection is reset (RST) before any header;
- ``hang``: the request is read, then nothing is sent until ``release()`` (the answer
  follows) or ``close()`` (the connection is dropped);
- ``slow_first_token``: ``first_token_delay`` seconds of silence before the first
  chunk (streaming: after the headers) or before the answer (non-streaming);
- ``cut_stream``: ``cut_after`` token chunks, then the connection is closed mid-body
  (non-streaming: half of the JSON body, then the close);
- ``stall_stream``: ``cut_after`` token chunks (non-streaming: half of the body), then
  silence until ``release()`` (the rest follows) or ``close()``;
- ``malformed_chunk``: ``cut_after`` token chunks, the line ``data: {not json``, then
  the rest (non-streaming: a 200 whose JSON body is ``{not json``);
- ``no_done``: every chunk and a clean end of the body, but no ``data: [DONE]``
  (non-streaming: the answer).

"First request" counts from when the scenario was set. Every request is counted
(``requests``) and its JSON body and headers recorded (``bodies``, ``headers``).
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

SCENARIOS = (
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
)

DEFAULT_TOKENS = tuple(f"tok{i} " for i in range(6))

CHAT_PATH = "/v1/chat/completions"
DONE = b"data: [DONE]\n\n"
MALFORMED = b"data: {not json\n\n"
MAX_HEAD = 64 * 1024
JOIN_TIMEOUT = 2.0

RATE_LIMIT_BODY = {
    "message": (
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 1s. "
        "Visit https://platform.openai.com/account/rate-limits to learn more."
    ),
    "type": "requests",
    "param": None,
    "code": "rate_limit_exceeded",
}
SERVER_ERROR_BODY = {
    "message": "The server had an error while processing your request. Sorry about that!",
    "type": "server_error",
    "param": None,
    "code": None,
}
UNAVAILABLE_BODY = {
    "message": "The engine is currently overloaded, please try again later.",
    "type": "server_error",
    "param": None,
    "code": None,
}
QUOTA_BODY = {
    "message": (
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors."
    ),
    "type": "insufficient_quota",
    "param": None,
    "code": "insufficient_quota",
}
UNAUTHORIZED_BODY = {
    "message": (
        "Incorrect API key provided: sk-test-****. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    ),
    "type": "invalid_request_error",
    "param": None,
    "code": "invalid_api_key",
}
CONTEXT_LENGTH_BODY = {
    "message": (
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 131072 tokens. Please reduce the length of the messages."
    ),
    "type": "invalid_request_error",
    "param": "messages",
    "code": "context_length_exceeded",
}
# Azure OpenAI's prompt filter (Azure itself sends "type": null; OpenAI's own
# policy refusals carry "invalid_request_error", which classifiers key on).
CONTENT_POLICY_BODY = {
    "message": (
        "The response was filtered due to the prompt triggering Azure OpenAI's content "
        "management policy. Please modify your prompt and retry. To learn more about our "
        "content filtering policies please read our documentation: "
        "https://go.microsoft.com/fwlink/?linkid=2198766"
    ),
    "type": "invalid_request_error",
    "param": "prompt",
    "code": "content_filter",
    "status": 400,
    "innererror": {
        "code": "ResponsibleAIPolicyViolation",
        "content_filter_result": {
            "hate": {"filtered": False, "severity": "safe"},
            "jailbreak": {"filtered": False, "detected": False},
            "self_harm": {"filtered": False, "severity": "safe"},
            "sexual": {"filtered": False, "severity": "safe"},
            "violence": {"filtered": True, "severity": "medium"},
        },
    },
}


class _Dropped(Exception):
    """The server is closing: drop the connection without another byte."""


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class _Call:
    """One chat request as its handler sees it."""

    number: int  # 1-based, over the server's life
    hit: int  # 1-based, since the scenario was set
    healed: bool
    body: dict[str, Any]
    wake: threading.Event  # set by release() and close()

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True


class _Reader:
    """Reads HTTP/1.1 requests (Content-Length bodies) off one connection."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._buffer = b""

    def _fill(self) -> bool:
        data = self._sock.recv(65536)
        self._buffer += data
        return bool(data)

    def read(self) -> _Request | None:
        """The next request, or None when the peer closed the connection."""
        while b"\r\n\r\n" not in self._buffer:
            if len(self._buffer) > MAX_HEAD or not self._fill():
                return None
        head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines:
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self._buffer) < length:
            if not self._fill():
                return None
        body, self._buffer = self._buffer[:length], self._buffer[length:]
        return _Request(method, path, headers, body)


class FakeOpenAI:
    """A fake OpenAI-compatible vendor on a free 127.0.0.1 port (see the module doc).

    Args:
        name: The model name served in answers (tells which vendor answered).
        scenario: The starting scenario, one of ``SCENARIOS``.
        tokens: The answer's content, one streamed chunk per token.
        first_token_delay: Seconds of silence in ``slow_first_token``.
        cut_after: Token chunks sent before ``cut_stream``, ``stall_stream`` and
            ``malformed_chunk`` strike.
        chunk_delay: Seconds between streamed chunks (0: none).
        retry_after: Seconds advertised by 429s (``retry-after``, ``retry-after-ms``);
            None sends neither header.
    """

    def __init__(
        self,
        name: str = "fake-model",
        *,
        scenario: str = "ok",
        tokens: tuple[str, ...] | list[str] = DEFAULT_TOKENS,
        first_token_delay: float = 2.0,
        cut_after: int = 3,
        chunk_delay: float = 0.0,
        retry_after: float | None = 1.0,
    ) -> None:
        self.name = name
        self.tokens = list(tokens)
        self.first_token_delay = first_token_delay
        self.cut_after = cut_after
        self.chunk_delay = chunk_delay
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._scenario = "ok"
        self._hits = 0
        self._healed = False
        self._requests = 0
        self._connections = 0
        self._bodies: list[Any] = []
        self._headers: list[dict[str, str]] = []
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._live: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self.scenario = scenario
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._listener.bind(("127.0.0.1", 0))
            self._listener.listen(64)
        except OSError:
            self._listener.close()
            raise
        self.host, self.port = self._listener.getsockname()[:2]
        self._acceptor = threading.Thread(
            target=self._accept, name=f"fake-openai-{name}", daemon=True
        )
        self._acceptor.start()

    # -- control ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The URL to give the SDK: ``http://127.0.0.1:PORT/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def scenario(self) -> str:
        """What the next requests get; setting it restarts "first request" and unheals."""
        return self._scenario

    @scenario.setter
    def scenario(self, scenario: str) -> None:
        if scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIOS}")
        with self._lock:
            self._scenario = scenario
            self._hits = 0
            self._healed = False

    def set_scenario(self, scenario: str) -> None:
        """Same as assigning ``scenario``."""
        self.scenario = scenario

    def heal(self) -> None:
        """End ``down_then_healthy``'s outage: later requests get the answer."""
        with self._lock:
            self._healed = True

    def release(self) -> None:
        """Wake every held request (``hang``, ``stall_stream``, pending delays) now.

        They carry on with the rest of their answer; requests arriving later are held
        again as their scenario says.
        """
        with self._lock:
            if self._stopping.is_set():
                return
            woken, self._wake = self._wake, threading.Event()
        woken.set()

    @property
    def requests(self) -> int:
        """How many requests arrived (any path, any outcome)."""
        with self._lock:
            return self._requests

    @property
    def connections(self) -> int:
        """How many TCP connections were accepted."""
        with self._lock:
            return self._connections

    @property
    def bodies(self) -> list[Any]:
        """Each request's parsed JSON body, in order of arrival (None if not JSON)."""
        with self._lock:
            return list(self._bodies)

    @property
    def last_body(self) -> Any:
        """The latest request's parsed JSON body (None before any request)."""
        with self._lock:
            return self._bodies[-1] if self._bodies else None

    @property
    def headers(self) -> list[dict[str, str]]:
        """Each request's headers (lower-case names), in order of arrival."""
        with self._lock:
            return [dict(h) for h in self._headers]

    def wait_for_requests(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until ``count`` requests arrived; False if ``timeout`` passed first."""
        with self._arrived:
            return self._arrived.wait_for(lambda: self._requests >= count, timeout)

    def close(self) -> None:
        """Stop: wake held handlers, drop every connection, join the threads."""
        with self._lock:
            if self._stopping.is_set():
                return
            self._stopping.set()
            self._wake.set()  # never replaced from now on: later waits return at once
            for conn in self._live:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
            threads = list(self._threads)
        with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
            pass  # wakes the acceptor's accept()
        self._acceptor.join(JOIN_TIMEOUT)
        self._listener.close()
        for thread in threads:
            thread.join(JOIN_TIMEOUT)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FakeOpenAI({self.name!r}, scenario={self._scenario!r}, port={self.port})"

    # -- connections -----------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._stopping.is_set():
                    conn.close()
                    return
                self._connections += 1
                self._live.add(conn)
                thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(conn)
        try:
            while not self._stopping.is_set():
                request = reader.read()
                if request is None or not self._respond(conn, request):
                    return
        except (OSError, ValueError, _Dropped):
            return  # the client left, the request was garbage, or the server is closing
        finally:
            with self._lock:
                self._live.discard(conn)
            conn.close()

    def _respond(self, conn: socket.socket, request: _Request) -> bool:
        """Answer one request; False to close the connection afterwards."""
        try:
            body = json.loads(request.body) if request.body else None
        except ValueError:
            body = None
        with self._lock:
            self._requests += 1
            self._hits += 1
            self._bodies.append(body)
            self._headers.append(request.headers)
            self._arrived.notify_all()
            scenario = self._scenario
            call = _Call(self._requests, self._hits, self._healed, {}, self._wake)
        if request.method != "POST" or request.path.partition("?")[0] != CHAT_PATH:
            error = {"message": f"Unknown request URL: {request.method} {request.path}."}
            return self._error(conn, call, 404, {**error, "type": "invalid_request_error"})
        if not isinstance(body, dict):
            error = {"message": "We could not parse the JSON body of your request."}
            return self._error(conn, call, 400, {**error, "type": "invalid_request_error"})
        call = _Call(call.number, call.hit, call.healed, body, call.wake)
        handler: Callable[[socket.socket, _Call], bool] = getattr(self, f"_on_{scenario}")
        return handler(conn, call)

    # -- scenarios -------------------------------------------------------------------------

    def _on_ok(self, conn: socket.socket, call: _Call) -> bool:
        if call.stream:
            return self._stream(conn, call, self._events(call))
        return self._json(conn, call, 200, self._completion(call))

    def _on_rate_limited_once(self, conn: socket.socket, call: _Call) -> bool:
        return self._rate_limit(conn, call) if call.hit == 1 else self._on_ok(conn, call)

    def _on_rate_limited(self, conn: socket.socket, call: _Call) -> bool:
        return self._rate_limit(conn, call)

    def _on_error_500_once(self, conn: socket.socket, call: _Call) -> bool:
        if call.hit == 1:
            return self._error(conn, call, 500, SERVER_ERROR_BODY)
        return self._on_ok(conn, call)

    def _on_unavailable(self, conn: socket.socket, call: _Call) -> bool:
        return self._error(conn, call, 503, UNAVAILABLE_BODY)

    def _on_quota_exhausted(self, conn: socket.socket, call: _Call) -> bool:
        return self._error(conn, call, 429, QUOTA_BODY)

    def _on_unauthorized(self, conn: socket.socket, call: _Call) -> bool:
        return self._error(conn, call, 401, UNAUTHORIZED_BODY)

    def _on_flapping(self, conn: socket.socket, call: _Call) -> bool:
        return self._on_unavailable(conn, call) if call.hit % 2 else self._on_ok(conn, call)

    def _on_down_then_healthy(self, conn: socket.socket, call: _Call) -> bool:
        return self._on_ok(conn, call) if call.healed else self._on_unavailable(conn, call)

    def _on_context_length(self, conn: socket.socket, call: _Call) -> bool:
        return self._error(conn, call, 400, CONTEXT_LENGTH_BODY)

    def _on_content_policy(self, conn: socket.socket, call: _Call) -> bool:
        return self._error(conn, call, 400, CONTENT_POLICY_BODY)

    def _on_prefill_rejected(self, conn: socket.socket, call: _Call) -> bool:
        messages = call.body.get("messages") or [{}]
        if messages[-1].get("role") != "assistant":
            return self._on_ok(conn, call)
        last = len(messages) - 1
        error = {
            "message": (
                f"Unsupported value: 'messages[{last}].role' does not support 'assistant' "
                "as the final message with this model."
            ),
            "type": "invalid_request_error",
            "param": f"messages[{last}].role",
            "code": "unsupported_value",
        }
        return self._error(conn, call, 400, error)

    def _on_reset(self, conn: socket.socket, call: _Call) -> bool:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return False  # closing with a zero linger sends an RST

    def _on_hang(self, conn: socket.socket, call: _Call) -> bool:
        self._hold(call, None)
        return self._on_ok(conn, call)

    def _on_slow_first_token(self, conn: socket.socket, call: _Call) -> bool:
        if not call.stream:
            self._hold(call, self.first_token_delay)
            return self._on_ok(conn, call)
        self._stream_head(conn, call)
        self._hold(call, self.first_token_delay)
        return self._stream_body(conn, call, self._events(call))

    def _on_cut_stream(self, conn: socket.socket, call: _Call) -> bool:
        if not call.stream:
            payload = json.dumps(self._completion(call)).encode()
            self._json_head(conn, call, 200, payload[: len(payload) // 2], total=len(payload))
            return False  # closed mid-body
        self._stream_head(conn, call)
        self._stream_body(conn, call, self._events(call)[: self._cut_at()], end=False)
        return False  # closed mid-body: no final chunk, no [DONE]

    def _on_stall_stream(self, conn: socket.socket, call: _Call) -> bool:
        if not call.stream:
            payload = json.dumps(self._completion(call)).encode()
            self._json_head(conn, call, 200, payload[: len(payload) // 2], total=len(payload))
            self._hold(call, None)
            conn.sendall(payload[len(payload) // 2 :])
            return True
        events, cut = self._events(call), self._cut_at()
        self._stream_head(conn, call)
        self._stream_body(conn, call, events[:cut], end=False)
        self._hold(call, None)
        return self._stream_body(conn, call, events[cut:])

    def _on_malformed_chunk(self, conn: socket.socket, call: _Call) -> bool:
        if not call.stream:
            return self._json_head(conn, call, 200, b"{not json")
        events, cut = self._events(call), self._cut_at()
        return self._stream(conn, call, [*events[:cut], MALFORMED, *events[cut:]])

    def _on_no_done(self, conn: socket.socket, call: _Call) -> bool:
        if not call.stream:
            return self._on_ok(conn, call)
        return self._stream(conn, call, self._events(call)[:-1])

    # -- responses -------------------------------------------------------------------------

    def _hold(self, call: _Call, seconds: float | None) -> None:
        """Wait ``seconds`` (None: until woken); raise _Dropped if the server closes."""
        call.wake.wait(seconds)
        if self._stopping.is_set():
            raise _Dropped

    def _cut_at(self) -> int:
        return max(0, min(self.cut_after, len(self.tokens)))

    def _head(self, call: _Call, status: int, headers: dict[str, str]) -> bytes:
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
        headers = {
            **headers,
            "x-request-id": f"req_{self.name}_{call.number}",
            "openai-processing-ms": "1",
        }
        lines.extend(f"{key}: {value}" for key, value in headers.items())
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def _json_head(
        self,
        conn: socket.socket,
        call: _Call,
        status: int,
        payload: bytes,
        *,
        total: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> bool:
        """Send a JSON response; ``total`` announces a longer body than ``payload``."""
        length = len(payload) if total is None else total
        fields = {"content-type": "application/json", "content-length": str(length)}
        conn.sendall(self._head(call, status, {**fields, **(headers or {})}) + payload)
        return True

    def _json(
        self,
        conn: socket.socket,
        call: _Call,
        status: int,
        data: Any,
        headers: dict[str, str] | None = None,
    ) -> bool:
        return self._json_head(conn, call, status, json.dumps(data).encode(), headers=headers)

    def _error(self, conn: socket.socket, call: _Call, status: int, error: dict[str, Any]) -> bool:
        message = str(error["message"]).replace("{model}", self.name)
        return self._json(conn, call, status, {"error": {**error, "message": message}})

    def _rate_limit(self, conn: socket.socket, call: _Call) -> bool:
        headers = {"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": "0"}
        if self.retry_after is not None:
            headers["retry-after"] = str(math.ceil(self.retry_after))
            headers["retry-after-ms"] = str(round(self.retry_after * 1000))
        message = str(RATE_LIMIT_BODY["message"]).replace("{model}", self.name)
        body = {"error": {**RATE_LIMIT_BODY, "message": message}}
        return self._json(conn, call, 429, body, headers)

    def _stream(self, conn: socket.socket, call: _Call, events: list[bytes]) -> bool:
        self._stream_head(conn, call)
        return self._stream_body(conn, call, events)

    def _stream_head(self, conn: socket.socket, call: _Call) -> None:
        headers = {
            "content-type": "text/event-stream; charset=utf-8",
            "transfer-encoding": "chunked",
            "cache-control": "no-cache",
        }
        conn.sendall(self._head(call, 200, headers))

    def _stream_body(
        self, conn: socket.socket, call: _Call, events: list[bytes], *, end: bool = True
    ) -> bool:
        """Send ``events`` as HTTP chunks (``end``: then the last, empty chunk)."""
        for index, event in enumerate(events):
            if index and self.chunk_delay > 0:
                self._hold(call, self.chunk_delay)
            conn.sendall(f"{len(event):x}\r\n".encode() + event + b"\r\n")
        if end:
            conn.sendall(b"0\r\n\r\n")
        return end

    def _usage(self, call: _Call) -> dict[str, int]:
        words = sum(len(str(m.get("content", "")).split()) for m in call.body.get("messages", []))
        return {
            "prompt_tokens": words,
            "completion_tokens": len(self.tokens),
            "total_tokens": words + len(self.tokens),
        }

    def _completion(self, call: _Call) -> dict[str, Any]:
        message = {"role": "assistant", "content": "".join(self.tokens), "refusal": None}
        return {
            "id": f"chatcmpl-{self.name}-{call.number}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.name,
            "choices": [
                {"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}
            ],
            "usage": self._usage(call),
            "system_fingerprint": None,
        }

    def _events(self, call: _Call) -> list[bytes]:
        """Every SSE event of a streamed answer: tokens, finish, [usage], [DONE]."""
        base = {
            "id": f"chatcmpl-{self.name}-{call.number}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.name,
            "system_fingerprint": None,
        }

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return f"data: {json.dumps({**base, 'choices': choices, **extra})}\n\n".encode()

        def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        events = [
            event(
                [choice({"role": "assistant", "content": token} if i == 0 else {"content": token})]
            )
            for i, token in enumerate(self.tokens)
        ]
        events.append(event([choice({}, "stop")]))
        options = call.body.get("stream_options") or {}
        if isinstance(options, dict) and options.get("include_usage"):
            events.append(event([], usage=self._usage(call)))
        events.append(DONE)
        return events
