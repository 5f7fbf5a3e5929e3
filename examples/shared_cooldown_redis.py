"""Share cooldowns between worker processes through Redis.

Four worker processes route calls over ["vendor-a", "vendor-b"]. vendor-a's quota
is exhausted (HTTP 429, Retry-After: 30). The first worker discovers it and benches
vendor-a in Redis; the other workers skip vendor-a without paying for the failure.

Uses $REDIS_URL when set, otherwise starts a throwaway redis-server on 127.0.0.1
(Debian: apt-get install redis-server). Run: python examples/shared_cooldown_redis.py
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from fallback_router import RedisCooldown, routed

NAMESPACE = "example-shared"


class RateLimitError(Exception):
    status_code = 429
    retry_after = 30


def worker(url: str, calls: int) -> tuple[int, int, list[str]]:
    """Route ``calls`` calls; return (pid, vendor-a hits, who served)."""
    # op_timeout: each Redis operation may take 1 s (default 0.1) before the tracker
    # fails open to memory, so the demo holds on a loaded machine too.
    tracker = RedisCooldown.from_url(url, duration=60, namespace=NAMESPACE, op_timeout=1.0)
    hits_on_a = 0

    def call(vendor: str) -> str:
        nonlocal hits_on_a
        if vendor == "vendor-a":
            hits_on_a += 1
            raise RateLimitError("429: quota exhausted")
        return vendor

    fn = routed(providers=["vendor-a", "vendor-b"], cooldown=tracker)(call)
    served = [fn() for _ in range(calls)]
    return os.getpid(), hits_on_a, served


@contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found: install it or set REDIS_URL")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.02)  # waiting for the server to boot
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    with redis_url() as url:
        RedisCooldown.from_url(url, namespace=NAMESPACE).reset()
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(4) as pool:
            first = pool.apply(worker, (url, 10))  # one worker meets the 429 first
            rest = pool.starmap(worker, [(url, 10)] * 3)
        print(f"{'worker':<8} {'pid':>7}  {'calls':>5}  {'hits on vendor-a':>16}")
        for n, (pid, hits, served) in enumerate([first, *rest], start=1):
            print(f"{n:<8} {pid:>7}  {len(served):>5}  {hits:>16}")
        tracker = RedisCooldown.from_url(url, namespace=NAMESPACE)
        print(f"\nvendor-a benched in Redis for {tracker.remaining('vendor-a'):.0f} s more")
        assert first[1] == 1
        assert all(hits == 0 for _, hits, _ in rest)
        tracker.reset()


if __name__ == "__main__":
    main()
