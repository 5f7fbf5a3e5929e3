"""RedisCooldown and RedisRoundRobin on real deployments: TLS, unix socket, Sentinel, Cluster.

Every deployment is started here on 127.0.0.1 from Debian's redis-server (and
redis-cli, openssl). For each: two processes share cooldowns and a round-robin
counter, and a deployment that accepts connections but never answers (its process
stopped with SIGSTOP) adds a bounded delay to a routed call, then none until the
back-off ends; when it answers again, Redis is used again.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fallback_router import RedisCooldown, routed

from .conftest import FakeClock
from .support.helpers import fleet

# Spawns workers, servers or a browser: left out of mutation runs (see pyproject.toml).
pytestmark = [pytest.mark.processes, pytest.mark.slow]

SUPPORT = str(Path(__file__).parent / "support")
TOPOLOGIES = ["tls", "unix", "sentinel", "cluster"]
OP_TIMEOUT = 0.25
SLACK = 0.6  # process scheduling on a loaded 2-core machine


def binaries_or_skip() -> None:
    missing = [b for b in ("redis-server", "redis-cli", "openssl") if shutil.which(b) is None]
    if not missing:
        return
    if os.environ.get("FALLBACK_ROUTER_REQUIRE_REDIS") == "1":
        pytest.fail(f"missing {missing}: apt-get install redis-server redis-tools openssl")
    pytest.skip(f"needs {missing} (apt-get install redis-server redis-tools openssl)")


@pytest.fixture(scope="module")
def support_path() -> Iterator[None]:
    import sys

    sys.path.insert(0, SUPPORT)
    yield
    sys.path.remove(SUPPORT)


@pytest.fixture(scope="module", params=TOPOLOGIES)
def topology(request, support_path) -> Iterator[dict[str, Any]]:
    binaries_or_skip()
    import redis_topologies as t

    deployment = t.Deployment()
    try:
        started = getattr(t, f"start_{request.param}")(deployment)
        started["name"] = request.param
        started["deployment"] = deployment
        yield started
    finally:
        deployment.stop()


@pytest.fixture
def spawn(support_path) -> Any:
    return multiprocessing.get_context("spawn")


def client(topology: dict[str, Any]) -> Any:
    import redis_topologies

    return redis_topologies.client(topology["spec"])


def test_cooldowns_are_shared_by_processes(topology, spawn):
    """On each deployment, a provider benched by one process is skipped by another."""
    from redis_workers import bench_via, calls_to_a_via

    namespace = f"shared-{topology['name']}"
    with spawn.Pool(2) as pool:
        assert pool.apply(bench_via, (topology["spec"], namespace)) is True
        counts = pool.starmap(calls_to_a_via, [(topology["spec"], namespace, 10)] * 2)
    assert counts == [0, 0]
    tracker = RedisCooldown(client(topology), namespace=namespace)
    # Wall clock (the server's TTL): processes started since; a generous margin under load.
    assert 50 < tracker.remaining("a") <= 60
    tracker.reset()
    assert tracker.is_available("a")


def test_the_failure_ratio_window_is_shared_on_each_deployment(topology):
    """On each deployment, two trackers share one failure-ratio window; status reads it."""
    namespace = f"ratio-{topology['name']}"
    options: dict[str, Any] = {"namespace": namespace, "failure_ratio": 0.4, "op_timeout": 2.0}
    here = RedisCooldown(client(topology), **options)
    for _ in range(6):
        here.record_success("a")
    assert [here.record_failure("a", RuntimeError("down")) for _ in range(3)] == [0.0] * 3
    there = RedisCooldown(client(topology), **options)
    state = there.snapshot()["a"]
    assert (state.window_failures, state.window_outcomes) == (3, 9)
    assert there.record_failure("a", RuntimeError("down")) == 60.0  # 4 of 10
    assert 50 < RedisCooldown(client(topology), namespace=namespace).remaining("a") <= 60
    there.reset()


def test_round_robin_is_shared_by_processes(topology, spawn):
    """On each deployment, processes share one round-robin counter."""
    from redis_workers import round_robin_via

    key = f"fr-test:{{rr}}:{topology['name']}"
    with spawn.Pool(3) as pool:
        picks = pool.starmap(round_robin_via, [(topology["spec"], key, 20)] * 3)
    assert Counter(p for batch in picks for p in batch) == {"a": 20, "b": 20, "c": 20}


def stopped_processes(topology: dict[str, Any], namespace: str) -> list[Any]:
    """The processes to stop so that the tracker's next operation hangs."""
    name = topology["name"]
    if name == "sentinel":
        return [topology["proc"]]  # discovery hangs (the master keeps running)
    if name == "cluster":
        owner = client(topology).get_node_from_key(f"fallback_router:{{{namespace}}}:cooldown:a")
        return [topology["procs"][owner.port]]  # the node that owns the namespace's slot
    return [topology["proc"]]


