"""The command line (DESIGN §8): `python -m fallback_router status|reset` on real Redis servers.

Every test runs twice: as the real command in a subprocess (`python -m
fallback_router ...`) and through `main(argv)` in this process, the function the
`fallback-router` console script calls. Plain TCP uses the session's redis-server;
TLS, unix socket, password, Sentinel and Cluster servers are started here from the
Debian binaries (tests/support/redis_topologies.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fallback_router import RedisCooldown, routed
from fallback_router._surfaces.cli import main
from fallback_router._surfaces.cli_text import redact_url

from .conftest import RedisServer, free_port
from .support import redis_topologies as topologies

#: Spawns the command line, or starts Redis servers of its own: left out of mutation runs
#: (pyproject.toml). The rest runs `main()` in this process and is mutation-tested.
processes = pytest.mark.processes

ROOT = Path(__file__).resolve().parents[1]
DURATION = 300.0
ODD_NAMES = [
    "with space",
    "a:b",
    "{brace}",
    "名前 ünïcødé",
    "*?[glob]",
    "%41",
    "-dash",
    'quote\'s "both"',
]
PROVIDER_KEYS = {
    "name",
    "available",
    "cooldown_remaining",
    "cooldown_length",
    "half_open",
    "consecutive_failures",
    "level",
    "window_failures",
    "window_outcomes",
    "failure_ratio",
}


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.returncode == 0, self.stderr
        return json.loads(self.stdout)

    def names(self) -> list[str]:
        return [p["name"] for p in self.json()["providers"]]


@pytest.fixture(params=[pytest.param("process", marks=[pytest.mark.slow, processes]), "main"])
def cli(request, capsys) -> Callable[..., Ran]:
    """Run the command line: `python -m fallback_router` in a subprocess, or `main()`."""

    def run(*args: str) -> Ran:
        if request.param == "process":
            done = subprocess.run(
                [sys.executable, "-m", "fallback_router", *args],
                capture_output=True,
                text=True,
                encoding="utf-8",
                timeout=60,
                cwd=ROOT,
                env={**os.environ, "PYTHONIOENCODING": "utf-8"},
                check=False,
            )
            return Ran(done.returncode, done.stdout, done.stderr)
        capsys.readouterr()
        code = main(list(args))
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def bench(client: Any, *names: str, namespace: str = "default", **options: Any) -> RedisCooldown:
    """Fail each of ``names`` once through a router sharing its cooldowns on Redis."""
    tracker = RedisCooldown(client, namespace=namespace, **{"duration": DURATION, **options})

    def call(provider: str) -> str:
        if provider in names:
            raise RuntimeError(f"{provider} is down")
        return provider

    fn = routed(providers=[*names, "steady"], cooldown=tracker)(call)
    assert fn() == "steady"
    return tracker


def wait_until(predicate, limit: float = 10.0) -> bool:
    """Poll the real server's clock (Redis expiry cannot be faked); bounded."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def binaries_or_skip() -> None:
    missing = [b for b in ("redis-server", "redis-cli", "openssl") if shutil.which(b) is None]
    if not missing:
        return
    if os.environ.get("FALLBACK_ROUTER_REQUIRE_REDIS") == "1":
        pytest.fail(f"missing {missing}: apt-get install redis-server redis-tools openssl")
    pytest.skip(f"needs {missing} (apt-get install redis-server redis-tools openssl)")


@contextlib.contextmanager
def deployment() -> Iterator[topologies.Deployment]:
    """Redis processes in a directory of their own, all stopped at the end."""
    binaries_or_skip()
    started = topologies.Deployment()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def tls() -> Iterator[dict[str, Any]]:
    with deployment() as started:
        yield topologies.start_tls(started)


@pytest.fixture(scope="module")
def unix() -> Iterator[dict[str, Any]]:
    with deployment() as started:
        yield topologies.start_unix(started)


@pytest.fixture(scope="module")
def sentinel() -> Iterator[dict[str, Any]]:
    with deployment() as started:
        yield topologies.start_sentinel(started)


@pytest.fixture(scope="module")
def cluster() -> Iterator[dict[str, Any]]:
    with deployment() as started:
        yield topologies.start_cluster(started)


