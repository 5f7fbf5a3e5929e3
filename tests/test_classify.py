"""Which failures count (DESIGN §5): status codes, http_status, default_cooldown_on, the
caller's own bugs, matchers; with real httpx, urllib and requests errors.
"""

from __future__ import annotations

import pytest
import requests

from fallback_router import (
    AllProvidersFailedError,
    InMemoryCooldown,
    InvalidConfigError,
    default_cooldown_on,
    http_status,
    http_status_of,
    routed,
)

from .support.web import endpoints, httpx_get, requests_get, urllib_get


class Response:
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        self.status_code = status_code
        self.headers = headers or {}


class SDKError(Exception):  # openai / anthropic style
    def __init__(self, status_code: int) -> None:
        super().__init__(status_code)
        self.status_code = status_code


class ClientError(Exception):  # httpx / requests style
    def __init__(self, status_code: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code)
        self.response = Response(status_code, headers)


class AiohttpStyle(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class UrllibStyle(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (SDKError(429), 429),
        (ClientError(503), 503),
        (AiohttpStyle(500), 500),
        (UrllibStyle(404), 404),
        (RuntimeError("no status"), None),
        (UrllibStyle(7), None),  # not an HTTP status
        (AiohttpStyle(True), None),  # bools are not statuses
    ],
)
def test_http_status_of_reads_the_usual_attributes(error, status):
    """The status is read from .status_code, .response.status_code, .status or .code."""
    assert http_status_of(error) == status


def test_status_of_is_the_deprecated_name_of_http_status_of():
    """The old name answers as http_status_of, warning each call that it goes in 0.4.0."""
    import fallback_router

    with pytest.warns(
        DeprecationWarning, match=r"status_of is deprecated .* 0\.4\.0; use http_status_of"
    ):
        assert fallback_router.status_of(SDKError(503)) == 503
    with pytest.warns(DeprecationWarning, match="status_of"):
        assert fallback_router.status_of(RuntimeError("no status")) is None
    assert "status_of" not in fallback_router.__all__
    assert "http_status_of" in fallback_router.__all__


def test_http_status_of_does_not_warn(recwarn):
    """The new name is quiet."""
    assert http_status_of(SDKError(429)) == 429
    assert [w for w in recwarn if issubclass(w.category, DeprecationWarning)] == []


def test_http_status_of_ignores_a_response_without_status():
    """A .response of None (requests without a response) gives no status."""
    error = RuntimeError()
    error.response = None  # type: ignore[attr-defined]
    assert http_status_of(error) is None


@pytest.mark.parametrize(("code", "counts"), [(99, False), (100, True), (599, True), (600, False)])
def test_status_codes_count_from_100_to_599(code, counts):
    """Only 100..599 is a status: 99 and 600 on .status_code are not."""
    from fallback_router import http_status_of

    class Failure(Exception):
        status_code = code

    assert (http_status_of(Failure()) == code) is counts


def test_http_status_predicate_matches_codes_and_ranges():
    """http_status(429, range(500, 600)) matches those statuses only."""
    predicate = http_status(429, range(500, 600))
    assert predicate(SDKError(429))
    assert predicate(ClientError(503))
    assert not predicate(ClientError(400))
    assert not predicate(RuntimeError())
    assert "429" in predicate.__name__


def test_http_status_boundaries_and_name():
    """Ranges may start at 100 and end at 599; the predicate is named after its codes."""
    predicate = http_status(range(100, 200), 599)
    assert predicate(SDKError(100))
    assert predicate(SDKError(599))
    assert not predicate(SDKError(200))
    assert predicate.__name__ == "http_status(range(100, 200), 599)"
    with pytest.raises(
        InvalidConfigError, match=r"^http_status\(\) needs at least one status code$"
    ):
        http_status()


@pytest.mark.parametrize(
    "bad",
    [(), (99,), (600,), ("429",), (True,), (range(90, 200),), (range(500, 601),)],
)
def test_http_status_rejects_bad_codes(bad):
    """Codes must be ints from 100 to 599 or ranges within, at least one; else named."""
    with pytest.raises(InvalidConfigError, match="http_status"):
        http_status(*bad)


# -- what counts for cooldown --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "counts"),
    [
        (400, False),
        (401, True),
        (403, True),
        (404, True),
        (408, True),
        (409, False),
        (422, False),
        (429, True),
        (500, True),
        (503, True),
        (None, True),
    ],
)
def test_default_cooldown_on_spares_callers_bad_requests(status, counts):
    """Default: everything counts except 4xx other than 401, 403, 404, 408, 429."""
    error = RuntimeError() if status is None else SDKError(status)
    assert default_cooldown_on(error) is counts


def test_a_4xx_falls_back_without_cooldown_and_says_so(clock, logs):
    """A 400 moves on to the next provider but does not bench the first."""
    tracker = InMemoryCooldown(60, clock=clock)

    def call(provider):
        if provider == "a":
            raise SDKError(400)
        return provider

    fn = routed(providers=["a", "b"], cooldown=tracker)(call)
    result = fn.route()
    assert result.provider == "b"
    assert result.attempts[0].counted is False
    assert tracker.snapshot() == {}
    [record] = logs.find("failure not counted for cooldown")
    assert record["extra"]["provider"] == "a"


