"""How long cooldowns last: `CooldownPolicy`, shared by the in-memory and Redis trackers."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from ._errors import InvalidConfigError
from ._hints import HUGE, UnparsableRetryAfterError, retry_after_of
from ._redact import redact
from ._surfaces import log as _log

__all__ = [
    "DEFAULT_PROBE_TTL",
    "RETRY_AFTER_CAP",
    "CooldownPolicy",
    "check_seconds",
    "explicit_duration",
    "read_retry_after",
]

#: The longest Retry-After honoured when no `max_duration` is set (one hour).
RETRY_AFTER_CAP = 3600.0
#: Seconds a half-open probe may stay claimed unless told otherwise.
DEFAULT_PROBE_TTL = 30.0


def check_seconds(argument: str, value: object, *, allow_zero: bool = False) -> float:
    """Validate a positive, finite number of seconds; name `argument` in errors.

    Ints too large for a float (`10**400`) are rejected like infinities.
    """
    seconds = math.nan
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        need = "a finite number >= 0" if allow_zero else "a finite number > 0"
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        msg = f"{argument} must be {need}, got {shown}"
        raise InvalidConfigError(msg)
    return seconds


@dataclass(frozen=True, slots=True)
class CooldownPolicy:
    """How long cooldowns last: shared by the in-memory and Redis trackers."""

    duration: float
    threshold: int
    max_duration: float | None
    multiplier: float
    jitter: float

    @classmethod
    def build(
        cls,
        duration: object,
        threshold: object,
        max_duration: object,
        multiplier: object,
        jitter: object,
    ) -> CooldownPolicy:
        """Validate the arguments; every error names the offending argument."""
        base = check_seconds("duration", duration)
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            msg = f"threshold must be an int >= 1, got {threshold!r}"
            raise InvalidConfigError(msg)
        cap = None
        if max_duration is not None:
            cap = check_seconds("max_duration", max_duration)
            if cap < base:
                msg = f"max_duration ({max_duration!r}) must be >= duration ({duration!r})"
                raise InvalidConfigError(msg)
        mult = check_seconds("multiplier", multiplier)
        if mult < 1:
            msg = f"multiplier must be >= 1, got {multiplier!r}"
            raise InvalidConfigError(msg)
        jit = check_seconds("jitter", jitter, allow_zero=True)
        if jit > 1:
            msg = f"jitter must be between 0 and 1, got {jitter!r}"
            raise InvalidConfigError(msg)
        return cls(base, threshold, cap, mult, jit)

    @property
    def window(self) -> float:
        """How long failure counts and escalation memory outlive the last event."""
        return self.max_duration if self.max_duration is not None else self.duration

    def length(self, level: int, retry_after: float | None) -> float:
        """Return the cooldown length for an escalation `level` and Retry-After."""
        return self.clamp(self.base_length(level, retry_after) * self.jitter_factor(), retry_after)

    def base_length(self, level: int, retry_after: float | None) -> float:
        """The cooldown length before jitter (and before the final clamp)."""
        cap = self.max_duration
        if retry_after is not None:
            return min(retry_after, self.limit(retry_after))
        if cap is None:
            return self.duration
        try:
            return min(cap, self.duration * self.multiplier**level)
        except OverflowError:
            return cap

    def limit(self, retry_after: float | None) -> float:
        """The longest cooldown: `max_duration`, else one hour for a Retry-After."""
        if self.max_duration is not None:
            return self.max_duration
        return max(self.duration, RETRY_AFTER_CAP) if retry_after is not None else math.inf

    def jitter_factor(self) -> float:
        """A random factor from 1 to `1 + jitter`."""
        return 1.0 + self.jitter * random.random() if self.jitter else 1.0  # noqa: S311 - jitter, not crypto

    def clamp(self, seconds: float, retry_after: float | None) -> float:
        """Clamp a jittered length to `limit()` (jitter never passes the cap)."""
        return min(seconds, self.limit(retry_after))


def read_retry_after(name: str, error: BaseException) -> float | None:
    """Return the error's Retry-After seconds; log and return None when unparsable."""
    try:
        return retry_after_of(error)
    except UnparsableRetryAfterError as exc:
        _log.logger.warning(
            _log.template(_log.UNPARSABLE_RETRY_AFTER),
            provider=redact(name),
            value=redact(str(exc.args[0])),
        )
        return None


def explicit_duration(
    cooldown_for: Callable[[Exception], object], name: str, error: Exception
) -> float | None:
    """What `cooldown_for(error)` says: seconds, or None for the usual rules.

    A callable that raises or answers something other than None or a number
    >= 0 (an infinity is clamped as a hint is) is logged (WARNING "cooldown_for
    ignored") and the usual rules apply: a policy's bug never hides the error.
    """
    try:
        seconds = cooldown_for(error)
    except Exception as exc:  # noqa: BLE001 - logged; the usual rules apply
        problem = f"it raised {type(exc).__name__}: {exc}"
    else:
        if seconds is None:
            return None
        if isinstance(seconds, int | float) and not isinstance(seconds, bool):
            try:
                value = float(seconds)
            except OverflowError:
                value = math.inf
            if value >= 0.0:  # NaN fails this; an infinity is clamped by the tracker
                return min(value, HUGE)
        problem = f"it returned {seconds!r}, not None or seconds >= 0"
    if _log.wants(__name__, _log.WARNING):
        _log.logger.warning(
            _log.template(_log.COOLDOWN_FOR_IGNORED), provider=redact(name), problem=redact(problem)
        )
    return None
