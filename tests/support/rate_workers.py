"""Worker functions for the cross-process rate-limit tests (imported by spawned children)."""

from __future__ import annotations

import time
from typing import Any

from fallback_router._redis.ratelimit import RedisRateLimiter


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


def token_hammer(
    url: str,
    namespace: str,
    quota: int,
    seconds: float,
    overshoot: int,
    start: Any,
    out: Any,
) -> None:
    """8 threads route calls reserving 100 tokens each on ``gpt`` (``spill`` takes the rest).

    ``gpt`` reports 50 to 100 tokens used (never more than the estimate), except the
    first call of a process given ``overshoot`` > 0, which reports ``100 + overshoot``.
    Puts ``(tokens settled on gpt, calls it served, first, last, local levels)`` on
    ``out``; the local fallback's levels are untouched unless the limiter failed open.
    """
    import random
    import threading

    from fallback_router import routed

    limiter = RedisRateLimiter.from_url(
        url, {"gpt": f"{quota} tokens/h"}, namespace=namespace, op_timeout=2.0
    )
    limiter.wait_time("gpt", 100)  # connect and load the script; takes nothing
    lock = threading.Lock()
    settled = [0, 0]
    extra = [overshoot]

    def provider(name: str) -> int:
        if name == "spill":
            return 0
        with lock:
            used, extra[0] = (100 + extra[0], 0) if extra[0] else (random.randint(50, 100), 0)
            settled[0] += used
            settled[1] += 1
        return used

    fn = routed(
        providers=["gpt", "spill"],
        rate_limits=limiter,
        estimate_tokens=lambda: 100,
        usage_of=lambda used: used,
    )(provider)
    gate = threading.Barrier(8)
    end = [0.0]

    def worker() -> None:
        gate.wait()
        while time.monotonic() < end[0]:
            fn()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    start.wait()
    first = time.monotonic()
    end[0] = first + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    last = time.monotonic()
    local = [level for _, level in limiter.local.levels("gpt")]
    out.put((settled[0], settled[1], first, last, local))
