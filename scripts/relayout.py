"""Move the package's flat private modules into folders that show its parts (issue 31, item 7).

One-shot tool, run by the integrator on merged ``main`` (other branches add and rename
modules until then; moving files earlier would conflict with every one of them)::

    python scripts/relayout.py --dry-run          # the plan: moves, guesses, files rewritten
    python scripts/relayout.py --dry-run --diff   # ... and the unified diff of every rewrite
    python scripts/relayout.py                    # do it (git mv + rewrites + ruff), then:
    .venv/bin/python -m pytest && .venv/bin/ruff check . && .venv/bin/mypy ...
    git add -A fallback_router tests scripts docs pyproject.toml && git commit

Options: ``--map _x=_state.x`` places a module (overrides the table and the guesses;
``--map _x=`` keeps ``_x`` flat), ``--no-guess`` leaves unmapped modules flat (reported),
``--no-git`` renames without git (a copy that is not a repository), ``--root DIR``
works on another checkout, ``--check`` exits 1 when anything would change.

What it does, in order:

1. ``git mv fallback_router/_x.py fallback_router/<folder>/<name>.py`` for every module of
   ``MAPPING`` that exists (a missing one is noted and skipped; one whose target already
   exists is left alone). Top-level private modules that are neither mapped nor in
   ``FLAT`` are placed by ``GUESSES`` (printed as GUESS) or reported as UNMAPPED.
2. Each new folder gets an ``__init__.py`` holding its docstring only (no re-exports: a
   package ``__init__`` that imported its modules would create import cycles).
3. Imports are rewritten from the syntax tree, never by text alone: every ``from ... import``
   (relative or absolute) is resolved to the module it named *before* the move (relative
   to the file's old place), mapped, and written again relative to the file's new place
   (``from . import _log`` becomes ``from ._surfaces import log as _log``: the bound name
   never changes). A statement whose names all keep one source module keeps its
   formatting and comments (only the module part changes).
4. Every other mention in tracked text files (tests, scripts, docs, examples, pyproject,
   equivalent mutants): dotted names (``"fallback_router._redis_scripts.X"`` in
   ``monkeypatch``/``mock.patch``/``import_module`` strings, entry points, globs), paths
   (``fallback_router/_redis_scripts.py``, ``ROOT / "fallback_router" / "_redis_scripts.py"``)
   and, inside the package, backticked module names in docstrings. ``CHANGELOG.md``
   (history) and this script and its test are left alone.
5. ``FIXUPS``: code that assumed a flat package (``scripts/lua_mutation.py`` derived a
   module's dotted name from its file name) is replaced by layout-free code.
6. ``tests/test_structure.py`` gets (between markers) the layout it must keep: each
   folder's modules listed, and no driver, Redis, state or surface module flat;
   ``docs/development.md`` gets (between markers) the package layout table, and
   ``CHANGELOG.md`` a line under "Unreleased / Changed" (once).
7. ``ruff check --fix --select I`` and ``ruff format`` on the rewritten Python files.

Idempotent: a second run finds nothing to move and nothing to rewrite. The name clash
``_redis.py`` (a module) versus ``_redis/`` (the new folder) is resolved by moving the
module to ``_redis/cooldown.py``; after the move, ``fallback_router._redis.<child>``
(a child of the new folder) is never rewritten, and a bare ``fallback_router._redis`` is
rewritten only in the run that moved ``_redis.py``.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import keyword
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

PKG = "fallback_router"
GIT = shutil.which("git") or "git"

#: old module (under the package) -> new module (under the package).
MAPPING: dict[str, str] = {
    # _drivers/: carry the engine's decisions out (sync, async, happy paths, streams).
    "_sync": "_drivers.sync",
    "_async": "_drivers.async_",
    "_direct": "_drivers.sync_direct",
    "_async_direct": "_drivers.async_direct",
    "_sync_stream": "_drivers.sync_stream",
    "_async_stream": "_drivers.async_stream",
    "_stream_reads": "_drivers.stream_reads",
    "_relay": "_drivers.relay",
    "_worker": "_drivers.worker",
    "_held": "_drivers.held",
    "_loop": "_drivers.loop",
    "_responses": "_drivers.responses",
    "_callers": "_drivers.callers",
    "_retry": "_drivers.retry",
    # _state/: the in-memory components behind the protocols.
    "_cooldown": "_state.cooldown",
    "_cooldown_tables": "_state.cooldown_tables",
    "_limits": "_state.limits",
    "_ratelimit": "_state.ratelimit",
    "_budget": "_state.budget",
    "_counters": "_state.counters",
    "_serial": "_state.serial",
    # _redis/: the same protocols on Redis.
    "_redis": "_redis.cooldown",
    "_redis_claims": "_redis.claims",
    "_redis_clients": "_redis.clients",
    "_redis_guard": "_redis.guard",
    "_redis_mirror": "_redis.mirror",
    "_redis_ratelimit": "_redis.ratelimit",
    "_redis_rr": "_redis.round_robin",
    "_redis_scripts": "_redis.scripts",
    "_redis_snapshot": "_redis.snapshot",
    # _surfaces/: what people read.
    "_cli": "_surfaces.cli",
    "_cli_args": "_surfaces.cli_args",
    "_cli_rates": "_surfaces.cli_rates",
    "_cli_redis": "_surfaces.cli_redis",
    "_cli_text": "_surfaces.cli_text",
    "_display": "_surfaces.display",
    "_status": "_surfaces.status",
    "_status_row": "_surfaces.status_row",
    "_text": "_surfaces.text",
    "_log": "_surfaces.log",
    "_reprs": "_surfaces.reprs",
    "_otel_calls": "_surfaces.otel_calls",
    # Modules other branches add (issue 27): absent here until they are merged.
    "_ratio": "_state.ratio",
    "_redis_ratio": "_redis.ratio",
}

#: Top-level modules that stay flat: the vocabulary every room shares, the front door.
FLAT = {
    "__init__", "__main__", "otel", "testing",
    "_balance", "_classify", "_config", "_decorator", "_errors", "_events", "_hints",
    "_naming", "_options", "_policy", "_providers", "_redact", "_redact_rules", "_results",
    "_router", "_routing", "_script", "_scripted", "_sdk_clients", "_strategies",
    "_tracker", "_usage", "_version",
    # Other branches' (issues 27, 31): the lease protocol, rate-limit specs, tiers, a call's
    # token reservation; absent here until they are merged.
    "_lease", "_rate_specs", "_tiers", "_quota",
}  # fmt: skip

#: New folders and their docstrings.
FOLDERS: dict[str, str] = {
    "_drivers": "The drivers: they carry the engine's decisions out.\n\n"
    "Sync with plain calls and threads, async on the event loop; the quiet one-attempt\n"
    "happy paths; streams.\n",
    "_state": "In-memory state behind the protocols.\n\n"
    "Cooldowns, concurrency limits, rate limits, the retry budget, round-robin counters.\n",
    "_redis": "The same protocols on a Redis server.\n\n"
    "Cooldowns, rate limits and round-robin; the clients, the Lua scripts, the process\n"
    "mirror and the fail-open guard.\n",
    "_surfaces": "What people read.\n\n"
    "Status tables, notebook displays, text, log records, the command line and what the\n"
    "OpenTelemetry hook reports.\n",
}

#: Where an unmapped top-level module probably belongs (first match wins; printed).
GUESSES: list[tuple[str, str]] = [
    (r"_redis_(?P<n>\w+)", "_redis"),
    (r"_(?P<n>(?:cli|status|display|text|log|repr|otel)\w*)", "_surfaces"),
    (r"_(?P<n>(?:sync|async|direct|stream|worker|relay|driver|happy)\w*|\w+_direct)", "_drivers"),
    (r"_(?P<n>\w*(?:bucket|window|ratio|limit|cooldown|budget|counter)\w*)", "_state"),
]

#: Flat code that assumed a flat package: (file, old text, new text).
FIXUPS: list[tuple[str, str, str]] = [
    (
        "scripts/lua_mutation.py",
        'dotted = f"fallback_router.{module.stem}"',
        'dotted = ".".join(module.relative_to(ROOT).with_suffix("").parts)',
    ),
    (
        "scripts/lua_mutation.py",
        '(work / "fallback_router" / module.name).write_text(module_source)',
        "(work / module.relative_to(ROOT)).write_text(module_source)",
    ),
]

#: Files never rewritten (history, and this tool with its own test).
UNTOUCHED = {"CHANGELOG.md", "docs/changelog.md", "scripts/relayout.py", "tests/test_relayout.py"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".txt", ".yml", ".yaml", ".ini", ".sh", ".pyi"}
TEXT_NAMES = {"run"}  # .ci/run

STRUCTURE_START = "# --- layout: written by scripts/relayout.py; keep it when modules move ---"
STRUCTURE_END = "# --- end of layout ---"
DOCS_START = "<!-- layout: written by scripts/relayout.py -->"
DOCS_END = "<!-- end of layout -->"


@dataclass
class Plan:
    """What a run does: moves (old -> new dotted, full names) and what it reports."""

    moves: dict[str, str] = field(default_factory=dict)  # done in this run
    mapping: dict[str, str] = field(default_factory=dict)  # every old -> new, full names
    notes: list[str] = field(default_factory=list)


def full(name: str) -> str:
    """`_x` -> `fallback_router._x`; a full name is kept."""
    return name if name == PKG or name.startswith(PKG + ".") else f"{PKG}.{name}"


def safe(part: str) -> str:
    """A module name that can be imported: a keyword gets a trailing underscore."""
    return part + "_" if keyword.iskeyword(part) else part


def module_path(root: Path, dotted: str, package: bool = False) -> Path:
    """The file of `dotted` (its `__init__.py` when `package`)."""
    path = root.joinpath(*dotted.split("."))
    return path / "__init__.py" if package else path.with_suffix(".py")


def parse_maps(items: list[str]) -> dict[str, str | None]:
    """`--map old=new` items; `old=` keeps `old` flat."""
    out: dict[str, str | None] = {}
    for item in items:
        old, eq, new = item.partition("=")
        if not eq or not old.strip():
            msg = f"--map {item!r}: expected OLD=NEW (e.g. _tokens=_state.tokens) or OLD="
            raise SystemExit(msg)
        out[old.strip().removeprefix(PKG + ".")] = new.strip().removeprefix(PKG + ".") or None
    return out


def guess(stem: str) -> str | None:
    """The folder a new module's name suggests, as its new short name, or None."""
    for pattern, folder in GUESSES:
        if match := re.fullmatch(pattern, stem):
            return f"{folder}.{safe(match['n'])}"
    return None


