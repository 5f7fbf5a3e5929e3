"""Reading a sync provider stream step by step, within a time limit, on its own thread.

Each step of a provider's generator (`next_item`, `close_gen`) runs on the stream's
`Lane` when a time limit applies (`lane_for`), else inline. A read past its limit is
abandoned: the generator is closed on its lane when the read really ends.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

from fallback_router._engine.setup import Setup
from fallback_router._errors import AttemptTimeoutError
from fallback_router._results import CURRENT, AttemptState
from fallback_router._routing import ENTERED, hide_preferences, show_preferences

from .held import RENEW_AT
from .worker import Job, Lane

__all__ = [
    "EMPTY",
    "bounded_next",
    "close_gen",
    "close_on",
    "close_quietly",
    "lane_for",
    "next_item",
    "reads_limited",
]

EMPTY = object()


def next_item(gen: Iterator[Any], state: AttemptState) -> Any:
    """The provider's next item, under its attempt's context (`EMPTY` at the end)."""
    token = CURRENT.set(state)
    hidden = hide_preferences() if ENTERED[0] else None  # routing() was ever used
    try:
        return next(gen)
    except StopIteration:
        return EMPTY
    finally:
        if hidden is not None:
            show_preferences(hidden)
        CURRENT.reset(token)


def close_gen(gen: Iterator[Any], state: AttemptState) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        token = CURRENT.set(state)
        hidden = hide_preferences() if ENTERED[0] else None  # routing() was ever used
        try:
            close()
        finally:
            if hidden is not None:
                show_preferences(hidden)
            CURRENT.reset(token)


def bounded_next(  # noqa: PLR0913 - the read's facts
    setup: Setup,
    gen: Iterator[Any],
    state: AttemptState,
    limit: float | None,
    kind: str,
    release: Callable[[], None],
    orphan: Callable[[], None],
    lane: Lane | None,
    renew: Callable[[], None] | None = None,
) -> Any:
    """`next_item` on the stream's `lane`, waited for at most `limit` seconds (real time).

    `renew`: a probe's first read renews the probe's claim before `limit` could lapse it.

    Without a lane the read runs here. Past the limit, or when the wait itself is
    interrupted (Ctrl-C), the read is abandoned: `orphan()` tells the caller the
    generator and the slot are no longer its to close or give back; when the read
    really returns, the generator is closed (on its lane) and `release` gives the
    slot back. Past the limit, `AttemptTimeoutError` is raised.
    """
    if lane is None:
        return next_item(gen, state)
    job = Job(functools.partial(next_item, gen, state))
    lane.submit(job)
    try:
        if _wait(job, limit, renew):
            return job.result()
    except BaseException:
        if _abandon(setup, job, gen, state, release, lane):
            orphan()
        raise
    if _abandon(setup, job, gen, state, release, lane):
        orphan()
        raise AttemptTimeoutError(state[0], limit or 0.0, kind)
    return job.result()  # it ended just now


def _wait(job: Job, limit: float | None, renew: Callable[[], None] | None) -> bool:
    """Wait for `job` at most `limit` seconds, calling `renew` three quarters in."""
    if renew is None or limit is None:
        return job.wait(limit)
    early = limit * RENEW_AT
    if job.wait(early):
        return True
    renew()
    return job.wait(limit - early)


def _abandon(
    setup: Setup,
    job: Job,
    gen: Iterator[Any],
    state: AttemptState,
    release: Callable[[], None],
    lane: Lane,
) -> bool:
    """Give a read up; False when it ended meanwhile (then nothing changes)."""
    name = state[0]
    abandoned = setup.abandoned

    def on_end() -> None:  # on the lane's thread, as the read ends
        close_quietly(gen, state)
        lane.stop()
        if abandoned is not None:
            abandoned.release(name)
        release()

    if abandoned is not None:  # counted first: the read may end any moment now
        abandoned.force_acquire(name)
    if job.abandon(on_end):
        return True
    if abandoned is not None:
        abandoned.release(name)
    return False


def close_quietly(gen: Iterator[Any], state: AttemptState) -> None:
    with contextlib.suppress(Exception):  # an abandoned stream's cleanup raises nowhere
        close_gen(gen, state)


def close_on(lane: Lane | None, gen: Iterator[Any], state: AttemptState) -> None:
    """Close the generator on its lane (waiting for it), then give the lane back."""
    if lane is None:
        close_gen(gen, state)
        return
    job = Job(functools.partial(close_gen, gen, state))
    lane.submit(job)
    lane.stop()
    job.wait(None)
    job.result()


def reads_limited(setup: Setup) -> bool:
    """A stream's reads are time-limited (then they run on a lane, and may be abandoned)."""
    return not (
        setup.config.timeout is None
        and setup.config.attempt_timeout is None
        and setup.config.first_item_timeout is None
        and setup.config.idle_timeout is None
    )


def lane_for(setup: Setup) -> Lane | None:
    """A lane for one provider stream when reads are time-limited (else: read inline)."""
    return Lane(setup.workers) if reads_limited(setup) else None
