"""One worker thread per sync stream (DESIGN §6): with a time limit, every step of a
provider's generator — its first item, each next one, and its close — runs on the same
thread, so generators holding thread-bound resources (sqlite3 connections) work.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from fallback_router import AttemptTimeoutError, StreamInterrupted, routed

LIMITS = [
    {"first_item_timeout": 30.0},
    {"idle_timeout": 30.0},
    {"first_item_timeout": 30.0, "idle_timeout": 30.0},
    {"timeout": 30.0},
    {"attempt_timeout": 30.0},
]


class Rows:
    """A provider stream reading rows from a sqlite3 connection it opens itself."""

    def __init__(self, count: int = 5) -> None:
        self.count = count
        self.steps: list[tuple[str, int]] = []  # (what, thread id) of every step
        self.closed = 0

    def __call__(self, provider: str) -> Iterator[int]:
        con = sqlite3.connect(":memory:")  # bound to the thread that runs this step
        self.steps.append(("open", threading.get_ident()))
        try:
            con.execute("create table t (x)")
            con.executemany("insert into t values (?)", [(i,) for i in range(self.count)])
            for (x,) in con.execute("select x from t order by x"):
                self.steps.append(("item", threading.get_ident()))
                yield x
        finally:
            con.close()  # raises ProgrammingError on any other thread
            self.steps.append(("close", threading.get_ident()))
            self.closed += 1

    def threads(self) -> set[int]:
        return {ident for _, ident in self.steps}


@pytest.mark.parametrize("buffer", [None, "buffer"])
@pytest.mark.parametrize("limits", LIMITS, ids=lambda d: ",".join(d))
def test_a_sqlite_backed_stream_reads_every_step_on_one_thread(limits, buffer):
    """Twenty streams in a row, each read to its end: each on one thread of its own."""
    for _ in range(20):
        rows = Rows()
        fn = routed(providers=["db"], stream_failover=buffer, **limits)(rows.__call__)
        assert list(fn()) == [0, 1, 2, 3, 4]
        assert [what for what, _ in rows.steps] == ["open"] + ["item"] * 5 + ["close"]
        [thread] = rows.threads()
        assert thread != threading.get_ident()  # a worker: the limits need one


@pytest.mark.parametrize("limits", LIMITS, ids=lambda d: ",".join(d))
def test_closing_a_stream_early_closes_it_on_its_own_thread(limits):
    """The consumer stops after two items: the generator's cleanup runs on its thread."""
    rows = Rows()
    fn = routed(providers=["db"], **limits)(rows.__call__)
    stream = fn()
    assert [next(stream), next(stream)] == [0, 1]
    stream.close()
    assert rows.closed == 1
    assert [what for what, _ in rows.steps] == ["open", "item", "item", "close"]
    assert len(rows.threads()) == 1


def test_a_stream_that_falls_back_closes_the_failed_one_on_its_own_thread():
    """a's first item fails: a is closed on its thread, b serves on another (one each)."""
    seen: dict[str, set[int]] = {"a": set(), "b": set()}

    def stream(provider: str) -> Iterator[str]:
        con = sqlite3.connect(":memory:")
        try:
            seen[provider].add(threading.get_ident())
            con.execute("select 1")
            if provider == "a":
                raise ConnectionError("a down")
            yield from ("x", "y")
            seen[provider].add(threading.get_ident())
        finally:
            con.close()
            seen[provider].add(threading.get_ident())

    fn = routed(providers=["a", "b"], first_item_timeout=30.0, idle_timeout=30.0)(stream)
    assert list(fn()) == ["x", "y"]
    assert len(seen["a"]) == len(seen["b"]) == 1


def test_an_idle_stream_is_cut_and_closed_on_its_own_thread(gate):
    """Silence past idle_timeout: StreamInterrupted; the late step and the close share a thread."""
    steps: list[int] = []
    done = threading.Event()

    def stream(provider: str) -> Iterator[str]:
        con = sqlite3.connect(":memory:")
        try:
            steps.append(threading.get_ident())
            yield "first"
            gate.wait(30)  # falls silent
            steps.append(threading.get_ident())
            yield "late"
        finally:
            con.close()
            steps.append(threading.get_ident())
            done.set()

    fn = routed(providers=["a"], idle_timeout=0.1)(stream)
    received: list[Any] = []
    with pytest.raises(StreamInterrupted) as info:
        received.extend(fn())
    assert received == ["first"]
    assert isinstance(info.value.__cause__, AttemptTimeoutError)
    gate.set()  # the abandoned read ends; the stream is closed where it ran
    assert done.wait(10)
    assert len(steps) == 3
    assert len(set(steps)) == 1


def test_a_stream_whose_call_fails_after_its_first_item_is_closed_on_its_thread():
    """Ctrl-C in a hook as the first item arrives: the stream is closed where it ran and
    its slot comes back."""
    from fallback_router import AttemptSucceeded, ConcurrencyLimiter

    limiter = ConcurrencyLimiter(1)
    rows = Rows()

    def hook(event: Any) -> None:
        if isinstance(event, AttemptSucceeded):
            raise KeyboardInterrupt

    fn = routed(providers=["db"], first_item_timeout=30.0, max_concurrency=limiter, on_event=hook)(
        rows.__call__
    )
    with pytest.raises(KeyboardInterrupt):
        next(fn())
    assert rows.closed == 1
    assert [what for what, _ in rows.steps] == ["open", "item", "close"]
    assert len(rows.threads()) == 1
    assert limiter.in_flight("db") == 0
