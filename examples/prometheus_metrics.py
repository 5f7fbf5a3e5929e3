"""Feed Prometheus metrics from fallback_router's events (the README's recipe).

The events are the stable interface; a dozen lines map them onto the metrics you
want, so the library ships no adapter (see README, "Metrics"). Needs
prometheus-client. Run: python examples/prometheus_metrics.py
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from fallback_router import (
    AttemptFailed,
    AttemptSucceeded,
    CallFailed,
    CooldownEntered,
    Event,
    ProviderSkipped,
    routed,
)

registry = CollectorRegistry()
ATTEMPTS = Counter(
    "router_attempts", "Provider attempts", ["function", "provider", "outcome"], registry=registry
)
LATENCY = Histogram(
    "router_attempt_seconds", "Provider call latency", ["provider"], registry=registry
)
COOLDOWNS = Counter("router_cooldowns", "Cooldowns entered", ["provider"], registry=registry)
SKIPS = Counter("router_skips", "Providers skipped in cooldown", ["provider"], registry=registry)
FAILED_CALLS = Counter(
    "router_failed_calls", "Routed calls that failed", ["function"], registry=registry
)


def to_prometheus(event: Event) -> None:
    """An on_event hook: one match per event type."""
    match event:
        case AttemptSucceeded(function=fn, provider=p, latency=seconds):
            ATTEMPTS.labels(fn, p, "success").inc()
            LATENCY.labels(p).observe(seconds)
        case AttemptFailed(function=fn, provider=p, latency=seconds):
            ATTEMPTS.labels(fn, p, "failure").inc()
            LATENCY.labels(p).observe(seconds)
        case CooldownEntered(provider=p):
            COOLDOWNS.labels(p).inc()
        case ProviderSkipped(provider=p):
            SKIPS.labels(p).inc()
        case CallFailed(function=fn):
            FAILED_CALLS.labels(fn).inc()


@routed(providers=["primary", "backup"], on_event=to_prometheus)
def complete(provider: str, prompt: str) -> str:
    if provider == "primary" and prompt.endswith("!"):
        raise TimeoutError("primary timed out")
    return f"{provider}: {prompt}"


def main() -> None:
    for prompt in ["hello", "urgent!", "again", "more"]:
        complete(prompt)
    text = generate_latest(registry).decode()
    wanted = ("_total", "_count")
    print("\n".join(line for line in text.splitlines() if line.split("{")[0].endswith(wanted)))
    assert 'router_cooldowns_total{provider="primary"} 1.0' in text


if __name__ == "__main__":
    main()
