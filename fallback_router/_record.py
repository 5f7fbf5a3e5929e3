"""Recording what attempts did: into the tracker, the counts, the logs and the hooks."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import _log
from ._classify import is_caller_bug
from ._events import (
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CooldownEntered,
    Event,
    EventHook,
    ProviderSkipped,
    TerminusForced,
)
from ._log import DEBUG, ERROR, INFO, WARNING, wants

if TYPE_CHECKING:
    from ._cooldown import CooldownTracker
    from ._status import Stats

__all__ = ["Recorder"]

_log_skip = _log.template(_log.SKIPPING)
_log_saturated = _log.template(_log.SKIPPING_SATURATED)
_log_forced = _log.template(_log.ATTEMPTING_TERMINUS)
_log_probe = _log.template(_log.PROBING)
_log_failed = _log.template(_log.PROVIDER_FAILED)
_log_not_counted = _log.template(_log.NOT_COUNTED)
_log_cooldown = _log.template(_log.ENTERING_COOLDOWN)
_log_fallback_ok = _log.template(_log.SUCCEEDED_ON_FALLBACK)
_log_hook = _log.template(_log.EVENT_HOOK_FAILED)


class Recorder:
    """Turns attempt facts into tracker writes, counts, log records and events.

    One per router. Nothing here runs on the happy path but ``Stats``; logs are
    formatted by loguru only when a handler takes them, events built only when
    hooks are set.
    """

    __slots__ = (
        "_broken",
        "cooldown_on",
        "exempt",
        "fallback_on",
        "hooks",
        "stats",
        "tracker",
    )

    def __init__(
        self,
        tracker: CooldownTracker | None,
        exempt: frozenset[str],
        fallback_on: Callable[[Exception], bool],
        cooldown_on: Callable[[Exception], bool],
        hooks: tuple[EventHook, ...] | None,
        stats: Stats,
    ) -> None:
        self.tracker = tracker  # None when this router's strategy records nothing
        self.exempt = exempt
        self.fallback_on = fallback_on
        self.cooldown_on = cooldown_on
        self.hooks = hooks
        self.stats = stats
        self._broken: set[int] = set()  # hooks that raised (warned once each)

    def emit(self, event: Event) -> None:
        """Send ``event`` to every hook; a raising hook is logged and warned, never raised."""
        for hook in self.hooks or ():
            try:
                hook(event)
            except Exception as exc:  # noqa: BLE001 - a hook must never break the call
                name = getattr(hook, "__qualname__", None) or repr(hook)
                if wants(__name__, ERROR):
                    _log.logger.opt(exception=exc).error(
                        _log_hook, hook=name, event=type(event).__name__, error=exc
                    )
                if id(hook) not in self._broken:
                    self._broken.add(id(hook))
                    # A warnings filter set to "error" must not break the call either.
                    with contextlib.suppress(Exception):
                        warnings.warn(
                            f"fallback_router: on_event hook {name} raised "
                            f"{type(exc).__name__}: {exc} (ignored; reported once per hook)",
                            RuntimeWarning,
                            stacklevel=2,
                        )

    def skipped(self, name: str, remaining: float, reason: str, function: str) -> None:
        """A provider was passed over (in cooldown, probed by another call, saturated)."""
        if wants(__name__, DEBUG):
            if reason == "saturated":
                _log.logger.debug(_log_saturated, provider=name, reason=reason)
            else:
                _log.logger.debug(_log_skip, provider=name, remaining=remaining, reason=reason)
        if self.hooks is not None:
            self.emit(
                ProviderSkipped(
                    function=function, provider=name, remaining=remaining, reason=reason
                )
            )

    def started(
        self,
        name: str,
        number: int,
        is_terminus: bool,
        forced: float | None,
        probe: bool,
        function: str,
    ) -> None:
        """An attempt starts: ``forced`` is the terminus' remaining cooldown, if any."""
        if forced is not None:
            if wants(__name__, INFO):
                _log.logger.info(_log_forced, provider=name, remaining=forced)
            if self.hooks is not None:
                self.emit(TerminusForced(function=function, provider=name, remaining=forced))
        if probe and wants(__name__, INFO):
            _log.logger.info(_log_probe, provider=name, attempt=number)
        if self.hooks is not None:
            self.emit(
                AttemptStarted(
                    function=function,
                    provider=name,
                    attempt=number,
                    is_terminus=is_terminus,
                    probe=probe,
                )
            )

    def succeeded(
        self, name: str, number: int, latency: float, end: float, clean: bool, function: str
    ) -> None:
        """An attempt returned: count it and clear the provider's tracker state."""
        if self.tracker is not None and not clean:
            self.tracker.record_success(name)
        self.stats.success(name, latency, end)
        if number > 1 and wants(__name__, INFO):
            _log.logger.info(_log_fallback_ok, provider=name, attempt=number, latency=latency)
        if self.hooks is not None:
            self.emit(
                AttemptSucceeded(function=function, provider=name, attempt=number, latency=latency)
            )

    def failed(  # noqa: PLR0913 - the attempt's facts
        self,
        name: str,
        number: int,
        of: int,
        is_terminus: bool,
        error: Exception,
        latency: float,
        end: float,
        function: str,
    ) -> bool | None:
        """Count, log, emit and record a failed attempt.

        Returns whether the failure was counted with the tracker, or None when
        ``error`` is not a fallback trigger (the caller raises it unchanged).
        """
        fallback = self.fallback_on(error)
        tracker = self.tracker
        eligible = tracker is not None and name not in self.exempt
        counted = bool(fallback and eligible and self.cooldown_on(error))
        self.stats.failure(name, error, latency, end)
        if wants(__name__, WARNING):
            _log.logger.warning(
                _log_failed,
                provider=name,
                attempt=number,
                of=of,
                is_terminus=is_terminus,
                latency=latency,
                error=error,
                counted=counted,
            )
        if self.hooks is not None:
            self.emit(
                AttemptFailed(
                    function=function,
                    provider=name,
                    attempt=number,
                    error=error,
                    latency=latency,
                    counted=counted,
                    fallback=fallback,
                )
            )
        if not fallback:
            return None
        if counted:
            assert tracker is not None  # noqa: S101 - counted implies a tracker
            self.cooled(name, tracker.record_failure(name, error), error, function)
        elif eligible and wants(__name__, INFO):
            _log.logger.info(_log_not_counted, provider=name, error=error)
        return counted

    def cooled(self, name: str, duration: float | bool, error: Exception, function: str) -> None:
        """Report what ``record_failure`` decided (a length, or a legacy bool)."""
        if duration is True and self.tracker is not None:  # a tracker of the 0.1 protocol
            duration = self.tracker.remaining(name)
        if not duration:
            return
        if wants(__name__, WARNING):
            _log.logger.warning(_log_cooldown, provider=name, duration=duration, error=error)
        if self.hooks is not None:
            self.emit(
                CooldownEntered(function=function, provider=name, duration=duration, reason=error)
            )


def caller_bug_hint(errors: Sequence[Exception]) -> str:
    """A sentence for the failure message when every error is the same caller bug."""
    kinds = {type(e) for e in errors}
    if errors and len(kinds) == 1 and is_caller_bug(errors[0]):
        return (
            f"; every attempt raised {type(errors[0]).__name__}: this looks like a bug in "
            f"the routed function rather than a provider failure"
        )
    return ""
