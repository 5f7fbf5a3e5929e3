"""Redaction of credentials in error text and in the errors a router keeps (DESIGN §8b).

`redact` applies the built-in rules below; each secret becomes `***`:

1. URL userinfo passwords: `https://user:pass@host` becomes `https://user:***@host`.
2. URL query parameters named like a credential, after `?`, `&` or `;` (or `%3F`,
   `%26`) and before `=` (or `%3D`), in any case: `key`, `apikey`, `token`, `secret`,
   `password`, `passwd`, `pwd`, `sig`, `signature` and `auth`, alone or at the end of
   a name after `_` or `-` (`api_key`, `api-key`, `x-api-key`, `access_token`,
   `refresh_token`, `id_token`, `client_secret`, `X-Amz-Signature`...). The value
   ends at `&`, `%26`, `#`, `;`, whitespace, a quote, `<`, `>` or a backslash.
   `?keyword=cats` and `&monkey=1` are kept.
3. Quoted pairs, as dicts, JSON objects, `httpx.Headers`, requests'
   `CaseInsensitiveDict` and lists of tuples print them (`'authorization': 'Bearer
   abc'`, `"api_key": "abc"`, `(b'x-api-key', b'abc')`, also JSON inside a string,
   its quotes escaped): the headers `Authorization`, `Proxy-Authorization`,
   `Cookie`, `Set-Cookie`, `api-key`, `x-api-key`, `x-goog-api-key`,
   `x-auth-token`, and the names of rule 2 except a bare `key`, `pwd`, `sig` or
   `auth`. The quoted value becomes `'***'`.
4. Header lines of those headers (`Authorization: Bearer abc`): the rest of the line.
5. `Bearer <token>` anywhere becomes `Bearer ***` (not before a word such as
   `token`, `tokens`, `auth...`, `scheme` or `header`: "invalid bearer token" stays).
6. Form fields and keyword arguments named as in rule 2, anywhere (`api_key=abc`,
   `token = "abc"`, `password='abc'`): the value, quoted or not (an unquoted one
   ends at `&`, `,`, `;`, a bracket, whitespace, a quote, `<`, `>` or a backslash).
7. URL path segments after a segment named `key`, `apikey`, `token`, `secret`,
   `password`, `passwd`, `signature` or a name ending in one of rule 2's names
   after `_` or `-` (`/key/AIza…`, `/token/abc`, `/api_key/abc`): that next segment.
8. OpenAI-style keys (`sk-...`, `sk-proj-...`, `sk-ant-...`, the SDK's partly starred
   echoes included) become `sk-***`: the prefix is kept to show what was removed.
9. Google API keys (`AIza` and 35 characters) become `AIza***`.

Every pattern is precompiled and uses possessive quantifiers, so redaction is linear
in the text. `scrub` copies an error for `last_error`: redacted, without traceback and
without request or response objects.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from typing import Any, TypeVar, cast

from ._redact_rules import RULES, SENSITIVE, suspicious

__all__ = ["HTTPFacts", "LastRedaction", "Redactor", "redact", "scrub"]

#: Levels of nested containers (and errors) copied by `scrub`; deeper ones become `…`.
_DEPTH = 4
_PLAIN = (int, float, complex, type(None), Enum, dt.date, dt.time, dt.timedelta, Decimal)

_E = TypeVar("_E", bound=BaseException)


def redact(text: str) -> str:
    """Hide the secrets in `text`: what the router does to every error text it shows.

    Becomes `***`: passwords in URLs (`https://user:***@host`); values of URL query
    parameters named like a credential (`key`, `api_key`, `apikey`, `token`,
    `access_token`, `sig`, `signature`, `secret`, `password`...); values of the
    headers `Authorization`, `Proxy-Authorization`, `Cookie`, `x-api-key`,
    `api-key`, `x-goog-api-key` in any form they are printed (header lines, dicts,
    lists of pairs); values of form, keyword and JSON fields named like a
    credential (`api_key=…`, `"api_key": "…"`); URL path segments after one named
    like a credential (`/key/AIza…`, `/token/…`); `Bearer …` tokens; OpenAI-style
    keys (`sk-…`, shown as `sk-***`) and Google API keys (`AIza…`).

    Never raises: for a value that is not a `str` (a caller's bug) it returns `***`.

    Version:
        Added in 0.3.0. Changed in 0.3.0: form, JSON and path-segment rules.
    """
    try:
        if not suspicious(text):  # most error texts: nothing any rule could match
            return text
        for pattern, replacement in RULES:
            text = pattern.sub(replacement, text)
    except Exception:  # noqa: BLE001 - redaction must never raise; hide what it cannot read
        return "***"
    return text


class Redactor:
    """The built-in rules followed by an optional user callable (the router's `redact=`).

    Calling it never raises: when `extra` raises or returns something other than a
    `str`, the text with only the built-in rules applied is returned.

    Args:
        extra: Applied to the text after the built-in rules.
    """

    __slots__ = ("extra",)

    def __init__(self, extra: Callable[[str], str] | None = None) -> None:
        self.extra = extra

    def __repr__(self) -> str:
        return f"Redactor(extra={self.extra!r})"

    def __call__(self, text: str) -> str:
        """Return `text` with the built-in rules, then `extra`, applied."""
        cleaned = redact(text)
        extra = self.extra
        if extra is None:
            return cleaned
        try:
            result = extra(cleaned)
        except Exception:  # noqa: BLE001 - a user's redactor must not break error handling
            return cleaned
        return result if isinstance(result, str) else cleaned

    def error_text(self, error: BaseException) -> str:
        """Return `"TypeName: message"` redacted (`"TypeName"` for an empty message).

        A `__str__` that raises gives the message `<exception str() failed>`.
        """
        try:
            message = str(error)
        except Exception:  # noqa: BLE001 - any error must be describable
            message = "<exception str() failed>"
        name = type(error).__name__
        return self(f"{name}: {message}" if message else name)


@dataclass
class HTTPFacts:
    """What `scrub` keeps of a request or response: plain, picklable and redacted.

    Attributes:
        status_code: The response's HTTP status, or None.
        reason_phrase: The status text (httpx's `reason_phrase`, requests' `reason`).
        method: The request method, or None.
        url: The redacted URL, or None.
        headers: Header names lower-cased; sensitive values are `***`, the others
            redacted (so `Retry-After` and `x-ratelimit-*` still read).
    """

    status_code: int | None = None
    reason_phrase: str | None = None
    method: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict[str, str])

    @property
    def reason(self) -> str | None:
        """The status text, under requests' name."""
        return self.reason_phrase


def _attr(obj: object, name: str) -> Any:
    """`getattr(obj, name, None)`, None also when a property raises (httpx's `url`)."""
    try:
        return getattr(obj, name, None)
    except Exception:  # noqa: BLE001 - a property of a foreign object may raise anything
        return None


def _string(value: object, redactor: Callable[[str], str]) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return redactor(value) if isinstance(value, str) else None


def _headers(headers: object, redactor: Callable[[str], str]) -> dict[str, str]:
    """A plain dict of headers, names lower-cased, repeated names joined with `, `."""
    if isinstance(headers, Mapping):
        pairs = list(cast("Mapping[object, object]", headers).items())
    elif isinstance(headers, list | tuple):
        pairs = list(cast("list[tuple[object, object]]", headers))
    else:
        return {}
    result: dict[str, str] = {}
    for name, value in pairs:
        key = (name.decode("latin-1") if isinstance(name, bytes) else str(name)).lower()
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        text = "***" if SENSITIVE.fullmatch(key) else redactor(text)
        result[key] = f"{result[key]}, {text}" if key in result else text
    return result


def _facts(obj: object, redactor: Callable[[str], str]) -> HTTPFacts:
    status = _attr(obj, "status_code")
    url = _attr(obj, "url")
    is_status = isinstance(status, int) and not isinstance(status, bool)
    return HTTPFacts(
        status_code=int(status) if is_status else None,
        reason_phrase=_string(_attr(obj, "reason_phrase") or _attr(obj, "reason"), redactor),
        method=_string(_attr(obj, "method"), redactor),
        url=None if url is None else redactor(str(url)),
        headers=_headers(_attr(obj, "headers"), redactor),
    )


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a foreign repr may raise anything
        return f"<{type(value).__name__} object>"


def _clean(value: object, redactor: Callable[[str], str], depth: int) -> object:
    """A redacted copy of `value` that holds no request, response or foreign object."""
    if isinstance(value, str):
        return redactor(value)
    if isinstance(value, bytes | bytearray):
        return redactor(bytes(value).decode("latin-1")).encode("latin-1", "replace")
    if isinstance(value, _PLAIN):
        return value
    if depth <= 0:
        return "…"
    return _clean_deep(value, redactor, depth)


def _clean_deep(value: object, redactor: Callable[[str], str], depth: int) -> object:
    """`_clean` for errors, requests, responses, containers and foreign objects."""
    if isinstance(value, BaseException):
        return _copy(value, redactor, depth - 1)
    if any(_attr(value, name) is not None for name in ("headers", "request", "response")):
        return _facts(value, redactor)
    if isinstance(value, Mapping):
        return {
            _clean(key, redactor, depth - 1): "***"
            if isinstance(key, str) and SENSITIVE.fullmatch(key)
            else _clean(item, redactor, depth - 1)
            for key, item in cast("Mapping[object, object]", value).items()
        }
    if isinstance(value, list | tuple):
        items = [_clean(item, redactor, depth - 1) for item in cast("list[object]", value)]
        return tuple(items) if isinstance(value, tuple) else items
    return redactor(_safe_repr(value))


def _copy(error: _E, redactor: Callable[[str], str], depth: int) -> _E:
    """A fresh `type(error)` with cleaned `args` and attributes; no traceback, cause or context."""
    cls = type(error)
    args = tuple([_clean(arg, redactor, depth) for arg in error.args]) if error.args else ()
    clone = cls.__new__(cls, *args)
    clone.args = args
    attributes = vars(error)
    if attributes:
        clone.__dict__.update({k: _clean(v, redactor, depth) for k, v in attributes.items()})
    return clone


def scrub(error: Exception, redactor: Redactor) -> Exception:
    """Return a redacted copy of `error` that is safe to keep, log and pickle.

    The copy has the same type, no traceback, cause or context, and `args` and
    instance attributes cleaned: strings redacted; dicts, lists and tuples copied with
    their strings redacted (values under sensitive keys become `***`) down to four
    levels, deeper ones replaced by `…`; errors copied the same way; requests,
    responses and anything with a `headers`, `request` or `response` attribute replaced
    by an `HTTPFacts`; numbers, `None`, enums, dates and decimals kept; any other
    object replaced by its redacted `repr`. `status_of` and `retry_after_of` read the
    copy as they read `error`.

    Args:
        error: The error to copy; it is left unchanged.
        redactor: Applied to every string kept.

    Returns:
        The copy, or `RuntimeError("TypeName: redacted message")` when `error` cannot
        be copied that way (its type's `__new__` rejects its arguments, say).
    """
    try:
        return _copy(error, redactor, _DEPTH)
    except Exception:  # noqa: BLE001 - any failure to copy falls back to a description
        return RuntimeError(redactor.error_text(error))


class LastRedaction:
    """A router's failures as `(redacted text, scrubbed copy)`; one per router.

    A provider that keeps failing fails the same way. A plain error (its type keeps
    `BaseException.__str__`, so its text is its arguments'; only `str` arguments; no
    attributes or notes) whose type and arguments equal the last plain one's gets the
    last text again and a new copy built from the same redacted arguments (never the
    same object), instead of being redacted again. The raw arguments are not kept:
    they are compared by hash and lengths. `redact=` rules run once per run of equal
    failures. Thread-safe: the last answer is one tuple, read once.
    """

    __slots__ = ("_last", "redactor")

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        #: `(type, hash of the args, their lengths, text, redacted args)` of the last one.
        self._last: tuple[type[Exception], int, tuple[int, ...], str, tuple[Any, ...]] | None
        self._last = None

    def __call__(self, error: Exception) -> tuple[str, Exception]:
        """`error`'s redacted text (`Redactor.error_text`) and its `scrub` copy."""
        cls, args = error.__class__, error.args
        try:  # only strings are compared: an argument's own __eq__ never runs
            plain = (
                cls.__str__ is _ARGS_STR
                and not error.__dict__
                and all(arg.__class__ is str for arg in args)
            )
        except Exception:  # noqa: BLE001 - an odd error (a raising __dict__) is never reused
            plain = False
        key, lengths = (hash(args), tuple([len(arg) for arg in args])) if plain else (0, ())
        last = self._last  # one read: another thread may replace it meanwhile
        if plain and last is not None and last[0] is cls and last[1:3] == (key, lengths):
            with contextlib.suppress(Exception):  # else redacted below, as the first time
                clone = cls.__new__(cls, *last[4])
                clone.args = last[4]
                return last[3], clone
        redactor = self.redactor
        text = redactor.error_text(error)
        kept = scrub(error, redactor)
        if plain and kept.__class__ is cls and not kept.__dict__:
            self._last = (cls, key, lengths, text, kept.args)
        return text, kept


#: The `__str__` of an error whose text is its arguments' only.
_ARGS_STR = BaseException.__str__
