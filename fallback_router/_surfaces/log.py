"""Log messages and the package's loguru logger.

Every message starts with a stable phrase (the constants below, for filtering) and
then states the facts in words, so loguru's default format reads well:

```text
provider failed: gemini (attempt 1 of 3): RateLimitError: 429 Too Many Requests
```

The same facts travel as structured fields in `record["extra"]` (provider,
attempt, latency, remaining, duration, error...). Templates are `str.format`
strings that loguru fills only when a handler takes the record: nothing is
formatted while the package is disabled (`logger.disable("fallback_router")`,
the state after import) or below every handler's level.
"""

from __future__ import annotations

from loguru import logger

#: loguru's level numbers, for `wants`.
DEBUG, INFO, WARNING, ERROR = 10, 20, 30, 40

__all__ = [
    "ATTEMPTING_TERMINUS",
    "ATTEMPT_TIMED_OUT",
    "BLOCKING_LOOP",
    "BUDGET_EXHAUSTED",
    "COOLDOWN_FOR_IGNORED",
    "ENTERING_COOLDOWN",
    "EVENT_HOOK_FAILED",
    "HEDGING",
    "HINT_RESPECTED",
    "NOT_COUNTED",
    "PRIMARY_FAILED",
    "PROBING",
    "PROVIDER_FAILED",
    "REDIS_BACK",
    "REDIS_MISCONFIGURED",
    "REDIS_UNAVAILABLE",
    "RESPONSE_REJECTED",
    "ROUND_ROBIN_FAILED",
    "SDK_RETRIES",
    "SKIPPING",
    "SKIPPING_RATE_LIMITED",
    "SKIPPING_SATURATED",
    "STREAM_INTERRUPTED",
    "SUCCEEDED_ON_FALLBACK",
    "UNPARSABLE_RETRY_AFTER",
    "USAGE_OF_IGNORED",
    "WAITING",
    "WAITING_NO_LIMIT",
    "logger",
    "template",
    "wants",
]

SKIPPING = "skipping provider in cooldown"
SKIPPING_RATE_LIMITED = "skipping rate-limited provider"
ROUND_ROBIN_FAILED = "round-robin provider failed"
PRIMARY_FAILED = "primary provider failed"
ATTEMPT_TIMED_OUT = "attempt timed out"
RESPONSE_REJECTED = "response rejected"
STREAM_INTERRUPTED = "stream interrupted"
HEDGING = "hedging"
WAITING = "waiting for a provider"
BUDGET_EXHAUSTED = "retry budget exhausted"
SKIPPING_SATURATED = "skipping saturated provider"
ATTEMPTING_TERMINUS = "attempting terminus provider despite cooldown"
PROBING = "probing half-open provider"
PROVIDER_FAILED = "provider failed"
NOT_COUNTED = "failure not counted for cooldown"
ENTERING_COOLDOWN = "provider entering cooldown"
SUCCEEDED_ON_FALLBACK = "succeeded on fallback provider"
UNPARSABLE_RETRY_AFTER = "unparsable Retry-After"
EVENT_HOOK_FAILED = "event hook raised"
COOLDOWN_FOR_IGNORED = "cooldown_for ignored"
SDK_RETRIES = "provider client retries on its own"
USAGE_OF_IGNORED = "usage_of ignored"
HINT_RESPECTED = "skipping provider benched by a hint"
REDIS_UNAVAILABLE = "redis unavailable, failing open"
REDIS_BACK = "redis reachable again"
REDIS_MISCONFIGURED = "redis misconfigured, failing open"
BLOCKING_LOOP = "sync routed function called on an event loop"

#: Errors reach records as redacted text (`error`) and their type name (`error_type`).
_ERROR = "{error}"

