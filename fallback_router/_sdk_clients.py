"""The `max_retries` warning: `openai` / `anthropic` client objects among the providers.

The SDKs retry a failed request themselves (`max_retries=2` by default), inside the
router's attempt: every failover waits for their back-off first. A router warns once
per such provider object. The SDKs are recognised by their classes' module and name,
never imported.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

from ._redact import redact
from ._surfaces import log as _log

__all__ = ["ClientCheck", "sdk_retries"]

#: The SDKs whose clients retry on their own, by top-level package.
_SDKS = frozenset({"openai", "anthropic"})
_log_retries = _log.template(_log.SDK_RETRIES)
#: Provider types remembered as "not an SDK client" per router, at most.
_PLAIN_TYPES = 256


def _is_client(cls: type) -> bool:
    return any(
        base.__name__ == "BaseClient" and base.__module__.partition(".")[0] in _SDKS
        for base in cls.__mro__
    )


def sdk_retries(obj: object) -> tuple[str, int] | None:
    """`(class name, max_retries)` when `obj` is an openai/anthropic client that retries."""
    cls = type(obj)
    if not _is_client(cls):
        return None
    retries = getattr(obj, "max_retries", None)
    if isinstance(retries, int) and not isinstance(retries, bool) and retries > 0:
        return f"{cls.__module__.partition('.')[0]}.{cls.__name__}", retries
    return None


class ClientCheck:
    """Warns once per provider object (per router) that is a retrying SDK client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: weakref.WeakSet[object] = weakref.WeakSet()
        self._seen_ids: set[int] = set()  # objects that take no weak reference
        self._plain: set[type] = set()  # types seen not to be SDK clients (bounded below)

    def check(self, names: Sequence[str], objects: Sequence[object]) -> None:
        """Warn for each retrying client among `objects` not warned about yet."""
        plain = self._plain
        for name, obj in zip(names, objects, strict=True):
            cls = type(obj)
            if cls in plain:
                continue
            found = sdk_retries(obj)
            if found is None and not _is_client(cls) and len(plain) < _PLAIN_TYPES:
                plain.add(cls)
            if found is None or not self._first(obj):
                continue
            _log.logger.warning(
                _log_retries, provider=redact(name), client=found[0], max_retries=found[1]
            )

    def _first(self, obj: object) -> bool:
        with self._lock:
            try:
                if obj in self._seen:
                    return False
                self._seen.add(obj)
            except TypeError:  # no weak reference: remembered by id
                if id(obj) in self._seen_ids:
                    return False
                self._seen_ids.add(id(obj))
            return True
