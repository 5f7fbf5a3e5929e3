"""Stand-ins for the names documentation snippets use without defining them.

The snippets in README.md and docs/ run in the test suite (tests/test_docs.py) in a
namespace that starts with these: simulated providers and clients that answer
offline, so a snippet shows real code and still runs.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any


class ImageProvider:
    """An image API: ``generate_image(prompt)`` returns bytes."""

    def __init__(self, name: str) -> None:
        self.name = name

    def generate_image(self, prompt: str) -> bytes:
        return f"<png: {prompt} by {self.name}>".encode()

    def __repr__(self) -> str:
        return f"ImageProvider({self.name!r})"


def _chunk(text: str | None, finish: str | None = None) -> Any:
    """An OpenAI-shaped chat completion chunk (the last one carries a finish reason)."""
    delta = SimpleNamespace(content=text)
    choice = SimpleNamespace(index=0, delta=delta, finish_reason=finish)
    return SimpleNamespace(choices=[choice], usage=None)


class _Completions:
    def __init__(self, name: str) -> None:
        self.name = name

    def create(self, *, model: str, messages: list[Any], stream: bool = False, **_: Any) -> Any:
        words = ["Hello", " from ", self.name]
        if stream:
            return iter([*(_chunk(w) for w in words), _chunk(None, "stop")])
        message = SimpleNamespace(content="".join(words))
        usage = SimpleNamespace(prompt_tokens=3, completion_tokens=3, total_tokens=6)
        choice = SimpleNamespace(index=0, message=message, finish_reason="stop")
        return SimpleNamespace(choices=[choice], usage=usage, model=self.name)


class ChatClient:
    """An OpenAI-shaped client: ``chat.completions.create(...)`` and ``complete()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chat = SimpleNamespace(completions=_Completions(name))

    def complete(self, prompt: str, timeout: float | None = None) -> str:
        return f"{self.name}: {prompt}"


def namespace() -> dict[str, Any]:
    """A fresh namespace for one page's snippets."""
    return {
        "__name__": "__docs__",
        "gemini": ImageProvider("gemini"),
        "grok": ImageProvider("grok"),
        "laozhang": ImageProvider("laozhang"),
        "main_client": ChatClient("main"),
        "backup_client": ChatClient("backup"),
        "openai_client": ChatClient("openai"),
    }
