"""Shared fixtures: a fake clock, freezegun, loguru capture, a real Redis server (and ways
to break it), a local HTTP server, spawned workers.

Stand-in providers, errors and waits live in ``tests/support/helpers.py``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from fallback_router.testing import Script

from .support.helpers import FakeClock
from .support.paths import PATHS, CallPath
from .support.web import Endpoints

SUPPORT = str(Path(__file__).parent / "support")
REQUIRE_REDIS = os.environ.get("FALLBACK_ROUTER_REQUIRE_REDIS") == "1"
#: Set by scripts/lua_mutation.py: its parallel runs load the machine, and a tracker that
#: rightly fails open after the default 0.1 s would turn a slow round trip into a false
#: kill. Trackers built without an op_timeout then wait up to 2 s for the real server.
PATIENT_REDIS = os.environ.get("FALLBACK_ROUTER_PATIENT_REDIS") == "1"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=PATHS)
def path(request: pytest.FixtureRequest) -> Iterator[CallPath]:
    """Every path a call can take: sync happy, sync engine, async (tests/support/paths.py)."""
    chosen = CallPath(request.param)
    yield chosen
    chosen.shutdown()


@pytest.fixture
def frozen() -> Iterator[Any]:
    """Freeze time with freezegun; move it with ``frozen.tick(s)`` or ``move_to``."""
    from freezegun import freeze_time

    with freeze_time("2026-01-01 12:00:00") as frozen_time:
        yield frozen_time


@pytest.fixture(autouse=True)
def _loguru_isolated() -> Iterator[None]:
    """Every test starts with the library's logging disabled, as after import."""
    logger.disable("fallback_router")
    yield
    logger.disable("fallback_router")


@dataclass
class LogCapture:
    records: list[dict[str, Any]] = field(default_factory=list)

    def messages(self, level: str | None = None) -> list[str]:
        return [r["message"] for r in self.records if level is None or r["level"].name == level]

    def find(self, phrase: str) -> list[dict[str, Any]]:
        """Records whose message starts with the stable ``phrase``."""
        return [r for r in self.records if r["message"].startswith(phrase)]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """Enable the library's logging and capture every record in a list sink."""
    capture = LogCapture()
    logger.enable("fallback_router")
    sink_id = logger.add(lambda m: capture.records.append(m.record), level="DEBUG")
    yield capture
    logger.remove(sink_id)
    logger.disable("fallback_router")  # the state after import, for the next test


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event hanging providers wait on; set at teardown so no thread outlives a test."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
def scripts() -> Iterator[Any]:
    """Makes `testing.Script`s; closes them at teardown so no hang outlives a test."""
    made: list[Script] = []

    def make(*steps: Any, **kwargs: Any) -> Script:
        script = Script(*steps, **kwargs)
        made.append(script)
        return script

    yield make
    for script in made:
        script.close()


# -- a real Redis server on 127.0.0.1 ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """A redis-server subprocess on a free loopback port (no persistence)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="fr-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)  # waiting for a server process to boot, not for a cooldown
        msg = f"redis-server did not start on port {self.port}"
        raise RuntimeError(msg)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)


def _redis_binary() -> str | None:
    if os.environ.get("FALLBACK_ROUTER_FAKE_REDIS") == "1":  # exercise the stand-in
        return None
    debian = Path("/usr/bin/redis-server")
    return shutil.which("redis-server") or (str(debian) if debian.exists() else None)


class FakeRedisServer:
    """fakeredis' TCP server in a thread: the stand-in where redis-server is missing."""

    def __init__(self) -> None:
        from fakeredis import TcpFakeServer

        self.port = free_port()
        self.server = TcpFakeServer(("127.0.0.1", self.port), server_type="redis")
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        with self.client() as client:  # warm up the Lua runtime before timed operations
            client.eval("return 1", 0)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def client(self) -> Any:
        import redis

        return redis.Redis.from_url(self.url)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | FakeRedisServer]:
    """A real redis-server on 127.0.0.1 for the session.

    Without the binary, fakeredis' TCP server stands in (so the suite runs on a
    machine with only Python); CI sets FALLBACK_ROUTER_REQUIRE_REDIS=1, where a
    missing redis-server is a failure.
    """
    binary = _redis_binary()
    if binary is None:
        if REQUIRE_REDIS:
            pytest.fail("redis-server is required (FALLBACK_ROUTER_REQUIRE_REDIS=1) but missing")
        # fakeredis runs Lua in-process and is far slower than a real server:
        # give it the patience that real Redis never needs.
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("fallback_router._redis.guard.DEFAULT_OP_TIMEOUT", 5.0)
            fake = FakeRedisServer()
            yield fake
            fake.stop()
        return
    server = RedisServer(binary)
    server.start()
    with pytest.MonkeyPatch.context() as patch:
        if PATIENT_REDIS:
            patch.setattr("fallback_router._redis.guard.DEFAULT_OP_TIMEOUT", 2.0)
        yield server
    server.stop()


@pytest.fixture
def real_redis_binary(redis_server: RedisServer | FakeRedisServer) -> str:
    """The redis-server binary, for tests that need real atomicity or to kill a server."""
    if isinstance(redis_server, FakeRedisServer):
        pytest.skip("needs the real redis-server (fakeredis stands in here)")
    return redis_server.binary


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[Any]:
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


# -- a local HTTP server ----------------------------------------------------------------


@contextlib.contextmanager
def http_server(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free 127.0.0.1 port in a thread; yield the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def proxy(redis_server: Any, real_redis_binary: str) -> Iterator[Any]:
    """A fault-injecting TCP proxy in front of the session's redis-server."""
    from .support.fault_proxy import FaultProxy

    fault = FaultProxy(redis_server.port)
    yield fault
    fault.close()


@pytest.fixture(scope="session")
def web_server() -> Iterator[ThreadingHTTPServer]:
    """``tests/support/web.py``'s endpoints on a free 127.0.0.1 port, for the session."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Endpoints)
    httpd.daemon_threads = True
    httpd.hits = []  # type: ignore[attr-defined]
    httpd.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.release.set()  # type: ignore[attr-defined]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def web(web_server: ThreadingHTTPServer) -> Iterator[str]:
    """The base URL of ``web_server``, its recorded hits cleared; ``/slow`` answers at teardown."""
    web_server.hits.clear()  # type: ignore[attr-defined]
    web_server.release.clear()  # type: ignore[attr-defined]
    yield f"http://127.0.0.1:{web_server.server_address[1]}"
    web_server.release.set()  # type: ignore[attr-defined]


# -- Redis: round trips, dead and hanging servers, workers ---------------------------------


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count requests written to Redis sockets (one per round trip, pipelines included)."""
    from redis.connection import AbstractConnection

    sent = [0]
    original = AbstractConnection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> Any:
        sent[0] += 1
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


@pytest.fixture
def dead_port() -> int:
    """A loopback port nobody listens on."""
    return free_port()


@pytest.fixture
def hanging_port() -> Iterator[int]:
    """A port that accepts connections but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.fixture
def spawn(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A spawn context whose children import tests/support's workers."""
    monkeypatch.syspath_prepend(SUPPORT)
    monkeypatch.setenv("PYTHONPATH", SUPPORT)
    return multiprocessing.get_context("spawn")
