"""Typed, frozen events passed to `on_event` hooks (for metrics and tracing).

A routed call's events share its `call_id` and arrive in order on the calling
thread or task: [`CallStarted`][fallback_router.CallStarted] first, then attempts,
skips and cooldowns, and [`CallSucceeded`][fallback_router.CallSucceeded] or
[`CallFailed`][fallback_router.CallFailed] last. Error texts in events
(`error_text`) are redacted; the `error` objects are the providers' own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from ._surfaces.reprs import error_repr, name_repr, record_repr

if TYPE_CHECKING:
    from ._results import Attempt

__all__ = [
    "AttemptAbandoned",
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "CallFailed",
    "CallStarted",
    "CallSucceeded",
    "CooldownEntered",
    "Event",
    "EventHook",
    "ProviderSkipped",
    "TerminusForced",
    "builder",
]


@dataclass(frozen=True, kw_only=True, repr=False)
class Event:
    """Base class of every event.

    `function` is the routed function's qualified name and `call_id` identifies
    the routed call (unique within the process).

    Version:
        Added in 0.1.0. Changed in 0.3.0: `call_id`.
    """

    function: str
    call_id: int = 0

    def __repr__(self) -> str:
        """The fields, with provider names and errors redacted (DESIGN §8b)."""
        names = [f.name for f in fields(self)]
        text = getattr(self, "error_text", "")
        shown: dict[str, str] = {}
        if "provider" in names:
            shown["provider"] = name_repr(getattr(self, "provider", ""))
        for name in ("error", "reason"):
            value = getattr(self, name, None)
            if isinstance(value, BaseException):
                shown[name] = error_repr(value, text)
        return record_repr(self, names, shown)


@dataclass(frozen=True, kw_only=True, repr=False)
class CallStarted(Event):
    """A routed call starts; `strategy` is the router's strategy name.

    Version:
        Added in 0.3.0.
    """

    strategy: str


@dataclass(frozen=True, kw_only=True, repr=False)
class AttemptStarted(Event):
    """A provider call is about to start.

    `probe` is True when this attempt is a half-open provider's single probe;
    `hedged` when `hedge_after=` started it while another attempt still ran.

    Version:
        Added in 0.1.0. Changed in 0.2.0: `probe`. Changed in 0.3.0: `hedged`.
    """

    provider: str
    attempt: int
    is_terminus: bool
    probe: bool = False
    hedged: bool = False


@dataclass(frozen=True, kw_only=True, repr=False)
class AttemptSucceeded(Event):
    """A provider call returned (a stream: produced its first item); `latency` in seconds.

    Version:
        Added in 0.1.0.
    """

    provider: str
    attempt: int
    latency: float


@dataclass(frozen=True, kw_only=True, repr=False)
class AttemptFailed(Event):
    """A provider call raised, ran past its limit, or had its response rejected.

    `counted` is True when the failure was recorded with the cooldown tracker;
    `fallback` is False when the error is not a fallback trigger and propagates;
    `timed_out` is True for an [`AttemptTimeoutError`][fallback_router.AttemptTimeoutError];
    `error_text` is the redacted `"Type: message"`.

    Version:
        Added in 0.1.0. Changed in 0.3.0: `timed_out`, `error_text`.
    """

    provider: str
    attempt: int
    error: Exception
    latency: float
    counted: bool
    fallback: bool
    timed_out: bool = False
    error_text: str = ""


@dataclass(frozen=True, kw_only=True, repr=False)
class AttemptAbandoned(Event):
    """An attempt still running was given up without a verdict (recorded as nothing).

    `reason` is `"hedge lost"` (another attempt won) or `"call ended"` (the call
    was cancelled or interrupted while it ran).

    Version:
        Added in 0.3.0.
    """

    provider: str
    attempt: int
    reason: str


@dataclass(frozen=True, kw_only=True, repr=False)
class ProviderSkipped(Event):
    """A provider was passed over.

    `reason` says why: `"cooldown"` (`remaining` seconds left), `"probe in
    flight"` (half-open, another call probes it), `"saturated"`
    (`max_concurrency` calls, or `max_abandoned` abandoned calls, in flight),
    `"rate limited"` (no token; `remaining` is the wait for one) or
    `"retry budget"` (the router's retry budget refused further attempts).

    Version:
        Added in 0.1.0. Changed in 0.2.0: `reason`.
    """

    provider: str
    remaining: float
    reason: str = "cooldown"


@dataclass(frozen=True, kw_only=True, repr=False)
class TerminusForced(Event):
    """The terminus is attempted although it is in cooldown.

    Version:
        Added in 0.1.0.
    """

    provider: str
    remaining: float


@dataclass(frozen=True, kw_only=True, repr=False)
class CooldownEntered(Event):
    """A failure put `provider` into cooldown for `duration` seconds.

    `reason` is the error that tripped it, `error_text` its redacted text.

    Version:
        Added in 0.1.0. Changed in 0.3.0: `error_text`.
    """

    provider: str
    duration: float
    reason: Exception
    error_text: str = ""


@dataclass(frozen=True, kw_only=True, repr=False)
class CallSucceeded(Event):
    """The routed call returned a response from `provider` on attempt `attempt`.

    `elapsed` is the whole call's time in seconds (for a stream: until it ended).

    Version:
        Added in 0.3.0.
    """

    provider: str
    attempt: int
    elapsed: float


@dataclass(frozen=True, kw_only=True, repr=False)
class CallFailed(Event):
    """The routed call failed; `error` is what the caller receives.

    Also sent when a call ends by an exception that is not a fallback trigger,
    or by a `BaseException` (cancellation, `KeyboardInterrupt`), so every
    `CallStarted` is closed. `error_text` is the redacted text.

    Version:
        Added in 0.1.0. Changed in 0.3.0: `error` may be any `BaseException`;
        `error_text`.
    """

    error: BaseException
    attempts: tuple[Attempt, ...]
    error_text: str = ""


#: An `on_event` hook: called synchronously with each event; exceptions it raises
#: are logged and ignored.
EventHook: TypeAlias = Callable[[Event], object]

E = TypeVar("E", bound=Event)


def builder(cls: type[E]) -> Callable[..., E]:
    """A fast positional constructor for `cls` (fields in declaration order).

    A frozen dataclass' `__init__` sets every field through `object.__setattr__`;
    with hooks on the happy path that costs more than the routing. The builder
    is generated once per class and fills the instance's `__dict__` directly
    (unrolled); the objects are the same as `cls(...)` makes.
    """
    names = [field.name for field in fields(cls)]
    args = [f"v{i}" for i in range(len(names))]
    lines = [f"def build({', '.join(args)}):", "    e = new(cls)", "    d = e.__dict__"]
    lines += [f"    d[{name!r}] = {arg}" for name, arg in zip(names, args, strict=True)]
    lines.append("    return e")
    namespace: dict[str, Any] = {"new": object.__new__, "cls": cls}
    exec("\n".join(lines), namespace)  # noqa: S102 - generated from the class's own fields
    build: Callable[..., E] = namespace["build"]
    build.__qualname__ = f"build_{cls.__name__}"
    return build
