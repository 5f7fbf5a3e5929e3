"""examples/web_sse.py served by a real uvicorn on 127.0.0.1 (DESIGN §12): 200 with every
event, 503 with Retry-After when every vendor fails or is benched, an error event after a
cut (never a silently truncated 200), and /health from status().to_dict()."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
uvicorn = pytest.importorskip("uvicorn")

# Starts a server in a thread: left out of mutation runs, as the other examples.
pytestmark = pytest.mark.processes

SECRET = "sk-proj-S3cr3tKeyValue123"


def _example():
    path = Path(__file__).resolve().parent.parent / "examples" / "web_sse.py"
    spec = importlib.util.spec_from_file_location("web_sse_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


web = _example()


class _Errors(logging.Handler):
    """Keeps the server's error records (an ASGI traceback would land here)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def serve(app) -> Iterator[str]:
    """Run `app` on a real uvicorn in a thread, on a free port; yield its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    errors = _Errors()
    logging.getLogger("uvicorn.error").addHandler(errors)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(timeout=30) as probe:
            for _ in range(600):  # until the server accepts connections (at most ~30 s)
                if server.started:
                    break
                with contextlib.suppress(httpx.TransportError):
                    probe.get(f"http://127.0.0.1:{port}/health")
                threading.Event().wait(0.05)
        assert server.started
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        logging.getLogger("uvicorn.error").removeHandler(errors)
    assert [r.getMessage() for r in errors.records] == []


def events(url: str, **params: str) -> tuple[httpx.Response, list[tuple[str, object]]]:
    """GET an SSE endpoint to its end: the response and its (event, data) pairs."""
    found: list[tuple[str, object]] = []
    with httpx.Client(timeout=30) as client, client.stream("GET", url, params=params) as reply:
        reply.read()  # to the stream's end; a dropped connection would raise here
    kind = "message"
    for line in reply.text.splitlines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: "):
            found.append((kind, json.loads(line.removeprefix("data: "))))
            kind = "message"
    return reply, found


async def rate_limited(prompt: str):
    raise RuntimeError(f"429 Too Many Requests (key={SECRET})")
    yield prompt  # pragma: no cover


async def answers(prompt: str):
    for word in ("Hello", "from", prompt):
        yield word


async def cut(prompt: str):
    yield "Hel"
    raise ConnectionError("connection reset by vendor")


def test_a_stream_arrives_whole_with_200_and_ends_with_done():
    """The rate-limited vendor is passed over before the response starts."""
    with serve(web.make_app({"limited": rate_limited, "steady": answers})) as base:
        reply, got = events(f"{base}/complete", prompt="web")
        assert reply.status_code == 200
        assert reply.headers["x-provider"] == "steady"
        assert reply.headers["content-type"].startswith("text/event-stream")
        assert got == [
            ("message", "Hello"),
            ("message", "from"),
            ("message", "web"),
            ("done", {"provider": "steady"}),
        ]
        health = httpx.get(f"{base}/health", timeout=30)
    assert health.status_code == 200
    body = health.json()
    assert (body["available"], body["total"], body["retry_after"]) == (1, 2, None)
    limited, steady = body["providers"]
    assert (limited["name"], limited["available"], limited["failures"]) == ("limited", False, 1)
    assert limited["last_error"].startswith("RuntimeError: 429 Too Many Requests")
    assert SECRET not in health.text
    assert (steady["name"], steady["successes"], steady["last_error"]) == ("steady", 1, None)


def test_every_vendor_failing_or_benched_answers_503_with_retry_after():
    """No 200 that drops: a 503 saying when to come back; again while all are benched."""
    app = web.make_app({"a": rate_limited, "b": rate_limited}, cooldown=30)
    with serve(app) as base:
        first, _ = events(f"{base}/complete", prompt="x")
        second, _ = events(f"{base}/complete", prompt="x")  # both benched now
        health = httpx.get(f"{base}/health", timeout=30)
    for reply in (first, second):
        assert reply.status_code == 503
        assert reply.headers["retry-after"] == "30"
        assert reply.json() == {"error": "no vendor available", "retry_after": 30}
    assert health.status_code == 503
    assert health.json()["available"] == 0
    assert 0 < health.json()["retry_after"] <= 30


def test_a_cut_stream_ends_with_an_error_event_not_a_silent_200():
    """After its first token the vendor breaks: the client gets an error event, no done."""
    with serve(web.make_app({"cut": cut, "steady": answers})) as base:
        reply, got = events(f"{base}/complete", prompt="x")
    assert reply.status_code == 200
    assert got == [
        ("message", "Hel"),
        ("error", {"error": "stream interrupted", "items": 1}),
    ]