@pytest.fixture(scope="module")
def guarded() -> Iterator[dict[str, Any]]:
    """A redis-server that requires the password "right-pass"."""
    port = topologies.free_port()
    with deployment() as started:
        started.start("--port", str(port), "--bind", "127.0.0.1", "--requirepass", "right-pass")
        topologies.wait_for(
            lambda: topologies.ping(host="127.0.0.1", port=port, password="right-pass"),
            "password-protected redis-server",
        )
        yield {"port": port}


@pytest.fixture(scope="module")
def replica(redis_server) -> Iterator[dict[str, Any]]:
    """A read-only replica of the session's redis-server."""
    if not isinstance(redis_server, RedisServer):
        pytest.skip("needs the real redis-server (fakeredis stands in here)")
    port = topologies.free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with deployment() as started:
        started.start(
            "--port", str(port), "--bind", "127.0.0.1",
            "--replicaof", "127.0.0.1", str(redis_server.port),
        )  # fmt: skip
        replica_client = topologies.client({"kind": "url", "url": url})

        def linked() -> bool:
            return replica_client.info().get("master_link_status") == "up"

        topologies.wait_for(linked, "replica", log=started.log)
        yield {"port": port, "url": url}


def topology_client(started: dict[str, Any]) -> Any:
    client = topologies.client(started["spec"])
    client.flushall()
    return client


# -- status ---------------------------------------------------------------------------------


def test_status_of_an_empty_namespace(cli, redis_server, redis_client):
    """With nothing benched, status says so in one line, and --json lists no provider."""
    ran = cli("status", "--redis", redis_server.url)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert one_line(ran.stdout) == "no provider of namespace 'default' has state"
    assert cli("status", "--redis", redis_server.url, "--json").json() == {
        "namespace": "default",
        "providers": [],
        "rate_limits": [],
        "namespaces": {},
    }


def test_status_shows_a_benched_provider(cli, redis_server, redis_client):
    """A provider a router benched is one row: benched, seconds left, the cooldown's length."""
    bench(redis_client, "flaky")
    ran = cli("status", "--redis", redis_server.url)
    assert (ran.returncode, ran.stderr) == (0, "")
    title, header, row, *rest = ran.stdout.splitlines()
    assert (title, rest) == ("namespace 'default': 1 provider with state", [])
    assert header.split() == ["PROVIDER", "STATE", "COOLDOWN", "HALF-OPEN", "FAILURES", "LEVEL"]
    assert row.startswith("flaky  ")
    assert "benched, " in row
    assert " s left" in row
    state = RedisCooldown(redis_client).snapshot()["flaky"]
    expected = ["300.0", "s", "no", str(state.consecutive_failures), str(state.level)]
    assert row.split()[-5:] == expected
    assert "steady" not in ran.stdout


def test_status_json_describes_a_benched_provider(cli, redis_server, redis_client):
    """--json: namespace and one provider object with every field; 0 < remaining <= duration."""
    bench(redis_client, "flaky")
    data = cli("status", "--redis", redis_server.url, "--json").json()
    assert set(data) == {"namespace", "providers", "rate_limits", "namespaces"}
    assert data["namespaces"] == {"default": ["cooldowns"]}
    assert data["namespace"] == "default"
    [flaky] = data["providers"]
    assert set(flaky) == PROVIDER_KEYS
    assert flaky["name"] == "flaky"
    assert flaky["available"] is False
    assert 0 < flaky["cooldown_remaining"] <= DURATION
    assert flaky["cooldown_length"] == DURATION
    assert flaky["half_open"] is False
    state = RedisCooldown(redis_client).snapshot()["flaky"]
    assert (flaky["consecutive_failures"], flaky["level"]) == (
        state.consecutive_failures,
        state.level,
    )
    assert flaky["level"] == 0


