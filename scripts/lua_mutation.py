"""Mutation testing of the Lua scripts (the cooldown tracker's and the rate limiter's).

Usage::

    python scripts/lua_mutation.py            # every Lua mutant: survivors and the score
    python scripts/lua_mutation.py --list     # only list the mutants
    python scripts/lua_mutation.py --baseline-only
                                              # only check the tests pass unmutated
    python scripts/lua_mutation.py --only 'fallback_router._redis.ratelimit.*' ...
                                              # only the mutants matching these patterns

mutmut mutates Python, and a Lua script is one string to it: its mutants break the
whole script, which any test catches. This script mutates the Lua itself, one change
at a time (comparison and arithmetic operators, ``and``/``or``/``not``, ``min``/``max``,
``floor``/``ceil``, integer and string literals, and deleting a statement), writes the
mutated module over its file in a temporary copy of the package and runs that module's
in-process Redis tests against a real redis-server. A mutant is killed when a test fails.
The scripts are the module-level string constants that call ``redis.call`` in
``MODULES``; a module without one is an error (a moved script must not drop out of the
run silently). Mutants listed in ``scripts/equivalent_mutants.txt`` (names
``<module>.<SCRIPT>__lua_<n>``, e.g. ``fallback_router._redis.scripts.READ__lua_2``, each
reason starting with the mutant's ``--list`` description, which a test checks: an edited
script renumbers its mutants) are left out of the score.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
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
#: Every suite that runs a script in-process, against a real redis-server: the claim tokens
#: are checked only by the late-answer tests, the hint benches only by their own suite.
COOLDOWN_TESTS = [
    "tests/test_redis.py",
    "tests/test_cooldowns.py",
    "tests/test_half_open.py",
    "tests/test_one_probe.py",
    "tests/test_hint_benches.py",
    "tests/test_late_answers.py",
    "tests/test_async_redis.py",
]
#: The modules holding Lua scripts (the cooldown tracker's and round-robin counter's, the
#: rate limiter's token bucket), each with the tests that run its scripts.
MODULES = {
    ROOT / "fallback_router" / "_redis" / "scripts.py": COOLDOWN_TESTS,
    ROOT / "fallback_router" / "_redis" / "ratelimit.py": [
        "tests/test_rate_limits.py",
        "tests/test_token_quotas.py",
        "tests/test_late_answers.py",
        "tests/test_async_redis.py",
    ],
    ROOT / "fallback_router" / "_redis" / "ratio.py": ["tests/test_failure_ratio.py"],
}
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


def scripts(module: Path) -> dict[str, str]:
    """``module``'s Lua scripts: module-level string constants that call ``redis.call``."""
    tree = ast.parse(module.read_text())
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


def mutants() -> Iterator[tuple[str, str, Path, str]]:
    """Yield (name, description, module path, mutated module source)."""
    for module in MODULES:
        source = module.read_text()
        found = scripts(module)
        if not found:
            msg = f"no Lua script found in {module}: update MODULES in {__file__}"
            raise SystemExit(msg)
        dotted = ".".join(module.relative_to(ROOT).with_suffix("").parts)
        for script, lua in found.items():
            if source.count(lua) != 1:
                msg = f"{script}'s text occurs more than once in {module}"
                raise SystemExit(msg)
            for n, (description, mutated) in enumerate(mutate(lua), start=1):
                name = f"{dotted}.{script}__lua_{n}"
                yield name, description, module, source.replace(lua, mutated)


def run(module: Path | None, module_source: str = "", show: bool = False) -> bool:
    """True when the tests fail with ``module`` rewritten to ``module_source`` (killed).

    ``module`` None runs the tests against the unmutated package (the baseline); ``show``
    prints the tests' report when they fail.
    """
    with tempfile.TemporaryDirectory(prefix="fr-lua-") as tmp:
        work = Path(tmp)
        shutil.copytree(ROOT / "fallback_router", work / "fallback_router")
        shutil.copytree(
            ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__")
        )
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        if module is not None:
            (work / module.relative_to(ROOT)).write_text(module_source)
        # A missing redis-server must fail the run, not skip the tests (every mutant would
        # survive); a round trip slowed by the parallel runs must not fail open (a false
        # kill): tests/conftest.py then gives the trackers a patient default op_timeout.
        env = {
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "FALLBACK_ROUTER_REQUIRE_REDIS": "1",
            "FALLBACK_ROUTER_PATIENT_REDIS": "1",
        }
        # `python -m pytest` puts the working directory first on sys.path: the copy wins
        # over the editable install. The baseline runs every module's tests.
        every = sorted({test for tests in MODULES.values() for test in tests})
        tests = MODULES[module] if module is not None else every
        command = [sys.executable, "-m", "pytest", *PYTEST, *tests]
        done = subprocess.run(command, cwd=work, env=env, capture_output=True, check=False)
        if show and done.returncode != 0:
            print(done.stdout.decode()[-5000:], done.stderr.decode()[-2000:], file=sys.stderr)
        return done.returncode != 0


def main() -> int:
    """Run (or list) the Lua mutants; print survivors and the score."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested in parallel")
    parser.add_argument(
        "--baseline-only", action="store_true", help="only run the tests on the unmutated code"
    )
    parser.add_argument(
        "--only", nargs="+", default=["*"], help="only the mutants matching these patterns"
    )
    args = parser.parse_args()
    every = [m for m in mutants() if any(fnmatch.fnmatch(m[0], p) for p in args.only)]
    if args.list:
        for name, description, _, _ in every:
            print(f"{name}  {description}")
        return 0
    if run(None, show=True):
        print("the tests fail on the unmutated modules: fix them first", file=sys.stderr)
        return 1
    if args.baseline_only:
        print(f"baseline passed; {len(every)} mutants")
        return 0
    skip = equivalent()
    todo = [m for m in every if m[0] not in skip]
    done: list[str] = []

    def verdict(mutant: tuple[str, str, Path, str]) -> bool:
        killed = run(mutant[2], mutant[3])
        done.append(mutant[0])
        print(f"[{len(done)}/{len(todo)}] {'killed' if killed else 'SURVIVED'}: {mutant[0]}",
              file=sys.stderr, flush=True)  # fmt: skip
        return killed

    with ThreadPoolExecutor(args.jobs) as pool:
        killed = list(pool.map(verdict, todo))
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
