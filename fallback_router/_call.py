"""One routed call on the general path: plan, pick each candidate, collect, conclude.

A :class:`RoutedCall` is built per call (never on the inlined happy path). Its
:meth:`~RoutedCall.next` walks the plan and yields each provider to
attempt, having already passed over those in cooldown, probed by another call or
saturated, checked the time budget and taken the provider's concurrency slot and
half-open probe. The caller (a plain call or a stream) attempts it with
:meth:`~RoutedCall.attempt`, which records what happened and gives the slot and
probe back, and concludes with :meth:`~RoutedCall.result` or
:meth:`~RoutedCall.error`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._attempt import Outcome, attempt
from ._errors import AllProvidersFailedError, DeadlineExceededError
from ._events import CallFailed
from ._record import caller_bug_hint
from ._results import Attempt, AttemptState, Result, new_attempt, new_result

if TYPE_CHECKING:
    from ._router import Router

__all__ = ["Candidate", "RoutedCall", "unwrapped"]

_COOLDOWN, _PROBING, _SATURATED = "cooldown", "probe in flight", "saturated"

#: A provider to attempt now: its position, the forced terminus' remaining
#: cooldown (None unless forced) and whether this call holds its half-open probe.
Candidate = tuple[int, float | None, bool]


def unwrapped(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` without its ``functools.partial`` layers (a method is ``partial(fn, self)``)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


class RoutedCall:
    """The state of one routed call on the general path."""

    __slots__ = (
        "clean",
        "clock",
        "cursor",
        "deadline",
        "deferred",
        "failures",
        "function",
        "names",
        "objects",
        "order",
        "reasons",
        "remaining",
        "router",
        "skipped",
        "timed_out",
    )

    def __init__(
        self,
        router: Router,
        fn: Callable[..., Any],
        first: tuple[int, Outcome] | None,
    ) -> None:
        self.router = router
        config = router.config
        static = config.static
        if static is not None:
            self.names, self.objects = static
        else:
            self.names, self.objects = router.providers()
            router._stats.bound(self.names)  # noqa: SLF001 - the router's own counts
        # The router's clock, else time.monotonic looked up now (freezegun patches it).
        self.clock = clock = config.clock if config.clock is not None else time.monotonic
        timeout = config.timeout
        self.deadline = None if timeout is None else clock() + timeout
        self.function = ""
        if config.hooks is not None:
            target = unwrapped(fn)  # a method's partial names the method
            self.function = getattr(target, "__qualname__", None) or repr(target)
        #: (provider, error, latency, counted) of each failed attempt, in order.
        self.failures: list[tuple[str, Exception, float, bool]] = []
        self.skipped: list[str] = []
        self.reasons: list[str] = []
        self.timed_out = False
        self.cursor = 0
        self.deferred: list[int] = []
        self.remaining: Sequence[float] = ()
        self.clean = True
        count = len(self.names)
        if first is not None:  # the happy path tried `first` with an idle tracker
            start = first[0]
            self.order: Sequence[int] = (start,) if router.one_attempt else range(start, count)
        elif router.counter_strategy:
            pick = config.counter.next_index() % count
            self.order = (*range(pick, count), *range(pick))
        elif router.one_attempt:
            self.order = (0,)
        else:
            self.order = range(count)
            if router.uses_tracker:
                self.remaining, self.clean = router.plan(self.names)

    def state(self, index: int, number: int) -> AttemptState:
        """The ``current_attempt()`` facts of attempt ``number`` on provider ``index``."""
        return (
            self.names[index],
            number,
            index == len(self.names) - 1,
            self.deadline,
            self.router.config.clock,
        )

    def _skip(self, name: str, remaining: float, reason: str) -> None:
        self.skipped.append(name)
        self.reasons.append(reason)
        self.router.recorder.skipped(name, remaining, reason, self.function)

    def _out_of_time(self) -> bool:
        if self.failures and self.deadline is not None and self.clock() >= self.deadline:
            self.timed_out = True
        return self.timed_out

    def next(self) -> Candidate | None:  # noqa: C901 - one walk over the plan
        """Return the next provider to attempt, in order; None when out of plan or time.

        A method with a cursor rather than a generator: it runs on every routed
        call that leaves the happy path, where a generator's setup and close cost
        more than the walk itself.
        """
        router = self.router
        names, remaining, last = self.names, self.remaining, len(self.names) - 1
        limiter, deadline, order = router.config.limiter, self.deadline, self.order
        # Half-open probes exist only when the tracker has them and reported state.
        probing = router.try_probe is not None and not self.clean
        while self.cursor < len(order):
            index = order[self.cursor]
            self.cursor += 1
            name = names[index]
            left = remaining[index] if remaining else 0.0
            forced = None
            if left > 0.0:
                if index != last:
                    self._skip(name, left, _COOLDOWN)
                    continue
                forced = left
            if deadline is not None and self._out_of_time():
                return self._stop()
            if limiter is not None and not limiter.try_acquire(name):
                self._skip(name, 0.0, _SATURATED)
                self.deferred.append(index)
                continue
            candidate = self._claim(index, forced) if probing else (index, forced, False)
            if candidate is not None:
                return self._stop(candidate) if router.one_attempt else candidate
        deferred = self.deferred
        while deferred:  # every provider left was saturated: wait for a free slot
            if self._out_of_time():
                return self._stop()
            assert limiter is not None  # noqa: S101 - only saturated providers are deferred
            got = limiter.acquire_any([names[i] for i in deferred], deadline, router.config.clock)
            if got is None:
                self.timed_out = True
                return self._stop()
            index = names.index(got)
            deferred.remove(index)
            forced = remaining[index] if remaining and remaining[index] > 0.0 else None
            candidate = self._claim(index, forced) if probing else (index, forced, False)
            if candidate is not None:
                return self._stop(candidate) if router.one_attempt else candidate
        return None

    def _stop(self, candidate: Candidate | None = None) -> Candidate | None:
        """End the walk: ``next()`` returns None from now on (after ``candidate``)."""
        self.cursor = len(self.order)
        self.deferred.clear()
        return candidate

    def _claim(self, index: int, forced: float | None) -> Candidate | None:
        """Claim ``index``'s half-open probe when it has one; None to pass it over.

        Only called while probing (the tracker has probes and reported state).
        """
        router = self.router
        if forced is not None:  # a forced terminus is attempted, not probed
            return (index, forced, False)
        name = self.names[index]
        assert router.try_probe is not None  # noqa: S101 - implied by probing
        claim = router.try_probe(name)
        if claim is False:  # another call probes it
            left = router.tracker.remaining(name) if router.tracker is not None else 0.0
            if index != len(self.names) - 1:
                if router.config.limiter is not None:
                    router.config.limiter.release(name)
                self._skip(name, left, _PROBING)
                return None
            return (index, max(left, 0.0), False)
        return (index, None, claim is True)

    def release(self, index: int, probe: bool, slot: bool = True) -> None:
        """Give back what :meth:`next` took for provider ``index``."""
        name = self.names[index]
        router = self.router
        if probe and router.end_probe is not None:
            router.end_probe(name)
        if slot and router.config.limiter is not None:
            router.config.limiter.release(name)

    def attempt(
        self,
        index: int,
        forced: float | None,
        probe: bool,
        call: Callable[[], Any],
        first: Outcome | None = None,
        keep_slot: bool = False,
    ) -> Outcome | None:
        """Attempt candidate ``index`` with ``call`` and record what happened.

        Returns the :data:`Outcome` of a success; None after a failure that falls
        back (noted for the error and the Result). A failure that is not a
        fallback trigger is raised unchanged. ``first`` is a failed attempt already
        made (the inlined happy path), continued rather than repeated;
        ``keep_slot`` keeps a success's concurrency slot (a stream gives it back).
        """
        router = self.router
        recorder = router.recorder
        name = self.names[index]
        number = len(self.failures) + 1
        state = self.state(index, number)
        if first is None and (forced is not None or probe or recorder.hooks is not None):
            recorder.started(name, number, state[2], forced, probe, self.function)
        release_slot = True
        holds = probe or router.config.limiter is not None
        try:
            outcome = attempt(call, state, self.clock, router.config.retry, first)
            _, error, start, end = outcome
            latency = end - start
            if error is None:
                recorder.succeeded(name, number, latency, end, self.clean, self.function)
                release_slot = not keep_slot
                return outcome
            counted = recorder.failed(
                name, number, len(self.names), state[2], error, latency, end,
                self.function,
            )  # fmt: skip
        finally:
            if holds:
                self.release(index, probe, slot=release_slot)
        if counted is None:
            raise error  # not a fallback trigger: unchanged, no context added
        self.failures.append((name, error, latency, counted))
        return None

    def attempts(self) -> list[Attempt]:
        """The :class:`Attempt` records of the failed attempts so far."""
        return [new_attempt(*failure) for failure in self.failures]

    def result(self, response: Any, index: int, latency: float) -> Result[Any]:
        """The :class:`Result` of a call that candidate ``index`` served."""
        name = self.names[index]
        return new_result(
            response,
            name,
            latency,
            len(self.failures) + 1,
            index == len(self.names) - 1,
            (*self.attempts(), new_attempt(name, None, latency, False)),
            tuple(self.skipped),
        )

    def error(self) -> Exception:
        """Build the error the caller receives, and emit ``CallFailed``."""
        config = self.router.config
        attempts = self.attempts()
        errors = [failure[1] for failure in self.failures]
        error: Exception
        if self.timed_out or not errors:
            error = DeadlineExceededError(
                f"time budget of {config.timeout} s ran out after {len(attempts)} attempt(s)",
                timeout=config.timeout if config.timeout is not None else float("inf"),
                attempts=attempts,
            )
            error.__cause__ = errors[-1] if errors else None
        elif config.reraise:
            error = errors[-1]
        else:
            tried = ", ".join(a.provider for a in attempts)
            message = f"all providers failed ({tried})"
            for reason, label in ((_COOLDOWN, "in cooldown"), (_SATURATED, "saturated")):
                names = [
                    n
                    for n, r in zip(self.skipped, self.reasons, strict=True)
                    if (r == reason or (reason == _COOLDOWN and r == _PROBING))
                ]
                if names:
                    message += f"; skipped {label}: {', '.join(names)}"
            error = AllProvidersFailedError(
                message + caller_bug_hint(errors),
                errors,
                attempts=attempts,
                skipped=self.skipped,
            )
        if config.hooks is not None:
            self.router.recorder.emit(
                CallFailed(function=self.function, error=error, attempts=tuple(attempts))
            )
        return error
