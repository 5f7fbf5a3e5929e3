"""OpenTelemetryHook: span trees, span events and metrics of routed calls (OpenTelemetry SDK)."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import threading
import warnings
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import fallback_router
from fallback_router import (
    AllProvidersFailedError,
    AttemptAbandoned,
    AttemptFailed,
    AttemptStarted,
    AttemptSucceeded,
    CallFailed,
    CallStarted,
    CallSucceeded,
    Event,
    ProviderSkipped,
    routed,
)
from fallback_router.otel import DURATION_BUCKETS, OpenTelemetryHook

SECRET_URL = "https://api.example.com/v1?key=sk-secret123"
REDACTED_FAILURE = "RuntimeError: GET https://api.example.com/v1?key=*** failed"
UNSET = ("UNSET", None)


# -- routed functions (module level: their events name them "generate", ...) -----------------


def generate(provider, prompt):
    return provider(prompt)


def stream(provider, prompt):
    yield from provider(prompt)


async def agenerate(provider, prompt):
    return await provider(prompt)


def broken(prompt):
    raise RuntimeError(f"GET {SECRET_URL} failed")


def serve(prompt):
    return f"served {prompt}"


async def abroken(prompt):
    await asyncio.sleep(0)  # a yield to the loop, so that tasks interleave
    raise RuntimeError(f"GET {SECRET_URL} failed")


async def aserve(prompt):
    await asyncio.sleep(0)
    return f"served {prompt}"


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def otel():
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    hook = OpenTelemetryHook(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield SimpleNamespace(
        exporter=exporter,
        reader=reader,
        hook=hook,
        tracer=tracer_provider.get_tracer("app"),
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    tracer_provider.shutdown()
    meter_provider.shutdown()


def node(span, spans) -> dict[str, Any]:
    """A finished span as a comparable dict, with its children (by attempt number)."""
    children = [
        s for s in spans if s.parent is not None and s.parent.span_id == span.context.span_id
    ]
    children.sort(key=lambda s: s.attributes.get("fallback_router.attempt", 0))
    assert all(c.context.trace_id == span.context.trace_id for c in children)
    return {
        "name": span.name,
        "attributes": dict(span.attributes),
        "status": (span.status.status_code.name, span.status.description),
        "events": [(e.name, dict(e.attributes)) for e in span.events],
        "children": [node(c, spans) for c in children],
    }


def trees(exporter) -> list[dict[str, Any]]:
    """The finished spans as trees; roots (no finished parent) in start order."""
    spans = exporter.get_finished_spans()
    ids = {s.context.span_id for s in spans}
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    roots.sort(key=lambda s: s.start_time)
    return [node(r, spans) for r in roots]


def attempt_attrs(provider, number, *, strategy="fallback", terminus=False, hedged=False):
    return {
        "fallback_router.provider": provider,
        "fallback_router.attempt": number,
        "fallback_router.strategy": strategy,
        "fallback_router.probe": False,
        "fallback_router.hedged": hedged,
        "fallback_router.is_terminus": terminus,
    }


def served(provider, number, **kwargs):
    """The tree of an attempt that served."""
    return {
        "name": f"attempt {provider}",
        "attributes": attempt_attrs(provider, number, **kwargs),
        "status": UNSET,
        "events": [],
        "children": [],
    }


def failed(provider, number, error_type, text, *, timed_out=False, counted=True, **kwargs):
    """The tree of an attempt that failed."""
    attributes = attempt_attrs(provider, number, **kwargs) | {
        "error.type": error_type,
        "fallback_router.timed_out": timed_out,
        "fallback_router.counted": counted,
        "fallback_router.fallback": True,
    }
    return {
        "name": f"attempt {provider}",
        "attributes": attributes,
        "status": ("ERROR", text),
        "events": [],
        "children": [],
    }


def abandoned(provider, number, reason, **kwargs):
    """The tree of an attempt given up without a verdict."""
    attributes = attempt_attrs(provider, number, **kwargs) | {"fallback_router.abandoned": reason}
    return {
        "name": f"attempt {provider}",
        "attributes": attributes,
        "status": UNSET,
        "events": [],
        "children": [],
    }


def call_tree(function, provider, number, children, events=(), strategy="fallback"):
    """The tree of a call that succeeded."""
    return {
        "name": f"route {function}",
        "attributes": {
            "fallback_router.function": function,
            "fallback_router.strategy": strategy,
            "fallback_router.provider": provider,
            "fallback_router.attempt": number,
        },
        "status": UNSET,
        "events": list(events),
        "children": children,
    }


def cooldown(provider, error_type, duration=60.0):
    return (
        "cooldown",
        {
            "fallback_router.provider": provider,
            "fallback_router.duration": duration,
            "error.type": error_type,
        },
    )


def metrics_of(reader) -> dict[str, Any]:
    """name -> Metric, after checking every metric comes from the `fallback_router` scope."""
    found = {}
    for resource in reader.get_metrics_data().resource_metrics:
        for scope in resource.scope_metrics:
            assert scope.scope.name == "fallback_router"
            assert scope.scope.version == fallback_router.__version__
            found.update({metric.name: metric for metric in scope.metrics})
    return found


def points(metric) -> dict[tuple[tuple[str, Any], ...], Any]:
    return {tuple(sorted(p.attributes.items())): p for p in metric.data.data_points}


# -- span trees --------------------------------------------------------------------------------


def test_a_fallback_is_a_call_span_with_a_failed_and_a_served_attempt(otel, clock):
    """A fails, b serves: one call span, two attempt spans, the error text redacted."""
    fn = routed(providers={"a": broken, "b": serve}, clock=clock, on_event=otel.hook)(generate)
    assert fn("cat") == "served cat"
    assert trees(otel.exporter) == [
        call_tree(
            "generate",
            "b",
            2,
            [
                failed("a", 1, "RuntimeError", REDACTED_FAILURE),
                served("b", 2, terminus=True),
            ],
            [cooldown("a", "RuntimeError")],
        )
    ]
    assert "sk-secret123" not in repr(otel.exporter.get_finished_spans()[0].to_json())
    assert otel.hook._calls == {}


def test_a_benched_provider_is_a_skip_event(otel, clock):
    """The next call passes the benched provider over: a `skip` event, one attempt span."""
    fn = routed(providers={"a": broken, "b": serve}, clock=clock, on_event=otel.hook)(generate)
    fn("first")
    otel.exporter.clear()
    clock.advance(15.0)
    fn("second")
    skip = {
        "fallback_router.provider": "a",
        "fallback_router.reason": "cooldown",
        "fallback_router.remaining": 45.0,
    }
    assert trees(otel.exporter) == [
        call_tree("generate", "b", 1, [served("b", 1, terminus=True)], [("skip", skip)])
    ]


def test_a_forced_terminus_is_an_event_and_a_failed_call_is_an_error(otel, clock):
    """Both benched: `skip` a, `terminus forced` b; the call span is ERROR with an `exception` event."""
    fn = routed(providers={"a": broken, "b": broken}, clock=clock, on_event=otel.hook)(generate)
    with pytest.raises(AllProvidersFailedError):
        fn("first")
    otel.exporter.clear()
    with pytest.raises(AllProvidersFailedError) as caught:
        fn("second")
    text = f"AllProvidersFailedError: {caught.value}"
    assert trees(otel.exporter) == [
        {
            "name": "route generate",
            "attributes": {
                "fallback_router.function": "generate",
                "fallback_router.strategy": "fallback",
                "error.type": "AllProvidersFailedError",
            },
            "status": ("ERROR", text),
            "events": [
                (
                    "skip",
                    {
                        "fallback_router.provider": "a",
                        "fallback_router.reason": "cooldown",
                        "fallback_router.remaining": 60.0,
                    },
                ),
                (
                    "terminus forced",
                    {"fallback_router.provider": "b", "fallback_router.remaining": 60.0},
                ),
                # no `cooldown` for b: its failure at the same instant leaves its cooldown as it is
                (
                    "exception",
                    {
                        "exception.type": "AllProvidersFailedError",
                        "exception.message": str(caught.value),
                    },
                ),
            ],
            "children": [failed("b", 1, "RuntimeError", REDACTED_FAILURE, terminus=True)],
        }
    ]


def test_an_attempt_timeout_is_a_timed_out_attempt_span(otel):
    """A provider hanging past `attempt_timeout=`: ERROR, AttemptTimeoutError, `timed_out`."""
    release = threading.Event()

    def hang(prompt):
        release.wait(10)
        return "late"

    fn = routed(providers={"a": hang, "b": serve}, attempt_timeout=0.05, on_event=otel.hook)(
        generate
    )
    try:
        assert fn("cat") == "served cat"
    finally:
        release.set()
    text = "AttemptTimeoutError: attempt timed out after 0.05 s on a"
    assert trees(otel.exporter) == [
        call_tree(
            "generate",
            "b",
            2,
            [
                failed("a", 1, "AttemptTimeoutError", text, timed_out=True),
                served("b", 2, terminus=True),
            ],
            [cooldown("a", "AttemptTimeoutError")],
        )
    ]


def test_a_stream_call_span_ends_with_the_stream(otel, clock):
    """A generator function: the attempt spans end at the first item, the call's at the end."""
    providers = {"a": broken, "b": lambda p: iter([p, "more"])}
    fn = routed(providers=providers, clock=clock, on_event=otel.hook)(stream)
    items = fn("first")
    assert next(items) == "first"
    assert [s.name for s in otel.exporter.get_finished_spans()] == ["attempt a", "attempt b"]
    assert list(items) == ["more"]
    assert trees(otel.exporter) == [
        call_tree(
            "stream",
            "b",
            2,
            [
                failed("a", 1, "RuntimeError", REDACTED_FAILURE),
                served("b", 2, terminus=True),
            ],
            [cooldown("a", "RuntimeError")],
        )
    ]


