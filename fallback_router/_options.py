"""The router's keyword options, typed once for `Router(...)` and `routed(...)`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypedDict

import tenacity

from ._classify import ErrorMatcher
from ._events import EventHook
from ._state.budget import RetryBudget
from ._state.counters import RoundRobinCounter
from ._state.limits import ConcurrencyLimiter
from ._strategies import Strategy, StrategyObject
from ._tracker import CooldownTracker

__all__ = ["DEFAULTS", "RouterOptions"]


class RouterOptions(TypedDict, total=False):
    """Every keyword option of `Router` and `routed` (see `Router` for each)."""

    strategy: Strategy | str | StrategyObject
    cooldown: float | CooldownTracker | None
    exempt: Iterable[str]
    fallback_on: ErrorMatcher
    cooldown_on: ErrorMatcher | None
    reraise: bool
    timeout: float | None
    attempt_timeout: float | None
    first_item_timeout: float | None
    idle_timeout: float | None
    stream_failover: str | None
    hedge_after: float | None
    wait_for_cooldown: bool
    accept: Callable[[Any], object] | None
    rate_limits: Mapping[str, Any] | Any | None
    retry_budget: RetryBudget | None
    retry: tenacity.Retrying | None
    counter: RoundRobinCounter | None
    clock: Callable[[], float] | None
    on_event: EventHook | Sequence[EventHook] | None
    max_concurrency: int | Mapping[str, int] | ConcurrencyLimiter | None
    max_abandoned: int
    redact: Callable[[str], str] | None
    affinity_size: int
    affinity_ttl: float
    cooldown_for: Callable[[Exception], float | None] | None
    respect_retry_after: bool
    usage_of: Callable[[Any], int | None] | None
    estimate_tokens: Callable[..., int] | None


#: The value of every option not given.
DEFAULTS: dict[str, Any] = {
    "strategy": Strategy.FALLBACK,
    "cooldown": 60.0,
    "exempt": (),
    "fallback_on": Exception,
    "cooldown_on": None,
    "reraise": False,
    "timeout": None,
    "attempt_timeout": None,
    "first_item_timeout": None,
    "idle_timeout": None,
    "stream_failover": None,
    "hedge_after": None,
    "wait_for_cooldown": False,
    "accept": None,
    "rate_limits": None,
    "retry_budget": None,
    "retry": None,
    "counter": None,
    "clock": None,
    "on_event": None,
    "max_concurrency": None,
    "max_abandoned": 64,
    "redact": None,
    "affinity_size": 10_000,
    "affinity_ttl": 600.0,
    "cooldown_for": None,
    "respect_retry_after": False,
    "usage_of": None,
    "estimate_tokens": None,
}
