"""Waits on sync workers: real time (`real_now`, `GRACE`) and abandoned probes (`keep_probe`).

An abandoned attempt keeps its probe: other calls go on skipping the provider ("probe in
flight") instead of piling onto it, and the probe is released when the attempt ends,
at most the tracker's `probe_ttl` after the call gave up.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

from fallback_router._engine.call import CallState

__all__ = ["GRACE", "RENEW_AT", "keep_probe", "real_now"]

#: Real elapsed time for waits on worker threads: a frozen or injected clock (freezegun
#: patches `time.monotonic`) must not stretch a limit. CLOCK_MONOTONIC where it exists.
real_now = (
    functools.partial(time.clock_gettime, time.CLOCK_MONOTONIC)
    if hasattr(time, "clock_gettime")
    else time.perf_counter
)

#: Seconds past a limit that a sync driver still waits for the attempt's own outcome.
GRACE = 0.005

#: A probe attempt's claim lapses with its call's budget (the claim's ttl): it is
#: renewed this far into the attempt's limit, before it can lapse.
RENEW_AT = 0.75


def keep_probe(call: CallState, name: str) -> Callable[[], None]:
    """An abandoned attempt keeps `name`'s probe: renew the claim; return its release.

    The claim is renewed for the tracker's `probe_ttl` (30 s by default) from now, so
    no other call probes the provider while this attempt still runs; the release
    (run when the attempt ends) gives it back unless a verdict ended the probe first
    or the hold lapsed meanwhile (then another call may hold a new claim).
    """
    caps = call.setup.caps
    assert caps is not None  # noqa: S101 - a probe implies a tracker's capabilities
    call.probes.discard(name)  # no longer the call's to give back when it ends
    call.held.add(name)
    if caps.hold_probe is not None:
        caps.hold_probe(name)
    lapses = call.clock() + caps.probe_hold
    end_probe = caps.end_probe

    def release() -> None:
        if name in call.held:
            call.held.discard(name)
            if end_probe is not None and call.clock() < lapses:
                end_probe(name)

    return release
