"""Token quotas (DESIGN §6): `TokenLimit`, `estimate_tokens=`, reserve-then-settle from
`usage_of=` or `current_attempt().settle()`, mixed with request limits, in memory and
on a real Redis; `RateLimit(burst=)`.

Every scenario runs on both limiters (`quotas` fixture). In memory the limiter's
clock is a `FakeClock`; on Redis the buckets use the server's `TIME`, so a test that
needs time to pass moves the buckets' timestamps back instead (`Quotas.advance`).
Levels are compared with a margin of one token: Redis refills a little while the
test runs (1000 tokens/h is 0.28 tokens a second).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fallback_router import (
    AllProvidersFailedError,
    InMemoryRateLimiter,
    InvalidConfigError,
    RateLimit,
    RedisRateLimiter,
    Router,
    TokenLimit,
    current_attempt,
    routed,
)

from .support.helpers import FakeClock


class Quotas:
    """Builds limiters of one kind, reads their levels and moves their time forward."""

    def __init__(self, kind: str, client: Any = None) -> None:
        self.kind = kind
        self.client = client
        self.clock = FakeClock()
        self.built: list[Any] = []

    def make(self, limits: dict[str, Any]) -> Any:
        if self.kind == "memory":
            limiter: Any = InMemoryRateLimiter(limits, clock=self.clock)
        else:
            limiter = RedisRateLimiter(self.client, limits, op_timeout=2.0)
        self.built.append(limiter)
        return limiter

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        if self.kind == "redis":
            for limiter in self.built:
                for name in limiter.limits:
                    for key in limiter.keys(name):
                        if self.client.exists(key):
                            self.client.hincrbyfloat(key, "ts", -seconds * 1e6)


@pytest.fixture(params=["memory", "redis"])
def quotas(request) -> Iterator[Quotas]:
    if request.param == "memory":
        yield Quotas("memory")
        return
    made = Quotas("redis", request.getfixturevalue("redis_client"))
    yield made
    for limiter in made.built:  # the local fallback was never used: Redis answered
        for name in limiter.limits:
            assert all(level == lim.capacity for lim, level in limiter.local.levels(name))


def level(limiter: Any, name: str, which: int = -1) -> float:
    return limiter.levels(name)[which][1]


def settled(limiter: Any, name: str, expected: float) -> float:
    """The level once it is `expected` (±1), or after 10 s: an async call on Redis
    settles from a worker thread (never on the event loop), moments after it returns."""
    done = threading.Event()
    for _ in range(1000):
        found = level(limiter, name)
        if abs(found - expected) <= 1:
            break
        done.wait(0.01)
    return found


def usage(response: Any) -> int | None:
    """OpenAI-style: `response["usage"]["total_tokens"]`, None without usage."""
    found = response.get("usage") if isinstance(response, dict) else None
    return None if found is None else found["total_tokens"]


def answer(provider: str, used: int | None = 42) -> dict[str, Any]:
    if provider == "down":
        raise RuntimeError("down")
    return {
        "text": f"hi from {provider}",
        "usage": None if used is None else {"total_tokens": used},
    }


def router(limiter: Any, estimate: int = 100, **options: Any) -> Any:
    options.setdefault("usage_of", usage)
    return routed(
        providers=options.pop("providers", ["a", "spare"]),
        rate_limits=limiter,
        estimate_tokens=lambda *args, **kwargs: estimate,
        **options,
    )


# -- reserve, then settle -----------------------------------------------------------------


def test_a_success_settles_what_usage_of_reads(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    fn = router(limiter)(answer)
    assert fn.route().provider == "a"
    assert level(limiter, "a") == pytest.approx(1000 - 42, abs=1)


def test_the_reservation_stands_while_the_attempt_runs(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    seen: list[float] = []

    def provider(name: str) -> dict[str, Any]:
        seen.append(level(limiter, name))
        return answer(name, 10)

    router(limiter, estimate=300)(provider)()
    assert seen == [pytest.approx(700, abs=1)]
    assert level(limiter, "a") == pytest.approx(990, abs=1)


def test_a_success_without_a_count_keeps_the_estimate(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    router(limiter)(answer)(None)  # usage_of answers None
    assert level(limiter, "a") == pytest.approx(900, abs=1)


def test_settle_inside_the_provider_gives_the_count(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})

    def provider(name: str) -> str:
        info = current_attempt()
        assert info is not None
        info.settle(tokens=7)
        return name

    router(limiter, usage_of=None)(provider)()
    assert level(limiter, "a") == pytest.approx(993, abs=1)


def test_a_failure_gives_the_reservation_back_unless_settled(quotas):
    limiter = quotas.make({"a": "1000 tokens/h", "b": "1000 tokens/h"})

    def provider(name: str) -> str:
        if name == "b":
            current_attempt().settle(tokens=30)  # type: ignore[union-attr]
        raise RuntimeError(name)

    with pytest.raises(AllProvidersFailedError):
        router(limiter, providers=["a", "b"])(provider)()
    assert level(limiter, "a") == pytest.approx(1000, abs=1)
    assert level(limiter, "b") == pytest.approx(970, abs=1)


def test_usage_of_wins_over_settle_on_a_success(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})

    def provider(name: str) -> dict[str, Any]:
        current_attempt().settle(tokens=500)  # type: ignore[union-attr]
        return answer(name, 20)

    router(limiter)(provider)()
    assert level(limiter, "a") == pytest.approx(980, abs=1)


def test_an_async_call_settles_too(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})

    @router(limiter)
    async def fn(provider: str) -> dict[str, Any]:
        await asyncio.sleep(0)
        return answer(provider, 64)

    assert asyncio.run(fn())["text"] == "hi from a"
    assert settled(limiter, "a", 936) == pytest.approx(936, abs=1)


def chunks(provider: str):
    yield {"delta": "h"}
    yield {"delta": "i"}
    yield {"delta": "", "usage": {"total_tokens": 7}}  # OpenAI's include_usage chunk


async def achunks(provider: str):
    for chunk in chunks(provider):
        yield chunk


@pytest.mark.parametrize("failover", [None, "buffer"])
def test_a_stream_settles_from_its_last_chunk_when_it_ends(quotas, failover):
    limiter = quotas.make({"a": "1000 tokens/h"})
    stream = router(limiter, stream_failover=failover)(chunks)()
    assert next(stream) == {"delta": "h"}
    # Reserved until the end; a buffered stream was read to its end already.
    assert level(limiter, "a") == pytest.approx(900 if failover is None else 993, abs=1)
    assert len(list(stream)) == 2
    assert list(stream) == []  # asked again after the end: settled once
    assert level(limiter, "a") == pytest.approx(993, abs=1)


@pytest.mark.parametrize("failover", [None, "buffer"])
def test_an_async_stream_settles_from_its_last_chunk(quotas, failover):
    limiter = quotas.make({"a": "1000 tokens/h"})
    fn = router(limiter, stream_failover=failover)(achunks)

    async def main() -> None:
        result = await fn.route()
        assert len([chunk async for chunk in result.response]) == 3
        assert [chunk async for chunk in result.response] == []

    asyncio.run(main())
    assert settled(limiter, "a", 993) == pytest.approx(993, abs=1)


def test_a_stream_closed_early_keeps_its_reservation(quotas):
    """It delivered items, so it used tokens; without a count the estimate stands."""
    limiter = quotas.make({"a": "1000 tokens/h"})
    stream = router(limiter)(chunks)()
    next(stream)
    stream.close()
    assert level(limiter, "a") == pytest.approx(900, abs=1)


@pytest.mark.parametrize(
    ("reader", "warned"),
    [(lambda r: -1, True), (lambda r: "42", True), (lambda r: r["missing"], True)],
    ids=["negative", "text", "raises"],
)
def test_a_broken_usage_of_is_logged_and_the_estimate_stands(quotas, logs, reader, warned):
    limiter = quotas.make({"a": "1000 tokens/h"})
    assert router(limiter, usage_of=reader)(answer)()["text"] == "hi from a"
    assert level(limiter, "a") == pytest.approx(900, abs=1)
    assert bool(logs.find("usage_of ignored")) is warned


# -- room, debt and giving back -------------------------------------------------------------


def test_a_provider_without_room_is_passed_over_as_rate_limited(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    fn = router(limiter, estimate=600)(answer)
    assert fn.route(None).provider == "a"  # no count: 600 stay reserved, 400 left
    result = fn.route(None)
    assert (result.provider, result.skipped) == ("spare", ("a",))
    quotas.advance(720)  # 200 tokens more: room for 600
    assert fn.route(None).provider == "a"


def test_an_estimate_beyond_the_bucket_goes_when_it_is_full_then_leaves_debt(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    fn = router(limiter, estimate=5000)(answer)
    assert fn.route(None).provider == "a"  # a full bucket lets it through
    assert level(limiter, "a") == pytest.approx(-4000, abs=1)
    assert fn.route(None).provider == "spare"  # in debt: not before it is repaid
    quotas.advance(3600 * 5)  # 5000 tokens of refill: full again
    assert fn.route(None).provider == "a"


def test_a_settle_beyond_the_reservation_is_debt_repaid_by_the_refill(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    fn = router(limiter, estimate=0)(answer)
    assert fn.route(1500).provider == "a"  # an estimate of 0 needs one token of room
    assert level(limiter, "a") == pytest.approx(-500, abs=1)
    assert fn.route(1).provider == "spare"
    quotas.advance(1805)  # 501.4 tokens: out of debt, one token of room
    assert fn.route(1).provider == "a"


def test_an_estimate_of_0_needs_a_whole_token_of_room(quotas):
    """Half a token left is no room, even for an attempt that reserves nothing."""
    limiter = quotas.make({"a": "1000 tokens/h"})
    fn = router(limiter, estimate=0)(answer)
    assert fn.route(1500).provider == "a"
    assert level(limiter, "a") == pytest.approx(-500, abs=1)  # 500 tokens of debt
    quotas.advance(1801.8)  # 500.5 tokens of refill: half a token left
    assert level(limiter, "a") == pytest.approx(0.5, abs=0.01)
    assert fn.route(1).provider == "spare"
    quotas.advance(3.6)  # one token more: 1.5 left
    assert fn.route(1).provider == "a"


def test_a_give_back_to_a_refilled_bucket_leaves_it_at_its_capacity(quotas):
    """A refund or a settle never lifts a bucket above its capacity: on Redis the hash
    holds the capacity (not more) and lives on for the second a full bucket keeps."""
    limiter = quotas.make({"a": ["5/h", "1000 tokens/h"]})
    assert limiter.try_acquire("a", 300)
    quotas.advance(3600)  # refilled meanwhile: both buckets full again
    limiter.refund("a", 300)
    assert [lv for _, lv in limiter.levels("a")] == [pytest.approx(5), pytest.approx(1000)]
    assert limiter.try_acquire("a", 300)
    quotas.advance(3600)
    limiter.settle("a", 0, 300)  # 300 unused, into a full bucket
    assert level(limiter, "a") == pytest.approx(1000)
    if quotas.kind == "redis":
        for key, capacity in zip(limiter.keys("a"), (5, 1000), strict=True):
            assert float(quotas.client.hget(key, "t")) == pytest.approx(capacity)
            assert 0 < quotas.client.pttl(key) <= 1000


def test_a_bucket_in_debt_is_kept_on_redis_until_it_is_full_again(redis_client):
    """The key expires only once the refill has filled it (5 h for 5000 of 1000/h), so a
    bucket in debt is never forgotten early (5 s of margin for the test's own time)."""
    limiter = RedisRateLimiter(redis_client, {"a": "1000 tokens/h"}, op_timeout=2.0)
    assert limiter.try_acquire("a", 5000)  # a full bucket lets it through: 4000 in debt
    (key,) = limiter.keys("a")
    assert 5 * 3_600_000 - 5_000 < redis_client.pttl(key) <= 5 * 3_600_000 + 1_000


def test_a_cancelled_async_attempt_gives_its_reservation_back(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    started = asyncio.Event

    async def main() -> None:
        inside = started()

        @router(limiter, estimate=300)
        async def fn(provider: str) -> str:
            inside.set()
            await asyncio.sleep(3600)
            return provider

        task = asyncio.create_task(fn())
        await inside.wait()
        assert level(limiter, "a") == pytest.approx(700, abs=1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert settled(limiter, "a", 1000) == pytest.approx(1000, abs=1)


def test_ctrl_c_in_the_provider_gives_the_reservation_back(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})

    def provider(name: str) -> str:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        router(limiter, estimate=300)(provider)()
    assert level(limiter, "a") == pytest.approx(1000, abs=1)


def test_an_attempt_that_never_starts_gives_back_its_tokens(quotas):
    """The retry budget refuses the second attempt: its reservation goes back at once."""
    from fallback_router import RetryBudget

    limiter = quotas.make({"a": "1000 tokens/h", "b": "1000 tokens/h"})
    budget = RetryBudget(ratio=0.0, min_per_second=0.001)
    budget.withdraw()  # the budget starts with one unit: spend it
    fn = router(limiter, providers=["down", "b"], retry_budget=budget)(answer)
    with pytest.raises(AllProvidersFailedError):
        fn()
    assert level(limiter, "b") == pytest.approx(1000, abs=1)


def test_a_timed_out_sync_attempt_gives_back_when_it_really_ends(quotas):
    limiter = quotas.make({"a": "1000 tokens/h"})
    release = threading.Event()
    ended = threading.Event()

    def provider(name: str) -> str:
        if name == "a":
            release.wait(30)
            ended.set()
        return name

    fn = router(limiter, estimate=300, attempt_timeout=0.05, usage_of=None)(provider)
    assert fn() == "spare"
    assert level(limiter, "a") == pytest.approx(700, abs=1)  # it still runs: reserved
    release.set()
    assert ended.wait(30)
    for _ in range(3000):  # the worker gives back right after the provider returns
        if level(limiter, "a") > 999:
            break
        ended.wait(0.01)
    assert level(limiter, "a") == pytest.approx(1000, abs=1)  # judged a failure: given back


# -- mixed limits ---------------------------------------------------------------------------


def test_request_and_token_limits_bind_together_and_take_all_or_nothing(quotas):
    limiter = quotas.make({"a": ["4/h", "1000 tokens/h"], "b": ["1/h", "1000 tokens/h"]})
    fn = router(limiter, estimate=450, providers=["a", "spare"])(answer)
    assert [fn.route(None).provider for _ in range(3)] == ["a", "a", "spare"]
    # Tokens short (100 left, 450 needed), requests there: the request token stays.
    assert level(limiter, "a", 0) == pytest.approx(2, abs=0.01)
    assert level(limiter, "a", 1) == pytest.approx(100, abs=1)
    quotas.advance(1800)  # 500 tokens (and 2 requests) come back
    assert fn.route(None).provider == "a"
    # Requests short, tokens there: the tokens stay.
    fn = router(limiter, estimate=100, providers=["b", "spare"])(answer)
    assert [fn.route(None).provider for _ in range(2)] == ["b", "spare"]
    assert level(limiter, "b", 0) == pytest.approx(0, abs=0.01)
    assert level(limiter, "b", 1) == pytest.approx(900, abs=1)


def test_without_token_quotas_usage_of_and_the_estimate_are_never_read():
    reads: list[Any] = []

    def reader(response: Any) -> int:
        reads.append(response)
        return 1

    def estimate(*args: Any) -> int:
        reads.append(args)
        return 1

    routed(providers=["b"], usage_of=reader, estimate_tokens=estimate)(answer)()
    routed(providers=["b"], usage_of=reader, estimate_tokens=estimate, rate_limits={"b": "10/s"})(
        answer
    )()
    assert reads == []


def test_the_estimate_sees_the_call_arguments():
    seen: list[Any] = []
    limiter = InMemoryRateLimiter({"a": "1000 tokens/h"}, clock=FakeClock())

    def estimate(prompt: str, *, max_tokens: int) -> int:
        seen.append((prompt, max_tokens))
        return len(prompt) + max_tokens

    @routed(providers=["a"], rate_limits=limiter, estimate_tokens=estimate)
    def ask(provider: str, prompt: str, *, max_tokens: int) -> str:
        return prompt

    ask("hello", max_tokens=95)
    assert seen == [("hello", 95)]
    assert level(limiter, "a") == pytest.approx(900)


# -- burst= -------------------------------------------------------------------------------


def test_the_default_bucket_is_full_at_start(quotas):
    limiter = quotas.make({"a": "60/min"})
    fn = routed(providers=["a", "spare"], rate_limits=limiter)(lambda p: p)
    assert [fn() for _ in range(61)] == ["a"] * 60 + ["spare"]


def test_burst_one_spaces_calls_evenly(quotas):
    limiter = quotas.make({"a": RateLimit(60, 60.0, burst=1)})
    fn = routed(providers=["a", "spare"], rate_limits=limiter)(lambda p: p)
    assert [fn(), fn()] == ["a", "spare"]  # one at once, then one a second
    for _ in range(5):
        quotas.advance(0.5)
        assert fn() == "spare"
        quotas.advance(0.5)
        assert fn() == "a"
    quotas.advance(3600)
    assert [fn(), fn()] == ["a", "spare"]  # never more than one saved up


def test_burst_above_requests_saves_up_more(quotas):
    limiter = quotas.make({"a": RateLimit(1, 1.0, burst=3)})
    fn = routed(providers=["a", "spare"], rate_limits=limiter)(lambda p: p)
    assert [fn() for _ in range(4)] == ["a", "a", "a", "spare"]


# -- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: RateLimit(5, 1.0, burst=0), "burst"),
        (lambda: RateLimit(5, 1.0, burst=2**53 + 1), "burst"),
        (lambda: RateLimit(5, 1.0, burst=0.5), "burst"),
        (lambda: RateLimit(5, 1.0, burst=float("inf")), "burst"),
        (lambda: RateLimit(5, 1.0, burst=True), "burst"),  # type: ignore[arg-type]
        (lambda: RateLimit(5, 1.0, burst="2"), "burst"),  # type: ignore[arg-type]
        (lambda: TokenLimit(0, 60.0), "tokens"),
        (lambda: TokenLimit(-1.5, 60.0), "tokens"),
        (lambda: TokenLimit(float("nan"), 60.0), "tokens"),
        (lambda: TokenLimit(True, 60.0), "tokens"),
        (lambda: TokenLimit(2**53 + 1, 60.0), "tokens"),
        (lambda: TokenLimit(10, float("inf")), "per"),
        (lambda: TokenLimit(10, 0), "per"),
        (lambda: TokenLimit(10, float("nan")), "per"),
        (lambda: InMemoryRateLimiter({"a": []}), "at least one limit"),
        (lambda: InMemoryRateLimiter({"a": ["5/s", "0 tokens/min"]}), "rate_limits['a'][1]"),
        (lambda: InMemoryRateLimiter({"a": "5 tokens/fortnight"}), "rate_limits['a']"),
        (lambda: RateLimit.parse("5 tokens/min"), "token limit"),
    ],
)
def test_invalid_limits_are_refused_by_name(build, named):
    with pytest.raises(InvalidConfigError, match=r".") as info:
        build()
    assert named in str(info.value)


