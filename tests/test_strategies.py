"""Strategies (DESIGN §3): primary_only, fallback with cooldown and terminus, round_robin."""

from __future__ import annotations

import pytest

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    InMemoryRoundRobin,
    InvalidConfigError,
    Router,
    Strategy,
    routed,
)


class Down(Exception):
    """A provider is down."""


class Fleet:
    """Providers by name that fail while listed in ``failing``; records every call."""

    def __init__(self, *failing: str) -> None:
        self.failing = set(failing)
        self.calls: list[str] = []

    def __call__(self, provider: str, prompt: str = "p") -> str:
        self.calls.append(provider)
        if provider in self.failing:
            raise Down(provider)
        return f"{provider}:{prompt}"


def test_strategy_is_a_str_enum_accepting_values():
    """Strategy values are plain strings accepted everywhere."""
    assert Strategy("fallback") is Strategy.FALLBACK
    assert Strategy.ROUND_ROBIN == "round_robin"
    assert Router(["a"], strategy="primary_only").strategy is Strategy.PRIMARY_ONLY


def test_default_strategy_is_fallback():
    """Without strategy= the router falls back."""
    assert Router(["a"]).strategy is Strategy.FALLBACK


def test_unknown_strategy_fails_at_decoration_naming_it():
    """An unknown strategy is an InvalidConfigError listing the choices."""
    with pytest.raises(InvalidConfigError, match=r"unknown strategy 'fastest'.*'fallback'"):
        routed(providers=["a"], strategy="fastest")


# -- primary_only ----------------------------------------------------------------------


def test_primary_only_calls_only_the_first_provider():
    """primary_only calls the first provider once and never another."""
    fleet = Fleet("a")
    fn = routed(providers=["a", "b"], strategy="primary_only")(fleet)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert fleet.calls == ["a"]
    assert [type(e) for e in info.value.exceptions] == [Down]


def test_primary_only_neither_consults_nor_records_cooldown(clock):
    """primary_only ignores an existing cooldown and records nothing."""
    tracker = InMemoryCooldown(60, clock=clock)
    tracker.record_failure("a", Down())
    fleet = Fleet()
    fn = routed(providers=["a", "b"], strategy="primary_only", cooldown=tracker)(fleet)
    assert fn() == "a:p"
    fleet.failing.add("a")
    before = tracker.snapshot()
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert tracker.snapshot() == before
    assert fleet.calls == ["a", "a"]


# -- fallback --------------------------------------------------------------------------


def test_fallback_tries_providers_in_order_until_one_succeeds():
    """Failing providers hand the call to the next one."""
    fleet = Fleet("a", "b")
    fn = routed(providers=["a", "b", "c"])(fleet)
    result = fn.route("x")
    assert result.response == "c:x"
    assert fleet.calls == ["a", "b", "c"]
    assert result.attempt == 3
    assert result.was_terminus is True
    assert [a.provider for a in result.attempts] == ["a", "b", "c"]
    assert [type(a.error) for a in result.attempts] == [Down, Down, type(None)]


def test_fallback_puts_failed_providers_into_cooldown_and_skips_them(clock):
    """A failed provider is skipped while its cooldown lasts, then tried again."""
    fleet = Fleet("a")
    fn = routed(providers=["a", "b", "c"], cooldown=30, clock=clock)(fleet)
    assert fn() == "b:p"
    fleet.calls.clear()
    fleet.failing.clear()
    result = fn.route()
    assert fleet.calls == ["b"]
    assert result.skipped == ("a",)
    assert result.attempt == 1
    clock.advance(30.001)
    assert fn.route().provider == "a"


def test_skipped_providers_do_not_count_as_attempts(clock):
    """attempt counts calls made, not providers skipped."""
    fleet = Fleet("a", "b")
    fn = routed(providers=["a", "b", "c"], clock=clock)(fleet)
    fn()
    fleet.calls.clear()
    result = fn.route()
    assert result.skipped == ("a", "b")
    assert result.attempt == 1
    assert len(result.attempts) == 1


def test_terminus_is_attempted_despite_cooldown(clock):
    """The last provider is always tried, even in cooldown, so a call always attempts."""
    fleet = Fleet("a", "b")
    fn = routed(providers=["a", "b"], clock=clock)(fleet)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fn.router.status()["b"].available is False
    fleet.calls.clear()
    fleet.failing.clear()
    result = fn.route()
    assert fleet.calls == ["b"]
    assert result.skipped == ("a",)
    assert result.was_terminus is True


def test_single_provider_in_cooldown_is_still_called(clock):
    """With one provider, it is the terminus: always called."""
    fleet = Fleet("only")
    fn = routed(providers=["only"], clock=clock)(fleet)
    for _ in range(3):
        with pytest.raises(AllProvidersFailedError):
            fn()
    assert fleet.calls == ["only"] * 3


