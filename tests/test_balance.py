"""Load- and quota-aware routing (DESIGN §3, §6): strategy objects, failover for every
strategy, per-call preferences and affinity, proactive rate limits and retry budgets."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import tenacity
from loguru import logger

from fallback_router import (
    AllProvidersFailedError,
    AttemptStarted,
    DeadlineExceededError,
    Fallback,
    InMemoryCooldown,
    InMemoryRateLimiter,
    InvalidConfigError,
    LeastBusy,
    LeastLatency,
    PrimaryOnly,
    ProviderSkipped,
    RateLimit,
    RetryBudget,
    RoundRobin,
    Weighted,
    current_attempt,
    routed,
    routing,
)

from .conftest import FakeClock


class Boom(Exception):
    pass


def first_picks(events):
    """The provider each call started on (from AttemptStarted attempt 1)."""
    return [e.provider for e in events if isinstance(e, AttemptStarted) and e.attempt == 1]


# -- strategy objects ---------------------------------------------------------------------------


def test_strategy_strings_are_the_objects_defaults():
    """'fallback', 'primary_only' and 'round_robin' behave as Fallback(), PrimaryOnly(), RoundRobin()."""
    for text, obj in (
        ("fallback", Fallback()),
        ("primary_only", PrimaryOnly()),
        ("round_robin", RoundRobin()),
    ):
        by_text = routed(providers=["a", "b"], strategy=text)(lambda p: p)
        by_obj = routed(providers=["a", "b"], strategy=obj)(lambda p: p)
        assert [by_text() for _ in range(4)] == [by_obj() for _ in range(4)]
        assert by_text.router.strategy == obj
        assert by_text.router.strategy.name == text


def test_weighted_is_exact_over_every_window(path):
    """{a: 3, b: 1}: 3,000 / 1,000 first picks in 4,000 calls, each run of 4 holding 3 a."""
    events = []
    fn = path.routed(["a", "b"], strategy=Weighted({"a": 3, "b": 1}), on_event=events.append)(
        lambda provider: provider
    )
    picks = [fn() for _ in range(4000)]
    assert Counter(picks) == {"a": 3000, "b": 1000}
    assert all(Counter(picks[i : i + 4]) == {"a": 3, "b": 1} for i in range(0, 4000, 4))


def test_weighted_is_exact_under_sixteen_threads():
    """16 threads, 4,000 calls: still exactly 3,000 / 1,000."""
    fn = routed(providers=["a", "b"], strategy=Weighted({"a": 3, "b": 1}))(
        lambda provider: provider
    )
    with ThreadPoolExecutor(16) as pool:
        picks = list(pool.map(lambda _: fn(), range(4000)))
    assert Counter(picks) == {"a": 3000, "b": 1000}


@pytest.mark.parametrize(
    "weights", [{"a": 1}, {"a": 1, "b": 1, "z": 1}, {"a": 0, "b": 1}, {"a": -1, "b": 1}, [("a", 1)]]
)
def test_weighted_rejects_unknown_missing_or_non_positive_weights(weights):
    """Unknown or missing names and non-positive weights are InvalidConfigError when decorating."""
    with pytest.raises(InvalidConfigError, match="Weighted"):
        routed(providers=["a", "b"], strategy=Weighted(weights))(lambda provider: provider)


@pytest.mark.parametrize("variant", ["lean", "hooks", "retry"])
def test_a_failed_first_pick_spends_one_schedule_turn_not_two(variant, path):
    """{a, b, c} equal, exempt (never benched), a failing once: call 2 still starts on b.

    The failed pick falls back without a second turn of the schedule, so every
    window of three calls starts once on each provider.
    """
    failed = []
    events = []

    def call(provider):
        if provider == "a" and not failed:
            failed.append(provider)
            raise Boom("a once")
        return provider

    fn = path.routed(
        ["a", "b", "c"],
        strategy=Weighted({"a": 1, "b": 1, "c": 1}),
        exempt=["a", "b", "c"],
        on_event=events.append if variant == "hooks" else None,
        # a retry template hands a failed first pick to the engine
        retry=tenacity.Retrying(stop=tenacity.stop_after_attempt(1))
        if variant == "retry"
        else None,
    )(call)
    served = [fn() for _ in range(6)]
    assert served == ["b", "b", "c", "a", "b", "c"]  # call 1 fell back from a to b


def test_least_latency_explores_on_schedule_after_a_failed_first_pick(path):
    """explore=0.5: every 2nd call explores, failed first picks or not (one turn per call)."""
    clock = FakeClock()
    events = []
    fails = iter([True, False, False, False, False, False])

    def call(provider):
        clock.advance(0.5 if provider == "a" else 0.1)
        if provider == "a" and next(fails):
            raise Boom("a once")
        return provider

    fn = path.routed(
        ["a", "b"],
        strategy=LeastLatency(explore=0.5),
        exempt=["a", "b"],
        clock=clock,
        on_event=events.append,
    )(call)
    for _ in range(6):
        fn()
    # a has no sample until call 3 (failures are not latencies); every 2nd call explores.
    assert first_picks(events) == ["a", "b", "a", "a", "b", "a"]


def test_weighted_keeps_proportions_among_the_healthy_when_one_is_benched(path):
    """{a: 2, b: 1, c: 1} with a benched: b and c share evenly, a is never started."""
    tracker = InMemoryCooldown(3600)
    tracker.record_failure("a", Boom())
    fn = path.routed(
        ["a", "b", "c"],
        strategy=Weighted({"a": 2, "b": 1, "c": 1}),
        cooldown=tracker,
    )(lambda provider: provider)
    picks = Counter(fn() for _ in range(400))
    assert picks == {"b": 200, "c": 200}


def test_weighted_keeps_unequal_weights_among_the_healthy_when_one_is_benched(path):
    """{a: 1, b: 2, c: 1} with c benched: a and b keep their own 1:2, exactly (300 calls: 100
    and 200), not an even split of the healthy ones."""
    tracker = InMemoryCooldown(3600)
    tracker.record_failure("c", Boom())
    fn = path.routed(
        ["a", "b", "c"],
        strategy=Weighted({"a": 1, "b": 2, "c": 1}),
        cooldown=tracker,
    )(lambda provider: provider)
    picks = Counter(fn() for _ in range(300))
    assert picks == {"a": 100, "b": 200}


def test_round_robin_with_failover_serves_every_call_and_spreads_evenly(path):
    """RoundRobin(failover=True), one of three down: every call served, half each to the
    others."""
    calls = Counter()

    def call(provider):
        calls[provider] += 1
        if provider == "b":
            raise Boom("b down")
        return provider

    fn = path.routed(["a", "b", "c"], strategy=RoundRobin(failover=True))(call)
    served = Counter(fn() for _ in range(1050))
    assert served == {"a": 525, "c": 525}
    assert calls["b"] == 1  # benched after its first failure


def test_round_robin_without_failover_keeps_the_seed_semantics(path):
    """RoundRobin() (the string's default): one attempt; a down provider fails its turn."""

    def call(provider):
        if provider == "b":
            raise Boom("b down")
        return provider

    fn = path.routed(["a", "b", "c"], strategy="round_robin")(call)
    outcomes = []
    for _ in range(6):
        try:
            outcomes.append(fn())
        except AllProvidersFailedError as error:
            outcomes.append(error.message)
    assert outcomes == ["a", "round-robin provider failed: b", "c"] * 2


def test_a_one_attempt_strategys_terminus_is_the_last_provider(logs, path):
    """RoundRobin(failover=False): each call makes one attempt; only the last provider's
    failure is the terminus's (logged is_terminus), whatever the call's order."""

    def call(provider):
        raise Boom(provider)

    fn = path.routed(["a", "b", "c"], strategy="round_robin", cooldown=None)(call)
    for _ in range(3):
        with pytest.raises(AllProvidersFailedError):
            fn()
    failed = [r for r in logs.records if "is_terminus" in r["extra"]]
    flags = [(r["extra"]["provider"], r["extra"]["is_terminus"]) for r in failed]
    assert flags == [("a", False), ("b", False), ("c", True)]


@pytest.mark.parametrize("providers", [["a", "b"], lambda: ["a", "b"]])
def test_least_busy_and_least_latency_learn_from_a_failed_over_call(providers):
    """A call that fails over counts b in flight while it runs, gives it back after, and
    feeds b's latency (never a's failure) to LeastLatency's estimate (on the happy path and
    on the general one, which a providers callable takes)."""
    clock = FakeClock()
    gate = threading.Event()
    entered = threading.Event()
    busy = {}

    def call(provider, hold=False):
        clock.advance(0.25)
        if provider == "a":
            raise Boom("a down")
        if hold:
            status = fn.router.status()
            busy.update(a=status["a"], b=status["b"])
            entered.set()
            gate.wait(10)
        return provider

    fn = routed(providers=providers, strategy=LeastBusy(), cooldown=None)(call)
    holder = threading.Thread(target=fn, kwargs={"hold": True})
    holder.start()
    assert entered.wait(10)
    gate.set()
    holder.join()
    assert (busy["a"].in_flight, busy["b"].in_flight) == (0, 1)
    status = fn.router.status()
    assert (status["a"].in_flight, status["b"].in_flight) == (0, 0)

    fastest = routed(providers=providers, strategy=LeastLatency(), cooldown=None, clock=clock)(call)
    assert fastest() == "b"
    status = fastest.router.status()
    assert (status["a"].latency_estimate, status["b"].latency_estimate) == (None, 0.25)


def test_a_retried_first_pick_stays_in_flight_through_its_retries_and_ends_once():
    """LeastBusy with a retry= template: a's first pick fails and is retried by the engine;
    a is counted in flight through both tries and given back once (a call holding a
    meanwhile keeps its count)."""
    gate = threading.Event()
    entered = threading.Semaphore(0)
    seen_in_flight = []

    def call(provider, hold=False):
        if hold:
            entered.release()
            gate.wait(10)
            return provider
        if provider == "a":
            seen_in_flight.append(fn.router.status()["a"].in_flight)
            raise Boom(provider)
        return provider

    retry = tenacity.Retrying(stop=tenacity.stop_after_attempt(2))
    fn = routed(providers=["a", "b"], strategy=LeastBusy(), cooldown=None, retry=retry)(call)
    holders = [threading.Thread(target=fn, kwargs={"hold": True}) for _ in range(2)]
    try:
        for holder in holders:  # one call held on a, then one on b (a is busier)
            holder.start()
            assert entered.acquire(timeout=10)
        assert fn() == "b"  # a tie: a first; it fails twice (a retry), then b
        assert seen_in_flight == [2, 2]  # the holder and this call, in both tries
        status = fn.router.status()
        assert (status["a"].in_flight, status["b"].in_flight) == (1, 1)  # the holders
    finally:
        gate.set()
        for holder in holders:
            holder.join(10)
    status = fn.router.status()
    assert (status["a"].in_flight, status["b"].in_flight) == (0, 0)


def test_an_async_least_busy_call_that_fails_over_leaves_nothing_in_flight():
    """The async happy path's failed pick is counted in flight once and given back once."""

    @routed(providers=["a", "b"], strategy=LeastBusy(), cooldown=None)
    async def call(provider):
        if provider == "a":
            raise Boom(provider)
        return provider

    async def main():
        return [await call() for _ in range(3)]

    assert asyncio.run(main()) == ["b", "b", "b"]  # ties go in list order: a first, each time
    status = call.router.status()
    assert (status["a"].in_flight, status["b"].in_flight) == (0, 0)


def test_least_busy_steers_away_from_a_provider_holding_slow_calls():
    """Two calls hang on a: the next calls start on b."""
    gate = threading.Event()
    entered = threading.Semaphore(0)

    def call(provider, hold=False):
        if hold:
            entered.release()
            gate.wait(10)
        return provider

    fn = routed(providers=["a", "b"], strategy=LeastBusy())(call)
    holders = [threading.Thread(target=fn, kwargs={"hold": True}) for _ in range(2)]
    holders[0].start()
    entered.acquire()
    holders[1].start()
    entered.acquire()
    try:
        status = fn.router.status()
        assert (status["a"].in_flight, status["b"].in_flight) == (1, 1)
        assert fn() == "a"  # tie: list order
    finally:
        gate.set()
        for holder in holders:
            holder.join()


def test_least_busy_counts_in_flight_calls_exactly():
    """While a holds one call, LeastBusy starts new calls on b, then a again when it ends."""
    gate = threading.Event()
    entered = threading.Event()

    def call(provider, hold=False):
        if hold:
            entered.set()
            gate.wait(10)
        return provider

    fn = routed(providers=["a", "b"], strategy=LeastBusy())(call)
    holder = threading.Thread(target=fn, kwargs={"hold": True})
    holder.start()
    assert entered.wait(10)
    assert fn() == "b"
    gate.set()
    holder.join()
    assert fn() == "a"


def test_least_latency_follows_the_faster_provider_both_ways():
    """A 5x faster provider gets >= 90 % of first attempts within 50 calls, and loses them
    within 50 calls once it slows down."""
    clock = FakeClock()
    speed = {"a": 0.5, "b": 0.1}
    events = []

    def call(provider):
        clock.advance(speed[provider])
        return provider

    fn = routed(providers=["a", "b"], strategy=LeastLatency(), clock=clock, on_event=events.append)(
        call
    )
    for _ in range(50):
        fn()
    picks = first_picks(events)
    assert picks[:2] == ["a", "b"]  # providers without a sample go first
    assert Counter(picks[-45:])["b"] >= 0.9 * 45
    speed.update(a=0.1, b=0.5)
    events.clear()
    for _ in range(50):
        fn()
    assert Counter(first_picks(events)[-30:])["a"] >= 0.9 * 30
    assert fn.router.status()["a"].latency_estimate is not None


def test_least_latency_explores_at_most_five_percent():
    """With one provider clearly faster, at most 5 % of calls start elsewhere."""
    clock = FakeClock()
    events = []

    def call(provider):
        clock.advance(0.5 if provider == "a" else 0.1)
        return provider

    fn = routed(providers=["a", "b"], strategy=LeastLatency(), clock=clock, on_event=events.append)(
        call
    )
    for _ in range(1000):
        fn()
    assert Counter(first_picks(events)[2:])["a"] <= 0.05 * 998 + 1


# -- routing() preferences and affinity -----------------------------------------------------------


def test_only_and_prefer_reorder_one_call():
    """routing(only=...) restricts, routing(prefer=...) moves names to the front."""
    fn = routed(providers=["a", "b", "c"])(lambda provider: provider)
    with routing(prefer=["c"]):
        assert fn() == "c"
    with routing(only=["b", "c"]):
        assert fn.route().attempts[0].provider == "b"
    assert fn() == "a"


def test_preferences_reach_threads_given_a_copied_context_and_tasks():
    """A thread running a copied context and an asyncio task created inside see the block."""
    fn = routed(providers=["a", "b"])(lambda provider: provider)

    @routed(providers=["a", "b"])
    async def afn(provider):
        return provider

    with routing(prefer=["b"]):
        context = contextvars.copy_context()

        async def main():
            return await asyncio.create_task(afn())

        in_task = asyncio.run(main())
    result = []
    thread = threading.Thread(target=lambda: result.append(context.run(fn)))
    thread.start()
    thread.join()
    assert (result, in_task) == (["b"], "b")


def test_unknown_names_in_preferences_are_invalid_config():
    """routing(only=['zzz']) on a router without zzz: InvalidConfigError naming it."""
    fn = routed(providers=["a", "b"])(lambda provider: provider)
    with routing(only=["zzz"]), pytest.raises(InvalidConfigError, match="zzz"):
        fn()
    with routing(prefer=["a", "nope"]), pytest.raises(InvalidConfigError, match="nope"):
        fn()


def test_affinity_keeps_a_key_on_one_provider_and_repins_when_it_is_benched():
    """100 calls with one key start on the same provider; benched, the key moves and stays."""
    tracker = InMemoryCooldown(3600)
    fn = routed(providers=["a", "b", "c"], strategy=RoundRobin(failover=True), cooldown=tracker)(
        lambda provider: provider
    )
    with routing(affinity="conversation-1"):
        served = {fn() for _ in range(100)}
        assert len(served) == 1
        pinned = served.pop()
        tracker.record_failure(pinned, Boom())
        moved = {fn() for _ in range(100)}
    assert len(moved) == 1
    assert pinned not in moved


def test_affinity_memory_is_bounded_and_lapses():
    """affinity_size bounds the keys kept (LRU); affinity_ttl lapses a pin."""
    clock = FakeClock()
    fn = routed(
        providers=["a", "b"], strategy=RoundRobin(failover=True), affinity_size=2, affinity_ttl=10,
        clock=clock,
    )(lambda provider: provider)  # fmt: skip
    for key in ("k1", "k2", "k3"):
        with routing(affinity=key):
            fn()
    affinity = fn.router.setup.affinity
    assert len(affinity) == 2
    assert affinity.get("k1", clock()) is None  # the least recently used key went
    assert affinity.get("k3", clock()) in {"a", "b"}
    clock.advance(11)
    assert affinity.get("k3", clock()) is None  # lapsed after affinity_ttl


# -- rate limits ---------------------------------------------------------------------------------


def test_a_provider_without_a_token_is_passed_over_as_rate_limited(path):
    """'2/min' on a: the third call skips it (reason 'rate limited'), b serves."""
    clock = FakeClock()
    events = []
    fn = path.routed(["a", "b"], rate_limits={"a": "2/min"}, clock=clock, on_event=events.append)(
        lambda provider: provider
    )
    assert [fn(), fn()] == ["a", "a"]
    result = fn.route()
    assert (result.provider, result.skipped) == ("b", ("a",))
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason) for e in skips] == [("a", "rate limited")]
    assert 29 < skips[0].remaining <= 30
    assert fn.router.status()["a"].tokens == pytest.approx(0.0, abs=1e-6)


