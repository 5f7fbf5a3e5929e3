"""Displays (DESIGN §8): Status and Result as text, Markdown and HTML, character for
character; everything escaped, errors redacted and cut, no emoji; and, in a real browser,
readable on light and dark notebook themes.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pytest

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    routed,
)

from .conftest import FakeClock
from .support.helpers import Boom, chromium, fleet

# Generated once from the scenario below, then read line by line: errors cut at 100
# characters with the full text in the title, responses at 200, user data escaped.
RESULT_HTML = (
    '<div class="fallback-router-result" style="color:inherit"><span class="fr-failed" title="RuntimeError: h down">h failed: RuntimeError: h down</span> → <span class="fr-failed" title="RuntimeError: '
    + "x" * 120
    + '\\nend">a failed: RuntimeError: '
    + "x" * 85
    + '…</span> → <span class="fr-ok"><b>b|&lt;</b> ok 12.5 ms</span><br>served by <b>b|&lt;</b> on attempt 3 in 262.5 ms<br>response: <code title="dict" style="color:inherit;background:transparent">{&#x27;p&#x27;: &#x27;b|&lt;&#x27;, &#x27;data&#x27;: &#x27;'
    + "y" * 177
    + "…</code></div>"
)
RESULT_MD = (
    "served by **b\\|&lt;** on attempt 3 in 262.5 ms\n\n- h failed: RuntimeError: h down\n- a failed: RuntimeError: "
    + "x" * 85
    + "…\n- **b\\|&lt;** ok, 12.5 ms\n\nresponse: \\{'p': 'b\\|&lt;', 'data': '"
    + "y" * 177
    + "…"
)
STATUS_TEXT = (
    "provider  available    consecutive  successes  failures  skips  last latency  last failure  last error\nh         no (29.7 s)  1            0          1         0      0.0 ms        12:00:00      RuntimeError: h down\na         no (30.0 s)  1            0          1         0      250.0 ms      12:00:00      RuntimeError: "
    + "x" * 85
    + "…\nb|<       yes          0            1          0         0      12.5 ms\nc         yes          0            0          0         0"
)
STATUS_MD = (
    "| provider | available | consecutive | successes | failures | skips | last latency | last failure | last error |\n|---|---|---|---|---|---|---|---|---|\n| h | benched 29\\.7 s \\(74% of 40\\.0 s left\\) | 1 | 0 | 1 | 0 | 0\\.0 ms | 12:00:00 | RuntimeError: h down |\n| a | benched 30\\.0 s \\(75% of 40\\.0 s left\\) | 1 | 0 | 1 | 0 | 250\\.0 ms | 12:00:00 | RuntimeError: "
    + "x" * 85
    + "… |\n| b\\|&lt; | available | 0 | 1 | 0 | 0 | 12\\.5 ms |  |  |\n| c | available | 0 | 0 | 0 | 0 |  |  |  |"
)
RED_DOT = '<span class="fr-dot" style="display:inline-block;width:0.6em;height:0.6em;border-radius:50%;background:rgba(220,53,69,0.9);margin-right:0.3em"></span>'
GREEN_DOT = '<span class="fr-dot" style="display:inline-block;width:0.6em;height:0.6em;border-radius:50%;background:rgba(40,167,69,0.9);margin-right:0.3em"></span>'
STATUS_HTML = (
    '<table class="fallback-router-status" style="color:inherit"><thead><tr><th style="text-align:left">provider</th><th style="text-align:left">available</th><th style="text-align:left">consecutive</th><th style="text-align:left">successes</th><th style="text-align:left">failures</th><th style="text-align:left">skips</th><th style="text-align:left">last latency</th><th style="text-align:left">last failure</th><th style="text-align:left">last error</th></tr></thead><tbody><tr class="fr-benched" style="background:rgba(220,53,69,0.18)"><td><b>h</b></td><td>'
    + RED_DOT
    + 'benched 29.7 s<div class="fr-bar" title="74% of 40.0 s left" style="background:rgba(220,53,69,0.75);width:74%;height:4px"></div></td><td>1</td><td>0</td><td>1</td><td>0</td><td>0.0 ms</td><td>12:00:00</td><td title="RuntimeError: h down">RuntimeError: h down</td></tr><tr class="fr-benched" style="background:rgba(220,53,69,0.18)"><td><b>a</b></td><td>'
    + RED_DOT
    + 'benched 30.0 s<div class="fr-bar" title="75% of 40.0 s left" style="background:rgba(220,53,69,0.75);width:75%;height:4px"></div></td><td>1</td><td>0</td><td>1</td><td>0</td><td>250.0 ms</td><td>12:00:00</td><td title="RuntimeError: '
    + "x" * 120
    + '\\nend">RuntimeError: '
    + "x" * 85
    + '…</td></tr><tr class="fr-available"><td><b>b|&lt;</b></td><td>'
    + GREEN_DOT
    + 'available</td><td>0</td><td>1</td><td>0</td><td>0</td><td>12.5 ms</td><td></td><td title=""></td></tr><tr class="fr-available"><td><b>c</b></td><td>'
    + GREEN_DOT
    + 'available</td><td>0</td><td>0</td><td>0</td><td>0</td><td></td><td></td><td title=""></td></tr></tbody></table>'
)


def scenario():
    """h fails fast, a fails slowly with a long two-line error, b|< serves; c unused."""
    clock = FakeClock()

    def call(provider):
        if provider == "a":
            clock.advance(0.25)
            raise RuntimeError("x" * 120 + "\nend")
        if provider == "h":
            raise RuntimeError("h down")
        clock.advance(0.0125)
        return {"p": provider, "data": "y" * 300}

    tracker = InMemoryCooldown(40, half_open=True, clock=clock)
    fn = routed(providers=["h", "a", "b|<", "c"], cooldown=tracker, clock=clock)(call)
    result = fn.route()
    clock.advance(10)
    return fn, result, clock


def test_result_html_and_markdown_are_exact():
    """A Result's HTML and Markdown, character for character."""
    _, result, _ = scenario()
    assert result._repr_html_() == RESULT_HTML
    assert result._repr_markdown_() == RESULT_MD


