"""Measure fallback_router's per-call overhead against peers, interleaved in one process.

Run: ``python tests/benchmarks/overhead.py`` (not collected by pytest; never timed in
tests; ``pip install -e '.[bench]'`` for the peers). Every row is the median ns per call
over ``BENCH_ROUNDS`` rounds (default 15) of ``CALLS`` calls, the rows of a table
interleaved round by round, and its ratio to a hand-written loop doing the same work:

- sync: the happy path against a lock + dict fallback loop, tenacity, stamina, pybreaker
  and circuitbreaker; each strategy; hooks; time limits (worker threads); the skip and
  failure paths against hand loops that skip and fail the same way;
- async: the happy path against a hand-written async fallback loop, tenacity's
  ``AsyncRetrying``, stamina's async retry and aiobreaker;
- the in-memory rate limiter's check.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import tenacity

from fallback_router import (
    InMemoryRateLimiter,
    LeastBusy,
    LeastLatency,
    RoundRobin,
    Weighted,
    routed,
)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
CALLS = int(os.environ.get("BENCH_CALLS", "20000"))


class Boom(Exception):
    """A provider failure."""


def provider_call(provider: str, x: int) -> int:
    return x


async def provider_async(provider: str, x: int) -> int:
    return x


# -- hand-written peers -------------------------------------------------------------------


def make_hand_loop(
    failing: str = "", benched: str = "", rotate: bool = False
) -> Callable[[int], Any]:
    """A minimal hand-written fallback: a Lock-guarded dict of deadlines.

    ``failing`` raises on every call (its failures counted under the lock, as a router
    counts them); ``benched`` has a deadline an hour ahead (skipped); ``rotate`` starts
    each call at the next provider of a lock-guarded counter.
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
            order = providers[start % 3 :] + providers[: start % 3]
        for name in order:
            with lock:
                deadline = deadlines.get(name)
            if deadline is not None and deadline > time.monotonic() and name != "c":
                continue
            try:
                if name == failing:
                    raise Boom
                return provider_call(name, x)
            except Exception as exc:
                last = exc
                with lock:
                    failures[name] = failures.get(name, 0) + 1
        raise RuntimeError from last

    return call


def make_hand_strategy_loop(kind: str) -> Callable[[int], Any]:  # noqa: C901 - three loops
    """The hand loop with a strategy's first pick, done as simply as by hand.

    ``weighted``: a lock-guarded counter into a precomputed schedule (a, a, b, a, c);
    ``least_busy``: lock-guarded in-flight counts, raised before the call and lowered
    after it, the least busy first; ``least_latency``: a dict of moving averages, the
    fastest first (unsampled ones before), updated under the lock after a success.
    """
    lock = threading.Lock()
    deadlines: dict[str, float] = {}
    providers = ("a", "b", "c")
    schedule = ("a", "a", "b", "a", "c")
    counter = [0]
    busy = dict.fromkeys(providers, 0)
    estimates: dict[str, float] = {}

    def first() -> str:
        if kind == "weighted":
            with lock:
                tick = counter[0]
                counter[0] = tick + 1
            return schedule[tick % len(schedule)]
        if kind == "least_busy":
            with lock:
                return min(providers, key=busy.__getitem__)
        return min(providers, key=lambda name: estimates.get(name, -1.0))

    orders = {pick: (pick, *(name for name in providers if name != pick)) for pick in providers}

    def call(x: int) -> Any:
        order = orders[first()]
        last: Exception | None = None
        for name in order:
            with lock:
                deadline = deadlines.get(name)
            if deadline is not None and deadline > time.monotonic() and name != order[-1]:
                continue
            if kind == "least_busy":
                with lock:
                    busy[name] += 1
            start = time.monotonic()
            try:
                response = provider_call(name, x)
            except Exception as exc:
                last = exc
                continue
            finally:
                if kind == "least_busy":
                    with lock:
                        busy[name] -= 1
            if kind == "least_latency":
                latency = time.monotonic() - start
                with lock:
                    old = estimates.get(name)
                    estimates[name] = latency if old is None else old + 0.3 * (latency - old)
            return response
        raise RuntimeError from last

    return call


