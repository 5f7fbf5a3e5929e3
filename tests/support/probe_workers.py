"""Workers for the one-probe-in-the-system tests (imported by spawned children)."""

from __future__ import annotations

import threading
import time


def hammer(  # noqa: C901 - one worker's whole loop
    url: str, namespace: str, threads: int, seconds: float
) -> tuple[int, int]:
    """Route calls over a (always failing) and b from `threads` threads for `seconds`.

    A barrier across processes: the worker adds 1 to `<namespace>:ready` once it can
    call, and starts calling when `<namespace>:go` exists (set by the test).
    Returns (attempts on a that were claimed probes, attempts on a that were not).
    """
    import redis

    from fallback_router import AttemptStarted, RedisCooldown, routed

    control = redis.Redis.from_url(url)
    # A patient op_timeout: the subject is one probe, not fail-open; a tracker failing open
    # under load (4 processes x 8 threads beside the suite) would rightly try a plainly.
    # Cooldowns of 0.2 s that never grow (multiplier 1), remembered for 60 s (the window is
    # max_duration): with the window of 0.2 s, a busy machine that left a unprobed for
    # 0.2 s after a cooldown rightly forgot it, and tried it plainly.
    tracker = RedisCooldown.from_url(
        url,
        duration=0.2,
        max_duration=60,
        multiplier=1.0,
        namespace=namespace,
        refresh=0.05,
        op_timeout=10.0,
    )
    counts = {"probe": 0, "plain": 0}
    lock = threading.Lock()

    def hook(event: object) -> None:
        if isinstance(event, AttemptStarted) and event.provider == "a":
            with lock:
                counts["probe" if event.probe else "plain"] += 1
            if event.probe:
                seconds_, micros = control.time()
                control.rpush(f"{namespace}:probes", f"{seconds_}.{micros:06d}")

    def call(provider: str) -> str:
        if provider == "a":
            raise RuntimeError("a is down")
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker, on_event=hook)(call)
    control.incr(f"{namespace}:ready")
    give_up = time.monotonic() + 120
    while not control.exists(f"{namespace}:go"):
        if time.monotonic() > give_up:
            msg = "the test never said go"
            raise RuntimeError(msg)
        time.sleep(0.001)

    def loop() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            fn()

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return counts["probe"], counts["plain"]


def hold_probe(url: str, namespace: str, timeout: float) -> str:
    """Probe a (half-open) through a router with `timeout=`; hang inside the probe."""
    import redis

    from fallback_router import RedisCooldown, routed

    control = redis.Redis.from_url(url)
    tracker = RedisCooldown.from_url(
        url, duration=0.05, max_duration=60, namespace=namespace, op_timeout=2.0
    )

    def call(provider: str) -> str:
        if provider == "a":
            control.set("test:probing", "1")
            time.sleep(60)  # the test kills this process meanwhile
        return provider

    return routed(providers=["a", "b"], cooldown=tracker, timeout=timeout)(call)()


def staleness(
    url: str, namespace: str, started_key: str, seconds: float, busy: int
) -> list[tuple[float, str]]:
    """Route calls over a and b from `busy` CPU-bound threads; (wall time, provider) of each."""
    import redis

    from fallback_router import RedisCooldown, routed

    tracker = RedisCooldown.from_url(url, duration=60, namespace=namespace)
    fn = routed(providers=["a", "b"], cooldown=tracker)(lambda provider: provider)
    fn()
    if started_key:  # tell the test that calls are about to run
        with redis.Redis.from_url(url) as control:
            control.set(started_key, "1")
    served: list[tuple[float, str]] = []
    lock = threading.Lock()

    def work() -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            total = 0
            for i in range(20_000):  # about a millisecond of pure-Python work
                total += i * i
            start = time.time()
            provider = fn()
            with lock:
                served.append((start, provider))

    threads = [threading.Thread(target=work) for _ in range(busy)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return served
