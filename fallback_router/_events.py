"""Typed, frozen events passed to ``on_event`` hooks (for metrics and tracing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from ._results import Attempt

__all__ = [
    "AttemptFailed",
    "AttemptStarted",
    "AttemptSucceeded",
    "CallFailed",
    "CooldownEntered",
    "Event",
    "EventHook",
    "ProviderSkipped",
    "TerminusForced",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base class of every event; ``function`` is the routed function's qualified name.

    .. versionadded:: 0.1.0
    """

    function: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptStarted(Event):
    """A provider call is about to start.

    ``probe`` is True when this attempt is a half-open provider's single probe.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``probe``.
    """

    provider: str
    attempt: int
    is_terminus: bool
    probe: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptSucceeded(Event):
    """A provider call returned; ``latency`` in seconds.

    .. versionadded:: 0.1.0
    """

    provider: str
    attempt: int
    latency: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptFailed(Event):
    """A provider call raised.

    ``counted`` is True when the failure was recorded with the cooldown tracker;
    ``fallback`` is False when the error is not a fallback trigger and propagates.

    .. versionadded:: 0.1.0
    """

    provider: str
    attempt: int
    error: Exception
    latency: float
    counted: bool
    fallback: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderSkipped(Event):
    """A provider was passed over.

    ``reason`` says why: ``"cooldown"`` (``remaining`` seconds left),
    ``"probe in flight"`` (half-open, another call probes it) or ``"saturated"``
    (``max_concurrency`` calls in flight; ``remaining`` is 0.0).

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``reason``.
    """

    provider: str
    remaining: float
    reason: str = "cooldown"


@dataclass(frozen=True, slots=True, kw_only=True)
class TerminusForced(Event):
    """The terminus is attempted although it is in cooldown.

    .. versionadded:: 0.1.0
    """

    provider: str
    remaining: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CooldownEntered(Event):
    """A failure put ``provider`` into cooldown for ``duration`` seconds.

    ``reason`` is the error that tripped it.

    .. versionadded:: 0.1.0
    """

    provider: str
    duration: float
    reason: Exception


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFailed(Event):
    """The routed call failed; ``error`` is what the caller receives.

    .. versionadded:: 0.1.0
    """

    error: Exception
    attempts: tuple[Attempt, ...]


#: An ``on_event`` hook: called synchronously with each event; exceptions it raises
#: are logged and ignored.
EventHook: TypeAlias = Callable[[Event], object]
