"""Proactive per-provider rate limits: token buckets in memory.

A [`RateLimit`][fallback_router.RateLimit] is a token bucket: `requests` tokens at
most, refilled continuously at `requests / per` tokens a second. A call takes one
token before its attempt starts; a provider without one is passed over. The
[`RedisRateLimiter`][fallback_router.RedisRateLimiter] shares the buckets between
processes.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, cast, runtime_checkable

from ._errors import InvalidConfigError
from ._lease import RATE_LIMITED, Refusal, Returned

__all__ = ["InMemoryRateLimiter", "RateLimit", "RateLimiter", "TokenGate", "parse_limits"]

#: A bucket holding at least this much has a token (absorbs float rounding of refills).
_ALMOST_ONE = 1.0 - 1e-9

_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "m": 60.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}
_NAMED: dict[float, str] = {1.0: "s", 60.0: "min", 3600.0: "h"}
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*", re.ASCII)
_EXPECTED = '"N/s", "N/min", "N/h" (or "N/5s", ...; N a positive int) or a RateLimit'


#: The largest `requests` or `per` a limit takes: beyond it floats lose whole units.
MAX_VALUE = 2**53


def _shown(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"an int of {int(cast('int', value).bit_length() * math.log10(2)) + 1} digits"
    return text if len(text) <= 40 else f"{text[:37]}... ({len(text)} characters)"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: at most `requests` calls at once, `requests` more every `per` s.

    `RateLimit(20, 1.0)` allows a burst of 20 calls, then 20 a second (one every
    50 ms). Strings such as `"20/s"`, `"600/min"` or `"1000/h"` are read by
    [`parse`][fallback_router.RateLimit.parse].

    Args:
        requests: the bucket's capacity, an int from 1 to 2**53.
        per: seconds to refill a whole bucket, a finite number > 0 (at most 2**53).

    Raises:
        InvalidConfigError: `requests` or `per` is out of range.

    Version:
        Added in 0.3.0.
    """

    requests: int
    per: float

    def __post_init__(self) -> None:
        requests: object = self.requests
        if (
            isinstance(requests, bool)
            or not isinstance(requests, int)
            or not 1 <= requests <= MAX_VALUE
        ):
            msg = f"RateLimit requests must be an int from 1 to 2**53, got {_shown(requests)}"
            raise InvalidConfigError(msg)
        per: object = self.per
        seconds = math.nan
        if isinstance(per, int | float) and not isinstance(per, bool):
            try:
                seconds = float(per)
            except OverflowError:  # an int too large for a float
                seconds = math.inf
        if not math.isfinite(seconds) or not 0 < seconds <= MAX_VALUE:
            msg = (
                f"RateLimit per must be a finite number of seconds > 0 and <= 2**53, "
                f"got {_shown(per)}"
            )
            raise InvalidConfigError(msg)

    @property
    def rate(self) -> float:
        """Tokens added per second (`requests / per`)."""
        return self.requests / self.per

    @classmethod
    def parse(cls, value: str | RateLimit) -> RateLimit:
        """Read `"N/s"`, `"N/sec"`, `"N/m"`, `"N/min"`, `"N/h"`, `"N/hour"` or `"N/5s"`.

        Args:
            value: a spec string or a [`RateLimit`][fallback_router.RateLimit]
                (returned as it is).

        Returns:
            The limit.

        Raises:
            InvalidConfigError: `value` is not a valid spec (the message names it).
        """
        return _parse("rate limit", value)

    def __str__(self) -> str:
        unit = _NAMED.get(self.per)
        if unit is None:
            per = int(self.per) if float(self.per).is_integer() else self.per
            unit = f"{per}s"
        return f"{self.requests}/{unit}"


def _parse(what: str, value: object) -> RateLimit:
    if isinstance(value, RateLimit):
        return value
    if isinstance(value, str):
        match = _SPEC.fullmatch(value.lower())
        digits = len(match.group(1)) + len(match.group(2)) if match is not None else 0
        if match is not None and match.group(3) in _UNITS and digits <= 40:
            requests, count = int(match.group(1)), int(match.group(2) or 1)
            if requests >= 1 and count >= 1:
                return RateLimit(requests, count * _UNITS[match.group(3)])
    msg = f"{what} must be {_EXPECTED}, got {_shown(value)}"
    raise InvalidConfigError(msg)