def test_limits_take_any_positive_finite_number(quotas):
    """DESIGN §6: counts are positive finite numbers (burst >= 1), not only ints.

    `TokenLimit(1e6, 60)` is a million tokens a minute; `RateLimit(0.5, 1.0)` one call
    every 2 s (below 1 the bucket still holds one call); the displays write whole
    numbers without a fraction. The same in memory and on Redis."""
    assert str(TokenLimit(1e6, 60)) == "1000000 tokens/min"
    assert str(RateLimit(2.0, 1.0)) == "2/s"
    assert str(RateLimit(0.5, 1.0)) == "0.5/s"
    assert str(RateLimit(10, 1.0, burst=2.5)) == "10/s (burst 2.5)"
    assert (TokenLimit(1e6, 60).capacity, RateLimit(0.5, 1.0).capacity) == (1_000_000, 1)
    limiter = quotas.make({"a": RateLimit(0.5, 1.0), "t": TokenLimit(1e6, 1e7)})  # slow refill
    assert limiter.try_acquire("a")
    assert not limiter.try_acquire("a")
    assert 1.9 < limiter.wait_time("a") <= 2.0
    quotas.advance(2.0)
    assert limiter.try_acquire("a")
    assert limiter.try_acquire("t", 999_999)
    assert not limiter.try_acquire("t", 2)