def test_rate_limits_bind_the_terminus_and_the_call_waits_within_timeout(path):
    """Every provider out of tokens: the call waits for the earliest token, within timeout."""
    fn = path.routed(["a"], rate_limits={"a": "20/s"}, timeout=1.0)(lambda provider: provider)
    served = [fn() for _ in range(25)]  # 20 at once, 5 more as tokens come (50 ms apart)
    assert served == ["a"] * 25


def test_a_call_out_of_tokens_waits_for_the_next_token_not_the_budget(logs, path):
    """'20/s', timeout=1: the 21st call waits the 50 ms until a token, reason 'rate limited'.

    A fake clock (moved by the wait itself) keeps a slow machine from refilling a token
    while the first 20 calls run, which would leave the 21st nothing to wait for.
    """
    clock = FakeClock()
    limits = InMemoryRateLimiter({"a": "20/s"}, clock=clock)
    fn = path.routed(["a"], rate_limits=limits, timeout=1.0, clock=clock)(lambda provider: provider)
    # The wait passes on the fake clock as the router announces it.
    sink = logger.add(
        lambda m: clock.advance(m.record["extra"]["wait"]),
        filter=lambda r: r["message"].startswith("waiting for a provider"),
    )
    try:
        assert [fn() for _ in range(21)] == ["a"] * 21
    finally:
        logger.remove(sink)
    waited = logs.find("waiting for a provider")
    assert [r["extra"]["reason"] for r in waited] == ["rate limited"]  # once, the 21st call
    assert waited[0]["extra"]["providers"] == "a"
    assert waited[0]["extra"]["wait"] == pytest.approx(0.05)  # one token's refill, not the budget


