"""`llm.options`: the router options that route chat completions right, in one line.

Everything here runs on failures only: the predicates, the retry template's
decisions and `cooldown_for` classify the error when there is one; a successful
call meets `usage_of` (one attribute read) and, buffered, `accept`.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any, cast

import tenacity

from fallback_router._classify import is_caller_bug
from fallback_router._errors import InvalidConfigError, RejectedResponseError
from fallback_router._hints import UnparsableRetryAfterError, retry_after_of
from fallback_router._options import DEFAULTS, RouterOptions
from fallback_router._policy import RETRY_AFTER_CAP
from fallback_router._redact import redact
from fallback_router._results import current_attempt
from fallback_router._surfaces import log as _log

from ._kinds import ErrorKind, classify
from ._streams import Watch, get, usage_of

__all__ = ["BACKOFF", "CREDENTIALS_REFUSED", "options"]

K = ErrorKind
#: Kinds retried on the same provider (`rate_limited` only after a short hint).
_RETRIED = frozenset({K.OVERLOADED, K.SERVER_ERROR, K.CONNECTION, K.MALFORMED, K.INCOMPLETE})
#: Kinds that say nothing about the provider's health: never benched.
_REQUEST_SCOPED = frozenset({K.CONTEXT_LENGTH, K.CONTENT_FILTER, K.BAD_REQUEST})
#: The first same-provider retry waits a random 50-100 % of this (seconds), doubling.
BACKOFF = 0.25
_MAX_BACKOFF = 2.0
#: The stable phrase of the ERROR logged when a provider refuses a credential or model.
CREDENTIALS_REFUSED = "provider refused the credentials or the model"
_log_refused = (
    CREDENTIALS_REFUSED + ": {provider} ({kind}): {error}; benched for {duration:.0f} s"
    " (check its API key, model name or deployment)"
)


def _hint(error: BaseException) -> float | None:
    """The server's rate-limit hint in seconds, or None (also when unparsable)."""
    try:
        return retry_after_of(error)
    except UnparsableRetryAfterError:
        return None


def _has_text(items: list[Any]) -> bool:
    """`accept=` for a buffered stream: refuse an answer without text.

    Text pieces (`llm.text`) and chat chunks (`llm.chunks`) are judged by their text;
    an item of any other kind counts as content (it is the caller's own).
    """
    for item in items:  # the first piece usually decides: a plain loop, no generator
        if item.__class__ is str:
            if item and not item.isspace():
                return True
        elif _has_content(item):
            return True
    return False


def _has_content(item: Any) -> bool:
    if isinstance(item, str):
        return bool(item.strip())
    piece = Watch().see(item)
    if piece is not None:
        return bool(piece.strip())
    return get(item, "choices") is None and get(item, "type") is None


