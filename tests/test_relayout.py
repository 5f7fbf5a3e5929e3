"""scripts/relayout.py (issue 31, item 7): every module of the package has a place, a dry
run changes nothing, and the layout it made is in place (`--check` finds nothing to do).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.source

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "relayout.py"
GIT = shutil.which("git")
needs_git = pytest.mark.skipif(
    GIT is None or not (ROOT / ".git").exists(), reason="needs git and a git checkout"
)


def load():
    spec = importlib.util.spec_from_file_location("relayout", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["relayout"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(root / "scripts" / "relayout.py"), "--root", str(root), *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def digest(root: Path) -> str:
    h = hashlib.sha256()
    for folder in ("fallback_router", "tests", "docs", "scripts"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def test_every_module_of_the_package_has_a_place():
    """Each top-level private module is mapped to a folder or kept flat on purpose."""
    relayout = load()
    plan = relayout.make_plan(ROOT, {}, use_guesses=False)
    assert [n for n in plan.notes if n.startswith(("UNMAPPED", "CONFLICT"))] == []
    assert set(relayout.MAPPING).isdisjoint(relayout.FLAT)
    # The structure test's "never flat" names (the guesses) leave the flat modules alone.
    assert [m for m in relayout.FLAT if relayout.guess(m)] == []
    assert all(new.split(".")[0] in relayout.FOLDERS for new in relayout.MAPPING.values())


def test_new_modules_are_guessed_by_name_and_map_overrides():
    relayout = load()
    assert relayout.guess("_redis_tokens") == "_redis.tokens"
    assert relayout.guess("_status_table") == "_surfaces.status_table"
    assert relayout.guess("_cli_quota") == "_surfaces.cli_quota"
    assert relayout.guess("_token_bucket") == "_state.token_bucket"
    assert relayout.guess("_redis_ratio") == "_redis.ratio"
    assert relayout.guess("_failure_window") == "_state.failure_window"
    assert relayout.guess("_async") == "_drivers.async_"
    assert relayout.guess("_verdicts") is None
    assert relayout.parse_maps(["_x=_state.x", "fallback_router._y="]) == {
        "_x": "_state.x",
        "_y": None,
    }
    with pytest.raises(SystemExit, match="'_x'"):
        relayout.parse_maps(["_x"])


def test_relative_imports_are_written_from_the_new_place():
    relayout = load()
    assert (
        relayout.relative(
            "fallback_router._redis.cooldown", False, "fallback_router._redis.scripts"
        )
        == ".scripts"
    )
    assert (
        relayout.relative("fallback_router._drivers.sync", False, "fallback_router._errors")
        == ".._errors"
    )
    assert (
        relayout.resolve("fallback_router._sync", False, 1, "_worker") == "fallback_router._worker"
    )
    assert relayout.resolve("fallback_router", True, 1, "_redis") == "fallback_router._redis"


def test_a_dry_run_changes_nothing():
    before = digest(ROOT)
    done = run(ROOT, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert digest(ROOT) == before


def test_the_layout_is_in_place():
    """The move is done: `--check` finds nothing to move or rewrite (a new module without
    a place, or a flat module that belongs in a folder, fails here)."""
    done = run(ROOT, "--check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing to do" in done.stdout
