"""The steps of a testing `Script`: what they are, how they are checked and raised.

Public through `fallback_router.testing` (`Step`, `hang`, `cut`, `stall`, `http_error`).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = [
    "NO_THEN",
    "Cut",
    "Hang",
    "Stall",
    "Step",
    "after",
    "check",
    "cut",
    "cut_error",
    "hang",
    "http_error",
    "is_exception",
    "no_stream_step",
    "raise_step",
    "seconds_of",
    "stall",
    "stall_error",
    "stream_check",
]

NO_THEN: Any = object()  # `hang(then=...)` not given: the hang ends in a TimeoutError


class Step:
    """A scripted behaviour other than a value or an exception.

    Made by [`hang`][fallback_router.testing.hang], [`cut`][fallback_router.testing.cut]
    and [`stall`][fallback_router.testing.stall]; opaque, immutable, reusable in any
    number of scripts.

    Version:
        Added in 0.3.0.
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True, repr=False)
class Hang(Step):
    seconds: float | None
    then: Any

    def __repr__(self) -> str:
        then = "" if self.then is NO_THEN else f", then={self.then!r}"
        return f"hang({self.seconds!r}{then})"


@dataclass(frozen=True, slots=True, repr=False)
class Cut(Step):
    items: tuple[Any, ...]
    error: BaseException | type[BaseException] | None

    def __repr__(self) -> str:
        return f"cut({list(self.items)!r}, error={self.error!r})"


@dataclass(frozen=True, slots=True, repr=False)
class Stall(Step):
    items: tuple[Any, ...]
    seconds: float | None

    def __repr__(self) -> str:
        return f"stall({list(self.items)!r}, {self.seconds!r})"