def make_hand_loop_same_work(failing: str = "", benched: str = "") -> Callable[[int], Any]:
    """The hand loop doing what a routed call records: skips and failures counted under
    the lock (a failure keeps a copy of its error without traceback, as ``last_error``),
    the attempt told through a context variable, timed, its success and latency counted."""
    import contextvars

    lock = threading.Lock()
    deadlines: dict[str, float] = {}
    stats: dict[str, list[Any]] = {name: [0, 0, 0, None, 0.0] for name in "abc"}
    current: contextvars.ContextVar[str | None] = contextvars.ContextVar("attempt", default=None)
    if benched:
        deadlines[benched] = time.monotonic() + 3600

    def call(x: int) -> Any:
        last: Exception | None = None
        for name in ("a", "b", "c"):
            with lock:
                deadline = deadlines.get(name)
            if deadline is not None and deadline > time.monotonic() and name != "c":
                with lock:
                    stats[name][2] += 1
                continue
            token = current.set(name)
            start = time.monotonic()
            try:
                if name == failing:
                    raise Boom
                response = provider_call(name, x)
            except Exception as exc:
                last = exc
                kept = type(exc).__new__(type(exc), *exc.args)
                with lock:
                    row = stats[name]
                    row[1] += 1
                    row[3] = kept
                    row[4] = time.monotonic() - start
                continue
            finally:
                current.reset(token)
            latency = time.monotonic() - start
            with lock:
                stats[name][0] += 1
                stats[name][4] = latency
            return response
        raise RuntimeError from last

    return call


def make_async_hand_loop() -> Callable[[int], Awaitable[Any]]:
    """The async twin of the hand loop: lock + dict of deadlines, awaiting the provider."""
    lock = threading.Lock()
    deadlines: dict[str, float] = {}
    providers = ("a", "b", "c")

    async def call(x: int) -> Any:
        last: Exception | None = None
        for name in providers:
            with lock:
                deadline = deadlines.get(name)
            if deadline is not None and deadline > time.monotonic() and name != "c":
                continue
            try:
                return await provider_async(name, x)
            except Exception as exc:
                last = exc
        raise RuntimeError from last

    return call


def make_async_hand_loop_same_work() -> Callable[[int], Awaitable[Any]]:
    """The async hand loop doing what a routed call does on its happy path: check the
    cooldowns, tell the provider call its attempt (a context variable), time it, and
    count the success and its latency (under the lock)."""
    import contextvars

    lock = threading.Lock()
    deadlines: dict[str, float] = {}
    counts: dict[str, int] = {}
    latencies: dict[str, float] = {}
    current: contextvars.ContextVar[str | None] = contextvars.ContextVar("attempt", default=None)
    providers = ("a", "b", "c")

    async def call(x: int) -> Any:
        last: Exception | None = None
        for name in providers:
            with lock:
                deadline = deadlines.get(name)
            if deadline is not None and deadline > time.monotonic() and name != "c":
                continue
            token = current.set(name)
            start = time.monotonic()
            try:
                response = await provider_async(name, x)
            except Exception as exc:
                last = exc
                continue
            finally:
                current.reset(token)
            latency = time.monotonic() - start
            with lock:
                counts[name] = counts.get(name, 0) + 1
                latencies[name] = latency
            return response
        raise RuntimeError from last

    return call


def sync_peers() -> dict[str, Callable[[int], Any]]:
    """tenacity always; stamina, pybreaker and circuitbreaker when installed."""
    peers: dict[str, Callable[[int], Any]] = {}

    @tenacity.retry(stop=tenacity.stop_after_attempt(3))
    def with_tenacity(x: int) -> int:
        return provider_call("a", x)

    peers["tenacity @retry(stop_after_attempt(3))"] = with_tenacity
    try:
        import stamina

        @stamina.retry(on=Exception, attempts=3)
        def with_stamina(x: int) -> int:
            return provider_call("a", x)

        peers["stamina @retry(attempts=3)"] = with_stamina
    except ImportError:
        pass
    try:
        import pybreaker

        breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=60)
        peers["pybreaker CircuitBreaker.call"] = lambda x: breaker.call(provider_call, "a", x)
    except ImportError:
        pass
    try:
        from circuitbreaker import circuit

        @circuit(failure_threshold=3, recovery_timeout=60)
        def with_circuitbreaker(x: int) -> int:
            return provider_call("a", x)

        peers["circuitbreaker @circuit"] = with_circuitbreaker
    except ImportError:
        pass
    return peers


