"""Giving back what a candidate held before its attempt started (slot, token, budget unit).

Apart from the gates so that a call's facts can name it (`CallFacts.abort`)
without importing the gates, which build on those facts.
"""

from __future__ import annotations

from collections.abc import Sequence

from .setup import Setup

__all__ = ["release_held"]


def release_held(
    setup: Setup,
    names: Sequence[str],
    pending: tuple[int, bool, bool] | None,
    withdrawn: bool,
    tokens: int = 0,
) -> None:
    """Give back `pending`'s slot and token (`(index, slot, token)`) and a budget unit.

    `tokens`: the call's estimate, reserved with the token (token quotas).
    """
    if withdrawn and setup.budget is not None:  # the budget's unit: the attempt never ran
        setup.budget.refund()
    if pending is None:
        return
    index, slot, token = pending
    name = names[index]
    try:
        if token and setup.rates is not None:  # first: the slot's next holder finds it back
            if setup.quota is not None:
                setup.rates.refund(name, tokens)
            else:
                setup.rates.refund(name)
    finally:  # whatever the refund raises (a Ctrl-C mid round trip), the slot goes back
        if slot and setup.limiter is not None:
            setup.limiter.release(name)
