"""The call's time budget (DESIGN §6, timeout=): checked between attempts; once spent,
DeadlineExceededError with the attempts made and the last error as its cause.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from fallback_router import (
    AllProvidersFailedError,
    AttemptTimeoutError,
    CallFailed,
    DeadlineExceededError,
    Event,
    current_attempt,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, Flaky, wait_until
from .support.web import endpoints, hits, httpx_get


def test_a_budget_that_runs_out_says_so_and_keeps_the_last_error_as_cause(clock, path):
    """Spent between attempts: DeadlineExceededError (a TimeoutError), terminus untried."""
    events: list[Event] = []
    flaky = Flaky({name: [RuntimeError(f"{name} down")] for name in "abc"}, clock=clock, cost=3)
    fn = path.routed(
        ["a", "b", "c"], timeout=5, clock=clock, cooldown=None, on_event=events.append
    )(flaky)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    error = info.value
    assert str(error) == "time budget of 5.0 s ran out after 2 attempt(s)"
    assert isinstance(error, TimeoutError)
    assert error.timeout == 5.0
    assert flaky.calls == ["a", "b"]  # the terminus is not tried
    assert [a.provider for a in error.attempts] == ["a", "b"]
    assert str(error.__cause__) == "b down"
    assert error.last_error is error.__cause__
    assert isinstance(events[-1], CallFailed)  # the call's last event carries this error
    assert events[-1].error is error
    assert [type(e).__name__ for e in events].count("CallFailed") == 1


def test_the_budget_runs_out_at_exactly_its_end(path):
    """A failure ending exactly at the deadline leaves no time: the next is not tried."""
    clock = FakeClock()
    tried = []

    def call(provider):
        tried.append(provider)
        clock.advance(5)
        raise Boom(provider)

    fn = path.routed(["a", "b"], timeout=5, cooldown=None, clock=clock)(call)
    with pytest.raises(
        DeadlineExceededError, match=r"^time budget of 5.0 s ran out after 1 attempt\(s\)$"
    ):
        fn()
    assert tried == ["a"]


def test_all_attempts_inside_the_budget_fail_as_a_group(clock, path):
    """If every provider fails within the budget, the group is raised as usual."""
    flaky = Flaky({"a": [RuntimeError()], "b": [RuntimeError()]}, clock=clock, cost=1)
    with pytest.raises(AllProvidersFailedError):
        path.routed(["a", "b"], timeout=5, clock=clock)(flaky)()


def test_deadline_with_freezegun(frozen, path):
    """The default clock is time.monotonic looked up per call, so freezegun drives it."""

    def call(provider):
        frozen.tick(4)
        raise RuntimeError(provider)

    fn = path.routed(["a", "b", "c"], timeout=6)(call)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    assert len(info.value.attempts) == 2


# -- a slow real server --------------------------------------------------------------------


def test_a_budget_stops_a_slow_endpoint_before_the_next_provider(web, web_server):
    """timeout= is enforced against a slow server: DeadlineExceededError, healthy never tried."""

    def call(url):
        info = current_attempt()
        assert info is not None
        return httpx_get(url, timeout=info.time_left)

    providers = endpoints(web, slow="/slow", healthy="/ok")  # /slow answers at teardown
    fn = routed(providers=providers, timeout=1.0, cooldown=None)(call)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    assert [a.provider for a in info.value.attempts] == ["slow"]
    assert wait_until(lambda: hits(web_server), 10)  # the server's thread logs the hit
    assert hits(web_server) == ["/slow"]


def test_time_left_makes_an_abandoned_call_end_by_its_own_timeout(web, web_server):
    """time_left passed to httpx: the router stops at the budget, and the call it leaves
    behind ends by httpx's own timeout (the server answers only when the test ends).

    httpx times each phase of a request, not the whole, so its timeout may fire a little
    after the router's: then the budget's AttemptTimeoutError is the cause, and the
    abandoned call still gives its slot back within moments.
    """
    outcome: list[BaseException | str] = []
    ended = threading.Event()

    def call(url):
        info = current_attempt()
        assert info is not None
        try:
            text = httpx_get(url, timeout=info.time_left)
        except BaseException as error:
            outcome.append(error)
            raise
        else:
            outcome.append(text)
            return text
        finally:
            ended.set()

    providers = endpoints(web, slow="/slow", healthy="/ok")
    fn = routed(providers=providers, timeout=0.5, cooldown=None, max_concurrency=1)(call)
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    assert isinstance(info.value.__cause__, (httpx.TimeoutException, AttemptTimeoutError))
    assert ended.wait(10)  # httpx's timeout (at most 0.5 s per phase), with a busy margin
    assert isinstance(outcome[0], httpx.TimeoutException)  # not the server's answer
    assert wait_until(lambda: fn.router.limiter.in_flight("slow") == 0, 10)