def test_specs_read_token_quotas():
    limiter = InMemoryRateLimiter({"a": ["500/min", "450000 tokens/min", "10 token/5s"]})
    assert limiter.limits["a"] == (
        RateLimit(500, 60.0),
        TokenLimit(450000, 60.0),
        TokenLimit(10, 5.0),
    )
    assert str(TokenLimit(450000, 60.0)) == "450000 tokens/min"
    assert str(RateLimit(60, 60.0, burst=1)) == "60/min (burst 1)"
    assert "450000 tokens/min" in repr(limiter)
    assert limiter.holds_tokens
    assert not InMemoryRateLimiter({"a": "5/s"}).holds_tokens


def test_estimate_tokens_must_be_callable_and_answer_a_count():
    with pytest.raises(InvalidConfigError, match="estimate_tokens must be a callable"):
        routed(providers=["a"], estimate_tokens=5)  # type: ignore[arg-type]
    fn = routed(providers=["a"], rate_limits={"a": "10 tokens/s"}, estimate_tokens=lambda: -1)(
        lambda p: p
    )
    with pytest.raises(InvalidConfigError, match=r"estimate_tokens\(\) result .* got -1"):
        fn()


def test_settle_refuses_a_bad_count():
    def provider(name: str) -> str:
        current_attempt().settle(tokens=-3)  # type: ignore[union-attr]
        return name

    limits = {"a": "10 tokens/s"}
    with pytest.raises(TypeError, match=r"settle\(tokens=\) .* got -3"):
        routed(providers=["a"], rate_limits=limits, fallback_on=RuntimeError)(provider)()
    assert routed(providers=["a"])(provider)() == "a"  # without token quotas: nothing to do


