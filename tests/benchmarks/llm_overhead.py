"""What ``**llm.options()`` adds to a successful call: the same router with and without it.

Run: ``python tests/benchmarks/llm_overhead.py`` (not collected by pytest; never timed in
tests). Each pair is the same router (same providers, tracker length and time limits)
built once with the preset's policy and once without it; rounds are interleaved and each
row is the best (and the median) ns per call over ``BENCH_ROUNDS`` rounds (default 15)
of ``BENCH_CALLS`` calls: on a shared machine the best round is the stable figure. The preset classifies errors only when there is one: on the happy
path it adds `usage_of` (one attribute read) and, for buffered streams, `accept=`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

from fallback_router import Router, llm

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "15"))
CALLS = int(os.environ.get("BENCH_CALLS", "20000"))

USAGE = SimpleNamespace(prompt_tokens=3, completion_tokens=5, total_tokens=8)
RESPONSE = SimpleNamespace(choices=[], usage=USAGE, model="m")
CHUNKS = [SimpleNamespace(choices=[SimpleNamespace(index=0, delta=SimpleNamespace(content="hi"), finish_reason="stop")], usage=None)]  # fmt: skip


def complete(client: str, prompt: str) -> Any:
    return RESPONSE


async def acomplete(client: str, prompt: str) -> Any:
    return RESPONSE


def stream(client: str, prompt: str) -> Iterator[str]:
    yield from llm.text(CHUNKS)


def pair(
    limits: dict[str, Any], stream_mode: bool | str = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(plain options, preset options) with the same tracker length and time limits."""
    plain: dict[str, Any] = {"cooldown": 15.0, **limits}
    if stream_mode == "buffer":
        plain["stream_failover"] = "buffer"
    preset = dict(llm.options(stream_mode, **limits))
    return plain, preset


def timed_sync(fn: Callable[[str], Any], consume: bool) -> float:
    start = time.perf_counter_ns()
    if consume:
        for _ in range(CALLS):
            for _item in fn("hi"):
                pass
    else:
        for _ in range(CALLS):
            fn("hi")
    return (time.perf_counter_ns() - start) / CALLS


def timed_async(fn: Callable[[str], Any]) -> float:
    async def run() -> float:
        start = time.perf_counter_ns()
        for _ in range(CALLS):
            await fn("hi")
        return (time.perf_counter_ns() - start) / CALLS

    return asyncio.run(run())


def row(name: str, fns: dict[str, Callable[[], float]]) -> None:
    samples: dict[str, list[float]] = {key: [] for key in fns}
    for _ in range(ROUNDS):
        for key, fn in fns.items():
            samples[key].append(fn())
    best = [min(samples[k]) for k in ("plain", "preset")]
    mid = [statistics.median(samples[k]) for k in ("plain", "preset")]
    print(
        f"{name:<40} {best[0]:>8.0f} {best[1]:>8.0f} {best[1] - best[0]:>+7.0f}"
        f"   {mid[0]:>8.0f} {mid[1]:>8.0f} {mid[1] - mid[0]:>+7.0f}"
    )


def main() -> None:
    providers = {"primary": "a", "backup": "b"}
    none = {"timeout": None, "attempt_timeout": None}
    enforced = {"timeout": 60.0, "attempt_timeout": 20.0}
    print(f"{'ns per successful call (best | median)':<40} {'plain':>8} {'preset':>8} {'diff':>7}")
    for label, limits in (
        ("sync, no time limits", none),
        ("sync, timeout + attempt_timeout", enforced),
    ):
        plain, preset = pair(limits)
        fns = {
            k: Router(providers, **o)(complete) for k, o in (("plain", plain), ("preset", preset))
        }
        row(label, {k: (lambda f=f: timed_sync(f, False)) for k, f in fns.items()})
    for label, limits in (
        ("async, no time limits", none),
        ("async, timeout + attempt_timeout", enforced),
    ):
        plain, preset = pair(limits)
        fns = {
            k: Router(providers, **o)(acomplete) for k, o in (("plain", plain), ("preset", preset))
        }
        row(label, {k: (lambda f=f: timed_async(f)) for k, f in fns.items()})
    for mode in (True, "buffer"):
        limits = {**none, "first_item_timeout": None, "idle_timeout": None}
        plain, preset = pair(limits, mode)
        fns = {k: Router(providers, **o)(stream) for k, o in (("plain", plain), ("preset", preset))}
        row(
            f"sync stream={mode!r}, no time limits",
            {k: (lambda f=f: timed_sync(f, True)) for k, f in fns.items()},
        )


if __name__ == "__main__":
    main()
