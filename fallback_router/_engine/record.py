"""Recording what attempts did: into the counts, the logs and the hooks.

Tracker writes are not made here: they may wait on the network, so the call
state asks its driver to make them and reports the verdict back
([`Recorder.cooled`][fallback_router._engine.record.Recorder.cooled]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fallback_router._errors import AttemptTimeoutError, RejectedResponseError
from fallback_router._events import (
    AttemptAbandoned,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CallFailed,
    CallStarted,
    CallSucceeded,
    CooldownEntered,
    EventHook,
    ProviderSkipped,
    TerminusForced,
    builder,
)
from fallback_router._policy import explicit_duration
from fallback_router._redact import LastRedaction, Redactor, redact
from fallback_router._surfaces import log as _log
from fallback_router._surfaces.log import DEBUG, INFO, WARNING, wants

from .hooks import Hooks
from .stats import Stats

__all__ = ["CallRecorder", "Recorder"]

_T = _log.template
_SKIP_PHRASE = {
    "cooldown": _T(_log.SKIPPING),
    "probe in flight": _T(_log.SKIPPING),
    "rate limited": _T(_log.SKIPPING_RATE_LIMITED),
}
_log_saturated = _T(_log.SKIPPING_SATURATED)
_log_forced = _T(_log.ATTEMPTING_TERMINUS)
_log_probe = _T(_log.PROBING)
_log_not_counted = _T(_log.NOT_COUNTED)
_log_cooldown = _T(_log.ENTERING_COOLDOWN)
_log_fallback_ok = _T(_log.SUCCEEDED_ON_FALLBACK)
_log_timed_out = _T(_log.ATTEMPT_TIMED_OUT)
_log_rejected = _T(_log.RESPONSE_REJECTED)
_log_hedge = _T(_log.HEDGING)
_log_budget = _T(_log.BUDGET_EXHAUSTED)
_log_wait = _T(_log.WAITING)
_log_wait_unbounded = _log.WAITING_NO_LIMIT
_log_interrupted = _T(_log.STREAM_INTERRUPTED)
_log_hinted = _T(_log.HINT_RESPECTED)

call_started = builder(CallStarted)
attempt_started = builder(AttemptStarted)
attempt_succeeded = builder(AttemptSucceeded)
call_succeeded = builder(CallSucceeded)
_attempt_failed = builder(AttemptFailed)
_call_failed = builder(CallFailed)
_skipped = builder(ProviderSkipped)


class Recorder:
    """Turns attempt facts into counts, log records and events; one per router.

    Nothing here runs on the happy path but `Stats`; logs are formatted by loguru
    only when a handler takes them, events built only when hooks are set.
    """

    __slots__ = (
        "cooldown_for",
        "cooldown_on",
        "emit",
        "emit_two",
        "exempt",
        "failed_phrase",
        "fallback_on",
        "hooks",
        "redacted",
        "redactor",
        "stats",
        "strategy",
        "uses_tracker",
    )

    def __init__(  # noqa: PLR0913 - one per router, built once
        self,
        *,
        uses_tracker: bool,
        exempt: frozenset[str],
        fallback_on: Callable[[Exception], bool],
        cooldown_on: Callable[[Exception], bool],
        hooks: tuple[EventHook, ...] | None,
        stats: Stats,
        redactor: Redactor,
        strategy: str,
        failed_phrase: str,
        cooldown_for: Callable[[Exception], object] | None = None,
    ) -> None:
        self.uses_tracker = uses_tracker
        self.cooldown_for = cooldown_for
        self.exempt = exempt
        self.fallback_on = fallback_on
        self.cooldown_on = cooldown_on
        self.hooks = hooks
        self.stats = stats
        self.redactor = redactor
        self.strategy = strategy
        self.failed_phrase = _T(failed_phrase)
        delivery = Hooks(hooks or (), redactor)
        #: Send an event to every hook; a raising hook is logged and warned, never raised.
        self.emit = delivery.emit
        #: Send two events in order (the happy path's pairs), one call for both.
        self.emit_two = delivery.emit_two
        #: `(text, copy)` of a failure's error: redacted, and scrubbed for the counts.
        self.redacted = LastRedaction(redactor)

    def failure_args(self, name: str, error: Exception) -> tuple[Any, ...]:
        """The arguments of the tracker's `record_failure` for `error` (failure path only).

        With `cooldown_for=` and a length for `error`: `(name, error, seconds)`.
        """
        cooldown_for = self.cooldown_for
        if cooldown_for is None:
            return (name, error)
        seconds = explicit_duration(cooldown_for, name, error)
        return (name, error) if seconds is None else (name, error, seconds)

    def hint_respected(self, name: str, remaining: float) -> None:
        """A benched provider was not forced: a hint benches it (`respect_retry_after`)."""
        if wants(__name__, INFO):
            _log.logger.info(_log_hinted, provider=redact(name), remaining=remaining)

    def rejected(self, name: str, number: int) -> None:
        """`accept=` rejected a response (logged next to the failure)."""
        if wants(__name__, INFO):
            _log.logger.info(_log_rejected, provider=redact(name), attempt=number)

    def budget_refused(self, name: str, number: int) -> None:
        """The retry budget kept `name` from being attempted after attempt `number`."""
        if wants(__name__, WARNING):
            _log.logger.warning(_log_budget, provider=redact(name), attempt=number)

    def waiting(self, names: Sequence[str], reason: str, wait: float | None) -> None:
        """The call waits for a slot, a token or a cooldown's end (`wait` None: no limit)."""
        if wants(__name__, DEBUG):
            template = _log_wait if wait is not None else _log_wait_unbounded
            _log.logger.debug(
                template, providers=", ".join(map(redact, names)), reason=reason, wait=wait
            )

    def interrupted(self, name: str, items: int, error: BaseException) -> None:
        """A stream failed after delivering `items` items."""
        if wants(__name__, WARNING):
            text = self.redactor.error_text(error)
            _log.logger.warning(_log_interrupted, provider=redact(name), items=items, error=text)

    def for_call(self, function: str, call_id: int) -> CallRecorder:
        """The recorder of one routed call of `function` (`call_id`)."""
        return CallRecorder(self, function, call_id)


