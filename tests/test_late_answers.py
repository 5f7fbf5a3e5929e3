"""Grants whose answer arrives late (DESIGN §4): a call that ends while the router talks to
a component — an async call cancelled while a slot, a token or a probe claim is taken off
the loop, a sync call interrupted by Ctrl-C in the same round trip, a call cancelled in a
`retry=` sleep — gives back everything that component granted, when its answer lands.

A fault proxy in front of a real redis-server holds replies ("hold" mode) so that a round
trip is on the wire when the call is cancelled (a handshake, not a sleep); each component
talks through a proxy of its own, so one round trip at a time is held.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import tenacity

from fallback_router import (
    ConcurrencyLimiter,
    RedisCooldown,
    RedisRateLimiter,
    RedisRoundRobin,
    RetryBudget,
    RoundRobin,
    routed,
)
from fallback_router._redis import scripts as lua
from fallback_router._redis.ratelimit import _BUCKET

from .conftest import FakeClock
from .support.fault_proxy import FaultProxy
from .support.helpers import wait_until
from .support.redis_helpers import key, load_scripts, through

#: Long enough that a held round trip is answered (granted) rather than timed out.
PATIENT = 5.0


class Boom(Exception):
    pass


def half_open(redis_client: Any, namespace: str, name: str = "a") -> None:
    """`name`'s cooldown has ended, its escalation memory is kept: the next call probes it."""
    redis_client.set(key(namespace, "level", name), 0, px=600_000)


def claimable(redis_client: Any, namespace: str, name: str = "a") -> bool:
    """Another process could claim `name`'s probe now (no claim is left in Redis)."""
    other = RedisCooldown(redis_client, namespace=namespace)
    other.remaining_many([name])  # its view: `name` has state
    if other.try_probe(name) is not True:
        return False
    other.end_probe(name)
    return True


@contextlib.contextmanager
def proxies(redis_server: Any, count: int) -> Iterator[list[FaultProxy]]:
    made = [FaultProxy(redis_server.port) for _ in range(count)]
    try:
        yield made
    finally:
        for proxy in made:
            proxy.close()


# -- the scenario ------------------------------------------------------------------


def test_handlers_timed_out_during_a_redis_hang_give_every_slot_and_token_back(
    proxy, redis_client, real_redis_binary
):
    """8 handlers under asyncio.timeout(0.05) while Redis hangs, max_concurrency=4: the late
    answers are given back, in_flight is 0 and the next call is served."""
    load_scripts(redis_client)
    redis_client.script_load(_BUCKET)
    limiter = ConcurrencyLimiter(4)
    rates = RedisRateLimiter(through(proxy), {"a": "10/h"}, op_timeout=PATIENT)
    assert rates.tokens("a") == 10  # connected through the proxy before the hang

    @routed(providers=["a"], max_concurrency=limiter, rate_limits=rates)
    async def handler(provider: str) -> str:
        return provider

    async def one() -> str:
        async with asyncio.timeout(0.05):
            return await handler()

    async def main() -> str:
        proxy.set("hold")
        outcomes = await asyncio.gather(*(one() for _ in range(8)), return_exceptions=True)
        assert all(isinstance(o, TimeoutError) for o in outcomes), outcomes
        assert proxy.holding.is_set()  # token round trips were on the wire when cut short
        proxy.release()
        assert await asyncio.to_thread(wait_until, lambda: limiter.in_flight("a") == 0, 10)
        # every token taken for a cancelled call came back (a token before its slot)
        assert rates.tokens("a") > 9.9
        return await asyncio.wait_for(handler(), 10)

    assert asyncio.run(main()) == "a"
    assert limiter.in_flight("a") == 0


# -- cancellation at each round trip (async) -----------------------------------------------

ROUND_TRIPS = ["counter", "view", "token", "probe", "record"]


def _redis_router(
    made: list[FaultProxy], namespace: str, limiter: ConcurrencyLimiter, hold_in_provider: bool
) -> tuple[Any, RedisCooldown, RedisRateLimiter]:
    counter_proxy, tracker_proxy, rates_proxy = made
    tracker = RedisCooldown(
        through(tracker_proxy), namespace=namespace, op_timeout=PATIENT, refresh=3600
    )
    rates = RedisRateLimiter(
        through(rates_proxy), {"a": "10/h"}, namespace=namespace, op_timeout=PATIENT
    )
    counter = RedisRoundRobin(through(counter_proxy), key=f"rr-{namespace}", op_timeout=PATIENT)
    armed = [hold_in_provider]

    @routed(
        providers=["a"],
        strategy=RoundRobin(failover=True),  # uses the tracker too
        cooldown=tracker,
        max_concurrency=limiter,
        rate_limits=rates,
        counter=counter,
    )
    async def call(provider: str) -> str:
        if armed[0]:  # the call's next round trip is the probe's record: hold it
            armed[0] = False
            tracker_proxy.set("hold")
        return provider

    return call, tracker, rates