class _Policy:
    """The preset's decisions per error kind (failure paths only)."""

    __slots__ = (
        "auth_cooldown",
        "cap",
        "clock",
        "context_falls_back",
        "filter_falls_back",
        "lock",
        "quota_cooldown",
        "refused",
    )

    def __init__(
        self,
        cap: float,
        context_falls_back: bool,
        filter_falls_back: bool,
        quota_cooldown: float,
        auth_cooldown: float,
        clock: Callable[[], float] | None,
    ) -> None:
        self.cap = cap
        self.context_falls_back = context_falls_back
        self.filter_falls_back = filter_falls_back
        self.quota_cooldown = quota_cooldown
        self.auth_cooldown = auth_cooldown
        self.clock = clock
        self.lock = threading.Lock()
        self.refused: dict[str, float] = {}  # provider -> until when its ERROR was logged

    def fallback_on(self, error: Exception) -> bool:
        """Move on, except for a request the caller must fix (or see)."""
        kind = classify(error)
        if kind is K.CONTEXT_LENGTH:
            return self.context_falls_back
        if kind is K.CONTENT_FILTER:
            return self.filter_falls_back
        return kind is not K.BAD_REQUEST

    def cooldown_on(self, error: Exception) -> bool:
        """Bench for provider trouble; never for the request or the caller's bug."""
        if isinstance(error, RejectedResponseError) or is_caller_bug(error):
            return False
        return classify(error) not in _REQUEST_SCOPED

    def cooldown_for(self, error: Exception) -> float | None:
        """Quota and credentials bench for long; every other kind by the usual rules."""
        kind = classify(error)
        if kind is K.QUOTA_EXHAUSTED:
            return self.quota_cooldown
        if kind is K.AUTH or kind is K.NOT_FOUND:
            return self.auth_cooldown
        return None

    def retry(self, state: tenacity.RetryCallState) -> bool:
        """Same provider again: transient kinds, and a rate limit with a short hint."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        if error is None:
            return False
        kind = classify(error)
        if kind is K.AUTH or kind is K.NOT_FOUND:
            self.alarm(error, kind)
            return False
        if kind is not K.RATE_LIMITED and kind not in _RETRIED:
            return False
        hint = _hint(error)
        if hint is None:
            return kind is not K.RATE_LIMITED
        return hint <= self.cap

    def wait(self, state: tenacity.RetryCallState) -> float:
        """After a hint, the hint; else a short jittered backoff."""
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        hint = _hint(error) if error is not None else None
        if hint is not None:
            return hint
        base: float = min(_MAX_BACKOFF, BACKOFF * 2.0 ** (state.attempt_number - 1))
        return base * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto

    def alarm(self, error: BaseException, kind: ErrorKind) -> None:
        """Log an ERROR once per cooldown for a provider refusing a credential or model."""
        info = current_attempt()
        name = info.provider if info is not None else "?"
        now = self.clock() if self.clock is not None else time.monotonic()
        with self.lock:
            if self.refused.get(name, -math.inf) > now:
                return
            if len(self.refused) > 1024:  # forget lapsed names: memory stays bounded
                self.refused = {k: v for k, v in self.refused.items() if v > now}
            self.refused[name] = now + self.auth_cooldown
        text = redact(f"{type(error).__name__}: {error}")
        _log.logger.bind(provider=name, kind=str(kind), error=text).error(
            _log_refused, provider=name, kind=kind, error=text, duration=self.auth_cooldown
        )


def _seconds(argument: str, value: object, *, optional: bool = False, zero: bool = False) -> Any:
    """Validate seconds (None allowed when `optional`); name `argument` in errors."""
    if value is None and optional:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or cast("float", value) < 0 or (cast("float", value) == 0 and not zero):
        need = ">= 0" if zero else "> 0"
        none = " or None" if optional else ""
        msg = f"llm.options(): {argument} must be a finite number {need}{none}, got {value!r}"
        raise InvalidConfigError(msg)
    return value


def _choice(argument: str, value: object, allowed: tuple[object, ...]) -> Any:
    if not any(value is a or (isinstance(a, str) and value == a) for a in allowed):
        shown = " or ".join(repr(a) for a in allowed)
        msg = f"llm.options(): {argument} must be {shown}, got {value!r}"
        raise InvalidConfigError(msg)
    return value


def options(  # noqa: PLR0913 - the preset's documented keyword arguments
    stream: bool | str = False,
    *,
    retries: int = 1,
    retry_after_cap: float = 5.0,
    timeout: float | None = 60.0,
    attempt_timeout: float | None = 20.0,
    first_item_timeout: float | None = 10.0,
    idle_timeout: float | None = 15.0,
    on_context_length: str = "fallback",
    on_content_filter: str = "raise",
    cooldown: Any = 15.0,
    quota_cooldown: float = 3600.0,
    auth_cooldown: float = 600.0,
    **more: Any,
) -> RouterOptions:
    """Return the router options for chat-completion calls (see the LLM guide's table).

    Used as `@routed(providers=clients, **llm.options())`. Per
    [`ErrorKind`][fallback_router.llm.ErrorKind]: transient kinds (`overloaded`,
    `server_error`, `connection`, `malformed`, `incomplete`) retry the same
    provider `retries` times, then bench it and fall back; `rate_limited` waits
    out a hint up to `retry_after_cap`; `quota_exhausted` benches
    `quota_cooldown`, `auth`/`not_found` `auth_cooldown` (one ERROR log per
    cooldown); `context_length` falls back, `content_filter` and `bad_request`
    raise. It also sets `respect_retry_after=True`, the time limits, `usage_of=`
    (OpenAI-style `usage.total_tokens`, a stream's last usage chunk, Anthropic's
    too: it settles token quotas) and, for `stream="buffer"`,
    `stream_failover="buffer"` with an `accept=` refusing an answer without text.

    Args:
        stream: False (plain calls), True (streams) or `"buffer"` (streams read
            to their end first, so a cut answer falls back).
        retries: same-provider retries per attempt (0: none).
        retry_after_cap: the longest hint (seconds) waited out in a call.
        timeout: the whole call's budget (streams: to the first item; None: none).
        attempt_timeout: one provider's attempt, its retries included (None: none).
        first_item_timeout: a stream's wait for its first item (None: none).
        idle_timeout: a stream's silence between items (None: none).
        on_context_length: `"fallback"` or `"raise"`.
        on_content_filter: `"raise"` or `"fallback"`.
        cooldown: seconds a provider is benched by default (no escalation), or a
            cooldown tracker, used as given.
        quota_cooldown: seconds an exhausted quota benches its provider.
        auth_cooldown: seconds a refused credential or unknown model benches it.
        **more: any other router option; it wins over the preset's.

    Returns:
        A `RouterOptions` dict to spread into `routed(...)` or `Router(...)`.

    Raises:
        InvalidConfigError: a value out of range or of the wrong type, or an unknown
            router option in `more`, named in the message.

    Version:
        Added in 0.3.0.
    """
    _choice("stream", stream, (False, True, "buffer"))
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        msg = f"llm.options(): retries must be an int from 0 to 100, got {retries!r}"
        raise InvalidConfigError(msg)
    cap = _seconds("retry_after_cap", retry_after_cap, zero=True)
    limits = _time_limits(stream, timeout, attempt_timeout, first_item_timeout, idle_timeout)
    _choice("on_context_length", on_context_length, ("fallback", "raise"))
    _choice("on_content_filter", on_content_filter, ("raise", "fallback"))
    quota, auth = _benches(cooldown, quota_cooldown, auth_cooldown)
    unknown = sorted(set(more) - set(DEFAULTS))
    if unknown:
        msg = f"llm.options(): unknown router option(s) {', '.join(map(repr, unknown))}"
        raise InvalidConfigError(msg)
    policy = _Policy(
        cap,
        on_context_length == "fallback",
        on_content_filter == "fallback",
        quota,
        auth,
        more.get("clock"),
    )
    preset = _preset(policy, cooldown, retries, stream == "buffer")
    return cast("RouterOptions", {**preset, **limits, **more})


def _preset(policy: _Policy, cooldown: Any, retries: int, buffer: bool) -> dict[str, Any]:
    """The options the preset sets besides the time limits."""
    preset: dict[str, Any] = {
        "cooldown": cooldown,
        "fallback_on": policy.fallback_on,
        "cooldown_on": policy.cooldown_on,
        "cooldown_for": policy.cooldown_for,
        "respect_retry_after": True,
        "usage_of": usage_of,
        "retry": tenacity.Retrying(
            stop=tenacity.stop_after_attempt(1 + retries), wait=policy.wait, retry=policy.retry
        ),
    }
    if buffer:
        preset["stream_failover"] = "buffer"
        preset["accept"] = _has_text
    return preset


def _time_limits(
    stream: object,
    timeout: object,
    attempt_timeout: object,
    first_item_timeout: object,
    idle_timeout: object,
) -> dict[str, Any]:
    """The preset's time limits, validated (a stream's own two only for streams)."""
    limits = {
        "timeout": _seconds("timeout", timeout, optional=True),
        "attempt_timeout": _seconds("attempt_timeout", attempt_timeout, optional=True),
    }
    first = _seconds("first_item_timeout", first_item_timeout, optional=True)
    idle = _seconds("idle_timeout", idle_timeout, optional=True)
    if stream is not False:
        limits["first_item_timeout"] = first
        limits["idle_timeout"] = idle
    return limits


def _benches(cooldown: Any, quota_cooldown: object, auth_cooldown: object) -> tuple[Any, Any]:
    """Validate the bench lengths; a plain `cooldown` tracker must hold the long ones."""
    quota = _seconds("quota_cooldown", quota_cooldown)
    auth = _seconds("auth_cooldown", auth_cooldown)
    if not hasattr(cooldown, "record_failure"):
        _seconds("cooldown", cooldown)
        for argument, value in (("quota_cooldown", quota), ("auth_cooldown", auth)):
            if value > max(RETRY_AFTER_CAP, cooldown):
                msg = (
                    f"llm.options(): {argument}={value!r} is longer than the one hour a "
                    f"cooldown={cooldown!r} tracker benches for; pass cooldown="
                    f"InMemoryCooldown({cooldown!r}, max_duration={value!r}, multiplier=1)"
                )
                raise InvalidConfigError(msg)
    return quota, auth
