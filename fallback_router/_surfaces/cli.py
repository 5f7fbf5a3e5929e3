"""The command line: look at and clear the cooldowns shared on Redis.

Installed as the console script `fallback-router`, and runnable as
`python -m fallback_router`:

    fallback-router status --redis URL [--namespace NS] [--json]
    fallback-router reset  --redis URL [--namespace NS] [PROVIDER ...]

`status` prints every provider of the namespace that has state in Redis (benched,
counting failures or half-open), and its rate-limit buckets (see `cli_rates`): a
table, or with `--json` an object

    {"namespace": "default",
     "providers": [{"name": "gemini", "available": false,
                    "cooldown_remaining": 41.9, "cooldown_length": 60.0,
                    "half_open": false, "consecutive_failures": 0, "level": 0,
                    "window_failures": 0, "window_outcomes": 0, "failure_ratio": null}]}

(`cooldown_remaining` and `cooldown_length` in seconds; `cooldown_length` is null
once the cooldown has ended, when Redis no longer holds it; `failure_ratio` is
`window_failures / window_outcomes` over a `failure_ratio=` tracker's window, null
without outcomes, and the table then shows a FAILURE RATIO column). `reset` clears the
named providers, or every provider of the namespace when none is named (a name
starting with `-` goes after `--`); `--rate-limits` refills their buckets instead.

Both read and write through a [`RedisCooldown`][fallback_router.RedisCooldown]
built with the same namespace (default `"default"`) as the routers'.

Reaching Redis:

- `--redis redis://[[user]:password@]host[:port][/db]`; `rediss://...` for TLS,
  with redis-py's query arguments such as `?ssl_ca_certs=/path/ca.crt` or
  `?ssl_cert_reqs=none`; `unix:///path/to/redis.sock[?db=N]`.
- Sentinel: `--sentinel HOST:PORT` (repeatable) `--service NAME` resolves the
  primary through Sentinel; an optional `--redis` URL then only supplies the
  primary's credentials, database and TLS (for example `redis://:PASSWORD@/0`),
  its host and port are ignored.
- Cluster: `--cluster --redis redis://HOST:PORT` reaches a Redis Cluster through
  any of its nodes (`redis.cluster.RedisCluster.from_url`).

Before reading or writing, the server is sent a PING bounded by `--timeout`
seconds (default 2), and again afterwards: a tracker fails open (it answers from
process-local state when Redis is down), so only these checks tell an empty
namespace from an unreachable server.

Every read and write of the command is bounded by `--timeout` and raises when Redis
does not answer in time (the routers' trackers fail open; the command's never do):
a slow SCAN exits 1, it never prints "no provider ... has state" or "nothing to
clear". A `redis://` or `rediss://` path that is not a database number
(`redis://host/notadb`) is a usage error, not database 0.

Exit status: 0 on success, 1 when Redis cannot be reached, does not answer in time
or refuses a command (a read-only replica; one line on stderr naming the server, any
password shown as `***`), 2 on usage errors. Provider names are printed redacted
(`?key=***`), in the table and in `--json`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fallback_router._redis.clients import BoundedClient, import_redis
from fallback_router._redis.cooldown import DEFAULT_NAMESPACE, RedisCooldown
from fallback_router._version import __version__

from .cli_args import address, name, redis_url, seconds
from .cli_rates import refill_report, status_report
from .cli_redis import OptionsError, StrictCooldown, UnreachableError, guarded, target
from .cli_text import (
    shown,
    state_text,
    write,
)

__all__ = ["EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]

#: Exit status on success.
EXIT_OK = 0
#: Exit status when Redis cannot be reached (or answers with an error).
EXIT_UNREACHABLE = 1
#: Exit status on usage errors (argparse's).
EXIT_USAGE = 2

PROG = "fallback-router"
#: Seconds the PING (and every later Redis operation) may take, by default.
DEFAULT_TIMEOUT = 2.0

T = TypeVar("T")
#: Said of a failure of the client built like the tracker's own.
_OWN = " (through a client built like the tracker's)"


_EPILOG = """\
examples:
  fallback-router status --redis redis://localhost:6379/0
  fallback-router status --redis redis://localhost:6379/0 --namespace billing --json
  fallback-router reset --redis redis://localhost:6379/0 gemini "azure east"
  fallback-router reset --redis redis://localhost:6379/0          # the whole namespace
  fallback-router reset --redis redis://localhost:6379/0 --rate-limits gemini  # refill

reaching Redis:
  --redis redis://[[user]:password@]host[:port][/db]
  --redis rediss://host:6380/0?ssl_ca_certs=/etc/redis/ca.crt   (TLS; or ?ssl_cert_reqs=none)
  --redis unix:///run/redis/redis.sock?db=0
  Sentinel: --sentinel HOST:PORT [--sentinel HOST:PORT ...] --service NAME
            resolves the primary through Sentinel; an optional --redis URL then only
            gives the primary's credentials, database and TLS (redis://:PASSWORD@/0).
  Cluster:  --cluster --redis redis://ANY-NODE:PORT  (redis.cluster.RedisCluster)

