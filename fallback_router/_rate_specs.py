"""What a rate limit is: `RateLimit` (requests), `TokenLimit` (tokens); reading specs.

[`RateLimit`][fallback_router.RateLimit] counts attempts,
[`TokenLimit`][fallback_router.TokenLimit] the LLM tokens they use; a provider may
have several of either (`{"a": ["500/min", "450000 tokens/min"]}`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

from ._errors import InvalidConfigError

__all__ = ["MAX_VALUE", "Limit", "RateLimit", "TokenLimit", "parse_limits", "shown"]

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
_SPEC = re.compile(r"\s*(\d+)\s*(tokens?\s*)?/\s*(\d*)\s*([a-z]+)\s*", re.ASCII)
_EXPECTED = (
    '"N/s", "N/min", "N/h" (or "N/5s", ...; N a positive int), "N tokens/min", a RateLimit '
    "or a TokenLimit"
)


#: The largest `requests` or `per` a limit takes: beyond it floats lose whole units.
MAX_VALUE = 2**53


def shown(value: object) -> str:
    """`repr(value)`, shortened (and safe for ints too long to print)."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"an int of {int(cast('int', value).bit_length() * math.log10(2)) + 1} digits"
    return text if len(text) <= 40 else f"{text[:37]}... ({len(text)} characters)"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A token bucket: `requests` calls every `per` seconds, at most `burst` at once.

    The bucket holds `burst` tokens (default `requests`) and starts full; it refills
    continuously at `requests / per` tokens a second, and each attempt takes one.
    `RateLimit(20, 1.0)` allows a burst of 20 calls, then 20 a second (one every
    50 ms); `RateLimit(60, 60.0, burst=1)` spaces calls evenly, one a second from
    the first. Strings such as `"20/s"`, `"600/min"` or `"1000/h"` are read by
    [`parse`][fallback_router.RateLimit.parse].

    Args:
        requests: calls allowed per `per` seconds, a finite number > 0 (at most
            2**53; `RateLimit(0.5, 1.0)` is one call every 2 s: below 1, the bucket
            still holds one call).
        per: seconds to refill `requests` tokens, a finite number > 0 (at most 2**53).
        burst: the bucket's capacity, a finite number >= 1 (at most 2**53; None:
            `requests`).

    Raises:
        InvalidConfigError: `requests`, `per` or `burst` is out of range.

    Version:
        Added in 0.3.0.
    """

    requests: float
    per: float
    burst: float | None = None

    def __post_init__(self) -> None:
        _check_amount("RateLimit requests", self.requests)
        _check_per("RateLimit", self.per)
        burst: object = self.burst
        if burst is not None and not _within(burst, 1, inclusive=True):
            msg = (
                "RateLimit burst must be None or a finite number >= 1 and <= 2**53, "
                f"got {shown(burst)}"
            )
            raise InvalidConfigError(msg)

    @property
    def rate(self) -> float:
        """Tokens added per second (`requests / per`)."""
        return self.requests / self.per

    @property
    def capacity(self) -> float:
        """The bucket's size: `burst`, or `requests` without one (at least 1: one call)."""
        if self.burst is not None:
            return self.burst
        return max(self.requests, 1)

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
        limit = _parse("rate limit", value)
        if not isinstance(limit, RateLimit):
            msg = f"rate limit must be a request limit, got the token limit {shown(value)}"
            raise InvalidConfigError(msg)
        return limit

    def __str__(self) -> str:
        text = f"{_amount(self.requests)}/{_unit(self.per)}"
        return text if self.burst is None else f"{text} (burst {_amount(self.burst)})"


def _number(value: object) -> float:
    """`value` as a float when it is a real number (not a bool), else NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int too large for a float
            return math.inf
    return math.nan


def _check_amount(what: str, value: object) -> None:
    """`value` is a finite number > 0 and <= 2**53 (not a bool), else `InvalidConfigError`."""
    if not _within(value, 0, inclusive=False):
        msg = f"{what} must be a finite number > 0 and <= 2**53, got {shown(value)}"
        raise InvalidConfigError(msg)


def _within(value: object, low: int, *, inclusive: bool) -> bool:
    """`value` is a real number (not a bool) above `low` (or equal) and at most 2**53.

    Ints are compared exactly (2**53 + 1 is out, though it converts to 2.0**53).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        number: float = value
    else:
        number = _number(value)
        if not math.isfinite(number):
            return False
    above = number >= low if inclusive else number > low
    return above and number <= MAX_VALUE


