"""Every configuration error, word for word: the message names the offending value."""

from __future__ import annotations

import re

import pytest

from fallback_router import InvalidConfigError, Router

CASES = {
    "clock": ({"clock": 5}, "clock must be a zero-argument callable, got 5"),
    "reraise": ({"reraise": 1}, "reraise must be a bool, got 1"),
    "exempt as str": (
        {"exempt": "a"},
        "exempt must be a collection of provider names, got 'a'",
    ),
    "exempt item": ({"exempt": [1]}, "exempt names must be str, got 1"),
    "exempt unknown": (
        {"exempt": ["z"]},
        "exempt names unknown provider 'z'; providers: ('a', 'b')",
    ),
    "on_event": (
        {"on_event": 5},
        "on_event must be a callable or a non-empty sequence of them, got 5",
    ),
    "on_event empty": (
        {"on_event": []},
        "on_event must be a callable or a non-empty sequence of them, got []",
    ),
    "on_event item": ({"on_event": [print, 5]}, "on_event hook 5 is not callable"),
    "limit unknown": (
        {"max_concurrency": {"z": 1}},
        "max_concurrency names unknown provider 'z'; providers: ('a', 'b')",
    ),
    "limit type": (
        {"max_concurrency": "x"},
        "max_concurrency must be an int, a mapping name -> int or a ConcurrencyLimiter, got 'x'",
    ),
    "strategy": (
        {"strategy": "bogus"},
        "unknown strategy 'bogus': choose one of 'primary_only', 'fallback', 'round_robin'",
    ),
    "cooldown": (
        {"cooldown": "x"},
        "cooldown must be seconds, a cooldown tracker or None, got 'x'",
    ),
    "retry": ({"retry": 5}, "retry must be a tenacity.Retrying (used as a template), got 5"),
    "timeout": ({"timeout": -1}, "timeout must be a finite number > 0, got -1"),
    "counter": ({"counter": 5}, "counter must have a next_index() method, got 5"),
}


@pytest.mark.parametrize(("options", "message"), list(CASES.values()), ids=list(CASES))
def test_configuration_errors_word_for_word(options, message):
    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        Router(providers=["a", "b"], **options)


def test_a_dynamic_provider_list_accepts_any_exempt_and_limit_names():
    """Names cannot be checked against a callable provider list when decorating."""
    router = Router(providers=lambda: ["a"], exempt=["z"], max_concurrency={"z": 1})
    assert router.config.exempt == frozenset({"z"})


def test_names_are_checked_against_provider_names_not_objects():
    router = Router(
        providers={"a": object(), "b": object()}, exempt=["a"], max_concurrency={"b": 1}
    )
    assert router.config.exempt == frozenset({"a"})
    with pytest.raises(InvalidConfigError, match=r"providers: \('a', 'b'\)$"):
        Router(providers={"a": 1, "b": 2}, exempt=["z"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"duration": 0}, "duration must be a finite number > 0, got 0"),
        ({"max_duration": 5}, "max_duration (5) must be >= duration (10)"),
        ({"max_duration": -1}, "max_duration must be a finite number > 0, got -1"),
        ({"multiplier": 0.5}, "multiplier must be >= 1, got 0.5"),
        ({"multiplier": float("nan")}, "multiplier must be a finite number > 0, got nan"),
        ({"jitter": -1}, "jitter must be a finite number >= 0, got -1"),
        ({"jitter": 2}, "jitter must be between 0 and 1, got 2"),
        ({"threshold": 0}, "threshold must be an int >= 1, got 0"),
        ({"half_open": 1}, "half_open must be a bool, got 1"),
        (
            {"duration": 10**400},
            "duration must be a finite number > 0, got " + "1" + "0" * 36 + "...",
        ),
    ],
)
def test_cooldown_errors_word_for_word(options, message):
    from fallback_router import InMemoryCooldown

    options = {"duration": 10, **options}
    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        InMemoryCooldown(options.pop("duration"), **options)
