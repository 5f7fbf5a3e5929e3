"""The Redis-backed tracker's cost per routed call, side by side with the in-memory one.

Run: ``python tests/benchmarks/redis_overhead.py`` (needs ``redis-server``; starts one on
a free 127.0.0.1 port; not collected by pytest). Prints the median ns per call of the
fallback happy path with an ``InMemoryCooldown`` and with a ``RedisCooldown`` (whose
calls read the process-local mirror, refreshed from Redis every ``refresh`` seconds),
interleaved in one run, then for each the per-call time of 8 threads calling together
against one thread (the GIL serializes Python work, so the in-memory row is the floor).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fallback_router import InMemoryCooldown, RedisCooldown, routed
from tests.conftest import RedisServer

ROUNDS = 15
CALLS = 20_000


def provider_call(provider: str, x: int) -> int:
    return x


def fallback(cooldown: Any) -> Callable[[int], int]:
    @routed(providers=["a", "b", "c"], cooldown=cooldown)
    def call(provider: str, x: int) -> int:
        return provider_call(provider, x)

    return call


def time_per_call(fn: Callable[[int], int], calls: int = CALLS) -> float:
    start = time.perf_counter_ns()
    for i in range(calls):
        fn(i)
    return (time.perf_counter_ns() - start) / calls


def threads_per_call(fn: Callable[[int], int], threads: int, calls: int) -> float:
    """ns per call when ``threads`` threads make ``calls`` calls each at once."""
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        barrier.wait()
        for i in range(calls):
            fn(i)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    barrier.wait()
    start = time.perf_counter_ns()
    for t in pool:
        t.join()
    return (time.perf_counter_ns() - start) / (threads * calls)


def main() -> None:
    server = RedisServer("redis-server")
    server.start()
    try:
        cases = {
            "fallback, InMemoryCooldown": fallback(InMemoryCooldown(60)),
            "fallback, RedisCooldown (mirror, refresh=0.1 s)": fallback(
                RedisCooldown(server.client(), duration=60)
            ),
        }
        samples: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(ROUNDS):
            for name, fn in cases.items():
                samples[name].append(time_per_call(fn))
        medians = {name: statistics.median(v) for name, v in samples.items()}
        base = medians["fallback, InMemoryCooldown"]
        print(f"python {sys.version.split()[0]}, {ROUNDS} rounds x {CALLS} calls, median ns/call")
        for name, ns in medians.items():
            print(f"  {name:<48} {ns:8.0f} ns  {ns / base:5.2f}x in-memory")
        for name, fn in cases.items():
            one = statistics.median(threads_per_call(fn, 1, 80_000) for _ in range(7))
            eight = statistics.median(threads_per_call(fn, 8, 10_000) for _ in range(7))
            print(
                f"{name}, per call: 1 thread {one:.0f} ns, 8 threads together {eight:.0f} ns "
                f"({eight / one:.2f}x)"
            )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
