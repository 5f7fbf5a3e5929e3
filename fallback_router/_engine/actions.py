"""What the engine asks of a driver (actions) and the records it keeps, by name.

The walk (`CallState.steps()`) yields one action at a time; the driver (sync or
async) carries it out and sends the answer back:

- `Start(index, number, forced, probe, hedged)`: attempt provider `index` (its
  gates passed, its leases held by the call). Reply: the attempt's `Outcome`, or
  `STARTED` when the driver runs attempts side by side (hedging).
- `Await(more)`: attempts are running; reply `(index, outcome)` when one ends, or
  `HEDGE` (only when `more`) to start the next candidate beside them.
- `Io(fn, args)`: call `fn(*args)`, a component that waits on the network (its
  `blocking` capability), and reply its result: the sync driver calls it in
  place, the async driver in a worker thread (unless `peek` answers at once).
- `Wait(gate, names, until, reason)`: wait until one of `names` has a free slot on
  the limiter `gate` (reply its name, the slot taken) or until `until` on the
  router's clock (reply None); `gate` None: just wait until `until`.
- `Abandon(reason)`: the call concludes while attempts still run (hedges that
  lost, or a deadline): give them up now, with `reason`; reply anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = [
    "HEDGE",
    "STARTED",
    "Abandon",
    "Await",
    "Failure",
    "Io",
    "Made",
    "Outcome",
    "Running",
    "Start",
    "Wait",
]

#: Reply to `Start`: the attempt runs beside others (hedging); await it.
STARTED: Any = object()
#: Reply to `Await`: start the next candidate beside the running attempts.
HEDGE: Any = object()


class Start:
    """Attempt provider `index` as attempt `number` (`forced`: seconds of cooldown left)."""

    __slots__ = ("forced", "hedged", "index", "number", "probe")

    def __init__(
        self, index: int, number: int, forced: float | None, probe: bool, hedged: bool
    ) -> None:
        self.index = index
        self.number = number
        self.forced = forced
        self.probe = probe
        self.hedged = hedged


class Await(NamedTuple):
    """Wait for a running attempt to end (`more`: a hedge may start meanwhile)."""

    more: bool


class Io(NamedTuple):
    """Call a component that waits on the network: `fn(*args)`.

    `peek`: the same answer without waiting, or None (a tracker's mirror): a driver
    that must not block (async) asks it first, in place.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    peek: Callable[..., Any] | None = None


class Wait(NamedTuple):
    """Wait for a slot of `names` on `gate`, or until `until` (router clock)."""

    gate: Any
    names: tuple[str, ...]
    until: float | None
    reason: str


class Abandon(NamedTuple):
    """Give up the attempts still running, with `reason`."""

    reason: str


class Outcome(NamedTuple):
    """What one attempt produced, on the router's clock."""

    response: Any
    error: Exception | None
    start: float
    end: float


class Made:
    """The happy path's first attempt, made already (it failed): the walk records it."""

    __slots__ = ("index", "outcome", "tick")

    def __init__(self, index: int, tick: int, outcome: Outcome) -> None:
        self.index = index
        self.tick = tick
        self.outcome = outcome


class Running(NamedTuple):
    """An attempt that started and has not been recorded yet."""

    number: int
    probe: bool
    hedged: bool
    forced: bool
    started: float


class Failure(NamedTuple):
    """A failed attempt, as its `Attempt` record is built (`new_attempt(*failure)`)."""

    provider: str
    error: Exception
    latency: float
    counted: bool
    hedged: bool
    text: str
