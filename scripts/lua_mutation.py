"""Mutation testing of the Lua scripts in ``fallback_router/_redis.py``.

Usage::

    python scripts/lua_mutation.py            # run every Lua mutant, print survivors and score
    python scripts/lua_mutation.py --list     # only list the mutants

mutmut mutates Python, and a Lua script is one string to it: its mutants break the
whole script, which any test catches. This script mutates the Lua itself, one change
at a time (comparison and arithmetic operators, ``and``/``or``/``not``, ``min``/``max``,
``floor``/``ceil``, integer and string literals, and deleting a statement), writes the
mutated module into a temporary copy of the package and runs the in-process Redis tests
against a real redis-server. A mutant is killed when a test fails. Mutants listed in
``scripts/equivalent_mutants.txt`` (names ``fallback_router._redis_scripts.<SCRIPT>__lua_<n>``)
are left out of the score.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutation import equivalent

ROOT = Path(__file__).resolve().parent.parent
MODULE = ROOT / "fallback_router" / "_redis_scripts.py"
TESTS = ["tests/test_redis.py", "tests/test_cooldowns.py", "tests/test_half_open.py"]
PYTEST = ["-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider", "--no-cov", "-n", "0"]
PYTEST += ["-m", "not memory and not processes and not signals and not source", "--timeout", "30"]

# (pattern, replacement) applied at one match at a time; patterns see only the Lua text.
SWAPS: list[tuple[str, str]] = [
    (r"<=", ">"),
    (r"<=", "<"),
    (r"(?<![<>=~])<(?!=)", "<="),
    (r">=", "<"),
    (r">=", ">"),
    (r"(?<![<>=~])>(?!=)", ">="),
    (r"==", "~="),
    (r"~=", "=="),
    (r"(?<=\s)\+(?=\s)", "-"),
    (r"(?<=\s)-(?=\s)", "+"),
    (r"(?<=\s)\*(?=\s)", "/"),
    (r"(?<=\s)/(?=\s)", "*"),
    (r"(?<=\s)\^(?=\s)", "*"),
    (r"\band\b", "or"),
    (r"\bor\b", "and"),
    (r"\bnot ", ""),
    (r"math\.min", "math.max"),
    (r"math\.floor", "math.ceil"),
    (r"'1'", "'0'"),
    (r"'NX'", "'XX'"),
]
NUMBER = re.compile(r"(?<![\w.])\d+(?![\w.])")
STATEMENT = re.compile(r"^\s*(redis\.call\(.*\)|\w+ = .*)$", re.MULTILINE)


def scripts() -> dict[str, str]:
    """The module's Lua scripts: module-level string constants that call ``redis.call``."""
    tree = ast.parse(MODULE.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            value = node.value.value
            target = node.targets[0]
            if isinstance(value, str) and "redis.call" in value and isinstance(target, ast.Name):
                found[target.id] = value
    return found


def mutate(lua: str) -> Iterator[tuple[str, str]]:
    """Yield (description, mutated script) for every single-point change of ``lua``."""
    for pattern, replacement in SWAPS:
        for match in re.finditer(pattern, lua):
            line = lua.count("\n", 0, match.start()) + 1
            mutated = lua[: match.start()] + replacement + lua[match.end() :]
            yield f"line {line}: {match.group()!r} -> {replacement!r}", mutated
    for match in NUMBER.finditer(lua):
        line = lua.count("\n", 0, match.start()) + 1
        value = int(match.group())
        for other in sorted({value + 1, value - 1} - {-1}):
            mutated = lua[: match.start()] + str(other) + lua[match.end() :]
            yield f"line {line}: {value} -> {other}", mutated
    for match in STATEMENT.finditer(lua):
        if match.group(1).startswith("local"):
            continue
        line = lua.count("\n", 0, match.start()) + 1
        mutated = lua[: match.start(1)] + "do end" + lua[match.end(1) :]
        yield f"line {line}: delete {match.group(1).strip()!r}", mutated


def mutants() -> Iterator[tuple[str, str, str, str]]:
    """Yield (name, description, script name, mutated module source)."""
    source = MODULE.read_text()
    for script, lua in scripts().items():
        if source.count(lua) != 1:
            msg = f"{script}'s text occurs more than once in {MODULE}"
            raise SystemExit(msg)
        for n, (description, mutated) in enumerate(mutate(lua), start=1):
            name = f"fallback_router._redis_scripts.{script}__lua_{n}"
            yield name, description, script, source.replace(lua, mutated)


def run(module_source: str) -> bool:
    """True when the tests fail against ``module_source`` (the mutant is killed)."""
    with tempfile.TemporaryDirectory(prefix="fr-lua-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "fallback_router", work / "fallback_router")
        shutil.copytree(
            ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        (work / "fallback_router" / "_redis.py").write_text(module_source)
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        # `python -m pytest` puts the working directory first on sys.path: the copy wins
        # over the editable install.
        command = [sys.executable, "-m", "pytest", *PYTEST, *TESTS]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, check=False)
        return done.returncode != 0


def main() -> int:
    """Run (or list) the Lua mutants; print survivors and the score."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested in parallel")
    args = parser.parse_args()
    every = list(mutants())
    if args.list:
        for name, description, _, _ in every:
            print(f"{name}  {description}")
        return 0
    if run(MODULE.read_text()):
        print("the tests fail on the unmutated module: fix them first", file=sys.stderr)
        return 1
    skip = equivalent()
    todo = [m for m in every if m[0] not in skip]
    with ThreadPoolExecutor(args.jobs) as pool:
        killed = list(pool.map(lambda m: run(m[3]), todo))
    survivors = [(name, d) for (name, d, _, _), k in zip(todo, killed, strict=True) if not k]
    for name, description in survivors:
        print(f"survived: {name}  {description}")
    score = 100 * (len(todo) - len(survivors)) / len(todo)
    print(
        f"Lua: {len(every)} mutants, {len(todo) - len(survivors)} killed, "
        f"{len(survivors)} survived, {len(every) - len(todo)} equivalent: {score:.1f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