def test_status_text_markdown_and_html_are_exact(frozen):
    """The status table as text, Markdown and HTML, character for character."""
    fn, _, _ = scenario()
    status = fn.router.status()
    assert repr(status) == STATUS_TEXT
    assert status._repr_markdown_() == STATUS_MD
    assert status._repr_html_() == STATUS_HTML


def test_half_open_and_short_cooldowns_are_worded():
    """Under 0.1 s left shows as 0.1 s (never 0.0 s); a cooldown over shows as half-open."""
    fn, _, clock = scenario()
    clock.advance(29.7)  # h has 0.0375 s left: shown as 0.1 s, never 0.0 s
    status = fn.router.status()
    assert "</span>benched 0.1 s<div" in status._repr_html_()
    assert "| h | benched 0\\.1 s \\(0% of 40\\.0 s left\\) |" in status._repr_markdown_()
    clock.advance(1)
    assert "| h | half\\-open |" in fn.router.status()._repr_markdown_()


def test_markdown_words_availability_like_the_html():
    """Markdown and HTML word availability alike: benched with its share left, available."""
    clock = FakeClock()
    tracker = InMemoryCooldown(40, clock=clock)
    fn = routed(providers=["a", "b", "c"], cooldown=tracker)(fleet("a"))
    fn()
    clock.advance(10)
    status = fn.router.status()
    markdown, page = status._repr_markdown_(), status._repr_html_()
    assert "| a | benched 30\\.0 s \\(75% of 40\\.0 s left\\) |" in markdown
    assert "</span>benched 30.0 s<div" in page
    assert 'title="75% of 40.0 s left"' in page
    assert "| b | available |" in markdown
    assert "</span>available</td>" in page
    clock.advance(30)  # the cooldown is over: half-open
    status = fn.router.status()
    assert "| a | half\\-open |" in status._repr_markdown_()
    assert "</span>half-open</td>" in status._repr_html_()
    assert repr(status).splitlines()[1].split()[:2] == ["a", "half-open"]


class FixedStates:
    """A tracker whose snapshot is given: lengths the in-memory tracker never reports."""

    def __init__(self, states):
        self.states = states

    def remaining(self, name):
        return self.states[name].remaining if name in self.states else 0.0

    def is_available(self, name):
        return self.remaining(name) <= 0

    def record_failure(self, name, error):
        return 0.0

    def record_success(self, name):
        pass

    def reset(self, name=None):
        pass

    def snapshot(self):
        return self.states


