"""Callers: what calling a routed function runs.

By kind (plain, stream, async, async stream) and form (function or method), with
the happy path where the router allows it.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from fallback_router._engine.setup import Setup
from fallback_router._errors import InvalidConfigError

from .async_ import run_async
from .async_direct import async_direct_caller
from .async_stream import lazy_stream_async, route_stream_async
from .loop import warn_on_loop
from .sync import run_call
from .sync_direct import direct_caller
from .sync_stream import lazy_stream, route_stream

__all__ = ["ASYNC", "ASYNC_STREAM", "PLAIN", "STREAM", "kind_of", "make_caller", "unwrapped"]

#: What calling a routed function routes.
PLAIN, STREAM, ASYNC, ASYNC_STREAM = "plain", "stream", "async", "async stream"


def unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` without its `functools.partial` layers (a method is `partial(fn, self)`)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def kind_of(fn: object) -> str:
    """What calling `fn` routes: a plain call, a stream, an async call or an async stream."""
    if not callable(fn):
        msg = f"routed needs a callable, got {fn!r}"
        raise TypeError(msg)
    target = unwrapped(fn)
    if inspect.isasyncgenfunction(target):
        return ASYNC_STREAM
    if inspect.iscoroutinefunction(target):
        return ASYNC
    if inspect.isgeneratorfunction(target):
        return STREAM
    call = getattr(type(target), "__call__", None)  # noqa: B004 - reading the method
    if not inspect.isfunction(target) and inspect.iscoroutinefunction(call):
        return ASYNC
    return PLAIN


def _name_of(fn: Callable[..., Any]) -> str:
    target = unwrapped(fn)
    return str(getattr(target, "__qualname__", None) or repr(target))


def make_caller(  # noqa: PLR0911 - one return per kind of caller
    setup: Setup, direct: bool, fn: Callable[..., Any], want_result: bool, method: bool
) -> Callable[..., Any]:
    """A caller routing `fn`; `method`: called as `caller(instance, *args, **kwargs)`.

    `direct`: the router allows the happy path (fixed providers, nothing around
    the first attempt).
    """
    kind = kind_of(fn)
    function = _name_of(fn)
    if kind in (STREAM, ASYNC_STREAM) and setup.config.accept is not None and not setup.buffer:
        msg = (
            f"accept= cannot judge the stream {function!r} before it is delivered: "
            f"route streams with stream_failover='buffer' (accept= then receives the "
            f"list of the stream's items), or use a router without accept= for them"
        )
        raise InvalidConfigError(msg)
    if method:
        return _method_caller(setup, fn, kind, want_result)
    if kind == STREAM:
        if want_result:
            return functools.partial(_route_stream, setup, fn, function)
        return functools.partial(_lazy_stream, setup, fn, function)
    if kind == ASYNC_STREAM:
        if want_result:
            return _route_stream_async(setup, fn, function)
        return functools.partial(_lazy_stream_async, setup, fn, function)
    if kind == ASYNC:
        if direct:
            return async_direct_caller(setup, fn, want_result, function)
        return _run_async(setup, fn, want_result, function)
    if direct:
        return direct_caller(setup, fn, want_result, function)
    return functools.partial(_run, setup, fn, want_result, function)


def _run(setup: Setup, fn: Any, want_result: bool, function: str, *args: Any, **kwargs: Any) -> Any:
    warn_on_loop(function, setup.warned)
    return run_call(setup, fn, args, kwargs, want_result, function)


def _run_async(setup: Setup, fn: Any, want_result: bool, function: str) -> Callable[..., Any]:
    """A closure, not a partial: its coroutines take the user's function's name."""

    async def call(*args: Any, **kwargs: Any) -> Any:
        return await run_async(setup, fn, args, kwargs, want_result, function)

    return call


def _route_stream(setup: Setup, fn: Any, function: str, *args: Any, **kwargs: Any) -> Any:
    warn_on_loop(function, setup.warned)
    return route_stream(setup, fn, args, kwargs, function)


def _lazy_stream(setup: Setup, fn: Any, function: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
    warn_on_loop(function, setup.warned)
    return lazy_stream(setup, fn, args, kwargs, function)  # a generator: routes at first next()


def _route_stream_async(setup: Setup, fn: Any, function: str) -> Callable[..., Any]:
    """A closure, not a partial: its coroutines take the user's function's name."""

    async def route(*args: Any, **kwargs: Any) -> Any:
        return await route_stream_async(setup, fn, args, kwargs, function)

    return route


async def _lazy_stream_async(
    setup: Setup, fn: Any, function: str, *args: Any, **kwargs: Any
) -> AsyncIterator[Any]:
    # aclosing: `aclose()` on this generator returns after the provider's generator
    # is closed and its slot given back (a bare `async for` would leave that to the GC).
    async with contextlib.aclosing(lazy_stream_async(setup, fn, args, kwargs, function)) as gen:
        async for item in gen:
            yield item


def _method_caller(setup: Setup, fn: Any, kind: str, want_result: bool) -> Callable[..., Any]:
    """A caller for a method: `caller(instance, *args)` routes `fn(instance, provider, *args)`.

    Methods take the general path (the instance is bound per call).
    """
    function = _name_of(fn)
    if kind == ASYNC_STREAM:
        return _async_stream_method(setup, fn, want_result, function)
    if kind == ASYNC:

        async def async_method(instance: object, /, *args: Any, **kwargs: Any) -> Any:
            bound = functools.partial(fn, instance)
            return await run_async(setup, bound, args, kwargs, want_result, function)

        return async_method
    if kind == STREAM:
        return _stream_method(setup, fn, want_result, function)

    def method(instance: object, /, *args: Any, **kwargs: Any) -> Any:
        warn_on_loop(function, setup.warned)
        bound = functools.partial(fn, instance)
        return run_call(setup, bound, args, kwargs, want_result, function)

    return method


def _async_stream_method(
    setup: Setup, fn: Any, want_result: bool, function: str
) -> Callable[..., Any]:
    """A method routing an async stream (`want_result`: the stream's `Result`)."""
    if want_result:

        async def route_async_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
            bound = functools.partial(fn, instance)
            return await route_stream_async(setup, bound, args, kwargs, function)

        return route_async_stream

    async def async_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
        bound = functools.partial(fn, instance)
        stream = lazy_stream_async(setup, bound, args, kwargs, function)
        async with contextlib.aclosing(stream) as gen:  # see _lazy_stream_async
            async for item in gen:
                yield item

    return async_stream


def _stream_method(setup: Setup, fn: Any, want_result: bool, function: str) -> Callable[..., Any]:
    """A method routing a sync stream (`want_result`: the stream's `Result`)."""
    if want_result:

        def route_method_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
            warn_on_loop(function, setup.warned)
            return route_stream(setup, functools.partial(fn, instance), args, kwargs, function)

        return route_method_stream

    def method_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
        warn_on_loop(function, setup.warned)
        yield from lazy_stream(setup, functools.partial(fn, instance), args, kwargs, function)

    return method_stream
