"""Module-level routed functions that spawned processes import by name (pickling tests)."""

from __future__ import annotations

from fallback_router import routed


@routed(providers=["down", "up"], cooldown=None)
def ask(provider: str, question: str) -> str:
    """Sync, on the happy path: 'down' fails, 'up' answers."""
    if provider == "down":
        raise RuntimeError("down")
    return f"{provider}: {question}"


@routed(providers=["down", "up"], timeout=30)
def ask_limited(provider: str, question: str) -> str:
    """Sync, on the general path (a time budget)."""
    return ask.__wrapped__(provider, question)


@routed(providers=["up"])
async def ask_async(provider: str, question: str) -> str:
    """Async, on the happy path."""
    return f"{provider}: {question}"


@routed(providers=["up"], timeout=30)
async def ask_async_limited(provider: str, question: str) -> str:
    """Async, on the general path."""
    return f"{provider}: {question}"


class Service:
    """A class whose routed method's `route` pickles through the class."""

    @routed(providers=["up"])
    def answer(self, provider: str, question: str) -> str:
        return f"{provider}: {question}"