def parse_limits(limits: object) -> dict[str, RateLimit]:
    """Validate a mapping `name -> spec`; errors name the offending key or value."""
    if not isinstance(limits, Mapping):
        msg = f"rate_limits must be a mapping of provider name to limit, got {_shown(limits)}"
        raise InvalidConfigError(msg)
    checked: dict[str, RateLimit] = {}
    for name, value in cast("Mapping[object, object]", limits).items():
        if not isinstance(name, str):
            msg = f"rate_limits keys must be provider names, got {_shown(name)}"
            raise InvalidConfigError(msg)
        checked[name] = _parse(f"rate_limits[{name!r}]", value)
    return checked


def _check_clock(clock: object) -> Callable[[], float] | None:
    if clock is not None and not callable(clock):
        msg = f"clock must be a zero-argument callable or None, got {_shown(clock)}"
        raise InvalidConfigError(msg)
    return cast("Callable[[], float] | None", clock)


@runtime_checkable
class RateLimiter(Protocol):
    """What the router asks of a rate limiter (one token per attempt).

    Optional capability: `settle(name, tokens)`, the tokens a successful attempt
    used, as the router's `usage_of=` reads them from the response (a stream's
    last item); the router calls it only when `usage_of=` is set. Token limits
    settle their reservation with it.

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
    """A rate limiter as a gate: a token per attempt, spent when the attempt starts."""

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
        limits: `name -> "N/s" | "N/min" | "N/h" | RateLimit`; names not in it
            are unlimited.
        clock: a zero-argument callable returning seconds (monotonic).

    Raises:
        InvalidConfigError: a limit or the clock is invalid (the message names it).

    Version:
        Added in 0.3.0.
    """

    __slots__ = ("_buckets", "_clock", "_lock", "limits")

    blocking = False

    def __init__(
        self,
        limits: Mapping[str, str | RateLimit],
        *,
        clock: Callable[[], float] | None = None,
    ) -> None:
        #: The limits, parsed.
        self.limits: Mapping[str, RateLimit] = parse_limits(limits)
        self._clock = _check_clock(clock)
        self._lock = threading.Lock()
        # name -> [tokens, last reading, tokens per second, capacity]; a bucket starts
        # full (a reading of -inf refills it completely on first use).
        self._buckets: dict[str, list[float]] = {
            name: [float(lim.requests), -math.inf, lim.rate, float(lim.requests)]
            for name, lim in self.limits.items()
        }

    def try_acquire(self, name: str) -> bool:
        """Take one of `name`'s tokens if one is there now; never block.

        Returns:
            True when a token was taken (or `name` is unlimited).
        """
        bucket = self._buckets.get(name)
        if bucket is None:
            return True
        clock = self._clock
        with self._lock:
            # Read inside the lock, so updates see non-decreasing readings.
            now = time.monotonic() if clock is None else clock()
            tokens = bucket[0]
            elapsed = now - bucket[1]
            if elapsed > 0.0:
                tokens += elapsed * bucket[2]
                if tokens > bucket[3]:  # noqa: PLR1730 - min() costs a call on the hot path
                    tokens = bucket[3]
            bucket[1] = now
            if tokens >= _ALMOST_ONE:
                bucket[0] = tokens - 1.0
                return True
            bucket[0] = tokens
            return False

    def _settle(self, bucket: list[float], delta: float) -> float:
        """Refill `bucket` up to now, add `delta` (capped); return its tokens."""
        clock = self._clock
        with self._lock:
            now = time.monotonic() if clock is None else clock()
            elapsed = now - bucket[1]
            tokens = bucket[0] + (elapsed * bucket[2] if elapsed > 0.0 else 0.0) + delta
            bucket[0] = tokens = min(tokens, bucket[3])
            bucket[1] = now
            return tokens

    def wait_time(self, name: str) -> float:
        """Return the seconds until `name` has a token (0.0: now, or unlimited)."""
        bucket = self._buckets.get(name)
        if bucket is None:
            return 0.0
        tokens = self._settle(bucket, 0.0)
        return 0.0 if tokens >= _ALMOST_ONE else (1.0 - tokens) / bucket[2]

    def refund(self, name: str) -> None:
        """Give back a token taken for an attempt that never started (capped)."""
        bucket = self._buckets.get(name)
        if bucket is not None:
            self._settle(bucket, 1.0)

    def tokens(self, name: str) -> float | None:
        """Return the tokens `name` has now (None when unlimited)."""
        bucket = self._buckets.get(name)
        return None if bucket is None else max(0.0, self._settle(bucket, 0.0))

    def limited(self, name: str) -> bool:
        """Return whether `name` has a limit."""
        return name in self._buckets

    def __repr__(self) -> str:
        shown = {name: str(limit) for name, limit in self.limits.items()}
        return f"InMemoryRateLimiter({shown!r})"
