"""A lock whose updates can be queued by code that must never wait for it (finalizers).

Garbage collection runs finalizers (a dropped stream's cleanup) at any allocation,
also inside a section that this very thread holds a lock for; a finalizer that
waited for that lock would wait forever. `Serial.submit` never waits: the update
is queued, then applied at once if the lock is free, else by the holder before it
lets go.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Serial"]

T = TypeVar("T")


class Serial(Generic[T]):
    """Serialises `apply(update)` calls and the sections run under `hold()`/`let_go()`."""

    __slots__ = ("_apply", "_lock", "pending")

    def __init__(self, apply: Callable[[T], None]) -> None:
        self._apply = apply
        self._lock = threading.Lock()
        #: Updates queued and not yet applied.
        self.pending: deque[T] = deque()

    def submit(self, update: T) -> None:
        """Apply `update` under the lock, now or as soon as its holder lets go; never waits."""
        self.pending.append(update)
        if self._lock.acquire(blocking=False):
            self.let_go()

    def hold(self) -> None:
        """Take the lock (waiting for it) with the queued updates applied."""
        self._lock.acquire()
        try:
            self._drain()
        except BaseException:
            self.let_go()
            raise

    def let_go(self) -> None:
        """Apply the queued updates and let the lock go; again if one was queued meanwhile.

        An update is queued before its submitter tries the lock, and the holder
        looks at the queue after letting go: one of the two sees every update.
        """
        lock, pending = self._lock, self.pending
        while True:
            try:
                self._drain()
            finally:
                lock.release()
            if not pending or not lock.acquire(blocking=False):
                return

    def _drain(self) -> None:
        pending, apply = self.pending, self._apply
        while pending:
            apply(pending.popleft())
