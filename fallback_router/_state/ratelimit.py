"""Proactive per-provider rate limits: token buckets in memory.

A [`RateLimit`][fallback_router.RateLimit] is a token bucket: `burst` tokens at
most (default `requests`), refilled continuously at `requests / per` tokens a
second. A call takes one token before its attempt starts; a provider without one
is passed over. A [`TokenLimit`][fallback_router.TokenLimit] is a bucket of LLM
tokens: an attempt reserves its estimate and settles the real count when it ends.
The [`RedisRateLimiter`][fallback_router.RedisRateLimiter] shares the buckets
between processes.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol, cast, runtime_checkable

from fallback_router._errors import InvalidConfigError
from fallback_router._lease import RATE_LIMITED, Refusal, Returned
from fallback_router._rate_specs import Limit, RateLimit, TokenLimit, parse_limits, shown

__all__ = [
    "InMemoryRateLimiter",
    "RateLimit",
    "RateLimiter",
    "TokenGate",
    "TokenLimit",
    "need_of",
    "parse_limits",
    "request_tokens",
    "shown_limits",
]

#: A bucket holding at least this much has room (absorbs float rounding of refills).
_SLACK = 1e-9


def need_of(capacity: float, tokens: float) -> float:
    """What a token bucket must hold to let an attempt reserving `tokens` start.

    The estimate, at least one token (an estimate of 0 still needs the bucket out
    of debt), at most the whole bucket (a larger estimate starts when it is full).
    """
    need = max(1.0, tokens)
    return min(capacity, need)


def _check_clock(clock: object) -> Callable[[], float] | None:
    if clock is not None and not callable(clock):
        msg = f"clock must be a zero-argument callable or None, got {shown(clock)}"
        raise InvalidConfigError(msg)
    return cast("Callable[[], float] | None", clock)


@runtime_checkable
class RateLimiter(Protocol):
    """What the router asks of a rate limiter (one token per attempt).

    Optional capability, token quotas: a limiter whose `holds_tokens` is True takes
    the attempt's estimated tokens as a second argument of `try_acquire`,
    `wait_time` and `refund`, and has `settle(name, used, reserved)`, called once
    when a started attempt ends (the real count, or 0 for a failure that reported
    none: the reservation is given back).

    Version:
        Added in 0.3.0.
    """

    #: True when the methods do network I/O (async callers run them in a thread).
    blocking: bool

    def try_acquire(self, name: str) -> bool:
        """Take one of `name`'s tokens if one is there now; never block."""
        ...

    def wait_time(self, name: str) -> float:
        """Return the seconds until `name` has a token (0.0: now, or unlimited)."""
        ...

    def refund(self, name: str) -> None:
        """Give back a token taken for an attempt that never started."""
        ...

    def tokens(self, name: str) -> float | None:
        """Return the tokens `name` has now (None when unlimited)."""
        ...

    def limited(self, name: str) -> bool:
        """Return whether `name` has a limit."""
        ...


class TokenGate:
    """A rate limiter as a gate: a token per attempt, spent when the attempt starts.

    A limiter holding token quotas is the gate of `fallback_router._quota.Quota`
    instead (its lease is the attempt's reservation).
    """

    __slots__ = ("blocking", "rates")

    def __init__(self, rates: RateLimiter) -> None:
        self.rates = rates
        self.blocking = bool(getattr(rates, "blocking", False))

    def take(self, name: str) -> Returned | Refusal | None:
        """A token of `name` as a lease, a `Refusal` with the wait, or None (unlimited)."""
        rates = self.rates
        if not rates.limited(name):
            return None
        try:
            got = rates.try_acquire(name)
        except BaseException:
            # Interrupted during the token's round trip (Ctrl-C, or a limiter that raised):
            # the token the server may have granted goes back (a refund is capped at the
            # bucket's capacity).
            with contextlib.suppress(Exception):
                rates.refund(name)
            raise
        if got:
            return Returned(rates.refund, name, False)
        return Refusal(RATE_LIMITED, float(rates.wait_time(name)))


