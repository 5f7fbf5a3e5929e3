"""Route real HTTP calls (httpx) across three local stub "providers".

A stub server on 127.0.0.1 plays three vendors:
- /rate-limited answers 429 with Retry-After: 2 on every second request
- /flaky answers 503 every third request
- /healthy always answers 200

The router benches a provider for as long as its Retry-After says, treats the 503
as a reason for the default cooldown, and passes each attempt's remaining time
budget to httpx as its timeout. Runs offline: python examples/http_providers.py
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from fallback_router import current_attempt, http_status, routed

COUNTS: Counter[str] = Counter()


class StubVendors(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        COUNTS[self.path] += 1
        n = COUNTS[self.path]
        if self.path == "/rate-limited" and n % 2 == 0:
            self.answer(429, b"slow down", {"Retry-After": "2"})
        elif self.path == "/flaky" and n % 3 == 0:
            self.answer(503, b"try later")
        else:
            self.answer(200, f"image from {self.path[1:]}".encode())

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


class SimClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StubVendors)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    clock = SimClock()  # simulated seconds, so the cooldowns play out instantly

    with httpx.Client() as client:

        @routed(
            providers={
                "rate-limited": f"{base}/rate-limited",
                "flaky": f"{base}/flaky",
                "healthy": f"{base}/healthy",
            },
            cooldown=5,
            cooldown_on=http_status(429, range(500, 600)),
            timeout=10,
            clock=clock,
        )
        def fetch(url: str) -> str:
            info = current_attempt()
            timeout = info.time_left if info is not None else None
            response = client.get(url, timeout=timeout)
            response.raise_for_status()
            return response.text

        print(f"{'t':>3}  {'served by':<13} {'attempt':>7}  what happened")
        for second in range(12):
            clock.now = float(second)
            result = fetch.route()
            story = "; ".join(
                f"{a.provider}: {a.error.response.status_code}"  # type: ignore[union-attr]
                for a in result.attempts
                if a.error is not None
            )
            if result.skipped:
                story = "; ".join(filter(None, [story, f"skipped {', '.join(result.skipped)}"]))
            print(f"{second:>3}  {result.provider:<13} {result.attempt:>7}  {story or 'ok'}")
        print()
        print(fetch.router.status())
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
