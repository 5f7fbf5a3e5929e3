"""Worker functions for the cross-process Redis tests (imported by spawned children)."""

from __future__ import annotations

from fallback_router import RedisCooldown, RedisRoundRobin, routed

#: Every test here needs Redis to answer: a freshly spawned process's first round trip on a
#: loaded machine may outlast the default 0.1 s, and failing open would rightly change
#: the answer. (Failing open is tested in test_redis_faults.py.)
PATIENT = 2.0


def round_robin_picks(url: str, key: str, calls: int) -> list[str]:
    """Make ``calls`` round-robin calls through a counter shared on Redis."""
    counter = RedisRoundRobin.from_url(url, key=key, op_timeout=PATIENT)
    fn = routed(providers=["a", "b", "c"], strategy="round_robin", counter=counter)(
        lambda provider: provider
    )
    return [fn() for _ in range(calls)]


def bench_provider(url: str, namespace: str) -> bool:
    """Fail provider "a" once through a router; return whether it was benched."""
    return bench_via({"kind": "url", "url": url}, namespace)


def calls_to_a(url: str, namespace: str, calls: int) -> int:
    """Route ``calls`` calls and count how many reached provider "a"."""
    return calls_to_a_via({"kind": "url", "url": url}, namespace, calls)


def probe_or_skip(url: str, namespace: str, hold: bool, probe_ttl: float = 60.0) -> str:
    """Route one call over a (half-open) and b; return who served it.

    When ``a`` is reached it counts itself in the Redis key ``test:reached`` and,
    with ``hold``, stays in flight until the test creates ``test:release``.
    """
    import time

    import redis

    control = redis.Redis.from_url(url)
    tracker = RedisCooldown.from_url(
        url, duration=60, namespace=namespace, probe_ttl=probe_ttl, op_timeout=PATIENT
    )

    def call(provider: str) -> str:
        if provider == "a":
            control.incr("test:reached")
            deadline = time.monotonic() + 20
            while hold and not control.exists("test:release") and time.monotonic() < deadline:
                time.sleep(0.01)  # waiting for the test's signal, not for a cooldown
        return provider

    return routed(providers=["a", "b"], cooldown=tracker)(call)()


def bench_via(spec: dict, namespace: str) -> bool:
    """Fail provider "a" once through a tracker on the deployment ``spec``."""
    from redis_topologies import client

    tracker = RedisCooldown(client(spec), duration=60, namespace=namespace, op_timeout=PATIENT)

    def call(provider: str) -> str:
        if provider == "a":
            raise RuntimeError("a is rate limited")
        return provider

    routed(providers=["a", "b"], cooldown=tracker)(call)()
    return not tracker.is_available("a")


def calls_to_a_via(spec: dict, namespace: str, calls: int) -> int:
    """Route ``calls`` calls on the deployment ``spec``; count those that reached "a"."""
    from redis_topologies import client

    tracker = RedisCooldown(client(spec), duration=60, namespace=namespace, op_timeout=PATIENT)
    reached = 0

    def call(provider: str) -> str:
        nonlocal reached
        if provider == "a":
            reached += 1
            raise RuntimeError("a is rate limited")
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    for _ in range(calls):
        fn()
    return reached


def round_robin_via(spec: dict, key: str, calls: int) -> list[str]:
    """Round-robin calls through a counter on the deployment ``spec``."""
    from redis_topologies import client

    counter = RedisRoundRobin(client(spec), key=key, op_timeout=PATIENT)
    fn = routed(providers=["a", "b", "c"], strategy="round_robin", counter=counter)(
        lambda provider: provider
    )
    return [fn() for _ in range(calls)]


def succeed_while_benched_elsewhere(url: str, namespace: str) -> list[str]:
    """Two calls over a and b (threshold 2): a fails once, then a's next call stays in flight
    (after creating ``<namespace>:in_a``) until the test creates ``<namespace>:release``,
    and succeeds. Returns who served each call.
    """
    import time

    import redis

    control = redis.Redis.from_url(url)
    tracker = RedisCooldown.from_url(
        url, duration=60, threshold=2, namespace=namespace, refresh=0, op_timeout=PATIENT
    )
    calls = 0

    def call(provider: str) -> str:
        nonlocal calls
        if provider == "a":
            calls += 1
            if calls == 1:
                raise RuntimeError("a fails once")
            control.set(f"{namespace}:in_a", "1")
            deadline = time.monotonic() + 20
            while not control.exists(f"{namespace}:release") and time.monotonic() < deadline:
                time.sleep(0.01)  # waiting for the test's signal, not for a cooldown
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    return [fn(), fn()]


def bench_with_hint(url: str, namespace: str, seconds: float) -> float:
    """Fail provider "a" with a Retry-After of ``seconds``; return the hint Redis holds."""

    class RateLimited(Exception):
        retry_after = seconds

    tracker = RedisCooldown.from_url(url, namespace=namespace, duration=15, op_timeout=PATIENT)

    def call(provider: str) -> str:
        raise RateLimited(provider)

    try:
        routed(providers=["a"], cooldown=tracker)(call)()
    except Exception:
        pass
    return tracker.hinted(["a"])[0]
