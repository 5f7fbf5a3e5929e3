"""Worker functions for the cross-process failure-ratio tests (imported by spawned children)."""

from __future__ import annotations

from fallback_router import RedisCooldown

#: A spawned process's first round trips may be slow on a loaded machine; failing open
#: would rightly change the answer (failing open is tested in test_redis_faults.py).
PATIENT = 2.0


def record_outcomes(url: str, namespace: str, successes: int, failures: int) -> list[float]:
    """Record ``successes`` then ``failures`` of provider "a"; return each failure's cooldown."""
    tracker = RedisCooldown.from_url(
        url, namespace=namespace, failure_ratio=0.4, minimum_calls=10, threshold=1000,
        op_timeout=PATIENT,
    )  # fmt: skip
    for _ in range(successes):
        tracker.record_success("a")
    return [tracker.record_failure("a", RuntimeError("down")) for _ in range(failures)]