def make_plan(root: Path, overrides: dict[str, str | None], use_guesses: bool) -> Plan:
    """Which modules move where; what exists, is missing, is guessed, is unmapped."""
    plan = Plan()
    table: dict[str, str | None] = {**MAPPING, **overrides}
    pkg_dir = root / PKG
    stems = sorted(p.stem for p in pkg_dir.glob("*.py"))
    for stem in stems:
        if stem in table or stem in FLAT or not stem.startswith("_"):
            continue
        if use_guesses and (target := guess(stem)):
            table[stem] = target
            plan.notes.append(f"GUESS     {stem}.py -> {target.replace('.', '/')}.py")
        else:
            plan.notes.append(
                f"UNMAPPED  {stem}.py stays flat (place it with --map {stem}=<folder>.<name>)"
            )
    for old, new in table.items():
        if new is None:
            continue
        old_full, new_full = full(old), full(new)
        plan.mapping[old_full] = new_full
        old_file, new_file = module_path(root, old_full), module_path(root, new_full)
        if old_file.exists() and new_file.exists():
            plan.notes.append(f"CONFLICT  {old}.py and {new_file.relative_to(root)} both exist")
        elif old_file.exists():
            plan.moves[old_full] = new_full
        elif not new_file.exists():
            plan.notes.append(f"MISSING   {old}.py (mapped to {new}): skipped")
    return plan