def test_status_shows_the_failure_ratio_over_the_shared_window(cli, redis_server, redis_client):
    """A failure_ratio= tracker's window: a FAILURE RATIO column and three JSON keys."""
    tracker = RedisCooldown(redis_client, namespace="ratio", failure_ratio=0.5, op_timeout=2.0)
    for _ in range(6):
        tracker.record_success("flaky")
    for _ in range(3):
        assert tracker.record_failure("flaky", RuntimeError("down")) == 0.0
    options = ["--redis", redis_server.url, "--namespace", "ratio"]
    [flaky] = cli("status", *options, "--json").json()["providers"]
    assert (flaky["window_failures"], flaky["window_outcomes"]) == (3, 9)
    assert flaky["failure_ratio"] == pytest.approx(1 / 3)
    assert flaky["available"] is True
    lines = cli("status", *options).stdout.splitlines()
    assert lines[1].split()[-2:] == ["FAILURE", "RATIO"]
    assert lines[2].endswith("33% of 9")
    plain = RedisCooldown(redis_client, namespace="plain")
    plain.record_failure("other", RuntimeError("down"))
    [other] = cli("status", "--redis", redis_server.url, "--namespace", "plain", "--json").json()[
        "providers"
    ]
    assert (other["window_outcomes"], other["failure_ratio"]) == (0, None)
    assert "FAILURE RATIO" not in cli("status", "--redis", redis_server.url, "--namespace",
                                      "plain").stdout  # fmt: skip


def test_status_shows_a_half_open_provider(cli, redis_server, redis_client):
    """Once its cooldown lapsed, a provider is available and half-open until a success."""
    tracker = bench(redis_client, "flaky", duration=0.05, max_duration=DURATION)
    assert wait_until(lambda: tracker.snapshot()["flaky"].half_open)
    [flaky] = cli("status", "--redis", redis_server.url, "--json").json()["providers"]
    assert flaky["available"] is True
    assert flaky["cooldown_remaining"] == 0
    assert flaky["half_open"] is True
    assert flaky["cooldown_length"] is None  # Redis keeps no lapsed cooldown
    row = cli("status", "--redis", redis_server.url).stdout.splitlines()[2]
    state = RedisCooldown(redis_client).snapshot()["flaky"]
    assert row.split() == [
        "flaky", "available", "-", "yes", str(state.consecutive_failures), str(state.level),
    ]  # fmt: skip


def test_status_shows_a_probe_in_flight(cli, redis_server, redis_client):
    """A half-open provider whose probe is claimed is unavailable until the probe ends."""
    tracker = bench(redis_client, "flaky", duration=0.05, max_duration=DURATION)
    assert wait_until(
        lambda: tracker.remaining("flaky") == 0 and tracker.snapshot()["flaky"].half_open
    )
    assert tracker.try_probe("flaky") is True
    [flaky] = cli("status", "--redis", redis_server.url, "--json").json()["providers"]
    assert (flaky["available"], flaky["half_open"]) == (False, True)
    assert 0 < flaky["cooldown_remaining"] <= DURATION
    row = cli("status", "--redis", redis_server.url).stdout.splitlines()[2]
    assert row.split()[:2] == ["flaky", "probing,"], row


def test_status_counts_failures_below_the_threshold(cli, redis_server, redis_client):
    """A failure that did not trip the threshold is shown as a count on an available row."""
    bench(redis_client, "flaky", threshold=3)
    [flaky] = cli("status", "--redis", redis_server.url, "--json").json()["providers"]
    assert (flaky["available"], flaky["consecutive_failures"]) == (True, 1)


def test_namespaces_are_separate(cli, redis_server, redis_client):
    """--namespace NS shows only NS's providers; the default namespace is another one."""
    odd = "team:{b} ü*"
    bench(redis_client, "a", namespace="team-a")
    bench(redis_client, "b", namespace=odd)
    url = redis_server.url
    assert cli("status", "--redis", url, "--namespace", "team-a", "--json").names() == ["a"]
    data = cli("status", "--redis", url, "--namespace", odd, "--json").json()
    assert (data["namespace"], [p["name"] for p in data["providers"]]) == (odd, ["b"])
    assert cli("status", "--redis", url, "--json").names() == []
    text = cli("status", "--redis", url, "--namespace", odd).stdout
    assert text.startswith(f"namespace {odd!r}: 1 provider with state\n")


# -- reset ----------------------------------------------------------------------------------


def test_reset_one_provider_keeps_the_others(cli, redis_server, redis_client):
    """`reset b` clears b alone, and says what it cleared."""
    bench(redis_client, "a", "b", "c")
    ran = cli("reset", "--redis", redis_server.url, "b")
    assert (ran.returncode, ran.stderr) == (0, "")
    assert one_line(ran.stdout).startswith("reset b: benched, ")
    assert cli("status", "--redis", redis_server.url, "--json").names() == ["a", "c"]
    assert set(RedisCooldown(redis_client).snapshot()) == {"a", "c"}


