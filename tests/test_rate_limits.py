"""Proactive rate limits (DESIGN §6 rate_limits=): RateLimit, in-memory and Redis limiters."""

from __future__ import annotations

import math
import multiprocessing
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fallback_router._errors import InvalidConfigError
from fallback_router._redis.ratelimit import RedisRateLimiter
from fallback_router._state.ratelimit import InMemoryRateLimiter, RateLimit, RateLimiter

from .conftest import FakeClock, free_port

SUPPORT = str(Path(__file__).parent / "support")
EXPECTED = (
    '"N/s", "N/min", "N/h" (or "N/5s", ...; N a positive int), "N tokens/min", a RateLimit '
    "or a TokenLimit"
)


# -- RateLimit and its specs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("20/s", RateLimit(20, 1.0)),
        ("20/sec", RateLimit(20, 1.0)),
        ("1/second", RateLimit(1, 1.0)),
        ("600/min", RateLimit(600, 60.0)),
        ("600/m", RateLimit(600, 60.0)),
        ("1000/h", RateLimit(1000, 3600.0)),
        ("1000/hour", RateLimit(1000, 3600.0)),
        ("5/10s", RateLimit(5, 10.0)),
        ("3/2min", RateLimit(3, 120.0)),
        (" 7 / S ", RateLimit(7, 1.0)),
    ],
)
def test_specs_parse(spec, expected):
    """Each documented spec reads as a bucket of N refilled over its period."""
    assert RateLimit.parse(spec) == expected


def test_a_rate_limit_parses_as_itself():
    """A RateLimit passes through parse unchanged."""
    limit = RateLimit(3, 0.5)
    assert RateLimit.parse(limit) is limit
    assert limit.rate == 6.0


@pytest.mark.parametrize(
    "spec",
    ["0/s", "-1/s", "1.5/s", "5/1.5s", "5/0s", "5/d", "5", "/s", "s", "", "5/s/s", "٣/s", 5, None],
)
def test_invalid_specs_name_the_value(spec):
    """Zero, negatives, fractions, unknown units and non-strings are refused by name."""
    with pytest.raises(InvalidConfigError) as info:
        RateLimit.parse(spec)
    assert str(info.value) == f"rate limit must be {EXPECTED}, got {spec!r}"


@pytest.mark.parametrize(
    ("spec", "named"),
    [(f"{2**53 + 1}/s", "9007199254740993"), ("1" + "0" * 5000 + "/min", "10000")],
)
def test_specs_beyond_2_53_are_invalid_config_naming_the_value(spec, named):
    """ "9007199254740993/s" and a 5,001-digit count: InvalidConfigError naming the value
    (never OverflowError or Python's digit-limit ValueError)."""
    with pytest.raises(InvalidConfigError) as info:
        RateLimit.parse(spec)
    assert type(info.value) is InvalidConfigError
    assert named in str(info.value)


REQUESTS = "RateLimit requests must be a finite number > 0 and <= 2**53"
PER = "RateLimit per must be a finite number of seconds > 0 and <= 2**53"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 1.0), f"{REQUESTS}, got 0"),
        ((True, 1.0), f"{REQUESTS}, got True"),
        ((-2.5, 1.0), f"{REQUESTS}, got -2.5"),
        (("2", 1.0), f"{REQUESTS}, got '2'"),
        ((math.nan, 1.0), f"{REQUESTS}, got nan"),
        ((math.inf, 1.0), f"{REQUESTS}, got inf"),
        ((2**53 + 1, 1.0), f"{REQUESTS}, got {2**53 + 1}"),
        ((10**400, 1), f"{REQUESTS}, got 1{'0' * 36}... (401 characters)"),
        ((10**5000, 1), f"{REQUESTS}, got an int of 5001 digits"),
        ((5, 0), f"{PER}, got 0"),
        ((5, -1.0), f"{PER}, got -1.0"),
        ((5, math.inf), f"{PER}, got inf"),
        ((5, math.nan), f"{PER}, got nan"),
        ((5, "1"), f"{PER}, got '1'"),
        ((5, 2.0**53 * 2), f"{PER}, got {2.0**54!r}"),
        ((5, 10**400), f"{PER}, got 1{'0' * 36}... (401 characters)"),
    ],
)
def test_rate_limit_fields_are_validated(args, message):
    """RateLimit(requests, per) refuses what is not a bucket, naming the value: an
    InvalidConfigError, never an OverflowError (10**400) or a ValueError (10**5000)."""
    with pytest.raises(InvalidConfigError) as info:
        RateLimit(*args)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("limit", "text"),
    [
        (RateLimit(20, 1), "20/s"),
        (RateLimit(600, 60), "600/min"),
        (RateLimit(9, 3600.0), "9/h"),
        (RateLimit(5, 10), "5/10s"),
    ],
)
def test_str_reads_back(limit, text):
    """str(RateLimit) is a spec that parses back to the same limit."""
    assert str(limit) == text
    assert RateLimit.parse(text) == limit


