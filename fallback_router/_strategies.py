"""Routing strategies: the `Strategy` names, strategy objects and their planners.

A strategy object is configuration; a router binds it to a *planner* of its own
(`bind`), which holds the mutable part (a rotation, weights, estimates) and
decides the order of the providers for one call. Planning is pure apart from
that state: it never blocks and never does I/O (a counter that waits on the
network is ticked by the driver and its value passed in).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from ._errors import InvalidConfigError
from ._state.counters import RoundRobinCounter

__all__ = [
    "Fallback",
    "Planner",
    "PrimaryOnly",
    "RoundRobin",
    "Strategy",
    "StrategyObject",
]

#: Tells the planner whether provider `index` is benched for this call.
Benched = Callable[[int], bool]


class Strategy(StrEnum):
    """How a router picks providers; the string values are accepted everywhere.

    Each name is the default of a strategy object:
    `"fallback"` is [`Fallback()`][fallback_router.Fallback], `"primary_only"`
    [`PrimaryOnly()`][fallback_router.PrimaryOnly] and `"round_robin"`
    [`RoundRobin(failover=False)`][fallback_router.RoundRobin].

    Version:
        Added in 0.1.0.
    """

    #: Call the first provider once; cooldown is neither consulted nor recorded.
    PRIMARY_ONLY = "primary_only"
    #: Try providers in order, skipping those in cooldown except the terminus.
    FALLBACK = "fallback"
    #: One attempt on `providers[i % n]` from a shared, lock-guarded counter.
    ROUND_ROBIN = "round_robin"

    @classmethod
    def parse(cls, value: object) -> Strategy:
        """Return the strategy for `value` or raise `InvalidConfigError`."""
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        choices = ", ".join(repr(s.value) for s in cls)
        msg = (
            f"unknown strategy {value!r}: choose one of {choices} or a strategy object "
            f"(Fallback, PrimaryOnly, RoundRobin, Weighted, LeastBusy, LeastLatency, Tiers)"
        )
        raise InvalidConfigError(msg)


class Planner:
    """A router's strategy state: orders providers for one call.

    Attributes:
        name: the strategy's name (in events and spans).
        failover: walk the whole order as fallback does (else one attempt).
        uses_cooldown: consult and record the cooldown tracker.
        tracks: wants `started`/`ended`/`observed` notifications.
        counter: the round-robin counter whose tick `order` uses, if any.
    """

    name = "fallback"
    failover = True
    uses_cooldown = True
    tracks = False
    counter: RoundRobinCounter | None = None

    def order(self, names: tuple[str, ...], tick: int, benched: Benched | None) -> list[int]:
        """The provider indices for one call, first choice first."""
        del tick, benched
        return list(range(len(names)))

    #: `pick` is `tick % len(names)` (round robin): the happy path inlines it.
    rotates = False

    def pick(self, names: tuple[str, ...], tick: int) -> int:
        """The first provider of a call while none is benched (the happy path)."""
        return self.order(names, tick, None)[0]

    def after(
        self, names: tuple[str, ...], first: int, tick: int, benched: Benched | None
    ) -> list[int]:
        """The order of a call whose first provider, `first`, was picked already.

        Used once the happy path's pick failed: the rest of the call follows the
        strategy without a second pick (no schedule turn or exploration spent).
        """
        order = self.order(names, tick, benched)
        if first in order:  # C-level moves: no generator on the failure path
            order.remove(first)
        order.insert(0, first)
        return order

    #: `pick` always answers 0 (the happy path then skips it).
    fixed_first = True

    def started(self, name: str) -> None:
        """An attempt on `name` starts (only called when `tracks`)."""

    def ended(self, name: str) -> None:
        """An attempt on `name` ended (only called when `tracks`)."""

    def observed(self, name: str, latency: float) -> None:
        """`name` served a call in `latency` seconds (only called when `tracks`)."""

    def censored(self, name: str, at_least: float) -> None:
        """An attempt on `name` lost a hedge after `at_least` seconds (when `tracks`)."""

    def describe(self, name: str) -> dict[str, Any]:
        """Strategy-relevant state of `name` for `status()` (weight, estimates...)."""
        del name
        return {}


class _OneAttempt(Planner):
    name = "primary_only"
    failover = False
    uses_cooldown = False

    def order(self, names: tuple[str, ...], tick: int, benched: Benched | None) -> list[int]:
        del names, tick, benched
        return [0]


class _Rotation(Planner):
    """Round-robin: one attempt on the next provider, or a rotation with failover."""

    name = "round_robin"
    fixed_first = False
    rotates = True

    def pick(self, names: tuple[str, ...], tick: int) -> int:
        return tick % len(names)

    def __init__(self, counter: RoundRobinCounter, failover: bool) -> None:
        self.counter = counter
        self.failover = failover
        self.uses_cooldown = failover

    def order(self, names: tuple[str, ...], tick: int, benched: Benched | None) -> list[int]:
        n = len(names)
        if not self.failover:  # one attempt, on the first of the rotation that has room
            pick = tick % n
            return [*range(pick, n), *range(pick)]
        healthy = list(range(n)) if benched is None else [i for i in range(n) if not benched(i)]
        pick = healthy[tick % len(healthy)] if healthy else tick % n
        rotation = [*range(pick, n), *range(pick)]
        if benched is None or not 0 < len(healthy) < n:
            return rotation
        # The benched ones come first: the walk passes them over and counts the skips,
        # as fallback does; the healthy ones keep sharing the turns evenly.
        return [*(i for i in rotation if benched(i)), *(i for i in rotation if not benched(i))]


class StrategyObject:
    """Base of the strategy objects: configuration a router binds to a planner.

    `name` is the strategy's name in events, spans and reprs (`"fallback"`,
    `"round_robin"`...), the same whichever options the object carries.
    """

    name: ClassVar[str]
    failover: bool = True

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router (`names`: its fixed providers, if any)."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Fallback(StrategyObject):
    """Try providers in list order; skip benched ones; always try the last (terminus).

    Version:
        Added in 0.3.0 (the object form of `"fallback"`).
    """

    name: ClassVar[str] = "fallback"

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router."""
        del counter, names
        return Planner()


