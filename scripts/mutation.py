"""Run mutation testing and print a score per module.

Usage::

    python scripts/mutation.py            # mutmut run, then the table
    python scripts/mutation.py --report   # only the table, from the last run
    python scripts/mutation.py --retest 'fallback_router._redis*'
                                          # after adding tests: run the survivors again
    python scripts/mutation.py --survivors 'fallback_router._redis*'
                                          # what each survivor changed (one line each)
    python scripts/mutation.py --suggest  # survivors equivalent by a mechanical rule

mutmut (configured in ``pyproject.toml``, ``[tool.mutmut]``) copies the package to
``mutants/``, mutates it and runs the tests that reach each mutated function. The
score of a module is killed / (mutants - equivalent): a mutant is killed when a test
fails, times out or the type checker rejects it. Mutants listed in
``scripts/equivalent_mutants.txt`` (one mutant name per line, ``#`` comments) were
judged equivalent by hand: they cannot change behaviour, so no test can catch them.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants" / "fallback_router"
EQUIVALENT = Path(__file__).with_name("equivalent_mutants.txt")
#: survivors' verdicts before ``--retest``: a run stopped early reports them as survived
PREVIOUS = ROOT / "mutants" / "previous_verdicts.json"
KILLED = {1, 3, 36, 37, -24, 24, 152, 255, -9, -15}  # failed, crashed, timed out, type check,
# or stopped by hand after hanging past every timeout (an endless loop)
SURVIVED = {0, 5, 33}  # the tests passed, or no test reached the mutant


def equivalent() -> set[str]:
    """Names of the mutants judged equivalent by hand."""
    if not EQUIVALENT.exists():
        return set()
    lines = (line.split("#")[0].strip() for line in EQUIVALENT.read_text().splitlines())
    return {line for line in lines if line}


def scores() -> dict[str, Counter[str]]:
    """Per module: counts of killed, survived, equivalent and unchecked mutants."""
    skip = equivalent()
    before = previous()
    table: dict[str, Counter[str]] = {}
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        relative = meta.relative_to(MUTANTS)
        module = ".".join(relative.with_name(meta.name.removesuffix(".py.meta")).parts)
        counts = table.setdefault(module, Counter())
        for key, checked in json.loads(meta.read_text())["exit_code_by_key"].items():
            code = before.get(key) if checked is None else checked
            if code in KILLED:  # a test caught it: listed as equivalent by mistake
                counts["killed"] += 1
                if key in skip:
                    print(f"listed as equivalent but killed: {key}", file=sys.stderr)
            elif key in skip:
                counts["equivalent"] += 1
            elif code in SURVIVED:
                counts["survived"] += 1
            else:
                counts["unchecked"] += 1
    return table


def survivors(pattern: str = "*") -> list[str]:
    """Names of the surviving mutants that match ``pattern``."""
    before = previous()
    names = []
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        for key, checked in json.loads(meta.read_text())["exit_code_by_key"].items():
            code = before.get(key) if checked is None else checked
            if code in SURVIVED and fnmatch.fnmatch(key, pattern):
                names.append(key)
    return names


def _functions(module: str) -> dict[str, ast.AST]:
    """The mutated module's functions (methods included) by their mutmut names."""
    tree = ast.parse((MUTANTS / f"{module.replace('.', '/')}.py").read_text())
    return {
        node.name: node
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }


def _differences(
    a: object, b: object, parents: tuple[ast.AST, ...] = ()
) -> Iterator[tuple[object, object, tuple[ast.AST, ...]]]:
    """Yield the smallest differing subtrees of two ASTs, with their ancestors."""
    if type(a) is not type(b):
        yield a, b, parents
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            yield a, b, parents
        else:
            for x, y in zip(a, b, strict=True):
                yield from _differences(x, y, parents)
    elif isinstance(a, ast.AST) and isinstance(b, ast.AST):
        for field in a._fields:
            if field in ("name", "type_comment"):  # the function's own name differs
                continue
            yield from _differences(getattr(a, field), getattr(b, field), (*parents, a))
    elif a != b:
        yield a, b, parents


