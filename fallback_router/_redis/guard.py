"""Fail-open guard for Redis operations, shared by every Redis-backed component."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from fallback_router._policy import check_seconds
from fallback_router._redact import redact
from fallback_router._surfaces import log as _log
from fallback_router._surfaces.text import describe

from .clients import BoundedClient, misconfiguration, outage_errors, refuse_async

__all__ = ["DEFAULT_OP_TIMEOUT", "FailOpen", "connect"]

#: Seconds each Redis operation may take (connect and reply, each) unless told otherwise.
DEFAULT_OP_TIMEOUT = 0.1

T = TypeVar("T")

#: The public class behind each component name (for error messages).
_OWNERS = {
    "cooldown": "RedisCooldown",
    "round_robin": "RedisRoundRobin",
    "rate_limit": "RedisRateLimiter",
}


class FailOpen:
    """Run Redis operations, falling back locally during an outage.

    After a failure no Redis operation is attempted for ``backoff`` seconds; the
    outage is logged once, and its end once.
    """

    def __init__(self, what: str, backoff: float, clock: Callable[[], float] | None) -> None:
        self.what = what
        #: called once when Redis answers again after an outage
        self.on_recover: Callable[[], None] | None = None
        self.backoff = backoff
        self._clock = clock
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()
        #: called after each failed operation (the client is built again next time)
        self.on_failure: Callable[[], None] | None = None
        self._errors = outage_errors()
        #: True: Redis errors propagate instead of failing open (the command line's
        #: trackers: an unanswered read must never look like "no state").
        self.strict = False

    @property
    def errors(self) -> tuple[type[BaseException], ...]:
        """What an operation raises when Redis cannot answer it (the guard fails open)."""
        return self._errors

    def _now(self) -> float:
        return self._clock() if self._clock is not None else time.monotonic()

    @property
    def down(self) -> bool:
        """True while the outage back-off is in force."""
        return self._down and self._now() < self._down_until

    def run(self, op: Callable[[], T], local: Callable[[], T]) -> T:
        """Return ``op()``, or ``local()`` when Redis fails or is backing off."""
        if self.strict:
            return op()
        if self._down and self._now() < self._down_until:
            return local()
        try:
            result = op()
        except self._errors as exc:
            with self._lock:
                first = not self._down
                self._down = True
                self._down_until = self._now() + self.backoff
            if self.on_failure is not None:
                self.on_failure()
            fix = misconfiguration(exc)
            text = redact(describe(exc))
            if fix is not None:  # every back-off period, until it is fixed
                _log.logger.error(
                    _log.template(_log.REDIS_MISCONFIGURED),
                    what=self.what,
                    error=text,
                    error_type=type(exc).__name__,
                    fix=fix,
                    backoff=self.backoff,
                )
            elif first:
                _log.logger.error(
                    _log.template(_log.REDIS_UNAVAILABLE),
                    what=self.what,
                    error=text,
                    error_type=type(exc).__name__,
                    backoff=self.backoff,
                )
            return local()
        if self._down:
            with self._lock:
                was_down, self._down = self._down, False
            if was_down:
                _log.logger.warning(_log.template(_log.REDIS_BACK), what=self.what)
                if self.on_recover is not None:
                    self.on_recover()
        return result


def connect(
    what: str,
    client: Any,
    op_timeout: float | None,
    backoff: float,
    clock: Callable[[], float] | None,
) -> tuple[float, BoundedClient, FailOpen]:
    """Validate the connection options; return the timeout, bounded client and guard."""
    refuse_async(client, _OWNERS.get(what, what))
    timeout = check_seconds("op_timeout", DEFAULT_OP_TIMEOUT if op_timeout is None else op_timeout)
    guard = FailOpen(what, check_seconds("backoff", backoff), clock)
    conn = BoundedClient(client, timeout)
    guard.on_failure = conn.forget
    return timeout, conn, guard
