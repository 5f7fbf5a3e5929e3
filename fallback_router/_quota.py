"""Token quotas on the call path: the rate gate's lease is the attempt's reservation.

Used only when the router's rate limiter holds token quotas (`holds_tokens`): the
call estimates its tokens once (`estimate_tokens=`), and `Quota`, the rate
limiter's gate, answers `take(name, tokens)` with a `Tab`: the request token and
that estimate, reserved together. The `Tab` is a lease held until the attempt ends
(see `fallback_router._lease`); its `release()`, in the engine's one place that
gives leases back:

- for a candidate never started (let go, the call cancelled or interrupted):
  gives the token and the estimate back;
- for an attempt that ended: settles the real count once the attempt has also
  been judged. A success: the count `usage_of=` read (a stream: from its last
  item), else the one the provider gave `current_attempt().settle(tokens=n)`, else
  the estimate; a failure, or an attempt the call abandoned or that was cancelled:
  what the provider settled, else nothing (the reservation is given back).

A stream is judged a success at its first item; it settles when it is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import InvalidConfigError
from ._lease import RATE_LIMITED, Refusal
from ._redact import redact
from ._surfaces import log as _log

__all__ = ["Quota", "Tab", "check_tokens", "judge_all", "quota_of"]


#: The largest token count a call may reserve or settle (as for configured limits: a
#: count beyond 2**53 would put a bucket in debt for longer than any process lives).
MAX_TOKENS = 2**53


def check_tokens(value: object, what: str) -> int:
    """`value` as a token count (an int in [0, 2**53], not a bool), else `InvalidConfigError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_TOKENS:
        msg = f"{what} must be an int from 0 to 2**53 (tokens), got {value!r}"
        raise InvalidConfigError(msg)
    return value


class Tab:
    """One attempt's token reservation, a lease; settled once, when ended and judged.

    The two events may come from different threads (an attempt ends in a worker
    while the call judges it): each takes one mark off `marks` (`list.pop` is
    atomic), and the one that takes the last mark settles.
    """

    __slots__ = ("marks", "name", "quota", "reserved", "started", "used", "verdict")

    #: Held until the attempt ends (`fallback_router._lease.Lease`).
    until_end = True

    def __init__(self, quota: Quota, name: str, reserved: int) -> None:
        self.quota = quota
        self.name = name
        self.reserved = reserved
        #: The attempt started (`Starts._begin`): its request token is spent.
        self.started = False
        self.used: int | None = None
        self.verdict: bool | None = None
        self.marks = [True, False]

    def release(self) -> None:
        """The attempt ended (settled once judged), or never started (all given back)."""
        if self.started:  # `end()` inline: a frame less on every attempt
            if self.marks.pop():
                self.close()
        else:
            self.quota.rates.refund(self.name, self.reserved)

    def settle(self, tokens: int) -> None:
        """The provider's own count (`current_attempt().settle(tokens=n)`)."""
        if type(tokens) is not int or not 0 <= tokens <= MAX_TOKENS:
            # A TypeError: the caller's own bug (§5), so it falls back uncounted.
            msg = f"settle(tokens=) must be an int from 0 to 2**53, got {tokens!r}"
            raise TypeError(msg)
        self.used = tokens

    def judge(self, ok: bool) -> None:
        """The attempt's verdict (the first one counts; given by the call's own thread)."""
        if self.verdict is None:
            self.verdict = ok
            if self.marks.pop():
                self.close()

    def close(self) -> None:
        """Settle: the count, else the estimate for a success and nothing for a failure."""
        used = self.used
        if used is None:
            used = self.reserved if self.verdict else 0
        if used != self.reserved:
            self.quota.settle(self.name, used, self.reserved)


class Quota:
    """A router's token accounting: its limiter, `estimate_tokens=` and `usage_of=`."""

    __slots__ = ("_pool", "blocking", "estimate", "rates", "settle", "usage_of")

    def __init__(
        self,
        rates: Any,
        estimate: Callable[..., object] | None,
        usage_of: Callable[[Any], object] | None,
    ) -> None:
        self.rates = rates
        self.estimate = estimate
        self.usage_of = usage_of
        self._pool: Any = None
        #: A gate (`fallback_router._lease.Gate`): True when the limiter does network I/O.
        self.blocking = bool(getattr(rates, "blocking", False))
        #: `settle(name, used, reserved)`: the limiter's own, unless it does network I/O.
        self.settle: Callable[[str, int, int], None] = (
            self._settle_off_loop if self.blocking else rates.settle
        )

    def tokens(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
        """The call's estimate (`estimate_tokens(*args, **kwargs)`; 0 without one)."""
        estimate = self.estimate
        if estimate is None:
            return 0
        tokens = estimate(*args, **kwargs)
        if type(tokens) is int and 0 <= tokens <= MAX_TOKENS:
            return tokens
        return check_tokens(tokens, "estimate_tokens() result")

    def take(self, name: str, tokens: int = 0) -> Tab | Refusal | None:
        """`name`'s request token and `tokens` reserved (a `Tab`), a `Refusal`, or None."""
        rates = self.rates
        if not rates.limited(name):
            return None
        try:
            got = rates.try_acquire(name, tokens)
        except BaseException:
            # Interrupted during the round trip (Ctrl-C, or a limiter that raised): what
            # the server may have granted goes back (a refund is capped by the bucket).
            with contextlib.suppress(Exception):
                rates.refund(name, tokens)
            raise
        if got:
            return Tab(self, name, tokens)
        return Refusal(RATE_LIMITED, float(rates.wait_time(name, tokens)))

    def _settle_off_loop(self, name: str, used: int, reserved: int) -> None:
        """Correct `name`'s quotas; a blocking limiter is never asked on an event loop."""
        rates = self.rates
        if _on_loop():
            if self._pool is None:
                import concurrent.futures  # noqa: PLC0415 - only for async callers of Redis

                self._pool = concurrent.futures.ThreadPoolExecutor(1, "fallback_router-settle")
            self._pool.submit(rates.settle, name, used, reserved)
        else:
            rates.settle(name, used, reserved)

    def succeeded(self, tab: Tab | None, response: Any, stream: bool, buffer: bool) -> None:
        """A success: `usage_of` reads the response, a buffered stream's last item."""
        if tab is None:
            return
        usage_of = self.usage_of
        if usage_of is not None and not stream:
            try:
                tokens = usage_of(response)  # the common case inline: an int count
            except Exception:  # noqa: BLE001 - read() says why, once more
                tokens = None
                self.read(tab, response)
            if type(tokens) is int and 0 <= tokens <= MAX_TOKENS:
                tab.used = tokens
            elif tokens is not None:
                self.read(tab, response)
        elif buffer and response:
            self.read(tab, response[-1])
        if tab.verdict is None:  # judge(True) and close() inline; an unbuffered stream's
            tab.verdict = True  # relay reads its last item
            if tab.marks.pop():
                used, reserved = tab.used, tab.reserved
                if used is not None and used != reserved:  # None: the estimate stands
                    self.settle(tab.name, used, reserved)

    def read(self, tab: Tab | None, response: Any) -> None:
        """Read `usage_of(response)` into `tab` (None: the count stays as it is)."""
        usage_of = self.usage_of
        if tab is None or usage_of is None:
            return
        try:
            tokens = usage_of(response)
        except Exception as exc:  # noqa: BLE001 - logged: a served answer stays served
            problem = f"it raised {type(exc).__name__}: {exc}"
        else:
            if tokens is None:
                return  # no count: the provider's settle() or the estimate stands
            if type(tokens) is int and 0 <= tokens <= MAX_TOKENS:
                tab.used = tokens
                return
            problem = f"it returned {tokens!r}, not None or an int from 0 to 2**53"
        if _log.wants(__name__, _log.WARNING):
            _log.logger.warning(
                _log.template(_log.USAGE_OF_IGNORED),
                provider=redact(tab.name),
                problem=redact(problem),
            )


def _on_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def quota_of(
    rates: Any,
    estimate: Callable[..., object] | None,
    usage_of: Callable[[Any], object] | None,
) -> Quota | None:
    """The router's token accounting, or None when its limiter holds no token quota."""
    if rates is None or getattr(rates, "holds_tokens", False) is not True:
        return None
    return Quota(rates, estimate, usage_of)


def judge_all(tabs: dict[int, Tab] | None) -> None:
    """The call concluded: attempts without a verdict (abandoned) give their tokens back."""
    if tabs:
        for tab in tabs.values():
            if tab.verdict is None:
                tab.judge(False)
