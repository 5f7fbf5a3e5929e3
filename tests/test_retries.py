"""Per-provider retries (DESIGN §6, retry=): a tenacity template per attempt, never past the
budget, never for BaseException; exhausted retries fail with the provider's own error.
"""

from __future__ import annotations

from typing import Any

import pytest
import tenacity

from fallback_router import (
    AllProvidersFailedError,
    RetryBudget,
)

from .conftest import FakeClock
from .support.helpers import Boom, Flaky
from .support.paths import CallPath


def template(
    sleeps: list[float], path: CallPath, attempts: int = 3, wait: float = 1.0
) -> tenacity.Retrying:
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_fixed(wait),
        retry=tenacity.retry_if_exception_type(TimeoutError),
        sleep=path.sleep(sleeps.append),
    )


def test_retry_template_retries_a_provider_before_moving_on(path):
    """Two timeouts then success: one provider attempt, three calls, two sleeps."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [TimeoutError(), TimeoutError()]})
    result = path.routed(["a", "b"], retry=template(sleeps, path))(flaky).route()
    assert result.provider == "a"
    assert result.attempt == 1
    assert flaky.calls == ["a", "a", "a"]
    assert sleeps == [1.0, 1.0]


@pytest.mark.parametrize("strategy", ["fallback", "primary_only", "round_robin"])
def test_plain_calls_retry_too(strategy, path):
    """The direct (happy-path) callers hand a failed first try to the template as well."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [TimeoutError(), TimeoutError()]})
    fn = path.routed(["a", "b"], strategy=strategy, retry=template(sleeps, path))(flaky)
    assert fn() == "a"
    assert flaky.calls == ["a", "a", "a"]
    assert fn.router.status()["a"].successes == 1


def test_retries_repeat_the_same_arguments(path):
    """Retries call the provider again with the same arguments."""
    seen: list[tuple[Any, ...]] = []

    def call(provider: str, *args: Any, **kwargs: Any) -> str:
        seen.append((provider, args, kwargs))
        if len(seen) == 1:
            raise RuntimeError("flaky")
        return provider

    retry = tenacity.Retrying(stop=tenacity.stop_after_attempt(2), wait=tenacity.wait_none())
    fn = path.routed(["a", "b"], retry=retry, on_event=lambda e: None)(call)
    assert fn(1, 2, key="v") == "a"
    assert seen == [("a", (1, 2), {"key": "v"})] * 2


@pytest.mark.parametrize("strategy", ["primary_only", "round_robin"])
def test_single_attempt_strategies_fail_with_the_last_retry_error(strategy, path):
    """Exhausted retries on a single-attempt strategy raise the group of one."""
    last = TimeoutError("last")
    flaky = Flaky({"a": [TimeoutError(), TimeoutError(), last]})
    fn = path.routed(["a", "b"], strategy=strategy, retry=template([], path))(flaky)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert info.value.exceptions == (last,)


def test_exhausted_retries_record_the_providers_own_last_exception(path):
    """When retries run out the attempt holds the last exception, never RetryError."""
    sleeps: list[float] = []
    last = TimeoutError("third")
    flaky = Flaky({"a": [TimeoutError("first"), TimeoutError("second"), last]})
    result = path.routed(["a", "b"], retry=template(sleeps, path))(flaky).route()
    assert result.provider == "b"
    assert result.attempts[0].error is last
    assert flaky.calls == ["a", "a", "a", "b"]


def test_errors_the_template_does_not_retry_fall_back_at_once(path):
    """A ValueError is not retried by a TimeoutError template: straight to the next."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [ValueError("bad")]})
    result = path.routed(["a", "b"], retry=template(sleeps, path))(flaky).route()
    assert flaky.calls == ["a", "b"]
    assert sleeps == []
    assert isinstance(result.attempts[0].error, ValueError)


def test_exhausted_retries_everywhere_raise_the_group_of_last_errors(path):
    """The group holds each provider's last error."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [TimeoutError("a")] * 2, "b": [TimeoutError("b")] * 2})
    fn = path.routed(["a", "b"], retry=template(sleeps, path, attempts=2))(flaky)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert [str(e) for e in info.value.exceptions] == ["a", "b"]


