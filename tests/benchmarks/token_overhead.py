"""What a token quota adds to a successful call: the same router under a request limit
and under a token limit (in memory).

Run: ``nice python tests/benchmarks/token_overhead.py`` (not collected by pytest; never
timed in tests). Rows: a request limit (``RateLimit``); a token limit (``TokenLimit``)
with ``estimate_tokens=`` and ``usage_of=`` (reserve, then settle the real count); both
limits on one provider. Buckets are large enough never to run out. Rounds are
interleaved; each row is the best (and the median) ns per call over ``BENCH_ROUNDS``
rounds (default 300, short ones: a load spike spoils few) of ``BENCH_CALLS`` (500) calls: on a shared machine the best round is the
stable figure. ``BENCH_CLOCK=thread`` times this thread's CPU time instead of
``perf_counter`` (waits for a busy machine's cores excluded).
"""

from __future__ import annotations

import os
import statistics
import time
import timeit
from collections.abc import Callable
from typing import Any

from fallback_router import InMemoryRateLimiter, RateLimit, Router, TokenLimit

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "300"))
CALLS = int(os.environ.get("BENCH_CALLS", "500"))
HUGE = 2**50
#: ``BENCH_CLOCK=thread``: this thread's CPU time (a busy machine's waits excluded).
CLOCK = time.thread_time_ns if os.environ.get("BENCH_CLOCK") == "thread" else time.perf_counter_ns


def complete(client: str, prompt: str) -> Any:
    return 80  # the tokens it "used"


def build(limits: Any, **options: Any) -> Callable[[str], Any]:
    limiter = InMemoryRateLimiter({"a": limits})
    return Router(providers=["a"], rate_limits=limiter, **options)(complete)


def timed(fn: Callable[[str], Any]) -> float:
    start = CLOCK()
    for _ in range(CALLS):
        fn("hi")
    return (CLOCK() - start) / CALLS


def main() -> None:
    settle: dict[str, Any] = {"estimate_tokens": lambda prompt: 100, "usage_of": lambda r: r}
    fns = {
        "request limit": build(RateLimit(HUGE, 1.0)),
        "token limit": build(TokenLimit(HUGE, 1.0), **settle),
        "token limit, no estimate/usage": build(TokenLimit(HUGE, 1.0)),
        "request + token limits": build([RateLimit(HUGE, 1.0), TokenLimit(HUGE, 1.0)], **settle),
    }
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for fn in fns.values():  # warm up
        timed(fn)
    for _ in range(ROUNDS):
        for key, fn in fns.items():
            samples[key].append(timed(fn))
    speed = min(timeit.repeat("sum(range(10))", number=100_000, repeat=9)) / 100_000 * 1e9
    print(f"machine speed: sum(range(10)) takes {speed:.0f} ns (about 150 on a quiet one)")
    base = min(samples["request limit"])
    base_median = statistics.median(samples["request limit"])
    print(f"{'router':34} {'best ns':>9} {'median ns':>10} {'+best':>8} {'+median':>8}")
    for key, values in samples.items():
        best, median = min(values), statistics.median(values)
        print(
            f"{key:34} {best:9.0f} {median:10.0f} {best - base:+8.0f} {median - base_median:+8.0f}"
        )


if __name__ == "__main__":
    main()
