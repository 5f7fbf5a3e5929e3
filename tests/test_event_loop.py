"""A sync routed function called on a thread running an event loop (DESIGN §8): one
WARNING log and one RuntimeWarning per function, pointing at the caller's line; nothing
from a worker thread or outside a loop."""

from __future__ import annotations

import asyncio
import sys
import types
import warnings

import pytest

from fallback_router import routed

from .support.helpers import fleet


def _called_on_the_loop(*calls):
    """Run `calls` inside a coroutine; return the RuntimeWarnings they issued."""

    async def main():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for call in calls:
                call()
        return caught

    return asyncio.run(main())


@pytest.mark.parametrize(
    "options",
    [{}, {"timeout": 5}, {"cooldown": None}],
    ids=["happy path", "general path", "no tracker"],
)
def test_a_sync_call_on_a_loop_warns_once_per_function(logs, options):
    """Three calls of one function, one of another: one warning and log each."""
    ask = routed(providers=["a", "b"], **options)(fleet("a"))
    tell = routed(providers=["a"], **options)(fleet())
    caught = _called_on_the_loop(ask, ask, lambda: ask.route(), tell)
    texts = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(texts) == 2
    assert "sync routed function fleet.<locals>.call was called on a thread running" in texts[0]
    assert "declare it `async def`" in texts[0]
    assert all(w.filename == __file__ for w in caught)
    found = logs.find("sync routed function called on an event loop")
    assert [r["level"].name for r in found] == ["WARNING", "WARNING"]
    assert found[0]["extra"]["function"] == "fleet.<locals>.call"


def test_a_sync_stream_on_a_loop_warns_too():
    """Iterating a routed generator on the loop blocks it as well."""

    def gen(provider):
        yield provider

    stream = routed(providers=["a"])(gen)
    caught = _called_on_the_loop(lambda: list(stream()), lambda: list(stream.route().response))
    assert len(caught) == 1
    assert caught[0].filename == __file__


def test_no_warning_off_the_loop():
    """Outside a loop, or in a worker thread a coroutine awaits, nothing is reported."""
    ask = routed(providers=["a"])(fleet())

    async def main():
        return await asyncio.to_thread(ask)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ask() == "a"
        assert asyncio.run(main()) == "a"


def test_no_warning_in_an_ipython_shell(monkeypatch):
    """Jupyter runs every cell on its kernel's loop: a sync call there is the normal case."""
    shell = types.ModuleType("IPython")
    shell.get_ipython = lambda: object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", shell)
    ask = routed(providers=["a"])(fleet())
    assert _called_on_the_loop(ask, ask) == []
