"""Delivering events to `on_event` hooks: a raising hook is logged and warned, never raised."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

from fallback_router._events import Event, EventHook
from fallback_router._redact import Redactor, redact
from fallback_router._surfaces import log as _log
from fallback_router._surfaces.log import ERROR, wants

__all__ = ["Hooks"]

_log_hook = _log.template(_log.EVENT_HOOK_FAILED)


class Hooks:
    """A router's hooks: `emit(event)`, and `emit_two(first, second)` for the happy path.

    Both are specialised once: with one hook (the common case) the hook is called
    without a loop, and a pair of events costs one call.
    """

    __slots__ = ("_broken", "emit", "emit_two", "hooks", "redactor")

    def __init__(self, hooks: tuple[EventHook, ...], redactor: Redactor) -> None:
        self.hooks = hooks
        self.redactor = redactor
        self._broken: set[int] = set()  # hooks that raised (warned once each)
        self.emit: Callable[[Event], None] = self._emit_all
        self.emit_two: Callable[[Event, Event], None] = self._emit_each
        if len(hooks) == 1:
            self.emit, self.emit_two = self._one(hooks[0])

    def _emit_all(self, event: Event) -> None:
        for hook in self.hooks:
            try:
                hook(event)
            except Exception as exc:  # noqa: BLE001 - a hook must never break the call
                self.failed(hook, event, exc)

    def _emit_each(self, first: Event, second: Event) -> None:
        self._emit_all(first)
        self._emit_all(second)

    def _one(
        self, hook: EventHook
    ) -> tuple[Callable[[Event], None], Callable[[Event, Event], None]]:
        failed = self.failed

        def emit_one(event: Event) -> None:
            try:
                hook(event)
            except Exception as exc:  # noqa: BLE001 - a hook must never break the call
                failed(hook, event, exc)

        def emit_pair(first: Event, second: Event) -> None:
            try:
                hook(first)
            except Exception as exc:  # noqa: BLE001 - a hook must never break the call
                failed(hook, first, exc)
            try:
                hook(second)
            except Exception as exc:  # noqa: BLE001 - a hook must never break the call
                failed(hook, second, exc)

        return emit_one, emit_pair

    def failed(self, hook: EventHook, event: Event, exc: Exception) -> None:
        """`hook` raised `exc` on `event`: an error log each time, one `RuntimeWarning`."""
        name = getattr(hook, "__qualname__", None) or repr(hook)
        text = self.redactor.error_text(exc)
        if wants(__name__, ERROR):
            # The redacted text only: no `exception=`, whose traceback (and loguru's
            # `diagnose` variable dump) would print the raw error and the event.
            _log.logger.error(
                _log_hook,
                hook=redact(name),
                event=type(event).__name__,
                error=text,
                error_type=type(exc).__name__,
            )
        if id(hook) not in self._broken:
            self._broken.add(id(hook))
            # A warnings filter set to "error" must not break the call either.
            with contextlib.suppress(Exception):
                warnings.warn(
                    f"fallback_router: on_event hook {redact(name)} raised {text} "
                    f"(ignored; reported once per hook)",
                    RuntimeWarning,
                    stacklevel=2,
                )
