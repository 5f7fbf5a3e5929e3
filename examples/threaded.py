"""A thread pool of 16 workers routing through one router with a flaky provider.

Everything the router shares across threads (cooldowns, counts, the round-robin
counter) is thread-safe; provider calls run in parallel, never under a lock.
Run: python examples/threaded.py
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from fallback_router import InMemoryCooldown, routed

rng = random.Random(42)
rng_lock = threading.Lock()


class ServiceUnavailableError(Exception):
    status_code = 503


def flip(probability: float) -> bool:
    with rng_lock:
        return rng.random() < probability


@routed(
    providers=["flaky", "steady"],
    # three failures in a row bench "flaky" for 50 ms (real time, kept short here)
    cooldown=InMemoryCooldown(0.05, threshold=3),
)
def answer(provider: str, question: int) -> str:
    time.sleep(0.001)  # simulated network latency
    if provider == "flaky" and flip(0.3):
        raise ServiceUnavailableError(f"{provider} is overloaded")
    return provider


def main() -> None:
    served: Counter[str] = Counter()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for provider in pool.map(answer, range(4000)):
            served[provider] += 1
    print("calls served per provider:", dict(sorted(served.items())))
    print()
    print(answer.router.status())
    status = answer.router.status()
    assert sum(row.successes for row in status) == 4000
    assert status["steady"].successes == served["steady"]


if __name__ == "__main__":
    main()
