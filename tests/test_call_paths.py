"""The general call path's branches that mutation testing found unpinned (issue 12):
streams through methods, probes released without a verdict, bounded status counts,
hook warnings and probe logs."""

from __future__ import annotations

import warnings

import pytest

from fallback_router import InMemoryCooldown, Router, routed
from fallback_router import RECENT_NAMES

from .conftest import FakeClock


class Boom(Exception):
    pass


def test_generator_methods_stream_through_the_general_path():
    """A routed generator method: iterating streams, .route() returns a Result."""
    calls: list[str] = []

    class Client:
        def __init__(self, failing: str) -> None:
            self.failing = failing

        @routed(providers=["a", "b"], cooldown=None)
        def stream(self, provider, n, *, sep=""):
            calls.append(provider)
            if provider == self.failing:
                raise Boom(provider)
            for i in range(n):
                yield f"{provider}{sep}{i}"

    client = Client(failing="a")
    lazy = client.stream(2, sep="-")
    assert calls == []  # nothing is routed before the first item is asked for
    assert list(lazy) == ["b-0", "b-1"]
    assert calls == ["a", "b"]
    result = client.stream.route(3, sep=":")
    assert result.provider == "b"
    assert list(result.response) == ["b:0", "b:1", "b:2"]
    result = Client.stream.route(Client(failing="b"), 1)
    assert (result.provider, list(result.response)) == ("a", ["a0"])


def test_a_probe_ending_in_a_non_trigger_error_is_released():
    """The probe is given back when the error is not a fallback trigger: probe again."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, half_open=True, clock=clock)
    state: dict[str, Exception | None] = {"error": Boom("down")}

    def call(provider):
        error = state["error"]
        if provider == "a" and error is not None:
            raise error
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker, fallback_on=Boom, clock=clock)(call)
    assert fn() == "b"  # a benched
    clock.advance(10)
    state["error"] = KeyError("the caller's bug")  # not a fallback trigger: raised as is
    with pytest.raises(KeyError):
        fn()
    assert tracker.try_probe("a") is True  # released: a new probe can be claimed
    tracker.end_probe("a")
    state["error"] = None
    call_result = fn.route()
    assert (call_result.provider, call_result.attempts[0].provider) == ("a", "a")


def test_a_plain_attempt_never_releases_anothers_probe():
    """Releasing is for the probing call only: a forced terminus leaves the probe alone."""
    clock = FakeClock()
    tracker = InMemoryCooldown(10, half_open=True, clock=clock)

    def call(provider):
        raise KeyError(provider)  # not a fallback trigger

    fn = routed(
        providers=["a"], cooldown=tracker, fallback_on=Boom, clock=clock, max_concurrency=5
    )(call)  # with a limiter, every attempt gives back what it took
    tracker.record_failure("a", Boom())
    clock.advance(10)
    assert tracker.try_probe("a") is True  # someone else probes a
    with pytest.raises(KeyError):
        fn()  # the terminus is tried anyway (not as a probe) and raises
    assert tracker.try_probe("a") is False  # the other probe is still held


@pytest.mark.parametrize("new_per_call", [1, 2, 3])
def test_status_counts_are_bounded_for_a_changing_provider_list(new_per_call):
    """Counts are kept for the current providers plus RECENT_NAMES others, newest first."""
    state = {"i": 0}

    def providers():
        state["i"] += 1
        return [f"n{k}-{state['i']}" for k in range(new_per_call)] + ["steady"]

    def call(provider):
        if provider != "steady":
            raise Boom(provider)
        return provider

    fn = routed(providers=providers, cooldown=None)(call)
    stats = fn.router._stats
    sizes = []
    for _ in range(3 * RECENT_NAMES):
        fn()
        sizes.append(len(stats._names))
        assert state["i"] == 1 or f"n0-{state['i'] - 1}" in stats._names  # newest kept
    current = new_per_call + 1
    # Never more than current + RECENT_NAMES, and the bound is reached (within a step).
    assert current + RECENT_NAMES - new_per_call < max(sizes) <= current + RECENT_NAMES
    assert min(sizes[RECENT_NAMES:]) >= current + RECENT_NAMES // 2  # trimmed to half
    assert "steady" in stats._names  # a current provider is never dropped
    assert "n0-1" not in stats._names  # the oldest went ...
    assert stats.get("n0-1") == (0, 0, None, None)  # ... with its counts
    assert stats.get(f"n0-{state['i']}")[1] == 1
    assert fn.router.status()["steady"].successes == 3 * RECENT_NAMES


def test_a_raising_hook_warns_once_pointing_at_the_caller(logs):
    def hook(event):
        raise RuntimeError("hook bug")

    fn = routed(providers=["a"], cooldown=None, on_event=hook)(lambda provider: provider)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert fn() == "a"
        assert fn() == "a"
    assert len(caught) == 1  # once per hook
    assert "on_event hook" in str(caught[0].message)
    assert caught[0].category is RuntimeWarning
    assert len(logs.find("event hook raised")) == 4  # every failure: 2 events per call


def test_only_probing_attempts_log_probing(logs):
    clock = FakeClock()
    tracker = InMemoryCooldown(10, half_open=True, clock=clock)
    fn = routed(providers=["a", "b"], cooldown=tracker, clock=clock, on_event=[lambda e: None])(
        lambda provider: provider
    )
    fn()  # with a hook every attempt is announced; only probes are logged as such
    assert not logs.find("probing half-open provider")
    tracker.record_failure("a", Boom())
    clock.advance(10)
    fn()
    (record,) = logs.find("probing half-open provider")
    assert record["message"] == "probing half-open provider: a (attempt 1)"


def test_router_repr_names_the_providers():
    assert repr(Router(providers=["a", "b"], cooldown=None)).startswith(
        "Router(providers=('a', 'b'), strategy='fallback'"
    )
    assert repr(Router(providers=lambda: ["a"], cooldown=None)).startswith(
        "Router(providers='<callable>'"
    )


def test_the_budget_runs_out_at_exactly_its_end():
    """A failure ending exactly at the deadline leaves no time: the next is not tried."""
    from fallback_router import DeadlineExceededError

    clock = FakeClock()
    tried = []

    def call(provider):
        tried.append(provider)
        clock.advance(5)
        raise Boom(provider)

    fn = routed(providers=["a", "b"], timeout=5, cooldown=None, clock=clock)(call)
    with pytest.raises(
        DeadlineExceededError, match=r"^time budget of 5.0 s ran out after 1 attempt\(s\)$"
    ):
        fn()
    assert tried == ["a"]


def test_saturated_providers_are_named_in_the_error():
    """a is busy: b fails, then the call waits for a's slot, tries it, and names both."""
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
    assert str(info.value) == (
        "all providers failed (b, a); skipped saturated: a (2 sub-exceptions)"
    )