# -- the tree after the moves ---------------------------------------------------------------
class Tree:
    """The package's modules after the moves: names, files, what each module binds."""

    def __init__(self, root: Path, plan: Plan) -> None:
        self.root = root
        self.files: dict[str, Path] = {}  # module name -> file it is read from now
        self.packages: set[str] = set()
        self.old_name: dict[str, str] = {}  # new name -> old name (moved files)
        for path in sorted((root / PKG).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                name = ".".join(parts[:-1])
                self.packages.add(name)
            else:
                name = ".".join(parts)
            new = plan.moves.get(name, name)
            self.files[new] = path
            if new != name:
                self.old_name[new] = name
        for new in plan.moves.values():
            parent = new.rpartition(".")[0]
            while parent and parent not in self.packages:
                self.packages.add(parent)
                self.files.setdefault(parent, module_path(root, parent, package=True))
                parent = parent.rpartition(".")[0]
        self._bound: dict[str, set[str] | None] = {}

    def exists(self, name: str) -> bool:
        """`name` is a module or a package after the moves."""
        return name in self.files or name in self.packages

    def binds(self, name: str) -> set[str] | None:
        """Top-level names module `name` binds (None: any, it has `__getattr__`)."""
        if name not in self._bound:
            path = self.files.get(name)
            text = path.read_text() if path is not None and path.exists() else ""
            names: set[str] | None = set()
            stack = list(ast.parse(text).body)
            while stack:
                node = stack.pop()
                if isinstance(node, ast.If | ast.Try):
                    stack.extend([*node.body, *node.orelse])
                    if isinstance(node, ast.Try):
                        stack.extend(n for h in node.handlers for n in h.body)
                elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(node.name)
                elif isinstance(node, ast.Import | ast.ImportFrom):
                    names.update((a.asname or a.name).split(".")[0] for a in node.names)
                else:
                    names.update(t.id for t in ast.walk(node) if isinstance(t, ast.Name | ast.arg))
            if names is not None and "__getattr__" in names:
                names = None
            self._bound[name] = names
        return self._bound[name]

    def valid(self, target: str, aliases: list[str]) -> bool:
        """`from target import aliases` works in the tree after the moves."""
        if not self.exists(target):
            return False
        bound = self.binds(target)
        return all(
            self.exists(f"{target}.{a}") or a == "*" or bound is None or a in bound for a in aliases
        )


def resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    """The absolute module of `from <'.' * level><name> import` inside `module`."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - level + 1]
    return ".".join(base + ([name] if name else []))


def relative(module: str, is_package: bool, target: str) -> str:
    """`target` written relative to `module` (the text between `from ` and ` import`)."""
    base = module.split(".") if is_package else module.split(".")[:-1]
    parts = target.split(".")
    common = 0
    while common < min(len(base), len(parts)) and base[common] == parts[common]:
        common += 1
    return "." * (len(base) - common + 1) + ".".join(parts[common:])


# -- rewriting ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Place:
    """Where a module is after the moves (`here`) and was before (`old`)."""

    here: str | None
    old: str | None
    is_package: bool

    def spell(self, source: str, level: int) -> str:
        """`source` relative within the module's own folder, absolute beyond (ruff TID252)."""
        if level and self.here is not None:
            spelled = relative(self.here, self.is_package, source)
            if not spelled.startswith(".."):
                return spelled
        return source


def old_target(node: ast.ImportFrom, tree: Tree, place: Place) -> str | None:
    """The module `node` imported from before the moves; None when it still works as is."""
    aliases = [a.name for a in node.names]
    if not node.level:
        target = node.module or ""
        broken = target.startswith(PKG) and not tree.valid(target, aliases)
        return target if broken else None
    if place.here is None or place.old is None:
        return None
    if tree.valid(resolve(place.here, place.is_package, node.level, node.module), aliases):
        return None
    return resolve(place.old, place.is_package, node.level, node.module)


def pieces_of(
    node: ast.ImportFrom, target: str, tree: Tree, mapping: dict[str, str]
) -> list[tuple[str, str, str | None]]:
    """(source module, imported name, bound name) after the moves, alias by alias."""
    pieces: list[tuple[str, str, str | None]] = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in mapping and not tree.exists(sub):  # `from . import _log`: a module
            parent, _, leaf = mapping[sub].rpartition(".")
            bound = alias.asname or alias.name
            pieces.append((parent, leaf, None if bound == leaf else bound))
        else:
            pieces.append((mapping.get(target, target), alias.name, alias.asname))
    return pieces


def new_statement(
    node: ast.ImportFrom, segment: str, pieces: list[tuple[str, str, str | None]], place: Place
) -> str:
    """The statement's new text: only its module part changed when that is enough."""
    sources = list(dict.fromkeys(p[0] for p in pieces))
    same_names = all(
        p[1] == a.name and p[2] == a.asname for p, a in zip(pieces, node.names, strict=True)
    )
    head = re.match(r"from\s+(\.*\s*[\w.]*)\s+import", segment)
    if len(sources) == 1 and same_names and head is not None:
        spelled = place.spell(sources[0], node.level)
        return segment[: head.start(1)] + spelled + segment[head.end(1) :]
    statements = []
    for source in sources:
        names = ", ".join(
            leaf if bound is None else f"{leaf} as {bound}"
            for src, leaf, bound in pieces
            if src == source
        )
        statements.append(f"from {place.spell(source, node.level)} import {names}")
    return f"\n{' ' * node.col_offset}".join(statements)


def rewrite_imports(text: str, tree: Tree, mapping: dict[str, str], place: Place) -> str:
    """Every `from ... import` of `text` after the moves."""
    try:
        nodes = [n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.ImportFrom)]
    except SyntaxError:
        return text
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    edits: list[tuple[int, int, str]] = []
    for node in nodes:
        target = old_target(node, tree, place)
        if target is None or node.end_lineno is None or node.end_col_offset is None:
            continue
        start = offsets[node.lineno - 1] + node.col_offset
        end = offsets[node.end_lineno - 1] + node.end_col_offset
        segment = text[start:end]
        new = new_statement(node, segment, pieces_of(node, target, tree, mapping), place)
        if new != segment:
            edits.append((start, end, new))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def children(mapping: dict[str, str], tree: Tree, package: str) -> set[str]:
    """The child module names of a new folder (those mapped into it and those present)."""
    prefix = package + "."
    found = {v[len(prefix) :].split(".")[0] for v in mapping.values() if v.startswith(prefix)}
    found |= {m[len(prefix) :].split(".")[0] for m in tree.files if m.startswith(prefix)}
    return found


