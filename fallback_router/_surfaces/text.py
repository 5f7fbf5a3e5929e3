"""Text for displays: one line per value, control characters escaped, long text cut."""

from __future__ import annotations

import math

__all__ = [
    "ERROR_CHARS",
    "RESPONSE_CHARS",
    "cut",
    "describe",
    "listing",
    "printable",
    "response_text",
    "seconds",
]

#: Names listed in a message before "and N more" (the full data is on the error).
LISTED = 10

#: Characters of error text shown in tables and chains; the full text is in a tooltip.
ERROR_CHARS = 100

#: Characters of a response's `repr` shown by `Result._repr_html_`.
RESPONSE_CHARS = 200

_CONTROL = {i: f"\\x{i:02x}" for i in [*range(32), 127]} | {
    ord("\n"): "\\n",
    ord("\r"): "\\r",
    ord("\t"): "\\t",
    0x2028: "\\u2028",
    0x2029: "\\u2029",
}


def printable(text: str) -> str:
    """Escape control characters (newlines, NUL...) so a value stays on one line."""
    return text.translate(_CONTROL)


def cut(text: str, limit: int = ERROR_CHARS) -> str:
    """`text` on one line, cut at `limit` characters (`…` marks a cut)."""
    text = printable(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(error: BaseException | None) -> str:
    """`"TypeName: message"` for an error (`""` for None); never raises.

    Not redacted: callers pass the text through the redactor before showing it.
    """
    if error is None:
        return ""
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - a display must not raise
        message = "<str() failed>"
    return f"{type(error).__name__}: {message}".rstrip(": ")


def response_text(response: object, limit: int = RESPONSE_CHARS) -> str:
    """A response's `repr` on one line, cut at `limit` characters (`…` marks a cut)."""
    try:
        text = repr(response)
    except Exception:  # noqa: BLE001 - a display must not raise
        text = f"<{type(response).__qualname__} object (repr failed)>"
    return cut(text, limit)


def seconds(value: float) -> str:
    """A duration for a message: three significant digits, milliseconds below 1 s.

    `0.999927` reads `1 s`, `0.0123456` reads `12.3 ms`, `90.25` reads `90.2 s`.
    """
    if not math.isfinite(value):
        return f"{value} s"
    if abs(value) < 0.9995:
        return f"{float(f'{value * 1000:.3g}'):.10g} ms"
    return f"{float(f'{value:.3g}'):.10g} s"


def listing(names: list[str] | tuple[str, ...], limit: int = LISTED) -> str:
    """`names` joined by commas, at most `limit` of them, then `and 9,990 more`."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit:,} more"
