"""The documentation site: it builds, reads as Markdown (no raw reST), names every public
object, and lays the API reference out without cutting anything at 1280 px and on a phone.

The site is built once per run with ``mkdocs build --strict`` (any warning fails). The
layout test opens the built reference page in headless Chromium inside an iframe of the
width under test (an iframe, because Chromium's headless window is at least 500 px
wide, and the page's media queries answer to the iframe's width). A script injected into
the page measures the laid-out boxes and posts a JSON report to the outer page, which
Chromium's ``--dump-dom`` prints; ``--virtual-time-budget`` lets the page load first.
Reading the DOM is exact where pixels would be fragile: no font or anti-aliasing
dependence, and each finding names its element.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import fallback_router
import fallback_router.llm
from fallback_router import testing

from .support.helpers import chromium

# Spawns mkdocs and a browser: left out of mutation runs (see pyproject.toml).
pytestmark = [pytest.mark.processes, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent

#: What reST leaves on a page that renders docstrings as Google style and Markdown.
REST_LEFTOVERS = (
    ":class:",
    ":func:",
    ":meth:",
    ":attr:",
    ":data:",
    ":exc:",
    ":mod:",
    ".. versionadded",
    ".. versionchanged",
    ".. deprecated",
    "Example::",
)

#: Public names that live outside the package root.
EXTRA_NAMES = (
    "fallback_router.otel.OpenTelemetryHook",
    *(f"fallback_router.llm.{name}" for name in fallback_router.llm.__all__),
    *(f"fallback_router.testing.{name}" for name in testing.__all__),
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as in CI: ``mkdocs build --strict``."""
    pytest.importorskip("mkdocs", reason="needs the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="needs the docs extra: pip install -e '.[docs]'")
    target = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)]
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    warnings = [line for line in done.stderr.splitlines() if "WARNING" in line]
    assert done.returncode == 0, "\n".join(warnings) or done.stderr[-3000:]
    return target