def rewrite_text(
    text: str, mapping: dict[str, str], tree: Tree, moved_now: set[str], here: str | None
) -> str:
    """Dotted names, paths and (in the package) backticked module names after the moves."""
    for old, new in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
        clash = old in tree.packages  # `_redis` the module became `_redis/` the folder
        kids = children(mapping, tree, old) if clash else set()
        old_rel, new_rel = old.removeprefix(PKG + "."), new.removeprefix(PKG + ".")
        old_path, new_path = old.replace(".", "/"), new.replace(".", "/")

        def keep(
            after: str, sep: str, clash: bool = clash, kids: set[str] = kids, old: str = old
        ) -> bool:
            """A clash name left alone: a child of the new folder, a glob, or not moved now."""
            if not clash:
                return False
            child = re.match(rf"\{sep}(\w+)", after) if after[:1] == sep else None
            if child is not None:
                return child[1] in kids
            return after[:1] == "*" or old not in moved_now

        def dotted(m: re.Match[str], new: str = new) -> str:
            return m[0] if keep(m.string[m.end() :], ".") else new

        def pathed(m: re.Match[str], new_path: str = new_path) -> str:
            if keep(m.string[m.end() :], "/"):
                return m[0]
            return new_path + (".py" if m[1] else "")

        text = re.sub(rf"(?<![\w.]){re.escape(old)}(?![\w])", dotted, text)
        text = re.sub(rf"(?<![\w]){re.escape(old_path)}(\.py)?(?![\w])", pathed, text)
        if old not in moved_now and clash:
            continue
        q_old = re.escape(old_rel)
        pieces = '" / "'.join(new_rel.split("."))
        text = re.sub(rf'(["\']){PKG}\1 / (["\']){q_old}\.py\2', f'"{PKG}" / "{pieces}.py"', text)
        if here is not None:
            folder, _, leaf = new.rpartition(".")
            short = leaf if here.rpartition(".")[0] == folder else new_rel
            text = re.sub(rf"`{q_old}(\.py)?`", lambda m, n=short: f"`{n}{m[1] or ''}`", text)
    return text