@pytest.mark.parametrize("where", ROUND_TRIPS)
def test_an_async_call_cancelled_at_each_round_trip_gives_everything_back(
    where, redis_server, redis_client, real_redis_binary
):
    """Cancelled while the counter, the view, the token, the probe claim or the probe's
    record is on the wire: nothing stays held, the probe is claimable, the next call is
    served."""
    load_scripts(redis_client)
    redis_client.script_load(_BUCKET)
    redis_client.script_load(lua.INCR)
    namespace = f"late-{where}"
    limiter = ConcurrencyLimiter(1)
    with proxies(redis_server, 3) as made:
        call, tracker, rates = _redis_router(made, namespace, limiter, where == "record")
        counter_proxy, tracker_proxy, rates_proxy = made
        half_open(redis_client, namespace)
        tracker.remaining_many(["a"])  # the mirror, read before the part under test
        assert rates.tokens("a") == 10
        held = {"counter": counter_proxy, "token": rates_proxy}.get(where, tracker_proxy)
        if where == "view":
            tracker.mirror.forget()  # the call reads the view itself
        probe_key = key(namespace, "probe", "a")

        async def main() -> str:
            if where != "record":
                held.set("hold")
            task = asyncio.create_task(call())
            assert await asyncio.to_thread(held.holding.wait, 10)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            held.release()
            assert await asyncio.to_thread(wait_until, lambda: limiter.in_flight("a") == 0, 10)
            # every token went back, but the one of an attempt that ran (the probe recorded)
            left = 8.9 if where == "record" else 9.9
            assert await asyncio.to_thread(wait_until, lambda: rates.tokens("a") > left, 10)
            assert await asyncio.to_thread(
                wait_until, lambda: not redis_client.exists(probe_key), 10
            )
            if where != "record":  # still half-open: any process may claim its probe now
                assert await asyncio.to_thread(claimable, redis_client, namespace)
            return await asyncio.wait_for(call(), 10)

        assert asyncio.run(main()) == "a"
        assert limiter.in_flight("a") == 0
        assert not redis_client.exists(probe_key)  # the next call's probe ended too


# -- Ctrl-C at each round trip (sync) ------------------------------------------------------

#: Which script run (source, and a test over its arguments) each round trip is.
SCRIPTS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "counter": (lua.INCR, lambda args: True),
    "view": (lua.READ, lambda args: True),
    "token": (_BUCKET, lambda args: args[0] == 1),  # a take, not a look or a refund
    "refund": (_BUCKET, lambda args: args[0] == -1),  # a token given back
    "probe": (lua.TRY_PROBE, lambda args: True),
    "record": (lua.RECORD_SUCCESS, lambda args: True),
}


