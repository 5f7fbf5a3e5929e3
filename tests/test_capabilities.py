"""Half-open probing, per-provider concurrency limits and streaming, through the public API."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from fallback_router import (
    AllProvidersFailedError,
    ConcurrencyLimiter,
    DeadlineExceededError,
    InMemoryCooldown,
    InvalidConfigError,
    ProviderSkipped,
    current_attempt,
    routed,
)


class Boom(Exception):
    pass


# -- half-open -----------------------------------------------------------------------------


def test_exactly_one_of_16_threads_probes_an_expired_provider(clock):
    """16 threads reach a provider whose cooldown ended: exactly one attempts it."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", Boom())
    clock.advance(11)
    inside = threading.Event()
    release = threading.Event()
    served: list[str] = []
    barrier = threading.Barrier(16)

    @routed(providers=["a", "b"], cooldown=tracker)
    def f(provider):
        if provider == "a":
            inside.set()
            release.wait(10)
        served.append(provider)
        return provider

    def call():
        barrier.wait()
        f()

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    assert inside.wait(10)
    for _ in range(200):
        if served.count("b") == 15:
            break
        threading.Event().wait(0.01)  # poll for the other 15 calls (not a cooldown wait)
    release.set()
    for t in threads:
        t.join()
    assert served.count("a") == 1
    assert served.count("b") == 15
    assert tracker.snapshot() == {}  # the successful probe cleared it


def test_a_failed_probe_goes_straight_back_whatever_the_threshold(clock):
    """threshold=3, but a failed probe benches again at the next escalation level."""
    tracker = InMemoryCooldown(10, threshold=3, max_duration=100, clock=clock)
    for _ in range(3):
        tracker.record_failure("a", Boom())
    assert tracker.remaining("a") == 10
    clock.advance(10)
    assert tracker.snapshot()["a"].half_open
    events: list[object] = []

    @routed(providers=["a", "b"], cooldown=tracker, on_event=events.append)
    def f(provider):
        if provider == "a":
            raise Boom
        return provider

    assert f() == "b"
    assert tracker.remaining("a") == 20
    status = f.router.status()["a"]
    assert (status.available, status.cooldown_length) == (False, 20)
    started = [e for e in events if type(e).__name__ == "AttemptStarted"]
    assert started[0].probe is True


def test_half_open_false_restores_the_threshold(clock):
    """half_open=False: after a cooldown, one failure below the threshold benches nobody."""
    tracker = InMemoryCooldown(10, threshold=2, half_open=False, clock=clock)
    tracker.record_failure("a", Boom())
    tracker.record_failure("a", Boom())
    clock.advance(11)
    assert tracker.try_probe("a") is None
    assert tracker.record_failure("a", Boom()) == 0.0


def test_status_shows_half_open(clock):
    """ProviderStatus.half_open is True between the cooldown's end and a success."""

    @routed(providers=["a", "b"], cooldown=InMemoryCooldown(5, clock=clock), clock=clock)
    def f(provider):
        if provider == "a":
            raise Boom
        return provider

    f()
    clock.advance(6)
    row = f.router.status()["a"]
    assert (row.available, row.half_open) == (True, True)
    assert "half-open" in repr(f.router.status())


# -- concurrency limits ---------------------------------------------------------------------


def test_a_saturated_provider_is_passed_over_and_listed():
    """max_concurrency=1: while a runs, another call goes to b with a in skipped."""
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


def test_in_flight_never_exceeds_the_limit_and_no_call_is_lost():
    """24 threads, limits a=2 b=1: never more in flight than allowed; every call served."""
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


def test_waiting_for_a_slot_is_bounded_by_timeout():
    """Every provider saturated and the slot never frees: DeadlineExceededError."""
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire("a")

    @routed(providers=["a"], max_concurrency=limiter, timeout=0.05)
    def f(provider):
        return provider

    with pytest.raises(DeadlineExceededError):
        f()
    limiter.release("a")
    assert f() == "a"


def test_round_robin_moves_to_the_next_free_provider():
    """Round-robin skips a saturated pick for the next provider with a free slot."""
    limiter = ConcurrencyLimiter({"a": 1})
    assert limiter.try_acquire("a")

    @routed(providers=["a", "b", "c"], strategy="round_robin", max_concurrency=limiter)
    def f(provider):
        return provider

    assert [f() for _ in range(3)] == ["b", "b", "c"]


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", {"a": 0}, {"zzz": 1}])
def test_max_concurrency_is_validated_when_decorating(bad):
    """Bad limits and unknown names are InvalidConfigError."""
    with pytest.raises(InvalidConfigError, match="max_concurrency"):
        routed(providers=["a"], max_concurrency=bad)


# -- streaming -------------------------------------------------------------------------------


def test_a_stream_falls_back_until_the_first_item():
    """a fails before its first item; b streams; route() tells provider and attempt."""

    @routed(providers=["a", "b"])
    def chat(provider, prompt) -> Iterator[str]:
        if provider == "a":
            raise Boom("down")
        info = current_attempt()
        assert info is not None
        for word in prompt.split():
            assert current_attempt().provider == "b"
            yield f"{info.provider}:{word}"

    result = chat.route("hello there")
    assert (result.provider, result.attempt) == ("b", 2)
    assert list(result.response) == ["b:hello", "b:there"]
    assert list(chat("one two")) == ["b:one", "b:two"]


def test_a_mid_stream_error_reaches_the_consumer_and_benches_the_provider(clock):
    """After the first item, an error propagates; no other provider is tried."""
    tried: list[str] = []

    @routed(providers=["a", "b"], cooldown=InMemoryCooldown(30, clock=clock))
    def chat(provider):
        tried.append(provider)
        yield 1
        raise Boom("cut")

    stream = chat()
    assert next(stream) == 1
    with pytest.raises(Boom, match="cut"):
        next(stream)
    assert tried == ["a"]
    assert chat.router.tracker.remaining("a") == 30


def test_closing_the_consumer_closes_the_provider_generator():
    """close() on the consumer's iterator runs the provider generator's finally."""
    closed: list[str] = []

    @routed(providers=["a"], max_concurrency=1)
    def chat(provider):
        try:
            yield from range(100)
        finally:
            closed.append(provider)

    stream = chat()
    assert next(stream) == 0
    stream.close()
    assert closed == ["a"]
    assert chat.router.limiter.in_flight("a") == 0


def test_a_stream_that_fails_everywhere_raises_the_group():
    """No provider produces a first item: AllProvidersFailedError, like a plain call."""

    @routed(providers=["a", "b"])
    def chat(provider):
        raise Boom(provider)
        yield  # pragma: no cover - makes this a generator function

    with pytest.raises(AllProvidersFailedError):
        list(chat())
