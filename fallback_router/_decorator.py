"""The typed wrappers a router puts around functions and methods.

`RoutedFunction` (a plain `def`, or a generator function routing a stream),
`AsyncRoutedFunction` (an `async def`), `AsyncRoutedStream` (an async generator
function) and `BoundRoutedMethod` (any of them bound to an instance). This
module imports no router: a wrapper reaches its router through `RouterLike`.
"""

# pyright: reportUnnecessaryTypeIgnoreComment=false
# (the ignores in this module are for mypy; pyright needs none of them)

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    overload,
)

from ._naming import by_reference, named
from ._results import Result
from ._surfaces.status import Status

__all__ = [
    "AsyncRoutedFunction",
    "AsyncRoutedStream",
    "BoundRoutedMethod",
    "RoutedFunction",
    "RouterLike",
]

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R2 = TypeVar("R2")
T = TypeVar("T")
C = TypeVar("C")
RR = TypeVar("RR")


class RouterLike(Protocol):
    """A router as its wrappers see it: `fn.router` (a `Router` at run time).

    Typed as this protocol so that this module imports no router (no import
    cycle, not even for type checkers); it lists the router's public methods.
    """

    def caller(self, fn: Callable[..., Any], want_result: bool, method: bool) -> Callable[..., Any]:
        """A caller routing `fn` (`method`: `fn(self, provider, ...)`, self passed first)."""
        ...

    def status(self) -> Status:
        """Each provider's availability, cooldown, counts and strategy state."""
        ...

    async def astatus(self) -> Status:
        """The awaitable twin of `status()`: never blocks the event loop."""
        ...

    def reset(self) -> None:
        """Clear this router's providers' cooldowns and its counts."""
        ...

    def providers(self) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """The current `(names, objects)`."""
        ...

    def execute(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Route one call of `fn(provider, *args, **kwargs)`; return its `Result`."""
        ...


class _Routed(functools.partial[Any]):
    """What every routed function shares: name, docs, signature, method binding, pickling.

    A `functools.partial` subclass only so that calling it costs one C-level hop
    into the router's caller (with the happy path inlined).
    """

    __wrapped__: Callable[..., Any]
    __signature__: inspect.Signature | None
    router: RouterLike

    def __new__(cls, router: RouterLike, fn: Callable[..., Any]) -> Self:
        """Build the wrapper around the router's caller for `fn`."""
        caller = router.caller(fn, False, False)
        named(caller, fn)  # an unawaited coroutine is named after the user's function
        return super().__new__(cls, caller)

    def __init__(self, router: RouterLike, fn: Callable[..., Any]) -> None:
        functools.update_wrapper(self, fn)
        self.router = router
        self.__signature__ = _without_params(fn, 0)
        # An instance attribute, not a method: fn.route(...) runs the router's caller
        # directly, with the happy path inlined as for fn(...). It pickles by reference.
        self.__dict__["route"] = by_reference(router.caller(fn, True, False), self)

    def __set_name__(self, owner: type[Any], name: str) -> None:
        """Become a method: the first argument is the instance, the provider follows."""
        router, fn = self.router, self.__wrapped__
        self.__dict__["route"] = by_reference(router.caller(fn, True, True), self)
        self.__dict__["_attribute"] = name
        self.__signature__ = _without_params(fn, 1)  # (self, *rest): the provider goes
        caller = router.caller(fn, False, True)
        named(caller, fn)
        # functools.partial's documented state protocol swaps the callable in place.
        self.__setstate__((caller, (), {}, self.__dict__))  # type: ignore[attr-defined]

    def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Any:
        """Bind to `instance` so the provider is passed after `self`."""
        if instance is None:
            return self
        return BoundRoutedMethod[Any, Any, Any](self, instance)

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Pickle by reference to the module-level name, like a plain function."""
        return _qualname(self)

    def __repr__(self) -> str:
        return f"<routed function {_qualname(self)} via {self.router!r}>"


class RoutedFunction(_Routed, Generic[P, R]):
    """A function routed across providers; call it like the original minus the provider.

    `fn(*args)` returns the provider's response; `fn.route(*args)` returns a
    [`Result`][fallback_router.Result]; `fn.router` is the
    [`Router`][fallback_router.Router]. Keeps the wrapped function's `__name__`,
    `__doc__` and `__wrapped__`. Used in a class body, it becomes a method: the
    provider is passed after `self`. A generator function routes a stream:
    calling it returns an iterator, `route` a `Result` whose `response` is one.

    Version:
        Added in 0.1.0.
    """

    if TYPE_CHECKING:
        __wrapped__: Callable[Concatenate[Any, P], R]

        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
            """Route the call and return the serving provider's response."""
            ...

        def route(self, *args: P.args, **kwargs: P.kwargs) -> Result[R]:
            """Route the call and return a `Result` describing it."""
            ...

        @overload
        def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
        @overload
        def __get__(
            self: RoutedFunction[Concatenate[Any, P2], R2],
            instance: object,
            owner: type[Any] | None = None,
        ) -> BoundRoutedMethod[P2, R2, Result[R2]]: ...
        def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Any: ...


class AsyncRoutedFunction(_Routed, Generic[P, R]):
    """An `async def` routed across providers: `await fn(*args)`, `await fn.route(*args)`.

    It is itself a coroutine function (`inspect.iscoroutinefunction` is True), so
    frameworks that check treat it as one. Otherwise as
    [`RoutedFunction`][fallback_router.RoutedFunction].

    Version:
        Added in 0.3.0.
    """

    if TYPE_CHECKING:
        __wrapped__: Callable[Concatenate[Any, P], Any]

        async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
            """Route the call and return the serving provider's response."""
            ...

        async def route(self, *args: P.args, **kwargs: P.kwargs) -> Result[R]:
            """Route the call and return a `Result` describing it."""
            ...

        @overload
        def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
        @overload
        def __get__(
            self: AsyncRoutedFunction[Concatenate[Any, P2], R2],
            instance: object,
            owner: type[Any] | None = None,
        ) -> BoundRoutedMethod[P2, Coroutine[Any, Any, R2], Coroutine[Any, Any, Result[R2]]]: ...
        def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Any: ...


class AsyncRoutedStream(_Routed, Generic[P, T]):
    """An async generator function routed across providers: a routed async stream.

    `fn(*args)` returns an async iterator (routed when first iterated);
    `await fn.route(*args)` routes at once and returns a `Result` whose
    `response` is the async iterator.

    Version:
        Added in 0.3.0.
    """

    if TYPE_CHECKING:

        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
            """Return the stream's async iterator; routed when first iterated."""
            ...

        async def route(self, *args: P.args, **kwargs: P.kwargs) -> Result[AsyncIterator[T]]:
            """Route the stream now and return a `Result` carrying it."""
            ...

        @overload
        def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
        @overload
        def __get__(
            self: AsyncRoutedStream[Concatenate[Any, P2], R2],
            instance: object,
            owner: type[Any] | None = None,
        ) -> BoundRoutedMethod[
            P2, AsyncIterator[R2], Coroutine[Any, Any, Result[AsyncIterator[R2]]]
        ]: ...
        def __get__(self, instance: object | None, owner: type[Any] | None = None) -> Any: ...


class BoundRoutedMethod(functools.partial[C], Generic[P, C, RR]):
    """A routed function bound to an instance (`obj.method`).

    Calls and `route` pass the instance first and the provider after it. It
    pickles by reference, like a plain bound method (`getattr(obj, name)`), so
    `pool.map(obj.method, ...)` works under any start method.

    Version:
        Added in 0.1.0. Changed in 0.3.0: pickles; keeps the parameter types.
    """

    __self__: object
    __wrapped__: Callable[..., Any]

    def __new__(cls, routed: _Routed, instance: object) -> Self:
        """Bind `routed` (a method's wrapper) to `instance`."""
        return super().__new__(cls, routed.func, instance)

    def __init__(self, routed: _Routed, instance: object) -> None:
        self.__self__ = instance
        self.__wrapped__ = routed.__wrapped__
        self.__dict__["_routed"] = routed
        self.__dict__["route"] = functools.partial(routed.__dict__["route"], instance)

    if TYPE_CHECKING:

        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> C:
            """Route the call and return the serving provider's response."""
            ...

        def route(self, *args: P.args, **kwargs: P.kwargs) -> RR:
            """Route the call and return a `Result` describing it."""
            ...

    @property
    def router(self) -> RouterLike:
        """The [`Router`][fallback_router.Router] routing this method."""
        routed: _Routed = self.__dict__["_routed"]
        return routed.router

    @property
    def __name__(self) -> str:
        return str(self.__wrapped__.__name__)

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.__wrapped__.__doc__

    @property
    def __signature__(self) -> inspect.Signature | None:
        """The signature callers see: without `self` and the provider."""
        return _without_params(self.__wrapped__, 0, 1)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as `getattr(instance, name)`, as Python pickles bound methods."""
        name = self.__dict__["_routed"].__dict__.get("_attribute") or self.__wrapped__.__name__
        return (getattr, (self.__self__, name))

    def __repr__(self) -> str:
        return f"<bound routed method {self.__wrapped__.__qualname__} of {self.__self__!r}>"


def _qualname(routed_fn: _Routed) -> str:
    """The wrapped callable's qualified name, or its repr when it has none."""
    return str(routed_fn.__dict__.get("__qualname__") or repr(routed_fn.__wrapped__))


def _without_params(fn: Callable[..., Any], *positions: int) -> inspect.Signature | None:
    """Return `fn`'s signature without the parameters at `positions` (for display)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables have none
        return None
    params = [p for i, p in enumerate(signature.parameters.values()) if i not in positions]
    return signature.replace(parameters=params)