def test_a_rate_limit_wait_past_the_budget_is_a_deadline_error(logs, path):
    """No token within timeout: DeadlineExceededError at once (no wait), nothing attempted."""
    fn = path.routed(["a"], rate_limits={"a": "1/h"}, timeout=0.1)(lambda provider: provider)
    fn()
    with pytest.raises(DeadlineExceededError, match="rate limited: a") as info:
        fn()
    assert info.value.attempts == ()
    assert logs.find("waiting for a provider") == []  # said so at once, did not wait it out


def test_a_token_due_exactly_at_the_deadline_is_waited_for(logs, path):
    """The next token comes exactly when the budget ends: the call waits (it might come in
    time), then ends out of time; only a token due after the deadline is refused at once."""
    clock = FakeClock()
    limits = InMemoryRateLimiter({"a": RateLimit(1, 0.1)}, clock=clock)
    fn = path.routed(["a"], rate_limits=limits, timeout=0.1, clock=clock)(lambda provider: provider)
    assert fn() == "a"  # the only token: the next one is due in exactly 0.1 s
    with pytest.raises(DeadlineExceededError, match="rate limited: a"):
        fn()
    [wait] = logs.find("waiting for a provider")
    assert wait["extra"]["wait"] == pytest.approx(0.1)


def test_a_failure_then_no_token_within_the_budget_is_a_deadline_error(path):
    """a fails, b has no token before the deadline: DeadlineExceededError (from a's error)."""

    def call(provider):
        if provider == "a":
            raise Boom(provider)
        return provider

    limits = InMemoryRateLimiter({"b": "1/h"})
    limits.try_acquire("b")  # b's only token this hour
    fn = path.routed(["a", "b"], rate_limits=limits, timeout=0.1, cooldown=None)(call)
    with pytest.raises(DeadlineExceededError, match="rate limited: b") as info:
        fn()
    assert [a.provider for a in info.value.attempts] == ["a"]
    assert isinstance(info.value.__cause__, Boom)


