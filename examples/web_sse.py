"""Serve a routed async generator as server-sent events, with a /health endpoint.

Run it (needs `pip install fastapi uvicorn`), then ask it:

    python examples/web_sse.py
    curl -N 'http://127.0.0.1:8000/complete?prompt=hi'
    curl 'http://127.0.0.1:8000/health'

The pattern, for any ASGI framework:

1. Route first: `await complete.route(prompt)` settles which vendor serves before
   the response starts, so a call that fails everywhere answers **503 with
   `Retry-After`** (the earliest cooldown), never a 200 that then drops.
2. Stream `result.response`. A vendor that breaks after its first token raises
   `StreamInterrupted`; the stream then ends with an `event: error` (never a
   silently truncated 200). A complete stream ends with `event: done`.
3. `/health` is `(await router.astatus()).to_dict()`: JSON-ready, errors redacted
   (`astatus()` reads a Redis tracker off the loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response, StreamingResponse

from fallback_router import (
    AllProvidersFailedError,
    DeadlineExceededError,
    Result,
    Router,
    StreamInterrupted,
)

#: A vendor: given a prompt, an async iterator of tokens (an SDK's streaming call).
Vendor = Callable[[str], AsyncIterator[str]]


def sse(data: object, event: str | None = None) -> str:
    """One server-sent event: an optional `event:` line and JSON `data`."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n"


async def unavailable(router: Router, error: Exception) -> Response:
    """503 with Retry-After: when the next vendor leaves its cooldown."""
    seconds = getattr(error, "retry_after", None)  # AllProvidersBenchedError has it
    if seconds is None:  # astatus(): never blocks the loop, even on a Redis tracker
        seconds = (await router.astatus()).to_dict()["retry_after"]
    retry_after = max(1, math.ceil(seconds if seconds is not None else 1.0))
    body = {"error": "no vendor available", "retry_after": retry_after}
    return JSONResponse(body, status_code=503, headers={"Retry-After": str(retry_after)})


async def events(result: Result[AsyncIterator[str]]) -> AsyncIterator[str]:
    """The routed stream as SSE: tokens, then `done`, or `error` after a cut."""
    # aclosing: a client that disconnects closes the vendor's stream too.
    async with contextlib.aclosing(result.response) as stream:  # type: ignore[type-var]
        try:
            async for token in stream:
                yield sse(token)
        except StreamInterrupted as cut:
            yield sse({"error": "stream interrupted", "items": cut.items}, event="error")
            return
    yield sse({"provider": result.provider}, event="done")


def make_app(vendors: dict[str, Vendor], *, cooldown: float = 30.0) -> FastAPI:
    """A FastAPI app streaming completions from `vendors`, in fallback order."""
    router = Router(vendors, cooldown=cooldown, first_item_timeout=10.0)

    @router
    async def complete(vendor: Vendor, prompt: str) -> AsyncIterator[str]:
        async for token in vendor(prompt):
            yield token

    app = FastAPI()

    @app.get("/complete")
    async def complete_endpoint(prompt: str) -> Response:
        try:
            result = await complete.route(prompt)  # routing settles before the response
        except (AllProvidersFailedError, DeadlineExceededError) as error:
            return await unavailable(router, error)
        headers = {"X-Provider": result.provider, "Cache-Control": "no-cache"}
        return StreamingResponse(events(result), media_type="text/event-stream", headers=headers)

    @app.get("/health")
    async def health() -> Response:
        summary: dict[str, Any] = (await router.astatus()).to_dict()
        return JSONResponse(summary, status_code=200 if summary["available"] else 503)

    return app


async def flaky(prompt: str) -> AsyncIterator[str]:
    """A demo vendor that is rate limited."""
    raise RuntimeError("429 Too Many Requests")
    yield prompt  # pragma: no cover - makes this an async generator


async def steady(prompt: str) -> AsyncIterator[str]:
    """A demo vendor that answers word by word."""
    for word in f"You said: {prompt}".split():
        await asyncio.sleep(0.05)
        yield word + " "


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(make_app({"flaky": flaky, "steady": steady}), host="127.0.0.1", port=8000)
