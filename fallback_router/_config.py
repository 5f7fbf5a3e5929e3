"""A router's validated configuration: every argument checked once, when decorating."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import tenacity

from ._classify import default_cooldown_on, to_predicate
from ._errors import InvalidConfigError
from ._events import EventHook
from ._policy import check_seconds
from ._providers import Providers, normalize
from ._redact import Redactor
from ._state.budget import RetryBudget
from ._state.cooldown import InMemoryCooldown
from ._state.counters import InMemoryRoundRobin, RoundRobinCounter
from ._state.limits import ConcurrencyLimiter
from ._state.ratelimit import InMemoryRateLimiter
from ._strategies import StrategyObject, parse_strategy
from ._tracker import CooldownTracker, TrackerCapabilities

__all__ = ["Config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """What a `Router` was told, validated; see `Router` for the meaning."""

    strategy: StrategyObject
    static: Providers | None
    dynamic: Callable[[], object] | None
    tracker: CooldownTracker | None
    exempt: frozenset[str]
    fallback_on: Callable[[Exception], bool]
    cooldown_on: Callable[[Exception], bool]
    reraise: bool
    timeout: float | None
    attempt_timeout: float | None
    first_item_timeout: float | None
    idle_timeout: float | None
    stream_failover: str | None
    hedge_after: float | None
    wait_for_cooldown: bool
    accept: Callable[[Any], object] | None
    rate_limits: Any
    retry_budget: RetryBudget | None
    retry: tenacity.Retrying | None
    counter: RoundRobinCounter
    clock: Callable[[], float] | None
    hooks: tuple[EventHook, ...] | None
    limiter: ConcurrencyLimiter | None
    max_abandoned: int
    redactor: Redactor
    affinity_size: int
    affinity_ttl: float
    cooldown_for: Callable[[Exception], object] | None
    respect_retry_after: bool
    usage_of: Callable[[Any], object] | None
    estimate_tokens: Callable[..., object] | None

    @classmethod
    def build(cls, providers: object, **options: Any) -> Config:
        """Validate every argument; the error names the offending value."""
        _check_kinds(options)
        clock = options["clock"]
        static: Providers | None = None
        dynamic: Callable[[], object] | None = None
        collection = isinstance(providers, Sequence | Mapping)
        if collection or not callable(providers):
            static = normalize(cast("Any", providers))
        else:
            dynamic = cast("Callable[[], object]", providers)
        retry = options["retry"]
        counter = options["counter"]
        if counter is None:
            counter = InMemoryRoundRobin()
        elif not callable(getattr(counter, "next_index", None)):
            msg = f"counter must have a next_index() method, got {counter!r}"
            raise InvalidConfigError(msg)
        seconds = {
            name: None if options[name] is None else check_seconds(name, options[name])
            for name in (
                "timeout",
                "attempt_timeout",
                "first_item_timeout",
                "idle_timeout",
                "hedge_after",
            )
        }
        if options["wait_for_cooldown"] and seconds["timeout"] is None:
            msg = "wait_for_cooldown=True needs timeout= (the wait must fit in a budget)"
            raise InvalidConfigError(msg)
        stream_failover = options["stream_failover"]
        budget = options["retry_budget"]
        typed_clock = cast("Callable[[], float] | None", clock)
        tracker = _tracker(options["cooldown"], typed_clock)
        _check_hint_support(tracker, options["cooldown_for"], options["respect_retry_after"])
        return cls(
            strategy=parse_strategy(options["strategy"]),
            static=static,
            dynamic=dynamic,
            tracker=tracker,
            exempt=_names_of("exempt", options["exempt"], static),
            fallback_on=to_predicate(options["fallback_on"], "fallback_on"),
            cooldown_on=(
                default_cooldown_on
                if options["cooldown_on"] is None
                else to_predicate(options["cooldown_on"], "cooldown_on")
            ),
            reraise=options["reraise"],
            timeout=seconds["timeout"],
            attempt_timeout=seconds["attempt_timeout"],
            first_item_timeout=seconds["first_item_timeout"],
            idle_timeout=seconds["idle_timeout"],
            stream_failover=stream_failover,
            hedge_after=seconds["hedge_after"],
            wait_for_cooldown=options["wait_for_cooldown"],
            accept=options["accept"],
            rate_limits=_rates(options["rate_limits"], static, typed_clock),
            retry_budget=budget,
            retry=retry,
            counter=cast("RoundRobinCounter", counter),
            clock=typed_clock,
            hooks=_hooks(options["on_event"]),
            limiter=_limiter(options["max_concurrency"], static),
            max_abandoned=_positive_int("max_abandoned", options["max_abandoned"]),
            redactor=Redactor(options["redact"]),
            affinity_size=_positive_int("affinity_size", options["affinity_size"]),
            affinity_ttl=check_seconds("affinity_ttl", options["affinity_ttl"]),
            cooldown_for=options["cooldown_for"],
            respect_retry_after=options["respect_retry_after"],
            usage_of=options["usage_of"],
            estimate_tokens=options["estimate_tokens"],
        )


def _check_kinds(options: dict[str, Any]) -> None:
    """The options that need one check of their kind: the error names the value."""
    clock = options["clock"]
    if clock is not None and not callable(clock):
        msg = f"clock must be a zero-argument callable, got {clock!r}"
        raise InvalidConfigError(msg)
    for flag in ("reraise", "wait_for_cooldown", "respect_retry_after"):
        if not isinstance(options[flag], bool):
            msg = f"{flag} must be a bool, got {options[flag]!r}"
            raise InvalidConfigError(msg)
    retry = options["retry"]
    if retry is not None and not isinstance(retry, tenacity.Retrying):
        msg = f"retry must be a tenacity.Retrying (used as a template), got {retry!r}"
        raise InvalidConfigError(msg)
    stream_failover = options["stream_failover"]
    if stream_failover not in (None, "buffer"):
        msg = f"stream_failover must be None or 'buffer', got {stream_failover!r}"
        raise InvalidConfigError(msg)
    for name in ("accept", "redact", "cooldown_for", "usage_of", "estimate_tokens"):
        if options[name] is not None and not callable(options[name]):
            msg = f"{name} must be a callable, got {options[name]!r}"
            raise InvalidConfigError(msg)
    budget = options["retry_budget"]
    if budget is not None and not isinstance(budget, RetryBudget):
        msg = f"retry_budget must be a RetryBudget, got {budget!r}"
        raise InvalidConfigError(msg)


def _positive_int(argument: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = f"{argument} must be an int >= 1, got {value!r}"
        raise InvalidConfigError(msg)
    return value


def _tracker(cooldown: object, clock: Callable[[], float] | None) -> CooldownTracker | None:
    if cooldown is None:
        return None
    if isinstance(cooldown, int | float) and not isinstance(cooldown, bool):
        return InMemoryCooldown(check_seconds("cooldown", cooldown), clock=clock)
    if isinstance(cooldown, CooldownTracker):
        return cooldown
    msg = f"cooldown must be seconds, a cooldown tracker or None, got {cooldown!r}"
    raise InvalidConfigError(msg)


def _check_hint_support(
    tracker: CooldownTracker | None, cooldown_for: object, respect_retry_after: object
) -> None:
    """`cooldown_for=` and `respect_retry_after=True` need a tracker that supports them.

    A third-party tracker without the capability works as before without these
    options; with them it is refused here rather than silently ignored.
    """
    if tracker is None:
        return
    caps = TrackerCapabilities.of(tracker)
    if cooldown_for is not None and not caps.explicit_duration:
        msg = (
            f"cooldown_for= needs a tracker whose record_failure(name, error, duration=None) "
            f"takes an explicit duration (InMemoryCooldown, RedisCooldown); got {tracker!r}"
        )
        raise InvalidConfigError(msg)
    if respect_retry_after is True and caps.hinted is None:
        msg = (
            f"respect_retry_after=True needs a tracker with hinted(names), which tells the "
            f"providers benched by a hint (InMemoryCooldown, RedisCooldown); got {tracker!r}"
        )
        raise InvalidConfigError(msg)


def _names_of(argument: str, value: object, static: Providers | None) -> frozenset[str]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"{argument} must be a collection of provider names, got {value!r}"
        raise InvalidConfigError(msg)
    names: set[str] = set()
    for name in cast("Iterable[object]", value):
        if not isinstance(name, str):
            msg = f"{argument} names must be str, got {name!r}"
            raise InvalidConfigError(msg)
        if static is not None and name not in static[0]:
            msg = f"{argument} names unknown provider {name!r}; providers: {static[0]}"
            raise InvalidConfigError(msg)
        names.add(name)
    return frozenset(names)


def _hooks(on_event: object) -> tuple[EventHook, ...] | None:
    if on_event is None:
        return None
    hooks = (on_event,) if callable(on_event) else on_event
    if not isinstance(hooks, Sequence) or isinstance(hooks, str | bytes) or not hooks:
        msg = f"on_event must be a callable or a sequence of callables, got {on_event!r}"
        raise InvalidConfigError(msg)
    checked: list[EventHook] = []
    for hook in cast("Sequence[object]", hooks):
        if not callable(hook):
            msg = f"on_event hook {hook!r} is not callable"
            raise InvalidConfigError(msg)
        checked.append(cast("EventHook", hook))
    return tuple(checked)


def _check_known(argument: str, names: Iterable[object], static: Providers | None) -> None:
    if static is None:
        return
    for name in names:
        if name not in static[0]:
            msg = f"{argument} names unknown provider {name!r}; providers: {static[0]}"
            raise InvalidConfigError(msg)


def _limiter(max_concurrency: object, static: Providers | None) -> ConcurrencyLimiter | None:
    if max_concurrency is None or isinstance(max_concurrency, ConcurrencyLimiter):
        return max_concurrency
    if isinstance(max_concurrency, Mapping):
        _check_known("max_concurrency", cast("Mapping[object, object]", max_concurrency), static)
    if isinstance(max_concurrency, int | Mapping):
        return ConcurrencyLimiter(cast("int | Mapping[str, int]", max_concurrency))
    msg = (
        f"max_concurrency must be an int, a mapping name -> int or a ConcurrencyLimiter, "
        f"got {max_concurrency!r}"
    )
    raise InvalidConfigError(msg)


def _rates(rate_limits: object, static: Providers | None, clock: Callable[[], float] | None) -> Any:
    if rate_limits is None:
        return None
    if isinstance(rate_limits, Mapping):
        _check_known("rate_limits", cast("Mapping[object, object]", rate_limits), static)
        return InMemoryRateLimiter(cast("Mapping[str, Any]", rate_limits), clock=clock)
    needed = ("try_acquire", "wait_time", "refund", "limited")
    if all(callable(getattr(rate_limits, name, None)) for name in needed):
        return rate_limits
    msg = (
        f"rate_limits must be a mapping name -> 'N/s' | 'N/min' | 'N/h' | 'N tokens/min' | "
        f"RateLimit | TokenLimit (or a list of them), or a "
        f"rate limiter (InMemoryRateLimiter, RedisRateLimiter), got {rate_limits!r}"
    )
    raise InvalidConfigError(msg)
