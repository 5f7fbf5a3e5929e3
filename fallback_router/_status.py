"""Per-provider counters and the :class:`Status` table shown by ``router.status()``."""

from __future__ import annotations

import html
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

__all__ = ["ProviderStatus", "Stats", "Status"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderStatus:
    """One provider's row in :class:`Status`.

    ``available`` is False while in cooldown; ``cooldown_remaining`` in seconds;
    ``consecutive_failures`` as counted by the tracker; ``successes`` and
    ``failures`` are this router's counts since creation or ``reset()``;
    ``last_error`` and ``last_latency`` (seconds) are from the latest attempts.

    .. versionadded:: 0.1.0
    """

    name: str
    available: bool
    cooldown_remaining: float
    consecutive_failures: int
    successes: int
    failures: int
    last_error: Exception | None
    last_latency: float | None


def _error_text(error: Exception | None, limit: int = 100) -> str:
    """One line per error: the type and the first line of the message, shortened."""
    if error is None:
        return ""
    lines = str(error).splitlines()
    text = f"{type(error).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _latency_text(latency: float | None) -> str:
    return "" if latency is None else f"{latency * 1000:.1f} ms"


class Status(Sequence[ProviderStatus]):
    """The providers of a router and their health, in provider order.

    Iterate it, index it by position or by name (``status["gemini"]``), print it
    as a table, or display it in a notebook (HTML with benched rows marked).

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_rows",)

    def __init__(self, rows: Sequence[ProviderStatus]) -> None:
        self._rows = tuple(rows)

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
            raise KeyError(key)
        return self._rows[key]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[ProviderStatus]:
        return iter(self._rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Status) and self._rows == other._rows

    __hash__ = None  # type: ignore[assignment]

    def _cells(self) -> list[tuple[str, ...]]:
        return [
            (
                r.name,
                "yes" if r.available else f"no ({r.cooldown_remaining:.1f} s)",
                str(r.consecutive_failures),
                str(r.successes),
                str(r.failures),
                _latency_text(r.last_latency),
                _error_text(r.last_error),
            )
            for r in self._rows
        ]

    _HEADERS = (
        "provider",
        "available",
        "consecutive",
        "successes",
        "failures",
        "last latency",
        "last error",
    )

    def __repr__(self) -> str:
        rows = [self._HEADERS, *self._cells()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(self._HEADERS))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
        ]
        return "\n".join(lines)

    def _repr_markdown_(self) -> str:
        """Render as a Markdown table (pipes in user data escaped)."""

        def cell(text: str) -> str:
            return html.escape(text).replace("|", "\\|")

        lines = [
            "| " + " | ".join(self._HEADERS) + " |",
            "|" + "---|" * len(self._HEADERS),
        ]
        lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in self._cells()]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Render as an HTML table; benched rows are marked and show a countdown bar."""
        esc = html.escape
        head = "".join(f"<th>{h}</th>" for h in self._HEADERS)
        body: list[str] = []
        longest = max((r.cooldown_remaining for r in self._rows), default=0.0) or 1.0
        for r, cells in zip(self._rows, self._cells(), strict=True):
            if r.available:
                css = "fr-available"
                avail = "✔ available"
            else:
                css = "fr-benched"
                pct = min(100.0, 100.0 * r.cooldown_remaining / longest)
                avail = (
                    f"⏸ benched {r.cooldown_remaining:.1f} s"
                    f'<div class="fr-bar" style="background:#f4c7c3;width:{pct:.0f}%;'
                    f'height:4px"></div>'
                )
            style = ' style="background:#fdecea"' if not r.available else ""
            tds = [f"<td><b>{esc(cells[0])}</b></td>", f"<td>{avail}</td>"]
            tds += [f"<td>{esc(c)}</td>" for c in cells[2:]]
            body.append(f'<tr class="{css}"{style}>{"".join(tds)}</tr>')
        return (
            '<table class="fallback-router-status">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


class Stats:
    """Per-provider counters kept by a router, exact under any number of threads.

    Successes sit on the hot path, so each thread counts into rows of its own
    (``[successes, last_latency, last_end]``), written by that thread only: no
    lock and no lost updates. ``get`` sums the rows; rows of finished threads are
    folded into a base when a new thread registers, so memory follows the number
    of live threads. Failures are counted under a lock.
    """

    __slots__ = ("_base", "_failures", "_lock", "_threads", "local")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.local = threading.local()
        self._threads: list[tuple[threading.Thread, dict[str, list[Any]]]] = []
        # name -> [successes, last_latency, last_end]: folded rows of finished threads
        self._base: dict[str, list[Any]] = {}
        # name -> [failures, last_error, last_latency, last_end]
        self._failures: dict[str, list[Any]] = {}

    def _register(self) -> dict[str, list[Any]]:
        rows: dict[str, list[Any]] = {}
        with self._lock:
            live: list[tuple[threading.Thread, dict[str, list[Any]]]] = []
            for thread, old in self._threads:
                if thread.is_alive():
                    live.append((thread, old))
                    continue
                for name, row in old.items():  # a finished thread never writes again
                    _merge(self._base.setdefault(name, [0, None, -math.inf]), row)
            live.append((threading.current_thread(), rows))
            self._threads = live
        self.local.rows = rows
        return rows

    def row(self, name: str) -> list[Any]:
        """Return the calling thread's ``[successes, last_latency, last_end]`` for ``name``."""
        try:
            rows: dict[str, list[Any]] = self.local.rows
        except AttributeError:
            rows = self._register()
        row = rows.get(name)
        if row is None:
            row = rows[name] = [0, None, -math.inf]
        return row

    def success(self, name: str, latency: float, end: float) -> None:
        """Count a success of ``name`` that ended at ``end`` (router clock)."""
        row = self.row(name)
        row[0] += 1
        row[1] = latency
        row[2] = end

    def failure(self, name: str, error: Exception, latency: float, end: float) -> None:
        """Count a failure of ``name`` that ended at ``end`` (router clock)."""
        with self._lock:
            row = self._failures.get(name)
            if row is None:
                self._failures[name] = [1, error, latency, end]
            else:
                row[0] += 1
                row[1:] = error, latency, end

    def get(self, name: str) -> tuple[int, int, Exception | None, float | None]:
        """Return ``(successes, failures, last_error, last_latency)`` for ``name``."""
        total: list[Any] = [0, None, -math.inf]
        with self._lock:
            base = self._base.get(name)
            if base is not None:
                _merge(total, base)
            for _, rows in self._threads:
                row = rows.get(name)
                if row is not None:
                    _merge(total, row)
            failed = self._failures.get(name)
        successes: int = total[0]
        latency: float | None = total[1]
        if failed is None:
            return successes, 0, None, latency
        if failed[3] >= total[2]:
            latency = failed[2]
        return successes, failed[0], failed[1], latency

    def reset(self) -> None:
        """Forget every count (calls in flight may still land in the new counts)."""
        with self._lock:
            for _, rows in self._threads:
                for row in rows.values():  # zeroed in place: threads keep their rows
                    row[:] = 0, None, -math.inf
            self._base.clear()
            self._failures.clear()


def _merge(total: list[Any], row: list[Any]) -> None:
    total[0] += row[0]
    if row[2] >= total[2] and row[1] is not None:
        total[1], total[2] = row[1], row[2]
