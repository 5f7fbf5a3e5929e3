"""Half-open probe claims on Redis whose answer may never reach their caller.

A claim is one round trip (`TRY_PROBE`); a caller interrupted during it (Ctrl-C)
or timed out by an outage does not know whether the server granted it. Each
claim carries a token of its own, so such a claim is released by that token
alone — never another process's claim: at once after an interruption (one
bounded round trip), or when Redis answers again after an outage.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from typing import Any

from . import scripts as lua
from .clients import BoundedClient

__all__ = ["Claims"]


class Claims:
    """Claims a probe by its token; releases the claims whose answers were lost."""

    __slots__ = ("_conn", "_errors", "_lock", "_lost")

    def __init__(self, conn: BoundedClient, errors: tuple[type[BaseException], ...]) -> None:
        self._conn = conn
        self._errors = errors
        self._lock = threading.Lock()
        self._lost: dict[str, str] = {}  # probe key -> token (lost in an outage)

    def claim(self, keys: list[str], args: list[Any]) -> Any:
        """Run `TRY_PROBE` (`args`: ttl ms, half_open) with a token of this claim's own."""
        token = secrets.token_hex(8)
        try:
            return self._conn.script(lua.TRY_PROBE)(keys=keys, args=[*args, token])
        except BaseException as exc:
            if isinstance(exc, self._errors):  # an outage: released when Redis is back
                with self._lock:
                    self._lost[keys[2]] = token
            else:  # interrupted: released now, quietly (the interruption propagates)
                self._release(keys[2], token)
            raise

    def release_lost(self) -> None:
        """Redis answers again: release the claims whose answers an outage lost."""
        if not self._lost:
            return
        with self._lock:
            lost, self._lost = self._lost, {}
        for probe, token in lost.items():
            self._release(probe, token)

    def _release(self, probe: str, token: str) -> None:
        with contextlib.suppress(Exception):
            self._conn.script(lua.RELEASE_PROBE)(keys=[probe], args=[token])
