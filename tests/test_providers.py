"""Providers (DESIGN §2): sequences, mappings, callables, names and validation."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from fallback_router import InvalidConfigError, NoProvidersError, Router, routed


@dataclass
class Client:
    name: str


def echo(provider, x=None):
    return provider


def test_strings_are_their_own_names():
    """A str provider is named by itself and passed as itself."""
    fn = routed(providers=["a", "b"])(echo)
    assert fn.route().provider == "a"
    assert fn() == "a"


def test_mapping_keys_name_values_in_insertion_order():
    """A mapping passes its values, named by their keys, in insertion order."""
    first, second = object(), object()
    fn = routed(providers={"one": first, "two": second})(echo)
    result = fn.route()
    assert result.response is first
    assert result.provider == "one"
    assert fn.router.providers() == (("one", "two"), (first, second))


def test_objects_are_named_by_their_name_attribute():
    """Objects are named by ``.name`` and passed as themselves."""
    gemini = Client("gemini")
    fn = routed(providers=[gemini, Client("grok")])(echo)
    result = fn.route()
    assert result.response is gemini
    assert result.provider == "gemini"


def test_tuple_of_providers_is_accepted():
    """Any sequence works, not only lists."""
    assert routed(providers=("x",))(echo)() == "x"


def test_callable_providers_are_read_on_every_call():
    """A zero-argument callable is read on each call, so configuration can change."""
    current = ["a"]
    fn = routed(providers=lambda: list(current))(echo)
    assert fn() == "a"
    current[:] = ["b", "c"]
    assert fn() == "b"
    assert fn.router.providers()[0] == ("b", "c")


def test_callable_providers_may_return_a_mapping():
    """The callable may return a mapping too."""
    fn = routed(providers=lambda: {"k": 42})(echo)
    assert fn.route().response == 42


@pytest.mark.parametrize("empty", [[], (), {}])
def test_empty_collection_is_no_providers_error_at_decoration(empty):
    """An empty static collection fails when decorating."""
    with pytest.raises(NoProvidersError, match="empty"):
        routed(providers=empty)


def test_no_providers_error_is_an_invalid_config_error_and_value_error():
    """NoProvidersError sits under InvalidConfigError and ValueError."""
    assert issubclass(NoProvidersError, InvalidConfigError)
    assert issubclass(NoProvidersError, ValueError)


def test_callable_returning_empty_fails_when_calling():
    """For a callable, validation happens at call time."""
    fn = routed(providers=list)(echo)
    with pytest.raises(NoProvidersError):
        fn()


def test_duplicate_names_are_rejected_with_the_name():
    """Duplicate names are an InvalidConfigError naming the duplicate."""
    with pytest.raises(InvalidConfigError, match=r"#2 has a duplicate name 'a'"):
        routed(providers=["a", "b", "a"])


def test_duplicate_object_names_are_rejected():
    """Objects with the same .name are duplicates too."""
    with pytest.raises(InvalidConfigError, match="duplicate name 'x'"):
        Router([Client("x"), Client("x")])


def test_object_without_name_is_rejected_naming_the_element():
    """An object without .name is rejected; the message names its position."""
    with pytest.raises(InvalidConfigError, match=r"provider #1 .* has no name"):
        routed(providers=["ok", object()])


@pytest.mark.parametrize("bad", ["", 3, None])
def test_invalid_name_attribute_is_rejected(bad):
    """A .name that is empty or not a str is rejected with its value."""

    class Odd:
        name = bad

    with pytest.raises(InvalidConfigError, match="provider #0"):
        Router([Odd()])


def test_empty_string_provider_is_rejected():
    """An empty str is not a name."""
    with pytest.raises(InvalidConfigError, match="invalid name ''"):
        Router(["a", ""])


@pytest.mark.parametrize("key", ["", 1])
def test_invalid_mapping_keys_are_rejected(key):
    """Mapping keys must be non-empty strings."""
    with pytest.raises(InvalidConfigError, match="provider key #1"):
        Router({"a": 1, key: 2})


@pytest.mark.parametrize("bad", ["abc", b"abc", 42, {"a", "b"}])
def test_unsupported_collections_are_rejected(bad):
    """A bare string, bytes, a number or an unordered set is not a provider list."""
    with pytest.raises(InvalidConfigError, match="providers must be"):
        Router(bad)


def test_callable_returning_invalid_collection_fails_when_calling():
    """A callable whose result is invalid fails at call time, naming the problem."""
    fn = routed(providers=lambda: ["a", "a"])(echo)
    with pytest.raises(InvalidConfigError, match="duplicate"):
        fn()