def _amount(value: float) -> str:
    """A limit's count for display: `20`, `1000000` (a whole float), `0.5`."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _check_per(kind: str, per: object) -> None:
    seconds = _number(per)
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_VALUE:
        msg = f"{kind} per must be a finite number of seconds > 0 and <= 2**53, got {shown(per)}"
        raise InvalidConfigError(msg)


@dataclass(frozen=True, slots=True)
class TokenLimit:
    """A token quota: at most `tokens` (LLM tokens) every `per` seconds, as a bucket.

    The bucket holds `tokens` and starts full; it refills continuously at
    `tokens / per` a second. An attempt reserves the router's `estimate_tokens=`
    before it starts and settles the real count when it ends (`usage_of=`, or
    `current_attempt().settle(tokens=n)`); a provider without room for the
    estimate is passed over as rate limited. An estimate larger than the whole
    bucket is let through when the bucket is full (never refused for ever); a
    settlement beyond the reservation leaves the bucket in debt, repaid by the
    refill before the next attempt. Strings such as `"450000 tokens/min"` are
    read in `rate_limits=`.

    Args:
        tokens: tokens allowed per `per` seconds, a finite number > 0 (at most 2**53;
            `TokenLimit(1e6, 60)` is a million a minute).
        per: seconds to refill `tokens`, a finite number > 0 (at most 2**53).

    Raises:
        InvalidConfigError: `tokens` or `per` is out of range.

    Version:
        Added in 0.3.0.
    """

    tokens: float
    per: float

    def __post_init__(self) -> None:
        _check_amount("TokenLimit tokens", self.tokens)
        _check_per("TokenLimit", self.per)

    @property
    def rate(self) -> float:
        """Tokens added per second (`tokens / per`)."""
        return self.tokens / self.per

    @property
    def capacity(self) -> float:
        """The bucket's size: `tokens` (at least 1: an attempt needs one token to start)."""
        return max(self.tokens, 1)

    def __str__(self) -> str:
        return f"{_amount(self.tokens)} tokens/{_unit(self.per)}"


#: One limit of a provider: requests or tokens.
Limit = RateLimit | TokenLimit


def _unit(per: float) -> str:
    unit = _NAMED.get(per)
    if unit is None:
        count = int(per) if float(per).is_integer() else per
        unit = f"{count}s"
    return unit


def _parse(what: str, value: object) -> Limit:
    if isinstance(value, RateLimit | TokenLimit):
        return value
    if isinstance(value, str):
        match = _SPEC.fullmatch(value.lower())
        digits = len(match.group(1)) + len(match.group(3)) if match is not None else 0
        if match is not None and match.group(4) in _UNITS and digits <= 40:
            amount, count = int(match.group(1)), int(match.group(3) or 1)
            if amount >= 1 and count >= 1:
                per = count * _UNITS[match.group(4)]
                if match.group(2) is not None:
                    return TokenLimit(amount, per)
                return RateLimit(amount, per)
    msg = f"{what} must be {_EXPECTED}, got {shown(value)}"
    raise InvalidConfigError(msg)


def _parse_many(what: str, value: object) -> tuple[Limit, ...]:
    """One spec, or a non-empty list or tuple of them (requests and tokens mixed)."""
    if isinstance(value, list | tuple):
        items = cast("list[object] | tuple[object, ...]", value)
        if not items:
            msg = f"{what} must name at least one limit, got {shown(items)}"
            raise InvalidConfigError(msg)
        return tuple(_parse(f"{what}[{i}]", item) for i, item in enumerate(items))
    return (_parse(what, value),)


def parse_limits(limits: object) -> dict[str, tuple[Limit, ...]]:
    """Validate a mapping `name -> spec or list of specs`; errors name the key or value."""
    if not isinstance(limits, Mapping):
        msg = f"rate_limits must be a mapping of provider name to limit, got {shown(limits)}"
        raise InvalidConfigError(msg)
    checked: dict[str, tuple[Limit, ...]] = {}
    for name, value in cast("Mapping[object, object]", limits).items():
        if not isinstance(name, str):
            msg = f"rate_limits keys must be provider names, got {shown(name)}"
            raise InvalidConfigError(msg)
        checked[name] = _parse_many(f"rate_limits[{name!r}]", value)
    return checked