def test_round_robin_calls_carry_the_strategy(otel):
    """Two round-robin calls: one attempt span each, on a then b."""
    fn = routed(providers={"a": serve, "b": serve}, strategy="round_robin", on_event=otel.hook)(
        generate
    )
    fn("one")
    fn("two")
    on_a = served("a", 1, strategy="round_robin")
    on_b = served("b", 1, strategy="round_robin", terminus=True)
    assert trees(otel.exporter) == [
        call_tree("generate", "a", 1, [on_a], strategy="round_robin"),
        call_tree("generate", "b", 1, [on_b], strategy="round_robin"),
    ]


def test_a_call_nests_under_the_application_span(otel):
    """The call span's parent is the span current where the call is made."""
    fn = routed(providers={"a": serve}, on_event=otel.hook)(generate)
    with otel.tracer.start_as_current_span("GET /images") as request:
        fn("cat")
    spans = {s.name: s for s in otel.exporter.get_finished_spans()}
    assert spans["route generate"].parent.span_id == request.get_span_context().span_id
    assert spans["attempt a"].parent.span_id == spans["route generate"].context.span_id
    assert trees(otel.exporter) == [
        {
            "name": "GET /images",
            "attributes": {},
            "status": UNSET,
            "events": [],
            "children": [call_tree("generate", "a", 1, [served("a", 1, terminus=True)])],
        }
    ]


