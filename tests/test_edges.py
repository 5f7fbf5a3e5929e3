"""Issue 8: the edges real use reaches — caller bugs, errors, config, memory, races."""

from __future__ import annotations

import _thread
import contextvars
import gc
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import pytest
import tenacity

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    InvalidConfigError,
    RedisCooldown,
    Router,
    current_attempt,
    http_status,
    routed,
)


class Boom(Exception):
    """A provider failure."""


class RateLimited(Exception):
    pass


# -- 1. caller bugs -------------------------------------------------------------------


@pytest.mark.parametrize(
    "bug",
    [
        TypeError,
        AttributeError,
        NameError,
        UnboundLocalError,
        AssertionError,
        ImportError,
        NotImplementedError,
    ],
)
def test_a_caller_bug_falls_back_but_benches_nobody(bug):
    """After f() fails on a, b, c with a bug, nothing is in cooldown; next call starts at a."""
    calls: list[str] = []

    @routed(providers=["a", "b", "c"])
    def f(provider):
        calls.append(provider)
        raise bug("oops")

    with pytest.raises(AllProvidersFailedError) as info:
        f()
    assert calls == ["a", "b", "c"]
    assert "looks like a bug in the routed function" in str(info.value)
    assert f.router.tracker.snapshot() == {}
    assert [a.counted for a in info.value.attempts] == [False, False, False]
    with pytest.raises(AllProvidersFailedError):
        f()
    assert calls[3:] == ["a", "b", "c"]


def test_mixed_errors_get_no_bug_hint():
    """The bug hint appears only when every attempt raised the same caller bug."""

    @routed(providers=["a", "b"], cooldown=None)
    def f(provider):
        raise TypeError("x") if provider == "a" else Boom("y")

    with pytest.raises(AllProvidersFailedError) as info:
        f()
    assert "bug" not in str(info.value)


def test_an_explicit_cooldown_on_replaces_the_default_entirely():
    """cooldown_on=Exception counts a TypeError too."""

    @routed(providers=["a", "b"], cooldown_on=Exception)
    def f(provider):
        raise TypeError("x")

    with pytest.raises(AllProvidersFailedError):
        f()
    assert set(f.router.tracker.snapshot()) == {"a", "b"}


# -- 3. errors keep their information ----------------------------------------------------


def test_except_star_keeps_the_type_and_attributes(clock):
    """except* RateLimited yields an AllProvidersFailedError with attempts/skipped/last_error."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", Boom())

    @routed(providers=["a", "b", "c"], cooldown=tracker)
    def f(provider):
        raise RateLimited(provider) if provider == "b" else Boom(provider)

    caught = None
    try:
        f()
    except* RateLimited as group:
        caught = group
    except* Boom:
        pass
    assert isinstance(caught, AllProvidersFailedError)
    assert [a.provider for a in caught.attempts] == ["b", "c"]
    assert caught.skipped == ("a",)
    assert str(caught.last_error) == "c"
    assert [str(e) for e in caught.exceptions] == ["b"]


def test_the_message_names_tried_and_skipped_providers(clock):
    """'all providers failed (c); skipped in cooldown: a, b'."""
    tracker = InMemoryCooldown(10, clock=clock)
    tracker.record_failure("a", Boom())
    tracker.record_failure("b", Boom())

    @routed(providers=["a", "b", "c"], cooldown=tracker)
    def f(provider):
        raise Boom(provider)

    with pytest.raises(AllProvidersFailedError) as info:
        f()
    assert str(info.value).startswith("all providers failed (c); skipped in cooldown: a, b")
    assert info.value.skipped == ("a", "b")


@pytest.mark.parametrize("hooks", [None, [lambda e: None]])
def test_a_non_trigger_error_reaches_the_caller_without_context(hooks):
    """The second provider's non-trigger error carries no __context__ from the first, on every path."""

    class Fatal(Exception):
        pass

    @routed(providers=["a", "b"], fallback_on=Boom, on_event=hooks)
    def f(provider):
        if provider == "a":
            raise Boom("a")
        raise Fatal("b")

    with pytest.raises(Fatal) as info:
        f()
    assert info.value.__context__ is None
    assert info.value.__cause__ is None


