"""The `Status` table shown by `router.status()`: rows, text, Markdown and HTML."""

from __future__ import annotations

import datetime as dt
import difflib
import html
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, overload

from fallback_router._engine.setup import Setup
from fallback_router._rate_specs import TokenLimit
from fallback_router._redact import redact
from fallback_router._tracker import CooldownState

from .display import md
from .status_row import ProviderStatus, error_text
from .text import cut, listing, printable

__all__ = ["ProviderStatus", "Status", "build_status"]


def _latency_text(latency: float | None) -> str:
    return "" if latency is None else f"{latency * 1000:.1f} ms"


def _availability(row: ProviderStatus) -> str:
    if row.available:
        return "half-open" if row.half_open else "yes"
    return f"no ({max(row.cooldown_remaining, 0.1):.1f} s)"


def _badge(row: ProviderStatus) -> str:
    if row.available:
        return "half-open" if row.half_open else "available"
    return f"benched {max(row.cooldown_remaining, 0.1):.1f} s"


def _share_left(row: ProviderStatus) -> tuple[float, float]:
    """(percent of the provider's own cooldown left, that cooldown's length)."""
    length = row.cooldown_length or row.cooldown_remaining or 1.0
    return max(0.0, min(100.0, 100.0 * row.cooldown_remaining / length)), length


def _count_text(value: int) -> str:
    return str(value) if value else ""


