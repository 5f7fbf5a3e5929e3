"""The :class:`Router`: plan which providers to try, call them, record, and report."""

# pyright: reportUnnecessaryTypeIgnoreComment=false
# (the ignores in this module are for mypy; pyright needs none of them)

from __future__ import annotations

import functools
import inspect
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from threading import get_ident
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

import tenacity

from . import _log
from ._classify import ErrorMatcher, default_cooldown_on, to_predicate
from ._cooldown import CooldownState, CooldownTracker, InMemoryCooldown, check_seconds
from ._errors import AllProvidersFailedError, DeadlineExceededError, InvalidConfigError
from ._events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CallFailed,
    CooldownEntered,
    Event,
    EventHook,
    ProviderSkipped,
    TerminusForced,
)
from ._providers import Providers, ProvidersSpec, normalize
from ._results import Attempt, Result, _current, attempt_slot
from ._retry import retry_after_first
from ._status import ProviderStatus, Stats, Status
from ._strategies import InMemoryRoundRobin, RoundRobinCounter, Strategy, plan_fallback

if TYPE_CHECKING:
    from typing import Concatenate

    from ._decorator import RoutedFunction

__all__ = ["Router"]

P = ParamSpec("P")
R = TypeVar("R")

_TRY, _SKIP, _FORCE = 0, 1, 2
_Steps = tuple[tuple[int, int], ...]
_FIRST: _Steps = ((0, _TRY),)
_MODE_FALLBACK, _MODE_PRIMARY, _MODE_ROUND_ROBIN = 0, 1, 2
_MODES = {
    Strategy.FALLBACK: _MODE_FALLBACK,
    Strategy.PRIMARY_ONLY: _MODE_PRIMARY,
    Strategy.ROUND_ROBIN: _MODE_ROUND_ROBIN,
}


def _all_try(count: int) -> _Steps:
    return tuple((index, _TRY) for index in range(count))


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
    if inspect.isgeneratorfunction(fn):
        msg = (
            f"{getattr(fn, '__qualname__', fn)!r} is a generator function; a routed "
            f"call must return its response (return a list instead of yielding)"
        )
        raise TypeError(msg)


