"""The examples run offline and do what their docstrings say; the notebook executes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# Spawns workers, servers or a browser: left out of mutation runs (see pyproject.toml).
pytestmark = pytest.mark.processes


def run(script: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_quickstart_prints_the_served_table_and_round_robin():
    """The quickstart shows fallbacks, skips, cooldowns and a round-robin pass."""
    out = run("quickstart.py")
    assert "served by" in out
    assert "gemini,grok" in out
    assert "round_robin" in out
    assert "call 0: gemini failed: 429" in out


def test_http_providers_example_routes_real_requests():
    """The HTTP example benches the rate-limited vendor and falls back."""
    out = run("http_providers.py")
    assert "rate-limited: 429" in out
    assert "skipped rate-limited" in out


def test_threaded_example_counts_add_up():
    """The threaded example's own assertions pass and it prints the status table."""
    assert "calls served per provider" in run("threaded.py")


def test_prometheus_recipe_example():
    """The metrics recipe feeds counters from events."""
    assert 'router_cooldowns_total{provider="primary"} 1.0' in run("prometheus_metrics.py")


def test_llm_preset_example_shows_each_failure_handled():
    """The LLM preset example: a short 429 retried, a 503 benched, a refusal raised, a
    cut stream replaced by the backup's whole answer, an async stream."""
    out = run("llm_preset.py")
    assert "429 for 50 ms: 'Hello from primary' by primary, 2 requests to it" in out
    assert "503 persists: 'Hello from backup' by backup; primary benched for 15 s" in out
    assert "content filter: raised to the caller (content_filter)" in out
    assert "cut stream, buffered: 'Hello from backup' by backup" in out
    assert "the cut one: incomplete" in out
    assert "async stream: Hello| from |primary" in out


def test_shared_cooldown_example_only_the_first_worker_pays(redis_server):
    """Across four processes, only the first meets the rate-limited vendor."""
    out = run("shared_cooldown_redis.py", REDIS_URL=redis_server.url)
    assert "vendor-a benched in Redis" in out


def test_the_users_pytest_file_passes():
    """The "Testing your routing" page's pytest file runs, and all four of its tests pass."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(EXAMPLES / "test_my_routing.py"),
            "-o",
            "addopts=",  # the suite's options (xdist, coverage) are not the user's
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=EXAMPLES.parent,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    assert "skipped" not in result.stdout


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_notebook_executes_top_to_bottom():
    """The guided-tour notebook runs without errors in a real kernel."""
    import nbclient
    import nbformat

    notebook = nbformat.read(EXAMPLES / "notebook.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute(cwd=str(EXAMPLES))
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("fallback-router-status" in h for h in html)
    assert any("fallback-router-result" in h for h in html)
    text = "".join(
        str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs
    )
    assert "half-open" in text  # the half-open cell shows the probing state
    assert "['one (grok)', 'two (grok)', 'three (grok)']" in text  # the streaming cell
