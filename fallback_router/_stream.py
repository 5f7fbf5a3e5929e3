"""Routing a stream: fall back until a provider yields its first item, then relay.

A decorated generator function routes a stream. Providers are tried as for a
plain call until one produces its first item (or finishes empty); that provider
then serves the whole stream. An error after the first item reaches the consumer
and is recorded as that provider's failure; no other provider is tried, since the
consumer already holds part of the answer. ``current_attempt()`` works inside the
provider's generator at every step; the time budget covers the time to the first
item; closing the consumer's iterator closes the provider's generator. The
provider's concurrency slot is held until the stream ends or is closed; its
half-open probe (if any) is decided by the first item.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from ._call import RoutedCall
from ._results import CURRENT, AttemptState, Result

if TYPE_CHECKING:
    from ._router import Router

__all__ = ["route_stream"]

_EMPTY = object()


def _open(gen_fn: Callable[[], Iterator[Any]]) -> tuple[Iterator[Any], Any]:
    """Start a provider's stream: return it and its first item (``_EMPTY`` if none)."""
    gen = gen_fn()
    try:
        return gen, next(gen)
    except StopIteration:
        return gen, _EMPTY


def route_stream(
    router: Router, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Result[Iterator[Any]]:
    """Route a stream; its :class:`Result` carries the iterator as ``response``.

    ``latency`` is the time to the first item. Raises like a plain routed call
    when no provider produces a first item.
    """
    call = RoutedCall(router, fn, None)
    objects = call.objects
    while (candidate := call.next()) is not None:
        index, forced, probe = candidate
        opener = functools.partial(_open, functools.partial(fn, objects[index], *args, **kwargs))
        outcome = call.attempt(index, forced, probe, opener, keep_slot=True)
        if outcome is not None:
            gen, first = outcome[0]
            state = call.state(index, len(call.failures) + 1)
            relay = _relay(call, index, gen, first, state)
            return call.result(relay, index, outcome[3] - outcome[2])
    raise call.error()


def _relay(
    call: RoutedCall, index: int, gen: Iterator[Any], first: Any, state: AttemptState
) -> Generator[Any, None, None]:
    """Yield the serving provider's items, each produced under its attempt's context."""
    router = call.router
    try:
        if first is _EMPTY:
            return
        yield first
        while True:
            token = CURRENT.set(state)
            start = call.clock()
            try:
                item = next(gen)
            except StopIteration:
                return
            except Exception as exc:
                end = call.clock()
                router.recorder.failed(
                    state[0], state[1], len(call.names), state[2], exc, end - start, end,
                    call.function,
                )  # fmt: skip
                raise
            finally:
                CURRENT.reset(token)
            yield item
    finally:
        close = getattr(gen, "close", None)
        if close is not None:
            token = CURRENT.set(state)
            try:
                close()
            finally:
                CURRENT.reset(token)
        call.release(index, False)