def test_reset_of_a_provider_without_state(cli, redis_server, redis_client):
    """Resetting a provider that has no state succeeds and says so."""
    ran = cli("reset", "--redis", redis_server.url, "calm")
    assert (ran.returncode, ran.stderr, ran.stdout) == (0, "", "reset calm: no state\n")


def test_reset_without_names_clears_the_whole_namespace_only(cli, redis_server, redis_client):
    """`reset` clears every provider of its namespace and none of another namespace."""
    bench(redis_client, "a", "b")
    bench(redis_client, "x", namespace="other")
    ran = cli("reset", "--redis", redis_server.url)
    assert (ran.returncode, ran.stderr) == (0, "")
    assert one_line(ran.stdout) == "reset namespace 'default': a, b"
    assert cli("status", "--redis", redis_server.url, "--json").names() == []
    assert RedisCooldown(redis_client).snapshot() == {}
    assert cli("status", "--redis", redis_server.url, "--namespace", "other", "--json").names() == [
        "x"
    ]
    again = cli("reset", "--redis", redis_server.url)
    assert one_line(again.stdout) == "reset namespace 'default': nothing to clear"


def test_odd_names_round_trip(cli, redis_server, redis_client):
    """Spaces, colons, braces, globs, percent signs and unicode survive status and reset."""
    bench(redis_client, *ODD_NAMES)
    url = redis_server.url
    assert sorted(cli("status", "--redis", url, "--json").names()) == sorted(ODD_NAMES)
    text = cli("status", "--redis", url).stdout
    for name in ODD_NAMES:
        assert any(line.startswith(f"{name}  ") for line in text.splitlines()), name
    ran = cli("reset", "--redis", url, "--", "a:b", "名前 ünïcødé", "-dash")
    assert (ran.returncode, ran.stderr) == (0, "")
    left = set(ODD_NAMES) - {"a:b", "名前 ünïcødé", "-dash"}
    assert set(cli("status", "--redis", url, "--json").names()) == left
    assert set(RedisCooldown(redis_client).snapshot()) == left


def test_control_characters_in_names_are_escaped_in_the_table(cli, redis_server, redis_client):
    """A name with a newline stays one escaped row in the table, exact in the JSON."""
    bench(redis_client, "two\nlines", "tab\there")
    ran = cli("status", "--redis", redis_server.url)
    assert len(ran.stdout.splitlines()) == 4
    assert "two\\nlines  " in ran.stdout
    assert "tab\\there  " in ran.stdout
    assert cli("status", "--redis", redis_server.url, "--json").names() == [
        "tab\there",
        "two\nlines",
    ]


@processes
def test_reset_on_a_read_only_replica_exits_1_naming_the_fix(
    cli, redis_server, redis_client, replica
):
    """A replica refuses the reset's writes: exit 1, one line naming the URL and the fix
    (the command's reads and writes never fail open), and nothing was cleared."""
    bench(redis_client, "a")
    replica_client = topologies.client({"kind": "url", "url": replica["url"]})
    primary_keys = set(redis_client.keys("fallback_router:*"))
    # Until the replica has caught up (earlier tests' keys may still be there).
    assert wait_until(lambda: set(replica_client.keys("fallback_router:*")) == primary_keys)
    assert cli("status", "--redis", replica["url"], "--json").names() == ["a"]
    ran = cli("reset", "--redis", replica["url"], "a")
    assert (ran.returncode, ran.stdout) == (1, "")
    line = one_line(ran.stderr)
    assert line.startswith(f"fallback-router: cannot reach Redis at {replica['url']}")
    assert "read-only replica" in line
    assert "connect to the primary" in line
    assert set(RedisCooldown(redis_client).snapshot()) == {"a"}