_TEMPLATES = {
    SKIPPING: SKIPPING + ": {provider} ({remaining:.1f} s left)",
    SKIPPING_SATURATED: SKIPPING_SATURATED + ": {provider} ({reason})",
    ATTEMPTING_TERMINUS: ATTEMPTING_TERMINUS + ": {provider} ({remaining:.1f} s left)",
    PROBING: PROBING + ": {provider} (attempt {attempt})",
    PROVIDER_FAILED: PROVIDER_FAILED + ": {provider} (attempt {attempt} of {of}): " + _ERROR,
    ROUND_ROBIN_FAILED: ROUND_ROBIN_FAILED + ": {provider} (one attempt): " + _ERROR,
    PRIMARY_FAILED: PRIMARY_FAILED + ": {provider} (one attempt): " + _ERROR,
    ATTEMPT_TIMED_OUT: ATTEMPT_TIMED_OUT + ": {provider} (attempt {attempt}): " + _ERROR,
    RESPONSE_REJECTED: RESPONSE_REJECTED + ": {provider} (attempt {attempt}) by accept=",
    STREAM_INTERRUPTED: STREAM_INTERRUPTED + ": {provider} after {items} item(s): " + _ERROR,
    SKIPPING_RATE_LIMITED: SKIPPING_RATE_LIMITED + ": {provider} ({remaining:.3f} s to a token)",
    HEDGING: HEDGING + ": {provider} started after {after:.3f} s (attempt {attempt})",
    WAITING: WAITING + ": {providers} ({reason}, up to {wait:.3f} s)",
    BUDGET_EXHAUSTED: BUDGET_EXHAUSTED + ": {provider} not attempted after attempt {attempt}",
    NOT_COUNTED: NOT_COUNTED + ": {provider} (" + _ERROR + ")",
    ENTERING_COOLDOWN: ENTERING_COOLDOWN + ": {provider} for {duration:.1f} s",
    SUCCEEDED_ON_FALLBACK: SUCCEEDED_ON_FALLBACK
    + ": {provider} (attempt {attempt}, {latency:.3f} s)",
    UNPARSABLE_RETRY_AFTER: UNPARSABLE_RETRY_AFTER
    + " from {provider}: {value!r}; using the normal cooldown",
    EVENT_HOOK_FAILED: EVENT_HOOK_FAILED + "; ignored: {hook} on {event}: " + _ERROR,
    COOLDOWN_FOR_IGNORED: COOLDOWN_FOR_IGNORED
    + " for {provider}: {problem}; using the usual cooldown",
    SDK_RETRIES: SDK_RETRIES
    + ": {provider} is an {client} with max_retries={max_retries}; its retries delay "
    "every fallback: build it with max_retries=0 or pass client.with_options(max_retries=0)",
    USAGE_OF_IGNORED: USAGE_OF_IGNORED + " for {provider}: {problem}; nothing settled",
    HINT_RESPECTED: HINT_RESPECTED + ": {provider} ({remaining:.1f} s left; not forced)",
    REDIS_UNAVAILABLE: REDIS_UNAVAILABLE + " ({what}): " + _ERROR + "; retrying in {backoff} s",
    REDIS_BACK: REDIS_BACK + " ({what})",
    BLOCKING_LOOP: BLOCKING_LOOP
    + ": {function} blocks the loop while it runs; declare it `async def` "
    + "(reported once per function)",
    REDIS_MISCONFIGURED: REDIS_MISCONFIGURED
    + " ({what}): "
    + _ERROR
    + "; fix: {fix}; retrying in {backoff} s",
}


#: The template of a wait that nothing bounds (no `timeout=`): it starts with `WAITING`.
WAITING_NO_LIMIT = WAITING + ": {providers} ({reason}, no time limit)"


def template(phrase: str) -> str:
    """Return the message template that starts with the stable `phrase`."""
    return _TEMPLATES[phrase]


_core = getattr(logger, "_core", None)


def wants(module: str, level: int) -> bool:
    """False when loguru would certainly drop a `level` record logged from `module`.

    The call path asks this before each log call, so a disabled package (the
    state after import) or a level below every handler costs one attribute
    read instead of loguru's frame inspection. It reads loguru's handler and
    activation tables, which loguru keeps current on `add`, `remove`,
    `enable` and `disable`; a module loguru has not seen yet, or a loguru
    whose internals look different, gets True and loguru decides as usual.
    """
    core = _core
    try:
        if not core.handlers or level < core.min_level:  # type: ignore[union-attr]
            return False
        return core.enabled.get(module) is not False  # type: ignore[union-attr]
    except AttributeError:
        return True
