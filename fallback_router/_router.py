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

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, Concatenate, ParamSpec, TypeVar, Unpack, overload

from ._async import async_direct_caller, run_async
from ._async_stream import lazy_stream_async, route_stream_async
from ._config import Config
from ._decorator import AsyncRoutedFunction, AsyncRoutedStream, RoutedFunction
from ._direct import direct_caller
from ._engine.record import Recorder
from ._engine.setup import Setup, call_ids
from ._engine.stats import Stats
from ._limits import ConcurrencyLimiter
from ._log import PRIMARY_FAILED, PROVIDER_FAILED, ROUND_ROBIN_FAILED
from ._options import DEFAULTS, RouterOptions
from ._providers import Providers, ProvidersSpec, normalize
from ._results import Result
from ._routing import Affinity
from ._status import Status, build_status
from ._strategies import Strategy, StrategyObject
from ._sync import run_call
from ._sync_stream import lazy_stream, route_stream
from ._tracker import TrackerCapabilities
from ._worker import Workers

__all__ = ["Router", "routed"]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_PLAIN, _STREAM, _ASYNC, _ASYNC_STREAM = "plain", "stream", "async", "async stream"


def unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` without its `functools.partial` layers (a method is `partial(fn, self)`)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def kind_of(fn: object) -> str:
    """What calling `fn` routes: a plain call, a stream, an async call or an async stream."""
    if not callable(fn):
        msg = f"routed needs a callable, got {fn!r}"
        raise TypeError(msg)
    target = unwrapped(fn)
    if inspect.isasyncgenfunction(target):
        return _ASYNC_STREAM
    if inspect.iscoroutinefunction(target):
        return _ASYNC
    if inspect.isgeneratorfunction(target):
        return _STREAM
    call = getattr(type(target), "__call__", None)  # noqa: B004 - reading the method
    if not inspect.isfunction(target) and inspect.iscoroutinefunction(call):
        return _ASYNC
    return _PLAIN


def _name_of(fn: Callable[..., Any]) -> str:
    target = unwrapped(fn)
    return str(getattr(target, "__qualname__", None) or repr(target))


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
              `"round_robin"`, or a strategy object ([`Fallback`][fallback_router.Fallback],
              [`RoundRobin`][fallback_router.RoundRobin], [`Weighted`][fallback_router.Weighted],
              [`LeastBusy`][fallback_router.LeastBusy], [`LeastLatency`][fallback_router.LeastLatency]...).
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
            - `rate_limits`: `name -> "N/s" | "N/min" | "N/h" | RateLimit`, or a
              rate limiter shared between routers (`RedisRateLimiter`).
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

    Version:
        Added in 0.1.0. Changed in 0.2.0: `max_concurrency`; generator functions
        route streams. Changed in 0.3.0: async functions; strategy objects; the
        time limits, hedging, `accept`, rate limits, retry budget and `redact`.
    """

    def __init__(self, providers: ProvidersSpec, **options: Unpack[RouterOptions]) -> None:
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            msg = f"Router() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}"
            raise TypeError(msg)
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
        given = options.get("strategy", DEFAULTS["strategy"])
        #: The strategy as given: a `Strategy` for its names, else the strategy object.
        self.strategy: Strategy | StrategyObject = (
            given if isinstance(given, StrategyObject) else Strategy.parse(given)
        )
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
        )
        limited = config.timeout is not None or config.attempt_timeout is not None
        limited = limited or config.hedge_after is not None
        limited = limited or config.first_item_timeout is not None
        limited = limited or config.idle_timeout is not None
        self.setup = Setup(
            static=config.static,
            dynamic=config.dynamic,
            planner=planner,
            tracker=tracker,
            caps=caps,
            limiter=config.limiter,
            abandoned=ConcurrencyLimiter(config.max_abandoned) if limited else None,
            rates=config.rate_limits,
            budget=config.retry_budget,
            retry=config.retry,
            clock=config.clock,
            timeout=config.timeout,
            attempt_timeout=config.attempt_timeout,
            first_item_timeout=config.first_item_timeout,
            idle_timeout=config.idle_timeout,
            hedge_after=config.hedge_after,
            wait_for_cooldown=config.wait_for_cooldown,
            accept=config.accept,
            buffer=config.stream_failover == "buffer",
            reraise=config.reraise,
            probe_ttl=config.timeout,
            recorder=recorder,
            stats=stats,
            affinity=Affinity(config.affinity_size, config.affinity_ttl),
            call_ids=call_ids(),
            workers=Workers(),
        )
        self._direct = self._happy_path_allowed()

    def _happy_path_allowed(self) -> bool:
        """The happy path may serve calls: nothing around the first attempt to do."""
        setup, config = self.setup, self.config
        if setup.static is None or setup.limits or setup.abandoned is not None:
            return False
        if setup.limiter is not None or setup.rates is not None or setup.budget is not None:
            return False
        if setup.accept is not None:
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
        if kind == _ASYNC:
            return AsyncRoutedFunction(self, fn)
        if kind == _ASYNC_STREAM:
            return AsyncRoutedStream(self, fn)
        return RoutedFunction(self, fn)

    def caller(self, fn: Callable[..., Any], want_result: bool, method: bool) -> Callable[..., Any]:
        """A caller routing `fn`; `method`: called as `caller(instance, *args, **kwargs)`."""
        kind = kind_of(fn)
        setup = self.setup
        function = _name_of(fn)
        if method:
            return _method_caller(self, fn, kind, want_result)
        if kind == _STREAM:
            if want_result:
                return functools.partial(_route_stream, setup, fn, function)
            return functools.partial(_lazy_stream, setup, fn, function)
        if kind == _ASYNC_STREAM:
            if want_result:
                return functools.partial(_route_stream_async, setup, fn, function)
            return functools.partial(_lazy_stream_async, setup, fn, function)
        if kind == _ASYNC:
            if self._direct:
                return async_direct_caller(setup, fn, want_result, function)
            return functools.partial(_run_async, setup, fn, want_result, function)
        if self._direct:
            return direct_caller(setup, fn, want_result, function)
        return functools.partial(_run, setup, fn, want_result, function)

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


def _run(setup: Setup, fn: Any, want_result: bool, function: str, *args: Any, **kwargs: Any) -> Any:
    return run_call(setup, fn, args, kwargs, want_result, function)


async def _run_async(
    setup: Setup, fn: Any, want_result: bool, function: str, *args: Any, **kwargs: Any
) -> Any:
    return await run_async(setup, fn, args, kwargs, want_result, function)


def _route_stream(setup: Setup, fn: Any, function: str, *args: Any, **kwargs: Any) -> Any:
    return route_stream(setup, fn, args, kwargs, function)


def _lazy_stream(setup: Setup, fn: Any, function: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
    yield from lazy_stream(setup, fn, args, kwargs, function)


async def _route_stream_async(
    setup: Setup, fn: Any, function: str, *args: Any, **kwargs: Any
) -> Any:
    return await route_stream_async(setup, fn, args, kwargs, function)


async def _lazy_stream_async(
    setup: Setup, fn: Any, function: str, *args: Any, **kwargs: Any
) -> AsyncIterator[Any]:
    async for item in lazy_stream_async(setup, fn, args, kwargs, function):
        yield item


def _method_caller(router: Router, fn: Any, kind: str, want_result: bool) -> Callable[..., Any]:
    """A caller for a method: `caller(instance, *args)` routes `fn(instance, provider, *args)`.

    Methods take the general path (the instance is bound per call).
    """
    setup = router.setup
    function = _name_of(fn)
    if kind == _ASYNC_STREAM:
        if want_result:

            async def route_async_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
                bound = functools.partial(fn, instance)
                return await route_stream_async(setup, bound, args, kwargs, function)

            return route_async_stream

        async def async_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
            bound = functools.partial(fn, instance)
            async for item in lazy_stream_async(setup, bound, args, kwargs, function):
                yield item

        return async_stream
    if kind == _ASYNC:

        async def async_method(instance: object, /, *args: Any, **kwargs: Any) -> Any:
            bound = functools.partial(fn, instance)
            return await run_async(setup, bound, args, kwargs, want_result, function)

        return async_method
    if kind == _STREAM:
        if want_result:

            def route_method_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
                return route_stream(setup, functools.partial(fn, instance), args, kwargs, function)

            return route_method_stream

        def method_stream(instance: object, /, *args: Any, **kwargs: Any) -> Any:
            yield from lazy_stream(setup, functools.partial(fn, instance), args, kwargs, function)

        return method_stream

    def method(instance: object, /, *args: Any, **kwargs: Any) -> Any:
        bound = functools.partial(fn, instance)
        return run_call(setup, bound, args, kwargs, want_result, function)

    return method


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