@pytest.fixture
def interrupt_after(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[int]]:
    """`arm(where)`: the next run of that round trip's script is answered by the server
    (what it grants is granted), then Ctrl-C arrives before the answer reaches the caller."""
    from redis.commands.core import Script

    original = Script.__call__
    armed: list[tuple[str, Callable[[Any], bool]]] = []
    fired: list[int] = []

    def call(self: Any, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        answer = original(self, keys=keys, args=args, client=client)
        source = self.script.decode() if isinstance(self.script, bytes) else self.script
        if armed and source == armed[0][0] and armed[0][1](args or []):
            armed.clear()
            fired.append(1)
            raise KeyboardInterrupt
        return answer

    monkeypatch.setattr(Script, "__call__", call)

    def arm(where: str) -> list[int]:
        armed.append(SCRIPTS[where])
        return fired

    return arm


@pytest.mark.parametrize("where", ROUND_TRIPS)
def test_ctrl_c_at_each_round_trip_of_a_sync_call_gives_everything_back(
    where, redis_client, real_redis_binary, interrupt_after
):
    """Ctrl-C while the counter, the view, the token, the probe claim or the probe's record
    is answered: nothing stays held, the probe is claimable and the next call is served."""
    namespace = f"ctrl-c-{where}"
    limiter = ConcurrencyLimiter(1)
    tracker = RedisCooldown(redis_client, namespace=namespace, refresh=3600, op_timeout=PATIENT)
    rates = RedisRateLimiter(redis_client, {"a": "10/h"}, namespace=namespace)
    counter = RedisRoundRobin(redis_client, key=f"rr-{namespace}")

    @routed(
        providers=["a"],
        strategy=RoundRobin(failover=True),  # uses the tracker too
        cooldown=tracker,
        max_concurrency=limiter,
        rate_limits=rates,
        counter=counter,
        timeout=10,  # a leaked slot or token would end the next call, never hang it
    )
    def call(provider: str) -> str:
        return provider

    half_open(redis_client, namespace)
    tracker.remaining_many(["a"])
    if where == "view":
        tracker.mirror.forget()
    fired = interrupt_after(where)
    with pytest.raises(KeyboardInterrupt):
        call()
    assert fired == [1]
    assert limiter.in_flight("a") == 0
    assert rates.tokens("a") > (8.9 if where == "record" else 9.9)  # only a run attempt's spent
    assert not redis_client.exists(key(namespace, "probe", "a"))
    if where != "record":
        assert claimable(redis_client, namespace)
    assert call() == "a"
    assert limiter.in_flight("a") == 0


def test_ctrl_c_while_a_token_refund_is_answered_still_frees_the_slot(
    redis_client, real_redis_binary, interrupt_after
):
    """A one-attempt call fails on a; the slot and token taken for b go back; Ctrl-C arriving
    while Redis answers the token's refund leaves b's slot free (it was leaked for good)."""
    limiter = ConcurrencyLimiter(1)
    rates = RedisRateLimiter(
        redis_client, {"a": "1000/s", "b": "1000/s"}, namespace="ctrl-c-refund", op_timeout=PATIENT
    )

    @routed(
        providers=["a", "b"],
        strategy=RoundRobin(failover=False),
        max_concurrency=limiter,
        rate_limits=rates,
        cooldown=None,
    )
    def call(provider: str) -> str:
        if provider == "a":
            raise Boom(provider)
        return provider

    fired = interrupt_after("refund")
    with pytest.raises(KeyboardInterrupt):
        call()
    assert fired == [1]
    assert (limiter.in_flight("a"), limiter.in_flight("b")) == (0, 0)
    assert call() == "b"  # the rotation's next pick is served at once
    assert limiter.in_flight("b") == 0


# -- the retry budget ----------------------------------------------------------------------


def _budgeted(budget: RetryBudget, sleep: Any = None) -> tenacity.Retrying:
    options: dict[str, Any] = {}
    if sleep is not None:
        options["sleep"] = sleep
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_fixed(30),
        retry=tenacity.retry_if_exception_type(Boom),
        **options,
    )


def test_a_budget_unit_comes_back_when_ctrl_c_ends_a_retry_sleep():
    """The unit withdrawn for a retry that Ctrl-C stopped in its sleep is refunded."""
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_per_second=2, clock=clock)

    def sleep(seconds: float) -> None:
        raise KeyboardInterrupt

    @routed(providers=["a"], retry=_budgeted(budget, sleep), retry_budget=budget, clock=clock)
    def call(provider: str) -> str:
        raise Boom(provider)

    assert budget.available() == 2
    with pytest.raises(KeyboardInterrupt):
        call()
    assert budget.available() == 2


def test_a_budget_unit_comes_back_when_an_async_call_is_cancelled_in_a_retry_sleep():
    """Cancelled in a `retry=` sleep: the unit withdrawn for the retry that never ran is back."""
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_per_second=2, clock=clock)

    async def main() -> float:
        sleeping = asyncio.Event()
        template = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_fixed(30),
            retry=tenacity.retry_if_exception_type(Boom),
            before_sleep=lambda state: sleeping.set(),
        )

        @routed(providers=["a"], retry=template, retry_budget=budget, clock=clock)
        async def call(provider: str) -> str:
            raise Boom(provider)

        task = asyncio.create_task(call())
        await sleeping.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return budget.available()

    assert budget.available() == 2
    assert asyncio.run(main()) == 2


def test_a_refund_goes_back_to_the_allowance_while_it_has_room_else_to_the_deposits():
    """`RetryBudget.refund()`: the per-second allowance first (capped), then the deposits."""
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_per_second=1, clock=clock)
    assert budget.withdraw()
    assert budget.available() == 0
    budget.refund()
    assert budget.available() == 1  # the allowance again
    budget.refund()  # the allowance is full: a deposit
    assert budget.available() == 2
    assert budget.withdraw()
    assert budget.withdraw()
    assert not budget.withdraw()