@pytest.mark.parametrize("bad", [-5, 1.5, None, "3", True, 2**54])
def test_a_bad_settle_is_the_callers_bug_and_benches_nobody(bad: object):
    """A bad count is a TypeError (a caller's bug, §5): the call falls back, uncounted."""

    def provider(name: str) -> str:
        if name == "a":
            current_attempt().settle(tokens=bad)  # type: ignore[union-attr,arg-type]
        return name

    router = Router(providers=["a", "b"], rate_limits={"a": "1000 tokens/min"})
    result = router(provider).route()
    assert result.provider == "b"
    assert isinstance(result.attempts[0].error, TypeError)
    assert not result.attempts[0].counted
    assert router.status()["a"].available


# -- every process shares one quota ---------------------------------------------------------


@pytest.fixture
def spawn(monkeypatch) -> Any:
    import multiprocessing
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parent / "support"))
    return multiprocessing.get_context("spawn")


@pytest.mark.processes
def test_three_processes_of_eight_threads_share_one_token_quota(
    redis_server, redis_client, spawn, real_redis_binary
):
    """20,000 tokens/h over 3 x 8 threads: settled <= quota + refill + one call's overshoot.

    The bound: a call starts only when the quota holds its estimate (100), and every
    call but one settles at most its estimate, so the quota never pays out more than
    its capacity plus its refill; the one call that reports 400 tokens more leaves the
    quota 400 in debt, and nothing starts until the refill repays it.
    """
    from rate_workers import token_hammer

    quota, overshoot = 20_000, 400
    start, out = spawn.Barrier(3), spawn.Queue()
    workers = [
        spawn.Process(
            target=token_hammer,
            args=(redis_server.url, "tokens", quota, 1.5, overshoot if i == 0 else 0, start, out),
        )
        for i in range(3)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0] * 3
    assert [local for *_, local in results] == [[float(quota)]] * 3  # none failed open
    settled = sum(r[0] for r in results)
    calls = sum(r[1] for r in results)
    elapsed = max(r[3] for r in results) - min(r[2] for r in results)
    refill = quota / 3600 * elapsed
    assert settled <= quota + refill + overshoot + 1
    # The quota was used up, not merely respected: at most every thread's reservation
    # (24 x 100) and the calls' unused estimates in flight at the end are missing.
    assert settled >= quota - 24 * 100
    assert calls >= quota // 100


