"""Per-call preferences: `routing(only=, prefer=, affinity=)` and the affinity memory."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Generator, Hashable, Iterable, Sequence
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import cast

from ._errors import InvalidConfigError

__all__ = [
    "ENTERED",
    "ROUTING",
    "Affinity",
    "Preferences",
    "hide_preferences",
    "prefer_order",
    "routing",
    "show_preferences",
]


@dataclass(frozen=True, slots=True)
class Preferences:
    """The preferences in force for calls made in a `routing()` block."""

    only: frozenset[str] | None = None
    prefer: tuple[str, ...] = ()
    affinity: Hashable | None = None


#: The preferences of the current context (None outside every `routing()` block).
ROUTING: ContextVar[Preferences | None] = ContextVar("fallback_router_routing", default=None)

#: `[True]` once any `routing()` block was entered in this process: until then no
#: context can hold preferences, and the happy paths skip reading `ROUTING`.
ENTERED = [False]


def hide_preferences() -> Token[Preferences | None] | None:
    """Hide the preferences in force from the provider about to be called.

    Preferences apply to the routed calls made directly inside a `routing()` block,
    not to routers a provider calls in turn. Returns the token for
    `show_preferences`, or None when no preferences are in force (nothing to hide).
    """
    if ENTERED[0] and ROUTING.get() is not None:
        return ROUTING.set(None)
    return None


def show_preferences(token: Token[Preferences | None] | None) -> None:
    """Undo `hide_preferences` (a None token: nothing was hidden)."""
    if token is not None:
        ROUTING.reset(token)


def _names(argument: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Iterable):
        msg = f"routing({argument}=) takes a collection of provider names, got {value!r}"
        raise InvalidConfigError(msg)
    names = tuple(cast("Iterable[object]", value))
    for name in names:
        if not isinstance(name, str):
            msg = f"routing({argument}=) takes provider names (str), got {name!r}"
            raise InvalidConfigError(msg)
    return cast("tuple[str, ...]", names)


@contextmanager
def routing(
    *,
    only: Iterable[str] | None = None,
    prefer: Iterable[str] = (),
    affinity: Hashable | None = None,
) -> Generator[None, None, None]:
    """Set preferences for the routed calls made inside the block.

    A context manager over a context variable: it holds for threads handed a
    copied context and for asyncio tasks created inside it. Nested blocks
    override the arguments they give and keep the others.

    Args:
        only: restrict calls to these provider names (their order is kept).
        prefer: move these names to the front, in this order (a name given twice
            counts once, at its first place: each provider is tried at most once).
        affinity: a hashable key. Calls with the same key start on the provider
            that last served it while that provider is available (so prompt
            caches stay warm), and move on, re-pinned, when it is not. The
            memory is per router, bounded (`affinity_size=`, LRU) and lapses
            after `affinity_ttl=` seconds.

    The preferences apply to the routed calls made directly inside the block, not
    to routers that a provider calls in turn: a router hides them from its
    providers while it calls them (sync and async, streams included).

    Names a router does not know raise `InvalidConfigError` when that router is
    called, before any attempt (no provider is charged with it).

    Version:
        Added in 0.3.0.
    """
    outer = ROUTING.get()
    try:
        hash(affinity)
    except TypeError:
        msg = f"routing(affinity=) must be hashable, got {affinity!r}"
        raise InvalidConfigError(msg) from None
    chosen = Preferences(
        only=frozenset(_names("only", only)) if only is not None else None,
        prefer=tuple(dict.fromkeys(_names("prefer", prefer))),
        affinity=affinity,
    )
    if outer is not None:
        chosen = Preferences(
            only=chosen.only if only is not None else outer.only,
            prefer=chosen.prefer or outer.prefer,
            affinity=affinity if affinity is not None else outer.affinity,
        )
    ENTERED[0] = True
    token = ROUTING.set(chosen)
    try:
        yield
    finally:
        ROUTING.reset(token)


class Affinity:
    """Which provider last served each affinity key: bounded LRU with a time to live."""

    __slots__ = ("_lock", "_pins", "size", "ttl")

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._lock = threading.Lock()
        self._pins: OrderedDict[Hashable, tuple[str, float]] = OrderedDict()

    def get(self, key: Hashable, now: float) -> str | None:
        """The provider pinned for `key`, or None (never pinned, or lapsed)."""
        with self._lock:
            pin = self._pins.get(key)
            if pin is None:
                return None
            if not 0.0 <= now - pin[1] <= self.ttl:
                del self._pins[key]
                return None
            self._pins.move_to_end(key)
            return pin[0]

    def pin(self, key: Hashable, name: str, now: float) -> None:
        """Remember that `name` served `key` at `now`."""
        with self._lock:
            self._pins[key] = (name, now)
            self._pins.move_to_end(key)
            while len(self._pins) > self.size:
                self._pins.popitem(last=False)

    def __len__(self) -> int:
        return len(self._pins)


def prefer_order(
    order: Sequence[int],
    names: Sequence[str],
    prefs: Preferences,
    pinned: str | None,
    benched: Callable[[int], bool] | None,
) -> list[int]:
    """Apply `only`, `prefer` and an affinity pin to a strategy's order (pure)."""
    known = set(names)
    for argument, given in (("only", prefs.only or ()), ("prefer", prefs.prefer)):
        unknown = sorted(set(given) - known)
        if unknown:
            msg = (
                f"routing({argument}=) names unknown provider(s) {unknown}; "
                f"providers: {list(names)}"
            )
            raise InvalidConfigError(msg)
    result = list(order)
    if prefs.only is not None:
        result = [i for i in result if names[i] in prefs.only]
        if not result:
            msg = f"routing(only={sorted(prefs.only)}) leaves no provider of this call"
            raise InvalidConfigError(msg)
    front = [names.index(n) for n in prefs.prefer if names.index(n) in result]
    if pinned is not None and pinned in known:
        index = names.index(pinned)
        if index in result and (benched is None or not benched(index)):
            front = [index, *(i for i in front if i != index)]
    if front:
        result = [*front, *(i for i in result if i not in front)]
    return result
