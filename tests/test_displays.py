"""Notebook displays: what they show, and that they read on light and dark themes.

The contrast test renders the HTML in a real headless Chromium on a light and on a
dark JupyterLab-like page and measures the rendered pixels (WCAG contrast ratio).
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fallback_router import InMemoryCooldown, routed

from .conftest import FakeClock

# Spawns workers, servers or a browser: left out of mutation runs (see pyproject.toml).
pytestmark = pytest.mark.processes

ERROR_CHARS, RESPONSE_CHARS = 100, 200  # the documented cut lengths


def fleet(*failing: str, message: str = "down"):
    def call(provider: str, *args: Any) -> Any:
        if provider in failing:
            raise RuntimeError(f"{provider} {message}")
        return {"provider": provider, "args": args}

    return call


# -- what the displays show ---------------------------------------------------------------


def test_result_html_shows_the_response_escaped_and_cut():
    fn = routed(providers=["a"])(lambda p, text: f"<b>{text}</b>")
    short = fn.route("hi")._repr_html_()
    assert "response: <code" in short
    assert html.escape(repr("<b>hi</b>")) in short  # escaped: no live markup from a response
    assert "<b>hi</b>" not in short
    long = fn.route("x" * 1000)._repr_html_()
    shown = re.search(r"response: <code[^>]*>(.*?)</code>", long)
    assert shown is not None
    assert len(html.unescape(shown.group(1))) == RESPONSE_CHARS
    assert shown.group(1).endswith("…")


def test_result_html_survives_a_response_whose_repr_raises():
    class Weird:
        def __repr__(self) -> str:
            raise ValueError("no repr")

    fn = routed(providers=["a"])(lambda p: Weird())
    assert "Weird object (repr failed)" in fn.route()._repr_html_()


def test_errors_are_cut_the_same_way_in_result_and_status_with_the_full_text_in_a_tooltip():
    clock = FakeClock()
    message = "overloaded " * 30
    fn = routed(providers=["a", "b"], cooldown=InMemoryCooldown(60, clock=clock))(
        fleet("a", message=message)
    )
    result_html = fn.route()._repr_html_()
    status_html = fn.router.status()._repr_html_()
    full = f"RuntimeError: a {message}"
    cut = full[: ERROR_CHARS - 1] + "…"
    for page in (result_html, status_html):
        assert f'title="{html.escape(full)}"' in page
        assert f">{html.escape(cut)}<" in page or f"✘ {html.escape(cut)}<" in page
    assert f"a ✘ {html.escape(cut)}</span>" in result_html


def test_markdown_words_availability_like_the_html():
    clock = FakeClock()
    tracker = InMemoryCooldown(40, clock=clock)
    fn = routed(providers=["a", "b", "c"], cooldown=tracker)(fleet("a"))
    fn()
    clock.advance(10)
    status = fn.router.status()
    markdown, page = status._repr_markdown_(), status._repr_html_()
    assert "| a | ⏸ benched 30.0 s (75% of 40.0 s left) |" in markdown
    assert "⏸ benched 30.0 s<div" in page
    assert 'title="75% of 40.0 s left"' in page
    assert "| b | ✔ available |" in markdown
    assert "✔ available" in page
    clock.advance(30)  # the cooldown is over: half-open
    status = fn.router.status()
    assert "| a | ◐ half-open |" in status._repr_markdown_()
    assert "◐ half-open" in status._repr_html_()
    assert "half-open" in repr(status)


# -- contrast in a real browser -------------------------------------------------------------

THEMES = {
    # JupyterLab's light and dark themes: page background and content text colour.
    "light": ("#ffffff", "rgba(0, 0, 0, 0.87)"),
    "dark": ("#111111", "rgba(255, 255, 255, 1)"),
}


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("FALLBACK_ROUTER_REQUIRE_BROWSER") == "1":
        pytest.fail("chromium is required here (FALLBACK_ROUTER_REQUIRE_BROWSER=1)")
    pytest.skip("needs chromium (apt-get install chromium); CI installs it")
    raise AssertionError  # unreachable


def browser(binary: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
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
        "--window-size=1200,400",
        f"--user-data-dir={tmp / 'profile'}",
    ]
    return subprocess.run(
        [binary, *flags, *args], capture_output=True, text=True, timeout=60, check=True
    )


def page(fragment: str, theme: str) -> str:
    """A JupyterLab-like output area holding ``fragment``; a script reports element boxes."""
    background, color = THEMES[theme]
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
    body {{ margin: 0; background: {background}; color: {color};
           font: 28px/1.4 "DejaVu Sans", sans-serif; }}
    .jp-OutputArea-output {{ padding: 8px; }}
    td, th {{ padding: 4px 12px; }}
    </style></head><body><div class="jp-OutputArea-output">{fragment}</div>
    <pre id="boxes"></pre><script>
    const boxes = [...document.querySelectorAll("[data-measure]")].map(e => {{
        const r = e.getBoundingClientRect();
        return [e.dataset.measure, r.left, r.top, r.width, r.height];
    }});
    document.getElementById("boxes").textContent = JSON.stringify(boxes);
    </script></body></html>"""


