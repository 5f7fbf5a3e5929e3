"""router.status() and router.reset() (DESIGN §8): rows, reprs, escaping."""

from __future__ import annotations

import pytest

from fallback_router import AllProvidersFailedError, ProviderStatus, Status, routed


def fleet(*failing: str):
    def call(provider):
        if provider in failing:
            raise RuntimeError(f"{provider} <down>")
        return provider

    return call


@pytest.fixture
def benched(clock):
    """A router whose first provider failed once and is in cooldown."""
    fn = routed(providers=["a", "b", "c"], cooldown=30, clock=clock)(fleet("a"))
    fn()
    fn()
    return fn


def test_status_rows_in_provider_order(benched, clock):
    """Each provider has a row with availability, cooldown and counts."""
    status = benched.router.status()
    assert isinstance(status, Status)
    assert [row.name for row in status] == ["a", "b", "c"]
    a = status["a"]
    assert isinstance(a, ProviderStatus)
    assert a.available is False
    assert a.cooldown_remaining == 30
    assert a.failures == 1
    assert a.successes == 0
    assert str(a.last_error) == "a <down>"
    assert a.last_latency == 0.0
    b = status[1]
    assert (b.available, b.successes, b.failures, b.last_error) == (True, 2, 0, None)
    assert status["c"].last_latency is None
    assert len(status) == 3
    with pytest.raises(KeyError):
        status["zzz"]
    assert status[0:2] == status._rows[0:2]


def test_status_counts_consecutive_failures_from_the_tracker(clock):
    """consecutive_failures comes from the tracker's state."""
    from fallback_router import InMemoryCooldown

    fn = routed(providers=["a", "b"], cooldown=InMemoryCooldown(30, threshold=3, clock=clock))(
        fleet("a")
    )
    fn()
    fn()
    row = fn.router.status()["a"]
    assert row.consecutive_failures == 2
    assert row.available is True


def test_last_latency_is_the_latest_attempts(clock):
    """last_latency follows the most recent attempt, success or failure."""
    state = {"fail": False, "cost": 1.0}

    def call(provider):
        clock.advance(state["cost"])
        if state["fail"]:
            raise RuntimeError
        return provider

    fn = routed(providers=["a"], cooldown=None, clock=clock)(call)
    fn()
    assert fn.router.status()["a"].last_latency == 1.0
    state.update(fail=True, cost=2.0)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert fn.router.status()["a"].last_latency == 2.0
    state.update(fail=False, cost=3.0)
    fn()
    assert fn.router.status()["a"].last_latency == 3.0


def test_reset_clears_cooldowns_and_counts(benched):
    """router.reset() makes every provider available and zeroes the counts."""
    benched.router.reset()
    status = benched.router.status()
    assert all(row.available for row in status)
    assert [(r.successes, r.failures, r.last_error) for r in status] == [(0, 0, None)] * 3
    benched()
    assert benched.router.status()["b"].successes == 1


def test_reset_only_touches_this_routers_providers(clock):
    """A shared tracker keeps other routers' providers when one router resets."""
    from fallback_router import InMemoryCooldown

    tracker = InMemoryCooldown(30, clock=clock)
    tracker.record_failure("other", RuntimeError())
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a"))
    fn()
    fn.router.reset()
    assert set(tracker.snapshot()) == {"other"}


def test_text_repr_is_a_table(benched):
    """The repr is an aligned table a person can read."""
    text = repr(benched.router.status())
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["provider", "available", "consecutive"]
    assert lines[1].startswith("a ")
    assert "no (30.0 s)" in lines[1]
    assert "RuntimeError: a <down>" in lines[1]


def test_html_marks_benched_rows_and_escapes_user_data(clock):
    """HTML shows benched rows with a bar; names and errors are escaped."""
    fn = routed(providers=["<script>", "b"], clock=clock)(fleet("<script>"))
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
    fn = routed(providers=["a|b", "c"], clock=clock)(fleet("a|b"))
    fn()
    md = fn.router.status()._repr_markdown_()
    lines = md.splitlines()
    assert lines[0].startswith("| provider |")
    assert "a\\|b" in lines[2]
    assert "&lt;down&gt;" in lines[2]
    assert len(lines) == 4


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


def test_status_of_a_router_without_tracker():
    """Without cooldowns every provider is available."""
    fn = routed(providers=["a"], cooldown=None)(fleet())
    fn()
    assert fn.router.status()["a"].available is True
    assert fn.router.status()["a"].successes == 1


def test_status_equality():
    """Two statuses with equal rows are equal; a status is not hashable."""
    fn = routed(providers=["a"])(fleet())
    assert fn.router.status() == fn.router.status()
    assert fn.router.status() != "status"
    with pytest.raises(TypeError):
        hash(fn.router.status())