exit status: 0 success, 1 Redis cannot be reached, 2 usage error
"""


# -- text ----------------------------------------------------------------------------------


# -- arguments -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    connection = argparse.ArgumentParser(add_help=False)
    where = connection.add_argument_group("connection")
    where.add_argument(
        "--redis",
        metavar="URL",
        type=redis_url,
        help="redis://, rediss:// (TLS) or unix:// URL of the server the routers share",
    )
    where.add_argument(
        "--namespace",
        metavar="NS",
        type=name,
        default=None,
        help=f"the namespace (default: {DEFAULT_NAMESPACE!r}, and list those with state)",
    )
    where.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=seconds,
        default=DEFAULT_TIMEOUT,
        help=f"bound of each Redis operation, the PING first (default: {DEFAULT_TIMEOUT:g})",
    )
    where.add_argument(
        "--sentinel",
        metavar="HOST:PORT",
        type=address,
        action="append",
        help="a Sentinel to ask for the primary of --service (repeatable)",
    )
    where.add_argument("--service", metavar="NAME", help="the Sentinel service name")
    where.add_argument(
        "--cluster",
        action="store_true",
        help="--redis names a node of a Redis Cluster",
    )

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Show or clear the provider cooldowns that routers share on Redis.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    status = commands.add_parser(
        "status",
        parents=[connection],
        help="print the shared cooldowns",
        description="Print every provider of the namespace that has state in Redis.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status.add_argument("--json", action="store_true", help="print a JSON object")
    status.set_defaults(command_parser=status)
    reset = commands.add_parser(
        "reset",
        parents=[connection],
        help="clear shared cooldowns",
        description="Clear the named providers' state, or the whole namespace's.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    reset.add_argument(
        "providers",
        metavar="PROVIDER",
        nargs="*",
        type=name,
        help="providers to clear (default: every provider of the namespace)",
    )
    reset.add_argument(
        "--rate-limits",
        action="store_true",
        help="refill the providers' rate-limit buckets instead of clearing cooldowns",
    )
    reset.set_defaults(command_parser=reset)
    return parser


def _check(args: argparse.Namespace) -> None:
    """Reject contradictory connection options (exits with status 2)."""
    fail: Callable[[str], Any] = args.command_parser.error
    if args.sentinel:
        if not args.service:
            fail("--sentinel needs --service NAME")
        if args.cluster:
            fail("--cluster and --sentinel exclude each other")
    elif args.service:
        fail("--service needs at least one --sentinel HOST:PORT")
    elif args.redis is None:
        fail("--redis URL is required (or --sentinel HOST:PORT with --service NAME)")
    if args.cluster and args.redis is not None:
        if args.redis.startswith("unix:"):
            fail("--cluster needs a redis:// or rediss:// URL")
        if import_redis().connection.parse_url(args.redis).get("db", 0) != 0:
            fail("a Redis Cluster has only database 0")


# -- connecting ----------------------------------------------------------------------------


# -- commands ------------------------------------------------------------------------------


def _reset(
    new_tracker: Callable[[], RedisCooldown], namespace: str, names: Sequence[str]
) -> tuple[str, str]:
    """Clear `names` (all when empty); return the report and a warning (or "")."""
    tracker = new_tracker()
    before = tracker.snapshot()
    if names:
        for name in names:
            tracker.reset(name)
        lines = [
            f"reset {shown(name)}: " + (state_text(before[name]) if name in before else "no state")
            for name in names
        ]
    else:
        tracker.reset()
        cleared = ", ".join(shown(name) for name in sorted(before)) or "nothing to clear"
        lines = [f"reset namespace {namespace!r}: {cleared}"]
    # Read back through a new tracker: one whose write failed (a read-only replica,
    # say) answers from process-local state for its back-off period.
    after = new_tracker().snapshot()
    left = [shown(name) for name in (names or sorted(after)) if name in after]
    warning = (
        f"{PROG}: warning: still has state after the reset: {', '.join(left)} "
        "(benched again since, or the server refused the write: a read-only replica?)\n"
        if left
        else ""
    )
    return "\n".join(lines) + "\n", warning


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    Args:
        argv: the arguments after the program name (default: `sys.argv[1:]`).

    Returns:
        0 on success, 1 when Redis cannot be reached, 2 on usage errors.
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
        _check(args)
    except SystemExit as exc:  # argparse's usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    chosen = target(args)
    client: Any = None
    own: BoundedClient | None = None
    try:
        # A cluster is discovered as its client is built: that may fail too.
        client = guarded(chosen, chosen.build)
        guarded(chosen, client.ping)
        # The tracker talks to Redis through a client of its own, built from ours,
        # and fails open (answers from process-local state) whenever that fails. A
        # client built the same way must answer before and after the command.
        bounded = own = BoundedClient(client, args.timeout)
        guarded(chosen, lambda: bounded.get().ping(), _OWN)

        namespace: str = args.namespace or DEFAULT_NAMESPACE

        def new_tracker() -> RedisCooldown:
            return StrictCooldown(client, namespace, args.timeout)

        # Every read and write raises on a Redis error or timeout (a slow SCAN
        # included): an unanswered read must never print as "no state".
        names = list(dict.fromkeys(getattr(args, "providers", ())))
        report, warning = "", ""
        if args.command == "status":
            report = guarded(chosen, lambda: status_report(new_tracker(), namespace, args, client))
        elif args.rate_limits:
            report = guarded(chosen, lambda: refill_report(client, namespace, names))
        else:
            report, warning = guarded(chosen, lambda: _reset(new_tracker, namespace, names))
        guarded(chosen, lambda: bounded.get().ping(), " (lost during the command)")
    except UnreachableError as exc:
        write(sys.stderr, f"{PROG}: {exc}\n")
        return EXIT_UNREACHABLE
    except OptionsError as exc:
        write(sys.stderr, f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    finally:
        if own is not None:
            own.close()
        if client is not None:
            client.close()
    write(sys.stdout, report)
    if warning:
        write(sys.stderr, warning)
    return EXIT_OK
