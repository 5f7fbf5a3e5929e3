"""Real HTTP failures from a server on 127.0.0.1, through httpx, urllib and requests."""

from __future__ import annotations

import email.utils
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import requests

from fallback_router import (
    InMemoryCooldown,
    current_attempt,
    default_cooldown_on,
    http_status,
    retry_after_of,
    routed,
    status_of,
)


class Handler(BaseHTTPRequestHandler):
    """Answers by path: /ok, /status/<code>, /limited/seconds, /limited/date, /slow."""

    hits: list[str]

    def do_GET(self) -> None:
        self.server.hits.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/status/"):
            self.reply(int(self.path.rsplit("/", 1)[1]))
        elif self.path == "/limited/seconds":
            self.reply(429, {"Retry-After": "7"})
        elif self.path == "/limited/date":
            when = email.utils.formatdate(time.time() + 120, usegmt=True)
            self.reply(429, {"Retry-After": when})
        elif self.path == "/limited/garbage":
            self.reply(429, {"Retry-After": "whenever"})
        elif self.path == "/slow":
            time.sleep(1.0)  # the server is slow; the client's timeout is what we test
            self.reply(200)
        else:
            self.reply(200)

    def reply(self, status: int, headers: dict[str, str] | None = None) -> None:
        body = f"{status} {self.path}".encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (the slow endpoint outlived its timeout)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base(server: ThreadingHTTPServer) -> str:
    server.hits.clear()  # type: ignore[attr-defined]
    return f"http://127.0.0.1:{server.server_address[1]}"


def hits(server: ThreadingHTTPServer) -> list[str]:
    return list(server.hits)  # type: ignore[attr-defined]


def httpx_get(url: str, timeout: float | None = 5.0) -> str:
    response = httpx.get(url, timeout=timeout)
    response.raise_for_status()
    return response.text


def urllib_get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except urllib.error.HTTPError as error:
        error.close()  # keeps .code and .headers; frees the socket now
        raise


def requests_get(url: str) -> str:
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return response.text


def endpoints(base: str, **paths: str) -> dict[str, str]:
    return {name: base + path for name, path in paths.items()}


def test_httpx_rate_limit_with_retry_after_seconds(base, server, clock):
    """429 + Retry-After: 7 benches that provider 7 s; a 503 benches for the duration."""
    tracker = InMemoryCooldown(30, clock=clock)
    providers = endpoints(base, limited="/limited/seconds", broken="/status/503", healthy="/ok")
    fn = routed(providers=providers, cooldown=tracker)(httpx_get)
    result = fn.route()
    assert result.provider == "healthy"
    assert hits(server) == ["/limited/seconds", "/status/503", "/ok"]
    assert [type(a.error) for a in result.attempts[:2]] == [httpx.HTTPStatusError] * 2
    assert tracker.remaining("limited") == 7
    assert tracker.remaining("broken") == 30
    server.hits.clear()
    assert fn.route().skipped == ("limited", "broken")
    assert hits(server) == ["/ok"]
    clock.advance(7)
    fn()
    assert hits(server) == ["/ok", "/limited/seconds", "/ok"]


def test_urllib_rate_limit_with_retry_after_http_date(base, server, clock):
    """urllib's HTTPError with an HTTP-date Retry-After benches for about that long."""
    tracker = InMemoryCooldown(30, max_duration=600, clock=clock)
    providers = endpoints(base, limited="/limited/date", healthy="/ok")
    result = routed(providers=providers, cooldown=tracker)(urllib_get).route()
    assert result.provider == "healthy"
    error = result.attempts[0].error
    assert isinstance(error, urllib.error.HTTPError)
    assert status_of(error) == 429
    assert tracker.remaining("limited") == pytest.approx(120, abs=2)


def test_requests_caller_errors_fall_back_without_cooldown(base, server, clock):
    """A 400 moves on but does not bench; a 404 benches (the endpoint is gone)."""
    tracker = InMemoryCooldown(30, clock=clock)
    providers = endpoints(base, picky="/status/400", gone="/status/404", healthy="/ok")
    result = routed(providers=providers, cooldown=tracker)(requests_get).route()
    assert result.provider == "healthy"
    assert [a.counted for a in result.attempts] == [False, True, False]
    assert set(tracker.snapshot()) == {"gone"}
    assert isinstance(result.attempts[0].error, requests.HTTPError)


def test_unparsable_retry_after_uses_the_duration(base, clock, logs):
    """A garbage Retry-After from a real server falls back to the normal duration."""
    tracker = InMemoryCooldown(30, clock=clock)
    providers = endpoints(base, limited="/limited/garbage", healthy="/ok")
    routed(providers=providers, cooldown=tracker)(httpx_get)()
    assert tracker.remaining("limited") == 30
    assert logs.find("unparsable Retry-After")


@pytest.mark.parametrize("get", [httpx_get, urllib_get, requests_get])
@pytest.mark.parametrize(
    ("status", "counts"),
    [(400, False), (401, True), (403, True), (404, True), (408, True), (422, False),
     (429, True), (500, True), (502, True), (503, True), (504, True)],
)  # fmt: skip
def test_default_classification_of_real_client_errors(base, get, status, counts):
    """Each client's real error carries its status and is classified as documented."""
    with pytest.raises(Exception) as info:
        get(f"{base}/status/{status}")
    assert status_of(info.value) == status
    assert default_cooldown_on(info.value) is counts


def test_http_status_predicate_on_real_errors(base):
    """cooldown_on=http_status(429, 503) matches real client errors."""
    predicate = http_status(429, 503)
    for get in (httpx_get, urllib_get, requests_get):
        with pytest.raises(Exception) as info:
            get(f"{base}/status/503")
        assert predicate(info.value)
        with pytest.raises(Exception) as info:
            get(f"{base}/status/500")
        assert not predicate(info.value)


def test_retry_after_read_from_each_client(base):
    """Retry-After is read from httpx, urllib and requests errors alike."""
    for get in (httpx_get, urllib_get, requests_get):
        with pytest.raises(Exception) as info:
            get(f"{base}/limited/seconds")
        assert retry_after_of(info.value) == 7


def test_time_left_sets_the_client_timeout(base, server):
    """A provider passes time_left to httpx, so a slow endpoint cannot eat the budget."""

    def call(url):
        info = current_attempt()
        assert info is not None
        return httpx_get(url, timeout=info.time_left)

    providers = endpoints(base, slow="/slow", healthy="/ok")
    fn = routed(providers=providers, timeout=0.3, cooldown=None)(call)
    with pytest.raises(Exception) as info:
        fn()
    # the slow call used up the budget: the call stops before trying "healthy"
    assert type(info.value).__name__ == "DeadlineExceededError"
    assert isinstance(info.value.__cause__, httpx.TimeoutException)
    assert hits(server) == ["/slow"]
