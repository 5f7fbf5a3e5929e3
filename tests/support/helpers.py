"""Stand-in providers, errors and waits shared by the tests (one copy of each)."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import pytest

from fallback_router import ConcurrencyLimiter, InMemoryCooldown, current_attempt, routed, testing


class FakeClock(testing.FakeClock):
    """The public fake clock, started at 1000 s, that can also step back (``step_back``).

    The public one only moves forward, as a monotonic clock does; the tests of a clock
    that steps back (a wall clock corrected by NTP) need the other direction.
    """

    def __init__(self, start: float = 1000.0) -> None:
        super().__init__(start)

    def step_back(self, seconds: float) -> None:
        with self._lock:
            self._now -= seconds


class Boom(Exception):
    """A provider failure: a fallback trigger, counted for cooldown by default."""


class RetryAfter(Exception):
    """A rate-limit error whose ``.retry_after`` carries the server's hint (any value)."""

    def __init__(self, seconds: object = None) -> None:
        super().__init__("429")
        self.retry_after = seconds


def fleet(*failing: str, message: str = "down", clock: Any = None, cost: float = 0.0):
    """A routed function's body: returns the provider's name, or raises for ``failing`` ones.

    A provider in ``failing`` raises ``RuntimeError(f"{provider} {message}")``; every call
    first advances ``clock`` (a FakeClock) by ``cost`` seconds.
    """

    def call(provider: str, *args: Any, **kwargs: Any) -> str:
        if clock is not None:
            clock.advance(cost)
        if provider in failing:
            raise RuntimeError(f"{provider} {message}")
        return provider

    return call


class Fleet:
    """Providers by name that fail while listed in ``failing``; records every call."""

    def __init__(self, *failing: str) -> None:
        self.failing = set(failing)
        self.calls: list[str] = []

    def __call__(self, provider: str, prompt: str = "p") -> str:
        self.calls.append(provider)
        if provider in self.failing:
            raise Boom(provider)
        return f"{provider}:{prompt}"


def kinds(events: list[Any]) -> list[tuple[str, str | None]]:
    """``(event class name, provider or None)`` of each event, in order."""
    return [(type(e).__name__, getattr(e, "provider", None)) for e in events]


def wait_until(predicate: Callable[[], object], limit: float = 3.0) -> bool:
    """Poll ``predicate`` in real time, at most ``limit`` seconds.

    Only for what no fake clock reaches: Redis key expiry on the server's own clock,
    another process or thread getting somewhere. Never for a cooldown of our own.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())


class Flaky:
    """Each provider fails with the listed errors in turn, then succeeds.

    Records every call and the ``current_attempt().time_left`` it saw; each call first
    advances ``clock`` by ``cost``.
    """

    def __init__(self, script: dict[str, list[Exception]], clock: Any = None, cost: float = 0.0):
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[str] = []
        self.clock = clock
        self.cost = cost
        self.time_left: list[tuple[str, float | None]] = []

    def __call__(self, provider: str) -> str:
        self.calls.append(provider)
        info = current_attempt()
        assert info is not None
        self.time_left.append((provider, info.time_left))
        if self.clock is not None:
            self.clock.advance(self.cost)
        pending = self.script.get(provider)
        if pending:
            raise pending.pop(0)
        return provider


def saturated_router(
    *, benched=None, half_open=False, strategy="fallback", release_on=None, path=None
):
    """a fails, b serves, one slot each; the test holds slots, the hook frees them.

    ``release_on`` lists ``(event class name, provider, names to release)``: when that
    event comes for that provider, those slots are released (the call waiting for one
    gets it). Built on ``path`` (the `path` fixture's) when given.
    Returns ``(fn, limiter, tracker, clock, events)``.
    """
    clock = FakeClock()
    limiter = ConcurrencyLimiter(1)
    tracker = InMemoryCooldown(0.5, half_open=half_open, clock=clock)
    events: list[Any] = []

    def on_event(event: Any) -> None:
        events.append(event)
        for kind, provider, frees in release_on or ():
            if type(event).__name__ == kind and event.provider == provider:
                for name in frees:
                    limiter.release(name)

    options = {
        "strategy": strategy,
        "cooldown": tracker,
        "max_concurrency": limiter,
        "clock": clock,
        "on_event": on_event,
    }
    body = fleet("a")
    fn = (
        routed(providers=["a", "b"], **options)(body)
        if path is None
        else path.routed(["a", "b"], **options)(body)
    )
    for name in benched or ():
        tracker.record_failure(name, Boom(name))
    return fn, limiter, tracker, clock, events


def load_example(name: str) -> Any:
    """Import `examples/<name>.py` (examples are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_{name}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def chromium() -> str:
    """The headless browser's path; a failure in CI (FALLBACK_ROUTER_REQUIRE_BROWSER=1), else a skip."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("FALLBACK_ROUTER_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is required here (FALLBACK_ROUTER_REQUIRE_BROWSER=1)")
    pytest.skip("needs chromium (apt-get install chromium); CI installs it")
    raise AssertionError  # unreachable


def hanging(gate: Any, *slow: str) -> Callable[[str], str]:
    """A provider: the `slow` ones wait on `gate` (up to 30 s), then answer late; others at once.

    Its `acall` is the async twin the `path` fixture calls on the async path.
    """

    def call(provider: str) -> str:
        if provider in slow:
            gate.wait(30)
            return f"late {provider}"
        return provider

    @functools.wraps(call)
    async def acall(provider: str) -> str:
        """The async twin (the `path` fixture's): the slow ones sleep until `gate` is set."""
        if provider in slow:
            for _ in range(3000):  # up to 30 s; cancelled long before by the router
                if gate.is_set():
                    break
                await asyncio.sleep(0.01)
            return f"late {provider}"
        return provider

    call.acall = acall  # type: ignore[attr-defined]
    return call
