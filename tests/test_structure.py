"""The package's shape (issue: one engine, two drivers): small modules, no import cycle
(not even for type checkers), and a routed call that passes through each call-path
module once (no module calls back into one that called it)."""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from fallback_router import InMemoryCooldown, routed

pytestmark = pytest.mark.source

PACKAGE = Path(__file__).resolve().parent.parent / "fallback_router"
LIMIT = 350


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports_of(name: str, path: Path) -> set[str]:
    """Every package module `name` imports: top level, in functions, under TYPE_CHECKING."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            known = modules()
            candidates = [
                f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target
                for alias in node.names
            ]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c.startswith("fallback_router"))
    return found


def graph() -> dict[str, set[str]]:
    mods = modules()
    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for target in imports_of(name, path):
            if target in mods and target not in (name, "fallback_router"):
                edges[name].add(target)
    return edges


def test_no_module_is_over_the_line_limit():
    """Every module reads in one sitting: at most 350 lines."""
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text().splitlines())) > LIMIT
    }
    assert long == {}


def test_no_import_cycle_not_even_under_type_checking():
    """The import graph of the package's modules (every import statement) has no cycle."""
    edges = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(modules()):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_only_the_package_root_imports_from_the_package_root():
    """Private modules import each other, never the public facade (which imports them)."""
    offenders = [
        name
        for name, path in modules().items()
        if name not in ("fallback_router", "fallback_router.otel", "fallback_router.__main__")
        and "fallback_router" in {t for t in imports_of(name, path) if t == "fallback_router"}
    ]
    assert offenders == []


def _call_path_modules(fn) -> list[list[str]]:
    """Run `fn` under a profiler; the package modules on the stack at each call event."""
    stacks: list[list[str]] = []

    def profile(frame, event, arg):
        if event != "call":
            return
        trail = []
        f = frame
        while f is not None:
            module = f.f_globals.get("__name__", "")
            if module.startswith("fallback_router") and (not trail or trail[-1] != module):
                trail.append(module)
            f = f.f_back
        stacks.append(list(reversed(trail)))

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return stacks


@pytest.mark.parametrize("path", ["happy", "general"])
def test_a_routed_call_visits_each_call_path_module_once(path):
    """On every call stack of a routed call, a package module appears in one run only:
    no module calls into another that calls back into it (checked with sys.setprofile)."""
    tracker = InMemoryCooldown(60)
    if path == "general":
        tracker.record_failure("a", RuntimeError())

    fn = routed(providers=["a", "b", "c"], cooldown=tracker)(lambda provider: provider)
    stacks = _call_path_modules(fn.route)
    assert stacks
    for trail in stacks:
        assert len(trail) == len(set(trail)), trail


FUNCTION_LIMIT = 80
#: Functions still over the limit, split on another branch (issue 31; the integrator
#: empties this set after merging them).
LEFT_LONG: set[str] = set()
COMPLEXITY_SUPPRESSIONS = ("C901", "PLR0912", "PLR0915")


def _own_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """A function's lines (from `def` to its end) less those of the functions and
    classes nested in it, which count on their own."""
    total = (node.end_lineno or node.lineno) - node.lineno + 1
    nested = 0
    pending: list[ast.AST] = list(ast.iter_child_nodes(node))
    while pending:
        child = pending.pop()
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            nested += (child.end_lineno or child.lineno) - first + 1
        else:
            pending.extend(ast.iter_child_nodes(child))
    return total - nested


def long_functions() -> dict[str, int]:
    """Every function of the package longer than the limit: `module:qualified name` -> lines."""
    found = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text())

        def visit(node: ast.AST, prefix: str, module: str = name) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    qualified = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        lines = _own_lines(child)
                        if lines > FUNCTION_LIMIT:
                            found[f"{module}:{qualified}"] = lines
                    visit(child, f"{qualified}.")
                else:
                    visit(child, prefix)

        visit(tree, "")
    return found


def test_no_function_is_over_eighty_lines():
    """Every function reads in one screen: at most 80 lines of its own (a nested
    function counts on its own, and not in the function around it)."""
    assert set(long_functions()) - LEFT_LONG == set()