class CallRecorder:
    """What one routed call reports: its attempts and its end, under its id."""

    __slots__ = ("call_id", "function", "router")

    def __init__(self, router: Recorder, function: str, call_id: int) -> None:
        self.router = router
        self.function = function
        self.call_id = call_id

    def started_call(self) -> None:
        """A routed call starts (only called with hooks set)."""
        self.router.emit(call_started(self.function, self.call_id, self.router.strategy))

    def skipped(self, name: str, remaining: float, reason: str) -> None:
        """A provider was passed over (cooldown, probed elsewhere, saturated, rate limited)."""
        self.router.stats.skip(name)
        if wants(__name__, DEBUG):
            phrase = _SKIP_PHRASE.get(reason)
            if phrase is None:
                _log.logger.debug(_log_saturated, provider=redact(name), reason=reason)
            else:
                _log.logger.debug(phrase, provider=redact(name), remaining=remaining, reason=reason)
        if self.router.hooks is not None:
            self.router.emit(_skipped(self.function, self.call_id, name, remaining, reason))

    def started(
        self,
        name: str,
        number: int,
        is_terminus: bool,
        forced: float | None,
        probe: bool,
        hedged: bool,
        after: float = 0.0,
    ) -> None:
        """An attempt starts (`forced`: the terminus' remaining cooldown, if any).

        A hedge starts `after` seconds after the earliest attempt still running.
        """
        if forced is not None:
            if wants(__name__, INFO):
                _log.logger.info(_log_forced, provider=redact(name), remaining=forced)
            if self.router.hooks is not None:
                event = TerminusForced(
                    function=self.function, call_id=self.call_id, provider=name, remaining=forced
                )
                self.router.emit(event)
        if probe and wants(__name__, INFO):
            _log.logger.info(_log_probe, provider=redact(name), attempt=number)
        if hedged and wants(__name__, INFO):
            _log.logger.info(_log_hedge, provider=redact(name), attempt=number, after=after)
        if self.router.hooks is not None:
            self.router.emit(
                attempt_started(
                    self.function, self.call_id, name, number, is_terminus, probe, hedged
                )
            )

    def succeeded(self, name: str, number: int, latency: float, end: float) -> None:
        """An attempt returned: count it (the tracker is cleared by the caller)."""
        self.router.stats.success(name, latency, end)
        if number > 1 and wants(__name__, INFO):
            _log.logger.info(
                _log_fallback_ok, provider=redact(name), attempt=number, latency=latency
            )
        if self.router.hooks is not None:
            self.router.emit(attempt_succeeded(self.function, self.call_id, name, number, latency))

    def failed(
        self,
        name: str,
        number: int,
        of: int,
        is_terminus: bool,
        error: Exception,
        latency: float,
        end: float,
    ) -> tuple[bool, bool, str]:
        """Count, log and emit a failed attempt.

        Returns `(fallback, counted, error_text)`: whether `error` moves the call
        on, whether it must be recorded with the tracker (the caller does that,
        then calls `cooled`) and its redacted text.
        """
        # The router's own verdicts (a limit, accept=) move the call on whatever fallback_on
        # says; whether they bench is cooldown_on's call (the default counts them).
        timed_out = isinstance(error, AttemptTimeoutError)
        own = timed_out or isinstance(error, RejectedResponseError)
        fallback = own or self.router.fallback_on(error)
        # A budget that ran out during the attempt counts like any timeout: a provider
        # that hung is benched, so the next calls skip it.
        counted = bool(
            fallback
            and self.router.uses_tracker
            and name not in self.router.exempt
            and self.router.cooldown_on(error)
        )
        text, kept = self.router.redacted(error)
        self.router.stats.failure(name, kept, latency, end)
        if wants(__name__, WARNING):
            phrase = _log_timed_out if timed_out else self.router.failed_phrase
            _log.logger.warning(
                phrase,
                provider=redact(name),
                attempt=number,
                of=of,
                is_terminus=is_terminus,
                latency=latency,
                error=text,
                error_type=type(error).__name__,
                counted=counted,
            )
        if self.router.hooks is not None:
            self.router.emit(
                _attempt_failed(
                    self.function,
                    self.call_id,
                    name,
                    number,
                    error,
                    latency,
                    counted,
                    fallback,
                    timed_out,
                    text,
                )
            )
        if (
            fallback
            and not counted
            and self.router.uses_tracker
            and name not in self.router.exempt
            and wants(__name__, INFO)
        ):
            _log.logger.info(_log_not_counted, provider=redact(name), error=text)
        return fallback, counted, text

    def cooled(self, name: str, duration: float, error: Exception, text: str) -> None:
        """Report what the tracker's `record_failure` decided (a length in seconds)."""
        if not duration:
            return
        if wants(__name__, WARNING):
            _log.logger.warning(_log_cooldown, provider=redact(name), duration=duration, error=text)
        if self.router.hooks is not None:
            self.router.emit(
                CooldownEntered(
                    function=self.function,
                    call_id=self.call_id,
                    provider=name,
                    duration=duration,
                    reason=error,
                    error_text=text,
                )
            )

    def abandoned(self, name: str, number: int, reason: str) -> None:
        """An attempt still running was given up without a verdict."""
        if self.router.hooks is not None:
            event = AttemptAbandoned(
                function=self.function,
                call_id=self.call_id,
                provider=name,
                attempt=number,
                reason=reason,
            )
            self.router.emit(event)

    def succeeded_call(self, provider: str, number: int, elapsed: float) -> None:
        """The routed call returned (only called with hooks set)."""
        self.router.emit(call_succeeded(self.function, self.call_id, provider, number, elapsed))

    def failed_call(self, error: BaseException, attempts: tuple[Any, ...]) -> None:
        """The routed call failed (only called with hooks set)."""
        self.router.emit(
            _call_failed(
                self.function, self.call_id, error, attempts, self.router.redactor.error_text(error)
            )
        )
