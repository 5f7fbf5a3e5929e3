"""A half-open probe whose call gave up while its sync attempt still runs (`keep_probe`).

The attempt keeps the probe: other calls go on skipping the provider ("probe in
flight") instead of piling onto it, and the probe is released when the attempt ends,
at most the tracker's `probe_ttl` after the call gave up.
"""

from __future__ import annotations

from collections.abc import Callable

from ._engine.call import CallState

__all__ = ["RENEW_AT", "keep_probe"]

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
