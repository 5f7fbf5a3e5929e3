"""Priority tiers: [`Tiers`][fallback_router.Tiers], balance over a pool, fall over to the next.

A call's order is the first group's order (as `within` decides it over that
group), then the second group's, and so on; the walk skips benched, saturated and
rate-limited providers as fallback does, so the call moves to the next group
only when every provider of the group before was passed over or failed. The last
provider of the last group's order is the terminus.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

from ._balance import Weighted
from ._errors import InvalidConfigError
from ._rate_specs import shown
from ._state.counters import RoundRobinCounter
from ._strategies import Benched, Planner, RoundRobin, StrategyObject

__all__ = ["Tiers"]


def _groups(groups: tuple[object, ...]) -> tuple[tuple[str, ...], ...]:
    """Validate the groups: non-empty lists of distinct names, each name in one group."""
    if not groups:
        msg = "Tiers needs at least one group of provider names, got none"
        raise InvalidConfigError(msg)
    seen: set[str] = set()
    checked: list[tuple[str, ...]] = []
    for number, group in enumerate(groups, 1):
        if isinstance(group, str) or not isinstance(group, Sequence) or not group:
            msg = (
                f"Tiers group {number} must be a non-empty list of provider names, "
                f"got {shown(groups[number - 1])}"
            )
            raise InvalidConfigError(msg)
        names: list[str] = []
        for item in cast("Sequence[object]", group):
            name = item
            if not isinstance(name, str) or not name:
                msg = f"Tiers group {number} holds {shown(name)}, not a provider name"
                raise InvalidConfigError(msg)
            if name in seen:
                msg = f"Tiers: provider {name!r} is in more than one group (or twice in one)"
                raise InvalidConfigError(msg)
            seen.add(name)
            names.append(name)
        checked.append(tuple(names))
    return tuple(checked)


def _within_for(within: StrategyObject, group: tuple[str, ...]) -> StrategyObject:
    """`within` for one group (a `Weighted` keeps the weights of that group's names)."""
    if isinstance(within, Weighted):
        weights = {name: w for name, w in within.weights.items() if name in group}
        return Weighted(weights, within.failover)
    return within


def _within(benched: Benched, indices: list[int]) -> Benched:
    """`benched` over a group's own positions."""
    return lambda i: benched(indices[i])


class _TiersPlanner(Planner):
    name = "tiers"
    fixed_first = False

    def __init__(
        self,
        groups: tuple[tuple[str, ...], ...],
        within: StrategyObject,
        counter: RoundRobinCounter,
    ) -> None:
        self.groups = groups
        self.planners = [_within_for(within, g).bind(counter, g) for g in groups]
        self.tracks = any(p.tracks for p in self.planners)
        if any(p.counter is not None for p in self.planners):
            self.counter = counter
        #: name -> the planner of its group.
        self.owner = {
            name: planner for group, planner in zip(groups, self.planners, strict=True)
            for name in group
        }  # fmt: skip
        # provider list -> index lists of each group (checked once per list)
        self._layouts: dict[tuple[str, ...], list[list[int]]] = {}

    def layout(self, names: tuple[str, ...]) -> list[list[int]]:
        """The indices of each group in `names`; every provider must be in one group."""
        found = self._layouts.get(names)
        if found is None:
            at = {name: i for i, name in enumerate(names)}
            strays = [name for name in names if name not in self.owner]
            absent = [name for name in self.owner if name not in at]
            if strays or absent:
                msg = (
                    f"Tiers groups must name every provider exactly once; not in any group: "
                    f"{strays}, not a provider: {absent}"
                )
                raise InvalidConfigError(msg)
            found = [[at[name] for name in group] for group in self.groups]
            if len(self._layouts) > 16:  # a providers callable changing its names
                self._layouts.clear()
            self._layouts[names] = found
        return found

    def order(self, names: tuple[str, ...], tick: int, benched: Benched | None) -> list[int]:
        order: list[int] = []
        for indices, planner in zip(self.layout(names), self.planners, strict=True):
            sub = tuple(names[i] for i in indices)
            inner = None if benched is None else _within(benched, indices)
            order.extend(indices[i] for i in planner.order(sub, tick, inner))
        return order

    def started(self, name: str) -> None:
        self.owner[name].started(name)

    def ended(self, name: str) -> None:
        self.owner[name].ended(name)

    def observed(self, name: str, latency: float) -> None:
        self.owner[name].observed(name, latency)

    def censored(self, name: str, at_least: float) -> None:
        self.owner[name].censored(name, at_least)

    def describe(self, name: str) -> dict[str, Any]:
        planner = self.owner.get(name)
        return {} if planner is None else planner.describe(name)


@dataclass(frozen=True, slots=True, init=False)
class Tiers(StrategyObject):
    """Priority tiers: balance over the first group, fall over to the next when it is out.

    `Tiers(["cheap-a", "cheap-b"], ["premium"])` spreads calls over the cheap pool
    with `within`; a call moves on to the premium pool only when every provider of
    the cheap pool is benched, saturated, rate limited or failed for this call. The
    terminus (always tried) is the last provider of the last group's order. The
    walk always fails over (whatever `within.failover` says); `within` orders each
    group on its own (a `Weighted` takes the weights of that group's names).

    Args:
        *groups: lists of provider names, highest priority first; every provider
            in exactly one group.
        within: the strategy object that orders each group (default
            `RoundRobin(failover=True)`).

    Raises:
        InvalidConfigError: an empty or malformed group, a name in two groups, a
            provider in no group or a name that is no provider (at decoration for
            fixed providers, else at call time).

    Version:
        Added in 0.3.0.
    """

    name: ClassVar[str] = "tiers"
    groups: tuple[tuple[str, ...], ...]
    within: StrategyObject = field(default_factory=lambda: RoundRobin(failover=True))

    def __init__(self, *groups: Sequence[str], within: StrategyObject | None = None) -> None:
        object.__setattr__(self, "groups", _groups(groups))
        chosen = RoundRobin(failover=True) if within is None else within
        if not isinstance(chosen, StrategyObject):
            msg = (
                "Tiers within= must be a strategy object such as RoundRobin(failover=True), "
                f"got {shown(chosen)}"
            )
            raise InvalidConfigError(msg)
        object.__setattr__(self, "within", chosen)

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router (checks the groups against fixed `names`)."""
        planner = _TiersPlanner(self.groups, self.within, counter)
        if names is not None:
            planner.layout(tuple(names))
        return planner
