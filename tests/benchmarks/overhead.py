"""Measure fallback_router's per-call overhead against peers, interleaved in one process.

Run: ``python tests/benchmarks/overhead.py`` (not collected by pytest; never timed in
tests). Prints ns per call (median of rounds) and ratios against the hand-written
fallback loop, then the thread-parallelism check. Numbers go to the README.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import tenacity

from fallback_router import Router, routed

ROUNDS = int(__import__("os").environ.get("BENCH_ROUNDS", "15"))
CALLS = 20_000


class Boom(Exception):
    """A provider failure."""


def provider_call(provider: str, x: int) -> int:
    return x


# -- peers ---------------------------------------------------------------------------


def direct(x: int) -> int:
    return provider_call("a", x)


def make_hand_loop(
    failing: str = "", benched: str = "", rotate: bool = False, result: bool = False
) -> Callable[[int], Any]:
    """A minimal hand-written fallback: a Lock-guarded dict of deadlines.

    ``failing`` names a provider that raises on every call (its failures are
    counted under the lock, as a router counts them); ``benched`` one whose
    deadline lies an hour ahead (skipped); ``rotate`` starts each call at the next
    provider of a lock-guarded counter (round-robin); ``result`` returns a small
    record of who served the call instead of the bare response.
    """
    lock = threading.Lock()
    deadlines: dict[str, float] = {}
    failures: dict[str, int] = {}
    providers = ("a", "b", "c")
    counter = [0]
    if benched:
        deadlines[benched] = time.monotonic() + 3600

    def call(x: int) -> Any:
        last: Exception | None = None
        order = providers
        if rotate:
            with lock:
                start = counter[0]
                counter[0] = start + 1
            order = (providers[start % 3],)
        for name in order:
            with lock:
                deadline = deadlines.get(name)
            if deadline is not None and deadline > time.monotonic() and name != "c":
                continue
            try:
                if name == failing:
                    raise Boom
                response = provider_call(name, x)
            except Exception as exc:
                last = exc
                with lock:
                    failures[name] = failures.get(name, 0) + 1
                continue
            return (name, response) if result else response
        raise RuntimeError from last

    return call


@tenacity.retry(stop=tenacity.stop_after_attempt(3))
def with_tenacity(x: int) -> int:
    return provider_call("a", x)


def optional_peers() -> dict[str, Callable[[int], int]]:
    """pybreaker and stamina, when installed (pip install -e '.[bench]')."""
    peers: dict[str, Callable[[int], int]] = {}
    try:
        import pybreaker
    except ImportError:
        pass
    else:
        breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=60)

        def with_pybreaker(x: int) -> int:
            return breaker.call(provider_call, "a", x)  # type: ignore[no-any-return]

        peers["pybreaker CircuitBreaker.call"] = with_pybreaker
    try:
        import stamina
    except ImportError:
        pass
    else:

        @stamina.retry(on=Exception, attempts=3)
        def with_stamina(x: int) -> int:
            return provider_call("a", x)

        peers["stamina @retry(attempts=3)"] = with_stamina
    return peers


def routed_fn(strategy: str, **options: Any) -> Callable[[int], int]:
    @routed(providers=["a", "b", "c"], strategy=strategy, **options)
    def call(provider: str, x: int) -> int:
        return provider_call(provider, x)

    return call


def routed_failing(**options: Any) -> Callable[[int], int]:
    """The first provider raises on every call; it is exempt, so never benched."""

    @routed(providers=["a", "b", "c"], exempt={"a"}, **options)
    def call(provider: str, x: int) -> int:
        if provider == "a":
            raise Boom
        return provider_call(provider, x)

    return call


def routed_benched() -> Callable[[int], int]:
    """The first provider is in an hour-long cooldown: every call skips it."""

    @routed(providers=["a", "b", "c"], cooldown=3600)
    def call(provider: str, x: int) -> int:
        if provider == "a" and x < 0:
            raise Boom
        return provider_call(provider, x)

    with contextlib.suppress(Exception):
        call(-1)  # benches a
    return call


def time_per_call(fn: Callable[[int], Any]) -> float:
    start = time.perf_counter_ns()
    for i in range(CALLS):
        fn(i)
    return (time.perf_counter_ns() - start) / CALLS


def interleaved(cases: dict[str, Callable[[int], Any]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, fn in cases.items():
            samples[name].append(time_per_call(fn))
    return {name: statistics.median(values) for name, values in samples.items()}


def threads_check() -> tuple[float, float]:
    """Return (one thread, 8 threads) seconds for 8 x 10 calls to a 10 ms provider."""
    router = Router(["slow-a", "slow-b"], strategy="fallback")

    @router
    def slow(provider: str) -> str:
        time.sleep(0.01)
        return provider

    per_thread = 10
    start = time.perf_counter()
    for _ in range(per_thread):
        slow()
    one = time.perf_counter() - start
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: [slow() for _ in range(per_thread)], range(8)))
    eight = time.perf_counter() - start
    return one, eight


def main() -> None:
    routed_rr = routed_fn("round_robin")
    cases: dict[str, Callable[[int], Any]] = {
        "direct call": direct,
        "hand-written fallback loop": make_hand_loop(),
        "tenacity @retry(stop_after_attempt(3))": with_tenacity,
        **optional_peers(),
        "routed primary_only": routed_fn("primary_only"),
        "routed fallback": routed_fn("fallback"),
        "routed fallback + retry= template": routed_fn(
            "fallback", retry=tenacity.Retrying(stop=tenacity.stop_after_attempt(3))
        ),
        "routed fallback + on_event hook set": routed_fn("fallback", on_event=lambda e: None),
        "hand loop, round-robin": make_hand_loop(rotate=True),
        "routed round_robin": routed_rr,
        "hand loop returning (provider, response)": make_hand_loop(result=True),
        "routed fn.route() -> Result": routed_fn("fallback").route,  # type: ignore[attr-defined]
        "hand loop, skips one benched": make_hand_loop(benched="a"),
        "routed, skips one in cooldown": routed_benched(),
        "hand loop, first raises, second serves": make_hand_loop(failing="a"),
        "routed, first raises, second serves": routed_failing(),
    }
    medians = interleaved(cases)
    hand = medians["hand-written fallback loop"]
    print(f"python {sys.version.split()[0]}, {ROUNDS} rounds x {CALLS} calls, median ns/call")
    width = max(map(len, medians))
    for name, ns in medians.items():
        print(f"  {name:<{width}}  {ns:9.0f} ns   {ns / hand:6.2f}x hand loop")
    one, eight = threads_check()
    print(
        f"8 threads x 10 calls to a 10 ms provider: {eight:.3f} s; one thread's share "
        f"(10 calls): {one:.3f} s; ratio {eight / one:.2f}"
    )


if __name__ == "__main__":
    main()