def test_a_hedged_call_has_a_hedge_event_and_an_abandoned_attempt(otel):
    """`hedge_after=`, the first provider slow: a `hedge` event; the loser is abandoned."""
    release = threading.Event()

    def slow(prompt):
        release.wait(10)
        return "late"

    fn = routed(providers={"a": slow, "b": serve}, hedge_after=0.01, on_event=otel.hook)(generate)
    try:
        assert fn("cat") == "served cat"
    finally:
        release.set()
    hedge = ("hedge", {"fallback_router.provider": "b", "fallback_router.reason": "hedge_after"})
    assert trees(otel.exporter) == [
        call_tree(
            "generate",
            "b",
            2,
            [abandoned("a", 1, "hedge lost"), served("b", 2, terminus=True, hedged=True)],
            [hedge],
        )
    ]
    assert otel.hook._calls == {}


def test_an_async_hedged_call_has_the_same_tree(otel):
    """The same with `async def`: the losing task is cancelled and its span abandoned."""

    async def slow(prompt):
        await asyncio.Event().wait()

    fn = routed(providers={"a": slow, "b": aserve}, hedge_after=0.01, on_event=otel.hook)(agenerate)
    assert asyncio.run(fn("cat")) == "served cat"
    hedge = ("hedge", {"fallback_router.provider": "b", "fallback_router.reason": "hedge_after"})
    assert trees(otel.exporter) == [
        call_tree(
            "agenerate",
            "b",
            2,
            [abandoned("a", 1, "hedge lost"), served("b", 2, terminus=True, hedged=True)],
            [hedge],
        )
    ]


