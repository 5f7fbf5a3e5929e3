"""A module-level routed function and its `route` pickle by reference (sync and async),
and work in a spawned process pool; coroutines nobody awaited are named after the user's
function."""

from __future__ import annotations

import concurrent.futures
import gc
import pickle
import warnings

import pytest

from .support import routed_module as m

ALL = [m.ask, m.ask_limited, m.ask_async, m.ask_async_limited]


@pytest.mark.parametrize("fn", ALL, ids=lambda f: f.__name__)
def test_fn_and_route_pickle_by_reference(fn):
    """pickle gives back the very same objects: nothing of the router is copied."""
    assert pickle.loads(pickle.dumps(fn)) is fn
    assert pickle.loads(pickle.dumps(fn.route)) is fn.route
    method = m.Service.answer
    assert pickle.loads(pickle.dumps(method.route)) is method.route
    bound = m.Service().answer
    assert pickle.loads(pickle.dumps(bound.route))("q").response == "up: q"


def test_route_runs_in_a_spawned_process_pool(spawn):
    """pool.submit(fn.route, ...) under spawn: the child routes and returns the Result."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as pool:
        result = pool.submit(m.ask.route, "q").result(timeout=120)
        limited = pool.submit(m.ask_limited.route, "r").result(timeout=120)
        plain = pool.submit(m.ask, "s").result(timeout=120)
    assert (result.response, result.provider, result.attempt) == ("up: q", "up", 2)
    assert (limited.response, limited.attempt) == ("up: r", 2)
    assert plain == "up: s"


@pytest.mark.parametrize("fn", [m.ask_async, m.ask_async_limited], ids=lambda f: f.__name__)
def test_an_unawaited_call_is_named_after_the_function(fn):
    """'coroutine ask_async was never awaited', not the router's internal closure."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn("q")
        fn.route("q")
        gc.collect()
    texts = sorted(str(w.message) for w in caught)
    name = fn.__name__
    assert texts == [
        f"coroutine '{name}' was never awaited",
        f"coroutine '{name}.route' was never awaited",
    ]
