"""Per-provider tenacity retries and the per-call time budget (DESIGN §6)."""

from __future__ import annotations

import pytest
import tenacity

from fallback_router import (
    AllProvidersFailedError,
    DeadlineExceededError,
    InvalidConfigError,
    current_attempt,
    routed,
)


class Flaky:
    """Each provider fails with the listed errors in turn, then succeeds."""

    def __init__(self, script: dict[str, list[Exception]], clock=None, cost: float = 0.0):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[str] = []
        self.clock = clock
        self.cost = cost
        self.time_left: list[tuple[str, float | None]] = []

    def __call__(self, provider: str) -> str:
        self.calls.append(provider)
        info = current_attempt()
        assert info is not None
        self.time_left.append((provider, info.time_left))
        if self.clock is not None:
            self.clock.advance(self.cost)
        pending = self.script.get(provider)
        if pending:
            raise pending.pop(0)
        return provider


def template(sleeps: list[float], attempts: int = 3, wait: float = 1.0) -> tenacity.Retrying:
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_fixed(wait),
        retry=tenacity.retry_if_exception_type(TimeoutError),
        sleep=sleeps.append,
    )


def test_retry_template_retries_a_provider_before_moving_on():
    """Two timeouts then success: one provider attempt, three calls, two sleeps."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [TimeoutError(), TimeoutError()]})
    result = routed(providers=["a", "b"], retry=template(sleeps))(flaky).route()
    assert result.provider == "a"
    assert result.attempt == 1
    assert flaky.calls == ["a", "a", "a"]
    assert sleeps == [1.0, 1.0]


@pytest.mark.parametrize("strategy", ["fallback", "primary_only", "round_robin"])
def test_plain_calls_retry_too(strategy):
    """The direct (happy-path) callers hand a failed first try to the template as well."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [TimeoutError(), TimeoutError()]})
    fn = routed(providers=["a", "b"], strategy=strategy, retry=template(sleeps))(flaky)
    assert fn() == "a"
    assert flaky.calls == ["a", "a", "a"]
    assert fn.router.status()["a"].successes == 1


@pytest.mark.parametrize("strategy", ["primary_only", "round_robin"])
def test_single_attempt_strategies_fail_with_the_last_retry_error(strategy):
    """Exhausted retries on a single-attempt strategy raise the group of one."""
    last = TimeoutError("last")
    flaky = Flaky({"a": [TimeoutError(), TimeoutError(), last]})
    fn = routed(providers=["a", "b"], strategy=strategy, retry=template([]))(flaky)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert info.value.exceptions == (last,)


def test_exhausted_retries_record_the_providers_own_last_exception():
    """When retries run out the attempt holds the last exception, never RetryError."""
    sleeps: list[float] = []
    last = TimeoutError("third")
    flaky = Flaky({"a": [TimeoutError("first"), TimeoutError("second"), last]})
    result = routed(providers=["a", "b"], retry=template(sleeps))(flaky).route()
    assert result.provider == "b"
    assert result.attempts[0].error is last
    assert flaky.calls == ["a", "a", "a", "b"]


def test_errors_the_template_does_not_retry_fall_back_at_once():
    """A ValueError is not retried by a TimeoutError template: straight to the next."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [ValueError("bad")]})
    result = routed(providers=["a", "b"], retry=template(sleeps))(flaky).route()
    assert flaky.calls == ["a", "b"]
    assert sleeps == []
    assert isinstance(result.attempts[0].error, ValueError)


def test_exhausted_retries_everywhere_raise_the_group_of_last_errors():
    """The group holds each provider's last error."""
    sleeps: list[float] = []
    flaky = Flaky({"a": [TimeoutError("a")] * 2, "b": [TimeoutError("b")] * 2})
    fn = routed(providers=["a", "b"], retry=template(sleeps, attempts=2))(flaky)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert [str(e) for e in info.value.exceptions] == ["a", "b"]


def test_the_happy_path_never_builds_a_tenacity_controller(monkeypatch):
    """A first-try success costs no tenacity work at all."""

    def boom(*args, **kwargs):
        raise AssertionError("tenacity used on the happy path")

    monkeypatch.setattr(tenacity.Retrying, "copy", boom)
    fn = routed(providers=["a"], retry=template([]))(lambda p: p)
    assert fn() == "a"
    assert fn.route().provider == "a"


def test_retries_never_outlive_the_budget(clock):
    """The budget stops tenacity before a sleep would pass the deadline."""
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)

    retry = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(10),
        wait=tenacity.wait_fixed(2),
        retry=tenacity.retry_if_exception_type(TimeoutError),
        sleep=sleep,
    )
    flaky = Flaky({"a": [TimeoutError()] * 10})
    fn = routed(providers=["a"], retry=retry, timeout=5, clock=clock)(flaky)
    with pytest.raises(AllProvidersFailedError):
        fn()
    # tries at t=0, 2, 4; the next sleep would end at 6 > 5: stop
    assert sleeps == [2, 2]
    assert flaky.calls == ["a"] * 3


def test_deadline_stops_the_call_before_the_terminus(clock):
    """Once the budget is spent between attempts: DeadlineExceededError, terminus untried."""
    flaky = Flaky({"a": [RuntimeError("a")], "b": [RuntimeError("b")]}, clock=clock, cost=3)
    fn = routed(providers=["a", "b", "c"], timeout=5, clock=clock)(flaky)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    error = info.value
    assert flaky.calls == ["a", "b"]
    assert [a.provider for a in error.attempts] == ["a", "b"]
    assert str(error.__cause__) == "b"
    assert error.last_error is error.__cause__
    assert error.timeout == 5
    assert isinstance(error, TimeoutError)


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


def test_deadline_with_freezegun(frozen):
    """The default clock is time.monotonic looked up per call, so freezegun drives it."""

    def call(provider):
        frozen.tick(4)
        raise RuntimeError(provider)

    fn = routed(providers=["a", "b", "c"], timeout=6)(call)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    assert len(info.value.attempts) == 2


def test_all_attempts_inside_the_budget_fail_as_a_group(clock):
    """If every provider fails within the budget, the group is raised as usual."""
    flaky = Flaky({"a": [RuntimeError()], "b": [RuntimeError()]}, clock=clock, cost=1)
    with pytest.raises(AllProvidersFailedError):
        routed(providers=["a", "b"], timeout=5, clock=clock)(flaky)()


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5"])
def test_invalid_timeout_is_rejected(bad):
    """timeout= must be positive, finite seconds."""
    with pytest.raises(InvalidConfigError, match="timeout"):
        routed(providers=["a"], timeout=bad)


def test_retry_must_be_a_retrying_template():
    """retry= takes a tenacity.Retrying."""
    with pytest.raises(InvalidConfigError, match=r"tenacity\.Retrying"):
        routed(providers=["a"], retry=tenacity.stop_after_attempt(3))  # type: ignore[arg-type]
