"""Weights of any size and per-call preferences that stay with their router call (DESIGN §3).

`Weighted` takes any positive finite weights (price-like `0.00015`, tiny `1e-9`, huge
`1e300`) with any providers benched; only bad weights raise, and only
`InvalidConfigError` at decoration. `routing(only=, prefer=, affinity=)` applies to the
routed calls made directly inside the block: a router hides the preferences from the
providers it calls, so a nested router is not given names it does not know (sync,
async, streams, threads handed a copied context).
"""

from __future__ import annotations

import asyncio
import contextvars
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fallback_router import (
    AttemptFailed,
    AttemptStarted,
    InMemoryCooldown,
    InvalidConfigError,
    Weighted,
    routed,
    routing,
)


class Boom(Exception):
    pass


def first_picks(events):
    return [e.provider for e in events if isinstance(e, AttemptStarted) and e.attempt == 1]


# -- weights of any size ----------------------------------------------------------------


def test_price_like_weights_give_each_provider_its_share():
    """{a: 0.00015, b: 0.0025}: a gets 6 % of the first picks (was 0 of 1,700)."""
    fn = routed(providers=["a", "b"], strategy=Weighted({"a": 0.00015, "b": 0.0025}))(
        lambda provider: provider
    )
    picks = Counter(fn() for _ in range(1_700))
    share = 0.00015 / (0.00015 + 0.0025)
    assert abs(picks["a"] - share * 1_700) <= 2
    assert picks["a"] + picks["b"] == 1_700


@pytest.mark.parametrize("benched", ["a", "b"])
def test_price_like_weights_with_one_provider_benched_serve_the_other(benched):
    """With b (or a) benched, every call goes to the other: no ZeroDivisionError."""
    tracker = InMemoryCooldown(3600)
    tracker.record_failure(benched, Boom())
    fn = routed(
        providers=["a", "b"],
        strategy=Weighted({"a": 0.00015, "b": 0.0025}),
        cooldown=tracker,
    )(lambda provider: provider)
    other = "b" if benched == "a" else "a"
    assert Counter(fn() for _ in range(50)) == {other: 50}


def test_tiny_equal_weights_decorate_and_alternate():
    """{a: 1e-9, b: 1e-9} decorates (it raised) and alternates like {a: 1, b: 1}."""
    fn = routed(providers=["a", "b"], strategy=Weighted({"a": 1e-9, "b": 1e-9}))(
        lambda provider: provider
    )
    assert [fn() for _ in range(6)] == ["a", "b", "a", "b", "a", "b"]


def test_async_price_like_weights_with_the_heavy_one_benched():
    """The async twin: a's share, then every call on a once b is benched."""
    tracker = InMemoryCooldown(3600)

    async def call(provider):
        return provider

    fn = routed(
        providers=["a", "b"], strategy=Weighted({"a": 0.00015, "b": 0.0025}), cooldown=tracker
    )(call)

    async def main():
        before = Counter([await fn() for _ in range(1_060)])
        tracker.record_failure("b", Boom())
        after = Counter([await fn() for _ in range(20)])
        return before, after

    before, after = asyncio.run(main())
    assert before == {"a": 60, "b": 1_000}
    assert after == {"a": 20}


POSITIVE = st.floats(min_value=0.0, max_value=math.inf, allow_nan=False, exclude_min=True).filter(
    math.isfinite
)
BAD = st.one_of(
    st.just(0),
    st.just(0.0),
    st.floats(max_value=0.0),
    st.just(math.inf),
    st.just(math.nan),
    st.just(True),
    st.just(10**400),  # an int too large for a float: not an OverflowError
    st.text(max_size=3),
    st.none(),
)


@settings(max_examples=150, deadline=None)
@given(
    weights=st.lists(st.one_of(POSITIVE, st.integers(1, 10**30)), min_size=1, max_size=5),
    bad=st.one_of(st.none(), BAD),
    benched=st.sets(st.integers(0, 4)),
)
def test_any_weights_and_benched_providers_work_or_fail_at_decoration(weights, bad, benched):
    """Positive finite weights of any size, any providers benched: every call is served,
    never by a benched provider while a healthy one exists; a bad weight is an
    InvalidConfigError at decoration, and nothing else ever raises."""
    names = [f"p{i}" for i in range(len(weights))]
    mapping: dict[str, object] = dict(zip(names, weights, strict=True))
    if bad is not None:
        mapping[names[-1]] = bad
        with pytest.raises(InvalidConfigError, match="Weighted"):
            routed(providers=names, strategy=Weighted(mapping))(lambda provider: provider)  # type: ignore[arg-type]
        return
    tracker = InMemoryCooldown(3600)
    down = {names[i] for i in benched if i < len(names)}
    for name in down:
        tracker.record_failure(name, Boom())
    fn = routed(providers=names, strategy=Weighted(mapping), cooldown=tracker)(  # type: ignore[arg-type]
        lambda provider: provider
    )
    served = [fn() for _ in range(2 * len(names) + 3)]
    healthy = set(names) - down
    if healthy:
        assert set(served) <= healthy
    else:  # all benched: the terminus (the last of each call's order) is always tried
        assert set(served) <= set(names)


def test_every_provider_keeps_a_turn_however_small_its_weight():
    """A weight 10^12 times smaller than the others still gets turns (at least 1 in 10,000)."""
    fn = routed(providers=["a", "b"], strategy=Weighted({"a": 1.0, "b": 1e-12}))(
        lambda provider: provider
    )
    picks = Counter(fn() for _ in range(20_000))
    assert 1 <= picks["b"] <= 4