@dataclass(frozen=True, slots=True)
class PrimaryOnly(StrategyObject):
    """Call the first provider once; cooldown is neither consulted nor recorded.

    Version:
        Added in 0.3.0 (the object form of `"primary_only"`).
    """

    name: ClassVar[str] = "primary_only"
    failover: bool = False

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router."""
        del counter, names
        return _OneAttempt()


@dataclass(frozen=True, slots=True)
class RoundRobin(StrategyObject):
    """Start each call on the next provider of a shared rotation.

    Args:
        failover: False (default, the `"round_robin"` string): one attempt on
            `providers[i % n]`, no cooldown. True: the rotation runs over the
            providers not benched for this call, so the healthy ones share the
            traffic evenly (one of three down: the other two get half each); the
            call then falls back through the rest in rotation order, as
            `fallback` does — LiteLLM-style load spreading with failover.

    Version:
        Added in 0.3.0.
    """

    name: ClassVar[str] = "round_robin"
    failover: bool = False

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router, ticking `counter`."""
        del names
        if not isinstance(self.failover, bool):
            msg = f"RoundRobin(failover=) must be a bool, got {self.failover!r}"
            raise InvalidConfigError(msg)
        return _Rotation(counter, self.failover)


def parse_strategy(value: object) -> StrategyObject:
    """A strategy object for a `Strategy`, its string value, or a strategy object."""
    if isinstance(value, StrategyObject):
        return value
    strategy = Strategy.parse(value)
    if strategy is Strategy.FALLBACK:
        return Fallback()
    if strategy is Strategy.PRIMARY_ONLY:
        return PrimaryOnly()
    return RoundRobin()