@pytest.mark.parametrize(
    "build", [InMemoryRateLimiter, lambda limits: RedisRateLimiter(dead_client(), limits)]
)
def test_limiter_errors_name_the_key_and_value(build):
    """A bad limit is reported with its provider name and value, not a bare ValueError."""
    with pytest.raises(InvalidConfigError) as info:
        build({"gpt": "20/s", "claude": "fast"})
    assert str(info.value) == f"rate_limits['claude'] must be {EXPECTED}, got 'fast'"
    with pytest.raises(
        InvalidConfigError, match=r"^rate_limits keys must be provider names, got 1$"
    ):
        build({1: "5/s"})
    with pytest.raises(
        InvalidConfigError,
        match=r"^rate_limits must be a mapping of provider name to limit, got \['5/s'\]$",
    ):
        build(["5/s"])


def test_other_options_are_validated():
    """clock, namespace, op_timeout and backoff are checked when the limiter is built."""
    with pytest.raises(
        InvalidConfigError, match=r"^clock must be a zero-argument callable or None, got 5$"
    ):
        InMemoryRateLimiter({}, clock=5)
    with pytest.raises(InvalidConfigError, match=r"^namespace must be a non-empty str, got ''$"):
        RedisRateLimiter(dead_client(), {}, namespace="")
    with pytest.raises(InvalidConfigError, match=r"^op_timeout must be"):
        RedisRateLimiter(dead_client(), {}, op_timeout=0)
    with pytest.raises(InvalidConfigError, match=r"^backoff must be"):
        RedisRateLimiter(dead_client(), {}, backoff=-1)
    with pytest.raises(InvalidConfigError, match=r"^client must be a redis.Redis"):
        RedisRateLimiter(object(), {})


# -- in-memory bucket arithmetic on a fake clock ------------------------------------------------


def test_burst_then_refusal_then_exact_refill(clock):
    """4/s: four at once, then none; each 0.25 s brings exactly one more."""
    limiter = InMemoryRateLimiter({"gpt": "4/s"}, clock=clock)
    assert [limiter.try_acquire("gpt") for _ in range(5)] == [True] * 4 + [False]
    assert limiter.tokens("gpt") == 0.0
    assert limiter.wait_time("gpt") == 0.25
    clock.advance(0.125)
    assert limiter.tokens("gpt") == 0.5
    assert limiter.wait_time("gpt") == 0.125
    assert limiter.try_acquire("gpt") is False
    clock.advance(0.125)
    assert limiter.wait_time("gpt") == 0.0
    assert [limiter.try_acquire("gpt") for _ in range(2)] == [True, False]
    clock.advance(0.5)
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True, True, False]


def test_refill_stops_at_capacity(clock):
    """An idle hour fills the bucket to its capacity, no further."""
    limiter = InMemoryRateLimiter({"gpt": RateLimit(3, 1.0)}, clock=clock)
    assert limiter.try_acquire("gpt")
    clock.advance(3600)
    assert limiter.tokens("gpt") == 3.0
    assert [limiter.try_acquire("gpt") for _ in range(4)] == [True] * 3 + [False]


def test_refill_never_falls_short_by_rounding(clock):
    """After exactly wait_time seconds a token is there, whatever the float rounding."""
    limiter = InMemoryRateLimiter({"gpt": "3/s"}, clock=clock)
    for _ in range(50):
        while limiter.try_acquire("gpt"):
            pass
        clock.advance(limiter.wait_time("gpt"))
        assert limiter.try_acquire("gpt")


def test_refund_is_capped(clock):
    """A refund gives one token back, never beyond the capacity."""
    limiter = InMemoryRateLimiter({"gpt": "2/min"}, clock=clock)
    assert limiter.try_acquire("gpt")
    assert limiter.try_acquire("gpt")
    limiter.refund("gpt")
    assert limiter.tokens("gpt") == 1.0
    limiter.refund("gpt")
    limiter.refund("gpt")
    assert limiter.tokens("gpt") == 2.0
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True, True, False]


