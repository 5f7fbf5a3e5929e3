"""The warning for a sync routed function called on a thread that runs an event loop.

Such a call blocks the loop (every other task waits) for as long as the providers
take. The check on each sync call is one C call (`asyncio`'s running-loop lookup);
only a call on a loop thread does more, and the log and `RuntimeWarning` come once
per function and router (never in an IPython shell: Jupyter runs cells on its loop).
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from asyncio import AbstractEventLoop, events
from collections.abc import Callable

from fallback_router._redact import redact
from fallback_router._surfaces import log as _log
from fallback_router._surfaces.log import BLOCKING_LOOP, WARNING, template, wants

__all__ = ["on_loop", "running_loop", "warn_on_loop"]

_message = template(BLOCKING_LOOP)

#: The running loop of this thread, or None: asyncio's C-level lookup (no exception
#: raised and caught, unlike `asyncio.get_running_loop`).
running_loop: Callable[[], AbstractEventLoop | None] = events._get_running_loop  # noqa: SLF001


def _in_ipython() -> bool:
    """The call comes from an IPython shell: Jupyter runs every cell on its kernel's loop."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        return ipython.get_ipython() is not None
    except Exception:  # noqa: BLE001 - an odd IPython must not break the call
        return False


def on_loop(function: str, warned: set[str], depth: int = 4) -> None:
    """A sync call of `function` runs on an event loop's thread: warn once per function.

    Not in an IPython shell (a Jupyter notebook runs its cells on the kernel's loop:
    a sync call there is the normal case). `depth`: the caller's frame for the warning.
    """
    if function in warned:
        return
    warned.add(function)
    if _in_ipython():
        return
    name = redact(function)
    if wants(__name__, WARNING):
        _log.logger.warning(_message, function=name)
    # A warnings filter set to "error" must not break the call.
    with contextlib.suppress(Exception):
        warnings.warn(
            f"fallback_router: the sync routed function {name} was called on a thread "
            f"running an event loop; it blocks the loop while it runs: declare it "
            f"`async def` (reported once per function)",
            RuntimeWarning,
            stacklevel=depth,
        )


def warn_on_loop(function: str, warned: set[str]) -> None:
    """`on_loop` when this thread runs an event loop (for the stream callers)."""
    if running_loop() is not None:
        on_loop(function, warned)
