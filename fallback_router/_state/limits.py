"""Per-provider concurrency limits: `ConcurrencyLimiter`."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import cast

from fallback_router._errors import InvalidConfigError
from fallback_router._lease import SATURATED, Refusal, Returned

from .serial import Serial

__all__ = ["ConcurrencyLimiter"]


def _check_limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"max_concurrency for {name!r} must be an int >= 1, got {value!r}"
        raise InvalidConfigError(msg)
    return value


class _Waiter:
    """One blocked call: the names it can use, how to wake it and what it got."""

    __slots__ = ("granted", "names", "wake")

    def __init__(self, names: frozenset[str], wake: Callable[[], None]) -> None:
        self.names = names
        self.wake = wake
        self.granted: str | None = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ConcurrencyLimiter:
    """Caps the calls in flight per provider; share one between routers to share caps.

    Args:
        limits: an int for every provider, or a mapping `name -> int` (providers
            not named are unlimited).

    `try_acquire` never blocks; `acquire_any` blocks (and `acquire_any_async`
    awaits) until one of several providers has a free slot. Waiters are served in
    arrival order, threads and tasks alike: a released slot is handed straight to
    the oldest waiter that can use it (no busy-waiting, no overtaking by a
    newcomer). Locks guard counters only, never a provider call, and a task
    never awaits while holding one. A waiter interrupted (`KeyboardInterrupt`,
    task cancellation) leaves the queue, and gives back a slot handed to it in
    the meantime.

    Version:
        Added in 0.2.0. Changed in 0.3.0: async waiters; interrupted waiters give
        their slot back.
    """

    __slots__ = ("_default", "_in_flight", "_limits", "_serial", "_waiters")

    #: Its methods never wait on the network.
    blocking = False

    def __init__(self, limits: int | Mapping[str, int]) -> None:
        if isinstance(limits, Mapping):
            checked: dict[str, int] = {}
            for name, value in cast("Mapping[object, object]", limits).items():
                if not isinstance(name, str):
                    msg = f"max_concurrency keys must be provider names, got {name!r}"
                    raise InvalidConfigError(msg)
                checked[name] = _check_limit(name, value)
            self._limits: dict[str, int] = checked
            self._default: int | None = None
        else:
            self._limits = {}
            self._default = _check_limit("every provider", limits)
        self._in_flight: dict[str, int] = {}
        self._waiters: deque[_Waiter] = deque()
        # The lock; a release never waits for it (garbage collection can run a finalizer
        # anywhere, also inside this thread's own locked section): it is queued instead.
        self._serial: Serial[str] = Serial(self._give)

    def limit(self, name: str) -> int | None:
        """Return `name`'s limit, or None when it is unlimited."""
        return self._limits.get(name, self._default)

    def in_flight(self, name: str) -> int:
        """Return how many calls to `name` hold a slot now."""
        if self._serial.pending:
            with self._locked():
                pass
        return self._in_flight.get(name, 0)

    def _take(self, name: str) -> bool:
        limit = self._limits.get(name, self._default)
        count = self._in_flight.get(name, 0)
        if limit is not None and count >= limit:
            return False
        self._in_flight[name] = count + 1
        return True

    def _free(self, name: str) -> bool:
        """A slot of `name` is free and nobody waits for it (under the lock)."""
        return not any(name in w.names for w in self._waiters) and self._take(name)

    def try_acquire(self, name: str) -> bool:
        """Take a slot of `name` if one is free (and nobody waits for it); never block."""
        with self._locked():
            return self._free(name)

    def take(self, name: str) -> Returned | Refusal | None:
        """The gate: a slot of `name` as a lease (held until the attempt ends), or why not."""
        if self.try_acquire(name):
            return Returned(self.release, name, True)
        return Refusal(SATURATED, 0.0)

    def _enqueue(self, names: Sequence[str], wake: Callable[[], None]) -> str | _Waiter:
        with self._locked():
            for name in names:
                if self._free(name):
                    return name
            waiter = _Waiter(frozenset(names), wake)
            self._waiters.append(waiter)
            return waiter

    def _leave(self, waiter: _Waiter) -> str | None:
        """Stop waiting: the slot handed over meanwhile, or None (then out of the queue)."""
        with self._locked():
            if waiter.granted is None:
                self._waiters.remove(waiter)
            return waiter.granted

    def acquire_any(
        self,
        names: Sequence[str],
        deadline: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> str | None:
        """Block until one of `names` has a free slot; return it (None at `deadline`).

        `deadline` is on `clock` (default `time.monotonic`); the wait itself is
        measured once, in real time, so a frozen or stepped clock cannot stretch
        it. Without a deadline, wait as long as it takes.
        """
        event = threading.Event()
        got = self._enqueue(names, event.set)
        if isinstance(got, str):
            return got
        now = clock if clock is not None else time.monotonic
        timeout = None if deadline is None else max(0.0, deadline - now())
        if timeout is not None and timeout > threading.TIMEOUT_MAX:
            timeout = threading.TIMEOUT_MAX  # wakes early, never overflows
        try:
            event.wait(timeout)
        except BaseException:
            granted = self._leave(got)
            if granted is not None:
                self.release(granted)
            raise
        return self._leave(got)

    async def acquire_any_async(
        self,
        names: Sequence[str],
        deadline: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> str | None:
        """Await a free slot of one of `names` (as `acquire_any`, without blocking the loop).

        Cancelling the awaiting task leaves the queue at once and gives back a
        slot handed over meanwhile.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(_resolve, future)

        got = self._enqueue(names, wake)
        if isinstance(got, str):
            return got
        now = clock if clock is not None else time.monotonic
        timeout = None if deadline is None else max(0.0, deadline - now())
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            pass  # the deadline: whatever was handed over meanwhile is below
        except BaseException:
            granted = self._leave(got)
            if granted is not None:
                self.release(granted)
            raise
        return self._leave(got)

    def force_acquire(self, name: str) -> None:
        """Count a slot of `name` as taken even past its limit (an abandoned call)."""
        with self._locked():
            self._in_flight[name] = self._in_flight.get(name, 0) + 1

    def release(self, name: str) -> None:
        """Give back a slot of `name`: to the oldest waiter that can use it, if any.

        Never waits for the limiter's lock, so it is safe from a finalizer that
        runs while any thread, this one included, holds it (garbage collection):
        the release is queued, and applied by whoever holds the lock before it is
        let go.
        """
        self._serial.submit(name)

    def release_later(self, name: str) -> None:
        """Give back a slot from a finalizer (kept for callers of 0.2; same as `release`)."""
        self.release(name)

    @contextlib.contextmanager
    def _locked(self) -> Generator[None]:
        """The lock, with queued releases applied before and after."""
        serial = self._serial
        serial.hold()
        try:
            yield
        finally:
            serial.let_go()

    def _give(self, name: str) -> None:
        for waiter in self._waiters:
            if name in waiter.names:
                self._waiters.remove(waiter)
                waiter.granted = name
                waiter.wake()
                return
        count = self._in_flight.get(name, 0) - 1
        if count > 0:
            self._in_flight[name] = count
        else:
            self._in_flight.pop(name, None)

    def __repr__(self) -> str:
        limits = self._default if self._default is not None else self._limits
        return f"ConcurrencyLimiter({limits!r}, in_flight={self._in_flight!r})"
