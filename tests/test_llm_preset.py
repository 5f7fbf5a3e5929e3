"""``llm.options()`` per error kind, in process: real SDK errors raised by stand-in vendors.

For each kind the table of the LLM guide prescribes how often the same vendor is asked,
whether the call falls back or raises, and how long the vendor is benched; each row is
checked sync and async on a fake clock. The HTTP scenarios (``tests/test_scenarios.py``)
play the same policy through the ``openai`` SDK against fake servers.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from fallback_router import AllProvidersBenchedError, AllProvidersFailedError, llm, routed

from .support.helpers import FakeClock
from .support.llm_errors import CONTEXT_OPENAI, openai_error, sdk_http

REQUEST = sdk_http.Request("POST", "https://api.openai.test/v1/chat/completions")
HINTED_503 = {"message": "overloaded", "type": "server_error"}


class Vendor:
    """A stand-in vendor: raises ``error`` (a factory) on every call, or answers."""

    def __init__(self, name: str, error: Any = None) -> None:
        self.name = name
        self.error = error
        self.calls = 0

    def answer(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error()
        return f"answer from {self.name}"


def ask(vendor: Vendor, prompt: str) -> str:
    return vendor.answer()


async def aask(vendor: Vendor, prompt: str) -> str:
    return vendor.answer()


def call(mode: str, fn: Any) -> Any:
    """Call ``fn`` (sync or async); the answer, or the exception it raised."""
    try:
        return fn("hi") if mode == "sync" else asyncio.run(fn("hi"))
    except Exception as exc:
        return exc


def router_for(mode: str, *vendors: Vendor, **options: Any) -> Any:
    settings = llm.options(**{"clock": FakeClock(), **options})
    return routed(providers=list(vendors), **settings)(ask if mode == "sync" else aask)


def remaining(fn: Any, name: str) -> float:
    return {row.name: row.cooldown_remaining for row in fn.router.status()}[name]


RAISED = "raised"

#: (id, error factory, primary's requests, "backup" or RAISED, its bench in seconds or 0)
ROWS = [
    ("500", lambda: openai_error(500), 2, "backup", 15.0),
    ("503", lambda: openai_error(503, HINTED_503), 2, "backup", 15.0),
    ("503 short hint", lambda: openai_error(503, HINTED_503, **{"retry-after-ms": "20"}), 2, "backup", 0.02),
    ("503 long hint", lambda: openai_error(503, HINTED_503, **{"retry-after": "30"}), 1, "backup", 30.0),
    ("503 unparsable hint", lambda: openai_error(503, HINTED_503, **{"retry-after": "soon"}), 2, "backup", 15.0),
    ("429 no hint", lambda: openai_error(429), 1, "backup", 15.0),
    ("429 short hint", lambda: openai_error(429, **{"retry-after-ms": "20"}), 2, "backup", 0.02),
    ("429 long hint", lambda: openai_error(429, **{"retry-after": "30"}), 1, "backup", 30.0),
    ("quota", lambda: openai_error(429, {"code": "insufficient_quota", "message": "quota"}), 1, "backup", 3600.0),
    ("401", lambda: openai_error(401, {"code": "invalid_api_key", "message": "no"}), 1, "backup", 600.0),
    ("404", lambda: openai_error(404, {"code": "model_not_found", "message": "no"}), 1, "backup", 600.0),
    ("sdk timeout", lambda: openai.APITimeoutError(request=REQUEST), 1, "backup", 15.0),
    ("connection", lambda: openai.APIConnectionError(request=REQUEST), 2, "backup", 15.0),
    ("malformed", lambda: json.JSONDecodeError("Expecting value", "{", 1), 2, "backup", 15.0),
    ("incomplete", lambda: llm.IncompleteAnswer(3), 2, "backup", 15.0),
    ("other", lambda: RuntimeError("vendor SDK hiccup"), 1, "backup", 15.0),
    ("caller bug", lambda: TypeError("bad argument"), 1, "backup", 0.0),
    ("context length", lambda: openai_error(400, CONTEXT_OPENAI), 1, "backup", 0.0),
    ("content filter", lambda: openai_error(400, {"code": "content_filter", "message": "filtered"}), 1, RAISED, 0.0),
    ("bad request", lambda: openai_error(400, {"code": "unsupported_value", "message": "bad"}), 1, RAISED, 0.0),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize(
    ("error", "asked", "then", "bench"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS]
)
def test_each_kind_gets_what_the_table_prescribes(mode, error, asked, then, bench):
    """Same vendor again (1 + retries at most), fall back or raise, and the bench length."""
    primary, backup = Vendor("primary", error), Vendor("backup")
    fn = router_for(mode, primary, backup)
    outcome = call(mode, fn)
    if then == RAISED:
        assert isinstance(outcome, openai.BadRequestError)
        assert backup.calls == 0
    else:
        assert outcome == "answer from backup"
        assert backup.calls == 1
    assert primary.calls == asked
    assert remaining(fn, "primary") == pytest.approx(bench)


@pytest.mark.parametrize(("retries", "asked"), [(0, 1), (2, 3)])
def test_retries_sets_how_often_the_same_vendor_is_asked(retries, asked):
    """``retries=0``: once; ``retries=2``: three times (a 500 each time)."""
    primary, backup = Vendor("primary", lambda: openai_error(500)), Vendor("backup")
    fn = router_for("sync", primary, backup, retries=retries)
    assert fn("hi") == "answer from backup"
    assert primary.calls == asked


def test_a_hint_past_retry_after_cap_is_not_waited_out():
    """``retry_after_cap=0.01``: a 429 asking for 20 ms falls back at once."""
    error = lambda: openai_error(429, **{"retry-after-ms": "20"})  # noqa: E731
    primary, backup = Vendor("primary", error), Vendor("backup")
    fn = router_for("sync", primary, backup, retry_after_cap=0.01)
    assert fn("hi") == "answer from backup"
    assert primary.calls == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_retries_stay_inside_the_attempt_limit(mode):
    """A 503 asking for 1 s (under the cap) with 0.3 s per attempt: no wait, no retry."""
    error = lambda: openai_error(503, HINTED_503, **{"retry-after": "1"})  # noqa: E731
    primary, backup = Vendor("primary", error), Vendor("backup")
    fn = router_for(mode, primary, backup, attempt_timeout=0.3, clock=None)
    assert call(mode, fn) == "answer from backup"
    assert primary.calls == 1


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_long_bench_is_never_forced(mode):
    """A lone vendor benched for its quota: the next call asks nobody and says for how long."""
    primary = Vendor("primary", lambda: openai_error(429, {"code": "insufficient_quota"}))
    fn = router_for(mode, primary)
    call(mode, fn)
    benched = call(mode, fn)
    assert isinstance(benched, AllProvidersBenchedError)
    assert benched.retry_after == pytest.approx(3600.0)
    assert primary.calls == 1


def test_a_refused_key_logs_one_error_per_cooldown(logs):
    """A forced terminus refusing its key again within the cooldown logs no second ERROR."""
    clock = FakeClock()
    primary = Vendor("primary", lambda: openai_error(401, {"code": "invalid_api_key"}))
    fn = router_for("sync", primary, clock=clock, respect_retry_after=False)
    for _ in range(2):
        with pytest.raises(AllProvidersFailedError):
            fn("hi")
    assert primary.calls == 2  # forced: this router does not respect long benches
    refused = logs.find("provider refused the credentials or the model")
    assert [r["level"].name for r in refused] == ["ERROR"]
    assert "benched for 600 s" in refused[0]["message"]
    clock.advance(600)
    with pytest.raises(AllProvidersFailedError):
        fn("hi")
    assert len(logs.find("provider refused the credentials or the model")) == 2