def changes(name: str) -> list[tuple[object, object, tuple[ast.AST, ...]]]:
    """What mutant ``name`` changed in its function, as (original, mutated, ancestors)."""
    parts = name.split(".")
    module, function = ".".join(parts[1:-1]), parts[-1]
    functions = _functions(module)
    original = functions[function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"]
    return list(_differences(original, functions[function]))


def _text(node: object) -> str:
    if isinstance(node, ast.AST):
        return ast.unparse(node) or type(node).__name__
    if isinstance(node, list):
        return "; ".join(_text(n) for n in node)
    return repr(node)


def _only_strict(found: list[tuple[object, object, tuple[ast.AST, ...]]]) -> bool:
    """True when every change is to (or removes) a ``strict=`` keyword."""
    for a, b, parents in found:
        if any(isinstance(p, ast.keyword) and p.arg == "strict" for p in parents):
            continue
        if isinstance(a, list) and isinstance(b, list):
            kept = [k.arg for k in a if isinstance(k, ast.keyword) and k.arg != "strict"]
            if kept == [k.arg for k in b if isinstance(k, ast.keyword)]:
                continue
        return False
    return True


def mechanical_reason(name: str) -> str | None:
    """Why mutant ``name`` cannot change behaviour, by a mechanical rule; else None."""
    found = changes(name)
    if not found:
        return "no change to the function's code"
    reasons = set()
    for _, _, parents in found:
        call = next(
            (
                p
                for p in reversed(parents)
                if isinstance(p, ast.Call) and isinstance(p.func, ast.Name | ast.Attribute)
            ),
            None,
        )
        callee = None
        if call is not None:
            callee = call.func.id if isinstance(call.func, ast.Name) else call.func.attr
        # Not a rule: wants(None, level) reads loguru's activation of code without a module
        # name, which can differ from the package's (test_logging pins the difference).
        if callee == "cast" and call is not None and call.args and call.args[0] in parents:
            reasons.add("typing.cast's type argument is not read at run time")
        elif callee == "zip" and _only_strict(found):
            reasons.add("zip(strict=True) only asserts lengths that are equal by construction")
        elif callee in ("encode", "decode") and all(
            isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()
            for a, b, _ in found
        ):
            reasons.add("codec names are case-insensitive")
        else:
            return None
    return "; ".join(sorted(reasons))


def previous() -> dict[str, int]:
    """Verdicts of survivors set to run again (kept until the new run decides them)."""
    return json.loads(PREVIOUS.read_text()) if PREVIOUS.exists() else {}


def reset_survivors(pattern: str) -> list[str]:
    """Mark the surviving mutants matching ``pattern`` unchecked (not the equivalent ones).

    Returns the names to run: those and the ones a stopped run left unchecked.
    """
    kept, skip = previous(), equivalent()
    names = []
    for meta in sorted(MUTANTS.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        for key, code in codes.items():
            if key in skip or not fnmatch.fnmatch(key, pattern):
                continue
            if code in SURVIVED:
                kept[key] = code
                codes[key] = None
            if codes[key] is None:
                names.append(key)
        meta.write_text(json.dumps(data))
    PREVIOUS.write_text(json.dumps(kept))
    return names


def report() -> int:
    """Print the table of the last run; 1 when there is none."""
    table = scores()
    if not table:
        print("no results: run `python scripts/mutation.py` first", file=sys.stderr)
        return 1
    print(f"{'module':<16} {'mutants':>8} {'killed':>7} {'survived':>9} {'equiv.':>7} {'score':>7}")
    for module, c in table.items():
        judged = c["killed"] + c["survived"]
        score = f"{100 * c['killed'] / judged:6.1f}%" if judged else "     -"
        total = sum(c.values())
        print(
            f"{module:<16} {total:>8} {c['killed']:>7} {c['survived']:>9} "
            f"{c['equivalent']:>7} {score}"
        )
    unchecked = sum(c["unchecked"] for c in table.values())
    if unchecked:
        print(f"{unchecked} mutants were not checked (interrupted run?)")
    return 0


def main() -> int:
    """Run mutmut (unless ``--report``), then print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", action="store_true", help="only print the last run's table")
    parser.add_argument("--max-children", default="2", help="parallel test processes")
    parser.add_argument("--retest", metavar="PATTERN", help="run matching survivors again")
    parser.add_argument("--survivors", metavar="PATTERN", help="print what survivors changed")
    parser.add_argument(
        "--suggest", action="store_true", help="print survivors equivalent by a mechanical rule"
    )
    args = parser.parse_args()
    if args.survivors:
        for name in survivors(args.survivors):
            for a, b, _ in changes(name):
                print(f"{name}: {_text(a)}  ->  {_text(b)}")
        return 0
    if args.suggest:
        skip = equivalent()
        for name in survivors():
            reason = None if name in skip else mechanical_reason(name)
            if reason:
                print(f"{name}  # {reason}")
        return 0
    if not args.report:
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", args.max_children]
        if args.retest:
            names = reset_survivors(args.retest)
            print(f"{len(names)} survivors and unchecked mutants to run (equivalent ones left out)")
            if not names:
                return report()
            command.extend(names)
        subprocess.run(command, cwd=ROOT, check=False)
    return report()


if __name__ == "__main__":
    raise SystemExit(main())
