"""Type checkers see the installed package (DESIGN: the build setup): a user's module in
an empty directory passes `mypy --strict`, with no MYPYPATH and no repository config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.processes

USER_FILE = Path(__file__).resolve().parent / "typing" / "user_file.py"


def test_mypy_strict_passes_on_a_user_module_outside_the_repository(tmp_path):
    """The install (editable, as the README's setup makes it) is visible to mypy."""
    shutil.copy(USER_FILE, tmp_path / "app.py")
    env = {k: v for k, v in os.environ.items() if k not in ("MYPYPATH", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found in 1 source file" in done.stdout