# -- what the move brings along: the structure test and the docs ----------------------------
def layout(root: Path) -> dict[str, list[str]]:
    """The package root's and each new folder's modules (and subpackages), sorted."""
    out: dict[str, list[str]] = {}
    for folder in [PKG, *(f"{PKG}.{f}" for f in FOLDERS)]:
        path = root.joinpath(*folder.split("."))
        if not path.is_dir():
            continue
        out[folder] = sorted(
            [p.stem for p in path.glob("*.py") if p.stem != "__init__"]
            + [p.name + "/" for p in path.iterdir() if (p / "__init__.py").exists()]
        )
    return out


def structure_block(root: Path) -> str:
    """The tests appended to tests/test_structure.py (between markers)."""
    rows = "\n".join(
        f"    {folder!r}: [\n" + "".join(f"        {name!r},\n" for name in names) + "    ],"
        for folder, names in layout(root).items()
    )
    patterns = [p.replace("?P<n>", "") for p, _ in GUESSES]
    return f'''{STRUCTURE_START}
#: Which room each module lives in (issue 31: the package's folders show its parts). A new
#: module picks its folder and is added here; `scripts/relayout.py` wrote the first list.
LAYOUT = {{
{rows}
}}
#: Names that belong in a folder, never flat: drivers, Redis, state, surfaces.
ROOMED = {patterns!r}


def _listing(folder: Path) -> list[str]:
    return sorted(
        [p.stem for p in folder.glob("*.py") if p.stem != "__init__"]
        + [p.name + "/" for p in folder.iterdir() if (p / "__init__.py").exists()]
    )


def test_each_folder_holds_the_modules_listed():
    """The package root and each folder hold exactly the modules of `LAYOUT`."""
    found = {{
        folder: _listing(PACKAGE.parent.joinpath(*folder.split(".")))
        for folder in LAYOUT
    }}
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
{STRUCTURE_END}
'''