@pytest.mark.slow
@processes
def test_names_print_on_an_ascii_only_stdout(redis_server, redis_client, monkeypatch):
    """Where stdout cannot encode a name, it is backslash-escaped, in a subprocess and in main()."""
    bench(redis_client, "名前", "ü")
    done = subprocess.run(
        [sys.executable, "-m", "fallback_router", "status", "--redis", redis_server.url],
        capture_output=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, b"")
    assert b"\\u540d\\u524d  " in done.stdout
    assert b"\\xfc  " in done.stdout
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw, encoding="ascii"))
    assert main(["status", "--redis", redis_server.url]) == 0
    sys.stdout.flush()
    assert b"\\u540d\\u524d  " in raw.getvalue()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://u:pw@h:1/0", "redis://u:***@h:1/0"),
        ("redis://:pw@h", "redis://:***@h"),
        ("redis://u@h/0", "redis://u@h/0"),
        (
            "rediss://h/0?ssl_ca_certs=/ca&password=pw&db=1",
            "rediss://h/0?ssl_ca_certs=/ca&password=***&db=1",
        ),
        ("redis://h/0?sentinel_password=pw", "redis://h/0?sentinel_password=***"),
        ("unix:///run/r.sock?password=pw", "unix:///run/r.sock?password=***"),
        ("redis://u:pw@[::1", "redis://***@[::1"),
    ],
)
def test_redact_url(url, shown):
    """Passwords in the userinfo or the query become ***; everything else stays."""
    assert redact_url(url) == shown


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["reset"], ["reset", "a"]])
def test_unreachable_redis_exits_1_with_one_line(cli, command):
    """Nothing listening: exit 1, one stderr line naming the URL, no traceback, no output."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    ran = cli(command[0], "--redis", url, *command[1:])
    assert ran.returncode == 1
    assert ran.stdout == ""
    line = one_line(ran.stderr)
    assert url in line
    assert line.startswith("fallback-router: cannot reach Redis at ")
    assert "Traceback" not in ran.stderr


def test_a_password_in_the_url_is_redacted(cli):
    """The password (userinfo or query argument) is shown as *** in the error line."""
    port = free_port()
    url = f"redis://operator:pa55-w0rd@127.0.0.1:{port}/0?password=q-s3cret"
    ran = cli("status", "--redis", url)
    assert ran.returncode == 1
    line = one_line(ran.stderr)
    assert f"redis://operator:***@127.0.0.1:{port}/0?password=***" in line
    assert "pa55-w0rd" not in ran.stderr + ran.stdout
    assert "q-s3cret" not in ran.stderr + ran.stdout


@processes
def test_refused_credentials_exit_1(cli, guarded):
    """A wrong password: exit 1, one line with the password redacted and the fix named."""
    port = guarded["port"]
    ran = cli("status", "--redis", f"redis://:wrong-pass@127.0.0.1:{port}/0")
    assert ran.returncode == 1
    line = one_line(ran.stderr)
    assert f"redis://:***@127.0.0.1:{port}/0" in line
    assert "credentials" in line
    assert "wrong-pass" not in ran.stderr
    ok = cli("status", "--redis", f"redis://:right-pass@127.0.0.1:{port}/0")
    assert (ok.returncode, ok.stderr) == (0, "")


URL = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param(["status"], id="no-redis"),
        pytest.param(["status", "--redis", URL, "--bogus"], id="unknown-option"),
        pytest.param(["status", "--redis", "http://127.0.0.1/0"], id="http-url"),
        pytest.param(["status", "--redis", "redis://h:port/0"], id="bad-port"),
        pytest.param(["status", "--redis", URL, "--timeout", "0"], id="zero-timeout"),
        pytest.param(["status", "--redis", URL, "--timeout", "soon"], id="text-timeout"),
        pytest.param(["status", "--redis", URL, "--namespace", ""], id="empty-namespace"),
        pytest.param(["reset", "--redis", URL, ""], id="empty-provider"),
        pytest.param(["reset", "--redis", URL, "--json"], id="reset-json"),
        pytest.param(["status", "--sentinel", "no-port", "--service", "m"], id="bad-sentinel"),
        pytest.param(["status", "--sentinel", "h:26379"], id="sentinel-no-service"),
        pytest.param(["status", "--redis", URL, "--service", "m"], id="service-no-sentinel"),
        pytest.param(
            ["status", "--cluster", "--sentinel", "h:1", "--service", "m"], id="cluster-sentinel"
        ),
        pytest.param(["status", "--cluster", "--redis", "unix:///tmp/r.sock"], id="cluster-unix"),
        pytest.param(["status", "--cluster", "--redis", "redis://h:1/3"], id="cluster-db"),
    ],
)
def test_usage_errors_exit_2(cli, argv):
    """Usage errors exit 2 with argparse's usage line, and connect to nothing."""
    ran = cli(*argv)
    assert ran.returncode == 2
    assert "usage: fallback-router" in ran.stderr
    assert "Traceback" not in ran.stderr
    assert ran.stdout == ""