def test_status_shows_request_tokens_and_quota_tokens(quotas):
    limiter = quotas.make({"a": ["5/h", "1000 tokens/h"], "b": "1000 tokens/h"})
    fn = router(limiter, providers=["a", "b", "spare"])(answer)
    fn(1300)  # 1200 beyond the estimate: a's quota is in debt
    status = fn.router.status()
    a, b, spare = status
    assert a.tokens == pytest.approx(4, abs=0.01)
    assert a.quota_tokens == pytest.approx(-300, abs=1)
    assert (b.tokens, b.quota_tokens) == (None, pytest.approx(1000, abs=1))
    assert (spare.tokens, spare.quota_tokens) == (None, None)
    assert a.to_dict()["quota_tokens"] == pytest.approx(-300, abs=1)
    assert "quota tokens" in str(status)
    assert "-300" in str(status) or "-299" in str(status)


def test_llm_options_settle_openai_usage_for_responses_and_streams(quotas):
    """The preset's `usage_of` reads `usage.total_tokens`, a stream's last usage chunk."""
    from types import SimpleNamespace

    from fallback_router import llm

    limiter = quotas.make({"a": ["500/min", "10000 tokens/h"]})

    def completion(tokens: int | None) -> Any:
        usage = None if tokens is None else SimpleNamespace(total_tokens=tokens)
        message = SimpleNamespace(content="hi", role="assistant")
        choice = SimpleNamespace(message=message, finish_reason="stop", index=0)
        return SimpleNamespace(choices=[choice], usage=usage)

    options = llm.options(rate_limits=limiter, estimate_tokens=lambda prompt: 1000)

    @routed(providers=["a"], **options)
    def chat(provider: str, prompt: str) -> Any:
        return completion(321)

    chat("hi")
    assert level(limiter, "a") == pytest.approx(10000 - 321, abs=1)

    def chunk(content: str, finish: str | None, tokens: int | None = None) -> Any:
        delta = SimpleNamespace(content=content, role="assistant")
        choices = (
            []
            if tokens is not None
            else [SimpleNamespace(delta=delta, finish_reason=finish, index=0)]
        )
        usage = None if tokens is None else SimpleNamespace(total_tokens=tokens)
        return SimpleNamespace(choices=choices, usage=usage)

    @routed(providers=["a"], **llm.options(True, rate_limits=limiter,
                                           estimate_tokens=lambda prompt: 1000))  # fmt: skip
    def stream(provider: str, prompt: str) -> Any:
        yield chunk("h", None)
        yield chunk("i", "stop")
        yield chunk("", None, tokens=79)  # include_usage: the last chunk, no choices

    assert "".join(llm.text(stream("hi"))) == "hi"
    assert level(limiter, "a") == pytest.approx(10000 - 321 - 79, abs=1)


