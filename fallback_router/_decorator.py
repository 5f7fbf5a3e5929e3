"""The typed wrapper a router puts around a function: :class:`RoutedFunction`."""

# pyright: reportUnnecessaryTypeIgnoreComment=false
# (the ignores in this module are for mypy; pyright needs none of them)

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
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

from ._results import Result

if TYPE_CHECKING:  # for annotations only: at run time this module imports no router
    from ._router import Router

__all__ = ["BoundRoutedMethod", "RoutedFunction", "RouterLike"]

P = ParamSpec("P")
R = TypeVar("R")


class RouterLike(Protocol):
    """What the wrapper needs of a router (so this module does not import it)."""

    def _make_caller(
        self, fn: Callable[..., Any], want_result: bool = False
    ) -> Callable[..., Any]: ...

    def _call(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        want_result: bool,
    ) -> Any: ...


class RoutedFunction(functools.partial[R], Generic[P, R]):
    """A function routed across providers; call it like the original minus the provider.

    ``fn(*args)`` returns the provider's response; ``fn.route(*args)`` returns a
    :class:`Result`; ``fn.router`` is the :class:`Router`. Keeps the wrapped
    function's ``__name__``, ``__doc__`` and ``__wrapped__``. Used in a class body,
    it becomes a method: the provider is passed after ``self``.

    It is a ``functools.partial`` subclass only so that calling it costs one
    C-level hop into the router's inlined happy path.

    .. versionadded:: 0.1.0
    """

    router: Router
    __wrapped__: Callable[Concatenate[Any, P], R]
    __signature__: inspect.Signature | None

    def __new__(cls, router: RouterLike, fn: Callable[Concatenate[Any, P], R]) -> Self:
        """Build the wrapper around the router's caller for ``fn``."""
        return super().__new__(cls, router._make_caller(fn))  # noqa: SLF001

    def __init__(self, router: RouterLike, fn: Callable[Concatenate[Any, P], R]) -> None:
        functools.update_wrapper(self, fn)
        self.router = router  # type: ignore[assignment]
        self.__signature__ = _without_params(fn, 0)
        # An instance attribute, not a method: fn.route(...) runs the router's caller
        # directly, with the happy path inlined as for fn(...).
        self.__dict__["route"] = router._make_caller(fn, True)  # noqa: SLF001

    if TYPE_CHECKING:

        def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
            """Route the call and return the serving provider's response."""
            ...

        def route(self, *args: P.args, **kwargs: P.kwargs) -> Result[R]:
            """Route the call and return a :class:`Result` describing it."""
            ...

    def __set_name__(self, owner: type[Any], name: str) -> None:
        """Become a method: the first argument is the instance, the provider follows."""
        router, fn = self.router, self.__wrapped__

        def unbound(instance: object, /, *args: Any, **kwargs: Any) -> Any:
            return router._call(functools.partial(fn, instance), args, kwargs, False)  # noqa: SLF001

        def route(instance: object, /, *args: Any, **kwargs: Any) -> Any:  # Class.method.route
            return router._call(functools.partial(fn, instance), args, kwargs, True)  # noqa: SLF001

        self.__dict__["route"] = route
        self.__signature__ = _without_params(fn, 1)  # (self, *rest): the provider goes
        # functools.partial's documented state protocol swaps the callable in place.
        self.__setstate__((unbound, (), {}, self.__dict__))  # type: ignore[attr-defined]

    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(self, instance: object, owner: type[Any] | None = None) -> BoundRoutedMethod[R]: ...
    def __get__(
        self, instance: object | None, owner: type[Any] | None = None
    ) -> Self | BoundRoutedMethod[R]:
        """Bind to ``instance`` so the provider is passed after ``self``."""
        if instance is None:
            return self
        return BoundRoutedMethod(self.router, self.__wrapped__, instance)

    def __reduce__(self) -> str | tuple[Any, ...]:
        """Pickle by reference to the module-level name, like a plain function."""
        return _qualname(self)

    def __repr__(self) -> str:
        return f"<routed function {_qualname(self)} via {self.router!r}>"


class BoundRoutedMethod(Generic[R]):
    """A :class:`RoutedFunction` bound to an instance (``obj.method``).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("__self__", "__wrapped__", "_fn", "router")

    def __init__(self, router: RouterLike, fn: Callable[..., R], instance: object) -> None:
        self.__self__ = instance
        self.__wrapped__ = fn
        self.router = router
        self._fn = functools.partial(fn, instance)

    @property
    def __name__(self) -> str:
        return self.__wrapped__.__name__

    @property
    def __doc__(self) -> str | None:  # type: ignore[override]
        return self.__wrapped__.__doc__

    @property
    def __signature__(self) -> inspect.Signature | None:
        """The signature callers see: without ``self`` and the provider."""
        return _without_params(self.__wrapped__, 0, 1)

    def __call__(self, *args: Any, **kwargs: Any) -> R:
        """Route the call and return the serving provider's response."""
        return self.router._call(self._fn, args, kwargs, False)  # type: ignore[no-any-return]  # noqa: SLF001

    def route(self, *args: Any, **kwargs: Any) -> Result[R]:
        """Route the call and return a :class:`Result` describing it."""
        return self.router._call(self._fn, args, kwargs, True)  # type: ignore[no-any-return]  # noqa: SLF001

    def __repr__(self) -> str:
        return f"<bound routed method {self.__wrapped__.__qualname__} of {self.__self__!r}>"


def _qualname(routed_fn: RoutedFunction[Any, Any]) -> str:
    """The wrapped callable's qualified name, or its repr when it has none."""
    return str(routed_fn.__dict__.get("__qualname__") or repr(routed_fn.__wrapped__))


def _without_params(fn: Callable[..., Any], *positions: int) -> inspect.Signature | None:
    """Return ``fn``'s signature without the parameters at ``positions`` (for display)."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins and some C callables have none
        return None
    params = [p for i, p in enumerate(signature.parameters.values()) if i not in positions]
    return signature.replace(parameters=params)