def test_unknown_url_options_exit_2(cli, redis_server):
    """A query argument redis-py does not know is a usage error, not an outage."""
    ran = cli("status", "--redis", f"{redis_server.url}?bogus=1")
    assert ran.returncode == 2
    assert "bogus" in one_line(ran.stderr)
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize("path", ["/notadb", "/0x", "/1/2", "/ 3", "/%31a"])
def test_a_database_that_is_not_a_number_is_a_usage_error(cli, path):
    """`redis://h/notadb` exits 2 naming the value (redis-py would read it as database 0)."""
    ran = cli("status", "--redis", f"redis://127.0.0.1:6379{path}")
    assert ran.returncode == 2
    line = ran.stderr.strip().splitlines()[-1]
    assert "must be a number" in line
    assert repr(path.replace("%31", "1")) in line
    assert ran.stdout == ""


@pytest.mark.parametrize(
    ("command", "nothing"),
    [
        (["status"], "has state"),
        (["status", "--json"], '"providers"'),
        (["reset"], "nothing to clear"),
        (["reset", "flaky"], "reset flaky"),
    ],
)
def test_a_slow_scan_exits_1_and_never_reads_as_nothing(
    cli, redis_server, redis_client, proxy, command, nothing
):
    """Redis answers the PINGs but not the SCAN in time: exit 1 naming the URL, and no
    "no provider has state" / "nothing to clear" with exit 0 (three providers benched)."""
    bench(redis_client, "flaky", "slow", "down")
    url = f"redis://127.0.0.1:{proxy.port}/0"
    proxy.set("delay", 6.0, only=b"SCAN")
    ran = cli(command[0], "--redis", url, "--timeout", "1.5", *command[1:])
    assert ran.returncode == 1, ran.stdout
    assert ran.stdout == ""
    assert nothing not in ran.stdout
    line = one_line(ran.stderr)
    assert line.startswith(f"fallback-router: cannot reach Redis at {url}")
    assert "Timeout" in line
    assert "Traceback" not in ran.stderr
    proxy.set("pass")
    assert len(RedisCooldown(redis_client).snapshot()) == 3  # nothing was cleared


def test_help_documents_every_way_to_reach_redis(cli):
    """--help exits 0 and names TLS, unix sockets, Sentinel, Cluster and the exit codes."""
    ran = cli("status", "--help")
    assert ran.returncode == 0
    for needle in ("rediss://", "ssl_ca_certs", "unix://", "--sentinel", "--service", "--cluster"):
        assert needle in ran.stdout, needle
    assert "1 Redis cannot be reached" in ran.stdout
    version = cli("--version")
    assert (version.returncode, version.stdout.split()[0]) == (0, "fallback-router")
    top = cli("--help")
    assert top.returncode == 0
    assert "status" in top.stdout
    assert "reset" in top.stdout


# -- deployments ----------------------------------------------------------------------------


@processes
def test_tls(cli, tls):
    """rediss:// with ssl_ca_certs (and with ssl_cert_reqs=none) reads and resets over TLS."""
    bench(topology_client(tls), "flaky")
    url = tls["spec"]["url"]
    assert url.startswith("rediss://")
    assert cli("status", "--redis", url, "--json").names() == ["flaky"]
    insecure = f"rediss://127.0.0.1:{tls['port']}/0?ssl_cert_reqs=none"
    assert cli("status", "--redis", insecure, "--json").names() == ["flaky"]
    assert cli("reset", "--redis", insecure, "flaky").returncode == 0
    assert cli("status", "--redis", url, "--json").names() == []


@processes
def test_tls_with_an_unknown_certificate_authority_exits_1(cli, tls):
    """Without the CA the certificate is not verified: exit 1 with one line."""
    url = f"rediss://127.0.0.1:{tls['port']}/0"
    ran = cli("status", "--redis", url)
    assert ran.returncode == 1
    assert url in one_line(ran.stderr)
    assert "Traceback" not in ran.stderr


