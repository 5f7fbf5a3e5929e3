"""Results and errors (DESIGN §4): the response unchanged, Result and Attempt, the error tree,
except*, reraise, non-trigger and BaseException propagation.
"""

from __future__ import annotations

import dataclasses

import pytest
import tenacity

from fallback_router import (
    AllProvidersFailedError,
    Attempt,
    AttemptTimeoutError,
    DeadlineExceededError,
    InMemoryCooldown,
    InvalidConfigError,
    RejectedResponseError,
    Result,
    RoutingError,
    StreamInterrupted,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, fleet


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
    assert result.attempts[0].error_text == "RateLimitError: slow down"
    assert (result.attempts[1].error_text, result.attempts[0].hedged) == ("", False)
    assert result.elapsed >= result.latency  # the whole call, the serving attempt's latency
    assert result.skipped == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.provider = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.attempts[0].provider = "x"  # type: ignore[misc]


def test_happy_path_results_are_exact():
    """fn.route() on the inlined happy path: every field of the Result."""
    clock = FakeClock()

    def call(provider):
        clock.advance(0.25)
        return provider.upper()

    fn = routed(providers=["a", "b"], clock=clock)(call)
    assert fn.route() == Result(
        response="A",
        provider="a",
        latency=0.25,
        attempt=1,
        was_terminus=False,
        attempts=(Attempt(provider="a", error=None, latency=0.25, counted=False),),
        skipped=(),
        elapsed=0.25,
    )
    rr = routed(providers=["a", "b"], strategy="round_robin", clock=clock)(call)
    assert [(r.provider, r.was_terminus) for r in (rr.route(), rr.route())] == [
        ("a", False),
        ("b", True),
    ]


def test_general_path_latency_is_the_serving_attempts():
    """latency is the serving attempt's; each Attempt has its own; elapsed is the whole call."""
    clock = FakeClock()

    def call(provider):
        clock.advance(1.0 if provider == "a" else 0.25)
        if provider == "a":
            raise Boom
        return provider

    result = routed(providers=["a", "b"], clock=clock)(call).route()
    assert (result.latency, [a.latency for a in result.attempts]) == (0.25, [1.0, 0.25])
    assert result.elapsed == 1.25  # the whole call


@pytest.mark.parametrize(
    "options",
    [{}, {"max_concurrency": 5}, {"retry": tenacity.Retrying(stop=tenacity.stop_after_attempt(1))}],
)
def test_a_fallen_back_result_is_exact_on_every_path(options):
    """a fails, b serves (the walk, the engine with limits, the engine with retries)."""
    clock = FakeClock()

    def call(provider):
        clock.advance(1.0 if provider == "a" else 0.25)
        if provider == "a":
            raise Boom(provider)
        return provider.upper()

    result = routed(providers=["a", "b"], clock=clock, **options)(call).route()
    error = result.attempts[0].error
    assert isinstance(error, Boom)
    assert result == Result(
        response="B",
        provider="b",
        latency=0.25,
        attempt=2,
        was_terminus=True,
        attempts=(
            Attempt(provider="a", error=error, latency=1.0, counted=True, error_text="Boom: a"),
            Attempt(provider="b", error=None, latency=0.25, counted=False),
        ),
        skipped=(),
        elapsed=1.25,
    )


def test_result_and_attempt_are_keyword_only_and_slotted():
    """Values are built by keyword and carry no __dict__."""
    attempt = Attempt(provider="a", error=None, latency=0.1)
    assert not hasattr(attempt, "__dict__")
    with pytest.raises(TypeError):
        Attempt("a", None, 0.1)  # type: ignore[misc]


# -- errors --------------------------------------------------------------------------------


def test_error_hierarchy():
    """Every library error derives from RoutingError with the documented extra bases."""
    assert issubclass(InvalidConfigError, (RoutingError, ValueError))
    assert issubclass(AllProvidersFailedError, ExceptionGroup)
    assert issubclass(DeadlineExceededError, (RoutingError, TimeoutError))


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


def test_the_message_names_tried_and_skipped_providers(clock):
    """'all providers failed (c); skipped in cooldown: a, b'."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", Boom())
    tracker.record_failure("b", Boom())

    @routed(providers=["a", "b", "c"], cooldown=tracker)
    def f(provider):
        raise Boom(provider)

    with pytest.raises(AllProvidersFailedError) as info:
        f()
    assert str(info.value).startswith("all providers failed (c); skipped in cooldown: a, b")
    assert info.value.skipped == ("a", "b")


def test_a_single_caller_bug_is_named_in_the_error():
    """When every attempt raised the same caller bug, the message says so, word for word."""

    def call(provider):
        raise TypeError("bad argument")

    fn = routed(providers=["a"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert str(info.value) == (
        "all providers failed (a); every attempt raised TypeError: this looks like a bug "
        "in the routed function rather than a provider failure (1 sub-exception)"
    )


def test_mixed_errors_get_no_bug_hint():
    """The bug hint appears only when every attempt raised the same caller bug."""

    @routed(providers=["a", "b"], cooldown=None)
    def f(provider):
        raise TypeError("x") if provider == "a" else Boom("y")

    with pytest.raises(AllProvidersFailedError) as info:
        f()
    assert "bug" not in str(info.value)


def test_except_star_splits_by_type_and_keeps_the_attributes(clock):
    """except* catches each provider error type; the group there keeps attempts and skips."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", Boom())
    errors = {"b": RateLimitError("b"), "c": ServerError("c"), "d": RateLimitError("d")}

    @routed(providers=["a", "b", "c", "d"], cooldown=tracker)
    def f(provider):
        raise errors[provider] if provider in errors else Boom(provider)

    caught = {}
    try:
        f()
    except* RateLimitError as group:
        caught["rate"] = group
    except* ServerError as group:
        caught["server"] = group
    rate = caught["rate"]
    assert isinstance(rate, AllProvidersFailedError)
    assert rate.exceptions == (errors["b"], errors["d"])
    assert caught["server"].exceptions == (errors["c"],)
    assert [a.provider for a in rate.attempts] == ["b", "c", "d"]
    assert rate.skipped == ("a",)
    assert rate.last_error is errors["d"]