def docs_block(root: Path) -> str:
    """The package layout section of docs/development.md (between markers)."""
    rooms = layout(root)
    flat = rooms.pop(PKG, [])
    out = [
        DOCS_START,
        "## Package layout",
        "",
        "The package's folders show its parts: the engine decides, the drivers carry its",
        "decisions out, the state and Redis folders hold the components behind the",
        "protocols, the surfaces are what people read. The vocabulary every room shares",
        "(results, errors, events, providers, strategies, classification, hints, redaction,",
        "the tracker protocol) and the front door (router, decorator, configuration) stay",
        "flat. `tests/test_structure.py` lists each folder's modules: a new module picks",
        "its room there.",
        "",
        "| Folder | What it holds | Modules |",
        "| --- | --- | --- |",
    ]
    folders = [name for name in flat if name.endswith("/")]
    for name in folders:
        dotted = f"{PKG}.{name.rstrip('/')}"
        init = module_path(root, dotted, package=True)
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        paragraphs = doc.split("\n\n")  # a new folder: all of it; another: its summary line
        kept = paragraphs[:2] if name.rstrip("/") in FOLDERS else paragraphs[0].splitlines()[:1]
        text = " ".join(" ".join(kept).split()).replace("|", "\\|")
        modules = rooms.get(dotted) or sorted(
            p.stem for p in init.parent.glob("*.py") if p.stem != "__init__"
        )
        listed = ", ".join(f"`{m}`" for m in modules)
        out.append(f"| `{name}` | {text} | {listed} |")
    modules = ", ".join(f"`{m}`" for m in flat if not m.endswith("/") and m != "__main__")
    out += [f"| `{PKG}/` | The public facade, the vocabulary and the front door. | {modules} |"]
    out += [DOCS_END, ""]
    return "\n".join(out)


def replace_block(text: str, start: str, end: str, block: str) -> str:
    """`text` with the block between `start` and `end` replaced (appended when missing)."""
    if start in text and end in text:
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        return head + block.rstrip("\n") + tail
    gap = "\n\n\n" if start.startswith("#") else "\n\n"
    return text.rstrip("\n") + gap + block


