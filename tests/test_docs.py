"""Every Python snippet in README.md and docs/ runs (offline, with stand-in providers).

A page's snippets run in order in one namespace, which starts with the stand-ins of
``tests/support/doc_stubs.py``; a snippet that only includes an example file
(``--8<-- "examples/x.py"``) is skipped here because ``test_examples`` runs the file.
"""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^( *)```python[^\n]*\n(.*?)^\1```", re.MULTILINE | re.DOTALL)


def snippets(page: Path) -> list[tuple[int, str]]:
    """(line number, code) of each Python block of ``page``."""
    text = page.read_text()
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start(2)) + 1
        found.append((line, textwrap.dedent(match.group(2))))
    return found


def test_the_collector_finds_the_snippets():
    """The snippet collector finds the README's first block and more than 15 in all."""
    readme = snippets(ROOT / "README.md")
    assert readme
    assert readme[0][1].startswith("from fallback_router import routed")
    assert sum(len(snippets(page)) for page in PAGES) > 15


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_snippets_run(page, redis_server, monkeypatch, capsys):
    """Every Python snippet of a page runs, in order, in one namespace."""
    monkeypatch.syspath_prepend(str(ROOT / "tests" / "support"))
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    import doc_stubs

    namespace = doc_stubs.namespace()
    for line, code in snippets(page):
        if code.lstrip().startswith("--8<--"):
            continue
        try:
            exec(compile(code, f"{page.relative_to(ROOT)}:{line}", "exec"), namespace)
        except BaseException as exc:
            pytest.fail(f"{page.relative_to(ROOT)}:{line}: {type(exc).__name__}: {exc}")
    sys.modules.pop("__docs__", None)


FENCE = re.compile(r"^( *)```([^\n]*)\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
#: A line only Python starts with: an import, a definition, a decorator.
PYTHONIC = re.compile(r"^\s*(from [\w.]+ import |import [\w.]+|(async )?def \w+\(|class \w+|@\w)")


def test_every_python_block_runs_or_is_a_marked_fragment():
    """A Python block is run (```python), an example file's include, or a fragment
    marked ``` { .python .fragment } ``` (highlighted, compiled, not run: it needs a
    service or package the suite does not have); no Python hides in a text block."""
    problems = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            info, body = match.group(2).strip(), textwrap.dedent(match.group(3))
            where = f"{page.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
            if info == "python" or info.startswith("python "):
                continue  # run by test_snippets_run
            if ".python" in info:
                if body.lstrip().startswith("--8<--"):
                    continue  # an example file, run by test_examples
                if ".fragment" not in info:
                    problems.append(f"{where}: mark it {{ .python .fragment }} or make it run")
                    continue
                try:
                    compile(body, where, "exec")
                except SyntaxError as exc:
                    problems.append(f"{where}: the fragment does not compile: {exc}")
            elif PYTHONIC.search(body):
                problems.append(f"{where}: Python in a {info or 'plain'} block")
    assert problems == []