def seconds_of(value: object, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"{what} must be a number of seconds or None, got {value!r}"
        raise TypeError(msg)
    if not value >= 0 or math.isinf(value):  # `not >=` also rejects NaN
        msg = f"{what} must be finite and >= 0, got {value!r}"
        raise ValueError(msg)
    return float(value)


def items_of(items: Iterable[Any], what: str) -> tuple[Any, ...]:
    if isinstance(items, str | bytes | bytearray | Mapping) or not isinstance(items, Iterable):
        msg = f"{what} must be an iterable of stream items (a list, a tuple), got {items!r}"
        raise TypeError(msg)
    return tuple(items)


def hang(seconds: float | None = None, *, then: object = NO_THEN) -> Step:
    """A step that blocks (sync) or sleeps (async), as a provider that never answers does.

    The wait is in real time (a [`FakeClock`][fallback_router.testing.FakeClock] does
    not shorten it), so a router's `attempt_timeout=`, `timeout=` or
    `first_item_timeout=` ends it for the caller. On a stream call the wait comes
    before the first item.

    Args:
        seconds: how long; None waits until the script is
            [closed][fallback_router.testing.Script.close] (an async hang also ends
            when its task is cancelled, as a router's timeout does).
        then: the step to carry on with when the wait ends (a value, an exception, a
            stream step); by default the call raises `TimeoutError`, as a client's own
            read timeout would.

    Raises:
        TypeError: `seconds` is not a number, or `then` is itself a hang.
        ValueError: `seconds` is negative, infinite or NaN.

    Version:
        Added in 0.3.0.
    """
    checked = seconds_of(seconds, "hang(seconds)")
    if then is not NO_THEN:
        check(then, "hang(then=...)")
        if isinstance(then, Hang):
            msg = f"hang(then=...) cannot be another hang, got {then!r}: add up the seconds"
            raise TypeError(msg)
    return Hang(checked, then)


def cut(items: Iterable[Any], error: BaseException | type[BaseException] | None = None) -> Step:
    """A stream step: yield `items`, then fail with `error`, as a dropped connection does.

    Args:
        items: the items delivered before the cut (none: the stream fails at once).
        error: an exception instance or class; default a `ConnectionResetError`.

    Raises:
        TypeError: `items` is not an iterable of items, or `error` not an exception.

    Version:
        Added in 0.3.0.
    """
    taken = items_of(items, "cut(items)")
    if error is not None and not is_exception(error):
        msg = f"cut(error=...) must be an exception instance or class, got {error!r}"
        raise TypeError(msg)
    return Cut(taken, error)


def stall(items: Iterable[Any], seconds: float | None) -> Step:
    """A stream step: yield `items`, then fall silent for `seconds` (real time).

    When the silence ends the stream raises `TimeoutError` (a client's read timeout);
    a router's `idle_timeout=` ends it sooner for the consumer.

    Args:
        items: the items delivered before the silence.
        seconds: how long the silence lasts; None until the script is closed.

    Raises:
        TypeError: `items` is not an iterable of items, or `seconds` not a number.
        ValueError: `seconds` is negative, infinite or NaN.

    Version:
        Added in 0.3.0.
    """
    return Stall(items_of(items, "stall(items)"), seconds_of(seconds, "stall(seconds)"))


#: Error `type` of a vendor's JSON body, by status (OpenAI's and Anthropic's spelling).
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def http_error(
    status: int,
    retry_after: float | str | None = None,
    code: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    url: str = "https://vendor.test/v1/chat",
) -> httpx.HTTPStatusError:
    """A real `httpx.HTTPStatusError`, shaped like a vendor's error response.

    The error is what `response.raise_for_status()` raises for a `POST` to `url`: its
    `.response` has the status, a JSON body
    `{"error": {"message", "type", "code", "param"}}`, a `Retry-After` header when
    `retry_after` is given and any other `headers`. As a script step it is raised (the
    same instance on each call); it can also be raised by your own fakes.

    Args:
        status: an HTTP error status, 400 to 599.
        retry_after: the `Retry-After` header: a number of seconds, or any text as
            sent (an HTTP date, or a malformed value to test that path).
        code: the body's error `code`; default `"rate_limit_exceeded"` for a 429.
        headers: more response headers (`retry-after-ms`,
            `x-ratelimit-reset-requests`, ...).
        url: the request's URL.

    Raises:
        ImportError: httpx is not installed (`pip install httpx`).
        TypeError: `status` is not an int, or `retry_after` neither a number nor text.
        ValueError: `status` is not 400-599, or `retry_after` is negative or NaN.

    Version:
        Added in 0.3.0.
    """
    try:
        import httpx  # noqa: PLC0415 - optional: only this helper needs it
    except ImportError as exc:
        msg = "fallback_router.testing.http_error needs httpx: pip install httpx"
        raise ImportError(msg, name=exc.name) from exc
    if isinstance(status, bool) or not isinstance(status, int):
        msg = f"http_error(status) must be an int, got {status!r}"
        raise TypeError(msg)
    if not 400 <= status <= 599:
        msg = f"http_error(status) must be an HTTP error status 400-599, got {status!r}"
        raise ValueError(msg)
    sent = dict(headers or {})
    if isinstance(retry_after, str):
        sent["Retry-After"] = retry_after
    elif retry_after is not None:
        seconds = seconds_of(retry_after, "http_error(retry_after)")
        assert seconds is not None  # noqa: S101 - None was handled above
        sent["Retry-After"] = str(int(seconds)) if seconds.is_integer() else str(seconds)
    if code is None and status == 429:
        code = "rate_limit_exceeded"
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    request = httpx.Request("POST", url)
    body = {"error": {"message": f"scripted {status}", "type": kind, "code": code, "param": None}}
    response = httpx.Response(status, headers=sent, json=body, request=request)
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as error:
        return error.with_traceback(None)
    raise AssertionError(status)  # pragma: no cover - every 4xx/5xx raises above


def is_exception(step: object) -> bool:
    return isinstance(step, BaseException) or (
        isinstance(step, type) and issubclass(step, BaseException)
    )


def check(step: object, where: str) -> None:
    """Reject what a script cannot replay; raise TypeError naming it."""
    if any(step is helper for helper in HELPERS):
        name = getattr(step, "__name__", "")
        msg = f"{where} is the helper {name} itself: call it, e.g. {name}(...)"
        raise TypeError(msg)
    if inspect.iscoroutine(step) or isinstance(step, Iterator | AsyncIterator):
        msg = (
            f"{where} ({step!r}) is one-shot and cannot be replayed: "
            f"give the value, or a list or tuple of stream items"
        )
        raise TypeError(msg)
    if isinstance(step, type) and issubclass(step, BaseException):
        try:
            step()
        except Exception as exc:
            msg = f"{where} ({step.__name__}) cannot be raised without arguments: give an instance"
            raise TypeError(msg) from exc


HELPERS: tuple[object, ...] = (hang, cut, stall, http_error)


def raise_step(step: BaseException | type[BaseException]) -> Any:
    if isinstance(step, type):
        raise step
    raise step.with_traceback(None)  # the same instance again: no growing traceback


def after(step: Hang) -> Any:
    """The step a hang carries on with once it ends."""
    if step.then is NO_THEN:
        return TimeoutError(f"scripted hang({step.seconds!r}) ended without an answer")
    return step.then


def no_stream_step(step: object, call: str) -> None:
    """Raise TypeError when `step` (or the step a hang carries on with) is a stream step."""
    if isinstance(step, Hang):
        step = step.then
    if isinstance(step, Cut | Stall):
        msg = f"{step!r} is a stream step, used on {call}: call script.stream() or astream()"
        raise TypeError(msg)


def stream_check(step: object) -> None:
    """Raise TypeError unless `step` (or the step a hang carries on with) can be a stream."""
    if isinstance(step, Hang):
        step = step.then
    if step is NO_THEN or isinstance(step, Step) or is_exception(step):
        return
    if isinstance(step, str | bytes | bytearray | Mapping) or not isinstance(step, Iterable):
        msg = (
            f"a stream call's step must be an iterable of items (a list, a tuple) or a "
            f"stream step, got {step!r}"
        )
        raise TypeError(msg)


def cut_error(step: Cut) -> BaseException | type[BaseException]:
    if step.error is None:
        return ConnectionResetError(f"scripted cut after {len(step.items)} items")
    return step.error


def stall_error(step: Stall) -> TimeoutError:
    return TimeoutError(f"scripted stall({step.seconds!r}) ended: no item came")