def async_peers() -> dict[str, Callable[[int], Awaitable[Any]]]:
    """tenacity AsyncRetrying always; stamina async and aiobreaker when installed."""
    peers: dict[str, Callable[[int], Awaitable[Any]]] = {}

    @tenacity.retry(stop=tenacity.stop_after_attempt(3))
    async def with_tenacity(x: int) -> int:
        return await provider_async("a", x)

    peers["tenacity async @retry (AsyncRetrying)"] = with_tenacity
    try:
        import stamina

        @stamina.retry(on=Exception, attempts=3)
        async def with_stamina(x: int) -> int:
            return await provider_async("a", x)

        peers["stamina async @retry"] = with_stamina
    except ImportError:
        pass
    try:
        import aiobreaker

        breaker = aiobreaker.CircuitBreaker(fail_max=3)

        async def with_aiobreaker(x: int) -> int:
            return await breaker.call_async(provider_async, "a", x)  # type: ignore[no-any-return]

        peers["aiobreaker CircuitBreaker.call_async"] = with_aiobreaker
    except ImportError:
        pass
    return peers


# -- routed cases --------------------------------------------------------------------------


def routed_fn(**options: Any) -> Callable[[int], Any]:
    return routed(providers=["a", "b", "c"], **options)(provider_call)


def routed_failing() -> Callable[[int], Any]:
    """The first provider raises on every call; it is exempt, so never benched."""

    def call(provider: str, x: int) -> int:
        if provider == "a":
            raise Boom
        return x

    return routed(providers=["a", "b", "c"], exempt={"a"})(call)


def routed_benched() -> Callable[[int], Any]:
    """The first provider is in an hour-long cooldown: every call skips it."""

    def call(provider: str, x: int) -> int:
        if provider == "a" and x < 0:
            raise Boom
        return x

    fn = routed(providers=["a", "b", "c"], cooldown=3600)(call)
    try:
        fn(-1)  # benches a
    except Exception:
        pass
    return fn


# -- timing --------------------------------------------------------------------------------


def time_sync(fn: Callable[[int], Any]) -> float:
    start = time.perf_counter_ns()
    for i in range(CALLS):
        fn(i)
    return (time.perf_counter_ns() - start) / CALLS


def time_async(fn: Callable[[int], Awaitable[Any]], loop: asyncio.AbstractEventLoop) -> float:
    async def many() -> None:
        for i in range(CALLS):
            await fn(i)

    start = time.perf_counter_ns()
    loop.run_until_complete(many())
    return (time.perf_counter_ns() - start) / CALLS