class InMemoryRateLimiter:
    """Token buckets in this process; share one between routers to share limits.

    Thread-safe: a lock guards the arithmetic of one bucket update, nothing else.
    Time comes from `clock` (default `time.monotonic`, looked up at each call so
    freezegun reaches it). A clock that steps backwards adds no tokens: the bucket
    keeps what it had and refills from the new reading on.

    Args:
        limits: `name -> spec`, or `name -> [spec, ...]` for several limits at once;
            a spec is `"N/s" | "N/min" | "N/h" | "N tokens/min" | RateLimit |
            TokenLimit`. Names not in it are unlimited.
        clock: a zero-argument callable returning seconds (monotonic).

    Raises:
        InvalidConfigError: a limit or the clock is invalid (the message names it).

    Version:
        Added in 0.3.0.
    """

    __slots__ = ("_buckets", "_clock", "_lock", "_owed", "holds_tokens", "limits")

    blocking = False

    def __init__(
        self,
        limits: Mapping[str, str | Limit | Sequence[str | Limit]],
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        #: The limits, parsed: `name -> (limit, ...)`.
        self.limits: Mapping[str, tuple[Limit, ...]] = parse_limits(limits)
        self._clock = _check_clock(clock)
        self._lock = threading.Lock()
        #: Settlements not applied yet: (name, tokens back), applied under the lock.
        self._owed: list[tuple[str, int]] = []
        #: Some provider has a token quota (attempts then reserve their estimate).
        self.holds_tokens = any(
            isinstance(lim, TokenLimit) for lims in self.limits.values() for lim in lims
        )
        # name -> buckets, each [level, last reading, refill per second, capacity,
        # 1.0 for a token quota / 0.0 for requests]; a bucket starts full (a reading of
        # -inf refills it completely on first use).
        self._buckets: dict[str, list[list[float]]] = {
            name: [
                [
                    float(lim.capacity),
                    -math.inf,
                    lim.rate,
                    float(lim.capacity),
                    1.0 if isinstance(lim, TokenLimit) else 0.0,
                ]
                for lim in lims
            ]
            for name, lims in self.limits.items()
        }

    def _now(self) -> float:
        clock = self._clock
        return time.monotonic() if clock is None else clock()

    def try_acquire(self, name: str, tokens: int = 0) -> bool:
        """Take one request token and reserve `tokens` from each token quota, or nothing.

        Never blocks. A token quota has room when it holds the estimate (at least
        one token; a whole bucket for an estimate beyond its capacity).

        Returns:
            True when everything was taken (or `name` is unlimited).
        """
        buckets = self._buckets.get(name)
        if buckets is None:
            return True
        # need_of() inline, as arithmetic (the hot path): a request bucket (flag 0.0)
        # needs and takes 1; a token quota (flag 1.0) needs the estimate (at least 1,
        # at most its capacity) and takes the estimate.
        wanted = tokens - 1.0 if tokens > 1.0 else 0.0
        taken = tokens - 1.0
        with self._lock:
            now = self._now()  # read inside the lock: updates see non-decreasing readings
            if self._owed:
                self._repay(now)
            room = True
            for bucket in buckets:
                level = bucket[0]
                elapsed = now - bucket[1]
                if elapsed > 0.0:
                    level += elapsed * bucket[2]
                    if level > bucket[3]:  # noqa: PLR1730 - min() costs a call on the hot path
                        level = bucket[3]
                    bucket[0] = level
                bucket[1] = now
                need = 1.0 + bucket[4] * wanted
                if need > bucket[3]:  # noqa: PLR1730 - min() costs a call on the hot path
                    need = bucket[3]
                if level < need - _SLACK:
                    room = False
            if room:
                for bucket in buckets:
                    bucket[0] -= 1.0 + bucket[4] * taken
            return room

    def _add(self, buckets: list[list[float]], requests: float, tokens: float) -> None:
        """Refill `buckets` up to now and add `requests` / `tokens` to them (capped)."""
        with self._lock:
            now = self._now()
            if self._owed:
                self._repay(now)
            for bucket in buckets:
                elapsed = now - bucket[1]
                level = bucket[0] + (elapsed * bucket[2] if elapsed > 0.0 else 0.0)
                level = min(level, bucket[3])  # the refill first: a full bucket gains nothing
                level += tokens if bucket[4] else requests
                bucket[0] = min(level, bucket[3])
                bucket[1] = now

    def wait_time(self, name: str, tokens: int = 0) -> float:
        """Return the seconds until `name` has room for an attempt reserving `tokens`.

        0.0: now, or unlimited.
        """
        buckets = self._buckets.get(name)
        if buckets is None:
            return 0.0
        self._add(buckets, 0.0, 0.0)
        wait = 0.0
        for level, _, rate, capacity, counts in buckets:
            need = need_of(capacity, tokens) if counts else 1.0
            if level < need - _SLACK:
                wait = max(wait, (need - level) / rate)
        return wait

    def refund(self, name: str, tokens: int = 0) -> None:
        """Give back what `try_acquire` took for an attempt that never started (capped)."""
        buckets = self._buckets.get(name)
        if buckets is not None:
            self._add(buckets, 1.0, float(tokens))

    def settle(self, name: str, used: int, reserved: int) -> None:
        """A started attempt ended having `used` tokens of the `reserved` ones.

        The difference goes back to (or, beyond the reservation, comes out of)
        each token quota; a quota may go into debt, repaid by its refill. Never
        waits for the lock: the correction is queued (`list.append` is atomic) and
        applied by the next operation on the buckets, before it reads them.
        """
        if used != reserved and name in self._buckets:
            self._owed.append((name, reserved - used))

    def _repay(self, now: float) -> None:
        """Apply the queued settlements (under the lock): refill first, then correct."""
        owed = self._owed
        while owed:
            name, back = owed.pop()
            for bucket in self._buckets[name]:
                if bucket[4]:  # request buckets are not touched
                    level = bucket[0]
                    capacity = bucket[3]
                    elapsed = now - bucket[1]
                    if elapsed > 0.0:  # the refill first: a full bucket gains nothing
                        level += elapsed * bucket[2]
                        if level > capacity:  # noqa: PLR1730 - min() costs a call here
                            level = capacity
                    level += back
                    bucket[0] = level if level < capacity else capacity  # noqa: FURB136 - no call
                    bucket[1] = now

    def tokens(self, name: str) -> float | None:
        """Return the request tokens `name` has now (None without a request limit)."""
        return request_tokens(self.levels(name))

    def levels(self, name: str) -> list[tuple[Limit, float]]:
        """Each of `name`'s limits with its bucket's level now (negative: in debt)."""
        buckets = self._buckets.get(name)
        if buckets is None:
            return []
        self._add(buckets, 0.0, 0.0)
        return [(lim, b[0]) for lim, b in zip(self.limits[name], buckets, strict=True)]

    def limited(self, name: str) -> bool:
        """Return whether `name` has a limit."""
        return name in self._buckets

    def __repr__(self) -> str:
        return f"InMemoryRateLimiter({shown_limits(self.limits)!r})"


def request_tokens(levels: Sequence[tuple[Limit, float]]) -> float | None:
    """The request tokens of the first request limit in `levels` (None: there is none)."""
    for limit, level in levels:
        if isinstance(limit, RateLimit):
            return max(0.0, level)
    return None


def shown_limits(limits: Mapping[str, tuple[Limit, ...]]) -> dict[str, str | list[str]]:
    """The limits as their reprs show them (one spec, or a list of several)."""
    return {
        name: str(lims[0]) if len(lims) == 1 else [str(lim) for lim in lims]
        for name, lims in limits.items()
    }
