"""Quickstart: three simulated image providers behind @routed, offline and instant.

- "gemini" rate-limits: every third request gets HTTP 429 with Retry-After: 5
- "grok" is flaky: fails at random about a third of the time
- "laozhang" is steady (and exempt: it never enters cooldown)

Time is simulated (one second per call, through clock=), so the cooldowns play
out without waiting. Run: python examples/quickstart.py
"""

from __future__ import annotations

import random

from fallback_router import AllProvidersFailedError, Router, routed


class SimClock:
    """A monotonic clock the example moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class RateLimitError(Exception):
    """Like an SDK's 429 error: carries status_code and retry_after."""

    status_code = 429

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"429 Too Many Requests (retry after {retry_after:g} s)")
        self.retry_after = retry_after


class ServiceUnavailableError(Exception):
    status_code = 503


class Provider:
    """A simulated image API client; routed providers only need a ``name``."""

    def __init__(self, name: str, behaviour: str, rng: random.Random) -> None:
        self.name = name
        self.behaviour = behaviour
        self.rng = rng
        self.requests = 0

    def generate_image(self, prompt: str) -> bytes:
        self.requests += 1
        if self.behaviour == "rate-limited" and self.requests % 3 == 0:
            raise RateLimitError(retry_after=5)
        if self.behaviour == "flaky" and self.rng.random() < 0.35:
            raise ServiceUnavailableError("503 Service Unavailable")
        return f"<png of {prompt!r} by {self.name}>".encode()


def main() -> None:
    rng = random.Random(7)
    clock = SimClock()
    gemini = Provider("gemini", "rate-limited", rng)
    grok = Provider("grok", "flaky", rng)
    laozhang = Provider("laozhang", "steady", rng)

    @routed(
        providers=[gemini, grok, laozhang],
        strategy="fallback",
        cooldown=10,  # seconds a failing provider is skipped (Retry-After wins)
        exempt={"laozhang"},
        clock=clock,
    )
    def generate(provider: Provider, prompt: str) -> bytes:
        return provider.generate_image(prompt)

    print("fallback: gemini -> grok -> laozhang (terminus, exempt)\n")
    print(f"{'t':>4}  {'served by':<9} {'attempt':>7}  {'skipped':<15} cooldowns")
    for second in range(30):
        clock.now = float(second)
        result = generate.route(f"a cat #{second}")
        cooling = ", ".join(
            f"{row.name} {row.cooldown_remaining:.0f}s"
            for row in generate.router.status()
            if not row.available
        )
        print(
            f"{second:>4}  {result.provider:<9} {result.attempt:>7}  "
            f"{','.join(result.skipped) or '-':<15} {cooling or '-'}"
        )

    print("\nstatus after 30 calls:")
    print(generate.router.status())

    print("\nround_robin over the same providers (one attempt each, no fallback):")
    rr = Router([gemini, grok, laozhang], strategy="round_robin", clock=clock)

    @rr
    def generate_rr(provider: Provider, prompt: str) -> bytes:
        return provider.generate_image(prompt)

    for n in range(9):
        try:
            result = generate_rr.route(f"a dog #{n}")
            print(f"  call {n}: {result.provider}")
        except AllProvidersFailedError as group:
            print(f"  call {n}: {group.attempts[0].provider} failed: {group.last_error}")


if __name__ == "__main__":
    main()
