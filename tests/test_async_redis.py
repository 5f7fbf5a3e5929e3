"""Redis from async code (DESIGN §7): a `redis.asyncio` client is refused at construction,
naming the fix (never accepted and then failing inside a call), and `astatus()` reads the
shared state without blocking the event loop, also while Redis hangs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from fallback_router import (
    InvalidConfigError,
    RedisCooldown,
    RedisRateLimiter,
    RedisRoundRobin,
    routed,
)

from .support.redis_helpers import load_scripts, through

BUILDERS: dict[str, Any] = {
    "RedisCooldown": lambda client: RedisCooldown(client),
    "RedisRoundRobin": lambda client: RedisRoundRobin(client),
    "RedisRateLimiter": lambda client: RedisRateLimiter(client, {"a": "5/s"}),
}


@pytest.mark.parametrize("component", list(BUILDERS))
@pytest.mark.parametrize("kind", ["standalone", "url", "cluster"])
def test_a_redis_asyncio_client_is_refused_at_construction_naming_the_fix(
    component, kind, redis_server
):
    """The client an async app naturally passes: refused at once, the fix named."""
    import redis.asyncio

    if kind == "standalone":
        client = redis.asyncio.Redis(host="127.0.0.1", port=redis_server.port)
    elif kind == "url":
        client = redis.asyncio.Redis.from_url(f"redis://127.0.0.1:{redis_server.port}/0")
    else:
        client = redis.asyncio.RedisCluster(host="127.0.0.1", port=redis_server.port)
    with pytest.raises(InvalidConfigError) as caught:
        BUILDERS[component](client)
    text = str(caught.value)
    assert component in text
    assert "redis.asyncio" in text
    assert "pass a redis.Redis" in text
    assert f"{component}.from_url(url)" in text


def test_a_sync_client_serves_async_calls(redis_client):
    """The fix the error names works: the sync client, called off the loop by async calls."""
    tracker = RedisCooldown(redis_client, namespace="async-served")

    @routed(providers=["a", "b"], cooldown=tracker)
    async def call(provider: str) -> str:
        if provider == "a":
            raise ConnectionError(provider)
        return provider

    async def main() -> list[str]:
        return [await call() for _ in range(3)]

    assert asyncio.run(main()) == ["b", "b", "b"]
    assert tracker.remaining("a") > 0


def test_astatus_never_blocks_the_loop_while_redis_hangs(proxy, redis_client, real_redis_binary):
    """While the status's Redis round trip is held, the loop keeps running other tasks (a
    handshake: the loop sees the round trip held while astatus is still waiting on it)."""
    load_scripts(redis_client)
    tracker = RedisCooldown(through(proxy), namespace="astatus", op_timeout=5.0)
    assert tracker.snapshot() == {}  # connected through the proxy before the hang

    @routed(providers=["a", "b"], cooldown=tracker)
    async def call(provider: str) -> str:
        return provider

    async def main() -> tuple[bool, Any]:
        proxy.set("hold")
        task = asyncio.create_task(call.router.astatus())
        ticks = 0
        while not proxy.holding.is_set() and ticks < 2000:  # the loop runs meanwhile
            await asyncio.sleep(0.005)
            ticks += 1
        waiting = not task.done()  # the loop ran while astatus was waiting on Redis
        proxy.release()
        return waiting, await task

    waiting, status = asyncio.run(main())
    assert proxy.holding.is_set()
    assert waiting
    assert [p.name for p in status] == ["a", "b"]


def test_astatus_is_status(redis_client):
    """The awaitable twin answers what status() answers (in memory: without a thread)."""

    @routed(providers=["a", "b"], cooldown=30)
    async def call(provider: str) -> str:
        if provider == "a":
            raise ConnectionError(provider)
        return provider

    async def main() -> tuple[Any, Any]:
        await call()
        return await call.router.astatus(), call.router.status()

    awaited, plain = asyncio.run(main())
    assert str(awaited) == str(plain)
    assert [(p.name, p.available) for p in awaited] == [("a", False), ("b", True)]
