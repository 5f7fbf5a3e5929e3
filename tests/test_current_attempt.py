"""current_attempt() (DESIGN §6): the running attempt's provider, number, terminus flag and
time left, per context.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor

import pytest

from fallback_router import (
    current_attempt,
    routed,
)

from .support.helpers import Boom, Flaky


def test_current_attempt_describes_the_running_provider_call():
    """Inside each attempt: provider, number, terminus flag, time left; None outside a call."""
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


def test_attempt_info_repr_is_readable():
    """AttemptInfo has a readable repr."""

    def call(provider):
        return repr(current_attempt())

    text = routed(providers=["a"])(call)()
    assert text == "AttemptInfo(provider='a', attempt=1, is_terminus=True, time_left=None)"


def test_base_exception_leaves_no_current_attempt_behind():
    """After a KeyboardInterrupt, current_attempt() is None again."""
    from fallback_router import current_attempt

    def call(provider):
        raise KeyboardInterrupt

    fn = routed(providers=["a"])(call)
    with pytest.raises(KeyboardInterrupt):
        fn()
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


# -- copied contexts -----------------------------------------------------------------------


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


def test_a_copied_context_keeps_the_attempt_it_was_copied_with():
    """copy_context() inside an attempt, run later in a pool, sees that attempt, not later ones."""
    copies: dict[str, contextvars.Context] = {}

    @routed(providers=["a", "b"], exempt={"a"})
    def f(provider, fail):
        copies[provider] = contextvars.copy_context()
        if fail and provider == "a":
            raise Boom
        return provider

    f(True)  # a fails (copied during attempt 1), b serves (attempt 2)
    f(False)
    with ThreadPoolExecutor(1) as pool:
        seen_b = pool.submit(copies["b"].run, current_attempt).result()
    assert seen_b is not None
    assert (seen_b.provider, seen_b.attempt) == ("b", 2)
    seen_a = copies["a"].run(current_attempt)
    assert seen_a is not None
    assert (seen_a.provider, seen_a.attempt) == ("a", 1)
    assert current_attempt() is None


# -- time left -----------------------------------------------------------------------------


def test_time_left_is_given_to_each_attempt(clock):
    """current_attempt().time_left counts down the call's budget."""
    flaky = Flaky({"a": [RuntimeError()]}, clock=clock, cost=1.5)
    routed(providers=["a", "b"], timeout=5, clock=clock)(flaky)()
    assert flaky.time_left == [("a", 5.0), ("b", 3.5)]


def test_time_left_is_none_without_budget():
    """Without timeout= there is no budget."""
    flaky = Flaky({})
    routed(providers=["a"])(flaky)()
    assert flaky.time_left == [("a", None)]


def test_time_left_never_goes_negative(clock):
    """A slow attempt sees 0, not a negative budget."""

    def call(provider):
        clock.advance(10)
        info = current_attempt()
        assert info is not None
        return info.time_left

    assert routed(providers=["a"], timeout=5, clock=clock)(call)() == 0.0


def test_time_left_is_the_nearer_of_the_budget_and_the_attempt_limit(clock):
    """With timeout= and attempt_timeout=, time_left counts to whichever ends first."""
    flaky = Flaky({"a": [RuntimeError()]}, clock=clock, cost=4)
    routed(providers=["a", "b"], timeout=5, attempt_timeout=2, clock=clock)(flaky)()
    assert flaky.time_left == [("a", 2.0), ("b", 1.0)]  # b: 1 s of the budget, 2 s its own
