"""A provider that keeps failing the same way is redacted once, never with a stale answer.

The router redacts each failure's text and keeps a scrubbed copy of its error for
`status()`. A plain error (only `str` arguments, no attributes) equal to the previous
one (same type, same arguments) reuses that answer; anything else is redacted afresh.
"""

from __future__ import annotations

import pytest

from fallback_router import AllProvidersFailedError, routed


class Boom(Exception):
    """A provider's failure."""


class Other(Exception):
    """Another kind of failure with the same message."""


class Touchy:
    """An argument whose `__eq__` raises: the router must never compare it."""

    def __eq__(self, other: object) -> bool:
        raise AssertionError("compared")

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return "Touchy()"


def counting_router(errors: list[Exception]) -> tuple[object, list[str]]:
    """A router whose only provider raises `errors` in turn; `seen` counts `redact=` calls."""
    seen: list[str] = []

    def rule(text: str) -> str:
        seen.append(text)
        return text.replace("secret", "***")

    @routed(providers=["a"], cooldown=None, redact=rule)
    def call(provider: str) -> str:
        raise errors.pop(0)

    return call, seen


def fail(call: object) -> str:
    """Call once (it fails): the failed attempt's redacted text."""
    with pytest.raises(AllProvidersFailedError) as info:
        call()  # type: ignore[operator]
    return info.value.attempts[-1].error_text


def test_the_same_plain_failure_is_redacted_once_and_reported_every_time() -> None:
    """Three equal failures: the rule runs for the first only; each error still says it."""
    call, seen = counting_router([Boom("down: secret"), Boom("down: secret"), Boom("down: secret")])
    assert fail(call) == "Boom: down: ***"
    after_first = len(seen)
    assert after_first > 0
    for _ in range(2):
        assert fail(call) == "Boom: down: ***"
    assert len(seen) == after_first
    row = call.router.status()["a"]  # type: ignore[attr-defined]
    assert (row.failures, str(row.last_error)) == (3, "down: ***")


def test_a_different_message_or_type_is_redacted_afresh() -> None:
    """No stale text: a new message, or the same message from another type, is its own."""
    call, _ = counting_router([Boom("one"), Boom("two"), Other("two")])
    assert fail(call) == "Boom: one"
    assert fail(call) == "Boom: two"
    assert fail(call) == "Other: two"
    last = call.router.status()["a"].last_error  # type: ignore[attr-defined]
    assert (type(last), str(last)) == (Other, "two")


def test_an_error_with_attributes_is_never_reused() -> None:
    """Equal arguments, different attributes: each copy keeps its own (redacted) values."""
    first, second = Boom("down"), Boom("down")
    first.detail = "one"  # type: ignore[attr-defined]
    second.detail = "two secret"  # type: ignore[attr-defined]
    call, _ = counting_router([first, second])
    fail(call)
    fail(call)
    last = call.router.status()["a"].last_error  # type: ignore[attr-defined]
    assert last.detail == "two ***"


def test_arguments_that_are_not_strings_are_never_compared() -> None:
    """An argument with a raising `__eq__` fails the call as usual, after a plain failure."""
    call, _ = counting_router([Boom("plain"), Boom(Touchy()), Boom(Touchy())])
    assert fail(call) == "Boom: plain"
    assert fail(call) == "Boom: Touchy()"
    assert fail(call) == "Boom: Touchy()"
    assert call.router.status()["a"].failures == 3  # type: ignore[attr-defined]


def test_a_reused_redaction_is_a_new_copy_each_time() -> None:
    """A user who raises (or annotates) one `last_error` changes no later one: each
    failure's copy is its own, without traceback, notes or frames."""
    call, _ = counting_router([Boom("down"), Boom("down")])
    fail(call)
    first = call.router.status()["a"].last_error  # type: ignore[attr-defined]
    with pytest.raises(Boom):
        raise first
    first.add_note("user note")
    fail(call)
    second = call.router.status()["a"].last_error  # type: ignore[attr-defined]
    assert second is not first
    assert (type(second), second.args) == (Boom, ("down",))
    assert second.__traceback__ is None
    assert getattr(second, "__notes__", None) is None


def test_errors_whose_text_is_not_only_their_arguments_are_redacted_afresh() -> None:
    """`OSError`'s filename, a slot read by `__str__`, a custom `__str__`: never reused."""

    class Coded(Exception):
        __slots__ = ("code",)

        def __init__(self, message: str, code: int) -> None:
            super().__init__(message)
            self.code = code

        def __str__(self) -> str:
            return f"{self.args[0]} (code {self.code})"

    call, _ = counting_router(
        [
            OSError("E1", "denied", "/home/alice/a.txt"),
            OSError("E1", "denied", "/home/bob/b.txt"),
            Coded("failed", 500),
            Coded("failed", 429),
        ]
    )
    assert "alice" in fail(call)
    assert "bob" in fail(call)
    assert fail(call) == "Coded: failed (code 500)"
    assert fail(call) == "Coded: failed (code 429)"
