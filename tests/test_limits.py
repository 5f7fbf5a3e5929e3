"""Concurrency limits (DESIGN §6): max_concurrency, saturated providers passed over, waits
for a free slot in arrival order, bounded by the budget.
"""

from __future__ import annotations

import re
import threading
import time

import pytest

from fallback_router import (
    ConcurrencyLimiter,
    DeadlineExceededError,
    Event,
    InMemoryRateLimiter,
    InvalidConfigError,
    ProviderSkipped,
    routed,
)

from .support.helpers import Boom, saturated_router


def test_a_budget_spent_on_saturated_and_rate_limited_providers_says_both(path):
    """'time budget of 0.05 s ran out after 0 attempt(s); skipped saturated: a; skipped
    rate limited: b'."""
    limiter = ConcurrencyLimiter({"a": 1})
    limiter.try_acquire("a")  # a's only slot, held elsewhere
    rates = InMemoryRateLimiter({"b": "1/h"})
    rates.try_acquire("b")  # b's only token this hour
    fn = path.routed(["a", "b"], max_concurrency=limiter, rate_limits=rates, timeout=0.05)(
        lambda provider: provider
    )
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    assert str(info.value) == (
        "time budget of 0.05 s ran out after 0 attempt(s); skipped saturated: a;"
        " skipped rate limited: b"
    )
    assert (info.value.timeout, info.value.attempts) == (0.05, ())


def test_a_saturated_provider_is_passed_over_and_listed():
    """Sync only (a second thread holds the slot): max_concurrency=1: while a runs, another call goes to b with a in skipped."""
    inside, release = threading.Event(), threading.Event()
    events: list[object] = []

    @routed(providers=["a", "b"], max_concurrency=1, on_event=events.append)
    def f(provider, block):
        if block:
            inside.set()
            release.wait(10)
        return provider

    first = threading.Thread(target=f, args=(True,))
    first.start()
    assert inside.wait(10)
    result = f.route(False)
    release.set()
    first.join()
    assert (result.provider, result.skipped) == ("b", ("a",))
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason) for e in skips] == [("a", "saturated")]
    assert f.router.tracker.snapshot() == {}  # saturation is not a failure


def test_a_saturated_skip_is_logged_with_its_reason(logs, path):
    """A saturated provider's skip: a debug log and a ProviderSkipped, both with the reason."""
    limiter = ConcurrencyLimiter({"a": 1})
    assert limiter.try_acquire("a")  # another call holds a's only slot
    events: list[Event] = []
    fn = path.routed(["a", "b"], max_concurrency=limiter, on_event=events.append)(lambda p: p)
    assert fn() == "b"
    [record] = logs.find("skipping saturated provider")
    assert record["message"] == "skipping saturated provider: a (saturated)"
    assert record["extra"] == {"provider": "a", "reason": "saturated"}
    skips = [e for e in events if isinstance(e, ProviderSkipped)]
    assert [(e.provider, e.reason, e.remaining) for e in skips] == [("a", "saturated", 0.0)]
    limiter.release("a")


def test_in_flight_never_exceeds_the_limit_and_no_call_is_lost():
    """Sync only (real threads): 24 threads, limits a=2 b=1: never more in flight than allowed; every call served."""
    lock = threading.Lock()
    in_flight = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}
    gate = threading.Event()

    @routed(providers=["a", "b"], max_concurrency={"a": 2, "b": 1})
    def f(provider):
        with lock:
            in_flight[provider] += 1
            peak[provider] = max(peak[provider], in_flight[provider])
        gate.wait(10)
        with lock:
            in_flight[provider] -= 1
        return provider

    results: list[str] = []
    barrier = threading.Barrier(24)

    def call():
        barrier.wait()
        results.append(f())

    threads = [threading.Thread(target=call) for _ in range(24)]
    for t in threads:
        t.start()
    for _ in range(200):
        with lock:
            if in_flight["a"] + in_flight["b"] == 3:
                break
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join()
    assert len(results) == 24
    assert peak == {"a": 2, "b": 1}
    assert f.router.limiter.in_flight("a") == f.router.limiter.in_flight("b") == 0