def luminance(rgb: tuple[int, int, int]) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def measure(fragment: str, theme: str, tmp: Path) -> dict[str, float]:
    """Render in Chromium; per ``data-measure`` element: text-on-background contrast."""
    from PIL import Image

    binary = chromium()
    source = tmp / f"{theme}.html"
    source.write_text(page(fragment, theme))
    url = source.as_uri()
    dom = browser(binary, tmp, "--dump-dom", url).stdout
    found = re.search(r'<pre id="boxes">(.*?)</pre>', dom, re.DOTALL)
    assert found is not None, dom[-500:]
    boxes = json.loads(html.unescape(found.group(1)))
    shot = tmp / f"{theme}.png"
    browser(binary, tmp, f"--screenshot={shot}", url)
    image = Image.open(shot).convert("RGB")
    ratios: dict[str, float] = {}
    for name, left, top, width, height in boxes:
        box = (int(left) + 1, int(top) + 1, int(left + width) - 1, int(top + height) - 1)
        raw = image.crop(box).tobytes()  # RGB bytes, row by row
        pixels = [(raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3)]
        background = max(set(pixels), key=pixels.count)  # the most common colour
        text = [p for p in pixels if contrast(p, background) > 1.05]
        assert len(text) > 30, f"no text rendered in {name} ({theme})"
        ratios[name] = max(contrast(p, background) for p in text)
    return ratios


def benched_status_html() -> str:
    clock = FakeClock()
    fn = routed(providers=["gemini", "grok"], cooldown=InMemoryCooldown(60, clock=clock))(
        fleet("gemini", message="rate limited")
    )
    fn()
    markup = fn.router.status()._repr_html_()
    # Mark the benched row's name and error cells (the bar is left out of the boxes).
    row = re.search(r'<tr class="fr-benched".*?</tr>', markup)
    assert row is not None
    cells = row.group(0).replace("<td><b>", '<td><b data-measure="name">', 1)
    cells = re.sub(r"<td title=(\"[^\"]*\")>", r'<td title=\1 data-measure="error">', cells)
    return markup.replace(row.group(0), cells)


def result_html() -> str:
    fn = routed(providers=["gemini", "grok"])(fleet("gemini", message="rate limited"))
    markup = fn.route("a cat")._repr_html_()
    return markup.replace(
        '<span class="fr-failed"', '<span data-measure="failed" class="fr-failed"'
    )


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_benched_rows_and_results_read_in_both_themes(theme, tmp_path):
    ratios = measure(benched_status_html() + "<br>" + result_html(), theme, tmp_path)
    assert set(ratios) == {"name", "error", "failed"}
    for name, ratio in ratios.items():
        assert ratio >= 4.5, f"{name} on {theme}: contrast {ratio:.2f} < 4.5"


def test_the_measurement_catches_unreadable_text(tmp_path):
    """The old display (a fixed light background, inherited text) fails on the dark page."""
    bad = (
        '<table><tr style="background:#f8d7da"><td><b data-measure="name">gemini</b></td>'
        "</tr></table>"
    )
    assert measure(bad, "dark", tmp_path)["name"] < 4.5
    assert measure(bad, "light", tmp_path)["name"] >= 4.5
