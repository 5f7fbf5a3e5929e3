"""Names for the callers behind a routed function, so that they read and pickle well.

A routed function's call and `route` run the router's callers directly (no wrapper
in between). Those callers are closures or `functools.partial`s made by the router;
here they take the user's function's name: an unawaited coroutine is reported as
`coroutine 'ask' was never awaited` (or `'ask.route'`), and `fn.route` pickles by
reference, as `getattr(fn, "route")`, like a bound method (module-level functions
and methods only, as for plain functions).
"""

# pyright: reportUnnecessaryTypeIgnoreComment=false
# (the ignore in this module is for mypy; pyright needs the cast)

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, cast

__all__ = ["by_reference", "named"]


def named(caller: Callable[..., Any], fn: Callable[..., Any], suffix: str = "") -> None:
    """Give `caller` (a closure) `fn`'s module and name, plus `suffix`."""
    if isinstance(caller, types.FunctionType):
        caller.__module__ = getattr(fn, "__module__", None) or caller.__module__
        qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
        if isinstance(qualname, str):
            caller.__qualname__ = qualname + suffix
            caller.__name__ = qualname.rpartition(".")[2] + suffix


class _Route(functools.partial[Any]):
    """A `functools.partial` caller serving as `fn.route`: pickles as `getattr(fn, "route")`."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (getattr, (self.__dict__["_routed"], "route"))


def by_reference(caller: Callable[..., Any], routed: object) -> Callable[..., Any]:
    """`caller` made to pickle as `routed.route` (the value to store as `routed.route`)."""
    if isinstance(caller, functools.partial):
        partial = cast("functools.partial[Any]", caller)  # type: ignore[redundant-cast]  # pyright needs it
        route = _Route(partial.func, *partial.args, **partial.keywords)
        route.__dict__["_routed"] = routed
        return route
    named(caller, getattr(routed, "__wrapped__", caller), ".route")
    return caller