def test_a_failed_attempt_gives_its_slot_back(path):
    """A failed attempt gives its concurrency slot back before the next provider."""
    from fallback_router import ConcurrencyLimiter

    limiter = ConcurrencyLimiter(1)

    def call(provider):
        if provider == "a":
            raise Boom(provider)
        return provider

    fn = path.routed(["a", "b"], max_concurrency=limiter, cooldown=None)(call)
    assert fn() == "b"
    assert (limiter.in_flight("a"), limiter.in_flight("b")) == (0, 0)


def test_round_robin_moves_to_the_next_free_provider(path):
    """Round-robin skips a saturated pick for the next provider with a free slot."""
    limiter = ConcurrencyLimiter({"a": 1})
    assert limiter.try_acquire("a")
    f = path.routed(["a", "b", "c"], strategy="round_robin", max_concurrency=limiter)(
        lambda provider: provider
    )

    assert [f() for _ in range(3)] == ["b", "b", "c"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", {"a": 0}, {"zzz": 1}])
def test_max_concurrency_is_validated_when_decorating(bad):
    """Bad limits and unknown names are InvalidConfigError."""
    with pytest.raises(InvalidConfigError, match="max_concurrency"):
        routed(providers=["a"], max_concurrency=bad)


# -- waiting for a slot --------------------------------------------------------------------


def test_waiting_for_a_slot_is_bounded_by_timeout(path):
    """Every provider saturated and the slot never frees: DeadlineExceededError."""
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire("a")
    f = path.routed(["a"], max_concurrency=limiter, timeout=0.05)(lambda provider: provider)

    with pytest.raises(DeadlineExceededError):
        f()
    limiter.release("a")
    assert f() == "a"


def test_saturated_providers_are_named_in_the_error():
    """Sync only (a second thread holds the slot): a is busy: b fails, then the call waits for a's slot and tries it: both named."""
    import threading

    from fallback_router import AllProvidersFailedError, AttemptFailed

    inside, release = threading.Event(), threading.Event()

    def on_event(event):
        if isinstance(event, AttemptFailed) and event.provider == "b":
            release.set()  # a's slot frees once b has failed

    @routed(providers=["a", "b"], max_concurrency=1, cooldown=None, on_event=on_event)
    def f(provider, block):
        if block:
            inside.set()
            release.wait(10)
            return provider
        raise Boom(provider)

    first = threading.Thread(target=f, args=(True,))
    first.start()
    assert inside.wait(10)
    try:
        with pytest.raises(AllProvidersFailedError) as info:
            f(False)
    finally:
        release.set()
        first.join()
    # a was waited for and then tried: an attempt, not a skip
    assert str(info.value) == "all providers failed (b, a) (2 sub-exceptions)"
    assert info.value.skipped == ()


def test_a_benched_terminus_waited_for_is_forced(path):
    """A benched terminus the call waited a slot for is forced: events in order."""
    from fallback_router import AttemptStarted, TerminusForced

    fn, limiter, *_, events = saturated_router(
        benched=["b"], release_on=[("ProviderSkipped", "b", ["b"])], path=path
    )
    assert limiter.try_acquire("b")  # b is busy elsewhere
    result = fn.route()
    assert (result.provider, result.was_terminus) == ("b", True)
    assert [type(e).__name__ for e in events] == [
        "CallStarted",
        "AttemptStarted",  # a
        "AttemptFailed",
        "CooldownEntered",
        "ProviderSkipped",  # b: saturated, waited for
        "TerminusForced",
        "AttemptStarted",  # b
        "AttemptSucceeded",
        "CallSucceeded",
    ]
    name, call_id = events[0].function, events[0].call_id
    assert events[5] == TerminusForced(function=name, call_id=call_id, provider="b", remaining=0.5)
    assert events[6] == AttemptStarted(
        function=name, call_id=call_id, provider="b", attempt=2, is_terminus=True, probe=False
    )


def test_an_available_terminus_waited_for_is_not_forced(path):
    """An available terminus the call waited a slot for is attempted normally."""
    from fallback_router import AttemptStarted, TerminusForced

    fn, limiter, *_, events = saturated_router(
        release_on=[("ProviderSkipped", "b", ["b"])], path=path
    )
    assert limiter.try_acquire("b")
    assert fn() == "b"
    assert not [e for e in events if isinstance(e, TerminusForced)]
    assert [(e.provider, e.probe) for e in events if isinstance(e, AttemptStarted)] == [
        ("a", False),
        ("b", False),  # waited for, not probed
    ]


def test_a_waited_for_provider_with_time_left_zero_is_not_forced(path):
    """a is benched (so the plan has numbers), b is clean and busy: waited for, not forced."""
    from fallback_router import TerminusForced

    fn, limiter, *_, events = saturated_router(
        benched=["a"], release_on=[("ProviderSkipped", "b", ["b"])], path=path
    )
    assert limiter.try_acquire("b")
    result = fn.route()
    assert (result.provider, result.skipped[0]) == ("b", "a")
    assert not [e for e in events if isinstance(e, TerminusForced)]


def test_every_provider_waited_for_is_tried_in_turn(path):
    """Both saturated: a is freed first and fails, then b is waited for and serves."""
    fn, limiter, *_ = saturated_router(
        release_on=[("ProviderSkipped", "b", ["a"]), ("AttemptFailed", "a", ["b"])], path=path
    )
    assert limiter.try_acquire("a")
    assert limiter.try_acquire("b")
    result = fn.route()
    assert (result.provider, [a.provider for a in result.attempts]) == ("b", ["a", "b"])


def test_primary_only_waits_for_its_provider(path):
    """primary_only waits for its saturated provider, then makes its one attempt."""
    from fallback_router import AllProvidersFailedError

    fn, limiter, *_, events = saturated_router(
        strategy="primary_only", release_on=[("ProviderSkipped", "a", ["a"])], path=path
    )
    assert limiter.try_acquire("a")
    with pytest.raises(AllProvidersFailedError, match=r"^primary-only provider failed: a$") as info:
        fn()
    assert info.value.skipped == ()  # waited for and tried: no skip
    assert [type(e).__name__ for e in events][1:4] == [
        "ProviderSkipped",  # saturated: the wait begins
        "AttemptStarted",
        "AttemptFailed",
    ]


def test_waiting_out_the_budget_is_a_deadline_error(path):
    """Waiting for a slot past the budget (on the router's clock): DeadlineExceededError."""
    import time

    from fallback_router import AttemptFailed, ConcurrencyLimiter, DeadlineExceededError

    offset = [1000.0]  # the router's clock is not time.monotonic: the wait must use it

    def clock():  # real time, jumped forward by the hook (the wait needs a moving clock)
        return time.monotonic() + offset[0]

    limiter = ConcurrencyLimiter(1)

    def on_event(event):
        if isinstance(event, AttemptFailed):
            offset[0] += 4.99  # 10 ms of the budget left while waiting for a

    def call(provider):
        raise Boom(provider)

    fn = path.routed(
        ["b", "a"],
        timeout=5,
        cooldown=None,
        max_concurrency=limiter,
        clock=clock,
        on_event=on_event,
    )(call)
    assert limiter.try_acquire("a")  # a stays busy
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    assert [a.provider for a in info.value.attempts] == ["b"]


# -- the limiter on its own ----------------------------------------------------------------


def wait_for_waiters(limiter: ConcurrencyLimiter, count: int) -> None:
    """Until ``count`` threads block in acquire_any (a thread handshake, bounded)."""
    deadline = time.monotonic() + 5
    while len(limiter._waiters) < count:
        assert time.monotonic() < deadline, "the waiter never blocked"
        time.sleep(0.001)


def test_slots_are_counted_per_provider():
    """Slots are counted per provider; unlimited names are counted too; release never below 0."""
    limiter = ConcurrencyLimiter({"a": 2, "b": 1})
    assert (limiter.limit("a"), limiter.limit("b"), limiter.limit("c")) == (2, 1, None)
    assert limiter.try_acquire("a")
    assert limiter.try_acquire("a")
    assert not limiter.try_acquire("a")
    assert limiter.try_acquire("c")  # unlimited
    assert (limiter.in_flight("a"), limiter.in_flight("c")) == (2, 1)
    limiter.release("a")
    assert limiter.in_flight("a") == 1
    limiter.release("a")
    limiter.release("a")  # an extra release never goes below zero
    assert limiter.in_flight("a") == 0
    assert limiter.try_acquire("a")
    assert repr(limiter) == "ConcurrencyLimiter({'a': 2, 'b': 1}, in_flight={'c': 1, 'a': 1})"
    assert repr(ConcurrencyLimiter(3)) == "ConcurrencyLimiter(3, in_flight={})"


def test_a_released_slot_goes_to_the_oldest_waiter_not_a_newcomer():
    """A released slot is handed to the oldest waiter, not taken by a newcomer."""
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire("a")
    got: list[str | None] = []
    waiter = threading.Thread(target=lambda: got.append(limiter.acquire_any(["b", "a"])))
    assert limiter.try_acquire("b")
    waiter.start()
    wait_for_waiters(limiter, 1)
    assert limiter.try_acquire("c")  # c is nobody's: free
    limiter.release("a")  # handed to the waiter, not freed
    waiter.join(5)
    assert got == ["a"]
    assert limiter.in_flight("a") == 1
    assert not limiter.try_acquire("a")


def test_a_newcomer_does_not_overtake_a_waiter():
    """While someone waits for a provider, try_acquire does not overtake them."""
    limiter = ConcurrencyLimiter({"a": 2})
    assert limiter.try_acquire("a")
    assert limiter.try_acquire("a")
    done = threading.Event()
    thread = threading.Thread(target=lambda: (limiter.acquire_any(["a"]), done.set()))
    thread.start()
    wait_for_waiters(limiter, 1)
    assert not limiter.try_acquire("a")  # someone waits for a: no overtaking
    limiter.release("a")
    assert done.wait(5)
    thread.join(5)
    assert limiter.acquire_any(["z"]) == "z"  # free and nobody waits: at once


def test_acquire_any_gives_up_at_the_deadline_on_its_clock():
    """acquire_any returns None at its deadline, on the clock it is given; no waiter left."""
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire("a")
    now = [100.0]
    assert limiter.acquire_any(["a"], deadline=100.0, clock=lambda: now[0]) is None
    start = time.monotonic()
    assert limiter.acquire_any(["a"], deadline=time.monotonic() + 0.02) is None
    assert time.monotonic() - start >= 0.02  # real time, a lower bound: it cannot flake
    assert limiter._waiters == type(limiter._waiters)()  # nobody left waiting


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (0, "max_concurrency for 'every provider' must be an int >= 1, got 0"),
        (True, "max_concurrency for 'every provider' must be an int >= 1, got True"),
        (1.5, "max_concurrency for 'every provider' must be an int >= 1, got 1.5"),
        ({"a": 0}, "max_concurrency for 'a' must be an int >= 1, got 0"),
        ({1: 1}, "max_concurrency keys must be provider names, got 1"),
    ],
)
def test_bad_limits_are_named(limits, message):
    """Bad limits are an InvalidConfigError naming the provider and value, exactly."""
    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        ConcurrencyLimiter(limits)