def test_success_is_recorded_with_the_tracker(clock):
    """A success clears the provider's counted failures."""
    tracker = InMemoryCooldown(60, threshold=3, clock=clock)
    fleet = Fleet("a")
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet)
    fn()
    fn()
    assert tracker.snapshot()["a"].consecutive_failures == 2
    fleet.failing.clear()
    fn()
    assert "a" not in tracker.snapshot()


def test_exempt_providers_never_enter_cooldown(clock):
    """An exempt provider's failures are never recorded."""
    tracker = InMemoryCooldown(60, clock=clock)
    fleet = Fleet("a")
    fn = routed(providers=["a", "b"], cooldown=tracker, exempt={"a"})(fleet)
    for _ in range(5):
        result = fn.route()
        assert result.attempts[0].counted is False
    assert fleet.calls == ["a", "b"] * 5
    assert tracker.snapshot() == {}


def test_exempt_must_name_known_providers():
    """A typo in exempt is caught at decoration."""
    with pytest.raises(InvalidConfigError, match="unknown provider 'laozhnag'"):
        routed(providers=["a", "laozhang"], exempt={"laozhnag"})


def test_exempt_must_be_a_collection_not_a_bare_string():
    """exempt='name' would be ambiguous; it must be a collection."""
    with pytest.raises(InvalidConfigError, match="exempt must be a collection"):
        Router(["a"], exempt="a")


def test_exempt_names_must_be_strings():
    """exempt holds names."""
    with pytest.raises(InvalidConfigError, match="exempt names must be str"):
        Router(["a"], exempt=[1])


def test_cooldown_none_disables_tracking():
    """cooldown=None: nothing is skipped, nothing recorded."""
    fleet = Fleet("a")
    fn = routed(providers=["a", "b"], cooldown=None)(fleet)
    fn()
    fn()
    assert fleet.calls == ["a", "b", "a", "b"]
    assert fn.router.tracker is None
    assert fn.router.status()["a"].available is True


def test_a_tracker_instance_is_shared_between_routers(clock):
    """Two routers given the same tracker see each other's cooldowns."""
    tracker = InMemoryCooldown(60, clock=clock)
    fleet = Fleet("a")
    first = routed(providers=["a", "b"], cooldown=tracker)(fleet)
    second = routed(providers=["a", "c"], cooldown=tracker)(fleet)
    first()
    fleet.calls.clear()
    assert second.route().skipped == ("a",)
    assert fleet.calls == ["c"]


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), True, "60"])
def test_invalid_cooldown_argument_is_rejected(bad):
    """cooldown= must be positive seconds, a tracker or None."""
    with pytest.raises(InvalidConfigError, match="cooldown"):
        Router(["a"], cooldown=bad)


def test_router_decorates_several_functions_sharing_state(clock):
    """@router on several functions shares one cooldown state."""
    router = Router(["a", "b"], clock=clock)
    fleet = Fleet("a")

    @router
    def first(provider):
        return fleet(provider)

    @router
    def second(provider):
        return fleet(provider)

    first()
    fleet.calls.clear()
    assert second.route().skipped == ("a",)


# -- round_robin -----------------------------------------------------------------------


def test_round_robin_first_pick_is_the_first_provider_then_rotates():
    """Picks go a, b, c, a, ... starting with the first provider."""
    fn = routed(providers=["a", "b", "c"], strategy="round_robin")(lambda p: p)
    assert [fn() for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]


def test_round_robin_makes_one_attempt_without_fallback_or_cooldown(clock):
    """A failing pick fails the call; nothing is recorded or skipped."""
    fleet = Fleet("a")
    fn = routed(providers=["a", "b"], strategy="round_robin", clock=clock)(fleet)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fn() == "b:p"
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fleet.calls == ["a", "b", "a"]
    assert fn.router.tracker is not None
    assert fn.router.tracker.snapshot() == {}


def test_round_robin_counter_is_shared_by_functions_of_one_router():
    """Functions decorated by one router share its counter."""
    router = Router(["a", "b"], strategy="round_robin")
    f = router(lambda p: p)
    g = router(lambda p: p)
    assert [f(), g(), f(), g()] == ["a", "b", "a", "b"]


def test_round_robin_counter_can_be_shared_between_routers():
    """counter= shares one rotation between routers."""
    counter = InMemoryRoundRobin()
    f = routed(providers=["a", "b", "c"], strategy="round_robin", counter=counter)(lambda p: p)
    g = routed(providers=["a", "b", "c"], strategy="round_robin", counter=counter)(lambda p: p)
    assert [f(), g(), f()] == ["a", "b", "c"]


def test_round_robin_with_changing_provider_count_stays_in_range():
    """A callable provider list may shrink; picks wrap on the current length."""
    current = ["a", "b", "c"]
    fn = routed(providers=lambda: current, strategy="round_robin")(lambda p: p)
    assert fn() == "a"
    current = ["x"]
    assert fn() == "x"


def test_invalid_counter_is_rejected():
    """counter= needs next_index()."""
    with pytest.raises(InvalidConfigError, match="next_index"):
        Router(["a"], strategy="round_robin", counter=object())  # type: ignore[arg-type]


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
