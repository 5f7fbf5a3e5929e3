"""The engine: a routed call's decisions, with no blocking, no I/O and no threads.

- `setup`: what a call needs of its router, frozen (`Setup`), and its gates.
- `actions`: what the walk asks of a driver (`Start`, `Await`, `Io`, `Wait`,
  `Abandon`) and the records it keeps (`Outcome`, `Made`, `Running`, `Failure`).
- `facts`: a call's facts and conclusions (`CallFacts`); every lease comes back
  in `CallFacts.ended` (a started attempt) or `CallFacts.abort` (a candidate).
- `gates`: what a candidate passes before its attempt (leases, budget, waits).
- `call`: the one walk, `CallState.steps()`, a generator of actions that the sync
  driver, the async driver and the happy path's hand-over all drive.
- `verdicts`: an attempt's end turned into tracker writes, records and the result.
- `record`: turning attempt facts into counts, logs and events (`Recorder`).
- `stats`: per-provider counters (`Stats`).

A component that waits on the network (its `blocking` capability) is asked
through an `Io` action, whichever driver runs the call; one that answers from
memory is asked in place.
"""