@pytest.mark.parametrize(("code", "counts"), [(99, False), (100, True), (599, True), (600, False)])
def test_status_codes_count_from_100_to_599(code, counts):
    from fallback_router import status_of

    class Failure(Exception):
        status_code = code

    assert (status_of(Failure()) == code) is counts


def test_every_log_record_and_event_of_a_fallback_carries_its_facts(logs):
    """One fallback, traced: the records' fields and the events, exactly."""
    from fallback_router import (
        AttemptFailed,
        AttemptStarted,
        AttemptSucceeded,
        CooldownEntered,
    )

    clock = FakeClock()
    events: list[object] = []
    error = Boom("a down")

    def call(provider):
        clock.advance(0.5 if provider == "a" else 0.25)
        if provider == "a":
            raise error
        return provider

    fn = routed(providers=["a", "b"], cooldown=30, clock=clock, on_event=events.append)(call)
    assert fn() == "b"
    (failed,) = logs.find("provider failed")
    assert failed["extra"] == {
        "provider": "a",
        "attempt": 1,
        "of": 2,
        "is_terminus": False,
        "latency": 0.5,
        "error": error,
        "counted": True,
    }
    (cooled,) = logs.find("provider entering cooldown")
    assert cooled["extra"] == {"provider": "a", "duration": 30.0, "error": error}
    (served,) = logs.find("succeeded on fallback provider")
    assert served["extra"] == {"provider": "b", "attempt": 2, "latency": 0.25}
    name = call.__qualname__
    assert events == [
        AttemptStarted(function=name, provider="a", attempt=1, is_terminus=False, probe=False),
        AttemptFailed(
            function=name,
            provider="a",
            attempt=1,
            error=error,
            latency=0.5,
            counted=True,
            fallback=True,
        ),
        CooldownEntered(function=name, provider="a", duration=30.0, reason=error),
        AttemptStarted(function=name, provider="b", attempt=2, is_terminus=True, probe=False),
        AttemptSucceeded(function=name, provider="b", attempt=2, latency=0.25),
    ]
    fn()  # a is benched: b serves on the first attempt, which is not logged as a fallback
    assert len(logs.find("succeeded on fallback provider")) == 1


