"""`usage_of=`: the tokens a successful attempt used, handed to token settlement.

The router reads `usage_of(response)` (a stream: its last item) only when its rate
limiter settles tokens (a `settle(name, tokens)` method: token limits reserve an
estimate before an attempt and settle the real count after it). Without one, the
option is accepted and validated but nothing reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _log
from ._redact import redact

__all__ = ["Settle", "usage_settler"]

#: `settle(provider name, response or last item)`: what the router calls on a success.
Settle = Callable[[str, Any], None]


def usage_settler(usage_of: Callable[[Any], object] | None, rates: object) -> Settle | None:
    """The settlement of a successful attempt's tokens, or None when nothing reads them."""
    settle = getattr(rates, "settle", None)
    if usage_of is None or not callable(settle):
        return None

    def settle_usage(name: str, response: Any) -> None:
        try:
            tokens = usage_of(response)
        except Exception as exc:  # noqa: BLE001 - logged: a served answer stays served
            problem = f"it raised {type(exc).__name__}: {exc}"
        else:
            if tokens is None:
                return  # no count: the reservation stands
            if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0:
                settle(name, tokens)
                return
            problem = f"it returned {tokens!r}, not None or an int >= 0"
        if _log.wants(__name__, _log.WARNING):
            _log.logger.warning(
                _log.template(_log.USAGE_OF_IGNORED), provider=redact(name), problem=redact(problem)
            )

    return settle_usage
