"""A provider that hangs (DESIGN §4, §6): timeouts that bench, one probe that stays one,
saturation by abandoned attempts that fails fast.

Hanging providers wait on an event the test sets; no assertion depends on how fast the
machine is (wall-clock bounds are generous margins against budgets of a tenth).
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from fallback_router import (
    AllProvidersFailedError,
    AttemptTimeoutError,
    DeadlineExceededError,
    InMemoryCooldown,
    RoutingError,
    routed,
)

from .conftest import FakeClock
from .support.helpers import hanging, wait_until
from .support.paths import released

#: Generous: calls with limits of 0.05-0.2 s must end far below this on a loaded machine.
MARGIN = 5.0


class Boom(Exception):
    pass


def within(fn: Any, limit: float = MARGIN) -> Any:
    """Run `fn()` in a thread; its result or error, or fail when it does not end in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), "the call blocked instead of failing at once"
    if "error" in box:
        raise box["error"]
    return box["value"]


# -- timeout= alone: a budget that runs out during an attempt benches the provider ----------


def test_a_budget_cut_counts_so_the_next_call_skips_the_hung_provider(gate, path):
    """timeout= alone: the hung first provider is benched; the next call is served by b."""
    fn = path.routed(["a", "b"], timeout=0.2)(hanging(gate, "a"))
    with pytest.raises(DeadlineExceededError) as info:
        fn()
    [attempt] = info.value.attempts
    assert isinstance(attempt.error, AttemptTimeoutError)
    assert attempt.error.kind == "budget"
    assert attempt.counted
    assert info.value.__cause__ is attempt.error
    assert not fn.router.status()["a"].available
    result = fn.route()
    assert (result.provider, result.skipped) == ("b", ("a",))


def test_async_a_budget_cut_counts_so_the_next_call_skips_the_hung_provider():
    """The async twin: the budget cancels a's attempt, benches a, and b serves next."""

    async def call(provider: str) -> str:
        if provider == "a":
            await asyncio.sleep(30)
        return provider

    fn = routed(providers=["a", "b"], timeout=0.2)(call)

    async def main() -> Any:
        with pytest.raises(DeadlineExceededError) as info:
            await fn()
        [attempt] = info.value.attempts
        assert isinstance(attempt.error, AttemptTimeoutError)
        assert (attempt.error.kind, attempt.counted) == ("budget", True)
        assert not fn.router.status()["a"].available
        return await fn.route()

    result = asyncio.run(main())
    assert (result.provider, result.skipped) == ("b", ("a",))


def test_a_budget_cut_of_a_stream_benches_its_provider(gate, path):
    """A stream whose first item does not come within the budget: its provider is benched."""

    def stream(provider: str):
        if provider == "a":
            gate.wait(30)
        yield provider

    async def astream(provider: str):
        if provider == "a":
            await released(gate)
        yield provider

    fn = path.routed(["a", "b"], timeout=0.2)(path.twin(stream, astream))
    with pytest.raises(DeadlineExceededError) as info:
        fn.items()
    assert info.value.attempts[0].counted
    assert fn.items() == ["b"]


# -- attempt_timeout= alone: saturation by abandoned attempts fails fast -----------------------


@pytest.mark.parametrize("timeout", [None, 30.0])
def test_saturation_by_abandoned_attempts_fails_at_once(gate, timeout):
    """Sync only (abandoned worker threads): max_abandoned reached and no other provider: AllProvidersFailedError at once, saying so."""
    fn = routed(
        providers=["a"], attempt_timeout=0.05, timeout=timeout, max_abandoned=2, cooldown=None
    )(hanging(gate, "a"))
    for _ in range(2):
        with pytest.raises(AllProvidersFailedError):
            fn()  # each leaves an abandoned attempt running
    with pytest.raises(AllProvidersFailedError) as info:
        within(fn)
    error = info.value
    assert "saturated by abandoned attempts" in str(error)
    assert error.attempts == ()
    assert error.skipped == ("a",)
    [reason] = error.exceptions
    assert type(reason) is RoutingError
    assert str(reason) == "a: saturated by abandoned attempts (max_abandoned=2 reached)"
    gate.set()  # the abandoned attempts end (in their threads): a serves again
    assert wait_until(lambda: serves(fn))


