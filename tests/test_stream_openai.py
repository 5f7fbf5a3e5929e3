"""Streaming with the official openai SDK (``stream=True``) against a local HTTP server.

One vendor fails before its first chunk (the router falls back), one breaks the
connection mid-stream (the consumer gets the error, no other vendor is tried).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import openai
import pytest

from fallback_router import InMemoryCooldown, StreamInterrupted, current_attempt, routed

from .conftest import FakeClock, http_server

WORDS = ["Hel", "lo", " world"]


def chunk(text: str) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class Vendors(BaseHTTPRequestHandler):
    """``/down`` answers 503; ``/breaks`` sends two chunks and drops the connection;
    ``/ok`` streams every word and ``[DONE]``."""

    requests: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        vendor = self.path.split("/")[1]
        self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append(vendor)
        if vendor == "down":
            body = json.dumps({"error": {"message": "overloaded", "type": "server_error"}})
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body.encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        words = WORDS[:2] if vendor == "breaks" else WORDS
        for word in words:
            self.send_chunk(chunk(word))
        if vendor == "breaks":
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # mid-body: no final chunk, no [DONE]
            return
        self.send_chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with http_server(Vendors) as url:
        yield url


def client(server: str, vendor: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server}/{vendor}/v1", api_key="test", max_retries=0)


def chat_over(server: str, *vendors: str, clock: FakeClock) -> Any:
    clients = {vendor: client(server, vendor) for vendor in vendors}

    @routed(providers=clients, cooldown=InMemoryCooldown(60, clock=clock))
    def chat(provider: openai.OpenAI, prompt: str) -> Iterator[str]:
        stream = provider.chat.completions.create(
            model="m", messages=[{"role": "user", "content": prompt}], stream=True
        )
        for part in stream:
            info = current_attempt()
            assert info is not None
            yield f"{info.provider}:{part.choices[0].delta.content}"

    return chat


def test_a_vendor_failing_before_its_first_chunk_falls_back(server):
    """A vendor failing before its first chunk (503) falls back and is benched."""
    Vendors.requests.clear()
    chat = chat_over(server, "down", "ok", clock=FakeClock())
    result = chat.route("hi")
    assert list(result.response) == ["ok:Hel", "ok:lo", "ok: world"]
    assert result.provider == "ok"
    assert result.attempt == 2
    failed = result.attempts[0]
    assert failed.provider == "down"
    assert isinstance(failed.error, openai.InternalServerError)
    assert failed.error.status_code == 503
    assert Vendors.requests == ["down", "ok"]
    rows = {row.name: row for row in chat.router.status()}
    assert not rows["down"].available  # a 503 benches the vendor
    assert rows["ok"].successes == 1
    assert list(chat("again")) == ["ok:Hel", "ok:lo", "ok: world"]
    assert Vendors.requests == ["down", "ok", "ok"]  # down skipped while benched


def test_a_vendor_breaking_mid_stream_raises_to_the_consumer(server):
    """A vendor cut mid-stream: StreamInterrupted to the consumer, no fallback, benched."""
    Vendors.requests.clear()
    chat = chat_over(server, "breaks", "ok", clock=FakeClock())
    stream = chat("hi")
    received = [next(stream), next(stream)]
    with pytest.raises(StreamInterrupted) as info:
        next(stream)
    assert isinstance(info.value.__cause__, (httpx.RemoteProtocolError, openai.APIConnectionError))
    assert (info.value.provider, info.value.items) == ("breaks", 2)
    assert received == ["breaks:Hel", "breaks:lo"]
    assert Vendors.requests == ["breaks"]  # the consumer holds part of an answer: no fallback
    rows = {row.name: row for row in chat.router.status()}
    assert rows["breaks"].failures == 1  # recorded as the serving vendor's failure
    assert rows["breaks"].successes == 1  # its first chunk had arrived
    assert not rows["breaks"].available
    assert rows["ok"].successes == rows["ok"].failures == 0
