"""scripts/relayout.py (issue 31, item 7): every module of the package has a place, a dry
run changes nothing, and on a copy of the repository the moved package imports, its
command line runs, the structure test it writes passes, and a second run changes nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
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


@needs_git
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_on_a_copy_the_moved_package_works_and_a_second_run_changes_nothing(tmp_path):
    """The whole move on a copy: the package imports from its folders, the command line
    runs, the layout tests the script writes pass, and running it again is a no-op."""
    files = subprocess.run(
        [GIT, "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    copy = tmp_path / "repo"
    for name in files:
        if (ROOT / name).is_file() and not (ROOT / name).is_symlink():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / name, copy / name)
    git = [GIT, "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "copy", "--allow-empty"]):
        subprocess.run([*git, *command], cwd=copy, check=True, capture_output=True)

    old_redis = copy / "fallback_router" / "_redis.py"
    before_move = old_redis.read_text() if old_redis.exists() else None
    first = run(copy)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "UNMAPPED" not in first.stdout
    assert "LEFTOVER" not in first.stdout, first.stdout
    assert "RUFF" not in first.stdout, first.stdout
    relayout = load()
    for old in relayout.MAPPING:
        assert not (copy / "fallback_router" / f"{old}.py").exists(), old
    for folder in relayout.FOLDERS:
        assert (copy / "fallback_router" / folder / "__init__.py").exists()

    env = {**os.environ, "PYTHONPATH": str(copy)}
    probe = (
        "import fallback_router, fallback_router._redis.cooldown as c, "
        "fallback_router._drivers.sync, fallback_router._surfaces.cli; "
        "assert fallback_router.__file__.startswith(%r); "
        "assert c.RedisCooldown is fallback_router.RedisCooldown"
    ).replace("%r", repr(str(copy)))
    for command in (["-c", probe], ["-m", "fallback_router", "--help"]):
        done = subprocess.run(
            [sys.executable, *command],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_structure.py", "-q", "-o", "addopts=",
         "-p", "no:randomly", "-p", "no:cacheprovider", "-k", "layout or folder or flat"],
        cwd=copy, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "3 passed" in tests.stdout

    subprocess.run([*git, "add", "-A"], cwd=copy, check=True)
    subprocess.run([*git, "commit", "-qm", "moved", "--allow-empty"], cwd=copy, check=True)
    second = run(copy)
    assert second.returncode == 0, second.stderr
    assert "nothing to do" in second.stdout, second.stdout
    status = subprocess.run(
        [GIT, "status", "--porcelain"], cwd=copy, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""
    assert run(copy, "--check").returncode == 0

    # A branch merged after the move brings a moved module back with its old imports:
    # running the script again writes them from the module's new place.
    if before_move is not None:
        moved = copy / "fallback_router" / "_redis" / "cooldown.py"
        moved.write_text(before_move)
        assert run(copy).returncode == 0
        status = subprocess.run(
            [GIT, "status", "--porcelain"], cwd=copy, capture_output=True, text=True, check=True
        )
        assert status.stdout == ""