@processes
def test_unix_socket(cli, unix):
    """unix:///path/to/sock reads and resets through a unix socket."""
    bench(topology_client(unix), "a", "b")
    url = unix["spec"]["url"]
    assert url.startswith("unix:///")
    assert cli("status", "--redis", url, "--json").names() == ["a", "b"]
    assert cli("reset", "--redis", url, "a").returncode == 0
    assert cli("status", "--redis", url, "--json").names() == ["b"]


@processes
def test_sentinel(cli, sentinel):
    """--sentinel HOST:PORT --service NAME reads and resets on the primary Sentinel names."""
    bench(topology_client(sentinel), "a", "b")
    options = ["--sentinel", f"127.0.0.1:{sentinel['port']}", "--service", "fr-master"]
    assert cli("status", *options, "--json").names() == ["a", "b"]
    assert cli("reset", *options).returncode == 0
    assert cli("status", *options, "--json").names() == []


@processes
def test_sentinel_with_the_primary_s_credentials(cli, sentinel):
    """--redis beside --sentinel gives the primary's password and database only."""
    bench(topology_client(sentinel), "a")
    options = ["--sentinel", f"127.0.0.1:{sentinel['port']}", "--service", "fr-master"]
    ran = cli("status", *options, "--redis", "redis://:any-pass@/0", "--json")
    assert ran.names() == ["a"]


def test_sentinel_without_a_sentinel_exits_1(cli):
    """No Sentinel listening: exit 1, one line naming the Sentinel and the service."""
    port = free_port()
    ran = cli(
        "status", "--sentinel", f"127.0.0.1:{port}", "--service", "fr-master",
        "--redis", "redis://:pw-s3cret@/0",
    )  # fmt: skip
    assert ran.returncode == 1
    line = one_line(ran.stderr)
    assert f"127.0.0.1:{port}" in line
    assert "fr-master" in line
    assert "redis://:***@/0" in line
    assert "pw-s3cret" not in ran.stderr


def test_running_the_package_as_a_module():
    """`python -m fallback_router` runs __main__, which exits with main()'s status."""
    argv = sys.argv
    sys.argv = ["fallback_router", "--version"]
    try:
        with pytest.raises(SystemExit) as exited:
            runpy.run_module("fallback_router", run_name="__main__")
    finally:
        sys.argv = argv
    assert exited.value.code == 0


@processes
def test_cluster(cli, cluster):
    """--cluster reads and resets on a Redis Cluster through one of its nodes."""
    client = topologies.client(cluster["spec"])
    client.flushall(target_nodes=client.ALL_NODES)
    bench(client, "a", "b", namespace="shared")
    options = ["--cluster", "--redis", f"redis://127.0.0.1:{cluster['ports'][0]}/0"]
    options += ["--namespace", "shared"]
    assert cli("status", *options, "--json").names() == ["a", "b"]
    assert cli("reset", *options, "b").returncode == 0
    assert cli("status", *options, "--json").names() == ["a"]


# -- rate limits and namespaces ---------------------------------------------------------------


def spend(client: Any, namespace: str, taken: int, **limits: str) -> Any:
    """Take `taken` tokens of each limited provider through a RedisRateLimiter."""
    from fallback_router import RedisRateLimiter

    limiter = RedisRateLimiter(client, limits, namespace=namespace, op_timeout=5)
    for name in limits:
        assert all(limiter.try_acquire(name) for _ in range(taken))
    return limiter


def test_status_shows_the_rate_limit_buckets_tokens_left(cli, redis_server, redis_client):
    """A namespace's buckets: tokens left now (refilled since), capacity, time to full."""
    spend(redis_client, "billing", 3, a="5/min", b="10/h")
    url = redis_server.url
    data = cli("status", "--redis", url, "--namespace", "billing", "--json").json()
    assert (data["namespace"], data["providers"]) == ("billing", [])
    assert "namespaces" not in data  # --namespace given: only that namespace
    a, b = data["rate_limits"]
    assert (a["name"], a["capacity"], b["name"], b["capacity"]) == ("a", 5, "b", 10)
    assert 2.0 <= a["tokens"] < 3.0  # 3 of 5 taken; 1 token per 12 s comes back
    assert 24.0 < a["full_in"] <= 36.0
    assert 7.0 <= b["tokens"] < 7.1  # 1 token per 6 minutes comes back
    assert 1070.0 < b["full_in"] <= 1080.0
    text = cli("status", "--redis", url, "--namespace", "billing").stdout
    title, _, header, row_a, _row_b = text.splitlines()
    assert title == "no provider of namespace 'billing' has state"
    assert header.split() == ["PROVIDER", "LIMIT", "TOKENS", "CAPACITY", "FULL", "IN"]
    name, kind, tokens, capacity, full_in, unit = row_a.split()
    assert (name, kind, capacity, unit) == ("a", "requests", "5", "s")
    assert 2.0 <= float(tokens) < 3.0
    assert 24.0 < float(full_in) <= 36.0
    assert "rate limits of namespace 'billing': 2 bucket(s) in use" in text