def test_a_clock_stepping_back_adds_nothing(clock):
    """A backwards step keeps the tokens, gives no negative wait, and refill resumes."""
    limiter = InMemoryRateLimiter({"gpt": "4/s"}, clock=clock)
    assert limiter.tokens("gpt") == 4.0
    clock.step_back(100)
    assert limiter.tokens("gpt") == 4.0
    assert [limiter.try_acquire("gpt") for _ in range(5)] == [True] * 4 + [False]
    clock.step_back(50)
    assert limiter.tokens("gpt") == 0.0
    assert limiter.wait_time("gpt") == 0.25
    clock.advance(0.25)
    assert [limiter.try_acquire("gpt") for _ in range(2)] == [True, False]
    clock.advance(1000)
    assert limiter.tokens("gpt") == 4.0


def test_unlimited_names_always_pass(clock):
    """Names without a limit: always a token, no wait, no count, refunds ignored."""
    limiter = InMemoryRateLimiter({"gpt": "1/h"}, clock=clock)
    assert all(limiter.try_acquire("claude") for _ in range(1000))
    limiter.refund("claude")
    assert limiter.wait_time("claude") == 0.0
    assert limiter.tokens("claude") is None
    assert limiter.limited("claude") is False
    assert limiter.limited("gpt") is True


def test_each_name_has_its_own_bucket(clock):
    """Emptying one provider's bucket leaves the others' alone."""
    limiter = InMemoryRateLimiter({"a": "1/s", "b": "2/s"}, clock=clock)
    assert [limiter.try_acquire("a") for _ in range(2)] == [True, False]
    assert [limiter.try_acquire("b") for _ in range(3)] == [True, True, False]


def test_default_clock_is_looked_up_at_call_time(frozen):
    """freezegun reaches the default clock (time.monotonic is not bound at construction)."""
    limiter = InMemoryRateLimiter({"gpt": "2/s"})
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True, True, False]
    assert limiter.wait_time("gpt") == 0.5
    frozen.tick(0.5)
    assert [limiter.try_acquire("gpt") for _ in range(2)] == [True, False]


def test_limiters_satisfy_the_protocol(dead_port):
    """Both limiters are RateLimiters; only the Redis one blocks."""
    memory = InMemoryRateLimiter({"gpt": "1/s"})
    redis_limiter = RedisRateLimiter(dead_client(dead_port), {"gpt": "1/s"})
    assert isinstance(memory, RateLimiter)
    assert isinstance(redis_limiter, RateLimiter)
    assert memory.blocking is False
    assert redis_limiter.blocking is True
    assert memory.limits == redis_limiter.limits == {"gpt": (RateLimit(1, 1.0),)}
    assert repr(memory) == "InMemoryRateLimiter({'gpt': '1/s'})"
    assert repr(redis_limiter) == "RedisRateLimiter({'gpt': '1/s'}, namespace='default')"


# -- the same contract in memory and on Redis ----------------------------------------------


class Harness:
    """Builds limiters of one kind and moves their time forward."""

    def __init__(self, kind: str, client: Any = None) -> None:
        self.kind = kind
        self.client = client
        self.clock = FakeClock()
        self.built: list[Any] = []

    def make(self, limits: dict[str, Any], **options: Any) -> Any:
        if self.kind == "memory":
            limiter: Any = InMemoryRateLimiter(limits, clock=self.clock)
        else:
            limiter = RedisRateLimiter(self.client, limits, op_timeout=2.0, **options)
        self.built.append(limiter)
        return limiter

    def advance(self, seconds: float) -> None:
        """Fake clock in memory; on Redis, the buckets' timestamps move back instead."""
        if seconds < 0:
            self.clock.step_back(-seconds)
        else:
            self.clock.advance(seconds)
        if self.kind == "redis":
            for limiter in self.built:
                for name in limiter.limits:
                    key = limiter.key(name)
                    if self.client.exists(key):
                        self.client.hincrbyfloat(key, "ts", -seconds * 1e6)


@pytest.fixture(params=["memory", "redis"])
def harness(request) -> Iterator[Harness]:
    if request.param == "memory":
        yield Harness("memory")
        return
    harness = Harness("redis", request.getfixturevalue("redis_client"))
    yield harness
    for limiter in harness.built:  # the local fallback was never used: Redis answered
        assert all(
            limiter.local.tokens(n) == lims[0].requests for n, lims in limiter.limits.items()
        )


