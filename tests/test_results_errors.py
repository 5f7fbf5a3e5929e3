"""Results and errors (DESIGN §4)."""

from __future__ import annotations

import dataclasses

import pytest

from fallback_router import (
    AllProvidersFailedError,
    Attempt,
    DeadlineExceededError,
    InvalidConfigError,
    Result,
    RoutingError,
    routed,
)


class RateLimitError(Exception):
    pass


class ServerError(Exception):
    pass


def failing(errors: dict[str, Exception]):
    def call(provider, *args, **kwargs):
        if provider in errors:
            raise errors[provider]
        return {"provider": provider, "args": args, "kwargs": kwargs}

    return call


def test_calling_returns_the_response_unchanged():
    """The decorated function returns exactly what the provider returned."""
    payload = object()
    assert routed(providers=["a"])(lambda p: payload)() is payload


def test_arguments_are_passed_after_the_provider():
    """Positional and keyword arguments reach the function after the provider."""
    fn = routed(providers=["a"])(failing({}))
    assert fn(1, 2, k=3) == {"provider": "a", "args": (1, 2), "kwargs": {"k": 3}}


def test_route_returns_a_frozen_result_with_every_field():
    """route() describes the call: response, provider, latency, attempt, terminus, chain."""
    fn = routed(providers=["a", "b", "c"])(failing({"a": RateLimitError("slow down")}))
    result = fn.route()
    assert isinstance(result, Result)
    assert result.response["provider"] == "b"
    assert result.provider == "b"
    assert result.attempt == 2
    assert result.was_terminus is False
    assert result.latency >= 0
    assert [a.provider for a in result.attempts] == ["a", "b"]
    assert isinstance(result.attempts[0].error, RateLimitError)
    assert result.attempts[1].error is None
    assert result.attempts[1].ok
    assert not result.attempts[0].ok
    assert result.attempts[1].latency == result.latency
    assert result.skipped == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.provider = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.attempts[0].provider = "x"  # type: ignore[misc]


def test_result_and_attempt_are_keyword_only_and_slotted():
    """Values are built by keyword and carry no __dict__."""
    attempt = Attempt(provider="a", error=None, latency=0.1)
    assert not hasattr(attempt, "__dict__")
    with pytest.raises(TypeError):
        Attempt("a", None, 0.1)  # type: ignore[misc]


def test_all_providers_failed_is_an_exception_group_in_attempt_order():
    """The group holds every provider's error in attempt order, plus attempts and last_error."""
    errors = {"a": RateLimitError("a"), "b": ServerError("b"), "c": RateLimitError("c")}
    fn = routed(providers=["a", "b", "c"], cooldown=None)(failing(errors))
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    group = info.value
    assert isinstance(group, ExceptionGroup)
    assert isinstance(group, RoutingError)
    assert list(group.exceptions) == [errors["a"], errors["b"], errors["c"]]
    assert [a.provider for a in group.attempts] == ["a", "b", "c"]
    assert group.last_error is errors["c"]
    assert "a, b, c" in str(group)


def test_except_star_matches_provider_errors():
    """Users can write except* RateLimitError."""
    errors = {"a": RateLimitError("a"), "b": ServerError("b")}
    fn = routed(providers=["a", "b"])(failing(errors))
    caught = []
    try:
        fn()
    except* RateLimitError as group:
        caught.append(group.exceptions)
    except* ServerError as group:
        caught.append(group.exceptions)
    assert caught == [(errors["a"],), (errors["b"],)]


def test_reraise_raises_the_last_providers_own_exception():
    """reraise=True raises the last error itself, not the group."""
    errors = {"a": RateLimitError("a"), "b": ServerError("b")}
    fn = routed(providers=["a", "b"], reraise=True)(failing(errors))
    with pytest.raises(ServerError) as info:
        fn()
    assert info.value is errors["b"]


def test_reraise_must_be_a_bool():
    """reraise= is validated."""
    with pytest.raises(InvalidConfigError, match="reraise"):
        routed(providers=["a"], reraise="yes")  # type: ignore[arg-type]


