"""Configuration is checked when decorating (DESIGN §1): every error names the offending
value, word for word.
"""

from __future__ import annotations

import re

import pytest

from fallback_router import (
    InvalidConfigError,
    RetryBudget,
    RoundRobin,
    Router,
    routed,
    routing,
)

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
        "on_event must be a callable or a sequence of callables, got 5",
    ),
    "on_event empty": (
        {"on_event": []},
        "on_event must be a callable or a sequence of callables, got []",
    ),
    "on_event string": (
        {"on_event": "log"},
        "on_event must be a callable or a sequence of callables, got 'log'",
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
        (
            "unknown strategy 'bogus': choose one of 'primary_only', 'fallback', 'round_robin' "
            "or a strategy object (Fallback, PrimaryOnly, RoundRobin, Weighted, LeastBusy, "
            "LeastLatency, Tiers)"
        ),
    ),
    "cooldown": (
        {"cooldown": "x"},
        "cooldown must be seconds, a cooldown tracker or None, got 'x'",
    ),
    "retry": ({"retry": 5}, "retry must be a tenacity.Retrying (used as a template), got 5"),
    "timeout": ({"timeout": -1}, "timeout must be a finite number > 0, got -1"),
    "counter": ({"counter": 5}, "counter must have a next_index() method, got 5"),
    "wait_for_cooldown": (
        {"wait_for_cooldown": True},
        "wait_for_cooldown=True needs timeout= (the wait must fit in a budget)",
    ),
    "stream_failover": (
        {"stream_failover": "yes"},
        "stream_failover must be None or 'buffer', got 'yes'",
    ),
    "accept": ({"accept": 5}, "accept must be a callable, got 5"),
    "redact": ({"redact": 5}, "redact must be a callable, got 5"),
    "retry_budget": ({"retry_budget": 5}, "retry_budget must be a RetryBudget, got 5"),
    "affinity_size": ({"affinity_size": 0}, "affinity_size must be an int >= 1, got 0"),
    "rate_limits": (
        {"rate_limits": 5},
        (
            "rate_limits must be a mapping name -> 'N/s' | 'N/min' | 'N/h' | 'N tokens/min' | "
            "RateLimit | TokenLimit (or a list of them), or a rate limiter "
            "(InMemoryRateLimiter, RedisRateLimiter), got 5"
        ),
    ),
    "strategy object": (
        {"strategy": RoundRobin(failover="yes")},  # type: ignore[arg-type]
        "RoundRobin(failover=) must be a bool, got 'yes'",
    ),
}


@pytest.mark.parametrize(("options", "message"), list(CASES.values()), ids=list(CASES))
def test_configuration_errors_word_for_word(options, message):
    """Each bad option is an InvalidConfigError whose message names the value, exactly."""
    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        Router(providers=["a", "b"], **options)


def test_an_unknown_option_is_a_type_error_naming_it():
    """A misspelt keyword is a TypeError, as for any Python function, naming it."""
    with pytest.raises(
        TypeError, match=r"^Router\(\) got unexpected keyword argument\(s\) 'bogus'$"
    ):
        Router(providers=["a"], bogus=1)  # type: ignore[call-arg]


def test_an_unknown_option_gets_a_did_you_mean():
    """A near miss names the option it was probably meant to be."""
    with pytest.raises(
        TypeError,
        match=r"^Router\(\) got unexpected keyword argument\(s\) "
        r"'cooldwon' \(did you mean 'cooldown'\?\), 'zzz'$",
    ):
        routed(providers=["a"], cooldwon=5, zzz=1)  # type: ignore[call-arg]


def test_a_dynamic_provider_list_accepts_any_exempt_and_limit_names():
    """Names cannot be checked against a callable provider list when decorating."""
    router = Router(providers=lambda: ["a"], exempt=["z"], max_concurrency={"z": 1})
    assert router.config.exempt == frozenset({"z"})


def test_names_are_checked_against_provider_names_not_objects():
    """exempt= and max_concurrency= names are the mapping's keys, not its objects."""
    router = Router(
        providers={"a": object(), "b": object()}, exempt=["a"], max_concurrency={"b": 1}
    )
    assert router.config.exempt == frozenset({"a"})
    with pytest.raises(InvalidConfigError, match=r"providers: \('a', 'b'\)$"):
        Router(providers={"a": 1, "b": 2}, exempt=["z"])


def test_configuration_errors_are_raised_when_decorating():
    """Bad configuration fails at @routed(...), before any call."""
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], timeout=-1)
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], clock=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], retry=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], on_event=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        routed(providers=["a"], on_event=[print, 3])  # type: ignore[list-item]


@pytest.mark.parametrize("argument", ["cooldown", "timeout"])
def test_router_numbers_reject_huge_ints(argument):
    """10**400 is an InvalidConfigError, not an OverflowError."""
    with pytest.raises(InvalidConfigError, match=argument):
        Router(["a"], **{argument: 10**400})


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "5"])
def test_invalid_timeout_is_rejected(bad):
    """timeout= must be positive, finite seconds."""
    with pytest.raises(InvalidConfigError, match="timeout"):
        routed(providers=["a"], timeout=bad)


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), float("inf"), True, "60"])
def test_invalid_cooldown_argument_is_rejected(bad):
    """cooldown= must be positive seconds, a tracker or None."""
    with pytest.raises(InvalidConfigError, match="cooldown"):
        Router(["a"], cooldown=bad)


@pytest.mark.parametrize(
    ("preferences", "message"),
    [
        ({"only": "a"}, "routing(only=) takes a collection of provider names, got 'a'"),
        ({"prefer": [1]}, "routing(prefer=) takes provider names (str), got 1"),
        ({"affinity": []}, "routing(affinity=) must be hashable, got []"),
    ],
)
def test_routing_preferences_are_checked_when_entered(preferences, message):
    """routing(...) refuses bad preferences as it is entered, naming the value exactly."""
    with (
        pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"),
        routing(**preferences),
    ):
        pass  # never entered: the error comes first


@pytest.mark.parametrize("argument", ["only", "prefer"])
def test_routing_names_are_checked_against_the_calls_providers(argument):
    """Unknown names in routing(only=/prefer=) fail the call, naming them and the providers."""
    fn = routed(providers=["a", "b"])(lambda provider: provider)
    message = f"routing({argument}=) names unknown provider(s) ['z']; providers: ['a', 'b']"
    with routing(**{argument: ["z"]}), pytest.raises(InvalidConfigError, match=re.escape(message)):
        fn()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ratio": -1}, "RetryBudget(ratio=) must be a finite number >= 0, got -1"),
        ({"ratio": True}, "RetryBudget(ratio=) must be a finite number >= 0, got True"),
        (
            {"min_per_second": float("nan")},
            "RetryBudget(min_per_second=) must be a finite number >= 0, got nan",
        ),
        ({"ttl": 0}, "RetryBudget(ttl=) must be a finite number > 0, got 0"),
        ({"clock": 5}, "RetryBudget(clock=) must be a zero-argument callable, got 5"),
    ],
)
def test_retry_budget_arguments_are_checked_word_for_word(options, message):
    """RetryBudget refuses bad arguments, naming the argument and its value exactly."""
    with pytest.raises(InvalidConfigError, match=f"^{re.escape(message)}$"):
        RetryBudget(**options)