def test_a_first_try_success_never_builds_a_tenacity_controller(monkeypatch, path):
    """A first-try success costs no tenacity work at all."""

    def boom(*args, **kwargs):
        raise AssertionError("tenacity used on the happy path")

    monkeypatch.setattr(tenacity.Retrying, "copy", boom)
    fn = path.routed(["a"], retry=template([], path))(lambda p: p)
    assert fn() == "a"
    assert fn.route().provider == "a"


def test_keyboard_interrupt_is_never_retried_by_a_template(path):
    """A retry= template that retries everything still lets Ctrl-C through at once."""
    calls: list[str] = []
    retry = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(BaseException),
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_none(),
    )

    def body(provider):
        calls.append(provider)
        if len(calls) == 1:
            raise Boom
        raise KeyboardInterrupt

    f = path.routed(["a", "b"], retry=retry)(body)
    with pytest.raises(KeyboardInterrupt):
        f()
    assert calls == ["a", "a"]
    assert f.router.status()["a"].failures == 0


# -- within a budget -----------------------------------------------------------------------


def test_retries_never_outlive_the_budget(clock, path):
    """The budget stops tenacity before a sleep would pass the deadline."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    retry = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(10),
        wait=tenacity.wait_fixed(2),
        retry=tenacity.retry_if_exception_type(TimeoutError),
        sleep=path.sleep(sleep),
    )
    flaky = Flaky({"a": [TimeoutError()] * 10})
    fn = path.routed(["a"], retry=retry, timeout=5, clock=clock)(flaky)
    with pytest.raises(AllProvidersFailedError):
        fn()
    # tries at t=0, 2, 4; the next sleep would end at 6 > 5: stop
    assert sleeps == [2, 2]
    assert flaky.calls == ["a"] * 3


def retrying_router(path, timeout, attempts):
    clock = FakeClock()
    tries: list[float] = []

    def call(provider):
        tries.append(clock())
        raise Boom(provider)

    retry = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_fixed(1),
        sleep=path.sleep(clock.advance),
    )
    fn = path.routed(["a"], cooldown=None, retry=retry, timeout=timeout, clock=clock)(call)
    return fn, tries


def test_retries_stop_at_the_templates_limit_within_a_budget(path):
    """Within a long budget retries stop at the template's own limit."""
    fn, tries = retrying_router(path, timeout=100, attempts=2)
    with pytest.raises(Exception, match="all providers failed"):
        fn()
    assert tries == [1000.0, 1001.0]


def test_retries_stop_before_a_sleep_would_reach_the_deadline(path):
    """Budget 3 s, 1 s between tries: tries at 0, 1 and 2 s; a 4th would start at 3 s."""
    fn, tries = retrying_router(path, timeout=3, attempts=10)
    with pytest.raises(Exception, match="all providers failed"):
        fn()
    assert tries == [1000.0, 1001.0, 1002.0]


def test_retries_are_withdrawn_from_the_retry_budget(path):
    """retry= inside retry_budget=: each retry withdraws one extra attempt. A budget of zero
    allows none: one provider call (not the template's five), then the call fails saying so.
    """
    calls: list[str] = []

    def call(provider: str) -> str:
        calls.append(provider)
        raise TimeoutError(provider)

    retry = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_none(),
        retry=tenacity.retry_if_exception_type(TimeoutError),
    )
    fn = path.routed(
        ["a", "b"], cooldown=None, retry=retry, retry_budget=RetryBudget(0, 0, clock=FakeClock())
    )(call)
    with pytest.raises(AllProvidersFailedError, match="retry budget exhausted"):
        fn()
    assert calls == ["a"]
