"""The Lua mutation script (scripts/lua_mutation.py) still runs: it finds every Lua script
(the cooldown tracker's and the rate limiter's token bucket), each equivalent mutant it
skips still exists, and the unmutated package passes the tests it runs (its baseline).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "lua_mutation.py"
EQUIVALENT = ROOT / "scripts" / "equivalent_mutants.txt"
#: Every Lua script in the package, by the name its mutants carry.
SCRIPTS = {
    "fallback_router._redis.scripts.READ",
    "fallback_router._redis.scripts.TRY_PROBE",
    "fallback_router._redis.scripts.RELEASE_PROBE",
    "fallback_router._redis.scripts.READ_HINTS",
    "fallback_router._redis.scripts.RECORD_SUCCESS",
    "fallback_router._redis.scripts.RECORD_FAILURE",
    "fallback_router._redis.scripts.INCR",
    "fallback_router._redis.ratelimit._BUCKET",
    "fallback_router._redis.ratio.WINDOW_ADD",
    "fallback_router._redis.ratio.FAILURE_RATIO",
    "fallback_router._redis.ratio.FLUSH_SUCCESSES",
}

pytestmark = pytest.mark.source


def lua_mutation(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def listed() -> dict[str, str]:
    done = lua_mutation("--list")
    assert done.returncode == 0, done.stderr
    return dict(line.split("  ", 1) for line in done.stdout.splitlines())


def test_every_lua_script_is_mutated():
    """--list names mutants of each Lua script, the rate limiter's included, and no other."""
    scripts = {name.rsplit("__lua_", 1)[0] for name in listed()}
    assert scripts == SCRIPTS


def test_every_lua_mutant_judged_equivalent_is_still_the_one_judged():
    """Each listed equivalent Lua mutant exists, and its reason starts with the change it
    makes now: a script edit renumbers the mutants, and a stale name would skip a real one."""
    mutants = listed()
    judged = {}
    for line in EQUIVALENT.read_text().splitlines():
        name, _, reason = line.partition("#")
        if "__lua_" in name:
            judged[name.strip()] = reason.strip()
    assert judged
    assert set(judged) <= set(mutants)
    stale = {name: (reason, mutants[name]) for name, reason in judged.items()
             if not reason.startswith(mutants[name])}  # fmt: skip
    assert stale == {}


@pytest.mark.processes
def test_the_lua_mutation_baseline_passes():
    """--baseline-only: the Redis tests pass on the unmutated package copy the script builds."""
    done = lua_mutation("--baseline-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "baseline passed" in done.stdout
