"""OpenTelemetry spans and metrics for routed calls: an `on_event` hook.

[`OpenTelemetryHook`][fallback_router.otel.OpenTelemetryHook] needs the OpenTelemetry
API (`pip install 'fallback-router[otel]'`); importing `fallback_router` never does.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

try:
    from opentelemetry import metrics, trace
    from opentelemetry.context import Context
except ImportError as exc:
    _msg = "fallback_router.otel needs OpenTelemetry: pip install 'fallback-router[otel]'"
    raise ImportError(_msg, name=exc.name) from exc

from loguru import logger

import fallback_router as ev  # the public event classes

from . import __version__
from ._redact import redact
from ._surfaces.otel_calls import CallTimes

if TYPE_CHECKING:
    from opentelemetry.util.types import Attributes, AttributeValue

__all__ = ["OpenTelemetryHook"]

PROVIDER = "fallback_router.provider"
ATTEMPT = "fallback_router.attempt"
STRATEGY = "fallback_router.strategy"
ABANDONED = "fallback_router.abandoned"
REASON = "fallback_router.reason"
REMAINING = "fallback_router.remaining"
OUTCOME = "fallback_router.outcome"
FUNCTION = "fallback_router.function"
ERROR_TYPE = "error.type"

#: Histogram buckets (seconds) suggested to the SDK for attempt durations.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
#: Distinct provider names whose span name and metric attributes are kept prebuilt.
_MAX_LABELS = 1024


class _Call:
    """An open routed call: its span, that span as a parent, and its open attempts."""

    __slots__ = ("attempts", "closed", "context", "span", "strategy")

    def __init__(self, span: trace.Span, context: Context, strategy: str) -> None:
        self.span = span
        self.context = context
        self.strategy = strategy
        self.attempts: dict[int, trace.Span] = {}
        self.closed = False


class _Labels:
    """One provider's span name and metric attributes, built once (OTel never mutates them)."""

    __slots__ = ("failure", "name", "provider", "shown", "skips", "success")

    def __init__(self, real: str) -> None:
        #: The provider name as spans and metrics show it: redacted (DESIGN §8b).
        self.shown = provider = redact(real)
        self.name = f"attempt {provider}"
        self.provider: dict[str, AttributeValue] = {PROVIDER: provider}
        self.success: Attributes = {PROVIDER: provider, OUTCOME: "success"}
        self.failure: Attributes = {PROVIDER: provider, OUTCOME: "failure"}
        self.skips: dict[str, Attributes] = {}

    def skip(self, reason: str) -> Attributes:
        found = self.skips.get(reason)
        if found is None:
            found = self.skips[reason] = {**self.provider, REASON: reason}
        return found