def test_the_bar_uses_the_remaining_time_when_the_length_is_unknown_and_stays_within_100():
    """Without a known length the bar uses the time left; it never passes 100 %."""
    from fallback_router import CooldownState

    tracker = FixedStates(
        {
            "unknown": CooldownState(
                remaining=5.0, consecutive_failures=0, level=0, length=0.0
            ),  # length not reported
            "over": CooldownState(
                remaining=50.0, consecutive_failures=0, level=0, length=40.0
            ),  # more left than its length
        }
    )
    fn = routed(providers=["unknown", "over", "c"], cooldown=tracker)(lambda p: p)
    markdown = fn.router.status()._repr_markdown_()
    assert "| unknown | benched 5\\.0 s \\(100% of 5\\.0 s left\\) |" in markdown
    assert "| over | benched 50\\.0 s \\(100% of 40\\.0 s left\\) |" in markdown


# -- cuts and escapes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "shown", "title"),
    [
        ("", "RuntimeError", "RuntimeError"),  # no dangling ': '
        ("x" * 86, "RuntimeError: " + "x" * 86, None),  # exactly 100 characters: not cut
        ("x" * 87, "RuntimeError: " + "x" * 85 + "…", "RuntimeError: " + "x" * 87),  # 101: cut
        ("tab\there\x00", "RuntimeError: tab\\there\\x00", None),  # escaped, one line
        ("  padded ", "RuntimeError:   padded", None),  # trailing space and colon trimmed only
    ],
)
def test_error_cells(message, shown, title):
    """An error cell shows 'Type: message' on one line, cut at 100; the tooltip the whole."""

    def call(provider):
        raise RuntimeError(message)

    fn = routed(providers=["a"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    status = fn.router.status()
    assert repr(status).splitlines()[1].endswith(shown)
    full = html.escape(shown if title is None else title)  # the whole text, in the tooltip
    assert f'<td title="{full}">{html.escape(shown)}</td>' in status._repr_html_()


def test_an_error_whose_str_raises_is_shown_not_raised():
    """An error whose __str__ raises shows as "Type: <str() failed>" in the status."""

    class Opaque(Exception):
        def __str__(self) -> str:
            raise ValueError("no text")

    def call(provider):
        raise Opaque

    fn = routed(providers=["a"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    status = fn.router.status()
    assert repr(status).splitlines()[1].endswith("Opaque: <str() failed>")
    assert '<td title="Opaque: &lt;str() failed&gt;">' in status._repr_html_()
    assert list(status.__rich_repr__()) == list(status)  # rich pretty-prints the rows


def test_response_cells():
    """A response is its repr cut at 200 characters; a raising repr is named, not raised."""

    class Broken:
        def __repr__(self) -> str:
            raise ValueError("no repr")

    for response, shown in [
        ("y" * 198, repr("y" * 198)),  # 200 characters: not cut
        ("y" * 199, repr("y" * 199)[:199] + "…"),  # 201: cut to 200
        (Broken(), "Broken object (repr failed)&gt;"),
        (None, "None"),
    ]:
        fn = routed(providers=["a"], cooldown=None)(lambda provider, r=response: r)
        html = fn.route()._repr_html_()
        assert f"{shown.replace(chr(39), '&#x27;')}</code>" in html, html


ERROR_CHARS, RESPONSE_CHARS = 100, 200  # the documented cut lengths


def test_result_html_shows_the_response_escaped_and_cut():
    """The response in Result HTML is escaped (no live markup) and cut at 200 characters."""
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


def test_errors_are_cut_the_same_way_in_result_and_status_with_the_full_text_in_a_tooltip():
    """Result and Status cut an error the same way, with the full text in a tooltip."""
    clock = FakeClock()
    message = " ".join(["overloaded"] * 30)
    fn = routed(providers=["a", "b"], cooldown=InMemoryCooldown(60, clock=clock))(
        fleet("a", message=message)
    )
    result_html = fn.route()._repr_html_()
    status_html = fn.router.status()._repr_html_()
    full = f"RuntimeError: a {message}"
    cut = full[: ERROR_CHARS - 1] + "…"
    for page in (result_html, status_html):
        assert f'title="{html.escape(full)}"' in page
        assert f">{html.escape(cut)}<" in page or f"failed: {html.escape(cut)}<" in page
    assert f"a failed: {html.escape(cut)}</span>" in result_html


def test_result_html_shows_the_chain_escaped(clock):
    """Result._repr_html_ shows skipped, failed and serving providers, escaped."""
    fn = routed(providers=["<s>", "b&", "c"], clock=clock)(fleet("<s>", "b&", message="<boom>"))
    fn()
    html = fn.route()._repr_html_()
    assert "&lt;s&gt;" in html
    assert "<boom>" not in html
    assert "served by <b>c</b>" in html
    assert "(terminus)" in html
    assert "fr-skipped" in html


def test_text_repr_is_a_table(clock):
    """The repr is an aligned table a person can read."""
    fn = routed(providers=["a", "b", "c"], cooldown=30, clock=clock)(fleet("a", message="<down>"))
    fn()
    text = repr(fn.router.status())
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["provider", "available", "consecutive"]
    assert lines[1].startswith("a ")
    assert "no (30.0 s)" in lines[1]
    assert "RuntimeError: a <down>" in lines[1]


def test_html_marks_benched_rows_and_escapes_user_data(clock):
    """HTML shows benched rows with a bar; names and errors are escaped."""
    fn = routed(providers=["<script>", "b"], clock=clock)(fleet("<script>", message="<down>"))
    fn()
    html = fn.router.status()._repr_html_()
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;down&gt;" in html
    assert 'class="fr-benched"' in html
    assert 'class="fr-available"' in html
    assert "fr-bar" in html
    assert "benched 60.0 s" in html


def test_markdown_escapes_pipes_and_html(clock):
    """Markdown rows stay one row even with pipes in the data."""
    fn = routed(providers=["a|b", "c"], clock=clock)(fleet("a|b", message="<down>"))
    fn()
    md = fn.router.status()._repr_markdown_()
    lines = md.splitlines()
    assert lines[0].startswith("| provider |")
    assert "a\\|b" in lines[2]
    assert "&lt;down&gt;" in lines[2]
    assert len(lines) == 4


def test_control_characters_in_names_keep_one_row_per_provider():
    """A name with a newline or NUL is escaped in the text and Markdown tables."""

    @routed(providers=["a\nb", "c\x00d|e"])
    def f(provider):
        raise Boom("line1\nline2")

    with pytest.raises(AllProvidersFailedError):
        f()
    status = f.router.status()
    assert len(repr(status).splitlines()) == 3
    assert len(status._repr_markdown_().splitlines()) == 4
    assert "a\\nb" in repr(status)
    assert "c\\\\x00d\\|e" in status._repr_markdown_()  # the escape's backslash escaped too


def test_markdown_cannot_carry_links_images_or_html(clock):
    """Names and errors shaped like links, images or tags stay text in every Markdown table."""
    link, image = "[x](http://e.vil)", "![i](http://e.vil/p.png)"
    fn = routed(providers=[link, image, "c"], clock=clock)(
        fleet(link, image, message="<img src=x> [y](http://z)")
    )
    result = fn.route()
    escaped_error = r"RuntimeError: \1 &lt;img src=x&gt; \[y\]\(http://z\)"
    status = fn.router.status()._repr_markdown_()
    assert r"| \[x\]\(http://e\.vil\) | benched" in status
    assert r"| \!\[i\]\(http://e\.vil/p\.png\) | benched" in status
    assert escaped_error.replace(r"\1", r"\[x\]\(http://e\.vil\)") in status
    chain = result._repr_markdown_()
    assert r"- \!\[i\]\(http://e\.vil/p\.png\) failed: RuntimeError: \!\[i\]" in chain
    assert "<img" not in status + chain
    assert "](" not in status + chain  # no link or image syntax survives


def test_optional_columns_appear_only_when_some_row_has_a_value(clock):
    """weight, tokens (and in flight, latency est.) are columns only when a row has a value."""
    from fallback_router import Weighted

    plain = routed(providers=["a", "b"], clock=clock)(fleet())
    plain()
    headers = repr(plain.router.status()).splitlines()[0].split("  ")
    assert [h.strip() for h in headers if h.strip()] == [
        "provider",
        "available",
        "consecutive",
        "successes",
        "failures",
        "skips",
        "last latency",
        "last failure",
        "last error",
    ]
    fn = routed(
        providers=["a", "b"],
        strategy=Weighted({"a": 2, "b": 1}),
        max_concurrency=3,  # nothing in flight now: no column
        rate_limits={"a": "5/s"},
        clock=clock,
    )(fleet())
    fn()
    assert repr(fn.router.status()).splitlines() == [
        "provider  available  consecutive  successes  failures  skips  weight  tokens  last latency  last failure  last error",
        "a         yes        0            1          0         0      2       4.0     0.0 ms",
        "b         yes        0            0          0         0      1",
    ]


def test_error_displays_show_the_message_and_the_chain():
    """AllProvidersFailedError shows its message and the attempt chain in HTML and Markdown."""
    fn = routed(providers=["a", "b"], cooldown=None)(fleet("a", "b"))
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    assert info.value._repr_html_() == (
        '<div class="fallback-router-error" style="color:inherit"><b>AllProvidersFailedError: '
        "all providers failed (a, b) (2 sub-exceptions)</b><br>"
        '<span class="fr-failed" title="RuntimeError: a down">a failed: RuntimeError: a down'
        '</span> → <span class="fr-failed" title="RuntimeError: b down">b failed: '
        "RuntimeError: b down</span></div>"
    )
    assert info.value._repr_markdown_() == (
        "**AllProvidersFailedError: all providers failed \\(a, b\\) \\(2 sub\\-exceptions\\)**"
        "\n\n- a failed: RuntimeError: a down\n- b failed: RuntimeError: b down"
    )


def test_no_display_needs_an_emoji_font(frozen):
    """Every display is ASCII but for the arrow and the ellipsis of a cut."""
    fn, result, clock = scenario()
    clock.advance(31)  # half-open rows too
    status = fn.router.status()
    with pytest.raises(AllProvidersFailedError) as info:
        routed(providers=["a"], cooldown=None)(fleet("a"))()
    shown = [repr(status), status._repr_markdown_(), status._repr_html_()]
    shown += [result._repr_html_(), result._repr_markdown_()]
    shown += [info.value._repr_html_(), info.value._repr_markdown_()]
    assert {c for text in shown for c in text if not c.isascii()} == {"→", "…"}


def test_status_says_what_a_redis_tracker_shares(redis_client):
    """With a Redis tracker, a sentence under the table says which columns are shared."""
    from fallback_router import RedisCooldown

    tracker = RedisCooldown(redis_client, namespace="shown")
    status = routed(providers=["a"], cooldown=tracker)(fleet()).router.status()
    sentence = (
        "available, consecutive, failure ratio and cooldown columns: shared through Redis "
        "namespace 'shown' (every process); counts, latencies and errors: this process only"
    )
    assert status.shared == sentence
    assert repr(status).splitlines()[-1] == sentence
    escaped = sentence.replace("(", "\\(").replace(")", "\\)")  # Markdown-escaped
    assert status._repr_markdown_().endswith("\n\n" + escaped)
    assert f'<caption style="caption-side:bottom;text-align:left">{html.escape(sentence)}' in (
        status._repr_html_()
    )
    assert routed(providers=["a"])(fleet()).router.status().shared is None


def test_ipython_display_formatter_renders_status_and_result(clock):
    """IPython picks the HTML and Markdown reprs."""
    from IPython.core.formatters import DisplayFormatter

    fn = routed(providers=["a", "b"], clock=clock)(fleet("a"))
    result = fn.route()
    formatter = DisplayFormatter()
    data, _ = formatter.format(fn.router.status())
    assert "text/html" in data
    assert "text/markdown" in data
    assert "fallback-router-status" in data["text/html"]
    data, _ = formatter.format(result)
    assert "fallback-router-result" in data["text/html"]


# -- contrast in a real browser ------------------------------------------------------------
THEMES = {
    # JupyterLab's light and dark themes: page background and content text colour.
    "light": ("#ffffff", "rgba(0, 0, 0, 0.87)"),
    "dark": ("#111111", "rgba(255, 255, 255, 1)"),
}


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
        "--window-size=2400,500",  # the status table is 9 columns wide
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


@pytest.mark.processes  # starts a browser: left out of mutation runs
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_benched_rows_and_results_read_in_both_themes(theme, tmp_path):
    """In Chromium, benched names, errors and failed attempts reach WCAG 4.5:1 on both themes."""
    ratios = measure(benched_status_html() + "<br>" + result_html(), theme, tmp_path)
    assert set(ratios) == {"name", "error", "failed"}
    for name, ratio in ratios.items():
        assert ratio >= 4.5, f"{name} on {theme}: contrast {ratio:.2f} < 4.5"


@pytest.mark.processes  # starts a browser: left out of mutation runs
def test_the_measurement_catches_unreadable_text(tmp_path):
    """The old display (a fixed light background, inherited text) fails on the dark page."""
    bad = (
        '<table><tr style="background:#f8d7da"><td><b data-measure="name">gemini</b></td>'
        "</tr></table>"
    )
    assert measure(bad, "dark", tmp_path)["name"] < 4.5
    assert measure(bad, "light", tmp_path)["name"] >= 4.5
