"""How an attempt that ended turns into a verdict: tracker writes, records, the conclusion.

`Verdicts` is the base of [`CallState`][fallback_router._engine.call.CallState]: its
two steps run when the walk's attempt on `index` ended with `outcome`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from fallback_router._errors import AttemptTimeoutError

from .actions import Abandon, Failure, Io, Outcome
from .facts import CallFacts

__all__ = ["Verdicts"]


class Verdicts(CallFacts):
    """A call's facts, and the verdicts on its attempts."""

    __slots__ = ()

    def _succeeded(self, index: int, outcome: Outcome) -> Generator[Any, Any, Any]:
        """Record a success and conclude the call with its response."""
        setup = self.setup
        tracker, caps, planner = setup.tracker, setup.caps, setup.planner
        running = self.running.pop(index)
        name = self.names[index]
        latency = max(0.0, outcome.end - outcome.start)
        if tracker is not None and (running.probe or not self.clean):
            self.probes.discard(name)
            # A call that saw the provider available keeps a cooldown set since.
            keep = not (running.probe or running.forced)
            args: tuple[Any, ...] = (name,)
            if keep and caps is not None and caps.keeps_cooldown:
                args = (name, False)
            if caps is not None and caps.blocking:
                yield Io(tracker.record_success, args)
            else:
                tracker.record_success(*args)
        self.record.succeeded(name, running.number, latency, outcome.end)
        tabs = self.tabs
        if tabs:  # token quotas: the reservation settles from the usage
            quota = setup.quota
            assert quota is not None  # noqa: S101 - tabs imply a quota
            quota.succeeded(tabs.get(index), outcome.response, self.streamed, setup.buffer)
        if planner.tracks:
            planner.observed(name, latency)
        hedged = running.hedged
        if self.running:  # hedges that lost: abandoned before the call's last event
            self.note_losers()
            hedged = True
            yield Abandon("hedge lost")
        return self.done(outcome.response, index, running.number, latency, hedged)

    def _failed(self, index: int, outcome: Outcome) -> Generator[Any, Any, bool]:
        """Record a failure: True to fall back; raises an error that is no trigger."""
        setup = self.setup
        tracker, caps, recorder = setup.tracker, setup.caps, setup.recorder
        running = self.running.pop(index)
        name = self.names[index]
        error = outcome.error
        assert error is not None  # noqa: S101 - a failure
        latency = max(0.0, outcome.end - outcome.start)
        number = running.number
        fallback, counted, text = self.record.failed(
            name, number, len(self.names), index == self.terminus(), error, latency, outcome.end
        )
        tabs = self.tabs
        if tabs and index in tabs:
            tabs[index].judge(False)  # given back, unless the provider settled
        io = caps is not None and caps.blocking
        if counted:
            assert tracker is not None  # noqa: S101 - counted implies a tracker
            self.probes.discard(name)
            self.held.discard(name)  # the verdict ends a probe an abandoned attempt kept
            args = recorder.failure_args(name, error)
            record = tracker.record_failure
            duration = (yield Io(record, args)) if io else record(*args)
            if duration is True:  # a tracker of the 0.1 protocol
                duration = tracker.remaining(name)
            self.record.cooled(name, float(duration or 0.0), error, text)
        elif running.probe:
            self.probes.discard(name)
            end_probe = caps.end_probe if caps is not None else None
            if end_probe is not None:
                if io:
                    yield Io(end_probe, (name,))
                else:
                    end_probe(name)
        if not fallback:
            if self.running:
                yield Abandon("call ended")
            self.closed(error)
            raise error  # not a fallback trigger: unchanged, no context added
        self.failed(number, Failure(name, error, latency, counted, running.hedged, text))
        if isinstance(error, AttemptTimeoutError) and error.kind == "budget":
            self.timed_out = True
            return False
        return True
