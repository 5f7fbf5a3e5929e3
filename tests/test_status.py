"""router.status() and router.reset() (DESIGN §8): the rows' values; how they look is in
test_displays.
"""

from __future__ import annotations

import dataclasses

import pytest

from fallback_router import (
    AllProvidersFailedError,
    ProviderStatus,
    Status,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, fleet


@pytest.fixture
def benched(clock):
    """A router whose first provider failed once and is in cooldown."""
    fn = routed(providers=["a", "b", "c"], cooldown=30, clock=clock)(fleet("a", message="<down>"))
    fn()
    fn()
    return fn


def test_status_rows_in_provider_order(benched, clock):
    """Each provider has a row with availability, cooldown and counts."""
    status = benched.router.status()
    assert isinstance(status, Status)
    assert [row.name for row in status] == ["a", "b", "c"]
    a = status["a"]
    assert isinstance(a, ProviderStatus)
    assert a.available is False
    assert a.cooldown_remaining == 30
    assert a.failures == 1
    assert a.successes == 0
    assert str(a.last_error) == "a <down>"
    assert a.last_latency == 0.0
    b = status[1]
    assert (b.available, b.successes, b.failures, b.last_error) == (True, 2, 0, None)
    assert status["c"].last_latency is None
    assert len(status) == 3
    with pytest.raises(KeyError):
        status["zzz"]
    assert status[0:2] == status._rows[0:2]


def test_status_counts_consecutive_failures_from_the_tracker(clock):
    """consecutive_failures comes from the tracker's state."""
    from fallback_router import InMemoryCooldown

    fn = routed(providers=["a", "b"], cooldown=InMemoryCooldown(30, threshold=3, clock=clock))(
        fleet("a")
    )
    fn()
    fn()
    row = fn.router.status()["a"]
    assert row.consecutive_failures == 2
    assert row.available is True


def test_last_latency_is_the_latest_attempts(clock):
    """last_latency follows the most recent attempt, success or failure."""
    state = {"fail": False, "cost": 1.0}

    def call(provider):
        clock.advance(state["cost"])
        if state["fail"]:
            raise RuntimeError
        return provider

    fn = routed(providers=["a"], cooldown=None, clock=clock)(call)
    fn()
    assert fn.router.status()["a"].last_latency == 1.0
    state.update(fail=True, cost=2.0)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fn.router.status()["a"].last_latency == 2.0
    state.update(fail=False, cost=3.0)
    fn()
    assert fn.router.status()["a"].last_latency == 3.0


def test_last_latency_at_one_instant_is_the_failure_recorded_last(clock):
    """A failure ending at the instant a success ended (recorded after it) is the latest."""
    costs = iter([0.25, 0.0])

    def call(provider):
        cost = next(costs)
        clock.advance(cost)
        if cost == 0.0:
            raise Boom(provider)
        return provider

    fn = routed(providers=["a"], cooldown=None, clock=clock)(call)
    fn()
    with pytest.raises(AllProvidersFailedError):
        fn()  # ends at the same clock reading as the success
    assert fn.router.status()["a"].last_latency == 0.0


def test_last_latency_of_a_provider_that_only_failed(clock):
    """Named by a providers callable, never successful: last_latency is its failure's."""

    def call(provider):
        clock.advance(0.5)
        raise Boom(provider)

    fn = routed(providers=lambda: ["a"], cooldown=None, clock=clock)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    row = fn.router.status()["a"]
    assert (row.successes, row.failures, row.last_latency) == (0, 1, 0.5)


def test_last_latency_after_a_reset_is_the_next_failures(clock):
    """reset() forgets the last success: a failure afterwards sets last_latency."""
    fail = [False]

    def call(provider):
        clock.advance(0.5 if fail[0] else 0.25)
        if fail[0]:
            raise Boom(provider)
        return provider

    fn = routed(providers=["a"], cooldown=None, clock=clock)(call)
    fn()
    fn.router.reset()
    assert fn.router.status()["a"].last_latency is None
    fail[0] = True
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fn.router.status()["a"].last_latency == 0.5


def test_skips_and_the_last_failure_time_are_counted(frozen):
    """skips counts the calls that passed a provider over; last_failure_at is UTC wall time."""
    import datetime as dt

    fn = routed(providers=["a", "b"], cooldown=30)(fleet("a"))
    for _ in range(3):
        assert fn() == "b"  # a fails once, then is skipped twice
    a, b = fn.router.status()
    assert (a.failures, a.skips, b.skips) == (1, 2, 0)
    assert a.last_failure_at == dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    assert b.last_failure_at is None


def test_last_error_is_a_detached_copy_with_type_args_and_attributes():
    """last_error is a detached copy: type, args, attributes; no traceback; odd errors fall back."""

    class HTTPError(Exception):
        def __init__(self, message, status_code):
            super().__init__(message)
            self.status_code = status_code

    class Uncopyable(Exception):
        def __new__(cls, *args):
            if not args:
                raise TypeError("needs a message")
            return super().__new__(cls, *args)

        def __init__(self, message):
            super().__init__(message)
            self.note = "x"

        @property
        def __dict__(self):  # type: ignore[override]
            raise RuntimeError("no state for you")

    errors = {
        "http": HTTPError("rate limited", 429),
        "group": ExceptionGroup("two", [ValueError("v"), KeyError("k")]),
        "odd": Uncopyable("odd one"),
    }

    def call(provider):
        raise errors[provider]

    fn = routed(providers=list(errors), cooldown=None)(call)
    with pytest.raises(Exception, match="all providers failed"):
        fn()
    status = fn.router.status()
    http = status["http"].last_error
    assert type(http) is HTTPError
    assert (http.args, http.status_code) == (("rate limited",), 429)
    assert http is not errors["http"]
    assert http.__traceback__ is None
    group = status["group"].last_error
    assert type(group) is ExceptionGroup
    assert [str(e) for e in group.exceptions] == ["v", "'k'"]
    odd = status["odd"].last_error
    assert type(odd) is RuntimeError
    assert str(odd) == "Uncopyable: odd one"


def test_status_of_a_router_without_tracker():
    """Without cooldowns every provider is available."""
    fn = routed(providers=["a"], cooldown=None)(fleet())
    fn()
    assert fn.router.status()["a"].available is True
    assert fn.router.status()["a"].successes == 1


def test_status_survives_a_tracker_whose_snapshot_raises():
    """A tracker that cannot report its state leaves the rows available, never raises."""
    from fallback_router import InMemoryCooldown

    class Broken(InMemoryCooldown):
        def snapshot(self):
            raise ConnectionError("no state today")

    fn = routed(providers=["a", "b"], cooldown=Broken(30))(fleet("a"))
    fn()
    a = fn.router.status()["a"]
    assert (a.available, a.cooldown_remaining, a.failures) == (True, 0.0, 1)


def test_status_equality():
    """Two statuses with equal rows are equal; a status is not hashable."""
    fn = routed(providers=["a"])(fleet())
    assert fn.router.status() == fn.router.status()
    assert fn.router.status() != "status"
    with pytest.raises(TypeError):
        hash(fn.router.status())


# -- reset ---------------------------------------------------------------------------------


def test_reset_clears_cooldowns_and_counts(benched):
    """router.reset() makes every provider available and zeroes the counts."""
    benched.router.reset()
    status = benched.router.status()
    assert all(row.available for row in status)
    assert [(r.successes, r.failures, r.last_error) for r in status] == [(0, 0, None)] * 3
    benched()
    assert benched.router.status()["b"].successes == 1


def test_reset_only_touches_this_routers_providers(clock):
    """A shared tracker keeps other routers' providers when one router resets."""
    from fallback_router import InMemoryCooldown

    tracker = InMemoryCooldown(30, clock=clock)
    tracker.record_failure("other", RuntimeError())
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a"))
    fn()
    fn.router.reset()
    assert set(tracker.snapshot()) == {"other"}


def test_reset_clears_providers_given_as_a_mapping():
    """reset() clears cooldowns of providers given as a mapping."""
    clock = FakeClock()
    fn = routed(providers={"a": 1, "b": 2}, clock=clock)(lambda provider: provider)
    fn.router.tracker.record_failure("a", Boom())
    fn.router.reset()
    assert fn.router.status()["a"].available
    assert fn() == 1


def _sdk_error():
    """A real openai SDK error carrying a key in its URL, header and body."""
    openai = pytest.importorskip("openai")
    http = pytest.importorskip("httpx2")
    secret = "sk-proj-S3cr3tKeyValue123"
    request = http.Request(
        "POST", "https://api.example.test/v1?key=AIzaS3cr3t", headers={"Authorization": secret}
    )
    body = {"error": {"message": f"Incorrect API key provided: {secret}."}}
    raw = http.Response(401, request=request)
    return openai.AuthenticationError(f"Error code: 401 - {body}", response=raw, body=body)


def test_to_dict_is_json_ready_redacted_and_pickles_with_an_sdk_error(clock):
    """to_dict(): field names as keys, the SDK error as redacted text, times as seconds."""
    import json
    import pickle

    error = _sdk_error()

    def call(provider):
        if provider == "a":
            raise error
        return provider

    fn = routed(providers=["a", "b"], cooldown=30, clock=clock)(call)
    assert fn() == "b"
    status = fn.router.status()
    row = status["a"].to_dict()
    assert list(row) == [f.name for f in dataclasses.fields(ProviderStatus)]
    assert row["last_error"].startswith("AuthenticationError: Error code: 401")
    assert "S3cr3t" not in json.dumps(row)
    assert (row["available"], row["cooldown_remaining"], row["failures"]) == (False, 30.0, 1)
    assert isinstance(row["last_failure_at"], float)
    whole = status.to_dict()
    assert whole["providers"] == [r.to_dict() for r in status]
    assert (whole["available"], whole["total"], whole["retry_after"]) == (1, 2, None)
    assert json.loads(json.dumps(whole)) == whole
    assert pickle.loads(pickle.dumps(whole)) == whole
    # the rows themselves pickle too: the SDK error, which cannot rebuild, as text
    copy = pickle.loads(pickle.dumps(status))
    assert [r.name for r in copy] == ["a", "b"]
    assert str(copy["a"].last_error) == row["last_error"]
    assert copy["b"] == status["b"]
    again = copy.to_dict()
    assert again["providers"][0].pop("last_error") == f"RuntimeError: {row['last_error']}"
    whole["providers"][0].pop("last_error")
    assert again == whole


def test_to_dict_says_when_the_next_provider_comes_back(clock):
    """Every provider benched: retry_after is the earliest cooldown's remaining seconds."""
    fn = routed(providers=["a", "b"], cooldown=30, clock=clock)(fleet("a", "b"))
    with pytest.raises(AllProvidersFailedError):
        fn()
    clock.advance(5)
    summary = fn.router.status().to_dict()
    assert (summary["available"], summary["retry_after"]) == (0, 25.0)


def test_an_unknown_name_gets_a_did_you_mean():
    """status()["gork"]: KeyError naming the close names and listing the known ones."""
    fn = routed(providers=["groq", "gemini", "openai"])(lambda p: p)
    with pytest.raises(KeyError, match=r"no provider named 'gork'; did you mean 'groq'\?"):
        fn.router.status()["gork"]
    many = routed(providers=[f"p{i}" for i in range(10_000)])(lambda p: p)
    with pytest.raises(KeyError) as info:
        many.router.status()["zzz"]
    assert "and 9,990 more" in str(info.value)
    assert len(str(info.value)) < 300
