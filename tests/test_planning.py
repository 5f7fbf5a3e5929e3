"""Properties of the fallback plan and of routed calls over random cooldown states."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from fallback_router import AllProvidersFailedError, InMemoryCooldown, plan_fallback, routed

remaining_lists = st.lists(
    st.one_of(st.just(0.0), st.floats(min_value=0.001, max_value=1e6)), min_size=1, max_size=12
)


@given(remaining_lists)
def test_plan_always_attempts_the_terminus_last(remaining):
    """The terminus is always planned, and it is the last attempt."""
    plan = plan_fallback(remaining)
    assert plan.order[-1] == len(remaining) - 1


@given(remaining_lists)
def test_plan_has_no_repeats_and_covers_every_provider_once(remaining):
    """Attempts + skipped = the providers considered, each exactly once, in order."""
    plan = plan_fallback(remaining)
    assert sorted(plan.order + plan.skipped) == list(range(len(remaining)))
    assert list(plan.order) == sorted(plan.order)
    assert list(plan.skipped) == sorted(plan.skipped)


@given(remaining_lists)
def test_plan_skips_exactly_the_non_terminal_providers_in_cooldown(remaining):
    """A provider is skipped iff it is in cooldown and not the terminus."""
    plan = plan_fallback(remaining)
    last = len(remaining) - 1
    assert set(plan.skipped) == {i for i, left in enumerate(remaining) if left > 0 and i != last}


names = st.lists(
    st.text(alphabet="abcdefgh", min_size=1, max_size=3), min_size=1, max_size=6, unique=True
)


@settings(max_examples=60, deadline=None)
@given(names=names, data=st.data())
def test_routed_calls_respect_the_plan_and_never_record_exempt(names, data):
    """Over random failures, benches and exemptions, a routed call follows the rules."""
    tracker = InMemoryCooldown(30, clock=lambda: 1000.0)
    benched = data.draw(st.sets(st.sampled_from(names)))
    failing = data.draw(st.sets(st.sampled_from(names)))
    exempt = data.draw(st.sets(st.sampled_from(names)))
    for name in benched:
        tracker.record_failure(name, RuntimeError("earlier"))
    calls: list[str] = []

    def call(provider):
        calls.append(provider)
        if provider in failing:
            raise RuntimeError(provider)
        return provider

    fn = routed(providers=names, cooldown=tracker, exempt=exempt)(call)
    try:
        result = fn.route()
    except AllProvidersFailedError as group:
        attempted = [a.provider for a in group.attempts]
        skipped: tuple[str, ...] = tuple(n for n in names if n not in attempted)
        assert attempted[-1] == names[-1]
    else:
        attempted = [a.provider for a in result.attempts]
        skipped = result.skipped
        assert result.attempt == len(attempted)
        assert result.provider == attempted[-1]
    assert calls == attempted
    assert len(set(attempted)) == len(attempted)
    assert names[-1] not in skipped
    assert set(skipped) <= benched
    for name in attempted:
        if name in exempt and name not in benched:
            assert tracker.is_available(name)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("fail"), st.sampled_from("ab"), st.none()),
        st.tuples(st.just("fail"), st.sampled_from("ab"), st.floats(0, 10_000)),
        st.tuples(st.just("succeed"), st.sampled_from("ab"), st.none()),
        st.tuples(st.just("wait"), st.none(), st.floats(0, 500)),
    ),
    max_size=40,
)


class RetryAfter(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.retry_after = seconds


@settings(max_examples=200, deadline=None)
@given(ops=operations, threshold=st.integers(1, 3), capped=st.booleans())
def test_tracker_invariants_over_random_histories(ops, threshold, capped):
    """Whatever happens: remaining stays in [0, cap], deadlines never shrink on failure."""
    now = [0.0]
    max_duration = 300.0 if capped else None
    tracker = InMemoryCooldown(
        10, threshold=threshold, max_duration=max_duration, clock=lambda: now[0]
    )
    cap = max_duration if max_duration is not None else 3600.0
    for op, name, value in ops:
        if op == "wait":
            now[0] += value
        elif op == "succeed":
            tracker.record_success(name)
            assert tracker.is_available(name)
        else:
            before = tracker.remaining(name)
            error = RuntimeError() if value is None else RetryAfter(value)
            tracker.record_failure(name, error)
            assert tracker.remaining(name) >= before  # the later deadline wins
        for provider in "ab":
            left = tracker.remaining(provider)
            assert 0.0 <= left <= cap + 1e-9  # deadline - now: float rounding
            assert tracker.is_available(provider) == (left == 0.0)
        for state in tracker.snapshot().values():
            assert 0 <= state.consecutive_failures < threshold
