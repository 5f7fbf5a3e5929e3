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
