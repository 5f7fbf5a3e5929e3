"""Type-checked by mypy --strict and pyright in CI; never run.

Pins the types of `fallback_router.testing`: a `FakeClock` is a clock for routers and
trackers, a `Script` a provider of any shape. Lines marked ``# type: ignore[...]`` must
fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, assert_type

import httpx

from fallback_router import InMemoryCooldown, Router, routed
from fallback_router.testing import FakeClock, Script, Step, cut, hang, http_error, stall

clock = FakeClock()
reading: Callable[[], float] = clock
assert_type(clock(), float)
router = Router(providers=["a"], clock=clock, cooldown=InMemoryCooldown(5, clock=clock))
clock.advance("1")  # type: ignore[arg-type]

assert_type(http_error(429, retry_after=30), httpx.HTTPStatusError)
assert_type(hang(), Step)
assert_type(cut(["a"], ConnectionError), Step)
assert_type(stall(["a"], 1.0), Step)
script = Script("ok", http_error(503), hang(1, then="late"), name="primary")
assert_type(script.calls, int)
assert_type(script.stream(), Iterator[Any])
assert_type(script.astream(), AsyncIterator[Any])
with Script(hang()) as closing:
    assert_type(closing, Script)


@routed(providers={"a": script})
def ask(provider: Script, prompt: str) -> str:
    answer: str = provider(prompt)
    return answer


assert_type(ask("hi"), str)
