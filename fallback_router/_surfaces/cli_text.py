"""Text for the command line: tables, one-line messages, URLs with secrets hidden."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, TextIO
from urllib.parse import unquote, urlsplit, urlunsplit

from fallback_router._redact import redact
from fallback_router._tracker import CooldownState

__all__ = [
    "REDACTED",
    "one_line",
    "redact_url",
    "row",
    "secrets_of",
    "shown",
    "state_text",
    "table",
    "unsplit",
    "write",
]

REDACTED = "***"
#: Query arguments whose values are secrets (password, sentinel_password, ...).
_SECRET_QUERY = re.compile(r"(?i)([^&;=]*(?:password|passwd|secret|token)[^&;=]*=)[^&;]*")


def redact_url(url: str) -> str:
    """Return `url` with its password (userinfo or query argument) shown as `***`."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        userinfo, at, hostport = netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.partition(':')[0]}:{REDACTED}@{hostport}"
        query = _SECRET_QUERY.sub(rf"\g<1>{REDACTED}", parts.query)
        return unsplit(parts.scheme, netloc, parts.path, query, parts.fragment)
    except ValueError:  # not even a URL: hide everything between :// and @
        return re.sub(r"(?<=://)[^/?#]*@", f"{REDACTED}@", url)


def unsplit(scheme: str, netloc: str, path: str, query: str, fragment: str) -> str:
    """Join URL parts, keeping `unix:///path` (urlunsplit would drop the `//`)."""
    return (
        (
            f"{scheme}://{netloc}{path}"
            if scheme and (netloc or path.startswith("/"))
            else urlunsplit((scheme, netloc, path, "", ""))
        )
        + (f"?{query}" if query else "")
        + (f"#{fragment}" if fragment else "")
    )


def secrets_of(url: str | None) -> list[str]:
    """The secrets written in `url`, raw and decoded, to hide from error texts."""
    if not url:
        return []
    found: list[str] = []
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password:
        found.append(password)
    found.extend(m.group(0).partition("=")[2] for m in _SECRET_QUERY.finditer(url))
    found += [unquote(s) for s in found]
    return sorted({s for s in found if s}, key=len, reverse=True)


def shown(text: str) -> str:
    """`text` safe for a terminal: credentials redacted, control characters escaped.

    A provider name with `?key=...` shows `?key=***`; non-printable characters and
    backslashes are backslash-escaped.
    """
    return "".join(
        c if c.isprintable() and c != "\\" else c.encode("unicode_escape").decode("ascii")
        for c in redact(text)
    )


def _width(text: str) -> int:
    """Terminal columns `text` takes (wide East Asian characters count 2)."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _pad(text: str, width: int, *, right: bool = False) -> str:
    fill = " " * max(0, width - _width(text))
    return fill + text if right else text + fill


def _seconds(value: float) -> str:
    """Seconds with one decimal, rounded up (a benched provider never shows 0.0 s)."""
    return f"{math.ceil(value * 10) / 10:.1f} s"


def write(stream: TextIO, text: str) -> None:
    """Write `text`; characters the stream cannot encode are backslash-escaped."""
    try:
        stream.write(text)
    except UnicodeEncodeError:
        encoding = getattr(stream, "encoding", None) or "ascii"
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


def one_line(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return " ".join(shown(text).split())


def row(name: str, state: CooldownState) -> dict[str, Any]:
    return {
        "name": redact(name),
        "available": state.remaining <= 0.0,
        "cooldown_remaining": state.remaining,
        "cooldown_length": state.length if state.length > 0 else None,
        "half_open": state.half_open,
        "consecutive_failures": state.consecutive_failures,
        "level": state.level,
        "window_failures": state.window_failures,
        "window_outcomes": state.window_outcomes,
        "failure_ratio": state.failure_ratio,
    }


def _ratio_text(state: CooldownState) -> str:
    """The failure ratio over the shared window: `"40% of 10"`, `"-"` without outcomes."""
    ratio = state.failure_ratio
    return "-" if ratio is None else f"{ratio:.0%} of {state.window_outcomes}"


def state_text(state: CooldownState) -> str:
    if state.remaining <= 0.0:
        return "available"
    if state.half_open:
        return f"probing, {_seconds(state.remaining)} left"
    return f"benched, {_seconds(state.remaining)} left"


def table(namespace: str, states: Mapping[str, CooldownState]) -> str:
    if not states:
        return f"no provider of namespace {namespace!r} has state\n"
    header: tuple[str, ...] = ("PROVIDER", "STATE", "COOLDOWN", "HALF-OPEN", "FAILURES", "LEVEL")
    rows: list[tuple[str, ...]] = [
        (
            shown(name),
            state_text(state),
            _seconds(state.length) if state.length > 0 else "-",
            "yes" if state.half_open else "no",
            str(state.consecutive_failures),
            str(state.level),
        )
        for name, state in sorted(states.items())
    ]
    right: tuple[bool, ...] = (False, False, True, False, True, True)
    if any(state.window_outcomes for state in states.values()):  # a failure-ratio window
        header, right = (*header, "FAILURE RATIO"), (*right, True)
        ratios = [_ratio_text(state) for _, state in sorted(states.items())]
        rows = [(*cells, ratio) for cells, ratio in zip(rows, ratios, strict=True)]
    widths = [max(_width(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            _pad(cell, width, right=flush)
            for cell, width, flush in zip(row, widths, right, strict=True)
        ).rstrip()
        for row in [header, *rows]
    ]
    count = len(rows)
    title = f"namespace {namespace!r}: {count} provider{'s' if count != 1 else ''} with state"
    return "\n".join([title, *lines]) + "\n"
