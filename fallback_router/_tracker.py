"""The cooldown tracker protocol, its optional capabilities and `CooldownState`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["CooldownState", "CooldownTracker", "TrackerCapabilities"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CooldownState:
    """What a tracker remembers of one provider (a value of `snapshot()`).

    Attributes:
        remaining: the cooldown left in seconds (0.0 when available; while a
            half-open probe is in flight, the longest it may still hold the
            provider).
        consecutive_failures: the counted failures in a row; while the provider
            is benched, the count that tripped its cooldown.
        level: how many times the cooldown has escalated in a row (0 = base).
        length: the length of the latest cooldown in seconds.
        half_open: True once a cooldown has ended but no success has cleared the
            provider yet.
        window_failures: counted failures over the failure-ratio window (0 without
            a `failure_ratio`).
        window_outcomes: counted outcomes (failures and successes) over that window.

    Version:
        Added in 0.1.0. Changed in 0.2.0: `length` and `half_open`. Changed in
        0.3.0: `consecutive_failures` keeps the tripping count while benched;
        `window_failures` and `window_outcomes`.
    """

    remaining: float
    consecutive_failures: int
    level: int
    length: float = 0.0
    half_open: bool = False
    window_failures: int = 0
    window_outcomes: int = 0

    @property
    def failure_ratio(self) -> float | None:
        """`window_failures / window_outcomes`, None without outcomes in the window."""
        return self.window_failures / self.window_outcomes if self.window_outcomes else None


@runtime_checkable
class CooldownTracker(Protocol):
    """What the router needs from a cooldown tracker; bring your own or use ours.

    Optional capabilities, used when present (see the Cooldowns guide):

    - `remaining_many(names) -> Sequence[float]`: plan a call from one bulk read.
      An empty sequence says that none of `names` has any state.
    - `try_probe(name, ttl=None)`: half-open probing. Returns True when this
      caller now holds the provider's single probe, False while another caller's
      probe is in flight, None when there is nothing to probe (go ahead), or a
      float > 0: the provider is in cooldown for that many seconds (the caller's
      view was stale; it skips the provider). `ttl` bounds how long the claim
      lasts if the prober dies. A claimed probe is released by `record_success`,
      a counted `record_failure` or `end_probe(name)`; `hold_probe(name)` keeps
      it claimed for the tracker's `probe_ttl` from now (a sync attempt its call
      abandoned still runs: the router releases the probe when it ends).
    - `record_success(name, clears_cooldown=True)`: with False (a call that saw
      the provider available), a cooldown or probe set meanwhile is kept.
    - `quiet_until`: an attribute; clock time until which no provider has any
      state, so the router's happy path needs no read at all (`math.inf` for a
      tracker that is told of every change, `-math.inf` while any state exists).
      Compared with the router's clock when the tracker's `clock` attribute is
      the router's.
    - `watch(names)`: the router announces its fixed provider names once.
    - `has_state(name)`: whether `name` has any state (without claiming anything);
      with it, a call that finds some providers benched skips them on the happy path.
    - `counts_successes`: an attribute, True when the tracker needs every success
      reported (a failure ratio counts them): it then never reads as quiet, its
      `remaining_many` never answers empty, and the router serves its calls on the
      general path (`has_state` is not used).
    - `blocking`: True when methods may wait on the network; async routers then
      call them in a worker thread (`peek(names)` answers without I/O, or None).
    - `record_failure(name, error, duration=None)`: with `duration` (seconds, from
      the router's `cooldown_for=`) the cooldown this failure starts lasts that
      long instead of the hint's or the tracker's own length (clamped to
      `max_duration`, or one hour) and counts as benched by a hint. Needed by
      `cooldown_for=`.
    - `hinted(names) -> Sequence[float]`: the seconds each name stays benched by
      an explicit hint (a Retry-After-like header or `cooldown_for=`), 0.0 for
      none. Needed by `respect_retry_after=True`.

    Version:
        Added in 0.1.0. Changed in 0.2.0: `record_failure` returns the cooldown
        length (0.0 for none); a tracker that still returns a bool works, the
        router then asks `remaining`. Changed in 0.3.0: the capabilities above
        (`counts_successes` with the failure ratio).
    """

    def is_available(self, name: str) -> bool:
        """Return True when `name` is not in cooldown."""
        ...

    def remaining(self, name: str) -> float:
        """Return the seconds of cooldown left for `name` (0.0 when available)."""
        ...

    def record_failure(self, name: str, error: BaseException) -> float:
        """Count a failure; return the cooldown it started in seconds, 0.0 for none."""
        ...

    def record_success(self, name: str) -> None:
        """Clear `name`'s failure count, escalation and cooldown."""
        ...

    def reset(self, name: str | None = None) -> None:
        """Forget everything about `name`, or about every provider."""
        ...

    def snapshot(self) -> Mapping[str, CooldownState]:
        """Return the providers that still have state."""
        ...


def _accepts(method: object, parameter: str) -> bool:
    try:
        return parameter in inspect.signature(method).parameters  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False


def _seconds(value: object) -> float:
    """A tracker's `probe_ttl`, or the default 30 s when it has none (or a strange one)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 30.0


@dataclass(frozen=True, slots=True)
class TrackerCapabilities:
    """What a tracker offers beyond the protocol, looked up once per router."""

    remaining_many: Callable[[Sequence[str]], Sequence[float]] | None
    try_probe: Callable[..., Any] | None
    end_probe: Callable[[str], None] | None
    hold_probe: Callable[[str], None] | None
    #: Seconds an abandoned attempt may keep its probe claimed (the tracker's `probe_ttl`).
    probe_hold: float
    probe_ttl: bool
    keeps_cooldown: bool
    blocking: bool
    peek: Callable[[Sequence[str]], Sequence[float] | None] | None
    has_state: Callable[[str], bool] | None
    explicit_duration: bool
    hinted: Callable[[Sequence[str]], Sequence[float]] | None

    @classmethod
    def of(cls, tracker: object) -> TrackerCapabilities:
        """Inspect `tracker` (duck-typed; third-party trackers opt in by defining names)."""
        try_probe = getattr(tracker, "try_probe", None)
        record_success = getattr(tracker, "record_success", None)
        counts = getattr(tracker, "counts_successes", False) is True  # every success matters
        return cls(
            remaining_many=getattr(tracker, "remaining_many", None),
            try_probe=try_probe,
            end_probe=getattr(tracker, "end_probe", None),
            hold_probe=getattr(tracker, "hold_probe", None),
            probe_hold=_seconds(getattr(tracker, "probe_ttl", None)),
            probe_ttl=try_probe is not None and _accepts(try_probe, "ttl"),
            keeps_cooldown=_accepts(record_success, "clears_cooldown"),
            blocking=getattr(tracker, "blocking", False) is True,
            peek=getattr(tracker, "peek", None),
            has_state=None if counts else getattr(tracker, "has_state", None),
            explicit_duration=_accepts(getattr(tracker, "record_failure", None), "duration"),
            hinted=getattr(tracker, "hinted", None),
        )
