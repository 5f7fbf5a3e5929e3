"""Load-spreading strategies: `Weighted`, `LeastBusy` and `LeastLatency`."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, ClassVar, cast

from ._errors import InvalidConfigError
from ._state.counters import RoundRobinCounter
from ._state.serial import Serial
from ._strategies import Benched, Planner, StrategyObject

__all__ = ["LeastBusy", "LeastLatency", "Weighted", "smooth_schedule"]

#: The longest schedule `Weighted` builds (weights are scaled down beyond it).
MAX_SCHEDULE = 10_000

#: `LeastLatency`: one sample raises an estimate at most MAX_RISE-fold or by MIN_RISE s,
#: whichever is more (an estimate of 0 can still rise).
MAX_RISE, MIN_RISE = 2.0, 0.001


def smooth_schedule(weights: Sequence[int]) -> tuple[int, ...]:
    """One period of smooth weighted round-robin over integer `weights` (indices).

    Every run of `sum(weights)` picks holds each index exactly `w` times, spread
    out (nginx's smooth weighted round-robin).
    """
    total = sum(weights)
    current = [0] * len(weights)
    out: list[int] = []
    for _ in range(total):
        for i, w in enumerate(weights):
            current[i] += w
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        out.append(best)
    return tuple(out)


def _integers(weights: Sequence[float]) -> list[int]:
    """Scale positive finite weights of any size to integers with the same proportions.

    Weights are taken relative to the largest (so `1e-9` and `1e300` scale alike);
    proportions that are small fractions (denominators up to 1,000, a schedule up to
    `MAX_SCHEDULE` long) are kept exactly; any others are rounded over a schedule of
    about `MAX_SCHEDULE` turns, every provider keeping at least one turn.
    """
    top = max(weights)
    ratios = [w / top for w in weights]  # in (0, 1]; a subnormal share may round to 0
    fractions = [Fraction(r).limit_denominator(1000) for r in ratios]
    scale = math.lcm(*(f.denominator for f in fractions))
    ints = [int(f * scale) for f in fractions]
    exact = all(
        i > 0 and math.isclose(i / scale, r, rel_tol=1e-9)
        for i, r in zip(ints, ratios, strict=True)
    )
    if not exact or sum(ints) > MAX_SCHEDULE:
        factor = MAX_SCHEDULE / math.fsum(ratios)
        ints = [max(1, round(r * factor)) for r in ratios]
    divisor = math.gcd(*ints)
    return [i // divisor for i in ints]


def _check_weights(weights: object) -> dict[str, float]:
    if not isinstance(weights, Mapping) or not weights:
        msg = f"Weighted needs a non-empty mapping name -> weight, got {weights!r}"
        raise InvalidConfigError(msg)
    checked: dict[str, float] = {}
    for name, value in cast("Mapping[object, object]", weights).items():
        if not isinstance(name, str):
            msg = f"Weighted: weight keys must be provider names, got {name!r}"
            raise InvalidConfigError(msg)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        try:
            ok = ok and math.isfinite(cast("float", value)) and cast("float", value) > 0
        except OverflowError:  # an int too large for a float (10**400)
            ok = False
        if not ok:
            msg = f"Weighted: the weight of {name!r} must be a positive number, got {value!r}"
            raise InvalidConfigError(msg)
        checked[name] = float(cast("float", value))
    return checked


class _WeightedPlanner(Planner):
    name = "weighted"
    fixed_first = False

    def __init__(self, weights: dict[str, float], failover: bool) -> None:
        self.weights = weights
        self.failover = failover
        self.uses_cooldown = failover
        self._ticks = itertools.count()
        self._schedules: dict[tuple[str, ...], tuple[int, ...]] = {}

    def schedule(self, names: tuple[str, ...], check: bool = True) -> tuple[int, ...]:
        """The pick schedule for `names` (built once per provider list or healthy subset)."""
        found = self._schedules.get(names)
        if found is None:
            unknown = set(self.weights) - set(names)
            missing = [n for n in names if n not in self.weights]
            if (unknown and check) or missing:
                msg = (
                    f"Weighted: weights must name every provider exactly; unknown: "
                    f"{sorted(unknown)}, missing: {missing}"
                )
                raise InvalidConfigError(msg)
            found = smooth_schedule(_integers([self.weights[n] for n in names]))
            if len(self._schedules) > 16:  # a providers callable changing its names
                self._schedules.clear()
            self._schedules[names] = found
        return found

    def pick(self, names: tuple[str, ...], tick: int) -> int:
        del tick  # the schedule's own position counts
        schedule = self._schedules.get(names) or self.schedule(names)
        return schedule[next(self._ticks) % len(schedule)]

    def order(self, names: tuple[str, ...], tick: int, benched: Benched | None) -> list[int]:
        del tick
        n = len(names)
        schedule = self.schedule(names)
        healthy = tuple(i for i in range(n) if benched is None or not benched(i))
        if 0 < len(healthy) < n:  # the healthy ones keep their proportions among themselves
            key = tuple(names[i] for i in healthy)
            sub = self._schedules.get(key) or self.schedule(key, check=False)
            pick = healthy[sub[next(self._ticks) % len(sub)]]
            # The benched ones come first: the walk passes them over and counts the skips.
            rest = (i for i in healthy if i != pick)
            return [*(i for i in range(n) if i not in healthy), pick, *rest]
        pick = schedule[next(self._ticks) % len(schedule)]
        return [pick, *(i for i in range(n) if i != pick)]

    def after(
        self, names: tuple[str, ...], first: int, tick: int, benched: Benched | None
    ) -> list[int]:
        del tick, benched
        return [first, *(i for i in range(len(names)) if i != first)]

    def describe(self, name: str) -> dict[str, Any]:
        return {"weight": self.weights.get(name)}


@dataclass(frozen=True, slots=True)
class Weighted(StrategyObject):
    """Spread calls over providers in proportion to `weights`, deterministically.

    Smooth weighted round-robin: with integer weights every run of
    `sum(weights)` calls starts exactly `w` of them on each provider (while none
    is benched; a benched provider's turns go to the next healthy ones in the
    schedule, so the others keep their proportions). Non-integer weights are
    scaled to integers (denominators up to 1,000; a schedule longer than 10,000
    is scaled down).

    Args:
        weights: provider name -> positive number; must name every provider.
        failover: walk the remaining providers as fallback does (default True),
            or make one attempt.

    Version:
        Added in 0.3.0.
    """

    name: ClassVar[str] = "weighted"
    weights: Mapping[str, float]
    failover: bool = True

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router (checks `weights` against fixed `names`)."""
        del counter
        planner = _WeightedPlanner(_check_weights(self.weights), _flag(self.failover))
        if names is not None:
            planner.schedule(tuple(names))
        return planner


class _BusyPlanner(Planner):
    name = "least_busy"
    fixed_first = False
    tracks = True

    def __init__(self, failover: bool) -> None:
        self.failover = failover
        self.uses_cooldown = failover
        self.in_flight: dict[str, int] = {}
        # Counts change under a lock that `ended` (run by finalizers too) never waits for.
        self._serial: Serial[tuple[str, int]] = Serial(self._count)

    def _count(self, change: tuple[str, int]) -> None:
        name, delta = change
        left = self.in_flight.get(name, 0) + delta
        if left > 0:
            self.in_flight[name] = left
        else:
            self.in_flight.pop(name, None)

    def order(self, names: tuple[str, ...], tick: int, benched: Benched | None) -> list[int]:
        del tick, benched
        busy = self.in_flight
        return sorted(range(len(names)), key=lambda i: busy.get(names[i], 0))

    def started(self, name: str) -> None:
        self._serial.submit((name, 1))

    def ended(self, name: str) -> None:
        self._serial.submit((name, -1))

    def describe(self, name: str) -> dict[str, Any]:
        return {"in_flight": self.in_flight.get(name, 0)}


@dataclass(frozen=True, slots=True)
class LeastBusy(StrategyObject):
    """Start each call on the provider with the fewest calls in flight through this router.

    Ties go in list order. With `failover=True` (default) the call then walks
    the others, least busy first, as fallback does.

    Version:
        Added in 0.3.0.
    """

    name: ClassVar[str] = "least_busy"
    failover: bool = True

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router."""
        del counter, names
        return _BusyPlanner(_flag(self.failover))


class _LatencyPlanner(Planner):
    name = "least_latency"
    fixed_first = False
    tracks = True

    def __init__(self, failover: bool, explore: float, alpha: float) -> None:
        self.failover = failover
        self.uses_cooldown = failover
        self.every = round(1 / explore) if explore > 0 else 0
        self.alpha = alpha
        self._calls = itertools.count(1)
        self.calls = 0  # calls planned so far (approximate under threads: for staleness)
        self.estimates: dict[str, float] = {}
        self.sampled: dict[str, int] = {}  # name -> the call count at its latest sample

    def order(self, names: tuple[str, ...], tick: int, benched: Benched | None) -> list[int]:
        del tick
        n, est = len(names), self.estimates
        now = self.calls = next(self._calls)
        ranked = sorted(range(n), key=lambda i: est.get(names[i], -math.inf))
        if self.every and now % self.every == 0 and n > 1:
            # Exploration: the provider sampled longest ago goes first (not benched).
            others = [i for i in ranked[1:] if benched is None or not benched(i)]
            if others:
                stale = min(others, key=lambda i: self.sampled.get(names[i], -1))
                ranked.remove(stale)
                ranked.insert(0, stale)
        return ranked

    def after(
        self, names: tuple[str, ...], first: int, tick: int, benched: Benched | None
    ) -> list[int]:
        del tick, benched
        est = self.estimates
        ranked = sorted(range(len(names)), key=lambda i: est.get(names[i], -math.inf))
        return [first, *(i for i in ranked if i != first)]

    def observed(self, name: str, latency: float) -> None:
        old = self.estimates.get(name)
        latency = max(0.0, latency)
        if old is None:
            self.estimates[name] = latency
        else:
            new = old + self.alpha * (latency - old)
            # One sample moves the estimate up by a bounded factor: an outlier cannot
            # exile a provider for longer than a few explorations.
            self.estimates[name] = min(new, max(old * MAX_RISE, old + MIN_RISE))
        self.sampled[name] = self.calls

    def censored(self, name: str, at_least: float) -> None:
        """An attempt on `name` lost a hedge after `at_least` seconds: slower than that.

        A censored sample: it raises an estimate below `at_least` as a sample of
        `at_least` would (bounded the same way), and gives a provider without a
        sample its first estimate.
        """
        old = self.estimates.get(name)
        if old is None or at_least > old:
            self.observed(name, at_least)
        else:
            self.sampled[name] = self.calls

    def describe(self, name: str) -> dict[str, Any]:
        return {"latency_estimate": self.estimates.get(name)}


@dataclass(frozen=True, slots=True)
class LeastLatency(StrategyObject):
    """Start each call on the provider with the lowest recent latency.

    The estimate is an exponentially weighted average of successful attempts'
    latencies (time to first item for streams; weight `alpha` for the newest
    sample). Providers without a sample go first. One call in `1 / explore`
    (default 5 %) starts on the provider sampled longest ago, so estimates stay
    current. One sample raises an estimate at most twofold: a provider that
    slows down loses its traffic within a few of its calls, and after a single
    outlier, however long, its estimate is at most twice its usual latency, each
    exploration taking `alpha` of the excess off (a provider at 100 ms beside one
    at 150 ms serves again from its second exploration: within 40 calls). With
    `hedge_after=`, an attempt that loses the race counts as a censored sample:
    slower than the time it ran.

    Args:
        failover: walk the others, fastest first, as fallback does (default True).
        explore: share of calls that start elsewhere (0 to 0.5; default 0.05).
        alpha: weight of the newest sample in the average (0 < alpha <= 1; 0.3).

    Version:
        Added in 0.3.0.
    """

    name: ClassVar[str] = "least_latency"
    failover: bool = True
    explore: float = 0.05
    alpha: float = field(default=0.3)

    def bind(self, counter: RoundRobinCounter, names: Sequence[str] | None) -> Planner:
        """Return a planner for one router."""
        del counter, names
        explore, alpha = self.explore, self.alpha
        if not isinstance(explore, int | float) or not 0 <= explore <= 0.5:
            msg = f"LeastLatency(explore=) must be between 0 and 0.5, got {explore!r}"
            raise InvalidConfigError(msg)
        if not isinstance(alpha, int | float) or not 0 < alpha <= 1:
            msg = f"LeastLatency(alpha=) must be in (0, 1], got {alpha!r}"
            raise InvalidConfigError(msg)
        return _LatencyPlanner(_flag(self.failover), float(explore), float(alpha))


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        msg = f"failover must be a bool, got {value!r}"
        raise InvalidConfigError(msg)
    return value
