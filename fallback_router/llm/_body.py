"""The parts of an LLM error that `classify` reads: body codes, messages, Google quota ids."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

__all__ = ["body_of", "google_daily", "google_per_minute"]


def body_of(error: BaseException) -> tuple[set[str], str]:
    """The error body's codes, types and status words (lower case), and its message."""
    codes: set[str] = set()
    messages: list[str] = []
    for name in ("code", "type", "status"):
        value = getattr(error, name, None)
        if isinstance(value, str):
            codes.add(value.lower())
    value = getattr(error, "message", None)
    if isinstance(value, str):
        messages.append(value)
    for payload in (getattr(error, "body", None), getattr(error, "details", None)):
        _read(payload, codes, messages)
    response = getattr(error, "response", None)
    if response is not None and not isinstance(response, Mapping) and not codes - {"error"}:
        _read(_json_of(response), codes, messages)
    if not messages:
        messages.append(str(error))
    return codes, " ".join(messages).lower()


def _read(payload: object, codes: set[str], messages: list[str]) -> None:
    """Collect code/type/status words and messages from an error payload (nested once)."""
    if not isinstance(payload, Mapping):
        return
    data = cast("Mapping[str, object]", payload)
    inner = data.get("error")
    layers = [data, cast("Mapping[str, object]", inner)] if isinstance(inner, Mapping) else [data]
    for layer in layers:
        for name in ("code", "type", "status"):
            value = layer.get(name)
            if isinstance(value, str):
                codes.add(value.lower())
        message = layer.get("message")
        if isinstance(message, str):
            messages.append(message)
        innererror = layer.get("innererror")
        if isinstance(innererror, Mapping):
            code = cast("Mapping[str, object]", innererror).get("code")
            if isinstance(code, str):
                codes.add(code.lower())
    if isinstance(inner, str):
        messages.append(inner)


def _json_of(response: Any) -> object:
    """An already-read HTTP response's JSON body (httpx, requests), else None."""
    try:
        content = response.content  # httpx raises ResponseNotRead for an unread stream
    except Exception:  # noqa: BLE001 - any failure means: no body to read
        return None
    if not isinstance(content, bytes | str) or not content:
        return None
    try:
        return cast("object", json.loads(content))
    except ValueError:
        return None


def _quota_ids(error: BaseException) -> list[str]:
    """Google's `QuotaFailure` violation ids (`...PerDay...`), from the error details."""
    details: object = getattr(error, "details", None)
    if isinstance(details, Mapping):
        payload = cast("Mapping[str, object]", details)
        inner = payload.get("error", payload)
        details = (
            cast("Mapping[str, object]", inner).get("details")
            if isinstance(inner, Mapping)
            else None
        )
    ids: list[str] = []
    if isinstance(details, list | tuple):
        for item in cast("list[object]", details):
            if not isinstance(item, Mapping):
                continue
            violations = cast("Mapping[str, object]", item).get("violations")
            if isinstance(violations, list):
                for violation in cast("list[object]", violations):
                    if isinstance(violation, Mapping):
                        quota = cast("Mapping[str, object]", violation).get("quotaId")
                        if isinstance(quota, str):
                            ids.append(quota.lower())
    return ids


def google_daily(error: BaseException) -> bool:
    """A Google 429 whose exhausted quota is per day: not back within minutes."""
    return any("perday" in quota for quota in _quota_ids(error))


def google_per_minute(status: int, error: BaseException) -> bool:
    """A Google 429 that says "quota" but names only short (per-minute) quotas."""
    ids = _quota_ids(error)
    return status == 429 and bool(ids) and not any("perday" in quota for quota in ids)