def test_non_trigger_exceptions_propagate_at_once_unchanged():
    """An error fallback_on does not match stops the call immediately, as itself."""
    calls = []
    error = KeyError("bad input")

    def call(provider):
        calls.append(provider)
        raise error

    fn = routed(providers=["a", "b"], fallback_on=(RateLimitError, ServerError))(call)
    with pytest.raises(KeyError) as info:
        fn()
    assert info.value is error
    assert calls == ["a"]
    assert fn.router.tracker is not None
    assert fn.router.tracker.snapshot() == {}


def test_non_trigger_exception_propagates_on_a_later_attempt_too(clock):
    """After a fallback, a non-trigger on the next provider still propagates unchanged."""
    errors = {"a": RateLimitError("a"), "b": KeyError("b")}
    fn = routed(providers=["a", "b", "c"], fallback_on=RateLimitError, clock=clock)(failing(errors))
    with pytest.raises(KeyError):
        fn.route()


def test_fallback_on_accepts_a_predicate():
    """fallback_on may be a predicate over the exception."""
    fn = routed(providers=["a", "b"], fallback_on=lambda e: "retryable" in str(e))(
        failing({"a": RuntimeError("retryable"), "b": RuntimeError("fatal")})
    )
    with pytest.raises(RuntimeError, match="fatal"):
        fn()


@pytest.mark.parametrize("exc_type", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_base_exceptions_propagate_and_are_never_recorded(exc_type, clock):
    """Ctrl-C and SystemExit stop the call at once and never count as failures."""
    calls = []

    def call(provider):
        calls.append(provider)
        raise exc_type

    fn = routed(providers=["a", "b"], fallback_on=BaseException, clock=clock)(call)
    with pytest.raises(exc_type):
        fn()
    assert calls == ["a"]
    assert fn.router.tracker is not None
    assert fn.router.tracker.snapshot() == {}
    assert fn.router.status()["a"].failures == 0


def test_base_exception_leaves_no_current_attempt_behind():
    """After a KeyboardInterrupt, current_attempt() is None again."""
    from fallback_router import current_attempt

    def call(provider):
        raise KeyboardInterrupt

    fn = routed(providers=["a"])(call)
    with pytest.raises(KeyboardInterrupt):
        fn()
    assert current_attempt() is None


def test_error_hierarchy():
    """Every library error derives from RoutingError with the documented extra bases."""
    assert issubclass(InvalidConfigError, (RoutingError, ValueError))
    assert issubclass(AllProvidersFailedError, ExceptionGroup)
    assert issubclass(DeadlineExceededError, (RoutingError, TimeoutError))


@pytest.mark.parametrize("bad", ["x", (ValueError, "x"), 3])
def test_invalid_fallback_on_is_rejected(bad):
    """fallback_on must be exception types or a predicate."""
    with pytest.raises(InvalidConfigError, match="fallback_on"):
        routed(providers=["a"], fallback_on=bad)


def test_invalid_cooldown_on_is_rejected():
    """cooldown_on is validated like fallback_on."""
    with pytest.raises(InvalidConfigError, match="cooldown_on"):
        routed(providers=["a"], cooldown_on=42)  # type: ignore[arg-type]


def test_result_html_shows_the_chain_escaped(clock):
    """Result._repr_html_ shows skipped, failed and serving providers, escaped."""
    fn = routed(providers=["<s>", "b&", "c"], clock=clock)(
        failing({"<s>": RateLimitError("<boom>"), "b&": ServerError("x")})
    )
    fn()
    html = fn.route()._repr_html_()
    assert "&lt;s&gt;" in html
    assert "<boom>" not in html
    assert "served by <b>c</b>" in html
    assert "(terminus)" in html
    assert "fr-skipped" in html


def test_result_html_shows_failures_before_success():
    """A failed attempt appears in the chain with its error."""
    fn = routed(providers=["a", "b"], cooldown=None)(failing({"a": RateLimitError("nope")}))
    html = fn.route()._repr_html_()
    assert "RateLimitError: nope" in html
    assert html.index("RateLimitError") < html.index("served by")