class Router:
    """Route calls across interchangeable providers with a strategy and cooldowns.

    A Router is a decorator: ``@router`` on several functions shares one cooldown
    state and one round-robin counter. :func:`routed` builds one per function.
    All arguments are keyword-only except ``providers`` and are validated here.

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
            recorded with the tracker. Default: all but 4xx statuses other than
            401, 403, 404, 408 and 429.
        reraise: raise the last provider's own exception instead of
            :class:`AllProvidersFailedError`.
        timeout: total seconds for one routed call, checked between attempts.
        retry: a ``tenacity.Retrying`` used as a template for each provider attempt.
        counter: a :class:`RoundRobinCounter` to share one rotation between routers.
        clock: zero-argument callable returning seconds; default ``time.monotonic``
            looked up at call time. Also given to the default tracker.
        on_event: a callable or a sequence of callables receiving :class:`Event`s.

    .. versionadded:: 0.1.0
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
    ) -> None:
        self.strategy = Strategy.parse(strategy)
        if clock is not None and not callable(clock):
            msg = f"clock must be a zero-argument callable, got {clock!r}"
            raise InvalidConfigError(msg)
        self._clock = clock
        self._static: Providers | None = None
        self._dynamic: Callable[[], object] | None = None
        if isinstance(providers, Sequence | Mapping) or not callable(providers):
            self._static = normalize(providers)  # pyright: ignore[reportUnknownArgumentType]
            self._steps = _all_try(len(self._static[0]))
        else:
            self._dynamic = providers
            self._steps = ()
        self.tracker = self._build_tracker(cooldown, clock)
        self._remaining_many: Callable[[Sequence[str]], Sequence[float]] | None = None
        if self.tracker is not None:
            self._remaining_many = getattr(self.tracker, "remaining_many", None)
        self.exempt = self._build_exempt(exempt)
        self._fallback_on = to_predicate(fallback_on, "fallback_on")
        self._cooldown_on = (
            default_cooldown_on if cooldown_on is None else to_predicate(cooldown_on, "cooldown_on")
        )
        if not isinstance(reraise, bool):
            msg = f"reraise must be a bool, got {reraise!r}"
            raise InvalidConfigError(msg)
        self.reraise = reraise
        self.timeout = None if timeout is None else check_seconds("timeout", timeout)
        if retry is not None and not isinstance(retry, tenacity.Retrying):
            msg = f"retry must be a tenacity.Retrying (used as a template), got {retry!r}"
            raise InvalidConfigError(msg)
        self.retry = retry
        if counter is None:
            counter = InMemoryRoundRobin()
        elif not callable(getattr(counter, "next_index", None)):
            msg = f"counter must have a next_index() method, got {counter!r}"
            raise InvalidConfigError(msg)
        self.counter = counter
        self._hooks = self._build_hooks(on_event)
        self._stats = Stats()
        self._mode = _MODES[self.strategy]
        # Only the fallback strategy consults and records cooldowns.
        self._use_tracker = self.strategy is Strategy.FALLBACK and self.tracker is not None
        # Direct callers need a fixed provider list and nothing to do around attempts.
        self._direct = self._static is not None and self._hooks is None and self.timeout is None
        self._fast = self._build_fast()

    # -- configuration -------------------------------------------------------------

    @staticmethod
    def _build_tracker(
        cooldown: object, clock: Callable[[], float] | None
    ) -> CooldownTracker | None:
        if cooldown is None:
            return None
        if isinstance(cooldown, int | float) and not isinstance(cooldown, bool):
            return InMemoryCooldown(check_seconds("cooldown", cooldown), clock=clock)
        if isinstance(cooldown, CooldownTracker):
            return cooldown
        msg = f"cooldown must be seconds, a cooldown tracker or None, got {cooldown!r}"
        raise InvalidConfigError(msg)

    def _build_exempt(self, exempt: object) -> frozenset[str]:
        if isinstance(exempt, str) or not isinstance(exempt, Iterable):
            msg = f"exempt must be a collection of provider names, got {exempt!r}"
            raise InvalidConfigError(msg)
        names: set[str] = set()
        for name in cast("Iterable[object]", exempt):
            if not isinstance(name, str):
                msg = f"exempt names must be str, got {name!r}"
                raise InvalidConfigError(msg)
            if self._static is not None and name not in self._static[0]:
                msg = f"exempt names unknown provider {name!r}; providers: {self._static[0]}"
                raise InvalidConfigError(msg)
            names.add(name)
        return frozenset(names)

    @staticmethod
    def _build_hooks(on_event: object) -> tuple[EventHook, ...] | None:
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

    def _build_fast(self) -> tuple[str, Any, Any, InMemoryCooldown | None] | None:
        """Precompute the happy path when it is eligible (see ``_call``)."""
        if not self._direct or self._mode == _MODE_ROUND_ROBIN:
            return None  # round robin: see _make_round_robin_caller
        tracker = self.tracker if self._use_tracker else None
        if tracker is not None and type(tracker) is not InMemoryCooldown:
            return None
        assert self._static is not None  # noqa: S101 - implied by _direct
        names, objects = self._static
        state = (names[0], 1, len(names) == 1, None, self._clock)
        return names[0], objects[0], state, tracker

    # -- public API ----------------------------------------------------------------

    def __call__(self, fn: Callable[Concatenate[Any, P], R]) -> RoutedFunction[P, R]:
        """Decorate ``fn`` (first parameter: the provider) with this router."""
        from ._decorator import RoutedFunction  # noqa: PLC0415 - circular by design

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
        if self._static is not None:
            return self._static
        assert self._dynamic is not None  # noqa: S101 - one of the two is always set
        return normalize(self._dynamic())

    def status(self) -> Status:
        """Return each provider's availability, cooldown and counts, in order."""
        names = self.providers()[0]
        tracker = self.tracker
        states: Mapping[str, CooldownState] = tracker.snapshot() if tracker is not None else {}
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
                    consecutive_failures=state.consecutive_failures if state else 0,
                    successes=successes,
                    failures=failures,
                    last_error=last_error,
                    last_latency=last_latency,
                )
            )
        return Status(rows)

    def reset(self) -> None:
        """Clear this router's providers' cooldowns and its counts."""
        names = self.providers()[0]
        if self.tracker is not None:
            for name in names:
                self.tracker.reset(name)
        self._stats.reset()

    def __repr__(self) -> str:
        names = self._static[0] if self._static is not None else "<callable>"
        return (
            f"Router(providers={names!r}, strategy={self.strategy.value!r}, "
            f"tracker={self.tracker!r})"
        )

    # -- the call path ---------------------------------------------------------------

    def _now(self) -> float:
        clock = self._clock
        return clock() if clock is not None else time.monotonic()

    def _emit(self, event: Event) -> None:
        for hook in self._hooks or ():
            try:
                hook(event)
            except Exception:  # noqa: BLE001 - a hook never breaks the routed call
                _log.logger.opt(exception=True).error(
                    _log.EVENT_HOOK_FAILED, hook=repr(hook), event=type(event).__name__
                )

    def _plan(self, names: tuple[str, ...]) -> tuple[_Steps, Sequence[float], bool]:
        """Return the steps, each provider's remaining cooldown, and a clean flag.

        The flag is True when the tracker reported no state at all, so a success
        needs no ``record_success``.
        """
        tracker = self.tracker
        assert tracker is not None  # noqa: S101 - only called with a tracker
        remaining_many = self._remaining_many
        if remaining_many is not None:
            remaining = remaining_many(names)
            if not remaining:
                return self._steps_for(names), (), True
        else:
            remaining = [tracker.remaining(name) for name in names]
        if max(remaining) <= 0.0:
            return self._steps_for(names), remaining, False
        plan = plan_fallback(remaining)
        steps = sorted(
            [(i, _SKIP) for i in plan.skipped]
            + [(i, _FORCE if remaining[i] > 0.0 else _TRY) for i in plan.order]
        )
        return tuple(steps), remaining, False

    def _steps_for(self, names: tuple[str, ...]) -> _Steps:
        return self._steps if self._static is not None else _all_try(len(names))

    def _call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        want_result: bool,
    ) -> Any:
        """Route one call of ``fn(provider, *args, **kwargs)`` on the general path."""
        return self._run(fn, args, kwargs, want_result, None)

    def _make_caller(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Return ``call(*args, **kwargs)`` routing ``fn``, with the happy path inlined.

        Eligible routers (static providers, no hooks, no budget, a fallback or
        primary-only strategy, an in-memory tracker or none) try the first provider
        directly while the tracker holds no state at all; anything else, and any
        failure, continues on the general path (``_run``).
        """
        run = self._run
        fast = self._fast
        if fast is None:
            if self._mode == _MODE_ROUND_ROBIN and self._direct:
                return self._make_round_robin_caller(fn)

            def call(*args: Any, **kwargs: Any) -> Any:
                return run(fn, args, kwargs, False, None)

            return call

        name, provider, state, tracker = fast
        call_first = functools.partial(fn, provider)  # C-level argument prepending
        router_clock = self._clock
        stats = self._stats
        local = stats.local
        recover = self._first_failed
        current = _current.get

        def fast_call(*args: Any, **kwargs: Any) -> Any:
            if tracker is not None and not tracker._idle:  # noqa: SLF001 - same package
                return run(fn, args, kwargs, False, None)
            clock = router_clock if router_clock is not None else time.monotonic
            slot = current()
            if slot is None or slot.owner != get_ident():
                slot = attempt_slot()
            saved = slot.state
            slot.state = state
            start = clock()
            try:
                response = call_first(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is classified there
                return recover(exc, fn, 0, start, args, kwargs)
            finally:
                slot.state = saved
            end = clock()
            try:
                row = local.first
            except AttributeError:
                row = local.first = stats.row(name)
            row[0] += 1
            row[1] = end - start
            row[2] = end
            return response

        return fast_call

    def _make_round_robin_caller(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Return the round-robin caller: pick, one attempt, no planning or tracker."""
        assert self._static is not None  # noqa: S101 - implied by _direct
        names, objects = self._static
        count = len(names)
        states = tuple((name, 1, i == count - 1, None, self._clock) for i, name in enumerate(names))
        calls = tuple(functools.partial(fn, provider) for provider in objects)
        next_index = self.counter.next_index
        router_clock = self._clock
        success = self._stats.success
        recover = self._first_failed

        def round_robin_call(*args: Any, **kwargs: Any) -> Any:
            index = next_index() % count
            name = names[index]
            clock = router_clock if router_clock is not None else time.monotonic
            slot = attempt_slot()
            saved = slot.state
            slot.state = states[index]
            start = clock()
            try:
                response = calls[index](*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure is classified there
                return recover(exc, fn, index, start, args, kwargs)
            finally:
                slot.state = saved
            end = clock()
            success(name, end - start, end)
            return response

        return round_robin_call

    def _first_failed(
        self,
        exc: Exception,
        fn: Callable[..., Any],
        index: int,
        start: float,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """Finish a direct first attempt that raised: retries, records, then fallback.

        Called by the inlined callers (``_make_caller``) from inside their ``except``
        block, with the attempt's context still set; returns what the call returns.
        """
        assert self._static is not None  # noqa: S101 - direct callers need static providers
        names, objects = self._static
        name = names[index]
        if self.retry is not None:
            try:
                response = self._retry(exc, fn, objects[index], args, kwargs, None)
            except Exception as final:  # noqa: BLE001 - classified below like any failure
                exc = final
            else:
                end = self._now()
                self._stats.success(name, end - start, end)
                return response
        attempt = self._failed(exc, name, 1, index == len(names) - 1, self._now() - start, "")
        if attempt is None:
            raise exc
        if self._mode != _MODE_FALLBACK:
            return self._fail([attempt], [exc], False, "")
        return self._run(fn, args, kwargs, False, attempt)

    def _run(  # noqa: C901, PLR0912, PLR0915 - one frame for the whole general path
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        want_result: bool,
        first: Attempt | None,
    ) -> Any:
        """Route one call in full: plan, attempt, record, report.

        ``first`` is the failed first attempt when the happy path already made it.
        """
        static = self._static
        names, objects = static if static is not None else self.providers()
        mode = self._mode
        use_tracker = self._use_tracker
        clean = False
        remaining: Sequence[float] = ()
        if first is not None:
            steps = self._steps[1:] if mode == _MODE_FALLBACK else ()
        elif mode == _MODE_FALLBACK:
            if use_tracker:
                steps, remaining, clean = self._plan(names)
            else:
                steps = self._steps_for(names)
        elif mode == _MODE_PRIMARY:
            steps = _FIRST
        else:
            steps = ((self.counter.next_index() % len(names), _TRY),)

        clock = self._clock
        if clock is None:
            clock = time.monotonic
        timeout = self.timeout
        deadline = None if timeout is None else clock() + timeout
        hooks = self._hooks
        qualname = ""
        if hooks is not None:
            qualname = getattr(fn, "__qualname__", None) or repr(fn)
        attempts: list[Attempt] = []
        errors: list[Exception] = []
        if first is not None:
            attempts.append(first)
            errors.append(first.error)  # type: ignore[arg-type]
        skipped: list[str] = []
        timed_out = False
        last = len(names) - 1

        for index, kind in steps:
            name = names[index]
            number = len(attempts)
            if kind == _SKIP:
                left = remaining[index]
                _log.logger.debug(_log.SKIPPING, provider=name, remaining=left)
                skipped.append(name)
                if hooks is not None:
                    self._emit(ProviderSkipped(function=qualname, provider=name, remaining=left))
                continue
            if number and deadline is not None and clock() >= deadline:
                timed_out = True
                break
            if kind == _FORCE:
                left = remaining[index]
                _log.logger.info(_log.ATTEMPTING_TERMINUS, provider=name, remaining=left)
                if hooks is not None:
                    self._emit(TerminusForced(function=qualname, provider=name, remaining=left))
            number += 1
            is_terminus = index == last
            if hooks is not None:
                self._emit(
                    AttemptStarted(
                        function=qualname, provider=name, attempt=number, is_terminus=is_terminus
                    )
                )
            slot = attempt_slot()
            saved = slot.state
            slot.state = (name, number, is_terminus, deadline, self._clock)
            start = clock()
            try:
                try:
                    response = fn(objects[index], *args, **kwargs)
                except Exception as exc:
                    if self.retry is None:
                        raise
                    response = self._retry(exc, fn, objects[index], args, kwargs, deadline)
            except Exception as exc:
                latency = clock() - start
                attempt = self._failed(exc, name, number, is_terminus, latency, qualname)
                if attempt is None:
                    raise
                attempts.append(attempt)
                errors.append(exc)
                continue
            finally:
                slot.state = saved
            end = clock()
            latency = end - start
            if use_tracker and not clean:
                self.tracker.record_success(name)  # type: ignore[union-attr]
            self._stats.success(name, latency, end)
            if number > 1:
                _log.logger.info(
                    _log.SUCCEEDED_ON_FALLBACK, provider=name, attempt=number, latency=latency
                )
            if hooks is not None:
                self._emit(
                    AttemptSucceeded(
                        function=qualname, provider=name, attempt=number, latency=latency
                    )
                )
            if not want_result:
                return response
            attempts.append(Attempt(provider=name, error=None, latency=latency))
            return Result(
                response=response,
                provider=name,
                latency=latency,
                attempt=number,
                was_terminus=is_terminus,
                attempts=tuple(attempts),
                skipped=tuple(skipped),
            )
        return self._fail(attempts, errors, timed_out, qualname)

    def _failed(
        self,
        exc: Exception,
        name: str,
        number: int,
        is_terminus: bool,
        latency: float,
        qualname: str,
    ) -> Attempt | None:
        """Handle one failed attempt: count, log, emit, record.

        Returns None when ``exc`` is not a fallback trigger (the caller re-raises it).
        """
        fallback = self._fallback_on(exc)
        use_tracker = self._use_tracker
        counted = bool(
            fallback and use_tracker and name not in self.exempt and self._cooldown_on(exc)
        )
        self._stats.failure(name, exc, latency, self._now())
        _log.logger.warning(
            _log.PROVIDER_FAILED,
            provider=name,
            attempt=number,
            is_terminus=is_terminus,
            latency=latency,
            error=exc,
            counted=counted,
        )
        hooks = self._hooks
        if hooks is not None:
            self._emit(
                AttemptFailed(
                    function=qualname,
                    provider=name,
                    attempt=number,
                    error=exc,
                    latency=latency,
                    counted=counted,
                    fallback=fallback,
                )
            )
        if not fallback:
            return None
        tracker = self.tracker
        if counted:
            assert tracker is not None  # noqa: S101 - counted implies a tracker
            if tracker.record_failure(name, exc):
                duration = tracker.remaining(name)
                _log.logger.warning(
                    _log.ENTERING_COOLDOWN, provider=name, duration=duration, error=exc
                )
                if hooks is not None:
                    self._emit(
                        CooldownEntered(
                            function=qualname, provider=name, duration=duration, reason=exc
                        )
                    )
        elif use_tracker and name not in self.exempt:
            _log.logger.info(_log.NOT_COUNTED, provider=name, error=exc)
        return Attempt(provider=name, error=exc, latency=latency, counted=counted)

    def _fail(
        self, attempts: list[Attempt], errors: list[Exception], timed_out: bool, qualname: str
    ) -> Any:
        error: Exception
        if timed_out:
            error = DeadlineExceededError(
                f"time budget of {self.timeout} s ran out after {len(attempts)} attempt(s)",
                timeout=self.timeout or math.inf,
                attempts=attempts,
            )
            error.__cause__ = errors[-1]
        elif self.reraise:
            error = errors[-1]
        else:
            tried = ", ".join(a.provider for a in attempts)
            error = AllProvidersFailedError(
                f"all providers failed ({tried})", errors, attempts=attempts
            )
        if self._hooks is not None:
            self._emit(CallFailed(function=qualname, error=error, attempts=tuple(attempts)))
        raise error

    def _retry(
        self,
        first: Exception,
        fn: Callable[..., Any],
        provider: object,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        deadline: float | None,
    ) -> Any:
        """Retry a failed first try under the ``retry=`` template (failure path only)."""
        assert self.retry is not None  # noqa: S101 - only called with a template
        return retry_after_first(
            self.retry, first, lambda: fn(provider, *args, **kwargs), deadline, self._clock
        )
