"""The mirror's staleness bound while the process's threads are busy computing (DESIGN §7).

The guarantee, independent of how long this process takes for a round trip: every call
that *starts* more than `refresh + min(op_timeout, refresh / 2)` after a cooldown was
entered by another process honours it (its view was read after the write, or the call
waits for such a read). Threads that compute hold the GIL and stretch a round trip from
under a millisecond to a hundred or more, which delays when such a call returns, never
what it sees. Checked on the calls' own start times, so no wall-clock bound is involved.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fallback_router import RedisCooldown, routed

#: A writer in a process of its own: benches or clears `a` on each line read, and prints
#: the wall time right after the write returned (the server wrote before that).
WRITER = """
import sys, time, redis
from fallback_router import RedisCooldown
tracker = RedisCooldown(redis.Redis(port=int(sys.argv[1])), namespace=sys.argv[2], duration=60)
for line in sys.stdin:
    if line.strip() == "bench":
        tracker.record_failure("a", RuntimeError("a down"))
    else:
        tracker.reset("a")
    print(time.time(), flush=True)
"""

ROUNDS = 4
BURNERS = 8
CALLERS = 4  # several threads route calls: one reads the view, the others use it


def command(writer: subprocess.Popen[str], line: str) -> float:
    """Send `line` to the writer; the wall time its write returned."""
    assert writer.stdin is not None
    assert writer.stdout is not None
    writer.stdin.write(line + "\n")
    writer.stdin.flush()
    return float(writer.stdout.readline())


def calls_after(fn: Any, written: float, bound: float) -> list[tuple[float, str]]:
    """Route calls from `CALLERS` threads until each made 20 starting past `written + bound`;
    return every call's (seconds after the write at its start, provider)."""
    calls: list[tuple[float, str]] = []

    def caller() -> None:
        late = 0
        while late < 20:
            start = time.time()
            calls.append((start - written, fn()))
            late += start > written + bound

    callers = [threading.Thread(target=caller) for _ in range(CALLERS)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    return calls


@contextlib.contextmanager
def computing(threads: int) -> Iterator[None]:
    """`threads` CPU-bound threads in this process (they hold the GIL) while inside."""
    stop = threading.Event()

    def burn() -> None:
        total = 0
        while not stop.is_set():
            for i in range(1000):
                total += i

    burners = [threading.Thread(target=burn, daemon=True) for _ in range(threads)]
    for burner in burners:
        burner.start()
    try:
        yield
    finally:
        stop.set()
        for burner in burners:
            burner.join()


@pytest.mark.processes
def test_every_call_starting_past_the_bound_honours_a_cooldown_entered_elsewhere(
    redis_server, redis_client, real_redis_binary
):
    """8 CPU-bound threads beside 4 calling threads; another process benches `a`: every call
    that starts `refresh` + margin after the write skips it, round after round."""
    namespace = "busy-mirror"
    # refresh 0.1 (the default); op_timeout 1 s: a call waiting for another thread's read
    # gives up after 4 x op_timeout and uses the view it has (the delay bound wins), which
    # a machine this loaded could reach with the default 0.1 s. The bound itself is the same.
    tracker = RedisCooldown(redis_client, namespace=namespace, duration=60, op_timeout=1.0)
    bound = tracker.refresh + min(tracker.op_timeout, tracker.refresh / 2)
    fn = routed(providers=["a", "b"], cooldown=tracker)(lambda provider: provider)
    with (
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(redis_server.port), namespace],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as writer,
        computing(BURNERS),
    ):
        try:
            for _ in range(ROUNDS):
                command(writer, "clear")
                while fn() != "a":  # the clear is seen (the same bound)
                    pass
                written = command(writer, "bench")
                late = [(after, got) for after, got in calls_after(fn, written, bound)
                        if after > bound]  # fmt: skip
                assert all(got == "b" for _, got in late), late
        finally:
            writer.kill()
