"""A call's views of its tracker: each provider's cooldown left, and what hints bench.

Generators over a call's facts ([`CallFacts`][fallback_router._engine.facts.CallFacts]):
they read the tracker at once, or (a driver that defers I/O) yield `(IO, fn, args)`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from .facts import IO, CallFacts
from .gates import remaining_each

__all__ = ["benched_in", "forced_last", "hinted_view", "view"]


def view(call: CallFacts) -> Generator[Any, Any, Sequence[float]]:
    """Each provider's remaining cooldown (empty: none has any state)."""
    tracker, caps, names = call.setup.tracker, call.setup.caps, call.names
    assert tracker is not None  # noqa: S101 - only called with a tracker
    assert caps is not None  # noqa: S101 - built together
    many = caps.remaining_many
    if many is None:
        call.clean = False
        if call.defer_io:
            each: Sequence[float] = yield (IO, remaining_each, (tracker, names))
            return each
        return remaining_each(tracker, names)
    peeked = caps.peek(names) if call.defer_io and caps.peek is not None else None
    if peeked is not None:
        return peeked
    if call.defer_io:
        read: Sequence[float] = yield (IO, many, (names,))
        return read
    return many(names)


def hinted_view(
    call: CallFacts, names: Sequence[str] | None = None
) -> Generator[Any, Any, Sequence[float]]:
    """Seconds each provider (of `names`, default all) stays benched by a hint."""
    caps = call.setup.caps
    assert caps is not None  # noqa: S101 - respect_retry_after implies a tracker
    hinted = caps.hinted
    assert hinted is not None  # noqa: S101 - checked when the router was built
    asked = call.names if names is None else names
    if call.defer_io:
        seen: Sequence[float] = yield (IO, hinted, (asked,))
        return seen
    return hinted(asked)


def forced_last(
    call: CallFacts, remaining: Sequence[float], order: list[int], position: int, last: int
) -> Generator[Any, Any, tuple[Sequence[float], int]]:
    """`respect_retry_after`: the hints of the walk and the provider it may force.

    A provider a hint benches is never forced: the one forced, if any, is the
    last of the order still to walk that no hint benches (`last` when every one
    is). Returns `((), last)` without a read while nobody ahead is benched.
    """
    if not remaining or not any(remaining[i] > 0.0 for i in order[position:]):
        return (), last
    hinted = yield from hinted_view(call)
    free = [i for i in order[position:] if not hinted[i] > 0.0]
    return hinted, free[-1] if free else last


def benched_in(remaining: Sequence[float]) -> Callable[[int], bool] | None:
    """Whether provider `index` is benched in this view (None: nobody is)."""
    if not remaining:
        return None

    def benched(index: int) -> bool:
        return remaining[index] > 0.0

    return benched
