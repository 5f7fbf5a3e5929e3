"""The :class:`Router`: configuration in, routed calls out.

The call path in one picture::

    fn(*args) ──► happy path (inlined, _make_caller) ── success ──► response
                     │ tracker has state / first attempt failed
                     ▼
                  general path (_run): RoutedCall.next() ──► RoutedCall.attempt() ──►
                  Recorder (tracker, counts, logs, events) ──► Result or error

The happy path is the general path's first step specialised for the commonest
case: a fixed provider list, no hooks, no budget, no concurrency limits and a
tracker that holds no state (in memory, or a Redis tracker's fresh mirror). It
calls the first (or round-robin) provider directly and, on failure, hands the
failed attempt to the general path, which continues exactly as if it had made it.
"""

# pyright: reportUnnecessaryTypeIgnoreComment=false
# (the ignores in this module are for mypy; pyright needs none of them)

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import tenacity

from ._attempt import Outcome
from ._call import RoutedCall, unwrapped
from ._classify import ErrorMatcher
from ._config import Config
from ._cooldown import CooldownState, CooldownTracker, InMemoryCooldown
from ._decorator import RoutedFunction
from ._events import EventHook
from ._limits import ConcurrencyLimiter
from ._providers import Providers, ProvidersSpec, normalize
from ._record import Recorder
from ._redis import RedisCooldown
from ._results import CURRENT, Result, new_attempt, new_result
from ._status import ProviderStatus, Stats, Status
from ._strategies import RoundRobinCounter, Strategy
from ._stream import route_stream

if TYPE_CHECKING:
    from typing import Concatenate

__all__ = ["Router"]

P = ParamSpec("P")
R = TypeVar("R")


def check_routable(fn: object) -> None:
    """Raise ``TypeError`` unless ``fn`` is a plain synchronous callable."""
    if not callable(fn):
        msg = f"routed needs a callable, got {fn!r}"
        raise TypeError(msg)
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - reading the method, not testing
    if (
        inspect.iscoroutinefunction(fn)
        or inspect.isasyncgenfunction(fn)
        or (not inspect.isfunction(fn) and inspect.iscoroutinefunction(call))
    ):
        msg = (
            f"{getattr(fn, '__qualname__', fn)!r} is async; fallback_router is "
            f"synchronous: decorate a plain def (run it in a thread from async code)"
        )
        raise TypeError(msg)


def _inlinable(tracker: CooldownTracker, clock: Callable[[], float] | None) -> bool:
    """True for trackers the happy path can skip: they keep ``_idle``/``_fresh_until``.

    ``_idle`` is True while no provider has any state, ``_fresh_until`` the clock
    time until which that answer holds without asking anyone (``inf`` in memory,
    the next refresh of a Redis tracker's mirror, on the same clock as the router).
    """
    if type(tracker) is InMemoryCooldown:
        return True
    return type(tracker) is RedisCooldown and tracker._clock is clock  # noqa: SLF001


def _is_stream(fn: Callable[..., Any]) -> bool:
    """True for generator functions (and partials of them): their calls route a stream."""
    return inspect.isgeneratorfunction(unwrapped(fn))


