"""The decorator (DESIGN §1): routed, Router, execute, methods, metadata, pickling."""

from __future__ import annotations

import pickle
import re

import pytest

from fallback_router import (
    AllProvidersFailedError,
    BoundRoutedMethod,
    Result,
    RoutedFunction,
    Router,
    routed,
)

from .support.helpers import Boom, Fleet


@routed(providers=["a", "b"])
def documented(provider: str, prompt: str) -> str:
    """Answer the prompt."""
    return f"{provider}:{prompt}"


def test_wrapper_keeps_name_doc_and_wrapped():
    """functools.wraps metadata survives decoration."""
    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Answer the prompt."
    assert documented.__wrapped__("z", "q") == "z:q"
    assert documented.__module__ == __name__
    assert isinstance(documented, RoutedFunction)
    assert isinstance(documented.router, Router)
    assert "documented" in repr(documented)


def test_signature_drops_the_provider_parameter():
    """inspect.signature shows what callers pass: no provider (and no self when bound)."""
    import inspect

    def names(obj):
        return list(inspect.signature(obj).parameters)

    assert names(documented) == ["prompt"]
    assert names(Assistant.ask) == ["self", "prompt"]
    assert names(Assistant("kind").ask) == ["prompt"]
    assert inspect.signature(documented).return_annotation == "str"


def test_signature_of_a_callable_without_one_is_none():
    """Callables inspect cannot read keep working; they just have no signature."""
    fn = routed(providers=["a"])(max)
    assert fn.__signature__ is None
    assert fn("b") == "b"


def test_signatures_of_functions_and_methods_decorated_in_the_test():
    """The same, for objects built while the test runs (not at import)."""
    import inspect

    @routed(providers=["a"])
    def ask(provider, prompt: str, *, temperature: float = 0.5) -> str:
        return f"{provider}:{prompt}:{temperature}"

    class Bot:
        @routed(providers=["a"])
        def ask(self, provider, prompt: str) -> str:
            return f"{provider}:{prompt}"

    # (annotations are strings here: the module uses `from __future__ import annotations`)
    assert str(inspect.signature(ask)) == "(prompt: 'str', *, temperature: 'float' = 0.5) -> 'str'"
    assert str(inspect.signature(Bot.ask)) == "(self, prompt: 'str') -> 'str'"
    assert str(inspect.signature(Bot().ask)) == "(prompt: 'str') -> 'str'"
    bot = Bot()
    assert Bot.ask(bot, "hi") == "a:hi"  # through the class, the instance first
    assert Bot.ask.route(bot, "hi").response == "a:hi"


def test_decorated_function_pickles_by_reference():
    """A module-level routed function pickles like a plain function."""
    assert pickle.loads(pickle.dumps(documented)) is documented


def test_router_execute_routes_a_plain_function():
    """router.execute(fn, *args) is the decorator-free form and returns a Result."""
    router = Router(["a", "b"])

    def ask(provider, prompt, *, suffix=""):
        return provider + prompt + suffix

    result = router.execute(ask, "?", suffix="!")
    assert isinstance(result, Result)
    assert result.response == "a?!"


def test_router_decorates_several_functions_sharing_state(clock):
    """@router on several functions shares one cooldown state."""
    router = Router(["a", "b"], clock=clock)
    vendors = Fleet("a")

    @router
    def first(provider):
        return vendors(provider)

    @router
    def second(provider):
        return vendors(provider)

    first()
    vendors.calls.clear()
    assert second.route().skipped == ("a",)


def test_a_partial_can_be_routed_and_has_a_readable_repr():
    """Callables without __qualname__ (a partial) are routed and shown by their repr."""
    import functools

    def ask(provider, suffix):
        return provider + suffix

    fn = routed(providers=["a"])(functools.partial(ask, suffix="!"))
    assert fn() == "a!"
    assert "functools.partial" in repr(fn)


def test_decorating_a_non_callable_is_a_type_error():
    """Router(...)(42) is refused."""
    with pytest.raises(TypeError, match="callable"):
        Router(["a"])(42)  # type: ignore[arg-type]


def test_bare_routed_without_arguments_is_not_a_decorator():
    """There is one spelling, @routed(...): the bare form fails loudly."""
    with pytest.raises(TypeError):

        @routed  # type: ignore[call-arg, arg-type]
        def ask(provider):
            return provider


def test_router_repr_names_providers_and_strategy():
    """Router's repr names its providers (or a callable), its strategy and its tracker."""
    assert repr(Router(providers=["a", "b"], cooldown=None)).startswith(
        "Router(providers=('a', 'b'), strategy='fallback', tracker=None"
    )
    assert "strategy='round_robin'" in repr(Router(["a", "b"], strategy="round_robin"))
    assert repr(Router(providers=lambda: ["a"], cooldown=None)).startswith(
        "Router(providers='<callable>'"
    )


