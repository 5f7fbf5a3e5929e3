"""A call's views of its tracker: each provider's cooldown left, and what hints bench.

Generators over a call's facts ([`CallFacts`][fallback_router._engine.facts.CallFacts]):
they read the tracker at once, or (a tracker that waits on the network) yield `Io`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from .actions import Io
from .facts import CallFacts
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
        if caps.blocking:
            each: Sequence[float] = yield Io(remaining_each, (tracker, names))
            return each
        return remaining_each(tracker, names)
    if not caps.blocking:
        return many(names)
    read: Sequence[float] = yield Io(many, (names,), caps.peek)
    return read


def hinted_view(
    call: CallFacts, names: Sequence[str] | None = None
) -> Generator[Any, Any, Sequence[float]]:
    """Seconds each provider (of `names`, default all) stays benched by a hint."""
    caps = call.setup.caps
    assert caps is not None  # noqa: S101 - respect_retry_after implies a tracker
    hinted = caps.hinted
    assert hinted is not None  # noqa: S101 - checked when the router was built
    asked = call.names if names is None else names
    if caps.blocking:
        seen: Sequence[float] = yield Io(hinted, (asked,))
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