def interleaved(cases: dict[str, Callable[[], float]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, measure in cases.items():
            samples[name].append(measure())
    return {name: statistics.median(values) for name, values in samples.items()}


def table(title: str, medians: dict[str, float], baselines: dict[str, str]) -> None:
    """Print `medians` with the ratio of each row to its baseline row."""
    print(f"\n{title}")
    width = max(map(len, medians))
    first = next(iter(medians))
    for name, ns in medians.items():
        base = baselines.get(name, first)
        ratio = ns / medians[base]
        also = f" ({ns / medians[first]:.2f}x {first})" if base != first else ""
        print(f"  {name:<{width}}  {ns:8.0f} ns  {ratio:6.2f}x {base}{also}")


def main() -> None:
    print(f"python {sys.version.split()[0]}, {ROUNDS} rounds x {CALLS} calls, median ns/call")
    hand = "hand loop (lock + dict)"
    sync_cases: dict[str, Callable[[int], Any]] = {
        hand: make_hand_loop(),
        "direct call (no routing)": lambda x: provider_call("a", x),
        **sync_peers(),
        "routed fallback": routed_fn(),
        "routed primary_only": routed_fn(strategy="primary_only"),
        "routed round_robin": routed_fn(strategy="round_robin"),
        "routed RoundRobin(failover=True)": routed_fn(strategy=RoundRobin(failover=True)),
        "routed Weighted({a: 3, b: 1, c: 1})": routed_fn(
            strategy=Weighted({"a": 3, "b": 1, "c": 1})
        ),
        "routed LeastBusy()": routed_fn(strategy=LeastBusy()),
        "routed LeastLatency()": routed_fn(strategy=LeastLatency()),
        "routed fn.route() -> Result": routed_fn().route,  # type: ignore[attr-defined]
        "routed + no-op on_event hook": routed_fn(on_event=lambda event: None),
        "routed + retry= template": routed_fn(
            retry=tenacity.Retrying(stop=tenacity.stop_after_attempt(3))
        ),
        "routed + attempt_timeout=5 (worker thread)": routed_fn(attempt_timeout=5.0),
        "hand loop, rotating (lock-guarded counter)": make_hand_loop(rotate=True),
        "hand loop, weighted schedule": make_hand_strategy_loop("weighted"),
        "hand loop, least busy": make_hand_strategy_loop("least_busy"),
        "hand loop, least latency": make_hand_strategy_loop("least_latency"),
        "hand loop, skips one benched": make_hand_loop(benched="a"),
        "hand loop doing the same work, skips one": make_hand_loop_same_work(benched="a"),
        "routed, skips one in cooldown": routed_benched(),
        "hand loop, first raises, second serves": make_hand_loop(failing="a"),
        "hand loop doing the same work, first raises": make_hand_loop_same_work(failing="a"),
        "routed, first raises, second serves": routed_failing(),
    }
    rotating = "hand loop, rotating (lock-guarded counter)"
    skipping = "hand loop doing the same work, skips one"
    failing = "hand loop doing the same work, first raises"
    baselines = {
        "routed round_robin": rotating,
        "routed RoundRobin(failover=True)": rotating,
        "routed Weighted({a: 3, b: 1, c: 1})": "hand loop, weighted schedule",
        "routed LeastBusy()": "hand loop, least busy",
        "routed LeastLatency()": "hand loop, least latency",
        skipping: "hand loop, skips one benched",
        "routed, skips one in cooldown": skipping,
        failing: "hand loop, first raises, second serves",
        "routed, first raises, second serves": failing,
    }
    medians = interleaved({name: (lambda f=fn: time_sync(f)) for name, fn in sync_cases.items()})
    table("sync (ratio to the hand loop doing the same)", medians, baselines)

    loop = asyncio.new_event_loop()
    async_hand = "async hand loop (lock + dict)"

    async def direct_async(x: int) -> int:
        return await provider_async("a", x)

    async_same = "async hand loop doing the same work"
    async_cases: dict[str, Callable[[int], Awaitable[Any]]] = {
        async_hand: make_async_hand_loop(),
        async_same: make_async_hand_loop_same_work(),
        "direct await (no routing)": direct_async,
        **async_peers(),
        "routed async fallback": routed(providers=["a", "b", "c"])(provider_async),
        "routed async + attempt_timeout=5": routed(providers=["a", "b", "c"], attempt_timeout=5.0)(
            provider_async
        ),
    }
    medians = interleaved(
        {name: (lambda f=fn: time_async(f, loop)) for name, fn in async_cases.items()}
    )
    same = {name: async_same for name in async_cases if name.startswith("routed")}
    table("async (routed rows: ratio to the hand loop doing the same work)", medians, same)
    loop.close()

    limiter = InMemoryRateLimiter({"a": f"{10**12}/s"})
    medians = interleaved(
        {"InMemoryRateLimiter.try_acquire": lambda: time_sync(lambda _: limiter.try_acquire("a"))}
    )
    table("rate limiter check", medians, {})


if __name__ == "__main__":
    main()
