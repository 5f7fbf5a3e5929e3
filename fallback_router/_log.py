"""Log messages and the package's loguru logger.

Messages are stable strings; the details travel as structured fields in
``record["extra"]`` (provider, attempt, is_terminus, latency, remaining, duration,
error). loguru is disabled for ``fallback_router`` until the application calls
``logger.enable("fallback_router")``; nothing here is formatted before a sink
receives it.
"""

from __future__ import annotations

from loguru import logger

__all__ = [
    "ATTEMPTING_TERMINUS",
    "ENTERING_COOLDOWN",
    "EVENT_HOOK_FAILED",
    "NOT_COUNTED",
    "PROVIDER_FAILED",
    "REDIS_BACK",
    "REDIS_UNAVAILABLE",
    "SKIPPING",
    "SUCCEEDED_ON_FALLBACK",
    "UNPARSABLE_RETRY_AFTER",
    "logger",
]

SKIPPING = "skipping provider in cooldown"
ATTEMPTING_TERMINUS = "attempting terminus provider despite cooldown"
PROVIDER_FAILED = "provider failed"
NOT_COUNTED = "failure not counted for cooldown"
ENTERING_COOLDOWN = "provider entering cooldown"
SUCCEEDED_ON_FALLBACK = "succeeded on fallback provider"
UNPARSABLE_RETRY_AFTER = "unparsable Retry-After, using the normal cooldown"
EVENT_HOOK_FAILED = "event hook raised; ignored"
REDIS_UNAVAILABLE = "redis unavailable, failing open"
REDIS_BACK = "redis reachable again"
