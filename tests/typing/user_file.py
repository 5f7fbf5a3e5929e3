"""A user's module, as an application outside this repository writes it.

CI copies it to an empty directory and runs `mypy --strict` (and pyright) there,
against the editable install: no repository configuration, no `MYPYPATH`. It fails
when the install hides the package from type checkers (an import-hook editable
install gives `import-not-found`, then "untyped decorator").
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from fallback_router import Result, Router, Status, routed


@routed(providers=["primary", "backup"], cooldown=30)
def ask(provider: str, prompt: str) -> str:
    return f"{provider}: {prompt}"


router = Router(["a", "b"])


@router
async def stream(provider: str, prompt: str) -> AsyncIterator[str]:
    yield provider + prompt


answer: str = ask("hi")
result: Result[str] = ask.route("hi")
status: Status = ask.router.status()
health: dict[str, object] = status.to_dict()