class NoStatusResponse:
    """An HTTP response object without a status code (a streaming stub, say)."""


class ResponseError(Exception):
    def __init__(self) -> None:
        super().__init__("no status")
        self.response = NoStatusResponse()


def test_an_error_whose_response_has_no_status_code_is_counted_and_falls_back():
    """A .response without a status code: no status; the error falls back and counts."""
    assert http_status_of(ResponseError()) is None
    assert default_cooldown_on(ResponseError()) is True
    calls: list[str] = []

    def call(provider: str) -> str:
        calls.append(provider)
        if provider == "a":
            raise ResponseError
        return provider

    fn = routed(providers=["a", "b"])(call)
    assert fn() == "b"
    assert fn() == "b"
    assert calls == ["a", "b", "b"]  # counted: a was benched


def test_cooldown_on_http_status_limits_what_is_recorded(clock):
    """cooldown_on=http_status(429) records only rate limits."""
    tracker = InMemoryCooldown(60, clock=clock)
    errors = {"a": SDKError(500), "b": SDKError(429)}

    def call(provider):
        if provider in errors:
            raise errors[provider]
        return provider

    fn = routed(providers=["a", "b", "c"], cooldown=tracker, cooldown_on=http_status(429))(call)
    result = fn.route()
    assert [a.counted for a in result.attempts] == [False, True, False]
    assert set(tracker.snapshot()) == {"b"}


def test_cooldown_on_accepts_exception_types(clock):
    """cooldown_on may be a tuple of exception types."""
    fn = routed(providers=["a", "b"], cooldown_on=(KeyError,), clock=clock)(
        lambda p: (_ for _ in ()).throw(ValueError()) if p == "a" else p
    )
    assert fn.route().attempts[0].counted is False


def test_an_explicit_cooldown_on_replaces_the_default_entirely():
    """cooldown_on=Exception counts a TypeError too."""

    @routed(providers=["a", "b"], cooldown_on=Exception)
    def f(provider):
        raise TypeError("x")

    with pytest.raises(AllProvidersFailedError):
        f()
    assert set(f.router.tracker.snapshot()) == {"a", "b"}


@pytest.mark.parametrize(
    "bug",
    [
        TypeError,
        AttributeError,
        NameError,
        UnboundLocalError,
        AssertionError,
        ImportError,
        NotImplementedError,
    ],
)
def test_a_caller_bug_falls_back_but_benches_nobody(bug):
    """After f() fails on a, b, c with a bug, nothing is in cooldown; next call starts at a."""
    calls: list[str] = []

    @routed(providers=["a", "b", "c"])
    def f(provider):
        calls.append(provider)
        raise bug("oops")

    with pytest.raises(AllProvidersFailedError) as info:
        f()
    assert calls == ["a", "b", "c"]
    assert "looks like a bug in the routed function" in str(info.value)
    assert f.router.tracker.snapshot() == {}
    assert [a.counted for a in info.value.attempts] == [False, False, False]
    with pytest.raises(AllProvidersFailedError):
        f()
    assert calls[3:] == ["a", "b", "c"]


@pytest.mark.parametrize("bad", [int, dict, 5, "TypeError", (ValueError, int), (ValueError, "x")])
@pytest.mark.parametrize("argument", ["fallback_on", "cooldown_on"])
def test_matchers_reject_non_exceptions_when_decorating(argument, bad):
    """int, a non-exception class, or a tuple holding one: InvalidConfigError naming it."""
    with pytest.raises(InvalidConfigError, match=argument):
        routed(providers=["a"], **{argument: bad})


# -- real HTTP clients against a local server ----------------------------------------------


@pytest.mark.parametrize("get", [httpx_get, urllib_get, requests_get])
@pytest.mark.parametrize(
    ("status", "counts"),
    [(400, False), (401, True), (403, True), (404, True), (408, True), (422, False),
     (429, True), (500, True), (502, True), (503, True), (504, True)],
)  # fmt: skip
def test_default_classification_of_real_client_errors(web, get, status, counts):
    """Each client's real error carries its status and is classified as documented."""
    with pytest.raises(Exception) as info:
        get(f"{web}/status/{status}")
    assert http_status_of(info.value) == status
    assert default_cooldown_on(info.value) is counts


def test_http_status_predicate_on_real_errors(web):
    """cooldown_on=http_status(429, 503) matches real client errors."""
    predicate = http_status(429, 503)
    for get in (httpx_get, urllib_get, requests_get):
        with pytest.raises(Exception) as info:
            get(f"{web}/status/503")
        assert predicate(info.value)
        with pytest.raises(Exception) as info:
            get(f"{web}/status/500")
        assert not predicate(info.value)


def test_requests_caller_errors_fall_back_without_cooldown(web, web_server, clock):
    """A 400 moves on but does not bench; a 404 benches (the endpoint is gone)."""
    tracker = InMemoryCooldown(30, clock=clock)
    providers = endpoints(web, picky="/status/400", gone="/status/404", healthy="/ok")
    result = routed(providers=providers, cooldown=tracker)(requests_get).route()
    assert result.provider == "healthy"
    assert [a.counted for a in result.attempts] == [False, True, False]
    assert set(tracker.snapshot()) == {"gone"}
    assert isinstance(result.attempts[0].error, requests.HTTPError)
