"""Exact display text (DESIGN §8): the in-process pin of what notebooks and terminals show.

``tests/test_displays.py`` checks in a real browser that these displays read on light
and dark themes; this module pins their text, so mutation testing sees every cut,
escape and number format.
"""

from __future__ import annotations

import html

import pytest

from fallback_router import AllProvidersFailedError, InMemoryCooldown, routed

from .conftest import FakeClock

# Generated once from the scenario below, then read line by line: errors cut at 100
# characters with the full text in the title, responses at 200, user data escaped.
RESULT_HTML = (
    '<div class="fallback-router-result" style="color:inherit"><span class="fr-failed" title="RuntimeError: h down">h ✘ RuntimeError: h down</span> → <span class="fr-failed" title="RuntimeError: '
    + "x" * 120
    + '\nend">a ✘ RuntimeError: '
    + "x" * 85
    + '…</span> → <span class="fr-ok"><b>b|&lt;</b> ✔ 12.5 ms</span><br>served by <b>b|&lt;</b> on attempt 3<br>response: <code title="dict" style="color:inherit;background:transparent">{&#x27;p&#x27;: &#x27;b|&lt;&#x27;, &#x27;data&#x27;: &#x27;'
    + "y" * 177
    + "…</code></div>"
)
STATUS_TEXT = (
    "provider  available    consecutive  successes  failures  last latency  last error\nh         no (29.7 s)  0            0          1         0.0 ms        RuntimeError: h down\na         no (30.0 s)  0            0          1         250.0 ms      RuntimeError: "
    + "x" * 85
    + "…\nb|<       yes          0            1          0         12.5 ms\nc         yes          0            0          0"
)
STATUS_MD = (
    "| provider | available | consecutive | successes | failures | last latency | last error |\n|---|---|---|---|---|---|---|\n| h | ⏸ benched 29.7 s (74% of 40.0 s left) | 0 | 0 | 1 | 0.0 ms | RuntimeError: h down |\n| a | ⏸ benched 30.0 s (75% of 40.0 s left) | 0 | 0 | 1 | 250.0 ms | RuntimeError: "
    + "x" * 85
    + "… |\n| b\\|&lt; | ✔ available | 0 | 1 | 0 | 12.5 ms |  |\n| c | ✔ available | 0 | 0 | 0 |  |  |"
)
STATUS_HTML = (
    '<table class="fallback-router-status" style="color:inherit"><thead><tr><th style="text-align:left">provider</th><th style="text-align:left">available</th><th style="text-align:left">consecutive</th><th style="text-align:left">successes</th><th style="text-align:left">failures</th><th style="text-align:left">last latency</th><th style="text-align:left">last error</th></tr></thead><tbody><tr class="fr-benched" style="background:rgba(220,53,69,0.18)"><td><b>h</b></td><td>⏸ benched 29.7 s<div class="fr-bar" title="74% of 40.0 s left" style="background:rgba(220,53,69,0.75);width:74%;height:4px"></div></td><td>0</td><td>0</td><td>1</td><td>0.0 ms</td><td title="RuntimeError: h down">RuntimeError: h down</td></tr><tr class="fr-benched" style="background:rgba(220,53,69,0.18)"><td><b>a</b></td><td>⏸ benched 30.0 s<div class="fr-bar" title="75% of 40.0 s left" style="background:rgba(220,53,69,0.75);width:75%;height:4px"></div></td><td>0</td><td>0</td><td>1</td><td>250.0 ms</td><td title="RuntimeError: '
    + "x" * 120
    + '\nend">RuntimeError: '
    + "x" * 85
    + '…</td></tr><tr class="fr-available"><td><b>b|&lt;</b></td><td>✔ available</td><td>0</td><td>1</td><td>0</td><td>12.5 ms</td><td title=""></td></tr><tr class="fr-available"><td><b>c</b></td><td>✔ available</td><td>0</td><td>0</td><td>0</td><td></td><td title=""></td></tr></tbody></table>'
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


def test_result_html_is_exact():
    _, result, _ = scenario()
    assert result._repr_html_() == RESULT_HTML


def test_status_text_markdown_and_html_are_exact():
    fn, _, _ = scenario()
    status = fn.router.status()
    assert repr(status) == STATUS_TEXT
    assert status._repr_markdown_() == STATUS_MD
    assert status._repr_html_() == STATUS_HTML


def test_half_open_and_short_cooldowns_are_worded():
    fn, _, clock = scenario()
    clock.advance(29.7)  # h has 0.0375 s left: shown as 0.1 s, never 0.0 s
    status = fn.router.status()
    assert "⏸ benched 0.1 s" in status._repr_html_()
    assert "| h | ⏸ benched 0.1 s (0% of 40.0 s left) |" in status._repr_markdown_()
    clock.advance(1)
    assert "| h | ◐ half-open |" in fn.router.status()._repr_markdown_()


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        ("", "RuntimeError"),  # no dangling ': '
        ("x" * 86, "RuntimeError: " + "x" * 86),  # exactly 100 characters: not cut
        ("x" * 87, "RuntimeError: " + "x" * 85 + "…"),  # 101: cut to 100
        ("tab\there\x00", "RuntimeError: tab\\there\\x00"),  # escaped, one line
        ("  padded ", "RuntimeError:   padded"),  # trailing space and colon trimmed only
    ],
)
def test_error_cells(message, shown):
    def call(provider):
        raise RuntimeError(message)

    fn = routed(providers=["a"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError):
        fn()
    status = fn.router.status()
    assert repr(status).splitlines()[1].endswith(shown)
    full = html.escape(f"RuntimeError: {message}")  # the whole text, in the tooltip
    assert f'<td title="{full}">{html.escape(shown)}</td>' in status._repr_html_()


def test_response_cells():
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


def test_status_rows_by_name_position_and_slice():
    fn, _, _ = scenario()
    status = fn.router.status()
    assert status["b|<"] is status[2]
    assert [row.name for row in status[1:3]] == ["a", "b|<"]
    with pytest.raises(KeyError, match="'zz'"):
        status["zz"]


def test_plain_text_words_half_open_and_short_cooldowns():
    fn, _, clock = scenario()
    clock.advance(29.7)
    assert "no (0.1 s)" in repr(fn.router.status()).splitlines()[1]  # never "0.0 s"
    clock.advance(1)
    assert repr(fn.router.status()).splitlines()[1].split()[:2] == ["h", "half-open"]


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
    assert "| unknown | ⏸ benched 5.0 s (100% of 5.0 s left) |" in markdown
    assert "| over | ⏸ benched 50.0 s (100% of 40.0 s left) |" in markdown


def test_errors_pickle_and_keep_their_args():
    import pickle

    from fallback_router import AllProvidersFailedError

    def call(provider):
        raise RuntimeError(provider)

    fn = routed(providers=["a"], cooldown=None)(call)
    with pytest.raises(AllProvidersFailedError) as info:
        fn()
    error = info.value
    assert error.args[0] == "all providers failed (a)"
    assert [str(e) for e in error.args[1]] == ["a"]
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, [a.provider for a in copy.attempts]) == (error.message, ["a"])


