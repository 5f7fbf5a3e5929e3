"""The command line's view of Redis beyond cooldowns: rate-limit buckets and namespaces.

`status` shows the buckets a [`RedisRateLimiter`][fallback_router.RedisRateLimiter]
keeps for a namespace (tokens left now, capacity, seconds until full; request limits
and token quotas, a provider's each on its own line), and without
`--namespace` the namespaces that hold state; `reset --rate-limits` refills buckets
(a missing bucket is a full one; cooldowns are left alone). Keys are found with `SCAN`
(never `KEYS`). With `--json`, `status` adds `"rate_limits"`: `[{"name", "kind",
"tokens", "capacity", "full_in"}]` (`kind`: `"requests"` or `"tokens"`; seconds;
`tokens` negative while a quota is in debt) and, without `--namespace`, `"namespaces"`:
`{"billing": ["cooldowns", "rate limits"], ...}`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fallback_router._redact import redact
from fallback_router._redis.ratelimit import RATE_KEYS, rate_prefix
from fallback_router._redis.scripts import decode_key_part, encode_key_part

from .cli_text import row, shown, table

__all__ = [
    "Bucket",
    "buckets",
    "buckets_text",
    "namespaces",
    "namespaces_text",
    "refill",
    "refill_report",
    "status_report",
]

#: Keys asked for per SCAN step.
_COUNT = 1000
#: The start of every cooldown tracker key.
_COOLDOWN_KEYS = "fallback_router:"


@dataclass(frozen=True)
class Bucket:
    """One provider's rate-limit bucket as Redis holds it now."""

    name: str
    tokens: float
    capacity: float | None
    full_in: float | None
    kind: str = "requests"

    def to_dict(self) -> dict[str, Any]:
        """The bucket as `--json` prints it (seconds; None where Redis cannot tell)."""
        return {
            "name": redact(self.name),
            "kind": self.kind,
            "tokens": self.tokens,
            "capacity": self.capacity,
            "full_in": self.full_in,
        }


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _glob(text: str) -> str:
    """`text` with Redis glob characters escaped (for a SCAN MATCH pattern)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


def _scan(client: Any, pattern: str) -> Iterable[str]:
    return (_text(key) for key in client.scan_iter(match=pattern, count=_COUNT))


def _namespace_of(key: str, start: str) -> str | None:
    """The decoded namespace of `key` (`<start>{<ns>}:...`), or None for another shape."""
    inner = key[len(start) :]
    if not inner.startswith("{") or "}:" not in inner:
        return None
    return decode_key_part(inner[1 : inner.index("}:")])


def namespaces(client: Any) -> dict[str, list[str]]:
    """Namespace -> what it holds (`cooldowns`, `rate limits`), sorted by namespace."""
    found: dict[str, set[str]] = {}
    for start, what in ((_COOLDOWN_KEYS, "cooldowns"), (RATE_KEYS, "rate limits")):
        for key in _scan(client, f"{_glob(start)}{{*"):
            namespace = _namespace_of(key, start)
            if namespace is not None:
                found.setdefault(namespace, set()).add(what)
    return {ns: sorted(kinds) for ns, kinds in sorted(found.items())}


def _now_us(client: Any) -> float:
    seconds, micros = client.time()
    return int(seconds) * 1_000_000 + int(micros)


def buckets(client: Any, namespace: str) -> list[Bucket]:
    """The buckets of `namespace`'s limited providers that Redis holds, by name."""
    prefix = rate_prefix(namespace)
    keys = sorted(_scan(client, _glob(prefix) + "*"))
    if not keys:
        return []
    now = _now_us(client)
    found: list[Bucket] = []
    for key in keys:
        tokens, stamp, capacity, rate = client.hmget(key, "t", "ts", "c", "r")
        if tokens is None or stamp is None:  # expired between SCAN and HMGET
            continue
        left = float(tokens)
        cap = float(capacity) if capacity is not None else None
        per_us = float(rate) if rate is not None else None
        full_in = None
        if cap is not None and per_us is not None and per_us > 0:
            left = min(cap, left + max(0.0, now - float(stamp)) * per_us)
            full_in = max(0.0, (cap - left) / per_us / 1e6)
        encoded, _, suffix = key[len(prefix) :].partition(":")  # names never hold ':'
        kind = "tokens" if suffix.startswith("t") else "requests"
        found.append(Bucket(decode_key_part(encoded), left, cap, full_in, kind))
    return found


def refill(client: Any, namespace: str, names: Sequence[str]) -> list[str]:
    """Refill `names`' buckets (all of the namespace when empty); return those refilled."""
    prefix = rate_prefix(namespace)
    held = {b.name for b in buckets(client, namespace)}
    chosen = [name for name in names if name in held] if names else sorted(held)
    for name in chosen:
        base = prefix + encode_key_part(name)
        client.delete(base, *_scan(client, _glob(base) + ":*"))
    return chosen


def _cells(bucket: Bucket) -> tuple[str, str, str, str, str]:
    capacity = "-" if bucket.capacity is None else f"{bucket.capacity:g}"
    full_in = "-" if bucket.full_in is None else f"{bucket.full_in:.1f} s"
    name = shown(redact(bucket.name))
    return name, bucket.kind, f"{bucket.tokens:.1f}", capacity, full_in


def buckets_text(namespace: str, found: Sequence[Bucket]) -> str:
    """The rate-limit table `status` prints under the cooldowns ("" without buckets)."""
    if not found:
        return ""
    header = ("PROVIDER", "LIMIT", "TOKENS", "CAPACITY", "FULL IN")
    rows = [header, *(_cells(b) for b in found)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    title = f"rate limits of namespace {namespace!r}: {len(found)} bucket(s) in use"
    return "\n".join([title, *lines]) + "\n"


def namespaces_text(found: dict[str, list[str]], shown_one: str) -> str:
    """The line naming the other namespaces that hold state ("" when none does)."""
    others = {ns: kinds for ns, kinds in found.items() if ns != shown_one}
    if not others:
        return ""
    listed = ", ".join(f"{ns!r} ({', '.join(kinds)})" for ns, kinds in others.items())
    return f"other namespaces with state (--namespace NS): {shown(listed)}\n"


def status_report(tracker: Any, namespace: str, args: Any, client: Any) -> str:
    """The text `status` prints; without `--namespace`, the namespaces with state too."""
    as_json: bool = args.json
    every = args.namespace is None
    states = tracker.snapshot()
    found = buckets(client, namespace)
    held = namespaces(client) if every else None
    if not as_json:
        text = table(namespace, states) + buckets_text(namespace, found)
        return text + (namespaces_text(held, namespace) if held is not None else "")
    rows = [row(name, state) for name, state in sorted(states.items())]
    data: dict[str, Any] = {"namespace": namespace, "providers": rows}
    data["rate_limits"] = [bucket.to_dict() for bucket in found]
    if held is not None:
        data["namespaces"] = held
    return json.dumps(data, indent=2) + "\n"


def refill_report(client: Any, namespace: str, names: Sequence[str]) -> str:
    """Refill rate-limit buckets (`reset --rate-limits`); return the report."""
    refilled = refill(client, namespace, names)
    if names:
        return "".join(
            f"refilled {shown(redact(name))}"
            + ("" if name in refilled else ": bucket already full")
            + "\n"
            for name in names
        )  # fmt: skip
    listed = ", ".join(shown(redact(name)) for name in refilled) or "every bucket already full"
    return f"refilled rate limits of namespace {namespace!r}: {listed}\n"
