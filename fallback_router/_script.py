"""`Script`: a provider whose successive calls follow scripted steps (sync, async, streams).

Public through `fallback_router.testing`.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

from ._scripted import (
    Cut,
    Hang,
    Stall,
    after,
    check,
    cut_error,
    is_exception,
    no_stream_step,
    raise_step,
    stall_error,
    stream_check,
)

__all__ = ["Script"]


class Script:
    """A provider whose successive calls follow `steps`; the last step repeats.

    Use it as a plain provider (`script(...)`), an async one (`await
    script.acall(...)`) or a stream (`script.stream(...)`, `script.astream(...)`);
    the arguments are accepted and ignored. Each call takes the next step (see the
    [module][fallback_router.testing] for the kinds); a stream call takes its step
    when it is made and acts on it as it is iterated. Safe to call from any number of
    threads and tasks: each call takes a distinct step.

    A hang or stall without `seconds` waits until [`close()`][fallback_router.testing.Script.close];
    close the script when the test ends (a `with` block, or a fixture) so that no
    thread stays blocked in it. The router's worker threads are daemons, so an
    unclosed hang never keeps the process alive.

    Args:
        *steps: at least one step.
        name: the provider's name when the script is put in a list
            (`providers=[Script(..., name="a")]`); in a mapping the key names it.

    Raises:
        TypeError: no steps, or a step that cannot be replayed.

    Example:
        ```python
        from fallback_router.testing import Script, http_error

        vendor = Script(http_error(429, retry_after=30), "ok")
        ```

    Version:
        Added in 0.3.0.
    """

    def __init__(self, *steps: object, name: str | None = None) -> None:
        if not steps:
            msg = "Script() needs at least one step, e.g. Script('ok') or Script(TimeoutError)"
            raise TypeError(msg)
        for index, step in enumerate(steps, 1):
            check(step, f"step {index}")
        self.name = name
        self._steps = steps
        self._calls = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = set()

    @property
    def calls(self) -> int:
        """How many calls the script has had (plain, async and stream calls alike)."""
        return self._calls

    @property
    def closed(self) -> bool:
        """Whether [`close()`][fallback_router.testing.Script.close] was called."""
        return self._closed.is_set()

    def __repr__(self) -> str:
        steps = ", ".join(map(repr, self._steps))
        name = "" if self.name is None else f", name={self.name!r}"
        return f"Script({steps}{name}, calls={self._calls})"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """End every hang and stall of this script, now and later, in threads and tasks.

        A hang that ends this way carries on as when its time is up (`then`, or a
        `TimeoutError`). Calls after `close()` still follow the script.
        """
        with self._lock:
            self._closed.set()
            waiters = list(self._waiters)
            self._waiters.clear()
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing waits
                loop.call_soon_threadsafe(_resolve, future)

    def _next(self) -> Any:
        with self._lock:
            self._calls += 1
            return self._steps[min(self._calls, len(self._steps)) - 1]

    # -- plain and async calls -----------------------------------------------------------

    def __call__(self, *args: object, **kwargs: object) -> Any:  # noqa: ARG002 - any arguments, ignored
        """Take the next step: return its value, raise its error, or block for a hang."""
        step = self._next()
        no_stream_step(step, "a plain call")
        if isinstance(step, Hang):
            self._closed.wait(step.seconds)
            step = after(step)
        return raise_step(step) if is_exception(step) else step

    async def acall(self, *args: object, **kwargs: object) -> Any:  # noqa: ARG002 - any arguments, ignored
        """Take the next step: return its value, raise its error, or sleep for a hang."""
        step = self._next()
        no_stream_step(step, "an async call")
        if isinstance(step, Hang):
            await self._sleep(step.seconds)
            step = after(step)
        return raise_step(step) if is_exception(step) else step

    async def _sleep(self, seconds: float | None) -> None:
        """Sleep `seconds` (None: forever), or until the script is closed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (loop, future)
        with self._lock:
            if self._closed.is_set():
                return
            self._waiters.add(waiter)
        try:
            await asyncio.wait((future,), timeout=seconds)
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    # -- streams -------------------------------------------------------------------------

    def stream(self, *args: object, **kwargs: object) -> Iterator[Any]:  # noqa: ARG002 - any arguments, ignored
        """Take the next step as a stream: an iterator of its items.

        Raises:
            TypeError: the step is a value that is not an iterable of items.
        """
        step = self._next()
        stream_check(step)
        return self._items(step)

    def _items(self, step: Any) -> Iterator[Any]:
        if isinstance(step, Hang):  # its `then` is no hang: checked when it was made
            self._closed.wait(step.seconds)
            step = after(step)
        if is_exception(step):
            raise_step(step)
        yield from step.items if isinstance(step, Cut | Stall) else step
        if isinstance(step, Cut):
            raise_step(cut_error(step))
        if isinstance(step, Stall):
            self._closed.wait(step.seconds)
            raise stall_error(step)

    def astream(self, *args: object, **kwargs: object) -> AsyncIterator[Any]:  # noqa: ARG002 - any arguments, ignored
        """Take the next step as an async stream: an async iterator of its items.

        Raises:
            TypeError: the step is a value that is not an iterable of items.
        """
        step = self._next()
        stream_check(step)
        return self._aitems(step)

    async def _aitems(self, step: Any) -> AsyncIterator[Any]:
        if isinstance(step, Hang):
            await self._sleep(step.seconds)
            step = after(step)
        if is_exception(step):
            raise_step(step)
        for item in step.items if isinstance(step, Cut | Stall) else step:
            yield item
        if isinstance(step, Cut):
            raise_step(cut_error(step))
        if isinstance(step, Stall):
            await self._sleep(step.seconds)
            raise stall_error(step)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # pragma: no branch - done only if someone cancelled it
        future.set_result(None)