def test_a_single_caller_bug_is_named_in_the_error():
    from fallback_router import AllProvidersFailedError

    def call(provider):
        raise TypeError("bad argument")

    fn = routed(providers=["a"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert str(info.value) == (
        "all providers failed (a); every attempt raised TypeError: this looks like a bug "
        "in the routed function rather than a provider failure (1 sub-exception)"
    )


def test_happy_path_results_are_exact():
    """fn.route() on the inlined happy path: every field of the Result."""
    from fallback_router import Attempt, Result

    clock = FakeClock()

    def call(provider):
        clock.advance(0.25)
        return provider.upper()

    fn = routed(providers=["a", "b"], clock=clock)(call)
    assert fn.route() == Result(
        response="A",
        provider="a",
        latency=0.25,
        attempt=1,
        was_terminus=False,
        attempts=(Attempt(provider="a", error=None, latency=0.25, counted=False),),
        skipped=(),
    )
    rr = routed(providers=["a", "b"], strategy="round_robin", clock=clock)(call)
    assert [(r.provider, r.was_terminus) for r in (rr.route(), rr.route())] == [
        ("a", False),
        ("b", True),
    ]


def test_general_path_latency_is_the_serving_attempts():
    clock = FakeClock()

    def call(provider):
        clock.advance(1.0 if provider == "a" else 0.25)
        if provider == "a":
            raise Boom
        return provider

    result = routed(providers=["a", "b"], clock=clock)(call).route()
    assert (result.latency, [a.latency for a in result.attempts]) == (0.25, [1.0, 0.25])


def test_reset_clears_providers_given_as_a_mapping():
    clock = FakeClock()
    fn = routed(providers={"a": 1, "b": 2}, clock=clock)(lambda provider: provider)
    fn.router.tracker.record_failure("a", Boom())
    fn.router.reset()
    assert fn.router.status()["a"].available
    assert fn() == 1


def test_a_tracker_without_remaining_many_still_clears_counts_on_success():
    """The protocol's minimum (remaining, not remaining_many): successes still clear."""

    class Minimal:
        def __init__(self) -> None:
            self.inner = InMemoryCooldown(30, threshold=2)

        def remaining(self, name):
            return self.inner.remaining(name)

        def is_available(self, name):
            return self.inner.is_available(name)

        def record_failure(self, name, error):
            return self.inner.record_failure(name, error)

        def record_success(self, name):
            self.inner.record_success(name)

        def reset(self, name=None):
            self.inner.reset(name)

        def snapshot(self):
            return self.inner.snapshot()

    state = {"fail": True}

    def call(provider):
        if provider == "a" and state["fail"]:
            raise Boom
        return provider

    tracker = Minimal()
    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    assert fn() == "b"  # a: one failure, below the threshold
    state["fail"] = False
    assert fn() == "a"  # success: the count is cleared
    state["fail"] = True
    assert fn() == "b"  # one failure again: still below the threshold
    assert tracker.inner.is_available("a")


async def _coroutine(provider):
    return provider


async def _async_gen(provider):
    yield provider


class _AsyncCallable:
    async def __call__(self, provider):
        return provider


@pytest.mark.parametrize(
    ("fn", "name"),
    [(_coroutine, "'_coroutine'"), (_async_gen, "'_async_gen'"), (_AsyncCallable(), None)],
)
def test_async_callables_are_refused_by_name(fn, name):
    with pytest.raises(TypeError, match=r"is async; fallback_router is synchronous") as info:
        routed(providers=["a"])(fn)
    if name is not None:
        assert str(info.value).startswith(f"{name} is async")
    with pytest.raises(TypeError, match="is async"):
        Router(providers=["a"]).execute(fn)


# -- waiting for a saturated provider (the deferred walk) ----------------------------------


def saturated_router(*, benched=None, half_open=False, strategy="fallback", release_on=None):
    """a fails, b serves; the test holds slots; the hook frees them as the call goes."""
    from fallback_router import ConcurrencyLimiter

    clock = FakeClock()
    limiter = ConcurrencyLimiter(1)
    tracker = InMemoryCooldown(0.5, half_open=half_open, clock=clock)
    events: list[object] = []

    def on_event(event):
        events.append(event)
        for kind, provider, frees in release_on or ():
            if type(event).__name__ == kind and event.provider == provider:
                for name in frees:
                    limiter.release(name)

    def call(provider):
        if provider == "a":
            raise Boom(provider)
        return provider

    fn = routed(
        providers=["a", "b"],
        strategy=strategy,
        cooldown=tracker,
        max_concurrency=limiter,
        clock=clock,
        on_event=on_event,
    )(call)
    for name in benched or ():
        tracker.record_failure(name, Boom(name))
    return fn, limiter, tracker, clock, events


def test_a_benched_terminus_waited_for_is_forced():
    from fallback_router import AttemptStarted, TerminusForced

    fn, limiter, *_, events = saturated_router(
        benched=["b"], release_on=[("ProviderSkipped", "b", ["b"])]
    )
    assert limiter.try_acquire("b")  # b is busy elsewhere
    result = fn.route()
    assert (result.provider, result.was_terminus) == ("b", True)
    assert [type(e).__name__ for e in events][:5] == [
        "AttemptStarted",  # a
        "AttemptFailed",
        "CooldownEntered",
        "ProviderSkipped",  # b: saturated, waited for
        "TerminusForced",
    ]
    name = events[0].function
    assert TerminusForced(function=name, provider="b", remaining=0.5) in events
    assert events[-2] == AttemptStarted(
        function=name, provider="b", attempt=2, is_terminus=True, probe=False
    )


def test_an_available_terminus_waited_for_is_not_forced():
    from fallback_router import AttemptStarted, TerminusForced

    fn, limiter, *_, events = saturated_router(release_on=[("ProviderSkipped", "b", ["b"])])
    assert limiter.try_acquire("b")
    assert fn() == "b"
    assert not [e for e in events if isinstance(e, TerminusForced)]
    assert [(e.provider, e.probe) for e in events if isinstance(e, AttemptStarted)] == [
        ("a", False),
        ("b", False),  # waited for, not probed
    ]


def test_a_half_open_provider_waited_for_is_probed():
    from fallback_router import AttemptStarted

    fn, limiter, tracker, clock, events = saturated_router(
        benched=["b"], half_open=True, release_on=[("ProviderSkipped", "b", ["b"])]
    )
    clock.advance(0.5)  # b's cooldown is over: half-open
    assert limiter.try_acquire("b")
    assert fn() == "b"
    started = [e for e in events if isinstance(e, AttemptStarted) and e.provider == "b"]
    assert [e.probe for e in started] == [True]
    assert "b" not in tracker.snapshot()  # the probe succeeded: b is clean


def test_every_provider_waited_for_is_tried_in_turn():
    """Both saturated: a is freed first and fails, then b is waited for and serves."""
    fn, limiter, *_ = saturated_router(
        release_on=[("ProviderSkipped", "b", ["a"]), ("AttemptFailed", "a", ["b"])]
    )
    assert limiter.try_acquire("a")
    assert limiter.try_acquire("b")
    result = fn.route()
    assert (result.provider, [a.provider for a in result.attempts]) == ("b", ["a", "b"])


def test_primary_only_waits_for_its_provider():
    fn, limiter, *_ = saturated_router(
        strategy="primary_only", release_on=[("ProviderSkipped", "a", ["a"])]
    )
    assert limiter.try_acquire("a")
    with pytest.raises(Exception, match=r"all providers failed \(a\); skipped saturated: a"):
        fn()


def test_waiting_out_the_budget_is_a_deadline_error():
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

    fn = routed(
        providers=["b", "a"],
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


# -- retries within a budget ---------------------------------------------------------------


def retrying_router(timeout, attempts):
    import tenacity

    clock = FakeClock()
    tries: list[float] = []

    def call(provider):
        tries.append(clock())
        raise Boom(provider)

    retry = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_fixed(1),
        sleep=clock.advance,
    )
    fn = routed(providers=["a"], cooldown=None, retry=retry, timeout=timeout, clock=clock)(call)
    return fn, tries


def test_retries_stop_at_the_templates_limit_within_a_budget():
    fn, tries = retrying_router(timeout=100, attempts=2)
    with pytest.raises(Exception, match="all providers failed"):
        fn()
    assert tries == [1000.0, 1001.0]


def test_retries_stop_before_a_sleep_would_reach_the_deadline():
    """Budget 3 s, 1 s between tries: tries at 0, 1 and 2 s; a 4th would start at 3 s."""
    fn, tries = retrying_router(timeout=3, attempts=10)
    with pytest.raises(Exception, match="all providers failed"):
        fn()
    assert tries == [1000.0, 1001.0, 1002.0]


# -- streams -------------------------------------------------------------------------------


def test_a_stream_gets_keyword_arguments_and_holds_its_slot_until_closed():
    from fallback_router import current_attempt

    seen: list[tuple[str, int]] = []
    closed: list[str] = []

    @routed(providers=["a", "b"], max_concurrency=1, cooldown=None)
    def stream(provider, n, *, tag):
        try:
            for i in range(n):
                state = current_attempt()
                seen.append((state.provider, state.attempt))
                yield f"{tag}{provider}{i}"
        finally:
            closed.append(provider)

    result = stream.route(3, tag="#")
    items = iter(result.response)
    assert next(items) == "#a0"
    assert stream.route(1, tag="!").provider == "b"  # a's slot is held by the open stream
    items.close()  # the consumer stops early: the provider's generator is closed
    assert closed == ["b", "a"]
    assert stream.route(1, tag="!").provider == "a"  # and the slot is free again
    assert seen[0] == ("a", 1)


def test_a_stream_failing_mid_way_is_recorded_and_raised():
    from fallback_router import AttemptFailed

    events: list[object] = []

    @routed(providers=["a", "b"], cooldown=30, on_event=events.append)
    def stream(provider):
        yield 1
        raise Boom("mid-stream")

    items = stream()
    assert next(items) == 1
    with pytest.raises(Boom):
        next(items)
    (failed,) = [e for e in events if isinstance(e, AttemptFailed)]
    assert (failed.function, failed.provider, failed.attempt) == (
        stream.__wrapped__.__qualname__,
        "a",
        1,
    )
    assert not stream.router.status()["a"].available  # counted: a is benched


def test_a_half_open_stream_is_a_probe_and_its_success_clears():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, half_open=True, clock=clock)

    @routed(providers=["a", "b"], cooldown=tracker, clock=clock)
    def stream(provider):
        yield provider

    tracker.record_failure("a", Boom())
    assert list(stream()) == ["b"]
    clock.advance(10)
    assert list(stream()) == ["a"]  # the probe streamed
    assert tracker.snapshot() == {}


def test_a_forced_terminus_streams():
    clock = FakeClock()
    tracker = InMemoryCooldown(10, clock=clock)

    @routed(providers=["a", "b"], cooldown=tracker, clock=clock)
    def stream(provider):
        if provider == "a":
            raise Boom
        yield provider

    tracker.record_failure("b", Boom())
    result = stream.route()
    assert (result.provider, result.was_terminus, list(result.response)) == ("b", True, ["b"])


def test_events_of_a_method_name_the_method():
    events: list[object] = []

    class Bot:
        @routed(providers=["a"], cooldown=None, on_event=events.append)
        def ask(self, provider, prompt):
            return f"{provider}:{prompt}"

    bot = Bot()
    assert bot.ask("hi") == "a:hi"
    assert Bot.ask(bot, "hi") == "a:hi"
    assert bot.ask.route("hi").provider == "a"
    assert {e.function for e in events} == {Bot.ask.__wrapped__.__qualname__}

    class Handler:  # a callable object: no __qualname__ of its own
        def __call__(self, provider):
            return provider

    named: list[object] = []
    fn = routed(providers=["a"], cooldown=None, on_event=named.append)(Handler())
    assert fn.route().provider == "a"
    assert {e.function for e in named} == {repr(fn.__wrapped__)}


def test_a_failed_attempt_gives_its_slot_back():
    from fallback_router import ConcurrencyLimiter

    limiter = ConcurrencyLimiter(1)

    def call(provider):
        if provider == "a":
            raise Boom(provider)
        return provider

    fn = routed(providers=["a", "b"], max_concurrency=limiter, cooldown=None)(call)
    assert fn() == "b"
    assert (limiter.in_flight("a"), limiter.in_flight("b")) == (0, 0)


def test_a_waited_for_provider_with_time_left_zero_is_not_forced():
    """a is benched (so the plan has numbers), b is clean and busy: waited for, not forced."""
    from fallback_router import TerminusForced

    fn, limiter, *_, events = saturated_router(
        benched=["a"], release_on=[("ProviderSkipped", "b", ["b"])]
    )
    assert limiter.try_acquire("b")
    result = fn.route()
    assert (result.provider, result.skipped[0]) == ("b", "a")
    assert not [e for e in events if isinstance(e, TerminusForced)]


def test_primary_only_stops_after_a_failed_happy_path_attempt():
    from fallback_router import AllProvidersFailedError

    tried = []

    def call(provider):
        tried.append(provider)
        raise Boom(provider)

    fn = routed(providers=["a", "b"], strategy="primary_only")(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert tried == ["a"]


def test_round_robin_makes_one_attempt_even_after_a_failed_happy_path():
    from fallback_router import AllProvidersFailedError

    tried = []

    def call(provider):
        tried.append(provider)
        raise Boom(provider)

    fn = routed(providers=["a", "b", "c"], strategy="round_robin")(call)
    for expected in (["a"], ["a", "b"]):
        with pytest.raises(AllProvidersFailedError):
            fn()
        assert tried == expected
