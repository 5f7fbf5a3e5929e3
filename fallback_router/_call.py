"""One routed call on the general path: plan, pick each candidate, collect, conclude.

A :class:`RoutedCall` is built per call (never on the inlined happy path). Its
:meth:`~RoutedCall.candidates` generator walks the plan and yields each provider to
attempt, having already passed over those in cooldown, probed by another call or
saturated, checked the time budget and taken the provider's concurrency slot and
half-open probe. The caller (a plain call or a stream) attempts it and reports
back with :meth:`~RoutedCall.failed` or concludes; :meth:`~RoutedCall.release`
gives the slot and probe back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from ._errors import AllProvidersFailedError, DeadlineExceededError
from ._events import CallFailed
from ._record import caller_bug_hint
from ._results import Attempt, AttemptState

if TYPE_CHECKING:
    from ._attempt import Outcome
    from ._router import Router

__all__ = ["Candidate", "RoutedCall"]

_COOLDOWN, _PROBING, _SATURATED = "cooldown", "probe in flight", "saturated"


class Candidate(NamedTuple):
    """A provider to attempt now: its position, the forced terminus' cooldown, a probe."""

    position: int
    forced: float | None
    probe: bool


class RoutedCall:
    """The state of one routed call on the general path."""

    __slots__ = (
        "attempts",
        "clean",
        "clock",
        "deadline",
        "errors",
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
        self.names, self.objects = router.providers()
        if config.dynamic is not None:
            router._stats.bound(self.names)  # noqa: SLF001 - the router's own counts
        self.clock = router.clock
        timeout = config.timeout
        self.deadline = None if timeout is None else self.clock() + timeout
        self.function = ""
        if config.hooks is not None:
            self.function = getattr(fn, "__qualname__", None) or repr(fn)
        self.attempts: list[Attempt] = []
        self.errors: list[Exception] = []
        self.skipped: list[str] = []
        self.reasons: list[str] = []
        self.timed_out = False
        self.remaining: Sequence[float] = ()
        self.clean = True
        count = len(self.names)
        if first is not None:  # the happy path tried `first` with an idle tracker
            start = first[0]
            self.order = [start] if router.one_attempt else list(range(start, count))
        elif router.counter_strategy:
            pick = config.counter.next_index() % count
            self.order = [*range(pick, count), *range(pick)]
        elif router.one_attempt:
            self.order = [0]
        else:
            self.order = list(range(count))
            if router.remaining_many is not None or router.uses_tracker:
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
        if self.attempts and self.deadline is not None and self.clock() >= self.deadline:
            self.timed_out = True
        return self.timed_out

    def candidates(self) -> Iterator[Candidate]:  # noqa: C901 - one walk over the plan
        """Yield each provider to attempt, in order; stop when out of plan or time."""
        router = self.router
        names, remaining, last = self.names, self.remaining, len(self.names) - 1
        limiter = router.config.limiter
        deferred: list[int] = []
        for index in self.order:
            name = names[index]
            left = remaining[index] if remaining else 0.0
            forced = None
            if left > 0.0:
                if index != last:
                    self._skip(name, left, _COOLDOWN)
                    continue
                forced = left
            if self._out_of_time():
                return
            if limiter is not None and not limiter.try_acquire(name):
                self._skip(name, 0.0, _SATURATED)
                deferred.append(index)
                continue
            candidate = self._claim(index, forced)
            if candidate is not None:
                yield candidate
                if router.one_attempt:
                    return
        while deferred:  # every provider left was saturated: wait for a free slot
            if self._out_of_time():
                return
            assert limiter is not None  # noqa: S101 - only saturated providers are deferred
            got = limiter.acquire_any(
                [names[i] for i in deferred], self.deadline, router.config.clock
            )
            if got is None:
                self.timed_out = True
                return
            index = names.index(got)
            deferred.remove(index)
            left = remaining[index] if remaining else 0.0
            candidate = self._claim(index, left if left > 0.0 else None)
            if candidate is not None:
                yield candidate
                if router.one_attempt:
                    return

    def _claim(self, index: int, forced: float | None) -> Candidate | None:
        """Claim ``index``'s half-open probe when it has one; None to pass it over."""
        router = self.router
        try_probe = router.try_probe
        if try_probe is None or self.clean or forced is not None:
            return Candidate(index, forced, False)
        name = self.names[index]
        claim = try_probe(name)
        if claim is False:  # another call probes it
            left = router.tracker.remaining(name) if router.tracker is not None else 0.0
            if index != len(self.names) - 1:
                if router.config.limiter is not None:
                    router.config.limiter.release(name)
                self._skip(name, left, _PROBING)
                return None
            return Candidate(index, max(left, 0.0), False)
        return Candidate(index, None, claim is True)

    def release(self, index: int, probe: bool, slot: bool = True) -> None:
        """Give back what :meth:`candidates` took for provider ``index``."""
        name = self.names[index]
        router = self.router
        if probe and router.end_probe is not None:
            router.end_probe(name)
        if slot and router.config.limiter is not None:
            router.config.limiter.release(name)

    def failed(self, attempt: Attempt, error: Exception) -> None:
        """Note a failed attempt that falls back."""
        self.attempts.append(attempt)
        self.errors.append(error)

    def error(self) -> Exception:
        """Build the error the caller receives, and emit ``CallFailed``."""
        config = self.router.config
        attempts, errors = self.attempts, self.errors
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