def test_a_budget_unit_comes_back_when_a_call_is_cancelled_before_its_fallback_starts(
    proxy, redis_client, real_redis_binary
):
    """The unit withdrawn for a fallback whose probe claim was on the wire when the call was
    cancelled: that attempt never ran, its unit is refunded."""
    load_scripts(redis_client)
    clock = FakeClock()
    budget = RetryBudget(ratio=0.0, min_per_second=2, clock=clock)
    namespace = "budget-claim"
    tracker = RedisCooldown(through(proxy), namespace=namespace, refresh=3600, op_timeout=PATIENT)
    half_open(redis_client, namespace, "b")
    tracker.remaining_many(["a", "b"])

    @routed(
        providers=["a", "b"],
        cooldown=tracker,
        retry_budget=budget,
        fallback_on=Boom,
        cooldown_on=lambda error: False,  # a's failure costs no round trip
    )
    async def call(provider: str) -> str:
        if provider == "a":
            proxy.set("hold")  # the next round trip: b's probe claim
            raise Boom(provider)
        return provider

    async def main() -> None:
        task = asyncio.create_task(call())
        assert await asyncio.to_thread(proxy.holding.wait, 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        proxy.release()

    asyncio.run(main())
    assert budget.available() == 2


def test_a_claim_whose_answer_an_outage_lost_is_released_when_redis_is_back(
    proxy, redis_client, real_redis_binary
):
    """The claim's reply outlasts op_timeout (the server granted it; the tracker fails open):
    it is released, by its token, as soon as Redis answers again."""
    load_scripts(redis_client)
    clock = FakeClock()
    namespace = "claim-outage"
    tracker = RedisCooldown(through(proxy), namespace=namespace, op_timeout=0.2, clock=clock)
    half_open(redis_client, namespace)
    for _ in range(20):  # connected through the proxy (a first connection may be slow)
        tracker.remaining_many(["a"])
        if not tracker._guard.down:
            break
        clock.advance(5.1)
    probe_key = key(namespace, "probe", "a")
    proxy.set("hold")
    tracker.try_probe("a")  # its reply outlasts op_timeout: the tracker fails open
    assert wait_until(lambda: redis_client.exists(probe_key), 10)  # granted on the server
    proxy.release()
    clock.advance(5.1)  # the back-off ends: the next operation reaches Redis
    tracker.remaining_many(["a"])
    assert not redis_client.exists(probe_key)
    assert claimable(redis_client, namespace)


def test_an_interrupted_claim_never_releases_another_processes_claim(redis_client, interrupt_after):
    """Ctrl-C during a claim the server refused (another process holds the probe): the
    other process's claim stays."""
    namespace = "claim-other"
    half_open(redis_client, namespace)
    other = RedisCooldown(redis_client, namespace=namespace)
    other.remaining_many(["a"])
    assert other.try_probe("a") is True
    tracker = RedisCooldown(redis_client, namespace=namespace)
    tracker.remaining_many(["a"])
    fired = interrupt_after("probe")
    with pytest.raises(KeyboardInterrupt):
        tracker.try_probe("a")
    assert fired == [1]
    assert redis_client.exists(key(namespace, "probe", "a"))
    assert tracker.try_probe("a") is False


def test_an_answer_in_just_as_the_call_is_cancelled_is_given_back(
    proxy, redis_client, real_redis_binary
):
    """The token's answer is in (the worker returned it) but the cancelled call never resumes
    to take it: given back all the same. The loop is held while the answer lands, so the
    cancellation reaches the call after it; whichever comes first, nothing stays held."""
    redis_client.script_load(_BUCKET)
    limiter = ConcurrencyLimiter(1)
    rates = RedisRateLimiter(through(proxy), {"a": "10/h"}, op_timeout=PATIENT)
    assert rates.tokens("a") == 10
    answered = threading.Event()
    take = rates.try_acquire

    def try_acquire(name: str) -> bool:  # the real limiter, and a handshake after its answer
        got = take(name)
        answered.set()
        return got

    rates.try_acquire = try_acquire  # type: ignore[method-assign]

    @routed(providers=["a"], max_concurrency=limiter, rate_limits=rates)
    async def call(provider: str) -> str:
        return provider

    async def main() -> None:
        proxy.set("hold")
        task = asyncio.create_task(call())
        assert await asyncio.to_thread(proxy.holding.wait, 10)
        proxy.release()
        assert answered.wait(10)  # the loop is held: the answer cannot reach the call
        time.sleep(0.05)  # noqa: ASYNC251 - held on purpose: the worker hands its answer over
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(wait_until, lambda: limiter.in_flight("a") == 0, 10)
        assert await asyncio.to_thread(wait_until, lambda: rates.tokens("a") > 9.9, 10)

    asyncio.run(main())
