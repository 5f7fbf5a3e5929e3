"""The `Router`: configuration in, routed calls out.

```text
fn(*args) ──► happy path (_direct / _async) ── success ──► response
                 │ state to consult, limits, hooks... / first attempt failed
                 ▼
              engine: CallState.steps() ──actions──► driver (_sync / _async)
              plan → walk → record → Result or error
```

The router validates its options (`Config`), binds its strategy to a planner,
looks up what its tracker can do, and hands the engine a frozen `Setup`. It
builds one caller per decorated function and kind: plain, stream, async, async
stream; plain and method.
"""

# pyright: reportUnnecessaryTypeIgnoreComment=false

from __future__ import annotations

import asyncio
import difflib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack, overload

from ._config import Config
from ._decorator import AsyncRoutedFunction, AsyncRoutedStream, RoutedFunction
from ._drivers.callers import ASYNC, ASYNC_STREAM, kind_of, make_caller
from ._drivers.worker import Workers
from ._engine.record import Recorder
from ._engine.setup import Setup, call_ids, gates_of
from ._engine.stats import Stats
from ._options import DEFAULTS, RouterOptions
from ._providers import Providers, ProvidersSpec, normalize
from ._quota import quota_of
from ._results import Result
from ._routing import Affinity
from ._sdk_clients import ClientCheck
from ._state.limits import ConcurrencyLimiter
from ._strategies import StrategyObject
from ._surfaces.log import PRIMARY_FAILED, PROVIDER_FAILED, ROUND_ROBIN_FAILED
from ._surfaces.status import Status, build_status
from ._tracker import TrackerCapabilities

