"""Argument types of the command line: Redis URLs, HOST:PORT, seconds and names."""

from __future__ import annotations

import argparse
import math
import re
from urllib.parse import unquote, urlsplit

from fallback_router._redis.clients import import_redis

from .cli_text import one_line, redact_url, secrets_of, shown

__all__ = ["address", "name", "redis_url", "seconds"]

_SCHEMES = ("redis", "rediss", "unix")
#: The path of a redis:// or rediss:// URL: none, `/`, or `/` and a database number.
_DB_PATH = re.compile(r"/?[0-9]*", re.ASCII)


def redis_url(value: str) -> str:
    """Argument type of `--redis`: a redis://, rediss:// or unix:// URL."""
    try:
        parts = urlsplit(value)
        if parts.scheme not in _SCHEMES:
            msg = f"the URL must start with redis://, rediss:// or unix://: {redact_url(value)}"
            raise argparse.ArgumentTypeError(msg)
        # redis-py reads a path that is not a number as database 0: refuse it instead.
        if parts.scheme != "unix" and not _DB_PATH.fullmatch(unquote(parts.path)):
            msg = (
                f"the database in a Redis URL must be a number (/0, /1, ...), "
                f"got {shown(unquote(parts.path))!r} in {redact_url(value)}"
            )
            raise argparse.ArgumentTypeError(msg)
        import_redis().connection.parse_url(value)
    except ValueError as exc:
        msg = f"invalid Redis URL {redact_url(value)}: {one_line(str(exc), secrets_of(value))}"
        raise argparse.ArgumentTypeError(msg) from None
    return value


def address(value: str) -> tuple[str, int]:
    """Argument type of `--sentinel`: HOST:PORT (an IPv6 host in brackets)."""
    host, colon, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        msg = f"expected HOST:PORT, got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return host, int(port)


def seconds(value: str) -> float:
    """Argument type of `--timeout`: seconds, a finite number > 0."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        msg = f"expected a number of seconds > 0, got {value!r}"
        raise argparse.ArgumentTypeError(msg)
    return seconds


def name(value: str) -> str:
    """Argument type of a namespace or provider name: any non-empty text."""
    if not value:
        msg = "expected a non-empty name"
        raise argparse.ArgumentTypeError(msg)
    return value
