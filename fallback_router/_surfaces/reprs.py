"""`repr()` of the library's records and errors: provider names and errors redacted.

The data fields keep the real provider names (they are what `only=`, `prefer=` and
`status()[name]` take); only their renderings hide credentials (DESIGN §8b). Errors
are shown by their redacted `"Type: message"` text, never by their own `repr`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from fallback_router._redact import redact

from .text import describe

__all__ = ["error_repr", "name_repr", "names_repr", "record_repr"]


def name_repr(name: object) -> str:
    """A provider name as a redacted literal (`'https://x/v1?key=***'`)."""
    return repr(redact(name)) if isinstance(name, str) else _safe(name)


def names_repr(names: Iterable[object]) -> str:
    """A tuple of provider names, redacted."""
    items = [name_repr(n) for n in names]
    return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"


def error_repr(error: BaseException | None, text: str = "") -> str:
    """An error as `<Type: redacted message>` (`text`: its text already redacted)."""
    if error is None:
        return "None"
    return f"<{text or redact(describe(error))}>"


def _safe(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # noqa: BLE001 - a foreign repr may raise anything
        return f"<{type(value).__name__} object>"


def record_repr(obj: object, fields: Iterable[str], shown: Mapping[str, str]) -> str:
    """`Type(field=value, ...)`: `shown` replaces some values; the whole text is redacted."""
    parts = [
        f"{name}={shown[name] if name in shown else _safe(getattr(obj, name, None))}"
        for name in fields
    ]
    return redact(f"{type(obj).__name__}({', '.join(parts)})")
