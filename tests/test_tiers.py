"""`Tiers(*groups, within=...)` (DESIGN §3): balance over the first group, fall over to
the next only when the whole group is benched, saturated, rate limited or failed.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from fallback_router import (
    AllProvidersFailedError,
    Fallback,
    InvalidConfigError,
    LeastBusy,
    RoundRobin,
    Router,
    Tiers,
    Weighted,
    routed,
)

NAMES = ["cheap-a", "cheap-b", "premium"]


def make(down: set[str], **options: Any) -> Any:
    def call(provider: str) -> str:
        if provider in down:
            raise RuntimeError(f"{provider} is down")
        return provider

    return routed(providers=NAMES, strategy=Tiers(["cheap-a", "cheap-b"], ["premium"]),
                  **options)(call)  # fmt: skip


def test_calls_balance_over_the_first_group():
    fn = make(set())
    assert Counter(fn() for _ in range(10)) == {"cheap-a": 5, "cheap-b": 5}


def test_a_failed_provider_moves_the_call_within_its_group_first(clock):
    fn = make({"cheap-a"}, clock=clock)
    result = fn.route()
    assert result.provider == "cheap-b"
    # cheap-a is benched now: the cheap pool is cheap-b alone, premium stays idle.
    assert Counter(fn() for _ in range(6)) == {"cheap-b": 6}


def test_the_next_group_serves_only_when_the_whole_group_is_out(clock):
    fn = make({"cheap-a", "cheap-b"}, clock=clock)
    first = fn.route()
    assert first.provider == "premium"
    assert [a.provider for a in first.attempts[:2]] in (
        ["cheap-a", "cheap-b"],
        ["cheap-b", "cheap-a"],
    )
    later = fn.route()  # the cheap pool is benched: skipped, not tried
    assert (later.provider, later.attempt, set(later.skipped)) == (
        "premium",
        1,
        {"cheap-a", "cheap-b"},
    )
    clock.advance(61)  # the cooldowns end: the cheap pool is tried again
    assert fn.route().attempts[0].provider in {"cheap-a", "cheap-b"}


def test_saturation_and_rate_limits_move_the_call_to_the_next_group():
    fn = make(set(), rate_limits={"cheap-a": "1/h", "cheap-b": "1/h"})
    assert sorted(fn() for _ in range(2)) == ["cheap-a", "cheap-b"]
    result = fn.route()
    assert (result.provider, set(result.skipped)) == ("premium", {"cheap-a", "cheap-b"})


def test_the_terminus_is_the_last_of_the_last_group_and_is_always_tried(clock):
    fn = make(set(NAMES), clock=clock)
    with pytest.raises(AllProvidersFailedError):
        fn()
    with pytest.raises(AllProvidersFailedError) as info:
        fn()  # everything benched: only the terminus is forced
    assert [a.provider for a in info.value.attempts] == ["premium"]


def test_tiers_route_async_calls_the_same_way(clock):
    down = {"cheap-a", "cheap-b"}

    @routed(providers=NAMES, strategy=Tiers(["cheap-a", "cheap-b"], ["premium"]), clock=clock)
    async def call(provider: str) -> str:
        await asyncio.sleep(0)
        if provider in down:
            raise RuntimeError(provider)
        return provider

    async def main() -> list[str]:
        first = await call.route()
        assert len(first.attempts) == 3
        down.clear()
        return [await call() for _ in range(4)]

    clock.advance(0)
    served = asyncio.run(main())
    assert set(served) == {"premium"}  # the cheap pool is still benched


def test_within_orders_each_group():
    weights = {"a": 3, "b": 1, "c": 1, "d": 1}
    fn = routed(
        providers=["a", "b", "c", "d"],
        strategy=Tiers(["a", "b"], ["c", "d"], within=Weighted(weights)),
    )(lambda p: p)
    assert Counter(fn() for _ in range(8)) == {"a": 6, "b": 2}
    busy = routed(providers=["a", "b", "c"], strategy=Tiers(["a", "b"], ["c"], within=LeastBusy()))
    assert Counter(busy(lambda p: p)() for _ in range(3)) == {"a": 3}  # ties: list order
    plain = routed(providers=["a", "b", "c"], strategy=Tiers(["a", "b"], ["c"], within=Fallback()))
    assert plain(lambda p: p)() == "a"


def test_dynamic_providers_are_checked_at_call_time():
    router = Router(providers=lambda: ["a", "b", "x"], strategy=Tiers(["a"], ["b"]))
    fn = router(lambda p: p)
    with pytest.raises(InvalidConfigError, match=r"not in any group: \['x'\]"):
        fn()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Tiers(), "at least one group"),
        (lambda: Tiers([]), "group 1 must be a non-empty list"),
        (lambda: Tiers("ab"), "group 1 must be a non-empty list"),  # type: ignore[arg-type]
        (lambda: Tiers(["a"], [3]), "group 2 holds 3"),  # type: ignore[list-item]
        (lambda: Tiers(["a"], ["b", "a"]), "'a' is in more than one group"),
        (lambda: Tiers(["a"], within="round_robin"), "within= must be a strategy object"),  # type: ignore[arg-type]
        (
            lambda: routed(providers=["a", "b", "c"], strategy=Tiers(["a"], ["b"])),
            r"not in any group: \['c'\], not a provider: \[\]",
        ),
        (
            lambda: routed(providers=["a"], strategy=Tiers(["a"], ["zz"])),
            r"not a provider: \['zz'\]",
        ),
    ],
)
def test_bad_groups_are_refused_at_decoration(build, message):
    with pytest.raises(InvalidConfigError, match=message):
        build()


def test_repr_and_status_work():
    tiers = Tiers(["a"], ["b"], within=RoundRobin(failover=True))
    assert repr(tiers) == ("Tiers(groups=(('a',), ('b',)), within=RoundRobin(failover=True))")
    router = Router(providers=["a", "b"], strategy=tiers)
    assert [row.name for row in router.status()] == ["a", "b"]


def test_the_router_names_the_strategy_tiers():
    tiers = Tiers(["a"], ["b"])
    router = Router(providers=["a", "b"], strategy=tiers)
    assert (tiers.name, router.strategy) == ("tiers", tiers)