def test_without_a_budget_a_call_out_of_tokens_waits_for_one(path):
    """No timeout=: the call waits for the next token (nothing else could change)."""
    fn = path.routed(["a"], rate_limits={"a": "20/s"})(lambda provider: provider)
    assert [fn() for _ in range(21)] == ["a"] * 21


def test_a_wait_for_a_token_under_a_frozen_clock_ends_by_real_time(logs, path):
    """The limiter's clock never moves: three real 0.1 s waits spend the 0.25 s budget."""
    clock = FakeClock()
    limits = InMemoryRateLimiter({"a": "10/s"}, clock=clock)
    fn = path.routed(["a"], rate_limits=limits, timeout=0.25, clock=clock)(
        lambda provider: provider
    )
    assert [fn() for _ in range(10)] == ["a"] * 10  # the burst
    with pytest.raises(DeadlineExceededError, match="rate limited: a"):
        fn()
    waits = [r["extra"]["wait"] for r in logs.find("waiting for a provider")]
    assert waits == [pytest.approx(0.1)] * 3


def test_a_shared_rate_limiter_caps_two_routers_together(path):
    """One InMemoryRateLimiter passed to two routers: their calls share the bucket."""
    clock = FakeClock()
    limits = InMemoryRateLimiter({"a": "3/min"}, clock=clock)
    one = path.routed(["a", "b"], rate_limits=limits, clock=clock)(lambda provider: provider)
    two = path.routed(["a", "b"], rate_limits=limits, clock=clock)(lambda provider: provider)
    assert [one(), two(), one(), two()] == ["a", "a", "a", "b"]


