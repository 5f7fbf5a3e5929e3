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


def _chunk(text: str) -> Any:
    return SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=text))])


class _Completions:
    def __init__(self, name: str) -> None:
        self.name = name

    def create(self, *, model: str, messages: list[Any], stream: bool = False, **_: Any) -> Any:
        words = ["Hello", " from ", self.name]
        if stream:
            return iter([_chunk(w) for w in words])
        message = SimpleNamespace(content="".join(words))
        return SimpleNamespace(choices=[SimpleNamespace(message=message)])


class ChatClient:
    """An OpenAI-shaped client: ``chat.completions.create(...)`` and ``complete()``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chat = SimpleNamespace(completions=_Completions(name))

    def complete(self, prompt: str, timeout: float | None = None) -> str:
        return f"{self.name}: {prompt}"


def _recipe() -> dict[str, Any]:
    """The LLM recipe's names: the guide shows the file (a snippet include), then uses it."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "llm_recipe.py"
    spec = importlib.util.spec_from_file_location("examples_llm_recipe", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {name: getattr(module, name) for name in dir(module) if not name.startswith("_")}


def namespace() -> dict[str, Any]:
    """A fresh namespace for one page's snippets."""
    return {
        **_recipe(),
        "__name__": "__docs__",
        "gemini": ImageProvider("gemini"),
        "grok": ImageProvider("grok"),
        "laozhang": ImageProvider("laozhang"),
        "main_client": ChatClient("main"),
        "backup_client": ChatClient("backup"),
        "openai_client": ChatClient("openai"),
    }
