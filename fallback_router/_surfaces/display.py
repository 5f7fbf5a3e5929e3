"""Notebook displays of results and errors: the attempt chain as HTML and Markdown.

Everything from provider data (names, error texts, responses) is escaped, and
error texts and provider names go through the redactor. Only ASCII markers and two common
typographic characters (`→`, `…`) are used, so nothing depends on an emoji font.
Text keeps the notebook's own colour, so light and dark themes both read.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Protocol

from fallback_router._redact import redact

from .text import cut, describe, printable, response_text

__all__ = ["error_html", "error_markdown", "md", "result_html", "result_markdown"]


class Attempt(Protocol):
    """What a display reads of an attempt (the shape of `fallback_router.Attempt`)."""

    @property
    def provider(self) -> str: ...
    @property
    def error(self) -> Exception | None: ...
    @property
    def latency(self) -> float: ...
    @property
    def hedged(self) -> bool: ...
    @property
    def error_text(self) -> str: ...


class Result(Protocol):
    """What a display reads of a result (the shape of `fallback_router.Result`)."""

    @property
    def response(self) -> object: ...
    @property
    def provider(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def was_terminus(self) -> bool: ...
    @property
    def attempts(self) -> Sequence[Attempt]: ...
    @property
    def skipped(self) -> Sequence[str]: ...
    @property
    def elapsed(self) -> float: ...


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")


def md(text: str) -> str:
    """Escape `text` for a Markdown table cell: no markup, links, images or HTML survive."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(printable(text), quote=False))


def _full(attempt: Attempt) -> str:
    """The attempt's error text, redacted (the router's redactor already ran on it)."""
    return attempt.error_text or redact(describe(attempt.error))


def _short(attempt: Attempt) -> str:
    return cut(_full(attempt))


def _name(attempt: Attempt) -> str:
    return redact(attempt.provider) + (" (hedge)" if attempt.hedged else "")


def chain_html(attempts: Sequence[Attempt], skipped: Sequence[str]) -> str:
    """The attempt chain: skipped names struck through, failures with their error."""
    esc = html.escape
    parts = [
        f'<span class="fr-skipped" title="skipped"><s>{esc(printable(redact(name)))}</s></span>'
        for name in skipped
    ]
    for a in attempts:
        name = esc(printable(_name(a)))
        if a.error is None:
            parts.append(f'<span class="fr-ok"><b>{name}</b> ok {a.latency * 1000:.1f} ms</span>')
        else:
            parts.append(
                f'<span class="fr-failed" title="{esc(printable(_full(a)))}">'
                f"{name} failed: {esc(_short(a))}</span>"
            )
    return " → ".join(parts) if parts else "no attempt"


def chain_markdown(attempts: Sequence[Attempt], skipped: Sequence[str]) -> str:
    """The attempt chain as Markdown list items."""
    lines = [f"- ~~{md(redact(name))}~~ skipped" for name in skipped]
    for a in attempts:
        if a.error is None:
            lines.append(f"- **{md(_name(a))}** ok, {a.latency * 1000:.1f} ms")
        else:
            lines.append(f"- {md(_name(a))} failed: {md(_short(a))}")
    return "\n".join(lines) if lines else "- no attempt"


def error_html(error: Exception, attempts: Sequence[Attempt], skipped: Sequence[str]) -> str:
    """An error of a routed call as HTML: its type, message and attempt chain."""
    esc = html.escape
    head = f"{type(error).__name__}: {redact(str(error))}"
    return (
        '<div class="fallback-router-error" style="color:inherit">'
        f"<b>{esc(printable(head))}</b><br>{chain_html(attempts, skipped)}</div>"
    )


def error_markdown(error: Exception, attempts: Sequence[Attempt], skipped: Sequence[str]) -> str:
    """An error of a routed call as Markdown: its type, message and attempt chain."""
    head = f"{type(error).__name__}: {redact(str(error))}"
    return f"**{md(head)}**\n\n{chain_markdown(attempts, skipped)}"


def result_html(result: Result) -> str:
    """A [`Result`][fallback_router.Result] as HTML: the chain, the server, the response."""
    esc = html.escape
    shown = response_text(result.response)
    return (
        '<div class="fallback-router-result" style="color:inherit">'
        f"{chain_html(result.attempts, result.skipped)}<br>served by "
        f"<b>{esc(printable(redact(result.provider)))}</b> on attempt {result.attempt}"
        f"{' (terminus)' if result.was_terminus else ''} in {result.elapsed * 1000:.1f} ms<br>"
        f'response: <code title="{esc(type(result.response).__qualname__)}" '
        f'style="color:inherit;background:transparent">{esc(shown)}</code></div>'
    )


def result_markdown(result: Result) -> str:
    """A [`Result`][fallback_router.Result] as Markdown."""
    terminus = " (terminus)" if result.was_terminus else ""
    return (
        f"served by **{md(redact(result.provider))}** on attempt {result.attempt}{terminus} in "
        f"{result.elapsed * 1000:.1f} ms\n\n{chain_markdown(result.attempts, result.skipped)}"
        f"\n\nresponse: {md(response_text(result.response))}"
    )