# -- retry budget --------------------------------------------------------------------------------


def test_a_retry_budget_caps_attempts_in_a_total_outage(path):
    """ratio 0.2, 10/s: in an outage attempts stay <= 1.2 x calls + 10 x (seconds + 1)."""
    clock = FakeClock()
    budget = RetryBudget(0.2, 10, clock=clock)
    attempts = Counter()

    def call(provider):
        attempts["all"] += 1
        raise Boom(provider)

    fn = path.routed(["a", "b", "c"], cooldown=None, retry_budget=budget, clock=clock)(call)
    calls = 0
    refused = 0
    for _ in range(20):  # 20 seconds of 100 calls each
        for _ in range(100):
            calls += 1
            try:
                fn()
            except AllProvidersFailedError as error:
                refused += "retry budget exhausted" in str(error)
        clock.advance(1.0)
    assert attempts["all"] <= 1.2 * calls + 10 * (20 + 1)
    assert refused > 0


def test_a_retry_budget_allows_failover_while_traffic_is_healthy(path):
    """With deposits from healthy calls, an occasional failover is allowed."""
    clock = FakeClock()
    budget = RetryBudget(0.2, 0, clock=clock)
    state = {"down": False}

    def call(provider):
        if state["down"] and provider == "a":
            raise Boom("a")
        return provider

    fn = path.routed(["a", "b"], cooldown=None, retry_budget=budget, clock=clock)(call)
    for _ in range(10):
        fn()  # 10 calls deposit 2 attempts
    state["down"] = True
    assert [fn(), fn()] == ["b", "b"]
    with pytest.raises(AllProvidersFailedError, match="retry budget exhausted"):
        fn()