def test_errors_pickle_and_keep_their_args():
    """AllProvidersFailedError pickles with its args, message and attempts."""
    import pickle

    def call(provider):
        raise RuntimeError(provider)

    fn = routed(providers=["a"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    error = info.value
    assert error.args[0] == "all providers failed (a)"
    assert [str(e) for e in error.args[1]] == ["a"]
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, [a.provider for a in copy.attempts]) == (error.message, ["a"])


@pytest.mark.parametrize(
    ("error", "facts"),
    [
        (AttemptTimeoutError("a", 1.5, "idle"), {"provider": "a", "limit": 1.5, "kind": "idle"}),
        (StreamInterrupted("a", 3), {"provider": "a", "items": 3}),
        (RejectedResponseError("a", {"x": 1}), {"provider": "a", "response": {"x": 1}}),
    ],
)
def test_every_error_carrying_data_pickles_with_it(error, facts):
    """AttemptTimeoutError, StreamInterrupted and RejectedResponseError survive pickling."""
    import pickle

    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), vars(copy)) == (type(error), str(error), facts)


def test_a_deadline_error_pickles_and_shows_its_attempts(clock):
    """DeadlineExceededError pickles with its budget and attempts and displays its chain."""
    import pickle

    fn = routed(providers=["a", "b", "c"], timeout=5, clock=clock, cooldown=None)(
        fleet("a", "b", "c", clock=clock, cost=3)
    )
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    copy = pickle.loads(pickle.dumps(info.value))
    assert (str(copy), copy.timeout) == ("time budget of 5.0 s ran out after 2 attempt(s)", 5.0)
    assert [a.provider for a in copy.attempts] == ["a", "b"]
    assert info.value._repr_html_() == (
        '<div class="fallback-router-error" style="color:inherit"><b>DeadlineExceededError: '
        "time budget of 5.0 s ran out after 2 attempt(s)</b><br>"
        '<span class="fr-failed" title="RuntimeError: a down">a failed: RuntimeError: a down'
        '</span> → <span class="fr-failed" title="RuntimeError: b down">b failed: '
        "RuntimeError: b down</span></div>"
    )
    assert info.value._repr_markdown_() == (
        "**DeadlineExceededError: time budget of 5\\.0 s ran out after 2 attempt\\(s\\)**\n\n"
        "- a failed: RuntimeError: a down\n- b failed: RuntimeError: b down"
    )


def test_reraise_raises_the_last_providers_own_exception():
    """reraise=True raises the last error itself, not the group."""
    errors = {"a": RateLimitError("a"), "b": ServerError("b")}
    fn = routed(providers=["a", "b"], reraise=True)(failing(errors))
    with pytest.raises(ServerError) as info:
        fn()
    assert info.value is errors["b"]


# -- what propagates at once ---------------------------------------------------------------


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


@pytest.mark.parametrize("hooks", [None, [lambda e: None]])
def test_a_non_trigger_error_reaches_the_caller_without_context(hooks):
    """The second provider's non-trigger error carries no __context__ from the first, on every path."""

    class Fatal(Exception):
        pass

    @routed(providers=["a", "b"], fallback_on=Boom, on_event=hooks)
    def f(provider):
        if provider == "a":
            raise Boom("a")
        raise Fatal("b")

    with pytest.raises(Fatal) as info:
        f()
    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    with pytest.raises(Fatal) as info:
        f.route()  # route() too
    assert info.value.__context__ is None


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


def test_the_all_failed_message_is_bounded_with_the_full_data_on_the_error():
    """10,000 failing providers: ten named, "and 9,990 more"; every error still kept."""
    names = [f"p{i}" for i in range(10_000)]
    fn = routed(providers=names, cooldown=None)(fleet(*names))
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    message = str(info.value)
    assert "all providers failed (p0, p1, p2, p3, p4, p5, p6, p7, p8, p9 and 9,990 more)" in message
    assert len(message) < 300
    assert len(info.value.exceptions) == len(info.value.attempts) == 10_000


def test_the_skipped_list_is_bounded_too(clock):
    """Providers skipped for cooldown are listed up to ten, then counted."""
    names = [f"p{i}" for i in range(50)]
    fn = routed(providers=names, cooldown=30, clock=clock)(fleet(*names))
    with pytest.raises(AllProvidersFailedError):
        fn()
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert "skipped in cooldown: p0, p1, p2, p3, p4, p5, p6, p7, p8, p9 and 39 more" in str(
        info.value
    )
    assert len(info.value.skipped) == 49


def test_seconds_in_messages_are_rounded():
    """A computed limit reads in three significant digits (ms below a second)."""
    assert str(AttemptTimeoutError("a", 0.999927)) == "attempt timed out after 1 s on a"
    assert str(AttemptTimeoutError("a", 0.0123456)) == "attempt timed out after 12.3 ms on a"
    assert str(AttemptTimeoutError("a", 90.25, "idle")) == "idle timed out after 90.2 s on a"
