"""Reaching Redis for the command line: the target deployment and guarded operations."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from fallback_router._redis.clients import import_redis, misconfiguration, outage_errors
from fallback_router._redis.cooldown import RedisCooldown

from .cli_text import one_line, redact_url, secrets_of, unsplit

__all__ = [
    "OptionsError",
    "StrictCooldown",
    "Target",
    "UnreachableError",
    "guarded",
    "target",
    "without_db",
]

T = TypeVar("T")


@dataclass(frozen=True)
class Target:
    """Where to connect: a description for messages, and how to build the client."""

    where: str
    secrets: list[str]
    build: Callable[[], Any]


def target(args: argparse.Namespace) -> Target:
    url: str | None = args.redis
    timeout: float = args.timeout
    retry: Any = importlib.import_module("redis.retry")
    backoff: Any = importlib.import_module("redis.backoff")
    bounds = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": retry.Retry(backoff.NoBackoff(), 0),
    }
    secrets = secrets_of(url)
    if args.sentinel:
        sentinels: list[tuple[str, int]] = args.sentinel
        service: str = args.service
        listed = ", ".join(f"{host}:{port}" for host, port in sentinels)
        where = f"Sentinel {listed} (service {service!r})"
        options: dict[str, Any] = {}
        if url is not None:
            where += f" with {redact_url(url)}"
            options = import_redis().connection.parse_url(url)
            options.pop("connection_class", None)
            ssl = url.startswith("rediss:")
            options = {k: v for k, v in options.items() if k not in ("host", "port", "path")}
            options |= {"ssl": True} if ssl else {}

        def build_sentinel() -> Any:
            module: Any = importlib.import_module("redis.sentinel")
            found = module.Sentinel(sentinels, sentinel_kwargs=dict(bounds), **bounds)
            return found.master_for(service, **options, **bounds)

        return Target(where, secrets, build_sentinel)
    given: str = args.redis  # required without --sentinel (see _check)
    if args.cluster:

        def build_cluster() -> Any:
            module: Any = importlib.import_module("redis.cluster")
            return module.RedisCluster.from_url(without_db(given), **bounds)

        return Target(f"{redact_url(given)} (cluster)", secrets, build_cluster)
    return Target(
        redact_url(given), secrets, lambda: import_redis().Redis.from_url(given, **bounds)
    )


def without_db(url: str) -> str:
    """`url` without its database number (a cluster has only database 0).

    redis-py's cluster client accepts `/0`, but then keeps `db` among its
    connection options, and a cluster client built from those options (as the
    tracker builds its own) refuses it.
    """
    parts = urlsplit(url)
    query = "&".join(arg for arg in parts.query.split("&") if arg and not arg.startswith("db="))
    return unsplit(parts.scheme, parts.netloc, "", query, parts.fragment)


class UnreachableError(Exception):
    """Redis could not be reached; the message is the one line to print."""


class OptionsError(Exception):
    """The connection options were refused by redis-py; the message says why."""


def guarded(target: Target, op: Callable[[], T], when: str = "") -> T:
    """Return `op()`; Redis errors become the one-line errors the command prints."""
    try:
        return op()
    except outage_errors() as exc:
        fix = misconfiguration(exc)
        detail = f"{type(exc).__name__}: {exc}" + (f" ({fix})" if fix else "")
        msg = f"cannot reach Redis at {target.where}{when}: {detail}"
        raise UnreachableError(one_line(msg, target.secrets)) from None
    except (TypeError, ValueError) as exc:  # unknown or invalid URL query arguments
        msg = f"invalid connection options for {target.where}: {exc}"
        raise OptionsError(one_line(msg, target.secrets)) from None


class StrictCooldown(RedisCooldown):
    """A `RedisCooldown` whose Redis errors raise instead of failing open.

    A router's tracker answers from process-local state when Redis is slow or down;
    the command line must report that (exit 1), never print an empty namespace.
    """

    def __init__(self, client: Any, namespace: str, op_timeout: float) -> None:
        super().__init__(client, namespace=namespace, op_timeout=op_timeout)
        self._guard.strict = True