def serves(fn: Any) -> bool:
    try:
        return bool(fn())
    except AllProvidersFailedError:
        return False


def test_saturation_by_abandoned_attempts_after_other_failures_names_both(gate):
    """b failed, a is saturated by its abandoned attempts: the group says both, at once."""

    def call(provider: str) -> str:
        if provider == "b":
            raise Boom("b down")
        return hanging(gate, "a")(provider)

    fn = routed(providers=["a", "b"], attempt_timeout=0.05, max_abandoned=1, cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()  # a abandoned, b failed
    with pytest.raises(AllProvidersFailedError) as info:
        within(fn)
    message = info.value.message
    assert message.startswith("all providers failed (b)")
    assert message.endswith("; skipped saturated by abandoned attempts: a")
    assert [type(e) for e in info.value.exceptions] == [Boom]


# -- a half-open probe stays claimed while its abandoned attempt runs --------------------------


class InFlight:
    """Counts the provider calls running at once on `a` (and the peak)."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.calls = 0

    def __call__(self, provider: str) -> str:
        if provider != "a":
            return provider
        with self.lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        try:
            self.gate.wait(30)
        finally:
            with self.lock:
                self.now -= 1
        return "a"


def _not_timeouts(error: Exception) -> bool:
    return not isinstance(error, TimeoutError)


@pytest.mark.parametrize("cooldown_on", [None, _not_timeouts], ids=["counted", "uncounted"])
def test_a_probe_that_times_out_stays_one_while_its_attempt_hangs(gate, cooldown_on):
    """Many threads, a hung half-open provider: exactly one provider call in flight."""
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    provider = InFlight(gate)
    options: dict[str, Any] = {"cooldown_on": cooldown_on} if cooldown_on else {}
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock, timeout=0.2, **options)(
        provider
    )
    tracker.record_failure("a", Boom())
    clock.advance(60)  # a is half-open: the next call probes it
    with pytest.raises(DeadlineExceededError):
        fn()  # the probe's call gave up; its attempt still hangs
    clock.advance(5)  # past the claim's first ttl (the router's timeout), within 30 s

    served: list[str] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait()
        served.extend(fn() for _ in range(5))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(MARGIN * 4)
    assert served == ["b"] * 40
    assert (provider.calls, provider.peak) == (1, 1)
    assert tracker.remaining("a") > 0.0  # still claimed (or benched): nobody probes it

    gate.set()  # the attempt ends: it gives the probe back
    assert wait_until(lambda: provider.now == 0)
    if cooldown_on is None:  # the timeout was counted: a is benched, not half-open
        clock.advance(60 * 2)
    assert wait_until(lambda: tracker.remaining("a") == 0.0)
    assert fn() == "a"  # probed again, and cleared
    assert provider.calls == 2


def test_an_abandoned_probe_is_held_at_most_probe_ttl_after_its_call_gave_up(gate):
    """The attempt never ends: the claim lapses probe_ttl after the call gave up."""
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock, probe_ttl=20)
    provider = InFlight(gate)
    fn = routed(
        providers=["a", "b"], cooldown=tracker, clock=clock, timeout=0.2,
        cooldown_on=_not_timeouts,
    )(provider)  # fmt: skip
    tracker.record_failure("a", Boom())
    clock.advance(60)
    with pytest.raises(DeadlineExceededError):
        fn()
    clock.advance(19)
    assert fn() == "b"  # still held
    assert provider.calls == 1
    clock.advance(2)  # 21 s after the call gave up: the claim lapsed
    assert tracker.remaining("a") == 0.0
    assert tracker.try_probe("a") is True  # a new probe may go


def test_a_hedge_that_loses_keeps_its_probe_until_it_ends(gate):
    """A probe that loses a hedge stays claimed while it runs, then is given back."""
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    provider = InFlight(gate)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock, hedge_after=0.05)(provider)
    tracker.record_failure("a", Boom())
    clock.advance(60)
    result = fn.route()
    assert result.provider == "b"
    assert [(a.provider, a.abandoned) for a in result.attempts] == [("a", True), ("b", False)]
    assert [fn() for _ in range(5)] == ["b"] * 5
    assert provider.calls == 1
    gate.set()
    assert wait_until(lambda: tracker.remaining("a") == 0.0)
    assert tracker.try_probe("a") is True


def test_async_a_probe_that_times_out_stays_one(gate):
    """The async twin: the timed-out probe is cancelled; never two calls on a at once."""
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    running = {"now": 0, "peak": 0, "calls": 0}

    async def call(provider: str) -> str:
        if provider == "a":
            running["now"] += 1
            running["calls"] += 1
            running["peak"] = max(running["peak"], running["now"])
            try:
                await asyncio.sleep(30)
            finally:
                running["now"] -= 1
        return provider

    fn = routed(
        providers=["a", "b"], cooldown=tracker, clock=clock, timeout=0.2,
        cooldown_on=_not_timeouts,
    )(call)  # fmt: skip
    tracker.record_failure("a", Boom())
    clock.advance(60)

    async def main() -> list[Any]:
        return await asyncio.gather(*(fn() for _ in range(20)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert running["peak"] == 1
    assert sorted(map(str, outcomes)).count("b") == 19
    assert running["now"] == 0


def test_within_reports_a_blocked_call():
    """The helper above fails a call that blocks (so the tests cannot hang on a bug)."""
    started = time.monotonic()
    with pytest.raises(AssertionError, match="blocked"):
        within(lambda: threading.Event().wait(0.5), limit=0.05)
    assert time.monotonic() - started < MARGIN


def test_a_redis_probe_stays_claimed_while_its_abandoned_attempt_runs(gate, redis_client):
    """RedisCooldown: the probe key is renewed to probe_ttl before the call gives up (it
    was claimed for the router's 2 s timeout), and deleted when the attempt ends."""
    from fallback_router import RedisCooldown

    namespace = "abandoned-probe"
    tracker = RedisCooldown(redis_client, duration=0.05, max_duration=60, namespace=namespace)
    provider = InFlight(gate)
    fn = routed(providers=["a", "b"], cooldown=tracker, timeout=2.0, cooldown_on=_not_timeouts)(
        provider
    )
    tracker.record_failure("a", Boom())
    cooldown_key = f"fallback_router:{{{namespace}}}:cooldown:a"
    probe_key = f"fallback_router:{{{namespace}}}:probe:a"
    assert wait_until(lambda: not redis_client.exists(cooldown_key))  # Redis' clock: 50 ms
    with pytest.raises(DeadlineExceededError):
        fn()
    assert provider.calls == 1
    assert redis_client.pttl(probe_key) > 10_000  # renewed: up to 30 s, not 2 s
    assert [fn() for _ in range(3)] == ["b"] * 3
    gate.set()
    assert wait_until(lambda: not redis_client.exists(probe_key))
    assert provider.calls == 1


@pytest.mark.parametrize("cooldown_on", [None, _not_timeouts], ids=["counted", "uncounted"])
def test_a_streams_probe_that_times_out_stays_one_while_its_read_hangs(gate, cooldown_on):
    """A stream's first item hangs past the budget on a half-open provider: one read."""
    clock = FakeClock()
    tracker = InMemoryCooldown(60, clock=clock)
    provider = InFlight(gate)

    def stream(name: str):
        yield provider(name)

    options: dict[str, Any] = {"cooldown_on": cooldown_on} if cooldown_on else {}
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock, timeout=0.2, **options)(stream)
    tracker.record_failure("a", Boom())
    clock.advance(60)
    with pytest.raises(DeadlineExceededError):
        list(fn())
    clock.advance(5)  # past the claim's first ttl (the router's timeout)
    assert [list(fn()) for _ in range(5)] == [["b"]] * 5
    assert (provider.calls, provider.peak) == (1, 1)
    gate.set()  # the read ends: it gives the probe back
    if cooldown_on is None:
        clock.advance(120)
    assert wait_until(lambda: tracker.remaining("a") == 0.0)
    assert list(fn()) == ["a"]