def test_a_cancelled_async_call_ends_its_spans(otel):
    """A task cancelled while its attempts run: the attempts abandoned, the call span ERROR."""

    async def main():
        running = asyncio.Event()

        async def hang(prompt):
            running.set()
            await asyncio.Event().wait()

        fn = routed(providers={"a": hang, "b": hang}, hedge_after=60.0, on_event=otel.hook)(
            agenerate
        )
        task = asyncio.create_task(fn("cat"))
        await running.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (tree,) = trees(otel.exporter)
    assert tree["status"][0] == "ERROR"
    assert tree["attributes"]["error.type"] == "CancelledError"
    assert tree["children"] == [abandoned("a", 1, "call ended")]
    assert otel.hook._calls == {}


# -- concurrency -------------------------------------------------------------------------------


def expected_call():
    return call_tree(
        "generate",
        "b",
        2,
        [
            failed("a", 1, "RuntimeError", REDACTED_FAILURE, counted=False),
            served("b", 2, terminus=True),
        ],
    )


def test_sixteen_threads_at_once_keep_their_spans_apart(otel):
    """16 threads x 10 calls: each call span holds exactly its own two attempts."""
    fn = routed(providers={"a": broken, "b": serve}, cooldown=None, on_event=otel.hook)(generate)
    barrier = threading.Barrier(16)
    errors = []

    def worker(i):
        try:
            barrier.wait()
            for j in range(10):
                with otel.tracer.start_as_current_span(f"request {i}.{j}"):
                    assert fn(f"{i}.{j}") == f"served {i}.{j}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    forest = trees(otel.exporter)
    assert sorted(t["name"] for t in forest) == sorted(
        f"request {i}.{j}" for i in range(16) for j in range(10)
    )
    call = expected_call()
    assert all(t["children"] == [call] for t in forest)
    assert len(otel.exporter.get_finished_spans()) == 16 * 10 * 4
    assert otel.hook._calls == {}


def test_a_hundred_asyncio_tasks_at_once_keep_their_spans_apart(otel):
    """100 interleaved tasks: each call span under its task's span, with its own attempts."""
    fn = routed(providers={"a": abroken, "b": aserve}, cooldown=None, on_event=otel.hook)(agenerate)

    async def one(i):
        with otel.tracer.start_as_current_span(f"request {i}"):
            assert await fn(str(i)) == f"served {i}"

    async def main():
        await asyncio.gather(*(one(i) for i in range(100)))

    asyncio.run(main())
    forest = trees(otel.exporter)
    assert sorted(t["name"] for t in forest) == sorted(f"request {i}" for i in range(100))
    call = expected_call()
    call["name"] = "route agenerate"
    call["attributes"]["fallback_router.function"] = "agenerate"
    assert all(t["children"] == [call] for t in forest)
    assert len(otel.exporter.get_finished_spans()) == 100 * 4
    assert otel.hook._calls == {}


# -- metrics -----------------------------------------------------------------------------------


def test_metrics_names_units_attributes_and_values(otel, clock):
    """Attempt durations by provider and outcome; skips by provider and reason; cooldowns."""

    def slow_broken(prompt):
        clock.advance(0.25)
        raise RuntimeError("down")

    def slow_serve(prompt):
        clock.advance(0.5)
        return "ok"

    fn = routed(providers={"a": slow_broken, "b": slow_serve}, clock=clock, on_event=otel.hook)(
        generate
    )
    fn("one")
    fn("two")  # a is benched: skipped
    fn("three")  # and again
    found = metrics_of(otel.reader)
    assert set(found) == {
        "fallback_router.attempt.duration",
        "fallback_router.skips",
        "fallback_router.cooldowns",
    }
    duration = found["fallback_router.attempt.duration"]
    assert duration.unit == "s"
    by = points(duration)
    a_failed = (("fallback_router.outcome", "failure"), ("fallback_router.provider", "a"))
    b_served = (("fallback_router.outcome", "success"), ("fallback_router.provider", "b"))
    assert set(by) == {a_failed, b_served}
    assert (by[a_failed].count, by[a_failed].sum) == (1, 0.25)
    assert (by[b_served].count, by[b_served].sum) == (3, 1.5)
    assert tuple(by[b_served].explicit_bounds) == DURATION_BUCKETS
    skips = found["fallback_router.skips"]
    assert skips.unit == "{skip}"
    assert skips.data.is_monotonic
    assert {k: p.value for k, p in points(skips).items()} == {
        (("fallback_router.provider", "a"), ("fallback_router.reason", "cooldown")): 2
    }
    cooldowns = found["fallback_router.cooldowns"]
    assert cooldowns.unit == "{cooldown}"
    assert {k: p.value for k, p in points(cooldowns).items()} == {
        (("fallback_router.provider", "a"),): 1
    }


