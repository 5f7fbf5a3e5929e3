"""Behaviour of the engine (`fallback_router._engine`) that mutation testing showed no
other suite held, through the public API. Each test names what it pins."""

from __future__ import annotations

import pytest

from fallback_router import (
    AllProvidersBenchedError,
    AllProvidersFailedError,
    InMemoryCooldown,
    routed,
)

from .support.helpers import RetryAfter


def test_every_provider_benched_by_a_hint_is_named_in_the_error(clock):
    """Every provider benched by a Retry-After: the error names them all and the earliest
    end, in its message and its `retry_after`."""

    def body(provider):
        raise RetryAfter(30 if provider == "a" else 20)

    fn = routed(
        providers=["a", "b"],
        cooldown=InMemoryCooldown(15, clock=clock),
        clock=clock,
        respect_retry_after=True,
    )(body)
    with pytest.raises(AllProvidersFailedError):
        fn()
    clock.advance(5)
    with pytest.raises(AllProvidersBenchedError) as caught:
        fn()
    assert str(caught.value) == (
        "every provider is benched by a hint (a, b); the earliest is available in 15.0 s"
    )
    assert caught.value.retry_after == 15.0
