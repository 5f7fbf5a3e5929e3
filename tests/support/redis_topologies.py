"""Real Redis deployments on 127.0.0.1 for the topology tests, and clients for them.

Each deployment is started from the Debian binaries (``redis-server``, and
``redis-cli`` to join a cluster); a ``spec`` (a plain dict) describes how to reach
it so that spawned worker processes can build their own client.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

SERVER = "redis-server"
_ports = random.SystemRandom()


def _free(port: int) -> bool:
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def free_port(bus: bool = False) -> int:
    """A free port; with ``bus``, port + 10000 is free too (a cluster node's bus)."""
    while True:
        port = _ports.randint(20000, 30000)  # not the test-seeded `random`
        if _free(port) and (not bus or _free(port + 10000)):
            return port


def wait_for(check: Any, what: str, limit: float = 20.0, log: Path | None = None) -> None:
    """Poll ``check()`` until true (a server booting, a cluster joining); bounded."""
    deadline = time.monotonic() + limit
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:
            last = exc
        time.sleep(0.05)  # waiting for a server process, not for a cooldown
    tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
    msg = f"{what} did not come up in {limit} s; last error: {last!r}; server log: {tail}"
    raise RuntimeError(msg)


class Deployment:
    """Redis processes started for a test; ``stop()`` ends them all."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fr-topology-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log: Path | None = None

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        self.log = self.dir / f"server-{len(self.procs)}.log"
        proc = subprocess.Popen(
            [
                SERVER,
                *args,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--logfile",
                str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            with_signal(proc, signal.SIGCONT)
            proc.terminate()
        for proc in self.procs:
            proc.wait(timeout=10)


def with_signal(proc: subprocess.Popen[bytes], sig: int) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)


def ping(**connect: Any) -> bool:
    import redis

    with redis.Redis(socket_timeout=1, socket_connect_timeout=1, **connect) as probe:
        return bool(probe.ping())


# -- TLS ---------------------------------------------------------------------------------


def make_certificates(directory: Path) -> dict[str, str]:
    """A self-signed CA and a server certificate for 127.0.0.1, made with openssl."""
    ca_key, ca_crt = directory / "ca.key", directory / "ca.crt"
    key, csr, crt = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    # Extensions that Python 3.13's strict X.509 verification requires.
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", str(ca_key), "-out", str(ca_crt))  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", str(key), "-out", str(csr))  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key),
        "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(crt))  # fmt: skip
    return {"ca": str(ca_crt), "cert": str(crt), "key": str(key)}


def start_tls(deployment: Deployment) -> dict[str, Any]:
    certs = make_certificates(deployment.dir)
    port = free_port()
    proc = deployment.start(
        "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1",
        "--tls-cert-file", certs["cert"], "--tls-key-file", certs["key"],
        "--tls-ca-cert-file", certs["ca"], "--tls-auth-clients", "no",
    )  # fmt: skip
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={certs['ca']}"
    spec = {"kind": "url", "url": url}
    wait_for(lambda: client(spec).ping(), "TLS redis-server", log=deployment.log)
    return {"spec": spec, "proc": proc, "port": port, "ca": certs["ca"]}


# -- unix socket ------------------------------------------------------------------------


def start_unix(deployment: Deployment) -> dict[str, Any]:
    path = deployment.dir / "redis.sock"
    proc = deployment.start("--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700")
    spec = {"kind": "url", "url": f"unix://{path}?db=0"}
    wait_for(lambda: client(spec).ping(), "unix-socket redis-server", log=deployment.log)
    return {"spec": spec, "proc": proc, "path": str(path)}


# -- Sentinel ----------------------------------------------------------------------------


def start_sentinel(deployment: Deployment) -> dict[str, Any]:
    master_port, sentinel_port = free_port(), free_port()
    master = deployment.start("--port", str(master_port), "--bind", "127.0.0.1")
    wait_for(lambda: ping(host="127.0.0.1", port=master_port), "sentinel's master")
    conf = deployment.dir / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\n"
        f"sentinel monitor fr-master 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds fr-master 60000\n"
    )
    proc = subprocess.Popen(
        [SERVER, str(conf), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deployment.procs.append(proc)
    spec = {"kind": "sentinel", "sentinels": [["127.0.0.1", sentinel_port]], "service": "fr-master"}
    wait_for(lambda: client(spec).ping(), "sentinel")
    return {"spec": spec, "proc": proc, "master": master, "port": sentinel_port}


# -- Cluster ----------------------------------------------------------------------------


def start_cluster(deployment: Deployment) -> dict[str, Any]:
    ports = [free_port(bus=True) for _ in range(3)]
    procs = {}
    for port in ports:
        procs[port] = deployment.start(
            "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "60000",
        )  # fmt: skip
    for port in ports:
        wait_for(lambda port=port: ping(host="127.0.0.1", port=port), "cluster node")
    subprocess.run(
        ["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports], "--cluster-yes"],
        check=True,
        capture_output=True,
        timeout=60,
    )

    def ready() -> bool:
        import redis

        for port in ports:
            info = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1).cluster("info")
            if info.get("cluster_state") != "ok":
                return False
        return True

    wait_for(ready, "cluster")
    spec = {"kind": "cluster", "host": "127.0.0.1", "port": ports[0]}
    wait_for(lambda: client(spec).ping(), "cluster client")
    return {"spec": spec, "procs": procs, "ports": ports}


# -- clients ------------------------------------------------------------------------------


def client(spec: dict[str, Any]) -> Any:
    """The client an application would build for ``spec``, with patient settings."""
    import redis
    from redis.cluster import RedisCluster
    from redis.sentinel import Sentinel

    patient = {"socket_timeout": 30, "socket_connect_timeout": 30}
    if spec["kind"] == "url":
        return redis.Redis.from_url(spec["url"], **patient)
    if spec["kind"] == "sentinel":
        sentinels = [tuple(address) for address in spec["sentinels"]]
        return Sentinel(sentinels, sentinel_kwargs=patient, **patient).master_for(spec["service"])
    return RedisCluster(host=spec["host"], port=spec["port"], **patient)
