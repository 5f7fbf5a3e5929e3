"""Every path (DESIGN §11): one behaviour test, run sync on the happy path, sync through
the engine, and async.

The `path` fixture (tests/conftest.py) yields a `CallPath`. A test builds its routed
function with `path.routed(providers, **options)(body)` from a plain sync `body` (a
function, a generator function for a stream, or a `testing.Script`) and calls it with
`fn(...)`, `fn.route(...)` or, for a stream, `fn.items(...)`: the same values come
back and the same errors are raised on every path.

- `"sync happy"`: fixed providers, a sync body: a call the quick path may serve (it
  keeps the one-attempt shortcut and hands anything else to the engine).
- `"sync engine"`: the same providers behind a zero-argument callable, which sends
  every call through the engine's full walk.
- `"async"`: the body as an `async def` (an async generator for a stream; a Script's
  `acall`/`astream`, whose hangs are cancellable sleeps) awaited on one event loop
  kept for the test.

Tests of what only one path has (worker threads, event-loop cancellation) stay
outside the fixture, labelled so in their docstrings.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fallback_router import Result, Router, routed
from fallback_router.testing import Script

PATHS = ("sync happy", "sync engine", "async")


class Routed:
    """A routed function on one path, called the same way whichever path it is."""

    def __init__(self, fn: Any, runner: asyncio.Runner | None) -> None:
        self.fn = fn
        self.runner = runner

    @property
    def router(self) -> Router:
        return self.fn.router  # type: ignore[no-any-return]

    def _run(self, value: Any) -> Any:
        return value if self.runner is None else self.runner.run(value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The response (what `fn(...)` returns, awaited on the async path)."""
        return self._run(self.fn(*args, **kwargs))

    def route(self, *args: Any, **kwargs: Any) -> Result[Any]:
        """The `Result` (`fn.route(...)`, awaited on the async path)."""
        return self._run(self.fn.route(*args, **kwargs))  # type: ignore[no-any-return]

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        """A stream (`fn(...)`: an iterator, or an async iterator on the async path); read
        it with the path's `next`, `collect` and `close`."""
        return self.fn(*args, **kwargs)

    def items(self, *args: Any, **kwargs: Any) -> list[Any]:
        """A stream's items, read to its end (or its error)."""
        if self.runner is None:
            return list(self.fn(*args, **kwargs))
        return self.runner.run(_collect(self.fn(*args, **kwargs)))  # type: ignore[no-any-return]


async def _await(awaitable: Any) -> Any:
    return await awaitable


async def _collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [item async for item in stream]


async def released(gate: Any, limit: float = 30.0) -> bool:
    """Sleep on the loop until the thread event `gate` is set (at most `limit` seconds):
    an async provider's hang that the test ends, and the router may cancel."""
    for _ in range(int(limit * 100)):
        if gate.is_set():
            return True
        await asyncio.sleep(0.01)
    return bool(gate.is_set())


class _Given:
    """An async body given as it is (`CallPath.twin`)."""

    def __init__(self, body: Any) -> None:
        self.body = body


class CallPath:
    """One path a routed call can take; see the module documentation."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.runner = asyncio.Runner() if name == "async" else None

    def __repr__(self) -> str:
        return f"CallPath({self.name!r})"

    @property
    def is_async(self) -> bool:
        return self.runner is not None

    def shutdown(self) -> None:
        """Close the async path's event loop (at the fixture's teardown)."""
        if self.runner is not None:
            self.runner.close()

    def providers(self, providers: Any) -> Any:
        """`providers` as this path passes them (a callable on the engine path)."""
        if self.name == "sync engine" and not callable(providers):
            return lambda: providers
        return providers

    def body(self, body: Any) -> Any:
        """`body` as this path calls it (an async twin on the async path)."""
        if isinstance(body, _Given):
            return body.body
        if not self.is_async:
            return body
        twin = getattr(body, "acall", None)  # a Script, tests/support's hanging()
        if twin is not None:
            return twin
        owner = getattr(body, "__self__", None)
        if isinstance(owner, Script) and getattr(body, "__name__", "") == "stream":
            return owner.astream
        if inspect.isgeneratorfunction(body):

            @functools.wraps(body)
            async def stream(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                items = body(*args, **kwargs)
                try:
                    for item in items:
                        yield item
                finally:  # closed with the async twin, as its own cleanup would be
                    items.close()

            return stream

        @functools.wraps(body)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return body(*args, **kwargs)

        return call

    def twin(self, sync: Any, asynchronous: Any) -> Any:
        """`sync` on the sync paths, `asynchronous` (an async def or async generator
        function, given as it is) on the async path."""
        return _Given(asynchronous) if self.is_async else sync

    def wait_until(self, predicate: Callable[[], object], limit: float = 5.0) -> bool:
        """Poll `predicate` in real time, at most `limit` seconds; on the async path the
        loop runs meanwhile (a cancelled task unwinds there)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if predicate():
                return True
            if self.runner is None:
                time.sleep(0.01)
            else:
                self.runner.run(asyncio.sleep(0.01))
        return bool(predicate())

    def sleep(self, sleep: Callable[[float], object]) -> Any:
        """A `retry=` template's `sleep` for this path: an async twin on the async path
        (a sync sleep there would block the loop; the router awaits `asyncio.sleep`)."""
        if not self.is_async:
            return sleep

        async def asleep(seconds: float) -> None:
            sleep(seconds)

        return asleep

    def routed(self, providers: Any, **options: Any) -> Callable[[Any], Routed]:
        """`routed(providers, **options)` on this path: decorate a sync body."""

        def decorate(body: Any) -> Routed:
            fn = routed(providers=self.providers(providers), **options)(self.body(body))
            return Routed(fn, self.runner)

        return decorate

    def decorate(self, router: Router, body: Any) -> Routed:
        """`@router` on this path's twin of `body` (the router's providers are its own)."""
        return Routed(router(self.body(body)), self.runner)

    def next(self, stream: Any) -> Any:
        """The stream's next item (`StopIteration` / `StopAsyncIteration` at its end)."""
        return next(stream) if self.runner is None else self.runner.run(_await(anext(stream)))

    def collect(self, stream: Any) -> list[Any]:
        """The stream's remaining items."""
        return list(stream) if self.runner is None else self.runner.run(_collect(stream))

    def close(self, stream: Any) -> None:
        """Close the stream as a consumer that stops early does."""
        if self.runner is None:
            stream.close()
        else:
            self.runner.run(_await(stream.aclose()))

    def run(self, value: Any) -> Any:
        """Await `value` on the async path's loop; any other value as it is."""
        return self.runner.run(value) if self.runner is not None else value
