"""Results of routed calls: :class:`Result`, :class:`Attempt` and :func:`current_attempt`."""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

from ._text import error_text, full_error_text, printable, response_text

__all__ = ["Attempt", "AttemptInfo", "Result", "current_attempt"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One provider attempt of a routed call.

    ``error`` is None for the successful attempt. ``counted`` is True when the
    failure was recorded with the cooldown tracker (False for successes, exempt
    providers, strategies without cooldown and errors ``cooldown_on`` rejects).

    .. versionadded:: 0.1.0
    """

    provider: str
    error: Exception | None
    latency: float
    counted: bool = False

    @property
    def ok(self) -> bool:
        """True when this attempt succeeded."""
        return self.error is None


@dataclass(frozen=True, slots=True, kw_only=True)
class Result(Generic[T]):
    """The outcome of a successful routed call, returned by ``fn.route(...)``.

    Attributes:
        response: what the provider call returned, unchanged.
        provider: name of the provider that served the call.
        latency: seconds the successful provider call took.
        attempt: 1-based number of attempts made (skipped providers do not count).
        was_terminus: True when the last provider of the list served the call.
        attempts: every :class:`Attempt`, in order, the successful one last.
        skipped: names of the providers skipped because they were in cooldown.

    .. versionadded:: 0.1.0
    """

    response: T
    provider: str
    latency: float
    attempt: int
    was_terminus: bool
    attempts: tuple[Attempt, ...]
    skipped: tuple[str, ...] = ()

    def _repr_html_(self) -> str:
        """Render the attempt chain and the response as HTML for notebooks.

        Skipped providers are struck through; a failed attempt shows its error cut
        at ``ERROR_CHARS`` (100) characters with the full text in a tooltip, as in
        ``status()``; the response is its ``repr``, escaped and cut at
        ``RESPONSE_CHARS`` (200). Text keeps the notebook's own colour (light and dark
        themes alike).
        """
        esc = html.escape
        parts = [
            f'<span class="fr-skipped" title="skipped: in cooldown"><s>{esc(printable(name))}</s>'
            "</span>"
            for name in self.skipped
        ]
        for a in self.attempts:
            name = esc(printable(a.provider))
            if a.error is None:
                ok = f"<b>{name}</b> ✔ {a.latency * 1000:.1f} ms"
                parts.append(f'<span class="fr-ok">{ok}</span>')
            else:
                parts.append(
                    f'<span class="fr-failed" title="{esc(full_error_text(a.error))}">'
                    f"{name} ✘ {esc(error_text(a.error))}</span>"
                )
        chain = " → ".join(parts)
        shown = response_text(self.response)
        return (
            '<div class="fallback-router-result" style="color:inherit">'
            f"{chain}<br>served by <b>{esc(printable(self.provider))}</b> on attempt "
            f"{self.attempt}{' (terminus)' if self.was_terminus else ''}<br>"
            f'response: <code title="{esc(type(self.response).__qualname__)}" '
            f'style="color:inherit;background:transparent">{esc(shown)}</code></div>'
        )


class AttemptInfo:
    """What the running provider call may know about its attempt.

    Returned by :func:`current_attempt`. ``time_left`` is read live from the
    router's clock: the seconds left in the call's budget, or None without one.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_clock", "_deadline", "attempt", "is_terminus", "provider")

    def __init__(
        self,
        provider: str,
        attempt: int,
        is_terminus: bool,
        deadline: float | None,
        clock: Callable[[], float] | None,
    ) -> None:
        self.provider = provider
        self.attempt = attempt
        self.is_terminus = is_terminus
        self._deadline = deadline
        self._clock = clock

    @property
    def time_left(self) -> float | None:
        """Seconds left in the routed call's budget (never negative), or None."""
        if self._deadline is None:
            return None
        now = self._clock() if self._clock is not None else time.monotonic()
        return max(0.0, self._deadline - now)

    def __repr__(self) -> str:
        return (
            f"AttemptInfo(provider={self.provider!r}, attempt={self.attempt}, "
            f"is_terminus={self.is_terminus}, time_left={self.time_left!r})"
        )


# (provider, attempt, is_terminus, deadline, clock) — a tuple keeps the hot path cheap;
# the public AttemptInfo is built only when someone asks for it.
AttemptState = tuple[str, int, bool, float | None, Callable[[], float] | None]

#: The attempt running in this context. Set and reset around every provider call,
#: so a copied context (``copy_context().run``, a pool task that carries it) keeps
#: the attempt that was current when it was copied.
CURRENT: ContextVar[AttemptState | None] = ContextVar("fallback_router_attempt", default=None)


def current_attempt() -> AttemptInfo | None:
    """Describe the provider attempt running in this context, or None outside one.

    Inside a routed provider call this tells the provider its name, its 1-based
    attempt number, whether it is the terminus and the call's ``time_left``, so it
    can set its own HTTP timeout. Work handed to another thread with a copy of the
    context (``contextvars.copy_context().run``, ``asyncio.to_thread``) sees the
    attempt that was current when the context was copied.

    .. versionadded:: 0.1.0
    """
    state = CURRENT.get()
    return None if state is None else AttemptInfo(*state)


# -- fast construction for the call path ----------------------------------------------
# A frozen dataclass' __init__ sets every field through object.__setattr__, which
# costs more than the routing itself; these set the slots directly (same objects).

_new = object.__new__
_attempt_slots = tuple(getattr(Attempt, f).__set__ for f in Attempt.__slots__)
_result_slots = tuple(getattr(Result, f).__set__ for f in Result.__slots__)


def new_attempt(provider: str, error: Exception | None, latency: float, counted: bool) -> Attempt:
    """Build an :class:`Attempt` as its constructor would, without its overhead."""
    a = _new(Attempt)
    set_provider, set_error, set_latency, set_counted = _attempt_slots
    set_provider(a, provider)
    set_error(a, error)
    set_latency(a, latency)
    set_counted(a, counted)
    return a


def new_result(
    response: T,
    provider: str,
    latency: float,
    attempt: int,
    was_terminus: bool,
    attempts: tuple[Attempt, ...],
    skipped: tuple[str, ...],
) -> Result[T]:
    """Build a :class:`Result` as its constructor would, without its overhead."""
    r = cast("Result[T]", _new(Result))
    s_response, s_provider, s_latency, s_attempt, s_terminus, s_attempts, s_skipped = _result_slots
    s_response(r, response)
    s_provider(r, provider)
    s_latency(r, latency)
    s_attempt(r, attempt)
    s_terminus(r, was_terminus)
    s_attempts(r, attempts)
    s_skipped(r, skipped)
    return r