def test_status_shows_strategy_state():
    """status() rows carry weights, in-flight counts, latency estimates and tokens."""
    fn = routed(
        providers=["a", "b"], strategy=Weighted({"a": 2, "b": 1}), rate_limits={"a": "5/s"}
    )(lambda provider: provider)
    fn()
    status = fn.router.status()
    assert (status["a"].weight, status["b"].weight) == (2.0, 1.0)
    assert status["a"].tokens is not None
    assert status["b"].tokens is None
    assert "weight" in repr(status)
    assert "tokens" in repr(status)


@pytest.mark.parametrize(
    "strategy",
    [
        "fallback",
        RoundRobin(failover=True),
        Weighted({"a": 1, "b": 1, "c": 1}),
        LeastBusy(),
        LeastLatency(),
    ],
    ids=repr,
)
def test_balanced_strategies_count_skips_of_a_benched_provider_as_fallback_does(strategy, clock):
    """a is benched after its first failure: every later call passes it over, counted
    in status() and as a ProviderSkipped event; b and c still share the turns."""
    events: list[object] = []

    def call(provider: str) -> str:
        if provider == "a":
            raise RuntimeError("down")
        return provider

    fn = routed(
        providers=["a", "b", "c"], strategy=strategy, cooldown=30, clock=clock,
        on_event=events.append,
    )(call)  # fmt: skip
    served = [fn.route() for _ in range(7)]
    failed_at = next(i for i, r in enumerate(served) if r.attempts[0].error is not None)
    later = served[failed_at + 1 :]
    assert all(r.skipped == ("a",) for r in later)
    status = fn.router.status()
    assert (status["a"].failures, status["a"].skips) == (1, len(later))
    skipped = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [e.provider for e in skipped] == ["a"] * len(later)
    if not isinstance(strategy, str | LeastBusy | LeastLatency):
        assert {r.provider for r in later} == {"b", "c"}


