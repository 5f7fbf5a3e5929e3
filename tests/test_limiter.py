"""ConcurrencyLimiter on its own: counts, arrival order, deadlines, messages."""

from __future__ import annotations

import re
import threading
import time

import pytest

from fallback_router import ConcurrencyLimiter, InvalidConfigError


def wait_for_waiters(limiter: ConcurrencyLimiter, count: int) -> None:
    """Until ``count`` threads block in acquire_any (a thread handshake, bounded)."""
    deadline = time.monotonic() + 5
    while len(limiter._waiters) < count:
        assert time.monotonic() < deadline, "the waiter never blocked"
        time.sleep(0.001)


def test_slots_are_counted_per_provider():
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
    limiter = ConcurrencyLimiter(1)
    assert limiter.try_acquire("a")
    now = [100.0]
    assert limiter.acquire_any(["a"], deadline=100.0, clock=lambda: now[0]) is None
    start = time.monotonic()
    assert limiter.acquire_any(["a"], deadline=time.monotonic() + 0.02) is None
    assert time.monotonic() - start >= 0.02
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
    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        ConcurrencyLimiter(limits)
