"""Gates as leases: what a candidate takes before its attempt, and gives back once.

A gate (the concurrency limiter, a rate limiter, the retry budget, or a new one)
answers `take(name)` with a `Lease`, with a `Refusal` (why not, and for how
long), or None when it does not gate `name`. The engine holds each lease and
gives it back in one place on every ending: `lease.release()` when the attempt
ends (`until_end`: a slot), or when it never starts (every lease). A lease that is
not `until_end` (a token, a budget unit) is spent by the start.

A reservation settled with the real amount when the attempt ends (a token quota,
`fallback_router._quota.Tab`) is a lease held `until_end` whose `release()`
settles it with the amount it learned from the response (`usage_of=`), or gives
it all back when the attempt never started.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, Protocol

__all__ = [
    "BUDGET",
    "COOLDOWN",
    "HUNG",
    "PROBING",
    "RATE_LIMITED",
    "SATURATED",
    "Gate",
    "Lease",
    "Refusal",
    "Returned",
    "release_all",
]

#: Why a provider was passed over (`ProviderSkipped.reason`).
COOLDOWN, PROBING, SATURATED = "cooldown", "probe in flight", "saturated"
RATE_LIMITED, BUDGET = "rate limited", "retry budget"
#: Saturated by abandoned attempts (`max_abandoned`): passed over as SATURATED, never
#: waited for (a hung provider's attempts may never end).
HUNG = "saturated by abandoned attempts"


class Lease(Protocol):
    """What a gate granted one attempt; `release()` gives it back (once)."""

    #: Held until the attempt ends (a slot); False: spent when the attempt starts.
    @property
    def until_end(self) -> bool: ...

    def release(self) -> None:
        """Give it back: the attempt ended (`until_end`) or never started."""
        ...


class Refusal(NamedTuple):
    """A gate's no: `reason` (a skip reason) and the seconds until it may say yes."""

    reason: str
    seconds: float


class Gate(Protocol):
    """A per-attempt gate: one class, one router option."""

    #: True when `take` and the leases' `release` wait on the network.
    @property
    def blocking(self) -> bool: ...

    def take(self, name: str) -> Lease | Refusal | None:
        """A lease for an attempt on `name` now, a `Refusal`, or None (not gated)."""
        ...


class Returned:
    """A lease given back by calling `give(name)`."""

    __slots__ = ("give", "name", "until_end")

    def __init__(self, give: Callable[[str], object], name: str, until_end: bool) -> None:
        self.give = give
        self.name = name
        self.until_end = until_end

    def release(self) -> None:
        self.give(self.name)

    def __repr__(self) -> str:
        return f"Returned({self.name!r}, until_end={self.until_end})"


def release_all(leases: Sequence[Lease]) -> None:
    """Give back `leases`, the last taken first; each one even when another raises."""
    if len(leases) == 1:  # the common case: no frame for the rest
        leases[0].release()
        return
    if not leases:
        return
    try:
        leases[-1].release()
    finally:
        release_all(leases[:-1])
