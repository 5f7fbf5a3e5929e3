"""Strategies (DESIGN §3): primary_only, fallback with cooldown and terminus, round_robin."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fallback_router import (
    AllProvidersFailedError,
    Fallback,
    InMemoryCooldown,
    InMemoryRoundRobin,
    InvalidConfigError,
    LeastBusy,
    LeastLatency,
    PrimaryOnly,
    RoundRobin,
    Router,
    Strategy,
    Weighted,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, Fleet, fleet


def test_strategy_is_a_str_enum_accepting_values():
    """Strategy values are plain strings, accepted wherever a strategy is."""
    assert Strategy("fallback") is Strategy.FALLBACK
    assert Strategy.ROUND_ROBIN == "round_robin"
    assert Router(["a"], strategy=Strategy.PRIMARY_ONLY).strategy == PrimaryOnly()


@pytest.mark.parametrize(
    ("given", "expected", "name"),
    [
        ("fallback", Fallback(), "fallback"),
        ("primary_only", PrimaryOnly(), "primary_only"),
        ("round_robin", RoundRobin(), "round_robin"),
        (Strategy.ROUND_ROBIN, RoundRobin(), "round_robin"),
        (RoundRobin(failover=True), RoundRobin(failover=True), "round_robin"),
        (Weighted({"a": 1}), Weighted({"a": 1}), "weighted"),
        (LeastBusy(), LeastBusy(), "least_busy"),
        (LeastLatency(), LeastLatency(), "least_latency"),
    ],
)
def test_router_strategy_is_always_the_strategy_object(given, expected, name):
    """router.strategy is one type: the strategy object (a string's default object), with .name."""
    router = Router(["a"], strategy=given)
    assert router.strategy == expected
    assert router.strategy.name == name
    if not isinstance(given, str):
        assert router.strategy is given
    assert f"strategy={name!r}" in repr(router)


def test_default_strategy_is_fallback():
    """Without strategy= the router falls back."""
    assert Router(["a"]).strategy == Fallback()
    assert Router(["a"]).strategy.name == "fallback"


# -- primary_only --------------------------------------------------------------------------


def test_primary_only_calls_only_the_first_provider(path):
    """primary_only calls the first provider once (after a failed first try too), never another."""
    vendors = Fleet("a")
    fn = path.routed(["a", "b"], strategy="primary_only")(vendors)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert vendors.calls == ["a"]
    assert [type(e) for e in info.value.exceptions] == [Boom]


@pytest.mark.parametrize(
    ("strategy", "message", "logged"),
    [
        (
            "primary_only",
            "primary-only provider failed: a",
            "primary provider failed: a (one attempt): RuntimeError: a down",
        ),
        (
            "round_robin",
            "round-robin provider failed: a",
            "round-robin provider failed: a (one attempt): RuntimeError: a down",
        ),
    ],
)
def test_one_attempt_strategies_speak_of_one_attempt(strategy, message, logged, logs, path):
    """primary_only and round_robin: error and log name the one attempt, never "1 of 2"."""
    fn = path.routed(["a", "b"], strategy=strategy)(fleet("a"))
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert info.value.message == message
    assert logs.messages("WARNING") == [logged]


def test_primary_only_neither_consults_nor_records_cooldown(clock, path):
    """primary_only ignores an existing cooldown and records nothing."""
    tracker = InMemoryCooldown(60, clock=clock)
    tracker.record_failure("a", Boom())
    vendors = Fleet()
    fn = path.routed(["a", "b"], strategy="primary_only", cooldown=tracker)(vendors)
    assert fn() == "a:p"
    vendors.failing.add("a")
    before = tracker.snapshot()
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert tracker.snapshot() == before
    assert vendors.calls == ["a", "a"]


# -- fallback ------------------------------------------------------------------------------


def test_fallback_tries_providers_in_order_until_one_succeeds(path):
    """Failing providers hand the call to the next one."""
    vendors = Fleet("a", "b")
    fn = path.routed(["a", "b", "c"])(vendors)
    result = fn.route("x")
    assert result.response == "c:x"
    assert vendors.calls == ["a", "b", "c"]
    assert result.attempt == 3
    assert result.was_terminus is True
    assert [a.provider for a in result.attempts] == ["a", "b", "c"]
    assert [type(a.error) for a in result.attempts] == [Boom, Boom, type(None)]


def test_fallback_puts_failed_providers_into_cooldown_and_skips_them(clock, path):
    """A failed provider is skipped while its cooldown lasts, then tried again."""
    vendors = Fleet("a")
    fn = path.routed(["a", "b", "c"], cooldown=30, clock=clock)(vendors)
    assert fn() == "b:p"
    vendors.calls.clear()
    vendors.failing.clear()
    result = fn.route()
    assert vendors.calls == ["b"]
    assert result.skipped == ("a",)
    assert result.attempt == 1
    clock.advance(30.001)
    assert fn.route().provider == "a"


def test_a_provider_with_half_a_second_left_is_skipped(path):
    """Half a second of cooldown left still skips; at zero the provider is tried."""
    clock = FakeClock()
    calls: list[str] = []

    def call(provider: str) -> str:
        calls.append(provider)
        if provider == "a" and len(calls) == 1:
            raise RuntimeError("a down")
        return provider

    fn = path.routed(["a", "b"], cooldown=InMemoryCooldown(10, clock=clock))(call)
    fn()
    clock.advance(9.5)
    assert fn.route().skipped == ("a",)
    clock.advance(0.5)
    assert fn() == "a"


def test_skipped_providers_do_not_count_as_attempts(clock, path):
    """attempt counts calls made, not providers skipped."""
    vendors = Fleet("a", "b")
    fn = path.routed(["a", "b", "c"], clock=clock)(vendors)
    fn()
    vendors.calls.clear()
    result = fn.route()
    assert result.skipped == ("a", "b")
    assert result.attempt == 1
    assert len(result.attempts) == 1


def test_exempt_providers_never_enter_cooldown(clock, path):
    """An exempt provider's failures are never recorded."""
    tracker = InMemoryCooldown(60, clock=clock)
    vendors = Fleet("a")
    fn = path.routed(["a", "b"], cooldown=tracker, exempt={"a"})(vendors)
    for _ in range(5):
        result = fn.route()
        assert result.attempts[0].counted is False
    assert vendors.calls == ["a", "b"] * 5
    assert tracker.snapshot() == {}


def test_cooldown_none_disables_tracking(path):
    """cooldown=None: nothing is skipped, nothing recorded."""
    vendors = Fleet("a")
    fn = path.routed(["a", "b"], cooldown=None)(vendors)
    fn()
    fn()
    assert vendors.calls == ["a", "b", "a", "b"]
    assert fn.router.tracker is None
    assert fn.router.status()["a"].available is True


def test_a_tracker_instance_is_shared_between_routers(clock, path):
    """Two routers given the same tracker see each other's cooldowns."""
    tracker = InMemoryCooldown(60, clock=clock)
    vendors = Fleet("a")
    first = path.routed(["a", "b"], cooldown=tracker)(vendors)
    second = path.routed(["a", "c"], cooldown=tracker)(vendors)
    first()
    vendors.calls.clear()
    assert second.route().skipped == ("a",)
    assert vendors.calls == ["c"]


# -- the terminus --------------------------------------------------------------------------


def test_terminus_is_attempted_despite_cooldown(clock, path):
    """The last provider is always tried, even in cooldown, so a call always attempts."""
    vendors = Fleet("a", "b")
    fn = path.routed(["a", "b"], clock=clock)(vendors)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fn.router.status()["b"].available is False
    vendors.calls.clear()
    vendors.failing.clear()
    result = fn.route()
    assert vendors.calls == ["b"]
    assert result.skipped == ("a",)
    assert result.was_terminus is True


def test_single_provider_in_cooldown_is_still_called(clock, path):
    """With one provider, it is the terminus: always called."""
    vendors = Fleet("only")
    fn = path.routed(["only"], clock=clock)(vendors)
    for _ in range(3):
        with pytest.raises(AllProvidersFailedError):
            fn()
    assert vendors.calls == ["only"] * 3


def test_a_forced_terminus_that_succeeds_is_cleared(path):
    """a and b benched; b (the terminus) is forced, succeeds, and is available again."""
    clock = FakeClock()
    broken = {"a", "b"}

    def call(provider: str) -> str:
        if provider in broken:
            raise RuntimeError(f"{provider} down")
        return provider

    fn = path.routed(["a", "b"], cooldown=InMemoryCooldown(60, clock=clock))(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    broken.clear()
    assert fn.route().skipped == ("a",)
    rows = {row.name: row for row in fn.router.status()}
    assert rows["b"].available
    assert rows["b"].consecutive_failures == 0
    assert not rows["a"].available
    assert fn.route().skipped == ("a",)  # b was not benched again by a stale state


# -- the plan, over random cooldown states -------------------------------------------------


benched_lists = st.lists(st.booleans(), min_size=1, max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(benched=benched_lists)
def test_fallback_walks_the_free_providers_in_order_then_the_terminus(benched, path):
    """Every provider failing, some benched: the call tries each free one in list order,
    skips the benched ones but the last (the terminus, always tried last), each once."""
    names = [f"p{i}" for i in range(len(benched))]
    tracker = InMemoryCooldown(60.0, clock=FakeClock())
    for name, bench in zip(names, benched, strict=True):
        if bench:
            tracker.record_failure(name, Boom(name))
    fn = path.routed(names, cooldown=tracker)(fleet(*names))
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    last = names[-1]
    tried = [a.provider for a in info.value.attempts]
    skipped = list(info.value.skipped)
    assert tried == [n for n, b in zip(names, benched, strict=True) if not b or n == last]
    assert skipped == [n for n, b in zip(names, benched, strict=True) if b and n != last]


names = st.lists(
    st.text(alphabet="abcdefgh", min_size=1, max_size=3), min_size=1, max_size=6, unique=True
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=names, data=st.data())
def test_routed_calls_respect_the_plan_and_never_record_exempt(names, data, path):
    """Over random failures, benches and exemptions, a routed call follows the rules."""
    tracker = InMemoryCooldown(30, clock=lambda: 1000.0)
    benched = data.draw(st.sets(st.sampled_from(names)))
    failing = data.draw(st.sets(st.sampled_from(names)))
    exempt = data.draw(st.sets(st.sampled_from(names)))
    for name in benched:
        tracker.record_failure(name, RuntimeError("earlier"))
    calls: list[str] = []

    def call(provider):
        calls.append(provider)
        if provider in failing:
            raise RuntimeError(provider)
        return provider

    fn = path.routed(names, cooldown=tracker, exempt=exempt)(call)
    try:
        result = fn.route()
    except AllProvidersFailedError as group:
        attempted = [a.provider for a in group.attempts]
        skipped: tuple[str, ...] = tuple(n for n in names if n not in attempted)
        assert attempted[-1] == names[-1]
    else:
        attempted = [a.provider for a in result.attempts]
        skipped = result.skipped
        assert result.attempt == len(attempted)
        assert result.provider == attempted[-1]
    assert calls == attempted
    assert len(set(attempted)) == len(attempted)
    assert names[-1] not in skipped
    assert set(skipped) <= benched
    for name in attempted:
        if name in exempt and name not in benched:
            assert tracker.is_available(name)


# -- round_robin ---------------------------------------------------------------------------


def test_round_robin_first_pick_is_the_first_provider_then_rotates(path):
    """Picks go a, b, c, a, ... starting with the first provider."""
    fn = path.routed(["a", "b", "c"], strategy="round_robin")(lambda p: p)
    assert [fn() for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]


@pytest.mark.parametrize(
    "options",
    [
        {"on_event": lambda e: None},
        {"timeout": 30.0},
        {"providers": lambda: ["a", "b", "c"]},
        {"max_concurrency": 5},
    ],
    ids=["hook", "budget", "callable providers", "limits"],
)
def test_round_robin_rotates_on_the_general_path(options):
    """Hooks, budgets, callable providers and limits leave the happy path; rotation stays."""
    config = {"providers": ["a", "b", "c"], **options}
    fn = routed(strategy="round_robin", **config)(lambda p: p)
    assert [fn() for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]
    assert [fn.route().provider for _ in range(2)] == ["b", "c"]


def test_round_robin_makes_one_attempt_without_fallback_or_cooldown(clock, path):
    """A failing pick (also on the happy path's first try) fails the call: no fallback, no record."""
    vendors = Fleet("a")
    fn = path.routed(["a", "b"], strategy="round_robin", clock=clock)(vendors)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fn() == "b:p"
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert vendors.calls == ["a", "b", "a"]
    assert fn.router.tracker is not None
    assert fn.router.tracker.snapshot() == {}


def test_round_robin_counter_is_shared_by_functions_of_one_router():
    """Functions decorated by one router share its counter."""
    router = Router(["a", "b"], strategy="round_robin")
    f = router(lambda p: p)
    g = router(lambda p: p)
    assert [f(), g(), f(), g()] == ["a", "b", "a", "b"]


def test_round_robin_counter_can_be_shared_between_routers(path):
    """counter= shares one rotation between routers."""
    counter = InMemoryRoundRobin()
    f = path.routed(["a", "b", "c"], strategy="round_robin", counter=counter)(lambda p: p)
    g = path.routed(["a", "b", "c"], strategy="round_robin", counter=counter)(lambda p: p)
    assert [f(), g(), f()] == ["a", "b", "c"]


def test_round_robin_with_changing_provider_count_stays_in_range(path):
    """A callable provider list may shrink; picks wrap on the current length."""
    current = ["a", "b", "c"]
    fn = path.routed(lambda: current, strategy="round_robin")(lambda p: p)
    assert fn() == "a"
    current = ["x"]
    assert fn() == "x"


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_in_memory_counter_rejects_bad_start(bad):
    """The counter's start must be a non-negative int."""
    with pytest.raises(InvalidConfigError, match="start"):
        InMemoryRoundRobin(bad)


def test_in_memory_counter_starts_where_told():
    """start= sets the first index."""
    counter = InMemoryRoundRobin(5)
    assert [counter.next_index(), counter.next_index()] == [5, 6]
    assert "next=7" in repr(counter)


def test_a_counter_subclass_overriding_next_index_is_asked(path):
    """A subclass of InMemoryRoundRobin that overrides next_index gets every call."""
    asked: list[int] = []

    class Logged(InMemoryRoundRobin):
        __slots__ = ()

        def next_index(self) -> int:
            index = super().next_index()
            asked.append(index)
            return index

    fn = path.routed(["a", "b"], strategy="round_robin", counter=Logged())(lambda p: p)
    assert [fn() for _ in range(4)] == ["a", "b", "a", "b"]
    assert asked == [0, 1, 2, 3]