def test_contract_burst_refusal_and_refill(harness):
    """4/min: four at once, then refused; 15 s later exactly one more."""
    limiter = harness.make({"gpt": "4/min"})
    assert [limiter.try_acquire("gpt") for _ in range(5)] == [True] * 4 + [False]
    assert limiter.tokens("gpt") == pytest.approx(0.0, abs=0.05)
    harness.advance(15)
    assert limiter.tokens("gpt") == pytest.approx(1.0, abs=0.05)
    assert [limiter.try_acquire("gpt") for _ in range(2)] == [True, False]
    harness.advance(3600)
    assert limiter.tokens("gpt") == 4.0
    assert [limiter.try_acquire("gpt") for _ in range(5)] == [True] * 4 + [False]


def test_contract_wait_time(harness):
    """wait_time is 0 while a token is there, then the time to the next one."""
    limiter = harness.make({"gpt": "2/min"})
    assert limiter.wait_time("gpt") == 0.0
    assert limiter.try_acquire("gpt")
    assert limiter.wait_time("gpt") == 0.0
    assert limiter.try_acquire("gpt")
    assert limiter.wait_time("gpt") == pytest.approx(30.0, abs=1.0)
    harness.advance(20)
    assert limiter.wait_time("gpt") == pytest.approx(10.0, abs=1.0)
    assert limiter.try_acquire("gpt") is False
    harness.advance(10)
    assert limiter.wait_time("gpt") == 0.0


def test_contract_refund_is_capped(harness):
    """A refund gives a token back; refunds never exceed the capacity."""
    limiter = harness.make({"gpt": "2/h"})
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True, True, False]
    limiter.refund("gpt")
    assert limiter.tokens("gpt") == pytest.approx(1.0, abs=0.01)
    for _ in range(5):
        limiter.refund("gpt")
    assert limiter.tokens("gpt") == 2.0
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True, True, False]


def test_contract_no_wait_while_more_than_one_token_is_there(harness):
    """4/min, three taken, 7.5 s later: 1.5 tokens, so no wait (zero, never negative)."""
    limiter = harness.make({"gpt": "4/min"})
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True] * 3
    harness.advance(7.5)
    assert limiter.tokens("gpt") == pytest.approx(1.5, abs=0.05)
    assert limiter.wait_time("gpt") == 0.0


def test_contract_clock_stepping_back(harness):
    """A clock stepping back an hour neither drains nor fills the bucket; refill resumes."""
    limiter = harness.make({"gpt": "4/min"})
    assert [limiter.try_acquire("gpt") for _ in range(2)] == [True, True]
    harness.advance(-3600)  # on Redis: the bucket's timestamp lies an hour ahead
    assert limiter.tokens("gpt") == pytest.approx(2.0, abs=0.05)
    assert limiter.wait_time("gpt") == 0.0
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True, True, False]
    assert limiter.wait_time("gpt") == pytest.approx(15.0, abs=1.0)
    harness.advance(15)
    assert [limiter.try_acquire("gpt") for _ in range(2)] == [True, False]


def test_contract_unlimited_and_separate_names(harness):
    """Unlimited names always pass; each limited name has its own bucket."""
    limiter = harness.make({"a": "1/h", "b": "2/h"})
    assert [limiter.try_acquire("a") for _ in range(2)] == [True, False]
    assert [limiter.try_acquire("b") for _ in range(3)] == [True, True, False]
    assert all(limiter.try_acquire("c") for _ in range(50))
    assert limiter.wait_time("c") == 0.0
    assert limiter.tokens("c") is None
    assert (limiter.limited("a"), limiter.limited("c")) == (True, False)


def test_contract_sixteen_threads_take_exactly_the_capacity(harness):
    """16 threads hammering a bucket of 100 with no refill get exactly 100 tokens."""
    limiter = harness.make({"gpt": "100/h"})  # Redis time runs: 100/h adds < 1 in 36 s
    barrier = threading.Barrier(16)
    counts: list[int] = []

    def hammer() -> None:
        barrier.wait()
        counts.append(sum(limiter.try_acquire("gpt") for _ in range(20)))

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 100
    assert len(counts) == 16


