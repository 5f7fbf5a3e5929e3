"""Decorator mechanics (DESIGN §1): routed, Router, execute, methods, metadata."""

from __future__ import annotations

import pickle

import pytest

from fallback_router import (
    AllProvidersFailedError,
    BoundRoutedMethod,
    Result,
    RoutedFunction,
    Router,
    current_attempt,
    routed,
)


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


def test_execute_rejects_async_functions():
    """execute() applies the same checks as decorating."""

    async def ask(provider):
        return provider

    with pytest.raises(TypeError, match="async"):
        Router(["a"]).execute(ask)


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


#: Only for the signature test, which reads no router state.
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


def test_decorating_async_def_is_a_type_error():
    """The library is synchronous: async def is refused when decorating."""
    with pytest.raises(TypeError, match="is async"):

        @routed(providers=["a"])
        async def ask(provider):
            return provider


def test_decorating_async_generator_is_a_type_error():
    """Async generators are refused too."""
    with pytest.raises(TypeError, match="is async"):

        @routed(providers=["a"])
        async def stream(provider):
            yield provider


def test_an_object_with_async_call_is_a_type_error():
    """A callable object whose __call__ is async is refused too."""

    class Client:
        async def __call__(self, provider):
            return provider

    with pytest.raises(TypeError, match="is async"):
        routed(providers=["a"])(Client())


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


def test_current_attempt_describes_the_running_provider_call():
    """current_attempt() gives the provider name, attempt number and terminus flag."""
    seen = []

    def call(provider):
        info = current_attempt()
        assert info is not None
        seen.append((info.provider, info.attempt, info.is_terminus, info.time_left))
        if provider != "c":
            raise RuntimeError(provider)
        return provider

    routed(providers=["a", "b", "c"], cooldown=None)(call)()
    assert seen == [("a", 1, False, None), ("b", 2, False, None), ("c", 3, True, None)]
    assert current_attempt() is None


def test_current_attempt_is_none_outside_a_routed_call():
    """Outside any routed call there is no attempt."""
    assert current_attempt() is None


def test_nested_routed_calls_restore_the_outer_attempt():
    """A routed call inside a provider call does not clobber the outer attempt info."""
    inner = routed(providers=["inner"])(lambda p: current_attempt().provider)  # type: ignore[union-attr]

    def outer(provider):
        before = current_attempt()
        got = inner()
        after = current_attempt()
        assert before is not None
        assert after is not None
        return got, before.provider, after.provider

    assert routed(providers=["outer"])(outer)() == ("inner", "outer", "outer")


def test_a_copied_context_carries_the_attempt_into_a_helper_thread():
    """Work handed to a thread with the context sees the attempt that handed it over."""
    import contextvars
    import threading

    seen = {}

    def helper(key):
        info = current_attempt()
        seen[key] = None if info is None else (info.provider, info.attempt)

    def call(provider):
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(helper, provider))
        thread.start()
        thread.join()
        if provider == "a":
            raise RuntimeError("a down")
        return provider

    routed(providers=["a", "b"], cooldown=None)(call)()
    assert seen == {"a": ("a", 1), "b": ("b", 2)}


def test_a_helper_thread_can_make_its_own_routed_calls_in_a_copied_context():
    """A routed call in a thread that inherited the context uses its own slot."""
    import contextvars
    import threading

    inner = routed(providers=["inner"])(lambda p: current_attempt().provider)  # type: ignore[union-attr]
    seen = []

    def call(provider):
        context = contextvars.copy_context()
        thread = threading.Thread(target=lambda: seen.append(context.run(inner)))
        thread.start()
        thread.join()
        info = current_attempt()
        assert info is not None
        return info.provider

    assert routed(providers=["outer"])(call)() == "outer"
    assert seen == ["inner"]


def test_attempt_info_repr_is_readable():
    """AttemptInfo has a readable repr."""

    def call(provider):
        return repr(current_attempt())

    text = routed(providers=["a"])(call)()
    assert text == "AttemptInfo(provider='a', attempt=1, is_terminus=True, time_left=None)"


def test_router_repr_names_providers_and_strategy():
    """Router has a readable repr."""
    text = repr(Router(["a", "b"], strategy="round_robin"))
    assert "('a', 'b')" in text
    assert "round_robin" in text
    assert "<callable>" in repr(Router(lambda: ["a"]))


def test_configuration_errors_are_raised_when_decorating():
    """Bad configuration fails at @routed(...), before any call."""
    from fallback_router import InvalidConfigError

    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], timeout=-1)
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], clock=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], retry=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], on_event=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], on_event=[print, 3])  # type: ignore[list-item]


def test_bare_routed_without_arguments_is_not_a_decorator():
    """There is one spelling, @routed(...): the bare form fails loudly."""
    with pytest.raises(TypeError):

        @routed  # type: ignore[call-arg, arg-type]
        def ask(provider):
            return provider


def test_failure_path_of_bound_method():
    """A bound method failing everywhere raises the group like a function."""

    class Broken:
        @routed(providers=["a"])
        def ask(self, provider):
            raise RuntimeError(provider)

    with pytest.raises(AllProvidersFailedError):
        Broken().ask()


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
