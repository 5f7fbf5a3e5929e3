"""Routing strategies and the pure planning step of the fallback strategy."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple, Protocol, runtime_checkable

from ._errors import InvalidConfigError

__all__ = ["InMemoryRoundRobin", "Plan", "RoundRobinCounter", "Strategy", "plan_fallback"]


class Strategy(StrEnum):
    """How a router picks providers; the string values are accepted everywhere.

    .. versionadded:: 0.1.0
    """

    #: Call the first provider once; cooldown is neither consulted nor recorded.
    PRIMARY_ONLY = "primary_only"
    #: Try providers in order, skipping those in cooldown except the terminus.
    FALLBACK = "fallback"
    #: One attempt on ``providers[i % n]`` from a shared, lock-guarded counter.
    ROUND_ROBIN = "round_robin"

    @classmethod
    def parse(cls, value: object) -> Strategy:
        """Return the strategy for ``value`` or raise ``InvalidConfigError``."""
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        choices = ", ".join(repr(s.value) for s in cls)
        msg = f"unknown strategy {value!r}: choose one of {choices}"
        raise InvalidConfigError(msg)


class Plan(NamedTuple):
    """Which provider indices a fallback call tries, in order, and which it skips.

    .. versionadded:: 0.1.0
    """

    order: tuple[int, ...]
    skipped: tuple[int, ...]


def plan_fallback(remaining: Sequence[float]) -> Plan:
    """Plan a fallback call from each provider's remaining cooldown (0 = available).

    Providers in cooldown are skipped, except the last one (the terminus), which is
    always planned, so a plan never is empty. Pure: the router acts on the result.

    .. versionadded:: 0.1.0
    """
    last = len(remaining) - 1
    order: list[int] = []
    skipped: list[int] = []
    for index, left in enumerate(remaining):
        if left > 0.0 and index != last:
            skipped.append(index)
        else:
            order.append(index)
    return Plan(tuple(order), tuple(skipped))


@runtime_checkable
class RoundRobinCounter(Protocol):
    """A shared counter for the round-robin strategy.

    ``next_index()`` returns 0, 1, 2, … — each value exactly once, even when many
    threads (or, for :class:`RedisRoundRobin`, processes) call it at once.

    .. versionadded:: 0.1.0
    """

    def next_index(self) -> int:
        """Return the next index, starting at 0."""
        ...


class InMemoryRoundRobin:
    """A lock-guarded, in-process :class:`RoundRobinCounter`.

    Pass one instance as ``counter=`` to several routers to share their rotation.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_lock", "_value")

    def __init__(self, start: int = 0) -> None:
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            msg = f"start must be a non-negative int, got {start!r}"
            raise InvalidConfigError(msg)
        self._lock = threading.Lock()
        self._value = start

    def next_index(self) -> int:
        """Return the next index, starting at ``start`` (default 0)."""
        with self._lock:
            value = self._value
            self._value = value + 1
        return value

    def __repr__(self) -> str:
        return f"InMemoryRoundRobin(next={self._value})"
