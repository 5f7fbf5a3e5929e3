"""A router's validated configuration: every argument checked once, when decorating."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import tenacity

from ._classify import ErrorMatcher, default_cooldown_on, to_predicate
from ._cooldown import CooldownTracker, InMemoryCooldown, check_seconds
from ._errors import InvalidConfigError
from ._events import EventHook
from ._limits import ConcurrencyLimiter
from ._providers import Providers, ProvidersSpec, normalize
from ._strategies import InMemoryRoundRobin, RoundRobinCounter, Strategy

__all__ = ["Config"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """What a :class:`Router` was told, validated; see ``Router`` for the meaning."""

    strategy: Strategy
    static: Providers | None
    dynamic: Callable[[], object] | None
    tracker: CooldownTracker | None
    exempt: frozenset[str]
    fallback_on: Callable[[Exception], bool]
    cooldown_on: Callable[[Exception], bool]
    reraise: bool
    timeout: float | None
    retry: tenacity.Retrying | None
    counter: RoundRobinCounter
    clock: Callable[[], float] | None
    hooks: tuple[EventHook, ...] | None
    limiter: ConcurrencyLimiter | None

    @classmethod
    def build(  # noqa: PLR0913 - mirrors Router's keyword-only configuration
        cls,
        providers: ProvidersSpec,
        *,
        strategy: object,
        cooldown: object,
        exempt: object,
        fallback_on: ErrorMatcher,
        cooldown_on: ErrorMatcher | None,
        reraise: object,
        timeout: object,
        retry: object,
        counter: object,
        clock: object,
        on_event: object,
        max_concurrency: object,
    ) -> Config:
        """Validate every argument; the error names the offending value."""
        if clock is not None and not callable(clock):
            msg = f"clock must be a zero-argument callable, got {clock!r}"
            raise InvalidConfigError(msg)
        static: Providers | None = None
        dynamic: Callable[[], object] | None = None
        if isinstance(providers, Sequence | Mapping) or not callable(providers):
            static = normalize(cast("object", providers))
        else:
            dynamic = providers
        if not isinstance(reraise, bool):
            msg = f"reraise must be a bool, got {reraise!r}"
            raise InvalidConfigError(msg)
        if retry is not None and not isinstance(retry, tenacity.Retrying):
            msg = f"retry must be a tenacity.Retrying (used as a template), got {retry!r}"
            raise InvalidConfigError(msg)
        if counter is None:
            counter = InMemoryRoundRobin()
        elif not callable(getattr(counter, "next_index", None)):
            msg = f"counter must have a next_index() method, got {counter!r}"
            raise InvalidConfigError(msg)
        typed_clock = cast("Callable[[], float] | None", clock)
        return cls(
            strategy=Strategy.parse(strategy),
            static=static,
            dynamic=dynamic,
            tracker=_tracker(cooldown, typed_clock),
            exempt=_exempt(exempt, static),
            fallback_on=to_predicate(fallback_on, "fallback_on"),
            cooldown_on=(
                default_cooldown_on
                if cooldown_on is None
                else to_predicate(cooldown_on, "cooldown_on")
            ),
            reraise=reraise,
            timeout=None if timeout is None else check_seconds("timeout", timeout),
            retry=retry,
            counter=cast("RoundRobinCounter", counter),
            clock=typed_clock,
            hooks=_hooks(on_event),
            limiter=_limiter(max_concurrency, static),
        )


def _tracker(cooldown: object, clock: Callable[[], float] | None) -> CooldownTracker | None:
    if cooldown is None:
        return None
    if isinstance(cooldown, int | float) and not isinstance(cooldown, bool):
        return InMemoryCooldown(check_seconds("cooldown", cooldown), clock=clock)
    if isinstance(cooldown, CooldownTracker):
        return cooldown
    msg = f"cooldown must be seconds, a cooldown tracker or None, got {cooldown!r}"
    raise InvalidConfigError(msg)


def _exempt(exempt: object, static: Providers | None) -> frozenset[str]:
    if isinstance(exempt, str) or not isinstance(exempt, Iterable):
        msg = f"exempt must be a collection of provider names, got {exempt!r}"
        raise InvalidConfigError(msg)
    names: set[str] = set()
    for name in cast("Iterable[object]", exempt):
        if not isinstance(name, str):
            msg = f"exempt names must be str, got {name!r}"
            raise InvalidConfigError(msg)
        if static is not None and name not in static[0]:
            msg = f"exempt names unknown provider {name!r}; providers: {static[0]}"
            raise InvalidConfigError(msg)
        names.add(name)
    return frozenset(names)


def _hooks(on_event: object) -> tuple[EventHook, ...] | None:
    if on_event is None:
        return None
    hooks = (on_event,) if callable(on_event) else on_event
    if not isinstance(hooks, Sequence) or not hooks:
        msg = f"on_event must be a callable or a non-empty sequence of them, got {on_event!r}"
        raise InvalidConfigError(msg)
    checked: list[EventHook] = []
    for hook in cast("Sequence[object]", hooks):
        if not callable(hook):
            msg = f"on_event hook {hook!r} is not callable"
            raise InvalidConfigError(msg)
        checked.append(cast("EventHook", hook))
    return tuple(checked)


def _limiter(max_concurrency: object, static: Providers | None) -> ConcurrencyLimiter | None:
    if max_concurrency is None or isinstance(max_concurrency, ConcurrencyLimiter):
        return max_concurrency
    if isinstance(max_concurrency, Mapping) and static is not None:
        for name in cast("Mapping[object, object]", max_concurrency):
            if name not in static[0]:
                msg = f"max_concurrency names unknown provider {name!r}; providers: {static[0]}"
                raise InvalidConfigError(msg)
    if isinstance(max_concurrency, int | Mapping):
        return ConcurrencyLimiter(cast("int | Mapping[str, int]", max_concurrency))
    msg = f"max_concurrency must be an int, a mapping name -> int or a ConcurrencyLimiter, got {max_concurrency!r}"  # noqa: E501
    raise InvalidConfigError(msg)
