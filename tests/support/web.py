"""A local HTTP server that fails on request, and the real clients the tests call it with.

``Endpoints`` answers by path: ``/ok``, ``/status/<code>``, ``/limited/seconds``
(429 + ``Retry-After: 7``), ``/limited/date`` (an HTTP date two minutes ahead),
``/limited/garbage`` and ``/slow`` (answers only when the test ends: ``server.release``,
set by the ``web`` fixture's teardown). The server records every path in ``server.hits``.
"""

from __future__ import annotations

import email.utils
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import requests


class Endpoints(BaseHTTPRequestHandler):
    """Answers by path: /ok, /status/<code>, /limited/seconds, /limited/date, /slow."""

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
            # The server is slow past any client timeout (a handshake, not a length of time:
            # no busy machine makes it answer early); the client's timeout is what we test.
            self.server.release.wait(30)  # type: ignore[attr-defined]
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


def hits(server: ThreadingHTTPServer) -> list[str]:
    """The paths requested since the test began."""
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
    """Providers as ``name -> URL`` on the server at ``base``."""
    return {name: base + path for name, path in paths.items()}
