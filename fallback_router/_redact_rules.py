"""The patterns behind `redact` (DESIGN §8b): see `fallback_router._redact` for the rules."""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["RULES", "SENSITIVE", "suspicious"]

_HEADER = r"(?:proxy-)?authorization|(?:set-)?cookie|(?:x-(?:goog-)?)?api-key|x-auth-token"
_SUFFIX = r"(?:api)?key|token|secret|passw(?:or)?d|pwd|sig(?:nature)?|auth"
_PARAM = rf"(?:[\w-]*[_-])?(?:{_SUFFIX})"
_FIELD = rf"[\w-]*[_-](?:{_SUFFIX})|apikey|token|secret|passw(?:or)?d|signature|{_HEADER}"
#: Path segments whose next segment is a secret (`/key/AIza…`, `/token/abc`).
_SEGMENT = rf"[\w-]*[_-](?:{_SUFFIX})|key|apikey|token|secret|passw(?:or)?d|signature"

#: Names (of headers and mapping keys) whose values are always `***`.
SENSITIVE = re.compile(_FIELD, re.IGNORECASE)


def _keep_quotes(match: re.Match[str]) -> str:
    """`name=***`, or `name='***'` for a quoted value (rule 6)."""
    quote = match.group(2) or ""
    return f"{match.group(1)}{quote}***{quote}"


RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(?<=://)([^\s/@:?#'\"<>]*+):[^\s/@?#'\"<>]++@"), r"\1:***@"),
    (
        re.compile(
            rf"((?:[?&;]|%3F|%26)(?:{_PARAM})(?:=|%3D))(?:[^%&#;\s'\"<>\\,):]|%(?!26)|:(?!\s|$))++",
            re.IGNORECASE,
        ),
        r"\1***",
    ),
    (
        re.compile(
            rf"""(b?(['"])(?:{_FIELD})\2\s*+[:,]\s*+b?)(['"])(?:(?!\3)[^\\]|\\.)*+\3""",
            re.IGNORECASE | re.DOTALL,
        ),
        r"\1\3***\3",
    ),
    (
        re.compile(rf"""((?<=["'])(?:{_FIELD})\\?["']\s*+:\s*+\\?["'])[^"'\\]++""", re.IGNORECASE),
        r"\1***",
    ),
    (re.compile(rf"(?<![\w-])((?:{_HEADER})[ \t]*+:[ \t]*+)\S[^\r\n]*+", re.IGNORECASE), r"\1***"),
    (
        re.compile(
            r"\b(Bearer)[ \t]++(?!(?:tokens?|auth\w*|scheme|header)\b)[\w\-.~+/]++=*+",
            re.IGNORECASE,
        ),
        r"\1 ***",
    ),
    (
        re.compile(
            rf"""(?<![\w.-])((?:{_PARAM})[ \t]*+=[ \t]*+)(?:(['"])(?:(?!\2)[^\\]|\\.)*+\2"""
            rf"""|(?!\*\*\*|bearer[ \t])[^&\s'"<>\\,;()\[\]{{}}]++)""",
            re.IGNORECASE,
        ),
        _keep_quotes,
    ),
    (
        re.compile(rf"(/(?:{_SEGMENT})/)[^/?#&\s'\"<>\\]++", re.IGNORECASE),
        r"\1***",
    ),
    (re.compile(r"\bsk-[\w*\-]{3,}+"), "sk-***"),
    (re.compile(r"\bAIza[\w\-]{35}"), "AIza***"),
)

#: Characters and words at least one rule needs: text with none of them is returned as is.
_CHARS = frozenset("?&;'\"%=")


def suspicious(text: str) -> bool:
    """Whether any rule could match `text` (substring tests: far cheaper than the rules)."""
    if not _CHARS.isdisjoint(text):
        return True
    lower = text.lower()
    return (
        "://" in lower
        or "bearer" in lower
        or "sk-" in lower
        or "aiza" in lower
        or "authorization" in lower
        or "cookie" in lower
        or "api-key" in lower
        or "auth-token" in lower
        or (
            "/" in lower
            and (
                "key/" in lower
                or "token/" in lower
                or "secret/" in lower
                or "passw" in lower
                or "signature/" in lower
            )
        )
    )
