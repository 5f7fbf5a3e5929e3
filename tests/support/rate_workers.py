"""Worker functions for the cross-process rate-limit tests (imported by spawned children)."""

from __future__ import annotations

import time
from typing import Any

from fallback_router._redis_ratelimit import RedisRateLimiter


def hammer(url: str, namespace: str, limit: str, seconds: float, start: Any, out: Any) -> None:
    """Call ``try_acquire("gpt")`` in a loop for ``seconds`` after ``start`` (a Barrier).

    Puts ``(successes, first attempt, after the last attempt, tokens of the local
    fallback)`` on ``out``; ``time.monotonic`` is one system-wide clock, so readings of
    different processes compare. The local fallback's bucket is still full unless the
    limiter failed open.
    """
    limiter = RedisRateLimiter.from_url(url, {"gpt": limit}, namespace=namespace, op_timeout=2.0)
    limiter.wait_time("gpt")  # connect and load the script before the start line; takes nothing
    start.wait()
    taken = 0
    first = time.monotonic()
    end = first + seconds
    while True:
        if limiter.try_acquire("gpt"):
            taken += 1
        last = time.monotonic()
        if last >= end:
            break
    out.put((taken, first, last, limiter.local.tokens("gpt")))