def test_a_hedge_that_lost_gives_its_reservation_back(quotas):
    """Async hedging: the slow first attempt is cancelled when the hedge wins."""
    limiter = quotas.make({"a": "1000 tokens/h", "b": "1000 tokens/h"})

    async def main() -> str:
        @router(limiter, estimate=300, providers=["a", "b"], hedge_after=0.01, usage_of=None)
        async def fn(provider: str) -> str:
            if provider == "a":
                await asyncio.sleep(3600)
            return provider

        result = await fn.route()
        await asyncio.sleep(0)  # the loser's cancellation lands
        return result.provider

    assert asyncio.run(main()) == "b"
    assert settled(limiter, "a", 1000) == pytest.approx(1000, abs=1)  # the loser: given back
    assert level(limiter, "b") == pytest.approx(700, abs=1)  # the winner: the estimate


def test_a_wait_longer_than_the_platform_allows_waits_instead_of_crashing():
    """A token's wait beyond threading.TIMEOUT_MAX (a 2**40 s refill) waits, never overflows."""
    fn = routed(providers=["a"], rate_limits={"a": RateLimit(1, 2.0**40)}, cooldown=None)(
        lambda p: p
    )
    assert fn() == "a"
    errors: list[BaseException] = []
    entered = threading.Event()

    def second() -> None:
        entered.set()
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    threading.Thread(target=second, daemon=True).start()  # waits for ~35,000 years
    assert entered.wait(10)
    time.sleep(0.5)  # not a cooldown wait: time for an overflow to surface, if any
    assert errors == []


@pytest.mark.parametrize(
    "limit",
    [RateLimit(1, 2**53), RateLimit(0.5, 2**53), RateLimit(1e-300, 1.0), TokenLimit(1e-300, 1.0)],
    ids=["per-2**53", "half-per-2**53", "tiny-requests", "tiny-tokens"],
)
def test_a_bucket_that_refills_over_centuries_works_on_every_backend(quotas, limit):
    """The slowest valid limits (DESIGN §6: up to 2**53) take, refuse and report a wait
    in memory and on Redis alike (no expiry or wait the server rejects, no fail-open)."""
    limiter = quotas.make({"a": limit})
    assert limiter.try_acquire("a", 1)  # a request, or one token reserved
    assert not limiter.try_acquire("a", 1)
    assert limiter.wait_time("a", 1) > 10**6