def test_last_error_is_a_detached_copy_with_type_args_and_attributes():
    class HTTPError(Exception):
        def __init__(self, message, status_code):
            super().__init__(message)
            self.status_code = status_code

    class Uncopyable(Exception):
        def __new__(cls, *args):
            if not args:
                raise TypeError("needs a message")
            return super().__new__(cls, *args)

        def __init__(self, message):
            super().__init__(message)
            self.note = "x"

        @property
        def __dict__(self):  # type: ignore[override]
            raise RuntimeError("no state for you")

    errors = {
        "http": HTTPError("rate limited", 429),
        "group": ExceptionGroup("two", [ValueError("v"), KeyError("k")]),
        "odd": Uncopyable("odd one"),
    }

    def call(provider):
        raise errors[provider]

    fn = routed(providers=list(errors), cooldown=None)(call)
    with pytest.raises(Exception, match="all providers failed"):
        fn()
    status = fn.router.status()
    http = status["http"].last_error
    assert type(http) is HTTPError
    assert (http.args, http.status_code) == (("rate limited",), 429)
    assert http is not errors["http"]
    assert http.__traceback__ is None
    group = status["group"].last_error
    assert type(group) is ExceptionGroup
    assert [str(e) for e in group.exceptions] == ["v", "'k'"]
    odd = status["odd"].last_error
    assert type(odd) is RuntimeError
    assert str(odd) == "Uncopyable: odd one"
