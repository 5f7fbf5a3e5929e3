"""`hedge_after=` on streams (DESIGN §5b): a race to the first item, sync and async. The
first provider to yield serves the stream; the other stream is closed and recorded
neither as a success nor as a failure (`Attempt.hedged`, `abandoned`).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from fallback_router import ConcurrencyLimiter, InMemoryCooldown, Router

from .support.helpers import wait_until
from .support.paths import CallPath, released


class Streams:
    """Stream bodies: ``slow`` waits on ``gate`` before its first item; records closes."""

    def __init__(self, slow: str, gate: threading.Event) -> None:
        self.slow = slow
        self.gate = gate
        self.started: list[str] = []
        self.closed: list[str] = []
        self.finished: list[str] = []

    def sync(self, provider: str, prompt: str):
        self.started.append(provider)
        try:
            if provider == self.slow:
                self.gate.wait(10)  # a hang that ends (the test releases it)
            yield from (provider, prompt, ".")
            self.finished.append(provider)
        finally:
            self.closed.append(provider)

    async def asynchronous(self, provider: str, prompt: str):
        """The async twin: ``slow`` sleeps until ``gate`` (cancelled when it loses)."""
        self.started.append(provider)
        try:
            if provider == self.slow:
                await released(self.gate)
            for piece in (provider, prompt, "."):
                yield piece
            self.finished.append(provider)
        finally:
            self.closed.append(provider)

    def on(self, path: CallPath) -> Any:
        """The body for ``path``."""
        return path.twin(self.sync, self.asynchronous)


def build(path: CallPath | None = None, **extra: Any):
    """A router over slow and fast racing after 0.05 s (on ``path``'s providers, if given)."""
    tracker = InMemoryCooldown(60)
    limiter = ConcurrencyLimiter(5)
    names = ["slow", "fast"] if path is None else path.providers(["slow", "fast"])
    router = Router(names, hedge_after=0.05, cooldown=tracker, max_concurrency=limiter, **extra)
    return router, tracker, limiter


def test_a_stream_races_to_its_first_item(gate, path):
    """The first provider to yield serves; the loser is closed (sync: when its item comes,
    async: cancelled), recorded neither way."""
    router, tracker, limiter = build(path)
    streams = Streams("slow", gate)
    chat = path.decorate(router, streams.on(path))
    result = chat.route("hi")
    assert result.provider == "fast"
    assert [(a.provider, a.hedged, a.abandoned) for a in result.attempts] == [
        ("slow", True, True),
        ("fast", True, False),
    ]
    assert path.collect(result.response) == ["fast", "hi", "."]
    assert streams.finished == ["fast"]
    assert limiter.in_flight("fast") == 0  # the winner's slot: given back with its stream
    gate.set()  # the loser's first item arrives: its stream is closed, never read on
    assert path.wait_until(lambda: "slow" in streams.closed)
    assert path.wait_until(lambda: limiter.in_flight("slow") == 0)
    assert streams.finished == ["fast"]
    assert tracker.snapshot() == {}  # recorded neither way: no failure, no cooldown
    status = router.status()
    assert status["slow"].failures == 0


def test_the_winning_stream_holds_its_slot_until_it_ends(gate, path):
    """The winner holds its slot while the consumer reads and gives it back when closed."""
    router, _, limiter = build(path)
    streams = Streams("slow", gate)
    stream = path.decorate(router, streams.on(path)).stream("hi")
    assert path.next(stream) == "fast"
    assert limiter.in_flight("fast") == 1  # held while the consumer reads
    path.close(stream)
    assert limiter.in_flight("fast") == 0
    assert "fast" in streams.closed
    gate.set()
    assert path.wait_until(lambda: limiter.in_flight("slow") == 0)


def test_a_first_provider_that_yields_in_time_is_not_raced(gate, path):
    """A first item before hedge_after: no race, one attempt."""
    router, _, _ = build(path)
    streams = Streams("nobody", gate)
    result = path.decorate(router, streams.on(path)).route("hi")
    assert result.provider == "slow"
    assert [(a.provider, a.hedged) for a in result.attempts] == [("slow", False)]
    assert path.collect(result.response) == ["slow", "hi", "."]
    assert streams.started == ["slow"]


def test_a_raced_stream_that_fails_before_its_first_item_falls_back(gate, path):
    """The hedge fails first: the slow one still serves (the race is to a first item)."""
    router, tracker, _ = build(path)

    def chat(provider: str):
        if provider == "fast":
            raise RuntimeError("fast is down")
        gate.wait(10)
        yield provider

    async def achat(provider: str):
        if provider == "fast":
            raise RuntimeError("fast is down")
        await released(gate)
        yield provider

    threading.Timer(0.3, gate.set).start()
    result = path.decorate(router, path.twin(chat, achat)).route()
    assert result.provider == "slow"
    assert path.collect(result.response) == ["slow"]
    assert tracker.remaining("fast") > 0  # a real failure counts as ever


def test_an_async_stream_races_to_its_first_item():
    router, tracker, limiter = build()
    closed: list[str] = []
    finished: list[str] = []

    @router
    async def chat(provider: str, prompt: str):
        try:
            if provider == "slow":
                await asyncio.Event().wait()  # never answers: cancelled when it loses
            for piece in (provider, prompt):
                yield piece
            finished.append(provider)
        finally:
            closed.append(provider)

    async def main() -> None:
        result = await chat.route("hi")
        assert result.provider == "fast"
        assert [(a.provider, a.hedged, a.abandoned) for a in result.attempts] == [
            ("slow", True, True),
            ("fast", True, False),
        ]
        for _ in range(200):  # the cancelled loser closes its stream as it unwinds
            if closed:
                break
            await asyncio.sleep(0.01)
        assert closed == ["slow"]
        assert limiter.in_flight("slow") == 0
        assert [item async for item in result.response] == ["fast", "hi"]
        assert limiter.in_flight("fast") == 0

    asyncio.run(main())
    assert finished == ["fast"]
    assert tracker.snapshot() == {}


def test_an_async_loser_that_opened_is_closed_too():
    """Both streams opened before the race is collected: the loser is closed at once."""
    router, tracker, limiter = build()
    closed: list[str] = []

    @router
    async def chat(provider: str, ready: asyncio.Event):
        try:
            if provider == "slow":
                await ready.wait()  # released by the hedge as it opens: both open together
            else:
                ready.set()
            yield provider
            yield "more"
        finally:
            closed.append(provider)

    async def main() -> None:
        result = await chat.route(asyncio.Event())
        loser = "fast" if result.provider == "slow" else "slow"
        assert closed == [loser]  # opened, lost, closed before the winner is handed over
        assert [item async for item in result.response] == [result.provider, "more"]

    asyncio.run(main())
    assert limiter.in_flight("slow") == limiter.in_flight("fast") == 0
    assert tracker.snapshot() == {}


def test_buffered_streams_race_to_a_whole_answer_on_every_path(gate, path):
    """With stream_failover="buffer" the race is to a whole answer."""
    router, tracker, limiter = build(path, stream_failover="buffer", idle_timeout=5.0)
    streams = Streams("slow", gate)
    result = path.decorate(router, streams.on(path)).route("hi")
    assert result.provider == "fast"
    assert path.collect(result.response) == ["fast", "hi", "."]
    gate.set()
    assert path.wait_until(lambda: "slow" in streams.closed)
    assert path.wait_until(lambda: limiter.in_flight("slow") == limiter.in_flight("fast") == 0)
    assert tracker.snapshot() == {}


def test_buffered_streams_race_to_a_complete_answer(gate):
    """With stream_failover="buffer" the race is to a whole answer, sync and async."""
    router, tracker, limiter = build(stream_failover="buffer", idle_timeout=5.0)
    streams = Streams("slow", gate)
    result = router(streams.sync).route("hi")
    assert result.provider == "fast"
    assert list(result.response) == ["fast", "hi", "."]
    gate.set()
    assert wait_until(lambda: "slow" in streams.closed)

    @router
    async def achat(provider: str):
        if provider == "slow":
            await asyncio.Event().wait()
        yield provider
        yield "done"

    async def main() -> None:
        answer = await achat.route()
        assert answer.provider == "fast"
        assert [item async for item in answer.response] == ["fast", "done"]

    asyncio.run(main())
    assert wait_until(lambda: limiter.in_flight("slow") == limiter.in_flight("fast") == 0)
    assert tracker.snapshot() == {}