# -- preferences stay with their router call ---------------------------------------------


def nested_routers(events):
    """An outer router whose providers each call an inner router with other names."""
    inner = routed(providers=["x", "y"])(lambda provider: provider)

    def outer_call(provider):
        return f"{provider}/{inner()}"

    outer = routed(providers=["a", "b"], on_event=events.append)(outer_call)
    return outer, inner


def assert_outer_unharmed(outer, events):
    assert not [e for e in events if isinstance(e, AttemptFailed)]
    status = outer.router.status()
    assert [row.failures for row in status] == [0, 0]
    assert all(row.available for row in status)


@pytest.mark.parametrize("kind", ["prefer", "only", "affinity"])
def test_preferences_do_not_reach_a_router_a_provider_calls(kind):
    """prefer=/only=['b'] apply to the outer call only: the inner router, which has no
    'b', serves as usual, and no outer provider is charged or benched."""
    events = []
    outer, _ = nested_routers(events)
    options = {"prefer": {"prefer": ["b"]}, "only": {"only": ["b"]}, "affinity": {}}[kind]
    with routing(**options, affinity="conversation" if kind == "affinity" else None):
        served = [outer() for _ in range(3)]
    expected = "a/x" if kind == "affinity" else "b/x"
    assert served == [expected] * 3
    assert_outer_unharmed(outer, events)


def test_a_routing_block_opened_by_the_provider_applies_to_its_router():
    """Hiding is only of the caller's preferences: a provider's own block still applies."""
    inner = routed(providers=["x", "y"])(lambda provider: provider)

    def outer_call(provider):
        with routing(prefer=["y"]):
            return f"{provider}/{inner()}"

    outer = routed(providers=["a", "b"])(outer_call)
    with routing(prefer=["b"]):
        assert outer() == "b/y"
    assert inner() == "x"


def test_the_outer_block_is_in_force_again_after_the_call():
    """After the provider returns, the block's preferences apply again to direct calls."""
    events = []
    outer, _ = nested_routers(events)
    with routing(prefer=["b"]):
        assert outer() == "b/x"
        assert outer() == "b/x"
    assert outer() == "a/x"


def test_preferences_do_not_reach_nested_routers_in_threads_with_a_copied_context():
    """A thread handed a copy of the block's context: its outer call honours prefer=,
    the nested router does not see it."""
    events = []
    outer, _ = nested_routers(events)
    with routing(prefer=["b"]):
        context = contextvars.copy_context()
    with ThreadPoolExecutor(4) as pool:
        served = list(pool.map(lambda _: context.copy().run(outer), range(8)))
    assert served == ["b/x"] * 8
    assert_outer_unharmed(outer, events)


def test_async_preferences_do_not_reach_a_router_a_provider_awaits():
    """The async twin, with tasks created inside the block."""
    events = []
    inner = routed(providers=["x", "y"])(_async_identity)

    async def outer_call(provider):
        return f"{provider}/{await inner()}"

    outer = routed(providers=["a", "b"], on_event=events.append)(outer_call)

    async def main():
        with routing(prefer=["b"]):
            first = await outer()
            rest = await asyncio.gather(*(asyncio.create_task(outer()) for _ in range(4)))
        return [first, *rest]

    assert asyncio.run(main()) == ["b/x"] * 5
    assert_outer_unharmed(outer, events)


async def _async_identity(provider):
    return provider


def test_stream_preferences_do_not_reach_a_router_the_generator_calls():
    """A routed generator whose items come from another router: prefer= stays outside."""
    events = []
    inner = routed(providers=["x", "y"])(lambda provider: provider)

    def stream(provider):
        for _ in range(2):
            yield f"{provider}/{inner()}"

    outer = routed(providers=["a", "b"], on_event=events.append)(stream)
    with routing(prefer=["b"]):
        assert list(outer()) == ["b/x", "b/x"]
    assert_outer_unharmed(outer, events)


def test_async_stream_preferences_do_not_reach_a_router_the_generator_awaits():
    events = []
    inner = routed(providers=["x", "y"])(_async_identity)

    async def stream(provider):
        for _ in range(2):
            yield f"{provider}/{await inner()}"

    outer = routed(providers=["a", "b"], on_event=events.append)(stream)

    async def main():
        with routing(prefer=["b"]):
            return [item async for item in outer()]

    assert asyncio.run(main()) == ["b/x", "b/x"]
    assert_outer_unharmed(outer, events)


@pytest.mark.parametrize("argument", ["only", "prefer"])
def test_unknown_names_raise_before_any_attempt_and_charge_no_provider(argument):
    events = []
    fn = routed(providers=["a", "b"], on_event=events.append)(lambda provider: provider)
    with routing(**{argument: ["a", "zzz"]}), pytest.raises(InvalidConfigError, match="zzz"):
        fn()
    assert not [e for e in events if isinstance(e, AttemptStarted)]
    assert [row.failures for row in fn.router.status()] == [0, 0]


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_name_preferred_twice_is_tried_once(asynchronous):
    """prefer=['a', 'a'] counts 'a' once: a failing 'a' is tried once, then b."""
    events = []

    def call(provider):
        if provider == "a":
            raise Boom("a down")
        return provider

    async def acall(provider):
        return call(provider)

    fn = routed(providers=["a", "b", "c"], on_event=events.append, cooldown=None)(
        acall if asynchronous else call
    )
    with routing(prefer=["a", "a", "c", "a"]):
        served = asyncio.run(fn()) if asynchronous else fn()
    assert served == "c"
    tried = [e.provider for e in events if isinstance(e, AttemptStarted)]
    assert tried == ["a", "c"]