def test_keyboard_interrupt_is_never_retried_by_a_template():
    """A retry= template that retries everything still lets Ctrl-C through at once."""
    calls: list[str] = []
    retry = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(BaseException),
        stop=tenacity.stop_after_attempt(5),
        wait=tenacity.wait_none(),
    )

    @routed(providers=["a", "b"], retry=retry)
    def f(provider):
        calls.append(provider)
        if len(calls) == 1:
            raise Boom
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        f()
    assert calls == ["a", "a"]
    assert f.router.status()["a"].failures == 0


# -- 5. configuration that cannot fail late -----------------------------------------------


@pytest.mark.parametrize("bad", [int, dict, 5, "TypeError", (ValueError, int)])
@pytest.mark.parametrize("argument", ["fallback_on", "cooldown_on"])
def test_matchers_reject_non_exceptions_when_decorating(argument, bad):
    """int, a non-exception class, or a tuple holding one: InvalidConfigError naming it."""
    with pytest.raises(InvalidConfigError, match=argument):
        routed(providers=["a"], **{argument: bad})


@pytest.mark.parametrize("bad", [99, 600, range(90, 200), range(500, 601), True, "429"])
def test_http_status_rejects_codes_outside_100_599(bad):
    """Codes and ranges outside 100-599 are refused, naming the value."""
    with pytest.raises(InvalidConfigError, match="http_status"):
        http_status(bad)


@pytest.mark.memory
def test_http_status_ranges_cost_no_memory_per_code():
    """http_status(range(100, 600)) is about as big as one range."""

    class E(Exception):
        status_code = 503

    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    predicate = http_status(range(100, 600))
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    # Only what the classification module allocated (where http_status builds its
    # predicate): threads left by other tests may allocate meanwhile.
    ours = [tracemalloc.Filter(inclusive=True, filename_pattern="*fallback_router/_classify.py")]
    diff = after.filter_traces(ours).compare_to(before.filter_traces(ours), "filename")
    grown = sum(s.size_diff for s in diff)
    assert grown < 4_000, [str(d) for d in diff[:5]]
    assert predicate(E())


@pytest.mark.parametrize("argument", ["cooldown", "timeout"])
def test_router_numbers_reject_huge_ints(argument):
    """10**400 is an InvalidConfigError, not an OverflowError."""
    with pytest.raises(InvalidConfigError, match=argument):
        Router(["a"], **{argument: 10**400})


@pytest.mark.parametrize("argument", ["duration", "max_duration", "multiplier", "jitter"])
def test_tracker_numbers_reject_huge_ints(argument):
    """Tracker policy numbers reject 10**400 with InvalidConfigError."""
    with pytest.raises(InvalidConfigError, match=argument):
        InMemoryCooldown(**{argument: 10**400})


@pytest.mark.parametrize("argument", ["op_timeout", "backoff", "duration"])
def test_redis_numbers_reject_huge_ints(redis_client, argument):
    """RedisCooldown's numbers reject 10**400 with InvalidConfigError."""
    with pytest.raises(InvalidConfigError, match=argument):
        RedisCooldown(redis_client, **{argument: 10**400})


# -- 6. long-running processes ----------------------------------------------------------


def test_reset_and_status_are_safe_while_threads_call():
    """16 threads call while another resets and reads status: nothing raises, counts stay sane."""
    names = [f"p{i}" for i in range(40)]
    counter = iter(range(10**9))

    @routed(providers=lambda: [names[next(counter) % 40]])
    def f(provider):
        return provider

    stop = threading.Event()
    errors: list[BaseException] = []
    barrier = threading.Barrier(17)

    def call():
        barrier.wait()
        try:
            while not stop.is_set():
                f()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    barrier.wait()
    try:
        for _ in range(300):
            f.router.reset()
            for row in f.router.status():
                assert row.successes >= 0
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


@pytest.mark.memory
def test_counts_are_bounded_for_a_changing_provider_list():
    """100,000 distinct names over a router's life: counts kept for current + RECENT_NAMES."""
    from fallback_router import RECENT_NAMES

    state = {"i": 0}

    def providers():
        state["i"] += 1
        return [f"name-{state['i']}", "steady"]

    @routed(providers=providers, exempt=(), cooldown=None)
    def f(provider):
        if provider != "steady":
            raise Boom(provider)
        return provider

    tracemalloc.start()
    for _ in range(2_000):
        f()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(100_000):
        f()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    stats = f.router._stats
    assert len(stats._names) <= 2 + RECENT_NAMES
    assert len(stats._failures) <= 2 + RECENT_NAMES
    assert grown < 1_000_000  # unbounded growth would be ~30 MB


