"""Per-provider concurrency limits: :class:`ConcurrencyLimiter`."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from ._errors import InvalidConfigError

__all__ = ["ConcurrencyLimiter"]


def _check_limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"max_concurrency for {name!r} must be an int >= 1, got {value!r}"
        raise InvalidConfigError(msg)
    return value


class _Waiter:
    """One blocked call: the names it can use and, once granted, the one it got."""

    __slots__ = ("event", "granted", "names")

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names
        self.event = threading.Event()
        self.granted: str | None = None


class ConcurrencyLimiter:
    """Caps the calls in flight per provider; share one between routers to share caps.

    Args:
        limits: an int for every provider, or a mapping ``name -> int`` (providers
            not named are unlimited).

    ``try_acquire`` never blocks; ``acquire_any`` blocks until one of several
    providers has a free slot. Waiters are served in arrival order: a released slot
    is handed straight to the oldest waiter that can use it (no busy-waiting, no
    overtaking by a newcomer). Locks guard counters only, never a provider call.

    .. versionadded:: 0.2.0
    """

    __slots__ = ("_default", "_in_flight", "_limits", "_lock", "_waiters")

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
        self._lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self._waiters: deque[_Waiter] = deque()

    def limit(self, name: str) -> int | None:
        """Return ``name``'s limit, or None when it is unlimited."""
        return self._limits.get(name, self._default)

    def in_flight(self, name: str) -> int:
        """Return how many calls to ``name`` hold a slot now."""
        return self._in_flight.get(name, 0)

    def _take(self, name: str) -> bool:
        limit = self._limits.get(name, self._default)
        count = self._in_flight.get(name, 0)
        if limit is not None and count >= limit:
            return False
        self._in_flight[name] = count + 1
        return True

    def try_acquire(self, name: str) -> bool:
        """Take a slot of ``name`` if one is free (and nobody waits for it); never block."""
        with self._lock:
            if any(name in w.names for w in self._waiters):
                return False
            return self._take(name)

    def acquire_any(
        self,
        names: Sequence[str],
        deadline: float | None = None,
        clock: Callable[[], float] | None = None,
    ) -> str | None:
        """Block until one of ``names`` has a free slot; return it (None at ``deadline``).

        ``deadline`` is on ``clock`` (default ``time.monotonic``); without one, wait
        as long as it takes.
        """
        with self._lock:
            for name in names:
                if not any(name in w.names for w in self._waiters) and self._take(name):
                    return name
            waiter = _Waiter(frozenset(names))
            self._waiters.append(waiter)
        now = clock if clock is not None else time.monotonic
        while True:
            timeout = None if deadline is None else max(0.0, deadline - now())
            if waiter.event.wait(timeout) or (timeout is not None and timeout <= 0.0):
                break
        with self._lock:
            if waiter.granted is None:
                self._waiters.remove(waiter)
        return waiter.granted

    def release(self, name: str) -> None:
        """Give back a slot of ``name``: to the oldest waiter that can use it, if any."""
        with self._lock:
            for waiter in self._waiters:
                if name in waiter.names:
                    self._waiters.remove(waiter)
                    waiter.granted = name
                    waiter.event.set()
                    return
            count = self._in_flight.get(name, 0) - 1
            if count > 0:
                self._in_flight[name] = count
            else:
                self._in_flight.pop(name, None)

    def __repr__(self) -> str:
        limits = self._default if self._default is not None else self._limits
        return f"ConcurrencyLimiter({limits!r}, in_flight={self._in_flight!r})"