def test_no_complexity_check_is_suppressed():
    """No `noqa` silences the complexity checks (C901, PLR0912, PLR0915): a function
    too branchy for them is split instead."""
    found = [
        f"{name}:{number}"
        for name, path in modules().items()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "noqa" in line
        and any(code in line.partition("noqa")[2] for code in COMPLEXITY_SUPPRESSIONS)
    ]
    assert found == []


# --- layout: written by scripts/relayout.py; keep it when modules move ---
#: Which room each module lives in (issue 31: the package's folders show its parts). A new
#: module picks its folder and is added here; `scripts/relayout.py` wrote the first list.
LAYOUT = {
    "fallback_router": [
        "__main__",
        "_balance",
        "_classify",
        "_config",
        "_decorator",
        "_drivers/",
        "_engine/",
        "_errors",
        "_events",
        "_hints",
        "_lease",
        "_naming",
        "_options",
        "_policy",
        "_providers",
        "_quota",
        "_rate_specs",
        "_redact",
        "_redact_rules",
        "_redis/",
        "_results",
        "_router",
        "_routing",
        "_script",
        "_scripted",
        "_sdk_clients",
        "_state/",
        "_strategies",
        "_surfaces/",
        "_tiers",
        "_tracker",
        "_version",
        "llm/",
        "otel",
        "testing",
    ],
    "fallback_router._drivers": [
        "async_",
        "async_direct",
        "async_stream",
        "callers",
        "held",
        "loop",
        "relay",
        "responses",
        "retry",
        "stream_reads",
        "sync",
        "sync_direct",
        "sync_stream",
        "worker",
    ],
    "fallback_router._state": [
        "budget",
        "cooldown",
        "cooldown_tables",
        "counters",
        "limits",
        "ratelimit",
        "ratio",
        "serial",
    ],
    "fallback_router._redis": [
        "claims",
        "clients",
        "cooldown",
        "guard",
        "mirror",
        "ratelimit",
        "ratio",
        "round_robin",
        "scripts",
        "snapshot",
    ],
    "fallback_router._surfaces": [
        "cli",
        "cli_args",
        "cli_rates",
        "cli_redis",
        "cli_text",
        "display",
        "log",
        "otel_calls",
        "reprs",
        "status",
        "status_row",
        "text",
    ],
}
#: Names that belong in a folder, never flat: drivers, Redis, state, surfaces.
ROOMED = [
    "_redis_(\\w+)",
    "_((?:cli|status|display|text|log|repr|otel)\\w*)",
    "_((?:sync|async|direct|stream|worker|relay|driver|happy)\\w*|\\w+_direct)",
    "_(\\w*(?:bucket|window|ratio|limit|cooldown|budget|counter)\\w*)",
]


def _listing(folder: Path) -> list[str]:
    return sorted(
        [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        + [p.name + "/" for p in folder.iterdir() if (p / "__init__.py").exists()]
    )


def test_each_folder_holds_the_modules_listed():
    """The package root and each folder hold exactly the modules of `LAYOUT`."""
    found = {folder: _listing(PACKAGE.parent.joinpath(*folder.split("."))) for folder in LAYOUT}
    assert found == LAYOUT


def test_no_driver_redis_state_or_surface_module_sits_flat():
    """A module named like a driver, a Redis component, state or a surface is in its folder."""
    import re

    flat = [p.stem for p in PACKAGE.glob("_*.py")]
    assert [s for s in flat if any(re.fullmatch(p, s) for p in ROOMED)] == []


def test_the_folders_only_document_themselves():
    """A folder's `__init__.py` is its docstring: no imports, so no cycle through it."""
    for folder in LAYOUT:
        if folder == "fallback_router":
            continue
        init = PACKAGE.parent.joinpath(*folder.split("."), "__init__.py")
        body = ast.parse(init.read_text()).body
        assert len(body) == 1, folder
        assert ast.get_docstring(ast.Module(body=body, type_ignores=[]))


# --- end of layout ---