def test_sixteen_threads_on_a_frozen_clock_get_exactly_the_capacity(clock):
    """In memory, on a frozen clock, 16 threads x 50 attempts: exactly 100 succeed."""
    limiter = InMemoryRateLimiter({"gpt": "100/s"}, clock=clock)
    barrier = threading.Barrier(16)
    counts: list[int] = []

    def hammer() -> None:
        barrier.wait()
        counts.append(sum(limiter.try_acquire("gpt") for _ in range(50)))

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 100


# -- Redis specifics ---------------------------------------------------------------------


def test_redis_keys_live_outside_the_cooldown_namespace(redis_client):
    """Buckets are fallback_router-rate:{ns}:<name> hashes expiring after a full refill."""
    limiter = RedisRateLimiter(redis_client, {"gpt": "20/s", "a:b{c}*": "1/min"})
    assert limiter.try_acquire("gpt")
    assert limiter.try_acquire("a:b{c}*")
    assert limiter.try_acquire("unlimited")
    assert sorted(k.decode() for k in redis_client.keys("*")) == [
        "fallback_router-rate:{default}:a%3Ab%7Bc%7D%2A",
        "fallback_router-rate:{default}:gpt",
    ]
    assert redis_client.keys("fallback_router:*") == []
    assert 1000 < redis_client.pttl("fallback_router-rate:{default}:gpt") <= 2000
    assert 60_000 < redis_client.pttl("fallback_router-rate:{default}:a%3Ab%7Bc%7D%2A") <= 61_000
    fields = redis_client.hgetall("fallback_router-rate:{default}:gpt")
    assert set(fields) == {b"t", b"ts", b"c", b"r"}  # c, r: for the command line
    assert float(fields[b"t"]) == pytest.approx(19.0, abs=0.5)


def test_redis_buckets_are_counted_on_the_servers_clock_in_microseconds(redis_client):
    """A bucket's `ts` is the server's TIME in microseconds when it was counted: it lies
    between two TIMEs read just before and just after the take."""
    limiter = RedisRateLimiter(redis_client, {"gpt": "20/s"}, op_timeout=2.0)

    def micros() -> int:
        seconds, microseconds = redis_client.time()
        return seconds * 1_000_000 + microseconds

    before = micros()
    assert limiter.try_acquire("gpt")
    after = micros()
    assert before <= float(redis_client.hget(limiter.key("gpt"), "ts")) <= after


def test_a_shared_redis_bucket_passes_a_provider_over_on_every_path(redis_client, path):
    """Routing with a RedisRateLimiter: a's 2 tokens a minute serve two calls, the third
    skips it as rate limited (b serves); async calls reach Redis off the loop."""
    clock = FakeClock()
    limits = RedisRateLimiter(
        redis_client, {"a": "2/min"}, namespace="routed", clock=clock, op_timeout=2.0
    )  # patient: a loaded machine must not make it fail open to a local bucket
    fn = path.routed(["a", "b"], rate_limits=limits, clock=clock)(lambda provider: provider)
    assert [fn(), fn()] == ["a", "a"]
    result = fn.route()
    assert (result.provider, result.skipped) == ("b", ("a",))
    # Empty but for the refill since (the server's clock: 1/30 token a second; a busy
    # machine may take seconds): far from a token.
    assert 0.0 <= limits.tokens("a") < 0.5


def test_redis_namespaces_separate_and_share(redis_client):
    """Limiters of one namespace share buckets; another namespace has its own."""
    one = RedisRateLimiter(redis_client, {"gpt": "2/h"}, namespace="team}a")
    same = RedisRateLimiter(redis_client, {"gpt": "2/h"}, namespace="team}a")
    other = RedisRateLimiter(redis_client, {"gpt": "2/h"}, namespace="team")
    assert one.try_acquire("gpt")
    assert same.try_acquire("gpt")
    assert one.try_acquire("gpt") is False
    assert other.try_acquire("gpt")
    assert one.key("gpt") == "fallback_router-rate:{team%7Da}:gpt"
    assert one.key("claude") is None


def test_redis_from_url(redis_server, redis_client):
    """RedisRateLimiter.from_url connects by URL and passes the options on."""
    limiter = RedisRateLimiter.from_url(redis_server.url, {"gpt": "1/h"}, namespace="url")
    assert [limiter.try_acquire("gpt") for _ in range(2)] == [True, False]
    assert redis_client.exists("fallback_router-rate:{url}:gpt")


@pytest.fixture
def dead_port() -> int:
    return free_port()


