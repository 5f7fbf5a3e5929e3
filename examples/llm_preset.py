"""LLM APIs in one line: ``**llm.options()`` on a routed chat function.

Two OpenAI-compatible vendors run on 127.0.0.1 (the small stdlib server below plays
them) and the official ``openai`` SDK talks to them as it would to OpenAI, Azure, Groq
or a vLLM gateway, with ``max_retries=0``: the router does the retrying. Each step
shows one failure and what the preset does with it:

- a 429 asking for 50 ms: the same vendor again after 50 ms (the fallback is often a
  worse or dearer model);
- a 503 that persists: one quick retry, then the vendor is benched and the backup
  answers;
- a content-filter refusal: raised to the caller, who must see it;
- a stream that ends without a finish reason, buffered: the backup's whole answer,
  never a cut one;
- an async stream to a UI, piece by piece.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import openai

from fallback_router import llm, routed

WORDS = ["Hello", " from ", "{vendor}"]


class Vendors(BaseHTTPRequestHandler):
    """``POST /{vendor}/v1/chat/completions``; each vendor follows its ``plans`` queue."""

    plans: ClassVar[dict[str, list[str]]] = {}
    requests: ClassVar[Counter[str]] = Counter()

    def do_POST(self) -> None:
        vendor = self.path.split("/")[1]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests[vendor] += 1
        plan = self.plans.get(vendor) or ["ok"]
        step = plan.pop(0) if len(plan) > 1 else plan[0]
        if step == "429":
            self.error(429, "rate_limit_exceeded", {"retry-after-ms": "50"})
        elif step == "503":
            self.error(503, None)
        elif step == "filter":
            self.error(400, "content_filter")
        elif body.get("stream"):
            self.stream(vendor, cut=step == "cut")
        else:
            self.send(200, self.completion(vendor))

    def completion(self, vendor: str) -> dict[str, Any]:
        text = "".join(WORDS).format(vendor=vendor)
        message = {"role": "assistant", "content": text}
        usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        return {"id": "c", "object": "chat.completion", "created": 0, "model": vendor,
                "choices": [choice], "usage": usage}  # fmt: skip

    def stream(self, vendor: str, *, cut: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        pieces = [w.format(vendor=vendor) for w in WORDS]
        finish = [] if cut else [None]  # cut: the body ends before the finish chunk
        for piece in [*pieces[: 2 if cut else 3], *finish]:
            delta = {"content": piece} if piece is not None else {}
            choice = {"index": 0, "delta": delta, "finish_reason": None if piece else "stop"}
            chunk = {"id": "c", "object": "chat.completion.chunk", "created": 0,
                     "model": vendor, "choices": [choice]}  # fmt: skip
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        if not cut:
            self.wfile.write(b"data: [DONE]\n\n")

    def error(self, status: int, code: str | None, headers: dict[str, str] | None = None) -> None:
        self.send(status, {"error": {"message": f"{status} {code}", "code": code}}, headers)

    def send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(data).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


def messages(prompt: str) -> list[Any]:
    return [{"role": "user", "content": prompt}]


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Vendors)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def client(vendor: str, sdk: Any = openai.OpenAI) -> Any:
        return sdk(base_url=f"{url}/{vendor}/v1", api_key="sk-local", max_retries=0, timeout=10)

    clients = {"primary": client("primary"), "backup": client("backup")}

    # The one line: **llm.options() (plain calls), **llm.options("buffer") (streams).
    @routed(providers=clients, **llm.options())
    def ask(client: openai.OpenAI, prompt: str) -> str:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=messages(prompt))
        return reply.choices[0].message.content or ""

    @routed(providers=clients, **llm.options("buffer"))
    def answer(client: openai.OpenAI, prompt: str) -> Any:
        with client.chat.completions.create(
            model="gpt-4o-mini", messages=messages(prompt), stream=True
        ) as stream:
            yield from llm.text(stream)

    Vendors.plans["primary"] = ["429", "ok"]
    result = ask.route("Hi")
    print(f"429 for 50 ms: {result.response!r} by {result.provider},"
          f" {Vendors.requests['primary']} requests to it")  # fmt: skip

    Vendors.plans["primary"] = ["503"]
    result = ask.route("Hi")
    benched = {row.name: row.cooldown_remaining for row in ask.router.status()}["primary"]
    print(f"503 persists: {result.response!r} by {result.provider};"
          f" primary benched for {benched:.0f} s")  # fmt: skip
    ask.router.reset()

    Vendors.plans["primary"] = ["filter", "ok"]
    try:
        ask("Something the filter refuses")
    except openai.BadRequestError as exc:
        print(f"content filter: raised to the caller ({llm.classify(exc)})")

    Vendors.plans["primary"] = ["cut", "cut", "ok"]  # cut twice: the retry too
    result = answer.route("Hi")
    print(f"cut stream, buffered: {''.join(result.response)!r} by {result.provider}")
    assert result.attempts[0].error is not None
    print(f"  the cut one: {llm.classify(result.attempts[0].error)}")

    async def to_ui() -> None:
        aclients = {v: client(v, openai.AsyncOpenAI) for v in ("primary", "backup")}

        @routed(providers=aclients, **llm.options(stream=True))
        async def chat(client: openai.AsyncOpenAI, prompt: str) -> Any:
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=messages(prompt), stream=True
            )
            async with stream:
                async for piece in llm.atext(stream):
                    yield piece

        print("async stream:", "|".join([piece async for piece in chat("Hi")]))
        for aclient in aclients.values():
            await aclient.close()

    asyncio.run(to_ui())
    server.shutdown()


if __name__ == "__main__":
    main()
