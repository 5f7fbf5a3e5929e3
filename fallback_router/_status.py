"""Per-provider counters and the :class:`Status` table shown by ``router.status()``."""

from __future__ import annotations

import html
import math
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, overload

from ._text import error_text, full_error_text, printable

__all__ = ["ProviderStatus", "Stats", "Status"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderStatus:
    """One provider's row in :class:`Status`.

    ``available`` is False while in cooldown (or while another call's half-open
    probe holds the provider); ``cooldown_remaining`` is what is left of the
    cooldown in seconds and ``cooldown_length`` the latest cooldown's full length
    (0.0 when it never had one); ``half_open`` is True once a cooldown has ended
    and no success has cleared the provider yet; ``consecutive_failures`` as
    counted by the tracker; ``successes`` and ``failures`` are this router's
    counts since creation or ``reset()``; ``last_error`` (kept without its
    traceback) and ``last_latency`` (seconds) are from the latest attempts.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``cooldown_length`` and ``half_open``.
    """

    name: str
    available: bool
    cooldown_remaining: float
    cooldown_length: float = 0.0
    half_open: bool = False
    consecutive_failures: int
    successes: int
    failures: int
    last_error: Exception | None
    last_latency: float | None


def _latency_text(latency: float | None) -> str:
    return "" if latency is None else f"{latency * 1000:.1f} ms"


def _availability(row: ProviderStatus) -> str:
    """The availability cell of the plain-text table."""
    if row.available:
        return "half-open" if row.half_open else "yes"
    return f"no ({max(row.cooldown_remaining, 0.1):.1f} s)"


def _badge(row: ProviderStatus) -> str:
    """The availability as the notebook displays (HTML and Markdown) word it."""
    if row.available:
        return "◐ half-open" if row.half_open else "✔ available"
    return f"⏸ benched {max(row.cooldown_remaining, 0.1):.1f} s"


def _share_left(row: ProviderStatus) -> tuple[float, float]:
    """(percent of the provider's own cooldown left, that cooldown's length)."""
    length = row.cooldown_length or row.cooldown_remaining or 1.0
    return max(0.0, min(100.0, 100.0 * row.cooldown_remaining / length)), length


class Status(Sequence[ProviderStatus]):
    """The providers of a router and their health, in provider order.

    Iterate it, index it by position or by name (``status["gemini"]``), print it
    as a table, or display it in a notebook (HTML with benched rows marked and a
    bar showing the share of each provider's own cooldown that is left; colours
    that read on light and dark themes). Names and errors are escaped: a control
    character never breaks a row.

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
                printable(r.name),
                _availability(r),
                str(r.consecutive_failures),
                str(r.successes),
                str(r.failures),
                _latency_text(r.last_latency),
                error_text(r.last_error),
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

    def __rich_repr__(self) -> Iterator[ProviderStatus]:
        """Let rich pretty-print the rows (no rich import needed)."""
        yield from self._rows

    def _repr_markdown_(self) -> str:
        """Render as a Markdown table (HTML and pipes in user data escaped)."""

        def cell(text: str) -> str:
            return html.escape(text).replace("|", "\\|")

        lines = [
            "| " + " | ".join(self._HEADERS) + " |",
            "|" + "---|" * len(self._HEADERS),
        ]
        for r, cells in zip(self._rows, self._cells(), strict=True):
            badge = _badge(r)
            if not r.available:
                pct, length = _share_left(r)
                badge += f" ({pct:.0f}% of {length:.1f} s left)"
            row = (cells[0], badge, *cells[2:])
            lines.append("| " + " | ".join(cell(c) for c in row) + " |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """Render as an HTML table that reads on light and dark notebook themes.

        Benched rows get a translucent red tint over the inherited background and
        keep the inherited text colour; their bar shows the share of the
        provider's own cooldown that is left. Errors are cut at
        :data:`ERROR_CHARS` with the full text in a ``title`` tooltip.
        """
        esc = html.escape
        head = "".join(f'<th style="text-align:left">{h}</th>' for h in self._HEADERS)
        body: list[str] = []
        for r, cells in zip(self._rows, self._cells(), strict=True):
            avail = _badge(r)
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
            tds.append(f'<td title="{esc(full_error_text(r.last_error))}">{esc(cells[-1])}</td>')
            body.append(f'<tr class="{css}"{style}>{"".join(tds)}</tr>')
        return (
            '<table class="fallback-router-status" style="color:inherit">'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )


#: Names of providers no longer returned by a ``providers`` callable whose counts a
#: router keeps (the most recently seen), besides its current providers.
RECENT_NAMES = 64


def detach(error: Exception) -> Exception:
    """Return a copy of ``error`` without traceback, cause or context.

    Kept as ``last_error`` so that a router holds no frames (and none of their
    locals) alive. The copy has the same type, ``args`` and attributes; an error
    whose type cannot be copied that way is kept as a ``RuntimeError`` naming it.
    """
    cls = type(error)
    try:
        clone = cls.__new__(cls, *error.args)
        clone.args = error.args
        state = getattr(error, "__dict__", None)
        if state:
            clone.__dict__.update(state)
    except Exception:  # noqa: BLE001 - any failure to copy falls back to a description
        return RuntimeError(f"{cls.__name__}: {error}")
    return clone


class _ThreadMark:
    """Lives in one thread's ``threading.local``; its death means the thread ended."""

    __slots__ = ("__weakref__",)


class Stats:
    """Per-provider counters kept by a router, exact under any number of threads.

    Successes sit on the hot path, so each thread counts into rows of its own
    (``[successes, last_latency, last_end]``), written by that thread only: no
    lock and no lost updates. ``get`` sums the rows. When a thread ends (any
    thread, ``_thread.start_new_thread`` included: its thread-local storage is
    freed), its rows are folded into a base at the next locked step, so memory
    follows the number of live threads. Failures are counted under a lock.
    ``bound`` drops the counts of names a provider callable no longer returns
    beyond the :data:`RECENT_NAMES` most recent.
    """

    __slots__ = ("_base", "_dead", "_failures", "_lock", "_names", "_threads", "local")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.local = threading.local()
        self._threads: dict[weakref.ref[_ThreadMark], dict[str, list[Any]]] = {}
        self._dead: list[weakref.ref[_ThreadMark]] = []
        # name -> [successes, last_latency, last_end]: folded rows of finished threads
        self._base: dict[str, list[Any]] = {}
        # name -> [failures, last_error, last_latency, last_end]
        self._failures: dict[str, list[Any]] = {}
        # every name with counts, least recently added first
        self._names: dict[str, None] = {}

    def _fold(self) -> None:
        """Fold the rows of finished threads into the base (under the lock)."""
        while self._dead:
            rows = self._threads.pop(self._dead.pop(), None)
            for name, row in (rows or {}).items():
                if name in self._names:
                    _merge(self._base.setdefault(name, [0, None, -math.inf]), row)

    def _register(self) -> dict[str, list[Any]]:
        rows: dict[str, list[Any]] = {}
        mark = _ThreadMark()
        # list.append is atomic: the callback takes no lock, whichever thread runs it.
        ref = weakref.ref(mark, self._dead.append)
        with self._lock:
            self._fold()
            self._threads[ref] = rows
        self.local.rows = rows
        self.local.mark = mark
        return rows

    def row(self, name: str) -> list[Any]:
        """Return the calling thread's ``[successes, last_latency, last_end]`` for ``name``."""
        try:
            rows: dict[str, list[Any]] = self.local.rows
        except AttributeError:
            rows = self._register()
        row = rows.get(name)
        if row is None:
            if name not in self._names:
                with self._lock:
                    self._names[name] = None
            row = rows[name] = [0, None, -math.inf]
        return row

    def success(self, name: str, latency: float, end: float) -> None:
        """Count a success of ``name`` that ended at ``end`` (router clock)."""
        row = self.row(name)
        row[0] += 1
        row[1] = latency
        row[2] = end

    def failure(self, name: str, error: Exception, latency: float, end: float) -> None:
        """Count a failure of ``name`` that ended at ``end``; keeps a detached error."""
        kept = detach(error)
        with self._lock:
            self._names[name] = None
            row = self._failures.get(name)
            if row is None:
                self._failures[name] = [1, kept, latency, end]
            else:
                row[0] += 1
                row[1:] = kept, latency, end

    def bound(self, current: Sequence[str]) -> None:
        """Keep counts for ``current`` names plus the most recent others only.

        Trims to the newest half once more than :data:`RECENT_NAMES` others are kept.
        """
        names = self._names
        if len(names) <= RECENT_NAMES:  # the common case: nothing to count
            return
        if len(names) - sum(n in names for n in current) <= RECENT_NAMES:
            return
        with self._lock:
            self._fold()
            keep = set(current)
            others = [n for n in self._names if n not in keep]
            keep.update(others[len(others) - RECENT_NAMES // 2 :])
            self._names = {n: None for n in self._names if n in keep}
            tables = [self._base, self._failures, *self._threads.values()]
            for table in tables:
                for name in [n for n in table.copy() if n not in keep]:
                    table.pop(name, None)

    def get(self, name: str) -> tuple[int, int, Exception | None, float | None]:
        """Return ``(successes, failures, last_error, last_latency)`` for ``name``."""
        total: list[Any] = [0, None, -math.inf]
        with self._lock:
            self._fold()
            base = self._base.get(name)
            if base is not None:
                _merge(total, base)
            for rows in self._threads.values():
                row = rows.get(name)
                if row is not None:
                    _merge(total, list(row))
            failed = self._failures.get(name)
        successes: int = total[0]
        latency: float | None = total[1]
        if failed is None:
            return successes, 0, None, latency
        if failed[3] >= total[2]:
            latency = failed[2]
        return successes, failed[0], failed[1], latency

    def reset(self) -> None:
        """Forget every count; safe while calls run (those in flight may still land)."""
        with self._lock:
            self._fold()
            for rows in self._threads.values():
                for row in rows.copy().values():  # zeroed in place: threads keep their rows
                    row[:] = 0, None, -math.inf
            self._base.clear()
            self._failures.clear()


def _merge(total: list[Any], row: list[Any]) -> None:
    total[0] += row[0]
    if row[2] >= total[2] and row[1] is not None:
        total[1], total[2] = row[1], row[2]