def test_a_plain_def_returning_an_awaitable_is_a_type_error_naming_async_def():
    """A plain def returning a coroutine: TypeError naming `async def`, coroutine closed, no count."""
    coroutines = []

    async def sdk(provider):
        return provider

    def call(provider):
        coroutines.append(sdk(provider))
        return coroutines[-1]

    message = (
        f"{call.__qualname__} returned an awaitable (coroutine): routed plain functions must "
        "return the response; declare it `async def` and await the provider call"
    )
    happy = routed(providers=["a", "b"])(call)
    general = routed(providers=["a", "b"], max_concurrency=2)(call)
    for fn in (happy, general):
        with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
            fn()
        assert coroutines.pop().cr_frame is None  # closed: no "never awaited" warning
        assert [(r.successes, r.failures) for r in fn.router.status()] == [(0, 0), (0, 0)]


# -- methods -------------------------------------------------------------------------------


def assistant_class() -> type:
    """A fresh class per test: its routed method's router (and cooldowns) is its own."""

    class Assistant:
        def __init__(self, tone: str) -> None:
            self.tone = tone

        @routed(providers=["a", "b"])
        def ask(self, provider: str, prompt: str) -> str:
            """Ask politely."""
            if provider == "a" and self.tone == "rude":
                raise RuntimeError("a refuses")
            return f"{self.tone}/{provider}/{prompt}"

    return Assistant


#: Only for the signature tests, which read no router state.
Assistant = assistant_class()


def test_methods_receive_self_then_the_provider():
    """For methods the provider is the parameter after self."""
    bot = assistant_class()("kind")
    assert bot.ask("hi") == "kind/a/hi"
    result = bot.ask.route("hi")
    assert result.provider == "a"
    assert isinstance(bot.ask, BoundRoutedMethod)
    assert bot.ask.__name__ == "ask"
    assert bot.ask.__doc__ == "Ask politely."
    assert bot.ask.__self__ is bot
    assert "bound routed method" in repr(bot.ask)


class Pickled:
    """A module-level class, so its instances and bound routed methods pickle by reference."""

    @routed(providers=["a"])
    def ask(self, provider: str, prompt: str) -> str:
        return f"{provider}/{prompt}"


def test_a_bound_routed_method_pickles_and_reaches_its_router():
    """A bound method pickles as getattr(instance, name); .router is the class' router."""
    bound = Pickled().ask
    assert bound.router is Pickled.ask.router
    copy = pickle.loads(pickle.dumps(bound))
    assert copy("hi") == "a/hi"
    assert isinstance(copy.__self__, Pickled)


def test_methods_fall_back_per_instance_state():
    """A method's fallback works with the instance's own state."""
    assistant = assistant_class()
    assert assistant("rude").ask("hi") == "rude/b/hi"
    # The failure benched a for the class' router: the next kind call skips it.
    assert assistant("kind").ask.route("hi").skipped == ("a",)


def test_class_access_returns_the_routed_function():
    """On the class it is the RoutedFunction, callable with the instance first."""

    class Bot:
        @routed(providers=["a", "b"])
        def ask(self, provider: str, prompt: str) -> str:
            return f"{provider}/{prompt}"

    assert isinstance(Bot.ask, RoutedFunction)
    assert Bot.ask(Bot(), "x") == "a/x"
    assert Bot.ask.route(Bot(), "y").response == "a/y"


def test_failure_path_of_bound_method():
    """A bound method failing everywhere raises the group like a function."""

    class Broken:
        @routed(providers=["a"])
        def ask(self, provider):
            raise RuntimeError(provider)

    with pytest.raises(AllProvidersFailedError):
        Broken().ask()


def test_generator_methods_stream_through_the_general_path():
    """A routed generator method: iterating streams, .route() returns a Result."""
    calls: list[str] = []

    class Client:
        def __init__(self, failing: str) -> None:
            self.failing = failing

        @routed(providers=["a", "b"], cooldown=None)
        def stream(self, provider, n, *, sep=""):
            calls.append(provider)
            if provider == self.failing:
                raise Boom(provider)
            for i in range(n):
                yield f"{provider}{sep}{i}"

    client = Client(failing="a")
    lazy = client.stream(2, sep="-")
    assert calls == []  # nothing is routed before the first item is asked for
    assert list(lazy) == ["b-0", "b-1"]
    assert calls == ["a", "b"]
    result = client.stream.route(3, sep=":")
    assert result.provider == "b"
    assert list(result.response) == ["b:0", "b:1", "b:2"]
    result = Client.stream.route(Client(failing="b"), 1)
    assert (result.provider, list(result.response)) == ("a", ["a0"])