def article_text(page: Path) -> str:
    """The prose of a page's main article, unescaped: no navigation, scripts or code.

    Code is left out so that a page may show reST or a cross-reference as an example;
    what a docstring leaves unconverted renders as prose.
    """
    markup = page.read_text(encoding="utf-8")
    start, end = markup.find("<article"), markup.find("</article>")
    if start < 0 or end < start:  # a redirect or a 404 page
        return ""
    article = re.sub(r"<(pre|code)\b.*?</\1>", " ", markup[start:end], flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", article))


def test_no_page_shows_raw_rest_or_unresolved_references(site):
    """Every page reads as Markdown: no Sphinx roles, directives or dangling [x][y] links."""
    pages = sorted(site.rglob("*.html"))
    assert len(pages) > 20
    found = []
    for page in pages:
        text = article_text(page)
        for leftover in (*REST_LEFTOVERS, "][fallback_router."):
            if leftover in text:
                at = text.index(leftover)
                found.append(f"{page.relative_to(site)}: {text[max(0, at - 60) : at + 40]!r}")
    assert found == []


def test_the_api_reference_documents_every_public_name(site):
    """Each name of fallback_router.__all__ (and the OTel hook, the testing helpers) has its entry and anchor."""
    markup = (site / "reference" / "index.html").read_text(encoding="utf-8")
    names = [f"fallback_router.{name}" for name in fallback_router.__all__] + list(EXTRA_NAMES)
    missing = [name for name in names if f'id="{name}"' not in markup]
    assert missing == []


def test_version_notes_render_as_admonitions(site):
    """`Version:` sections become the styled admonition, never a stray paragraph."""
    markup = (site / "reference" / "index.html").read_text(encoding="utf-8")
    assert markup.count('<details class="version"') > 40
    assert "Version:" not in article_text(site / "reference" / "index.html")


# -- layout in a real browser ---------------------------------------------------------------

#: Injected into the page: measures the laid-out boxes once the page has loaded.
PROBE = """
window.addEventListener("load", () => {
  const report = {width: innerWidth, pageWidth: document.documentElement.scrollWidth,
                  spills: [], scrolled: [], broken: []};
  const article = document.querySelector("article");
  const column = document.querySelector(".md-content") || article;
  const edge = column.getBoundingClientRect().right;
  const where = el => (el.closest("[id]") || {}).id || el.tagName;
  const inScrollBox = el => {
    for (let e = el.parentElement; e && e !== article; e = e.parentElement) {
      if (["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(e).overflowX)) {
        return true;
      }
    }
    return false;
  };
  // 1. Nothing outside a scroll box reaches past the content column.
  for (const el of article.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width && !inScrollBox(el) && box.right > edge + 1) {
      report.spills.push([where(el), el.tagName, Math.round(box.right - edge)]);
    }
  }
  // 2. Signatures and object headings are read whole, never scrolled.
  for (const el of article.querySelectorAll(".doc-signature pre, .doc-signature code, .doc-heading")) {
    if (el.scrollWidth > el.clientWidth + 1) {
      report.scrolled.push([where(el), el.tagName, el.scrollWidth - el.clientWidth]);
    }
  }
  // 3. Inline code that wraps does so between words, never inside a name.
  const brokenInsideAWord = el => {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    let top = null, last = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i++) {
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rects = range.getClientRects();
        if (!rects.length) continue;
        const ch = node.data[i];
        if (top !== null && rects[0].top > top + 2 && /\\w/.test(ch) && /\\w/.test(last)) {
          return true;
        }
        top = rects[0].top;
        last = ch;
      }
    }
    return false;
  };
  for (const el of article.querySelectorAll("code")) {
    if (!el.closest("pre") && el.getClientRects().length > 1 && brokenInsideAWord(el)) {
      report.broken.push([where(el), el.textContent]);
    }
  }
  parent.postMessage(JSON.stringify(report), "*");
});
"""

#: Added to the page by the test that checks the measurement itself.
SABOTAGE = """
<div id="too-wide" style="width: 3000px">wider than any column</div>
<div class="doc-signature highlight"><pre><code style="white-space: pre">{long}</code></pre></div>
<table><tr><td style="width: 1px"><code style="word-break: break-all">was_terminus</code></td>
<td>a cell</td></tr></table>
""".format(long="x" * 400)


def layout(
    site: Path, tmp: Path, width: int, page: str = "reference", extra: str = ""
) -> dict[str, Any]:
    """Open a built page at ``width`` px (``extra`` HTML first in its article); the report."""
    binary = chromium()
    folder = site / page
    markup = (folder / "index.html").read_text(encoding="utf-8")
    if extra:
        markup = re.sub(r"(<article[^>]*>)", lambda m: m.group(1) + extra, markup, count=1)
    # Beside the original, so that the page's relative links to its styles still hold.
    probe = markup.replace("</body>", f"<script>{PROBE}</script></body>")
    (folder / "_probe.html").write_text(probe, encoding="utf-8")
    outer = folder / f"_outer_{width}.html"
    outer.write_text(
        f"""<!doctype html><html><body style="margin: 0">
        <iframe src="_probe.html" style="border: 0; width: {width}px; height: 1000px"></iframe>
        <pre id="report"></pre><script>
        addEventListener("message", e => {{ document.getElementById("report").textContent = e.data; }});
        </script></body></html>"""
    )
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--virtual-time-budget=10000",
        f"--window-size={max(width, 500)},1000",
        f"--user-data-dir={tmp / 'profile'}",
    ]
    done = subprocess.run(
        [binary, *flags, "--dump-dom", outer.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    found = re.search(r'<pre id="report">(.*?)</pre>', done.stdout, re.DOTALL)
    assert found is not None, done.stdout[-500:] + done.stderr[-500:]
    assert found.group(1), "the probe reported nothing: the page did not load"
    report: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return report


@pytest.mark.parametrize(
    ("page", "width"),
    [("reference", 1280), ("reference", 390), ("guide/failures", 1280), ("configuration", 1280)],
    ids=["reference-desktop", "reference-phone", "failures-desktop", "configuration-desktop"],
)
def test_pages_cut_nothing(site, tmp_path, page, width):
    """No spill past the column, no scrolled signature, no name broken mid-word."""
    report = layout(site, tmp_path, width, page)
    assert report["width"] == width
    assert report["pageWidth"] <= width  # the page itself never scrolls sideways
    assert report["spills"] == []
    assert report["scrolled"] == []
    assert report["broken"] == []


def test_a_signature_left_on_one_long_line_wraps(site, tmp_path):
    """Without ruff or black, mkdocstrings leaves a signature on one line: it still wraps."""
    params = ", ".join(f"parameter_{i}: Mapping[str, int] | None = None" for i in range(12))
    signature = (
        f'<div class="doc-signature highlight"><pre><code>routed({params})</code></pre></div>'
    )
    report = layout(site, tmp_path, 1280, extra=signature)
    assert report["scrolled"] == []
    assert report["spills"] == []


def test_the_layout_probe_catches_what_it_looks_for(site, tmp_path):
    """A too-wide block, a one-line long signature and a name split mid-word are reported."""
    report = layout(site, tmp_path, 1280, extra=SABOTAGE)
    assert any(where == "too-wide" for where, *_ in report["spills"])
    assert report["scrolled"]
    assert any(text == "was_terminus" for _, text in report["broken"])