class OpenTelemetryHook:
    """An `on_event` hook that turns routed calls into OpenTelemetry spans and metrics.

    A routed call is a span `route {function}`, a child of the span current when the call
    starts (the application's request span); each attempt a child span `attempt {provider}`
    (`fallback_router.provider`, `.attempt`, `.strategy`, `.probe`, `.hedged`,
    `.is_terminus`). A failed attempt has status ERROR with the redacted error text,
    `error.type`, `fallback_router.timed_out`, `.counted` and `.fallback`; an abandoned one
    `fallback_router.abandoned` (the reason). Skips, hedges, cooldowns and a forced
    terminus are events of the call span. Metrics: `fallback_router.attempt.duration`
    (histogram, s), `fallback_router.skips` and `fallback_router.cooldowns` (counters), by
    `fallback_router.provider`; `fallback_router.call.duration` (histogram, s: a whole
    routed call, a stream until it ended) by `fallback_router.function` and
    `fallback_router.outcome` (`success` / `failure`), what dashboards and SLOs read.

    One hook serves any number of routers, threads and asyncio tasks: it never attaches a
    context, so interleaved async calls cannot cross-talk, and it never raises into the
    router (its own failure is logged, the event ignored). A call whose span does not
    record (no SDK, or sampled out) gets metrics only. At most `max_open_calls` calls are
    tracked; past it the oldest call's spans end (`fallback_router.abandoned`: `"evicted"`).

    Args:
        tracer_provider: where spans go; default the global tracer provider.
        meter_provider: where metrics go; default the global meter provider.
        max_open_calls: the bound on calls tracked at once.

    Example:
        ```python
        @routed(providers=["a", "b"], on_event=OpenTelemetryHook())
        def ask(provider, prompt): ...
        ```

    Version:
        Added in 0.3.0.
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        *,
        max_open_calls: int = 10_000,
    ) -> None:
        if type(max_open_calls) is not int or max_open_calls < 1:
            msg = f"max_open_calls must be an int >= 1, got {max_open_calls!r}"
            raise ValueError(msg)
        self._tracer = trace.get_tracer("fallback_router", __version__, tracer_provider)
        meter = metrics.get_meter("fallback_router", __version__, meter_provider)
        self._duration = _histogram(
            meter, "fallback_router.attempt.duration", "Duration of provider attempts."
        )
        self._call_duration = _histogram(
            meter, "fallback_router.call.duration", "Duration of routed calls."
        )
        self._times = CallTimes(max_open_calls)
        skips = "fallback_router.skips", "{skip}", "Providers passed over by routed calls."
        self._skips = meter.create_counter(*skips)
        cooldowns = "fallback_router.cooldowns", "{cooldown}", "Cooldowns entered by providers."
        self._cooldowns = meter.create_counter(*cooldowns)
        self._max = max_open_calls
        self._lock = threading.Lock()
        self._calls: OrderedDict[int, _Call] = OrderedDict()
        self._labels: dict[str, _Labels] = {}
        self._handlers: dict[type[ev.Event], Callable[[Any], None]] = {
            ev.CallStarted: self._call_started,
            ev.AttemptStarted: self._attempt_started,
            ev.AttemptSucceeded: self._attempt_succeeded,
            ev.AttemptFailed: self._attempt_failed,
            ev.AttemptAbandoned: self._attempt_abandoned,
            ev.ProviderSkipped: self._skipped,
            ev.CooldownEntered: self._cooldown,
            ev.TerminusForced: self._terminus,
            ev.CallSucceeded: self._call_succeeded,
            ev.CallFailed: self._call_failed,
        }

    def __call__(self, event: ev.Event) -> None:
        """Record `event`; never raises."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            try:
                handler(event)
            except Exception as exc:  # noqa: BLE001 - a hook must not break the call it observes
                # The redacted text only: a traceback (and loguru's variable dump) would
                # print the event, raw errors and names included.
                logger.error(
                    "OpenTelemetry hook failed; event ignored: {error}",
                    error=redact(f"{type(exc).__name__}: {exc}"),
                    event=type(event).__name__,
                )

    def _labels_of(self, provider: str) -> _Labels:
        labels = self._labels.get(provider)
        if labels is None:
            if len(self._labels) >= _MAX_LABELS:
                self._labels = {}
            labels = self._labels[provider] = _Labels(provider)
        return labels

    def _get(self, call_id: int) -> _Call | None:
        with self._lock:
            return self._calls.get(call_id)

    def _close(self, call_id: int, reason: str) -> _Call | None:
        """Forget the call and end its attempts still open (abandoned for `reason`)."""
        with self._lock:
            call = self._calls.pop(call_id, None)
            if call is None:
                return None
            call.closed = True
        _abandon(call, reason)
        return call

    def _pop_attempt(self, call_id: int, attempt: int) -> trace.Span | None:
        with self._lock:
            call = self._calls.get(call_id)
            return None if call is None else call.attempts.pop(attempt, None)

    def _add_event(self, call_id: int, name: str, attributes: Attributes) -> None:
        call = self._get(call_id)
        if call is not None:
            call.span.add_event(name, attributes)

    def _call_started(self, event: ev.CallStarted) -> None:
        self._times.start(event.call_id)
        attributes = {"fallback_router.function": event.function, STRATEGY: event.strategy}
        span = self._tracer.start_span(f"route {event.function}", attributes=attributes)
        if not span.is_recording():  # tracing off or sampled out: metrics only
            return
        call = _Call(span, trace.set_span_in_context(span), event.strategy)
        with self._lock:
            stale = [old] if (old := self._calls.pop(event.call_id, None)) else []
            self._calls[event.call_id] = call
            if len(self._calls) > self._max:
                stale.append(self._calls.popitem(last=False)[1])
            for old in stale:
                old.closed = True
        for old in stale:  # a call that never ended (or a call_id reused): end it now
            _abandon(old, "evicted", old.span)

    def _attempt_started(self, event: ev.AttemptStarted) -> None:
        call = self._get(event.call_id)
        if call is None:
            return
        labels = self._labels_of(event.provider)
        attributes: Attributes = {
            PROVIDER: labels.shown,
            ATTEMPT: event.attempt,
            STRATEGY: call.strategy,
            "fallback_router.probe": event.probe,
            "fallback_router.hedged": event.hedged,
            "fallback_router.is_terminus": event.is_terminus,
        }
        span = self._tracer.start_span(labels.name, call.context, attributes=attributes)
        if event.hedged:
            call.span.add_event("hedge", {PROVIDER: labels.shown, REASON: "hedge_after"})
        with self._lock:
            if not call.closed:
                call.attempts[event.attempt] = span
                return
        span.end()  # the call was evicted meanwhile

    def _attempt_succeeded(self, event: ev.AttemptSucceeded) -> None:
        self._duration.record(event.latency, self._labels_of(event.provider).success)
        span = self._pop_attempt(event.call_id, event.attempt)
        if span is not None:
            span.end()

    def _attempt_failed(self, event: ev.AttemptFailed) -> None:
        self._duration.record(event.latency, self._labels_of(event.provider).failure)
        span = self._pop_attempt(event.call_id, event.attempt)
        if span is not None:
            attributes: dict[str, AttributeValue] = {
                ERROR_TYPE: type(event.error).__name__,
                "fallback_router.timed_out": event.timed_out,
                "fallback_router.counted": event.counted,
                "fallback_router.fallback": event.fallback,
            }
            span.set_attributes(attributes)
            span.set_status(trace.StatusCode.ERROR, event.error_text)
            span.end()

    def _attempt_abandoned(self, event: ev.AttemptAbandoned) -> None:
        span = self._pop_attempt(event.call_id, event.attempt)
        if span is not None:
            span.set_attribute(ABANDONED, event.reason)
            span.end()

    def _skipped(self, event: ev.ProviderSkipped) -> None:
        labels = self._labels_of(event.provider)
        self._skips.add(1, labels.skip(event.reason))
        reason, remaining = event.reason, event.remaining
        skip: Attributes = {PROVIDER: labels.shown, REASON: reason, REMAINING: remaining}
        self._add_event(event.call_id, "skip", skip)

    def _cooldown(self, event: ev.CooldownEntered) -> None:
        labels = self._labels_of(event.provider)
        self._cooldowns.add(1, labels.provider)
        cooldown: Attributes = {
            PROVIDER: labels.shown,
            "fallback_router.duration": event.duration,
            ERROR_TYPE: type(event.reason).__name__,
        }
        self._add_event(event.call_id, "cooldown", cooldown)

    def _terminus(self, event: ev.TerminusForced) -> None:
        shown = self._labels_of(event.provider).shown
        forced: Attributes = {PROVIDER: shown, REMAINING: event.remaining}
        self._add_event(event.call_id, "terminus forced", forced)

    def _call_succeeded(self, event: ev.CallSucceeded) -> None:
        self._times.end(event.call_id)
        self._call_duration.record(event.elapsed, self._times.attributes(event.function, True))
        # Attempts still running when a call succeeds lost to a hedge.
        call = self._close(event.call_id, "hedge lost")
        if call is not None:
            shown = self._labels_of(event.provider).shown
            call.span.set_attributes({PROVIDER: shown, ATTEMPT: event.attempt})
            call.span.end()

    def _call_failed(self, event: ev.CallFailed) -> None:
        elapsed = self._times.end(event.call_id, (a.latency for a in event.attempts))
        self._call_duration.record(elapsed, self._times.attributes(event.function, False))
        call = self._close(event.call_id, "call ended")
        if call is not None:
            span, kind, text = call.span, type(event.error).__name__, event.error_text
            span.set_attribute(ERROR_TYPE, kind)
            message = text.removeprefix(kind).removeprefix(": ")
            span.add_event("exception", {"exception.type": kind, "exception.message": message})
            span.set_status(trace.StatusCode.ERROR, text)
            span.end()


def _histogram(meter: metrics.Meter, name: str, description: str) -> metrics.Histogram:
    """A histogram in seconds, with `DURATION_BUCKETS` suggested to the SDK."""
    try:
        return meter.create_histogram(
            name, "s", description, explicit_bucket_boundaries_advisory=DURATION_BUCKETS
        )
    except TypeError:  # pragma: no cover - OpenTelemetry before 1.30
        return meter.create_histogram(name, "s", description)


def _abandon(call: _Call, reason: str, *spans: trace.Span) -> None:
    """End a closed call's attempts still open, then `spans` (no verdict: status unset)."""
    attempts, call.attempts = call.attempts, {}
    for span in (*attempts.values(), *spans):
        span.set_attribute(ABANDONED, reason)
        span.end()
