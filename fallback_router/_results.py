"""Results of routed calls: `Result`, `Attempt` and `current_attempt()`."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from ._surfaces.display import result_html, result_markdown
from ._surfaces.reprs import error_repr, name_repr, names_repr, record_repr

__all__ = [
    "CURRENT",
    "Attempt",
    "AttemptInfo",
    "AttemptState",
    "Result",
    "current_attempt",
    "new_attempt",
    "new_result",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One provider attempt of a routed call.

    Attributes:
        provider: the provider's name.
        error: None for the successful attempt, else the provider's exception (an
            [`AttemptTimeoutError`][fallback_router.AttemptTimeoutError] for one
            that ran past its limit).
        latency: seconds the attempt took (for a stream: to its first item).
        counted: True when the failure was recorded with the cooldown tracker
            (False for successes, exempt providers, strategies without cooldown
            and errors `cooldown_on` rejects).
        hedged: True for attempts that ran side by side (`hedge_after=`): the hedge
            that started beside a slow attempt, and the attempts it raced.
        error_text: the error as `"Type: message"`, redacted ("" on success);
            displays show this, never the raw message.
        abandoned: True for an attempt given up while it ran, with no verdict (a
            hedge that lost): neither a success nor a failure; `latency` is the
            time it ran until then.

    Version:
        Added in 0.1.0. Changed in 0.3.0: `hedged`, `error_text` and `abandoned`.
    """

    provider: str
    error: Exception | None
    latency: float
    counted: bool = False
    hedged: bool = False
    error_text: str = ""
    abandoned: bool = False

    @property
    def ok(self) -> bool:
        """True when this attempt succeeded."""
        return self.error is None and not self.abandoned

    def __repr__(self) -> str:
        """The fields, with the provider name and the error redacted (DESIGN §8b)."""
        return record_repr(
            self,
            _ATTEMPT_FIELDS,
            {
                "provider": name_repr(self.provider),
                "error": error_repr(self.error, self.error_text),
            },
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Result(Generic[T]):
    """The outcome of a successful routed call, returned by `fn.route(...)`.

    Attributes:
        response: what the provider call returned, unchanged (for a stream: the
            iterator the consumer reads).
        provider: name of the provider that served the call.
        latency: seconds the serving attempt took (for a stream: its time to the
            first item).
        attempt: 1-based number of attempts made (skipped providers do not count).
        was_terminus: True when the call's terminus served it: the last provider
            of the call's order (the list's last for fallback and one-attempt
            strategies; for a rotation or a balancing strategy, the one tried last).
        attempts: every [`Attempt`][fallback_router.Attempt], in order, the
            successful one last.
        skipped: names of the providers passed over (cooldown, probed elsewhere,
            saturated, rate limited).
        elapsed: seconds the whole call took: attempts, skips and waits (for a
            stream: until its first item).

    Version:
        Added in 0.1.0. Changed in 0.3.0: `elapsed`.
    """

    response: T
    provider: str
    latency: float
    attempt: int
    was_terminus: bool
    attempts: tuple[Attempt, ...]
    skipped: tuple[str, ...] = ()
    elapsed: float = 0.0

    def __repr__(self) -> str:
        """The fields, with provider names and errors redacted (DESIGN §8b)."""
        return record_repr(
            self,
            _RESULT_FIELDS,
            {
                "provider": name_repr(self.provider),
                "attempts": f"({''.join(f'{a!r}, ' for a in self.attempts).rstrip(' ')})",
                "skipped": names_repr(self.skipped),
            },
        )

    def _repr_html_(self) -> str:
        """Render the attempt chain and the response as HTML for notebooks.

        Skipped providers are struck through; a failed attempt shows its redacted
        error cut at 100 characters with the full text in a tooltip; the
        response is its `repr`, escaped and cut at 200 characters.
        """
        return result_html(self)

    def _repr_markdown_(self) -> str:
        """Render the attempt chain and the response as Markdown."""
        return result_markdown(self)


class AttemptInfo:
    """What the running provider call may know about its attempt.

    Returned by [`current_attempt`][fallback_router.current_attempt].
    `time_left` is read live from the router's clock: the seconds left before the
    nearer of the call's budget (`timeout=`) and this attempt's limit
    (`attempt_timeout=`, or a stream's first-item limit), or None without either.

    Version:
        Added in 0.1.0. Changed in 0.3.0: `time_left` includes the attempt's limit;
        `settle(tokens)` for token quotas.
    """

    __slots__ = ("_clock", "_deadline", "_tab", "attempt", "is_terminus", "provider")

    def __init__(
        self,
        provider: str,
        attempt: int,
        is_terminus: bool,
        deadline: float | None,
        clock: Callable[[], float] | None,
        tab: Any = None,
    ) -> None:
        self.provider = provider
        self.attempt = attempt
        self.is_terminus = is_terminus
        self._deadline = deadline
        self._clock = clock
        self._tab = tab

    def settle(self, tokens: int) -> None:
        """Report the tokens this attempt used, for the router's token quotas.

        The count replaces the attempt's reservation (`estimate_tokens=`) when
        the attempt ends, success or failure; `usage_of=` wins over it on a
        success that reports usage. Without token quotas it does nothing.

        Raises:
            TypeError: `tokens` is not an int from 0 to 2**53 (with token quotas); a
                caller's bug, so the attempt falls back uncounted.
        """
        if self._tab is not None:
            self._tab.settle(tokens)

    @property
    def time_left(self) -> float | None:
        """Seconds left before the nearer limit (never negative), or None."""
        if self._deadline is None:
            return None
        now = self._clock() if self._clock is not None else time.monotonic()
        return max(0.0, self._deadline - now)

    def __repr__(self) -> str:
        return (
            f"AttemptInfo(provider={name_repr(self.provider)}, attempt={self.attempt}, "
            f"is_terminus={self.is_terminus}, time_left={self.time_left!r})"
        )


_ATTEMPT_FIELDS = ("provider", "error", "latency", "counted", "hedged", "error_text", "abandoned")
_RESULT_FIELDS = (
    "response",
    "provider",
    "latency",
    "attempt",
    "was_terminus",
    "attempts",
    "skipped",
    "elapsed",
)

#: `(provider, attempt, is_terminus, deadline, clock[, tab])`: a tuple keeps the hot
#: path cheap; the public `AttemptInfo` is built only when someone asks for it. The
#: tab, with token quotas, is the attempt's reservation (`AttemptInfo.settle`).
AttemptState = (
    tuple[str, int, bool, float | None, Callable[[], float] | None]
    | tuple[str, int, bool, float | None, Callable[[], float] | None, Any]
)

#: The attempt running in this context. Set and reset around every provider call,
#: so a copied context (`copy_context().run`, a pool task that carries it) keeps
#: the attempt that was current when it was copied; each asyncio task has its own.
CURRENT: ContextVar[AttemptState | None] = ContextVar("fallback_router_attempt", default=None)


def current_attempt() -> AttemptInfo | None:
    """Describe the provider attempt running in this context, or None outside one.

    Inside a routed provider call this tells the provider its name, its 1-based
    attempt number, whether it is the terminus and `time_left`, so it can set
    its own HTTP timeout (and is never abandoned for running late). Work handed
    to another thread with a copy of the context
    (`contextvars.copy_context().run`, `asyncio.to_thread`) sees the attempt that
    was current when the context was copied; every asyncio task sees its own.

    Version:
        Added in 0.1.0.
    """
    state = CURRENT.get()
    if state is None:
        return None
    tab = state[5] if len(state) > 5 else None
    return AttemptInfo(state[0], state[1], state[2], state[3], state[4], tab)


# -- fast construction for the call path ----------------------------------------------
# A frozen dataclass' __init__ sets every field through object.__setattr__, which
# costs more than the routing itself; these set the slots directly (same objects).

_new = object.__new__
_attempt_slots = tuple(getattr(Attempt, f).__set__ for f in Attempt.__slots__)
_result_slots = tuple(getattr(Result, f).__set__ for f in Result.__slots__)


def new_attempt(
    provider: str,
    error: Exception | None,
    latency: float,
    counted: bool,
    hedged: bool = False,
    error_text: str = "",
    abandoned: bool = False,
) -> Attempt:
    """Build an [`Attempt`][fallback_router.Attempt] as its constructor would, faster."""
    a = _new(Attempt)
    s_provider, s_error, s_latency, s_counted, s_hedged, s_text, s_abandoned = _attempt_slots
    s_provider(a, provider)
    s_error(a, error)
    s_latency(a, latency)
    s_counted(a, counted)
    s_hedged(a, hedged)
    s_text(a, error_text)
    s_abandoned(a, abandoned)
    return a


def new_result(  # noqa: PLR0913 - the record's fields
    response: T,
    provider: str,
    latency: float,
    attempt: int,
    was_terminus: bool,
    attempts: tuple[Attempt, ...],
    skipped: tuple[str, ...],
    elapsed: float,
) -> Result[T]:
    """Build a [`Result`][fallback_router.Result] as its constructor would, faster."""
    r = cast("Result[T]", _new(Result))
    s_response, s_provider, s_latency, s_attempt, s_terminus, s_attempts, s_skipped, s_elapsed = (
        _result_slots
    )
    s_response(r, response)
    s_provider(r, provider)
    s_latency(r, latency)
    s_attempt(r, attempt)
    s_terminus(r, was_terminus)
    s_attempts(r, attempts)
    s_skipped(r, skipped)
    s_elapsed(r, elapsed)
    return r
