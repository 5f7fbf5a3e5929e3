"""One provider's row of `router.status()`: `ProviderStatus`, its `to_dict()` and pickling."""

from __future__ import annotations

import datetime as dt
import pickle
from dataclasses import dataclass, fields
from typing import Any

from fallback_router._redact import redact

from .reprs import error_repr, name_repr, record_repr
from .text import describe

__all__ = ["ProviderStatus", "error_text"]


def error_text(error: Exception | None) -> str:
    """`"TypeName: message"` of a row's error, redacted (`""` for None)."""
    return redact(describe(error))


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderStatus:
    """One provider's row in [`Status`][fallback_router.Status].

    Attributes:
        name: the provider's name.
        available: False while in cooldown (or while another call's half-open
            probe holds the provider).
        cooldown_remaining: seconds of cooldown left.
        cooldown_length: the latest cooldown's full length (0.0: never had one).
        half_open: a cooldown has ended and no success has cleared it yet.
        consecutive_failures: as counted by the tracker; while benched, the count
            that tripped the cooldown.
        window_failures: counted failures over the tracker's failure-ratio window
            (its last `sampling` seconds; 0 without a `failure_ratio`).
        window_outcomes: counted outcomes (failures and successes) over that window.
        failure_ratio: `window_failures / window_outcomes`, None without outcomes
            (a tracker without `failure_ratio=` keeps no window).
        successes: this router's successes since creation or `reset()`.
        failures: this router's failures.
        skips: how often calls passed the provider over.
        last_error: the latest error, scrubbed (no traceback, no request or
            response objects, secrets redacted).
        last_latency: seconds of the latest attempt.
        last_failure_at: wall-clock time of the latest failure (UTC), or None.
        in_flight: calls in flight now (`max_concurrency` or `LeastBusy`).
        weight: the provider's weight under `Weighted`, else None.
        latency_estimate: `LeastLatency`'s estimate in seconds, else None.
        tokens: request tokens left (its request limit's bucket), or None
            without one.
        quota_tokens: LLM tokens left in its token quota (`TokenLimit`; the
            emptiest if several; negative while in debt), or None without one.

    Version:
        Added in 0.1.0. Changed in 0.2.0: `cooldown_length` and `half_open`.
        Changed in 0.3.0: `skips`, `last_failure_at`, `in_flight`, `weight`,
        `latency_estimate`, `tokens`, `quota_tokens`, `window_failures`,
        `window_outcomes`, `failure_ratio`.
    """

    name: str
    available: bool
    cooldown_remaining: float
    cooldown_length: float = 0.0
    half_open: bool = False
    consecutive_failures: int
    window_failures: int = 0
    window_outcomes: int = 0
    failure_ratio: float | None = None
    successes: int
    failures: int
    skips: int = 0
    last_error: Exception | None
    last_latency: float | None
    last_failure_at: dt.datetime | None = None
    in_flight: int = 0
    weight: float | None = None
    latency_estimate: float | None = None
    tokens: float | None = None
    quota_tokens: float | None = None

    def __repr__(self) -> str:
        """The fields, with the provider name and the last error redacted (DESIGN §8b)."""
        return record_repr(
            self,
            [f.name for f in fields(self)],
            {"name": name_repr(self.name), "last_error": error_repr(self.last_error)},
        )

    def to_dict(self) -> dict[str, Any]:
        """This row as plain JSON-ready data: its field names as keys.

        `name` and `last_error` are redacted text (`last_error`: `"TypeName:
        message"`, None without an error); durations are seconds and
        `last_failure_at` is seconds since the Unix epoch (UTC), or None. Ready for
        `json.dumps` and `pickle`, whatever the provider's error was.

        Version:
            Added in 0.3.0.
        """
        failed_at = self.last_failure_at
        return {
            "name": redact(self.name),
            "available": self.available,
            "cooldown_remaining": float(self.cooldown_remaining),
            "cooldown_length": float(self.cooldown_length),
            "half_open": self.half_open,
            "consecutive_failures": self.consecutive_failures,
            "window_failures": self.window_failures,
            "window_outcomes": self.window_outcomes,
            "failure_ratio": self.failure_ratio,
            "successes": self.successes,
            "failures": self.failures,
            "skips": self.skips,
            "last_error": None if self.last_error is None else error_text(self.last_error),
            "last_latency": self.last_latency,
            "last_failure_at": None if failed_at is None else failed_at.timestamp(),
            "in_flight": self.in_flight,
            "weight": self.weight,
            "latency_estimate": self.latency_estimate,
            "tokens": self.tokens,
            "quota_tokens": self.quota_tokens,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with `last_error` kept when it survives a round trip, else as text.

        A provider's error type may not rebuild from its pickled state (SDK errors
        whose `__init__` needs keyword arguments); the row then carries a
        `RuntimeError` holding the redacted `"TypeName: message"` instead.
        """
        state = {f: getattr(self, f) for f in _FIELDS}
        error = self.last_error
        if error is not None:
            try:
                pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, just made
            except Exception:  # noqa: BLE001 - any failure to round-trip means "as text"
                state["last_error"] = RuntimeError(error_text(error))
        return (_rebuild_row, (state,))


def _rebuild_row(state: dict[str, Any]) -> ProviderStatus:
    return ProviderStatus(**state)


_FIELDS = tuple(f.name for f in fields(ProviderStatus))
