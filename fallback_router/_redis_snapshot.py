"""Reading a Redis namespace's whole state for `RedisCooldown.snapshot()`."""

from __future__ import annotations

from typing import Any

from . import _redis_scripts as lua
from ._tracker import CooldownState

__all__ = ["read_snapshot"]


def read_snapshot(client: Any, prefix: str, half_open: bool) -> dict[str, CooldownState]:
    """Every provider of the namespace at `prefix` that still has state (SCAN + one pipeline)."""
    found: dict[str, dict[str, int]] = {}
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if not keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.pttl(key)
        pipe.get(key)
    raw = pipe.execute()
    for i, key in enumerate(keys):
        text = key.decode() if isinstance(key, bytes) else str(key)
        kind, _, name = text[len(prefix) :].partition(":")
        ttl, value = raw[2 * i], raw[2 * i + 1]
        if ttl == -2 or kind == "hint":  # a hint lives no longer than its cooldown
            continue
        entry = found.setdefault(lua.decode_key_part(name), {})
        if kind == "cooldown":
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
        )
        for name, entry in found.items()
        if set(entry) - {"probe"}
    }
