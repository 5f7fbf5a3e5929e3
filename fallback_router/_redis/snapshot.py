"""Reading a Redis namespace's whole state for `RedisCooldown.snapshot()`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fallback_router._state.ratio import BUCKETS
from fallback_router._tracker import CooldownState

from . import scripts as lua

__all__ = ["read_hints", "read_names", "read_snapshot", "window_totals"]


def read_names(conn: Any, keys_of: Callable[[str], list[str]], order: list[str]) -> list[int]:
    """`lua.READ` over `order`: the ms each is unavailable, then 1/0 "has state" each."""
    per_name = [keys_of(n) for n in order]
    keys = [k[kind] for kind in range(4) for k in per_name]
    return list(conn.script(lua.READ)(keys=keys)) if keys else []


def read_hints(conn: Any, keys_of: Callable[[str], list[str]], names: Sequence[str]) -> list[float]:
    """The seconds each of `names` stays benched by a hint (`lua.READ_HINTS`)."""
    per_name = [keys_of(n) for n in names]
    keys = [k[4] for k in per_name] + [k[0] for k in per_name]
    if not keys:
        return []
    return [int(ms) / 1000.0 for ms in conn.script(lua.READ_HINTS)(keys=keys)]


def read_snapshot(client: Any, prefix: str, half_open: bool) -> dict[str, CooldownState]:
    """Every provider of the namespace at `prefix` that still has state (SCAN + one pipeline)."""
    found: dict[str, dict[str, int]] = {}
    keys = [k.decode() if isinstance(k, bytes) else str(k) for k in client.scan_iter(
        match=f"{prefix}*", count=500)]  # fmt: skip
    if not keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
        windowed = key[len(prefix) :].startswith("window:")
        pipe.hgetall(key) if windowed else pipe.get(key)
    raw = pipe.execute()
    now_ms = 0
    if any(key[len(prefix) :].startswith("window:") for key in keys):
        seconds, micros = client.time()  # the server's clock numbers the buckets
        now_ms = seconds * 1000 + micros // 1000
    for i, key in enumerate(keys):
        kind, _, name = key[len(prefix) :].partition(":")
        ttl, value = raw[2 * i], raw[2 * i + 1]
        if ttl == -2 or kind == "hint":  # a hint lives no longer than its cooldown
            continue
        entry = found.setdefault(lua.decode_key_part(name), {})
        if kind == "window":
            entry["window_failures"], entry["window_outcomes"] = window_totals(value, now_ms)
        elif kind == "cooldown":
            text_value = value.decode() if isinstance(value, bytes) else str(value or "0")
            length, _, tripped = text_value.partition(":")
            entry["cooldown"], entry["length"] = ttl, int(float(length or 0))
            entry["tripped"] = int(tripped or 0)
        else:
            entry[kind] = ttl if kind == "probe" else int(value or 0)
    return {
        name: CooldownState(
            remaining=max(0.0, entry.get("cooldown", entry.get("probe", 0)) / 1000.0),
            consecutive_failures=entry.get("tripped", entry.get("failures", 0)),
            level=entry.get("level", 0),
            length=entry.get("length", 0) / 1000.0,
            half_open=half_open and "cooldown" not in entry and "level" in entry,
            window_failures=entry.get("window_failures", 0),
            window_outcomes=entry.get("window_outcomes", 0),
        )
        for name, entry in found.items()
        if set(entry) - {"probe"}
    }


def window_totals(fields: dict[Any, Any], now_ms: int) -> tuple[int, int]:
    """(failures, outcomes) of a window hash (see `ratio`) at the server's `now_ms`."""
    text = {(k.decode() if isinstance(k, bytes) else str(k)): int(v) for k, v in fields.items()}
    width = text.pop("w", 0)
    if width <= 0:
        return 0, 0
    first = now_ms // width - BUCKETS
    failures = outcomes = 0
    for field, count in text.items():
        if field[1:].lstrip("-").isdigit() and int(field[1:]) > first:
            if field[0] == "f":
                failures += count
            elif field[0] == "n":
                outcomes += count
    return failures, outcomes