# -- the run --------------------------------------------------------------------------------
def tracked_files(root: Path, use_git: bool) -> list[Path]:
    """The text files a run may rewrite (git's tracked files, or every file but caches)."""
    if use_git:
        out = subprocess.run(
            [GIT, "ls-files"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.split()
        paths = [root / p for p in out]
    else:
        skip = {".git", ".venv", "site", "mutants", "__pycache__", "node_modules"}
        paths = [
            p
            for p in root.rglob("*")
            if p.is_file()
            and not skip & set(p.relative_to(root).parts)
            and not p.relative_to(root).parts[0].startswith(".venv")
        ]
    return [
        p
        for p in paths
        if (p.suffix in TEXT_SUFFIXES or p.name in TEXT_NAMES)
        and p.relative_to(root).as_posix() not in UNTOUCHED
        and not p.is_symlink()
    ]


def new_contents(root: Path, plan: Plan, use_git: bool) -> dict[Path, tuple[str, str]]:
    """Every file whose text changes: path after the moves -> (text before, text after)."""
    tree = Tree(root, plan)
    moved_now = set(plan.moves)
    out: dict[Path, tuple[str, str]] = {}
    files = set(tracked_files(root, use_git)) | {
        p for p in (root / PKG).rglob("*.py") if "__pycache__" not in p.parts
    }
    by_old_path = {module_path(root, old): new for old, new in plan.moves.items()}
    # A moved module's old name: its imports may still be written from there (a branch
    # merged after the move brings its changes to the new file with the old imports).
    unmapped = {new: old for old, new in plan.mapping.items()}
    for path in sorted(files):
        if not path.exists():
            continue
        before = path.read_text()
        new_module = by_old_path.get(path)
        target = module_path(root, new_module) if new_module else path
        here: str | None = None
        is_package = path.name == "__init__.py"
        if path.is_relative_to(root / PKG) and path.suffix == ".py":
            parts = path.relative_to(root).with_suffix("").parts
            here = new_module or ".".join(parts[:-1] if is_package else parts)
        # Text first: what the import pass writes (`from fallback_router._redis import
        # scripts`) must not be read again as an old name.
        after = rewrite_text(before, plan.mapping, tree, moved_now, here)
        if path.suffix == ".py":
            old = tree.old_name.get(here) or unmapped.get(here) or here if here else None
            place = Place(here, old, is_package)
            after = rewrite_imports(after, tree, plan.mapping, place)
        rel = path.relative_to(root).as_posix()
        for file, old, new in FIXUPS:
            if rel == file:
                after = after.replace(old, new)
        if after != before or target != path:
            out[target] = (before, after)
    for folder, doc in FOLDERS.items():
        init = root / PKG / folder / "__init__.py"
        if not init.exists() and any(n.startswith(f"{PKG}.{folder}.") for n in plan.moves.values()):
            out[init] = ("", f'"""{doc}"""\n')
    return out


def move(root: Path, old: Path, new: Path, use_git: bool) -> None:
    """Rename `old` to `new` (with `git mv` when `use_git`)."""
    new.parent.mkdir(parents=True, exist_ok=True)
    if use_git:
        subprocess.run([GIT, "mv", str(old), str(new)], cwd=root, check=True)
    else:
        old.rename(new)


def ruff(root: Path, files: list[Path]) -> str | None:
    """Sort imports and format `files`; the problem when ruff is missing or fails."""
    exe = ruff_exe(root)
    if exe is None:
        return "ruff not found: run `ruff check --fix --select I . && ruff format .` yourself"
    names = [str(f) for f in files]
    fix = subprocess.run(
        [exe, "check", "--fix", "--select", "I", "--quiet", *names],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    fmt = subprocess.run(
        [exe, "format", "--quiet", *names], cwd=root, capture_output=True, text=True, check=False
    )
    lint = subprocess.run(
        [exe, "check", "--quiet", "--output-format", "concise", *names],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    problems = "\n".join(
        out.strip() for out in (fix.stderr, fmt.stdout, fmt.stderr, lint.stdout) if out.strip()
    )
    return problems or None


def leftovers(root: Path, plan: Plan, use_git: bool) -> list[str]:
    """Mentions of moved modules' old names that remain (for the integrator to look at)."""
    found = []
    olds = [o for o, n in plan.mapping.items() if not module_path(root, o).exists()]
    tree_packages = {f"{PKG}.{f}" for f in FOLDERS if (root / PKG / f).is_dir()}
    for path in tracked_files(root, use_git):
        if not path.exists():
            continue
        text = path.read_text()
        for old in olds:
            if old in tree_packages:
                continue
            stem = old.rpartition(".")[2]
            pattern = rf"(?<![\w.]){re.escape(old)}(?!\w)|from \.+{stem} import|import {stem}\b"
            for n, line in enumerate(text.splitlines(), 1):
                if path.suffix == ".py" and re.search(pattern, line):
                    found.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    return found


def arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--diff", action="store_true", help="print the diff of every rewrite")
    parser.add_argument("--check", action="store_true", help="exit 1 if anything would change")
    parser.add_argument("--map", action="append", default=[], metavar="OLD=NEW")
    parser.add_argument("--no-guess", action="store_true", help="leave unmapped modules flat")
    parser.add_argument("--no-git", action="store_true", help="plain renames, no git mv")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    return parser.parse_args(argv)


def apply(root: Path, plan: Plan, changes: dict[Path, tuple[str, str]], use_git: bool) -> None:
    """Move the files, write the rewrites, add the new folders' `__init__.py` to git."""
    for old, new in plan.moves.items():
        move(root, module_path(root, old), module_path(root, new), use_git)
    for path, (_, after) in changes.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(after)
    inits = [p for p, (b, _) in changes.items() if not b and p.name == "__init__.py"]
    if use_git and inits:
        subprocess.run([GIT, "add", *map(str, inits)], cwd=root, check=True)


def write_blocks(root: Path) -> dict[Path, tuple[str, str]]:
    """The structure test's layout and the docs' layout table, for the tree as it is now."""
    written: dict[Path, tuple[str, str]] = {}
    if not any((root / PKG / folder).is_dir() for folder in FOLDERS):
        return written
    for rel, start, end, build in [
        ("tests/test_structure.py", STRUCTURE_START, STRUCTURE_END, structure_block),
        ("docs/development.md", DOCS_START, DOCS_END, docs_block),
    ]:
        path = root / rel
        if path.exists():
            before = path.read_text()
            after = formatted(root, path, replace_block(before, start, end, build(root)))
            if after != before:
                path.write_text(after)
                written[path] = (before, after)
    return written


def ruff_exe(root: Path) -> str | None:
    """The ruff next to the checkout, next to this Python, or on PATH."""
    near = [root / ".venv" / "bin" / "ruff", Path(sys.executable).parent / "ruff"]
    return next((str(p) for p in near if p.exists()), shutil.which("ruff"))


def formatted(root: Path, path: Path, text: str) -> str:
    """`text` as `ruff format` writes it (Python only; unchanged without ruff)."""
    exe = ruff_exe(root)
    if path.suffix != ".py" or exe is None:
        return text
    done = subprocess.run(
        [exe, "format", "--stdin-filename", str(path), "-"],
        cwd=root, input=text, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return done.stdout if done.returncode == 0 else text


CHANGELOG_LINE = """- The package's private modules sit in folders that show its parts: `_drivers/`
  (sync, async, the happy paths, streams), `_state/` (the in-memory components),
  `_redis/` (the Redis components; `fallback_router._redis` is now a folder and
  `RedisCooldown`'s module is `_redis.cooldown`) and `_surfaces/` (status, displays,
  text, logs, the command line); the development guide has the table. Public imports
  are unchanged. Reinstall an editable checkout (`pip install -e .`): the
  `fallback-router` command's entry point is now `fallback_router._surfaces.cli:main`.
"""


def changelog(root: Path) -> dict[Path, tuple[str, str]]:
    """A line under "## [Unreleased]" / "### Changed" (once)."""
    path = root / "CHANGELOG.md"
    if not path.exists() or not any((root / PKG / folder).is_dir() for folder in FOLDERS):
        return {}
    before = path.read_text()
    head, marker, rest = before.partition("## [Unreleased]\n")
    if not marker or "folders that show its parts" in before:
        return {}
    release, _, later = rest.partition("\n## [")
    if "### Changed\n\n" in release:
        release = release.replace("### Changed\n\n", "### Changed\n\n" + CHANGELOG_LINE, 1)
    else:
        release = release.rstrip("\n") + "\n\n### Changed\n\n" + CHANGELOG_LINE
    after = head + marker + release + ("\n## [" + later if later else "")
    path.write_text(after)
    return {path: (before, after)}


def too_long(root: Path, plan: Plan) -> list[str]:
    """Moved modules over the structure test's line limit (longer parent imports wrap)."""
    test = root / "tests" / "test_structure.py"
    found = re.search(r"^LIMIT = (\d+)", test.read_text(), re.MULTILINE) if test.exists() else None
    if found is None:
        return []
    limit = int(found[1])
    out = []
    for new in plan.moves.values():
        path = module_path(root, new)
        if path.exists() and (n := len(path.read_text().splitlines())) > limit:
            out.append(f"{path.relative_to(root)}: {n} lines > {limit}")
    return out


def show(root: Path, rewritten: dict[Path, tuple[str, str]], diff: bool) -> None:
    """Name every rewritten file; with `diff`, print the unified diffs."""
    for path in sorted(rewritten):
        print(f"REWRITE   {path.relative_to(root)}")
    for path, (before, after) in sorted(rewritten.items()) if diff else ():
        rel = str(path.relative_to(root))
        old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
        sys.stdout.writelines(difflib.unified_diff(old, new, rel, rel))


def fixups_missing(root: Path) -> list[str]:
    """`FIXUPS` whose flat code and fixed code are both gone (the file changed meanwhile)."""
    out = []
    for file, old, new in FIXUPS:
        text = (root / file).read_text() if (root / file).exists() else ""
        if text and old not in text and new not in text:
            out.append(f"FIXUP?    {file}: neither the flat nor the fixed code found; check it")
    return out


def main(argv: list[str] | None = None) -> int:
    """Plan, print, and (unless --dry-run or --check) move and rewrite."""
    args = arguments(argv)
    root: Path = args.root.resolve()
    use_git = not args.no_git
    dry = args.dry_run or args.check
    plan = make_plan(root, parse_maps(args.map), use_guesses=not args.no_guess)
    for old, new in plan.moves.items():
        src, dst = module_path(root, old), module_path(root, new)
        print(f"MOVE      {src.relative_to(root)} -> {dst.relative_to(root)}")
    for note in plan.notes + fixups_missing(root):
        print(note)
    changes = new_contents(root, plan, use_git)
    if dry:
        if plan.moves:
            print("(after the moves, the structure test and the docs get the layout table)")
    else:
        apply(root, plan, changes, use_git)
        changes = {**changes, **write_blocks(root), **changelog(root)}
    show(root, changes, args.diff)
    if not dry:
        python = [p for p in changes if p.suffix == ".py" and p.exists()]
        if python and (problem := ruff(root, python)):
            print(f"RUFF      {problem}")
        for line in leftovers(root, plan, use_git):
            print(f"LEFTOVER  {line}")
        for line in too_long(root, plan):
            print(f"TOO LONG  {line} (the structure test's limit)")
    if not plan.moves and not changes:
        print("nothing to do: the layout is in place")
    return 1 if args.check and (plan.moves or changes) else 0


if __name__ == "__main__":
    raise SystemExit(main())