def _number_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _tokens_text(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _window_text(row: ProviderStatus) -> str:
    """The failure ratio over the tracker's window: `"40% of 10"` (empty without outcomes)."""
    ratio = row.failure_ratio
    return "" if ratio is None else f"{ratio:.0%} of {row.window_outcomes}"


def _column(attribute: str, fmt: Callable[[Any], str]) -> Callable[[ProviderStatus], str]:
    return lambda row: fmt(getattr(row, attribute))


#: Columns shown only when some row has a value: (header, the cell's text for a row).
_OPTIONAL: tuple[tuple[str, Callable[[ProviderStatus], str]], ...] = (
    ("failure ratio", _window_text),
    ("in flight", _column("in_flight", _count_text)),
    ("weight", _column("weight", _number_text)),
    ("latency est.", _column("latency_estimate", _latency_text)),
    ("tokens", _column("tokens", _tokens_text)),
    ("quota tokens", _column("quota_tokens", _tokens_text)),
)
_HEADERS = ("provider", "available", "consecutive", "successes", "failures", "skips")
_TAIL = ("last latency", "last failure", "last error")


class Status(Sequence[ProviderStatus]):
    """The providers of a router and their health, in provider order.

    Iterate it, index it by position or by name (`status["gemini"]`), print it
    as a table, or display it in a notebook (HTML with benched rows marked and a
    bar showing the share of each provider's own cooldown that is left; colours
    that read on light and dark themes; no emoji). Everything from provider data
    is escaped, error texts are redacted. `shared` says which columns come from
    shared state (a Redis tracker) and which are this process's own.

    Version:
        Added in 0.1.0. Changed in 0.3.0: `shared`; strategy columns.
    """

    __slots__ = ("_rows", "shared")

    def __init__(self, rows: Sequence[ProviderStatus], shared: str | None = None) -> None:
        self._rows = tuple(rows)
        self.shared = shared

    @overload
    def __getitem__(self, key: int | str) -> ProviderStatus: ...
    @overload
    def __getitem__(self, key: slice) -> Sequence[ProviderStatus]: ...
    def __getitem__(self, key: int | str | slice) -> ProviderStatus | Sequence[ProviderStatus]:
        """Return the row at a position, the row of a provider name, or a slice."""
        if isinstance(key, str):
            for row in self._rows:
                if row.name == key:
                    return row
            raise KeyError(self._missing(key))
        return self._rows[key]

    def _missing(self, key: str) -> str:
        """The message for a name with no row: the closest names, then the known ones."""
        names = [row.name for row in self._rows]
        close = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
        hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
        known = listing([repr(name) for name in names]) if names else "none"
        return redact(f"no provider named {key!r}{hint} (providers: {known})")

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[ProviderStatus]:
        return iter(self._rows)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data for a `/health` endpoint.

        `{"providers": [row.to_dict(), ...], "available": n, "total": n,
        "retry_after": s, "shared": text}`: `available` counts the providers
        not in cooldown; `retry_after` is None while one is available, else the
        seconds until the earliest cooldown ends (what a 503's `Retry-After`
        says); `shared` is the note on which columns come from Redis, or None.

        Version:
            Added in 0.3.0.
        """
        rows = [row.to_dict() for row in self._rows]
        available = sum(1 for row in self._rows if row.available)
        benched = [row.cooldown_remaining for row in self._rows if not row.available]
        return {
            "providers": rows,
            "available": available,
            "total": len(rows),
            "retry_after": float(min(benched)) if benched and not available else None,
            "shared": self.shared,
        }

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the rows (each as [`ProviderStatus`][fallback_router.ProviderStatus] does)."""
        return (Status, (self._rows, self.shared))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Status) and self._rows == other._rows

    __hash__ = None  # type: ignore[assignment]

    def _optional(self) -> list[tuple[str, Callable[[ProviderStatus], str]]]:
        return [column for column in _OPTIONAL if any(column[1](r) for r in self._rows)]

    def _headers(self) -> tuple[str, ...]:
        return (*_HEADERS, *(c[0] for c in self._optional()), *_TAIL)

    def _cells(self) -> list[tuple[str, ...]]:
        optional = self._optional()
        return [
            (
                printable(redact(r.name)),
                _availability(r),
                str(r.consecutive_failures),
                str(r.successes),
                str(r.failures),
                str(r.skips),
                *(text(r) for _, text in optional),
                _latency_text(r.last_latency),
                r.last_failure_at.strftime("%H:%M:%S") if r.last_failure_at else "",
                cut(error_text(r.last_error)),
            )
            for r in self._rows
        ]

    def __repr__(self) -> str:
        headers = self._headers()
        rows = [headers, *self._cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(headers))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        if self.shared:
            lines.append(self.shared)
        return "\n".join(lines)

    def __rich_repr__(self) -> Iterator[ProviderStatus]:
        """Let rich pretty-print the rows (no rich import needed)."""
        yield from self._rows

    def _repr_markdown_(self) -> str:
        """Render as a Markdown table: everything from provider data escaped."""
        headers = self._headers()
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for r, cells in zip(self._rows, self._cells(), strict=True):
            badge = _badge(r)
            if not r.available:
                pct, length = _share_left(r)
                badge += f" ({pct:.0f}% of {length:.1f} s left)"
            row = (cells[0], badge, *cells[2:])
            lines.append("| " + " | ".join(md(c) for c in row) + " |")
        if self.shared:
            lines.append(f"\n{md(self.shared)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Render as an HTML table that reads on light and dark notebook themes.

        Benched rows get a translucent red tint over the inherited background and
        keep the inherited text colour; their bar shows the share of the
        provider's own cooldown that is left. Errors are cut at 100 characters
        with the full (redacted) text in a `title` tooltip. Availability is a
        word and a CSS dot: no glyph needs an emoji font.
        """
        esc = html.escape
        head = "".join(f'<th style="text-align:left">{h}</th>' for h in self._headers())
        body: list[str] = []
        for r, cells in zip(self._rows, self._cells(), strict=True):
            colour = (
                "rgba(40,167,69,0.9)"
                if r.available and not r.half_open
                else ("rgba(255,193,7,0.9)" if r.available else "rgba(220,53,69,0.9)")
            )
            dot = (
                f'<span class="fr-dot" style="display:inline-block;width:0.6em;height:0.6em;'
                f'border-radius:50%;background:{colour};margin-right:0.3em"></span>'
            )
            avail = dot + esc(_badge(r))
            if r.available:
                css, style = "fr-available", ""
            else:
                css, style = "fr-benched", ' style="background:rgba(220,53,69,0.18)"'
                pct, length = _share_left(r)
                avail += (
                    f'<div class="fr-bar" title="{pct:.0f}% of {length:.1f} s left" '
                    f'style="background:rgba(220,53,69,0.75);width:{pct:.0f}%;height:4px">'
                    "</div>"
                )
            tds = [f"<td><b>{esc(cells[0])}</b></td>", f"<td>{avail}</td>"]
            tds += [f"<td>{esc(c)}</td>" for c in cells[2:-1]]
            full = printable(error_text(r.last_error))
            tds.append(f'<td title="{esc(full)}">{esc(cells[-1])}</td>')
            body.append(f'<tr class="{css}"{style}>{"".join(tds)}</tr>')
        caption = (
            f'<caption style="caption-side:bottom;text-align:left">{esc(self.shared)}</caption>'
            if self.shared
            else ""
        )
        return (
            '<table class="fallback-router-status" style="color:inherit">'
            f"{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


def _buckets(rates: Any, name: str) -> tuple[float | None, float | None]:
    """`name`'s request tokens and LLM tokens (token quotas) left now, None without."""
    if rates is None:
        return None, None
    levels = getattr(rates, "levels", None)
    if levels is None:  # a limiter of the 0.3 protocol: request tokens only
        return rates.tokens(name), None
    requests: float | None = None
    tokens: float | None = None
    for limit, level in levels(name):
        if isinstance(limit, TokenLimit):
            tokens = level if tokens is None else min(tokens, level)
        else:
            left = max(0.0, level)
            requests = left if requests is None else min(requests, left)
    return requests, tokens


def build_status(setup: Setup, tracker: Any, names: Sequence[str]) -> Status:
    """The [`Status`][fallback_router.Status] of a router's providers `names`."""
    states: Mapping[str, CooldownState] = {}
    if tracker is not None:
        try:
            states = tracker.snapshot()
        except Exception:  # noqa: BLE001 - a status display must not raise
            states = {}
    limiter, rates, planner = setup.config.limiter, setup.config.rate_limits, setup.planner
    rows: list[ProviderStatus] = []
    for name in names:
        counts = setup.stats.get(name)
        state = states.get(name)
        remaining = state.remaining if state is not None else 0.0
        facts = planner.describe(name)
        in_flight = limiter.in_flight(name) if limiter is not None else 0
        tokens, quota = _buckets(rates, name)
        failed_at = counts.last_failure_at
        rows.append(
            ProviderStatus(
                name=name,
                available=remaining <= 0.0,
                cooldown_remaining=remaining,
                cooldown_length=state.length if state is not None else 0.0,
                half_open=state.half_open if state is not None else False,
                consecutive_failures=state.consecutive_failures if state else 0,
                window_failures=state.window_failures if state else 0,
                window_outcomes=state.window_outcomes if state else 0,
                failure_ratio=state.failure_ratio if state else None,
                successes=counts.successes,
                failures=counts.failures,
                skips=counts.skips,
                last_error=counts.last_error,
                last_latency=counts.last_latency,
                last_failure_at=(
                    dt.datetime.fromtimestamp(failed_at, tz=dt.UTC) if failed_at else None
                ),
                in_flight=max(in_flight, facts.get("in_flight", 0)),
                weight=facts.get("weight"),
                latency_estimate=facts.get("latency_estimate"),
                tokens=tokens,
                quota_tokens=quota,
            )
        )
    shared = None
    namespace = getattr(tracker, "namespace", None)
    if getattr(tracker, "blocking", False) and isinstance(namespace, str):
        shared = (
            "available, consecutive, failure ratio and cooldown columns: shared through Redis "
            f"namespace {namespace!r} (every process); counts, latencies and errors: this "
            "process only"
        )
    return Status(rows, shared)
