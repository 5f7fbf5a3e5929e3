"""What a sync attempt's response must pass: not an awaitable, and `accept=`."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fallback_router._engine.actions import Outcome
from fallback_router._engine.setup import Setup
from fallback_router._errors import RejectedResponseError

__all__ = ["PLAIN", "check_awaited", "check_not_awaitable", "judge"]

#: Response types that are never awaitable (others are checked on each call).
PLAIN = frozenset({int, str, bytes, float, dict, list, tuple, type(None), bool})


def check_not_awaitable(response: object, fn: Callable[..., Any]) -> None:
    """Refuse a plain `def` whose call returned an awaitable (an async SDK without await)."""
    if inspect.isawaitable(response):
        _refuse(response, fn, ": routed plain functions must return the response; declare "
                "it `async def` and await the provider call")  # fmt: skip


def check_awaited(response: object, fn: Callable[..., Any]) -> None:
    """Refuse an `async def` that returned an awaitable (a missing `await`)."""
    if inspect.isawaitable(response):
        _refuse(response, fn, " instead of the response: await the provider call inside it")


def _refuse(response: object, fn: Callable[..., Any], advice: str) -> None:
    close = getattr(response, "close", None)
    if close is not None:
        close()  # a coroutine never awaited: closed, no "never awaited" warning
    name = getattr(fn, "__qualname__", None) or repr(fn)
    msg = f"{name} returned an awaitable ({type(response).__name__}){advice}"
    raise TypeError(msg)


def judge(setup: Setup, name: str, number: int, outcome: Outcome) -> Outcome:
    """Apply `accept=` to a successful outcome: a rejected response becomes a failure."""
    accept = setup.config.accept
    if accept is None or outcome[1] is not None or accept(outcome[0]):
        return outcome
    setup.recorder.rejected(name, number)
    return Outcome(None, RejectedResponseError(name, outcome.response), outcome.start, outcome.end)