__all__ = ["Router", "routed"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Router:
    """Route calls across interchangeable providers with a strategy and cooldowns.

    A Router is a decorator: `@router` on several functions (plain, generator,
    `async def`, async generator; functions or methods) shares one cooldown
    state, one rotation and one set of limits. [`routed`][fallback_router.routed]
    builds one per function. Arguments are validated here, when decorating.

    Args:
        providers: a non-empty sequence, a mapping `name -> object` or a
            zero-argument callable returning either (read on every call).
        **options: keyword options:

            - `strategy`: `"fallback"` (default), `"primary_only"`,
              `"round_robin"`, or a strategy object
              ([`Fallback`][fallback_router.Fallback],
              [`RoundRobin`][fallback_router.RoundRobin],
              [`Weighted`][fallback_router.Weighted],
              [`LeastBusy`][fallback_router.LeastBusy],
              [`LeastLatency`][fallback_router.LeastLatency]...).
            - `cooldown`: seconds (builds an `InMemoryCooldown`), a tracker
              (shared, or a `RedisCooldown`), or None. Default 60.
            - `exempt`: names of providers that never enter cooldown.
            - `fallback_on`: exception types or a predicate: what moves the call
              on (default `Exception`); anything else propagates at once.
            - `cooldown_on`: which fallback triggers bench the provider. Default:
              all but 4xx statuses other than 401, 403, 404, 408 and 429, and the
              caller's own bugs (`TypeError`, `AttributeError`...).
            - `reraise`: raise the last provider's own exception instead of
              `AllProvidersFailedError`.
            - `timeout`: total seconds for one routed call, enforced: the call
              returns or raises `DeadlineExceededError` within it even when a
              provider hangs (a sync attempt then runs in a worker thread).
            - `attempt_timeout`: seconds for each attempt (with its retries);
              past it `AttemptTimeoutError`, counted, and the call moves on.
            - `first_item_timeout`, `idle_timeout`: a stream's limits on the
              wait for its first item and the silence between items.
            - `stream_failover`: `"buffer"` reads each provider's stream to its
              end before the consumer sees it, so a cut stream falls back.
            - `hedge_after`: seconds after which a slow attempt gets company:
              the next provider starts too; the first success wins.
            - `wait_for_cooldown`: when every provider left is benched, wait for
              the earliest cooldown to end if it ends within `timeout`.
            - `accept`: a predicate over a response (a buffered stream's items);
              False is that provider's failure (`RejectedResponseError`).
            - `rate_limits`: `name -> "N/min" | "N tokens/min" | RateLimit |
              TokenLimit` (or a list of them), or a shared `RedisRateLimiter`.
            - `retry_budget`: a [`RetryBudget`][fallback_router.RetryBudget]
              capping attempts after a call's first.
            - `retry`: a `tenacity.Retrying` used as a template for each attempt.
            - `counter`: a round-robin counter shared between routers.
            - `clock`: zero-argument callable returning seconds; default
              `time.monotonic`, looked up at call time.
            - `on_event`: a callable or a sequence of them receiving `Event`s.
            - `max_concurrency`: an int, `name -> int` or a shared
              `ConcurrencyLimiter`: calls in flight per provider.
            - `max_abandoned`: abandoned (timed-out) calls still running per
              provider before it is passed over as saturated (default 64).
            - `redact`: a callable applied to error texts after the built-in
              secret redaction.
            - `affinity_size`, `affinity_ttl`: the memory of `routing(affinity=)`
              keys (default 10,000 keys, 600 s).
            - `cooldown_for`: a callable `error -> seconds | None`: how long the
              provider that raised `error` is benched (over hints and `duration`).
            - `respect_retry_after`: never force a provider benched by a hint;
              with none left, `AllProvidersBenchedError` without an attempt.
            - `usage_of`, `estimate_tokens`: token quotas' count and reservation.

    Attributes:
        strategy: the strategy object, always: `Fallback()` for `"fallback"`,
            `PrimaryOnly()` for `"primary_only"`, `RoundRobin()` for
            `"round_robin"`, else the object given; `router.strategy.name` is
            its name (`"fallback"`, `"weighted"`...).

    Version:
        Added in 0.1.0. Changed in 0.2.0: `max_concurrency`; generator functions
        route streams. Changed in 0.3.0: async functions; strategy objects; the
        time limits, hedging, `accept`, rate limits, retry budget and `redact`;
        `strategy` is always a strategy object (it was the `Strategy` enum for a
        string).
    """

    def __init__(self, providers: ProvidersSpec, **options: Unpack[RouterOptions]) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise TypeError(_unknown_options(unknown))
        config = Config.build(providers, **{**DEFAULTS, **options})
        self.config = config
        names = config.static[0] if config.static is not None else None
        planner = config.strategy.bind(config.counter, names)
        tracker = config.tracker if planner.uses_cooldown else None
        caps = TrackerCapabilities.of(tracker) if tracker is not None else None
        watch = getattr(tracker, "watch", None)
        if names is not None and callable(watch):
            watch(names)
        self.tracker = config.tracker
        self.limiter = config.limiter
        #: The strategy object (`Fallback()` for `"fallback"`...); `.name` is its name.
        self.strategy: StrategyObject = config.strategy
        stats = Stats()
        phrase = PROVIDER_FAILED
        if not planner.failover:
            phrase = ROUND_ROBIN_FAILED if planner.name == "round_robin" else PRIMARY_FAILED
        recorder = Recorder(
            uses_tracker=tracker is not None,
            exempt=config.exempt,
            fallback_on=config.fallback_on,
            cooldown_on=config.cooldown_on,
            hooks=config.hooks,
            stats=stats,
            redactor=config.redactor,
            strategy=planner.name,
            failed_phrase=phrase,
            cooldown_for=config.cooldown_for,
        )
        limited = config.timeout is not None or config.attempt_timeout is not None
        limited = limited or config.hedge_after is not None
        limited = limited or config.first_item_timeout is not None
        limited = limited or config.idle_timeout is not None
        quota = quota_of(config.rate_limits, config.estimate_tokens, config.usage_of)
        self.setup = Setup(
            config=config,
            planner=planner,
            tracker=tracker,
            caps=caps,
            gates=gates_of(config.limiter, config.rate_limits, quota),
            abandoned=ConcurrencyLimiter(config.max_abandoned) if limited else None,
            respect_retry_after=config.respect_retry_after and tracker is not None,
            quota=quota,
            buffer=config.stream_failover == "buffer",
            recorder=recorder,
            stats=stats,
            affinity=Affinity(config.affinity_size, config.affinity_ttl),
            call_ids=call_ids(),
            workers=Workers(),
            clients=ClientCheck(),
        )
        if config.static is not None:
            self.setup.clients.check(*config.static)
        self._direct = self._happy_path_allowed()

    def _happy_path_allowed(self) -> bool:
        """The happy path may serve calls: nothing around the first attempt to do."""
        setup, config = self.setup, self.config
        if config.static is None or setup.limits or setup.abandoned is not None:
            return False
        if config.limiter is not None or config.rate_limits is not None:
            return False
        if config.retry_budget is not None or config.accept is not None:
            return False
        tracker = setup.tracker
        if tracker is None:
            return True
        if not isinstance(getattr(tracker, "quiet_until", None), float):
            return False
        # quiet_until is on the tracker's clock: the router's, or infinities only.
        return getattr(tracker, "clock", None) is config.clock or not getattr(
            tracker, "blocking", False
        )

    # -- decorating ---------------------------------------------------------------------

    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]]
    ) -> AsyncRoutedFunction[P, R]: ...
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self, fn: Callable[Concatenate[Any, P], AsyncIterator[T]]
    ) -> AsyncRoutedStream[P, T]: ...
    @overload
    def __call__(self, fn: Callable[Concatenate[Any, P], R]) -> RoutedFunction[P, R]: ...
    def __call__(self, fn: Callable[..., Any]) -> Any:
        """Decorate `fn` (first parameter: the provider) with this router."""
        kind = kind_of(fn)
        if kind == ASYNC:
            return AsyncRoutedFunction[Any, Any](self, fn)
        if kind == ASYNC_STREAM:
            return AsyncRoutedStream[Any, Any](self, fn)
        return RoutedFunction[Any, Any](self, fn)

    def caller(self, fn: Callable[..., Any], want_result: bool, method: bool) -> Callable[..., Any]:
        """A caller routing `fn`; `method`: called as `caller(instance, *args, **kwargs)`."""
        return make_caller(self.setup, self._direct, fn, want_result, method)

    def execute(
        self, fn: Callable[Concatenate[Any, P], R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Result[R]:
        """Route one call of `fn(provider, *args, **kwargs)` and return its `Result`.

        For an `async def` or async generator function, returns an awaitable of
        the `Result` (`await router.execute(fn, ...)`).
        """
        caller = self.caller(fn, True, False)
        return caller(*args, **kwargs)  # type: ignore[no-any-return]

    # -- state --------------------------------------------------------------------------

    def providers(self) -> Providers:
        """Return the current `(names, objects)`; reads a callable `providers`."""
        config = self.config
        if config.static is not None:
            return config.static
        assert config.dynamic is not None  # noqa: S101 - one of the two is always set
        return normalize(config.dynamic())

    def status(self) -> Status:
        """Return each provider's availability, cooldown, counts and strategy state.

        Safe while any number of threads call the router. With a `providers`
        callable that raises, the names seen most recently are shown.
        """
        try:
            names: tuple[str, ...] = self.providers()[0]
        except Exception:  # noqa: BLE001 - a status display must not raise
            names = tuple(self.setup.stats.known())
        return build_status(self.setup, self.config.tracker, names)

    async def astatus(self) -> Status:
        """The awaitable twin of [`status`][fallback_router.Router.status]: never blocks the loop.

        When a component waits on the network (a Redis tracker, counter or rate
        limiter), the status is read in a worker thread, so a slow or hung Redis
        delays only this await (by the components' bounded operation timeouts),
        never the other tasks.
        """
        tracker = self.config.tracker
        if getattr(tracker, "blocking", False) or self.setup.blocking():
            return await asyncio.to_thread(self.status)
        return self.status()

    def reset(self) -> None:
        """Clear this router's providers' cooldowns and its counts.

        Safe while any number of threads call the router; calls in flight may
        still land in the new counts.
        """
        try:
            names: tuple[str, ...] = self.providers()[0]
        except Exception:  # noqa: BLE001 - reset what is known
            names = tuple(self.setup.stats.known())
        if self.config.tracker is not None:
            for name in names:
                self.config.tracker.reset(name)
        self.setup.stats.reset()

    def __repr__(self) -> str:
        static = self.config.static
        names = static[0] if static is not None else "<callable>"
        return (
            f"Router(providers={names!r}, strategy={self.setup.planner.name!r}, "
            f"tracker={self.config.tracker!r})"
        )


def _unknown_options(unknown: list[str]) -> str:
    """The message for unknown router options, with a "did you mean" for each."""
    parts: list[str] = []
    for name in unknown:
        close = difflib.get_close_matches(name, DEFAULTS, n=1)
        parts.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    return f"Router() got unexpected keyword argument(s) {', '.join(parts)}"


def routed(*, providers: ProvidersSpec, **options: Unpack[RouterOptions]) -> Router:
    """Build a [`Router`][fallback_router.Router] to decorate one function with.

    `@routed(providers=..., **options)` is `@Router(providers, **options)`. The
    function's first parameter (after `self` for methods) receives the provider
    object. Configuration errors are raised here, when decorating; see `Router`
    for the options. A generator function routes a stream (calling it returns an
    iterator); an `async def` is awaited (`await fn(...)`, `await fn.route(...)`).

    Example:
        ```python
        @routed(providers=[gemini, grok], strategy="fallback")
        def generate(provider, prompt: str) -> bytes:
            return provider.generate_image(prompt)
        ```

    Version:
        Added in 0.1.0.
    """
    return Router(providers, **options)