def dead_client(port: int | None = None) -> Any:
    """A deliberately patient client to a port where nothing listens."""
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    return redis.Redis(
        host="127.0.0.1",
        port=port or free_port(),
        socket_timeout=30,
        socket_connect_timeout=30,
        retry=Retry(ExponentialBackoff(cap=5), 10),
    )


def test_unreachable_redis_fails_open_with_local_limits_and_one_log(dead_port, logs):
    """Nothing listening: answers come from a local bucket, the outage is logged once."""
    clock = FakeClock()
    limiter = RedisRateLimiter(dead_client(dead_port), {"gpt": "2/min"}, clock=clock)
    assert [limiter.try_acquire("gpt") for _ in range(3)] == [True, True, False]
    assert limiter.wait_time("gpt") == 30.0
    assert limiter.tokens("gpt") == 0.0
    limiter.refund("gpt")
    assert limiter.tokens("gpt") == 1.0
    errors = logs.find("redis unavailable, failing open")
    assert len(errors) == 1
    assert "(rate_limit)" in errors[0]["message"]
    clock.advance(5.1)  # the back-off is over: Redis is asked again, still down, no new line
    assert limiter.try_acquire("gpt")
    assert limiter.try_acquire("gpt") is False
    assert len(logs.find("redis unavailable, failing open")) == 1


def test_while_redis_is_down_each_process_applies_the_full_limit_locally(redis_server, proxy, logs):
    """Documented fail-open: two limiters (two processes) share one bucket of 2 while Redis
    answers; while it is down each grants the full 2 from its own local bucket (N limiters
    may send up to N x the quota); once Redis is back they share the Redis bucket again."""
    import redis

    clock = FakeClock()
    namespace = f"fail-open-{free_port()}"

    def limiter() -> RedisRateLimiter:
        client = redis.Redis(host="127.0.0.1", port=proxy.port)
        return RedisRateLimiter(
            client, {"gpt": "2/h"}, namespace=namespace, op_timeout=1.0, backoff=5.0, clock=clock
        )

    one, two = limiter(), limiter()
    assert [one.try_acquire("gpt"), two.try_acquire("gpt"), one.try_acquire("gpt")] == [
        True,
        True,
        False,
    ]
    assert two.try_acquire("gpt") is False  # one shared bucket: 2 in all
    proxy.set("refuse")
    granted = [one.try_acquire("gpt") for _ in range(3)] + [
        two.try_acquire("gpt") for _ in range(3)
    ]
    assert granted == [True, True, False, True, True, False]  # 2 each: 2 x the quota
    assert len(logs.find("redis unavailable, failing open")) == 2  # once per limiter
    proxy.set("pass")
    clock.advance(5.1)  # the back-off is over: Redis is authoritative again
    assert one.try_acquire("gpt") is False
    assert two.try_acquire("gpt") is False


def test_unlimited_names_never_ask_redis(dead_port, logs):
    """Names without a limit cost no round trip (so an outage is not even noticed)."""
    limiter = RedisRateLimiter(dead_client(dead_port), {"gpt": "2/min"})
    assert limiter.try_acquire("claude")
    limiter.refund("claude")
    assert (limiter.wait_time("claude"), limiter.tokens("claude")) == (0.0, None)
    assert logs.records == []


# -- across processes ----------------------------------------------------------------------


@pytest.fixture
def spawn(monkeypatch) -> Any:
    monkeypatch.syspath_prepend(SUPPORT)
    return multiprocessing.get_context("spawn")


@pytest.mark.processes
def test_four_processes_share_one_bucket(redis_server, redis_client, spawn, real_redis_binary):
    """20/s over 4 processes for 1.5 s: at most 20 + 20 x elapsed in all, and >= 90 % of it."""
    from rate_workers import hammer

    start, out = spawn.Barrier(4), spawn.Queue()
    workers = [
        spawn.Process(target=hammer, args=(redis_server.url, "procs", "20/s", 1.5, start, out))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [w.exitcode for w in workers] == [0] * 4
    assert [local for *_, local in results] == [20.0] * 4  # none failed open
    total = sum(taken for taken, *_ in results)
    elapsed = max(last for _, _, last, _ in results) - min(first for _, first, _, _ in results)
    # Each process reads its first time before its first request and its last after
    # its last reply, so the server's own window lies inside [first, last]. The margin
    # of one token covers float rounding and the server clock's rate (NTP slewing).
    allowed = 20 + 20 * elapsed
    assert total <= allowed + 1
    assert total >= 0.9 * allowed
