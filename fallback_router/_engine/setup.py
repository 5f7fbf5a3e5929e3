"""What a call needs of its router, frozen: `Setup` (the engine never sees a `Router`)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from fallback_router._config import Config
from fallback_router._lease import Gate
from fallback_router._providers import Providers, normalize
from fallback_router._quota import Quota
from fallback_router._routing import Affinity
from fallback_router._sdk_clients import ClientCheck
from fallback_router._state.limits import ConcurrencyLimiter
from fallback_router._state.ratelimit import RateLimiter, TokenGate
from fallback_router._strategies import Planner
from fallback_router._tracker import CooldownTracker, TrackerCapabilities

from .record import Recorder
from .stats import Stats

__all__ = ["Pool", "Setup", "call_ids", "gates_of"]


class Pool(Protocol):
    """The sync driver's worker pool (`fallback_router._drivers.worker.Workers`).

    The driver's own, kept with the router's setup; the engine never runs anything in it.
    """

    def submit(self, job: Any, /) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """A router's configuration and its shared state, as the engine and drivers see it.

    `tracker` is None when the strategy records nothing; `abandoned` exists when
    attempts can be abandoned (time limits or hedging); `limits` tells whether a
    sync attempt must run in a worker thread.
    """

    #: What the router was told, validated: the one configuration object (read, not copied).
    config: Config
    planner: Planner
    #: The configured tracker, or None when the strategy records nothing.
    tracker: CooldownTracker | None
    caps: TrackerCapabilities | None
    #: The per-attempt gates, taken in order (the limiter's slot, then a token).
    gates: tuple[Gate, ...]
    abandoned: ConcurrencyLimiter | None
    #: `respect_retry_after=` with a tracker to hold the hints (else False).
    respect_retry_after: bool
    #: Token quotas (the rate limiter holds some), else None.
    quota: Quota | None
    #: `stream_failover="buffer"`.
    buffer: bool
    recorder: Recorder
    stats: Stats
    affinity: Affinity
    call_ids: Iterator[int]
    #: The sync driver's pool (time limits and hedging run attempts in its threads).
    workers: Pool
    clients: ClientCheck
    #: Functions already warned about being called on an event loop's thread.
    warned: set[str] = field(default_factory=set[str])

    #: Derived once (frozen), read per call: a sync attempt runs in a worker thread (a
    #: time limit or hedging is set); a candidate passes gates; a gate waits on the network.
    limits: bool = field(init=False)
    gated: bool = field(init=False)
    gates_io: bool = field(init=False)

    def __post_init__(self) -> None:
        config = self.config
        limits = (
            config.timeout is not None
            or config.attempt_timeout is not None
            or config.hedge_after is not None
        )
        object.__setattr__(self, "limits", limits)
        rates = config.rate_limits
        gated = config.limiter is not None or rates is not None or self.abandoned is not None
        object.__setattr__(self, "gated", gated)
        # A rate limiter that waits on the network is asked through `Io`.
        object.__setattr__(self, "gates_io", bool(getattr(rates, "blocking", False)))

    def providers(self) -> Providers:
        """The current `(names, objects)`; reads a `providers` callable."""
        config = self.config
        if config.static is not None:
            return config.static
        assert config.dynamic is not None  # noqa: S101 - one of the two is always set
        providers = normalize(config.dynamic())
        self.stats.bound(providers[0])
        self.clients.check(*providers)
        return providers

    def blocking(self) -> bool:
        """Some component waits on the network (async drivers then call it off the loop)."""
        counter = self.planner.counter
        return bool(
            (self.caps is not None and self.caps.blocking)
            or getattr(self.config.rate_limits, "blocking", False)
            or (counter is not None and getattr(counter, "blocking", False))
        )


def call_ids() -> Iterator[int]:
    """Call ids for one router: unique within the process (a random 40-bit start)."""
    import random  # noqa: PLC0415 - once per router

    return itertools.count(random.getrandbits(40) << 20)


def gates_of(
    limiter: ConcurrencyLimiter | None, rates: RateLimiter | None, quota: Quota | None = None
) -> tuple[Gate, ...]:
    """A router's per-attempt gates, in the order they are taken (slot, then token).

    A new gate is one class with `take(name)` (see `fallback_router._lease`) and one
    option that adds it here. With token quotas (`quota`), the rate limiter's gate is
    the quota: its lease is the attempt's reservation, settled when the attempt ends.
    """
    gates: list[Gate] = []
    if limiter is not None:
        gates.append(limiter)
    if quota is not None:
        gates.append(quota)
    elif rates is not None:
        gates.append(TokenGate(rates))
    return tuple(gates)
