"""LLM presets: route chat completions right in one line.

```python
from fallback_router import llm, routed

@routed(providers={"openai": openai_client, "groq": groq_client}, **llm.options())
def chat(client, prompt: str):
    return client.chat.completions.create(
        model="...", messages=[{"role": "user", "content": prompt}]
    )
```

[`options`][fallback_router.llm.options] sets the policy (same-provider retries,
benches per [`ErrorKind`][fallback_router.llm.ErrorKind], Retry-After respected,
time limits, buffered streams); [`classify`][fallback_router.llm.classify] names an
error's kind; [`chunks`][fallback_router.llm.chunks] and
[`text`][fallback_router.llm.text] (and their async twins) read a stream and raise
[`IncompleteAnswer`][fallback_router.llm.IncompleteAnswer] when it was cut. No SDK is
imported: `openai` (and OpenAI-compatible servers), `anthropic`, `google-genai`,
`httpx` and `requests` errors are recognised by class name, status and error body.
"""

from ._kinds import ErrorKind, IncompleteAnswer, classify
from ._preset import options
from ._streams import achunks, atext, chunks, text

__all__ = [
    "ErrorKind",
    "IncompleteAnswer",
    "achunks",
    "atext",
    "chunks",
    "classify",
    "options",
    "text",
]

for _public in (ErrorKind, IncompleteAnswer, achunks, atext, chunks, classify, options, text):
    _public.__module__ = __name__
