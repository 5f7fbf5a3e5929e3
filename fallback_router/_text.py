"""Text for displays: one line per value, control characters escaped, long text cut."""

from __future__ import annotations

__all__ = [
    "ERROR_CHARS",
    "RESPONSE_CHARS",
    "error_text",
    "full_error_text",
    "printable",
    "response_text",
]

#: Characters of error text shown in tables and chains; the full text is in a tooltip.
ERROR_CHARS = 100

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


def error_text(error: BaseException | None, limit: int = ERROR_CHARS) -> str:
    """One line per error: the type and its message, escaped and cut at ``limit``."""
    if error is None:
        return ""
    text = printable(f"{type(error).__name__}: {error}".rstrip(": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def full_error_text(error: BaseException | None) -> str:
    """The whole error text (for tooltips)."""
    return "" if error is None else f"{type(error).__name__}: {error}"


#: Characters of a response's ``repr`` shown by :meth:`Result._repr_html_`.
RESPONSE_CHARS = 200


def response_text(response: object, limit: int = RESPONSE_CHARS) -> str:
    """A response's ``repr`` on one line, cut at ``limit`` characters (``…`` marks a cut)."""
    try:
        text = printable(repr(response))
    except Exception:  # noqa: BLE001 - a display must not raise
        text = f"<{type(response).__qualname__} object (repr failed)>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