def test_last_error_keeps_no_frames_alive():
    """The status' last_error has no traceback, cause or context; big locals are freed."""

    class Big:
        pass

    alive: list[object] = []

    @routed(providers=["a", "b"], cooldown=None)
    def f(provider):
        big = Big()
        alive.append(__import__("weakref").ref(big))
        try:
            raise KeyError("inner")
        except KeyError:
            raise Boom(provider) from None

    with pytest.raises(AllProvidersFailedError):
        f()
    gc.collect()
    error = f.router.status()["a"].last_error
    assert isinstance(error, Boom)
    assert str(error) == "a"
    assert error.__traceback__ is None
    assert error.__context__ is None
    assert all(ref() is None for ref in alive)


def test_rows_of_finished_threads_are_folded_including_raw_threads():
    """Threads started with _thread.start_new_thread free their rows; counts stay exact."""

    @routed(providers=["a"])
    def f(provider):
        return provider

    def work(done):
        for _ in range(10):
            f()
        done.release()

    for _ in range(50):
        done = threading.Lock()
        done.acquire()
        _thread.start_new_thread(work, (done,))
        done.acquire()
        time.sleep(0)  # let the raw thread finish tearing down (not a cooldown wait)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: f(), range(40)))
    for _ in range(100):  # the last raw thread's teardown may lag a moment
        f.router.status()
        if len(f.router._stats._threads) <= 6:
            break
        time.sleep(0.01)
    assert f.router.status()["a"].successes == 540
    assert len(f.router._stats._threads) <= 6


def test_a_copied_context_keeps_the_attempt_it_was_copied_with():
    """copy_context() inside an attempt, run later in a pool, sees that attempt, not later ones."""
    copies: dict[str, contextvars.Context] = {}

    @routed(providers=["a", "b"], exempt={"a"})
    def f(provider, fail):
        copies[provider] = contextvars.copy_context()
        if fail and provider == "a":
            raise Boom
        return provider

    f(True)  # a fails (copied during attempt 1), b serves (attempt 2)
    f(False)
    with ThreadPoolExecutor(1) as pool:
        seen_b = pool.submit(copies["b"].run, current_attempt).result()
    assert seen_b is not None
    assert (seen_b.provider, seen_b.attempt) == ("b", 2)
    seen_a = copies["a"].run(current_attempt)
    assert seen_a is not None
    assert (seen_a.provider, seen_a.attempt) == ("a", 1)
    assert current_attempt() is None


class CountingDict(dict):
    """A dict that counts whole-table walks (iteration, items, values, keys, copies)."""

    walks = 0

    def _walk(self, method, *args):
        CountingDict.walks += 1
        return method(self, *args)

    def __iter__(self):
        return self._walk(dict.__iter__)

    def items(self):
        return self._walk(dict.items)

    def values(self):
        return self._walk(dict.values)

    def keys(self):
        return self._walk(dict.keys)

    def copy(self):
        return self._walk(dict.copy)


def test_tracker_writes_do_not_scan_every_provider(clock):
    """With 100,000 providers in cooldown, writes walk no table: only their own entries."""
    tracker = InMemoryCooldown(60, threshold=2, clock=clock)
    for table in ("_deadlines", "_failures", "_levels", "_probes", "_due"):
        setattr(tracker, table, CountingDict(getattr(tracker, table)))
    for i in range(100_000):
        tracker.record_failure(f"p{i}", Boom())
        tracker.record_failure(f"p{i}", Boom())
    CountingDict.walks = 0
    clock.advance(1)
    for _ in range(1_000):
        tracker.record_failure("x", Boom())
        tracker.record_success("x")
    assert CountingDict.walks == 0
    assert len(tracker._deadlines) == 100_000
    clock.advance(61 + 60)  # every cooldown and its half-open window lapse
    tracker.record_failure("y", Boom())
    assert set(tracker.snapshot()) == {"y"}


def test_control_characters_in_names_keep_one_row_per_provider():
    """A name with a newline or NUL is escaped in the text and Markdown tables."""

    @routed(providers=["a\nb", "c\x00d|e"])
    def f(provider):
        raise Boom("line1\nline2")

    with pytest.raises(AllProvidersFailedError):
        f()
    status = f.router.status()
    assert len(repr(status).splitlines()) == 3
    assert len(status._repr_markdown_().splitlines()) == 4
    assert "a\\nb" in repr(status)
    assert "c\\x00d\\|e" in status._repr_markdown_()