# -- the hook's own state ----------------------------------------------------------------------


def ev(cls: type[Event], call_id: int, **fields: Any) -> Event:
    return cls(function="f", call_id=call_id, **fields)


def started(call_id, provider, number, **fields):
    return ev(
        AttemptStarted, call_id, provider=provider, attempt=number, is_terminus=False, **fields
    )


def test_attempts_still_open_when_a_call_closes_are_ended(otel):
    """In the documented order, and without an AttemptAbandoned: no span is left open."""
    hook = otel.hook
    hook(ev(CallStarted, 1, strategy="fallback"))
    hook(started(1, "a", 1))
    hook(started(1, "b", 2, hedged=True))
    hook(ev(AttemptSucceeded, 1, provider="b", attempt=2, latency=0.1))
    hook(ev(AttemptAbandoned, 1, provider="a", attempt=1, reason="hedge lost"))
    hook(ev(CallSucceeded, 1, provider="b", attempt=2, elapsed=0.2))
    hook(ev(CallStarted, 2, strategy="fallback"))
    hook(started(2, "a", 1))
    hook(ev(CallFailed, 2, error=KeyboardInterrupt(), attempts=(), error_text="KeyboardInterrupt"))
    hook(ev(AttemptAbandoned, 2, provider="a", attempt=1, reason="call ended"))  # late: ignored
    first, second = trees(otel.exporter)
    assert [c["attributes"].get("fallback_router.abandoned") for c in first["children"]] == [
        "hedge lost",
        None,
    ]
    assert second["children"] == [abandoned("a", 1, "call ended")]
    assert second["events"] == [
        ("exception", {"exception.type": "KeyboardInterrupt", "exception.message": ""})
    ]
    assert hook._calls == {}


def test_open_calls_are_bounded(otel):
    """Past `max_open_calls` the oldest call's spans are ended as evicted; a reused id too."""
    hook = OpenTelemetryHook(otel.tracer_provider, otel.meter_provider, max_open_calls=2)
    hook(ev(CallStarted, 1, strategy="fallback"))
    hook(started(1, "a", 1))
    hook(ev(CallStarted, 2, strategy="fallback"))
    hook(ev(CallStarted, 3, strategy="fallback"))  # evicts call 1
    assert list(hook._calls) == [2, 3]
    hook(ev(AttemptSucceeded, 1, provider="a", attempt=1, latency=0.1))  # ignored
    hook(started(1, "a", 2))  # ignored
    hook(ev(CallStarted, 3, strategy="round_robin"))  # the same id again: the old one ends
    assert list(hook._calls) == [2, 3]
    evicted = [
        (
            s.name,
            s.attributes.get("fallback_router.strategy"),
            s.attributes["fallback_router.abandoned"],
        )
        for s in otel.exporter.get_finished_spans()
    ]
    assert evicted == [
        ("attempt a", "fallback", "evicted"),
        ("route f", "fallback", "evicted"),
        ("route f", "fallback", "evicted"),
    ]


def test_a_call_evicted_while_its_attempt_starts_leaves_no_span_open(otel):
    """Another thread evicts the call between the attempt span's start and its recording."""
    hook = OpenTelemetryHook(otel.tracer_provider, otel.meter_provider, max_open_calls=1)
    tracer = hook._tracer

    class Racing:
        def start_span(self, name, *args, **kwargs):
            span = tracer.start_span(name, *args, **kwargs)
            if name == "attempt a":
                hook(ev(CallStarted, 2, strategy="fallback"))  # evicts call 1 meanwhile
            return span

    hook._tracer = Racing()
    hook(ev(CallStarted, 1, strategy="fallback"))
    hook(started(1, "a", 1))
    ended = [
        (s.name, s.attributes.get("fallback_router.abandoned"))
        for s in otel.exporter.get_finished_spans()
    ]
    assert ended == [("route f", "evicted"), ("attempt a", None)]
    assert list(hook._calls) == [2]


def test_prebuilt_metric_attributes_are_bounded(otel):
    """Skips of 2,000 distinct providers: every one counted, the attribute cache bounded."""
    for i in range(2000):
        otel.hook(ev(ProviderSkipped, 0, provider=f"p{i}", remaining=1.0, reason="cooldown"))
    assert len(otel.hook._labels) <= 1024
    assert len(points(metrics_of(otel.reader)["fallback_router.skips"])) == 2000


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "10"])
def test_max_open_calls_is_validated(bad):
    """`max_open_calls` must be an int >= 1."""
    with pytest.raises(ValueError, match="max_open_calls must be an int >= 1"):
        OpenTelemetryHook(max_open_calls=bad)