def test_status_shows_token_quotas_next_to_request_limits(cli, redis_server, redis_client):
    """A provider with a request limit and a token quota: one line each; reset refills both."""
    from fallback_router import RedisRateLimiter

    limits = {"gpt": ["5/min", "1000 tokens/h"]}
    limiter = RedisRateLimiter(redis_client, limits, namespace="llm", op_timeout=5)
    assert limiter.try_acquire("gpt", 300)
    limiter.settle("gpt", 1500, 300)  # 1200 more than reserved: the quota is in debt
    url = redis_server.url
    data = cli("status", "--redis", url, "--namespace", "llm", "--json").json()
    requests, tokens = data["rate_limits"]
    assert (requests["name"], requests["kind"], requests["capacity"]) == ("gpt", "requests", 5)
    assert (tokens["name"], tokens["kind"], tokens["capacity"]) == ("gpt", "tokens", 1000)
    assert -500.1 < tokens["tokens"] < -499.0  # in debt; 1000 an hour repay it
    assert 5390.0 < tokens["full_in"] <= 5400.0
    text = cli("status", "--redis", url, "--namespace", "llm").stdout
    rows = [line.split() for line in text.splitlines() if line.startswith("gpt")]
    assert [row[:2] for row in rows] == [["gpt", "requests"], ["gpt", "tokens"]]
    assert cli("reset", "--redis", url, "--namespace", "llm", "--rate-limits").returncode == 0
    assert [lvl for _, lvl in limiter.levels("gpt")] == [5.0, 1000.0]


def test_status_without_namespace_lists_the_namespaces_holding_state(
    cli, redis_server, redis_client
):
    """Without --namespace: the default's table, then the other namespaces with state."""
    odd = "team:{b} ü*"
    bench(redis_client, "flaky")
    bench(redis_client, "x", namespace=odd)
    spend(redis_client, "billing", 1, a="5/min")
    url = redis_server.url
    data = cli("status", "--redis", url, "--json").json()
    assert data["namespaces"] == {
        "billing": ["rate limits"],
        "default": ["cooldowns"],
        odd: ["cooldowns"],
    }
    text = cli("status", "--redis", url).stdout
    assert text.splitlines()[-1] == (
        "other namespaces with state (--namespace NS): 'billing' (rate limits), "
        f"{odd!r} (cooldowns)"
    )


def test_reset_rate_limits_refills_buckets_and_leaves_cooldowns(cli, redis_server, redis_client):
    """`reset --rate-limits [NAME ...]` refills buckets (named, or all); cooldowns stay."""
    bench(redis_client, "flaky", namespace="billing")
    limiter = spend(redis_client, "billing", 4, a="5/min", b="5/min", c="5/min")
    url = redis_server.url
    ran = cli("reset", "--redis", url, "--namespace", "billing", "--rate-limits", "a", "zzz")
    assert (ran.returncode, ran.stderr) == (0, "")
    assert ran.stdout == "refilled a\nrefilled zzz: bucket already full\n"
    assert limiter.tokens("a") == 5.0
    assert limiter.tokens("b") < 2.0
    ran = cli("reset", "--redis", url, "--namespace", "billing", "--rate-limits")
    assert ran.stdout == "refilled rate limits of namespace 'billing': b, c\n"
    assert (limiter.tokens("b"), limiter.tokens("c")) == (5.0, 5.0)
    assert cli("status", "--redis", url, "--namespace", "billing", "--json").names() == ["flaky"]
    again = cli("reset", "--redis", url, "--namespace", "billing", "--rate-limits")
    assert (
        again.stdout == "refilled rate limits of namespace 'billing': every bucket already full\n"
    )