def test_a_hanging_deployment_adds_a_bounded_delay_then_none(topology):
    """A stopped (SIGSTOP) deployment adds a bounded delay once, then none; then Redis again."""
    import redis_topologies

    namespace = f"hang-{topology['name']}"
    clock = FakeClock()
    stopped = stopped_processes(topology, namespace)
    for proc in stopped:
        redis_topologies.with_signal(proc, signal.SIGSTOP)
    try:
        # A fresh tracker: its first operation connects (and discovers) now.
        tracker = RedisCooldown(
            client(topology), namespace=namespace, op_timeout=OP_TIMEOUT, clock=clock
        )
        fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a"))
        start = time.monotonic()
        assert fn() == "b"
        first = time.monotonic() - start
        start = time.monotonic()
        for _ in range(20):
            assert fn() == "b"  # a is benched locally meanwhile
        rest = time.monotonic() - start
    finally:
        for proc in stopped:
            redis_topologies.with_signal(proc, signal.SIGCONT)
    assert first < 2 * OP_TIMEOUT + SLACK, f"{topology['name']}: first call took {first:.2f} s"
    assert rest < SLACK, f"{topology['name']}: calls during the back-off took {rest:.2f} s"
    # Back after the back-off: Redis is authoritative again and records the failure.
    clock.advance(5.1)
    assert fn() == "b"
    shared = RedisCooldown(client(topology), namespace=namespace)
    assert 50 < shared.remaining("a") <= 60  # the server's TTL: a generous margin under load
    shared.reset()


# -- misconfiguration: logged with the fix, every back-off period, failing open ------------


@pytest.fixture(scope="module")
def cluster(support_path) -> Iterator[dict[str, Any]]:
    binaries_or_skip()
    import redis_topologies as t

    deployment = t.Deployment()
    try:
        yield t.start_cluster(deployment)
    finally:
        deployment.stop()


def misconfigured_calls(tracker: RedisCooldown, clock: FakeClock, logs) -> list[str]:
    """Two back-off periods of calls; return the misconfiguration messages logged."""
    fn = routed(providers=["a", "b"], cooldown=tracker)(fleet("a"))
    for _ in range(3):
        assert fn() == "b"  # never raises: fails open
    clock.advance(5.1)
    for _ in range(3):
        assert fn() == "b"
    return [r["message"] for r in logs.find("redis misconfigured, failing open")]


def test_a_plain_client_on_a_cluster_node_is_told_to_use_redis_cluster(cluster, logs):
    """A plain client on a cluster node is logged with the fix: use RedisCluster."""
    import redis

    clock = FakeClock()
    namespace = "moved"
    owner = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster["ports"][0])
    owning = owner.get_node_from_key(f"fallback_router:{{{namespace}}}:cooldown:a").port
    other = next(p for p in cluster["ports"] if p != owning)
    tracker = RedisCooldown(
        redis.Redis(host="127.0.0.1", port=other), namespace=namespace, clock=clock
    )
    messages = misconfigured_calls(tracker, clock, logs)
    assert len(messages) == 2  # once per back-off period, not once for good
    assert "MovedError" in messages[0]
    assert "pass a redis.cluster.RedisCluster client" in messages[0]
    assert not tracker.is_available("a")  # benched locally meanwhile


def test_missing_credentials_are_named(logs, support_path):
    """A server that wants a password is logged with the fix: set the credentials."""
    binaries_or_skip()
    import redis
    import redis_topologies as t

    deployment = t.Deployment()
    port = t.free_port()
    deployment.start("--port", str(port), "--bind", "127.0.0.1", "--requirepass", "s3cret")
    try:
        t.wait_for(lambda: t.ping(host="127.0.0.1", port=port, password="s3cret"), "server")
        clock = FakeClock()
        tracker = RedisCooldown(redis.Redis(host="127.0.0.1", port=port), clock=clock)
        messages = misconfigured_calls(tracker, clock, logs)
        assert len(messages) == 2
        assert "username/password" in messages[0]
        good = RedisCooldown(redis.Redis(host="127.0.0.1", port=port, password="s3cret"))
        good.record_failure("a", RuntimeError())
        assert not good.is_available("a")  # the password is carried to the bounded client
    finally:
        deployment.stop()


def test_a_read_only_replica_is_named(logs, support_path):
    """A read-only replica is logged with the fix: connect to the primary."""
    binaries_or_skip()
    import redis
    import redis_topologies as t

    deployment = t.Deployment()
    primary, replica = t.free_port(), t.free_port()
    deployment.start("--port", str(primary), "--bind", "127.0.0.1")
    deployment.start("--port", str(replica), "--bind", "127.0.0.1", "--replicaof", "127.0.0.1",
                     str(primary))  # fmt: skip
    try:
        t.wait_for(lambda: t.ping(host="127.0.0.1", port=replica), "replica")
        clock = FakeClock()
        tracker = RedisCooldown(redis.Redis(host="127.0.0.1", port=replica), clock=clock)
        messages = misconfigured_calls(tracker, clock, logs)
        assert len(messages) == 2
        assert "read-only replica" in messages[0]
    finally:
        deployment.stop()