def test_the_hook_never_raises_into_the_router(otel, logs):
    """A failing tracer: the call succeeds, no RuntimeWarning, one error log per event."""

    class Broken:
        def start_span(self, *args, **kwargs):
            raise RuntimeError("exporter down")

    otel.hook._tracer = Broken()
    fn = routed(providers={"a": serve}, on_event=otel.hook)(generate)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fn("cat") == "served cat"
    assert logs.messages("ERROR") == [
        "OpenTelemetry hook failed; event ignored: RuntimeError: exporter down"
    ]


def test_events_of_unknown_calls_and_types_are_ignored(otel):
    """Events of a call the hook never saw start, and other event types, make no span."""
    otel.hook(started(99, "a", 1))
    otel.hook(ev(AttemptAbandoned, 99, provider="a", attempt=1, reason="hedge lost"))
    failure = {"error": ValueError(), "latency": 0.0, "counted": False, "fallback": True}
    otel.hook(ev(AttemptFailed, 99, provider="a", attempt=1, **failure))
    otel.hook(ev(ProviderSkipped, 99, provider="a", remaining=1.0, reason="cooldown"))
    otel.hook(ev(CallSucceeded, 99, provider="a", attempt=1, elapsed=0.0))
    otel.hook(ev(CallFailed, 99, error=ValueError(), attempts=()))
    otel.hook(Event(function="f", call_id=99))
    assert otel.exporter.get_finished_spans() == ()
    assert otel.hook._calls == {}


def test_a_sampled_out_call_is_not_tracked_but_measured(otel):
    """A call span the sampler drops: no spans, nothing held open, the metrics still recorded."""
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    hook = OpenTelemetryHook(tracer_provider, otel.meter_provider)
    fn = routed(providers={"a": broken, "b": serve}, on_event=hook)(generate)
    assert fn("cat") == "served cat"
    assert exporter.get_finished_spans() == ()
    assert hook._calls == {}
    duration = metrics_of(otel.reader)["fallback_router.attempt.duration"]
    assert sorted(p.count for p in duration.data.data_points) == [1, 1]


def test_the_global_providers_are_the_default():
    """Without providers the hook uses the global ones (no-op until the application sets them)."""
    fn = routed(providers={"a": broken, "b": serve}, on_event=OpenTelemetryHook())(generate)
    assert fn("cat") == "served cat"


# -- importing ---------------------------------------------------------------------------------


def test_importing_fallback_router_does_not_import_opentelemetry():
    """Only `fallback_router.otel` imports OpenTelemetry."""
    code = (
        "import sys, fallback_router; "
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_missing_opentelemetry_names_the_extra(monkeypatch):
    """Without OpenTelemetry, importing the module says which extra to install."""
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    monkeypatch.delitem(sys.modules, "fallback_router.otel")
    with pytest.raises(ImportError, match=r"pip install 'fallback-router\[otel\]'") as caught:
        importlib.import_module("fallback_router.otel")
    assert caught.value.name == "opentelemetry"


# -- the router's event contract the hook relies on --------------------------------------------


def test_a_hedged_call_ends_with_its_call_event():
    """Every call's last event is CallSucceeded or CallFailed, also when a hedge lost."""
    release = threading.Event()
    events = []

    def slow(prompt):
        release.wait(10)

    fn = routed(providers={"a": slow, "b": serve}, hedge_after=0.01, on_event=events.append)(
        generate
    )
    try:
        fn("cat")
    finally:
        release.set()
    assert [type(e).__name__ for e in events][-2:] == ["AttemptAbandoned", "CallSucceeded"]


def test_a_base_exception_on_the_happy_path_closes_the_call():
    """A KeyboardInterrupt in the first attempt abandons it and ends the call with CallFailed."""
    events = []

    def interrupted(prompt):
        raise KeyboardInterrupt

    fn = routed(providers={"a": interrupted, "b": serve}, on_event=events.append)(generate)
    with pytest.raises(KeyboardInterrupt):
        fn("cat")
    assert [type(e).__name__ for e in events] == [
        "CallStarted",
        "AttemptStarted",
        "AttemptAbandoned",
        "CallFailed",
    ]