def test_least_latency_wins_its_traffic_back_within_two_explorations_after_an_outlier(path):
    """a (100 ms) beside b (150 ms): after one 30 s outlier a serves again at its second
    exploration, the 39th call (documented: within 40 calls, 2 x 1/explore)."""
    clock = FakeClock()
    speed = {"a": 0.1, "b": 0.15}

    def call(provider):
        clock.advance(speed[provider])
        return provider

    once = path.routed(["a", "b"], strategy=LeastLatency(), clock=clock, cooldown=None)(call)
    fn = once

    for _ in range(40):
        once()
    speed["a"] = 30.0
    while once() != "a":  # the next call on a (an exploration) is the outlier
        pass
    speed["a"] = 0.1
    estimate = fn.router.status()["a"].latency_estimate
    assert estimate == pytest.approx(0.2)  # at most doubled by one sample
    served = [once() for _ in range(60)]
    back = served.index("a")  # its first exploration: still slower than b
    assert served[back + 1 :].index("a") + back + 1 == 38  # the second: it serves again
    assert served[38:58] == ["a"] * 20


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_least_latency_measures_the_provider_that_always_loses_the_hedge(gate, kind):
    """slow always loses the hedge: its losing attempts are censored samples (slower than
    the time they ran), so calls start on fast, but for exploration (1 in 20)."""
    clock = FakeClock()
    events = []
    ran = threading.Semaphore(0)  # slow has run its second (a handshake, not a sleep)

    def call(provider):
        if provider == "slow":
            clock.advance(1.0)  # it runs, the router's clock goes on; then it hangs
            ran.release()
            gate.wait(30)
            return provider
        info = current_attempt()
        if info is not None and info.attempt == 2:  # the hedge: slow started before it
            assert ran.acquire(timeout=10)
        clock.advance(0.1)
        return provider

    async def acall(provider):
        if provider == "slow":
            clock.advance(1.0)
            await asyncio.sleep(30)  # cancelled when it loses
        clock.advance(0.1)
        return provider

    fn = routed(
        providers=["slow", "fast"], strategy=LeastLatency(), clock=clock, hedge_after=0.5,
        cooldown=None, max_abandoned=1000, on_event=events.append,
    )(acall if kind == "async" else call)  # fmt: skip
    for _ in range(40):
        result = asyncio.run(fn.route()) if kind == "async" else fn.route()
        assert result.provider == "fast"
    picks = first_picks(events)
    # the first call (no samples: list order) and the explorations (calls 20 and 40)
    expected = ["fast"] * 40
    expected[0] = expected[19] = expected[39] = "slow"
    assert picks == expected
    assert fn.router.status()["slow"].latency_estimate == pytest.approx(1.1)
