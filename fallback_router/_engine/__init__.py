"""The engine: a routed call's decisions, with no blocking and no I/O.

- `setup`: what a call needs of its router, frozen (`Setup`).
- `facts`: a call's facts and conclusions (`CallFacts`).
- `gates`: what a candidate passes before its attempt (slots, tokens, budget, waits).
- `call`: the walk, `CallState.steps()`, a generator of actions the drivers carry out.
- `record`: turning attempt facts into counts, logs and events (`Recorder`).
- `stats`: per-provider counters (`Stats`).
"""
