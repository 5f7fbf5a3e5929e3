"""A team's tests for its routing setup: pytest, no network, no real waiting for cooldowns.

Run with `pytest examples/test_my_routing.py`. The first part stands for the
application's own module (`myapp/routing.py`); the tests hand it scripted vendors
(`fallback_router.testing.Script`) and a clock they move (`FakeClock`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from fallback_router import AttemptTimeoutError, Router, StreamInterrupted
from fallback_router.testing import FakeClock, Script, cut, hang, http_error

# -- the application's routing (in your code base: myapp/routing.py) ----------------------------


def build_router(vendors: dict[str, Any], *, clock: Any = None, attempt_timeout: float = 20.0):
    """Three vendors in fallback order; a vendor that fails is benched for a minute."""
    return Router(
        providers=vendors,
        cooldown=60,
        attempt_timeout=attempt_timeout,
        clock=clock,
    )


def build_app(router: Router):
    """The functions the application calls: a plain answer and a streamed one."""

    @router
    def ask(client, prompt: str) -> str:
        return client(prompt)  # in production: client.chat.completions.create(...)

    @router
    def chat(client, prompt: str) -> Iterator[str]:
        yield from client.stream(prompt)  # in production: an SDK stream's text deltas

    return ask, chat


# -- the tests ----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def vendors() -> Iterator[dict[str, Script]]:
    """Every vendor answers by default; a test replaces the ones it scripts.

    The scripts are closed at the end, so that a hanging one lets its thread go.
    """
    scripted = {
        "primary": Script("primary answer"),
        "backup": Script("backup answer"),
        "last_resort": Script("last resort answer"),
    }
    yield scripted
    for script in scripted.values():
        script.close()


def test_a_429_with_retry_after_benches_the_vendor_and_the_backup_serves(vendors, clock):
    vendors["primary"] = Script(http_error(429, retry_after=120), "primary answer")
    router = build_router(vendors, clock=clock)
    ask, _ = build_app(router)

    result = ask.route("hello")
    assert (result.provider, result.response) == ("backup", "backup answer")
    assert router.tracker.remaining("primary") == 120  # Retry-After, not the usual 60 s

    clock.advance(119)
    assert ask("hello") == "backup answer"
    assert vendors["primary"].calls == 1  # benched: not called again

    clock.advance(1)
    assert ask("hello") == "primary answer"


def test_a_hang_trips_attempt_timeout(vendors):
    vendors["primary"] = hanging = Script(hang())
    ask, _ = build_app(build_router(vendors, attempt_timeout=1.0))  # short: the test waits it out

    result = ask.route("hello")
    assert result.provider == "backup"
    assert isinstance(result.attempts[0].error, AttemptTimeoutError)
    hanging.close()  # let the abandoned call's thread go now (the fixture would, too)


def test_a_stream_cut_after_its_first_item_raises_stream_interrupted(vendors):
    vendors["primary"] = Script(cut(["Hel"]))
    _, chat = build_app(build_router(vendors))

    stream = chat("hello")
    assert next(stream) == "Hel"
    with pytest.raises(StreamInterrupted) as interrupted:
        next(stream)
    assert (interrupted.value.provider, interrupted.value.items) == ("primary", 1)
    assert isinstance(interrupted.value.__cause__, ConnectionResetError)
    assert vendors["backup"].calls == 0  # a cut stream never restarts on another vendor


def test_a_cooldown_ends_when_the_clock_moves_and_the_probe_returns_the_vendor(vendors, clock):
    vendors["primary"] = Script(http_error(503), "primary is back")
    router = build_router(vendors, clock=clock)
    ask, _ = build_app(router)

    assert ask("hello") == "backup answer"  # the 503 benches primary for 60 s
    clock.advance(30)
    assert ask("hello") == "backup answer"

    clock.advance(30)  # the cooldown is over: the next call is primary's half-open probe
    result = ask.route("hello")
    assert (result.provider, result.response) == ("primary", "primary is back")
    assert router.tracker.snapshot() == {}  # the probe's success cleared primary
    assert ask("hello") == "primary is back"