class Router:
    """Route calls across interchangeable providers with a strategy and cooldowns.

    A Router is a decorator: ``@router`` on several functions shares one cooldown
    state, one round-robin counter and one set of concurrency limits. :func:`routed`
    builds one per function. Arguments are validated here, when decorating.

    Args:
        providers: a non-empty sequence, a mapping ``name -> object`` or a
            zero-argument callable returning either (read on every call).
        strategy: ``"fallback"`` (default), ``"primary_only"`` or ``"round_robin"``.
        cooldown: seconds (builds an :class:`InMemoryCooldown`), a tracker
            instance (shared between routers, or a :class:`RedisCooldown`), or
            None to disable cooldowns. Default 60 seconds.
        exempt: names of providers that never enter cooldown.
        fallback_on: exception types or a predicate: what moves the call on to the
            next provider (default ``Exception``). Anything else propagates at once.
        cooldown_on: exception types or a predicate: which fallback triggers are
            recorded with the tracker. Default :func:`default_cooldown_on`: all but
            4xx statuses other than 401, 403, 404, 408 and 429 and the caller's own
            bugs (``TypeError``, ``AttributeError``...). An explicit value replaces
            that default entirely.
        reraise: raise the last provider's own exception instead of
            :class:`AllProvidersFailedError`.
        timeout: total seconds for one routed call, checked between attempts (and
            bounding retries and waits for a concurrency slot).
        retry: a ``tenacity.Retrying`` used as a template for each provider attempt.
        counter: a :class:`RoundRobinCounter` to share one rotation between routers.
        clock: zero-argument callable returning seconds; default ``time.monotonic``
            looked up at call time. Also given to the default tracker.
        on_event: a callable or a sequence of callables receiving :class:`Event`s.
        max_concurrency: an int for every provider, a mapping ``name -> int``, or a
            :class:`ConcurrencyLimiter` shared with other routers: a provider never
            has more calls in flight through them than its limit.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``max_concurrency``; generator functions route streams.
    """

    def __init__(  # noqa: PLR0913 - the configuration surface is keyword-only by design
        self,
        providers: ProvidersSpec,
        *,
        strategy: Strategy | str = Strategy.FALLBACK,
        cooldown: float | CooldownTracker | None = 60.0,
        exempt: Iterable[str] = (),
        fallback_on: ErrorMatcher = Exception,
        cooldown_on: ErrorMatcher | None = None,
        reraise: bool = False,
        timeout: float | None = None,
        retry: tenacity.Retrying | None = None,
        counter: RoundRobinCounter | None = None,
        clock: Callable[[], float] | None = None,
        on_event: EventHook | Sequence[EventHook] | None = None,
        max_concurrency: int | dict[str, int] | ConcurrencyLimiter | None = None,
    ) -> None:
        config = Config.build(
            providers,
            strategy=strategy,
            cooldown=cooldown,
            exempt=exempt,
            fallback_on=fallback_on,
            cooldown_on=cooldown_on,
            reraise=reraise,
            timeout=timeout,
            retry=retry,
            counter=counter,
            clock=clock,
            on_event=on_event,
            max_concurrency=max_concurrency,
        )
        self.config = config
        self.strategy = config.strategy
        self.tracker = config.tracker
        self.exempt = config.exempt
        self.reraise = config.reraise
        self.timeout = config.timeout
        self.retry = config.retry
        self.counter = config.counter
        self.limiter = config.limiter
        self._stats = Stats()
        tracker = config.tracker
        #: Only the fallback strategy consults and records cooldowns.
        self.uses_tracker = config.strategy is Strategy.FALLBACK and tracker is not None
        used = tracker if self.uses_tracker else None
        self.one_attempt = config.strategy is not Strategy.FALLBACK
        self.counter_strategy = config.strategy is Strategy.ROUND_ROBIN
        self.remaining_many: Callable[[Sequence[str]], Sequence[float]] | None = getattr(
            used, "remaining_many", None
        )
        self.try_probe: Callable[[str], bool | None] | None = getattr(used, "try_probe", None)
        self.end_probe: Callable[[str], None] | None = getattr(used, "end_probe", None)
        self.recorder = Recorder(
            used, config.exempt, config.fallback_on, config.cooldown_on, config.hooks, self._stats
        )
        # The inlined happy path needs a fixed provider list and nothing around attempts.
        self._direct = (
            config.static is not None
            and config.hooks is None
            and config.timeout is None
            and config.limiter is None
            and (used is None or _inlinable(used, config.clock))
        )

    # -- public API ----------------------------------------------------------------

    def __call__(self, fn: Callable[Concatenate[Any, P], R]) -> RoutedFunction[P, R]:
        """Decorate ``fn`` (first parameter: the provider) with this router."""
        check_routable(fn)
        return RoutedFunction(self, fn)

    def execute(
        self, fn: Callable[Concatenate[Any, P], R], /, *args: P.args, **kwargs: P.kwargs
    ) -> Result[R]:
        """Route one call of ``fn(provider, *args, **kwargs)`` and return its Result."""
        check_routable(fn)
        return self._call(fn, args, kwargs, True)  # type: ignore[no-any-return]

    def providers(self) -> Providers:
        """Return the current ``(names, objects)``; reads a callable ``providers``."""
        config = self.config
        if config.static is not None:
            return config.static
        assert config.dynamic is not None  # noqa: S101 - one of the two is always set
        return normalize(config.dynamic())

    def status(self) -> Status:
        """Return each provider's availability, cooldown and counts, in order.

        Safe while any number of threads call the router.
        """
        names = self.providers()[0]
        states: Mapping[str, CooldownState] = (
            self.tracker.snapshot() if self.tracker is not None else {}
        )
        rows: list[ProviderStatus] = []
        for name in names:
            successes, failures, last_error, last_latency = self._stats.get(name)
            state = states.get(name)
            remaining = state.remaining if state is not None else 0.0
            rows.append(
                ProviderStatus(
                    name=name,
                    available=remaining <= 0.0,
                    cooldown_remaining=remaining,
                    cooldown_length=state.length if state is not None else 0.0,
                    half_open=state.half_open if state is not None else False,
                    consecutive_failures=state.consecutive_failures if state else 0,
                    successes=successes,
                    failures=failures,
                    last_error=last_error,
                    last_latency=last_latency,
                )
            )
        return Status(rows)

    def reset(self) -> None:
        """Clear this router's providers' cooldowns and its counts.

        Safe while any number of threads call the router; calls in flight may
        still land in the new counts.
        """
        names = self.providers()[0]
        if self.tracker is not None:
            for name in names:
                self.tracker.reset(name)
        self._stats.reset()

    def __repr__(self) -> str:
        static = self.config.static
        names = static[0] if static is not None else "<callable>"
        return (
            f"Router(providers={names!r}, strategy={self.strategy.value!r}, "
            f"tracker={self.tracker!r})"
        )

    # -- the call path ---------------------------------------------------------------

    def plan(self, names: tuple[str, ...]) -> tuple[Sequence[float], bool]:
        """Return each provider's remaining cooldown and a clean flag.

        The flag is True when the tracker reported no state at all, so a success
        needs no ``record_success``.
        """
        tracker = self.tracker
        assert tracker is not None  # noqa: S101 - only called with a tracker
        if self.remaining_many is not None:
            remaining = self.remaining_many(names)
            return remaining, not remaining
        return [tracker.remaining(name) for name in names], False

    def _call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        want_result: bool,
    ) -> Any:
        """Route one call of ``fn(provider, *args, **kwargs)`` on the general path."""
        if _is_stream(fn):
            if want_result:
                return route_stream(self, fn, args, kwargs)
            return _lazy_stream(self, fn, args, kwargs)
        return self._run(fn, args, kwargs, want_result, None)

    def _make_caller(self, fn: Callable[..., Any], want_result: bool = False) -> Callable[..., Any]:
        """Return ``call(*args, **kwargs)`` routing ``fn``, with the happy path inlined.

        With ``want_result`` the caller returns a :class:`Result` (``fn.route``).
        """
        if _is_stream(fn):
            if want_result:

                def route_call(*args: Any, **kwargs: Any) -> Any:
                    return route_stream(self, fn, args, kwargs)

                return route_call

            def stream_call(*args: Any, **kwargs: Any) -> Any:
                return _lazy_stream(self, fn, args, kwargs)

            return stream_call
        if not self._direct:
            run = self._run

            def call(*args: Any, **kwargs: Any) -> Any:
                return run(fn, args, kwargs, want_result, None)

            return call
        return self._make_direct(fn, want_result)

    def _make_direct(self, fn: Callable[..., Any], want_result: bool) -> Callable[..., Any]:
        """The happy path: the general path's first attempt, inlined (see the module doc).

        It runs while the tracker (if any) holds no state at all; the attempt's
        context, latency, success count and Result are exactly what ``_run``
        records. A failed first attempt is handed to ``_run``, which continues it.
        """
        static = self.config.static
        assert static is not None  # noqa: S101 - implied by _direct
        names, objects = static
        count = len(names)
        router_clock = self.config.clock
        states = tuple(
            (name, 1, i == count - 1, None, router_clock) for i, name in enumerate(names)
        )
        calls = tuple(functools.partial(fn, provider) for provider in objects)
        tracker: Any = self.tracker if self.uses_tracker else None
        pick = self.config.counter.next_index if self.counter_strategy else None
        stats = self._stats
        local = stats.local
        run = self._run
        set_current, reset_current = CURRENT.set, CURRENT.reset

        def direct_call(*args: Any, **kwargs: Any) -> Any:
            index = 0 if pick is None else pick() % count
            clock = router_clock if router_clock is not None else time.monotonic
            start = clock()
            # The tracker holds no state and its view is fresh (a Redis mirror's can
            # go stale; an in-memory tracker's never does): nothing to plan.
            if tracker is not None and (not tracker._idle or start >= tracker._fresh_until):  # noqa: SLF001
                return run(fn, args, kwargs, want_result, None)
            token = set_current(states[index])
            try:
                response = calls[index](*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - handed to the general path below
                failure: Outcome = (None, exc, start, clock())
            else:
                end = clock()
                name = names[index]
                try:
                    row = local.rows[name]
                except (AttributeError, KeyError):
                    row = stats.row(name)
                row[0] += 1
                row[1] = latency = end - start
                row[2] = end
                if want_result:
                    return new_result(
                        response,
                        name,
                        latency,
                        1,
                        index == count - 1,
                        (new_attempt(name, None, latency, False),),
                        (),
                    )
                return response
            finally:
                reset_current(token)
            # Outside the except block: later errors get no __context__ from this one.
            return run(fn, args, kwargs, want_result, (index, failure))

        return direct_call

    def _run(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        want_result: bool,
        first: tuple[int, Outcome] | None,
    ) -> Any:
        """Route one call in full: plan, attempt, record, report.

        ``first`` is the happy path's failed first attempt (index, outcome), which
        this continues (retries included) instead of making it again.
        """
        call = RoutedCall(self, fn, first)
        objects = call.objects
        made = first[1] if first is not None else None
        while (candidate := call.next()) is not None:
            index, forced, probe = candidate
            outcome = call.attempt(
                index, forced, probe, functools.partial(fn, objects[index], *args, **kwargs), made
            )
            made = None
            if outcome is not None:
                if want_result:
                    return call.result(outcome[0], index, outcome[3] - outcome[2])
                return outcome[0]
        raise call.error()


def _lazy_stream(
    router: Router, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """Route the stream when the consumer first asks for an item."""
    yield from route_stream(router, fn, args, kwargs).response


def routed(  # noqa: PLR0913 - mirrors Router's keyword-only configuration
    *,
    providers: ProvidersSpec,
    strategy: Strategy | str = Strategy.FALLBACK,
    cooldown: float | CooldownTracker | None = 60.0,
    exempt: Iterable[str] = (),
    fallback_on: ErrorMatcher = Exception,
    cooldown_on: ErrorMatcher | None = None,
    reraise: bool = False,
    timeout: float | None = None,
    retry: tenacity.Retrying | None = None,
    counter: RoundRobinCounter | None = None,
    clock: Callable[[], float] | None = None,
    on_event: EventHook | Sequence[EventHook] | None = None,
    max_concurrency: int | dict[str, int] | ConcurrencyLimiter | None = None,
) -> Callable[[Callable[Concatenate[Any, P], R]], RoutedFunction[P, R]]:
    """Build a :class:`Router` from the arguments and decorate one function with it.

    The function's first parameter (after ``self`` for methods) receives the
    provider object. Configuration errors are raised here, at decoration time;
    see :class:`Router` for the arguments. A generator function routes a stream:
    calling it returns an iterator, ``fn.route(...)`` a :class:`Result` whose
    ``response`` is that iterator.

    Example::

        @routed(providers=[gemini, grok], strategy="fallback")
        def generate(provider, prompt: str) -> bytes:
            return provider.generate_image(prompt)

    .. versionadded:: 0.1.0
    """
    router = Router(
        providers,
        strategy=strategy,
        cooldown=cooldown,
        exempt=exempt,
        fallback_on=fallback_on,
        cooldown_on=cooldown_on,
        reraise=reraise,
        timeout=timeout,
        retry=retry,
        counter=counter,
        clock=clock,
        on_event=on_event,
        max_concurrency=max_concurrency,
    )
    return router.__call__
