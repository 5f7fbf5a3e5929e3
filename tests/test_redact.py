"""Secrets in error text and kept errors (DESIGN §8b): `redact`, `Redactor`, `scrub`."""

from __future__ import annotations

import gc
import importlib.util
import pickle
import weakref
from typing import Self

import httpx
import openai
import pytest
import requests
from requests.structures import CaseInsensitiveDict

from fallback_router import http_status_of, retry_after_of
from fallback_router._redact import HTTPFacts, Redactor, redact, scrub

SECRET = "SECRET"
KEY = "sk-proj-abc123DEF456ghi789"

# The openai SDK may build on httpx or on its successor httpx2; build errors on both.
HTTP_MODULES = [httpx]
if importlib.util.find_spec("httpx2") is not None:
    HTTP_MODULES.append(importlib.import_module("httpx2"))


def assert_hidden(error: BaseException, *secrets: str) -> None:
    """No secret in the error's str, repr, pickle or attribute reprs."""
    texts = [str(error), repr(error), *(repr(v) for v in vars(error).values())]
    dumped = pickle.dumps(error, protocol=5)
    for secret in secrets:
        assert all(secret not in text for text in texts), texts
        assert secret.encode() not in dumped


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://x.io/v1?key=SECRET&alt=json", "https://x.io/v1?key=***&alt=json"),
        ("https://x.io/?alt=json&API_KEY=SECRET", "https://x.io/?alt=json&API_KEY=***"),
        ("https://x.io/?apikey=SECRET#top", "https://x.io/?apikey=***#top"),
        ("https://x.io/?api-key=SECRET", "https://x.io/?api-key=***"),
        ("https://x.io/?x-api-key=SECRET", "https://x.io/?x-api-key=***"),
        ("GET /a?token=SECRET HTTP/1.1", "GET /a?token=*** HTTP/1.1"),
        ("/a?b=1&access_token=SECRET&c=2", "/a?b=1&access_token=***&c=2"),
        ("/a?refresh_token=SECRET;c=2", "/a?refresh_token=***;c=2"),
        ("/a?id_token=SECRET", "/a?id_token=***"),
        ("/a?client_secret=SECRET", "/a?client_secret=***"),
        ("/a?sig=SECRET&Signature=SECRET", "/a?sig=***&Signature=***"),
        ("/a?X-Amz-Signature=SECRET&X-Amz-Date=1", "/a?X-Amz-Signature=***&X-Amz-Date=1"),
        ("/a?secret=SECRET&password=SECRET", "/a?secret=***&password=***"),
        ("'https://x.io/?key=SECRET'", "'https://x.io/?key=***'"),
        ("<a href=/?token=SECRET>", "<a href=/?token=***>"),
        ("/a?b=1&amp;token=SECRET", "/a?b=1&amp;token=***"),
        ("(https://x.io/?key=SECRET) failed", "(https://x.io/?key=***) failed"),
        ("(https://x.io/?key=SECRET, b)", "(https://x.io/?key=***, b)"),
        ("redis://h:1/0?password=SECRET: refused", "redis://h:1/0?password=***: refused"),
        ("/a?key=SEC:RET&b=1", "/a?key=***&b=1"),
    ],
)
def test_query_parameters(text, expected):
    """Credential-named query parameters lose their values, whatever their case."""
    assert redact(text) == expected


def test_query_parameters_percent_encoded():
    """A URL nested in another URL's query, percent-encoded, is redacted too."""
    text = "https://x.io/login?next=https%3A%2F%2Fy.io%2Fcb%3Fkey%3DSECRET%26a%3Db"
    assert redact(text) == "https://x.io/login?next=https%3A%2F%2Fy.io%2Fcb%3Fkey%3D***%26a%3Db"
    assert redact("%3Ftoken%3DSECRET%2Bx") == "%3Ftoken%3D***"


@pytest.mark.parametrize(
    "text",
    [
        "https://x.io/search?keyword=cats&monkey=1&turkey=2",
        "https://x.io/?max_tokens=5&author=bob&design=1",
        "https://x.io/?key=&token=",
        "the token expired, ask for a new token",
        "Invalid bearer token. Bearer tokens must be sent in a header.",
        '{"max_tokens": 5, "token_type": "bearer", "input_tokens": 3}',
        "x-ratelimit-remaining-tokens: 0",
        "task-force on disk-usage, sk-1",
        "Authorization:\nnext line",
        "https://host:8080/path?q=1",
        "",
    ],
)
def test_lookalikes_kept(text):
    """Text that only looks like a credential is left unchanged."""
    assert redact(text) == text


def test_userinfo_passwords():
    """Passwords in URL userinfo become `***`; the user name stays."""
    assert redact("https://bob:SECRET@x.io/a") == "https://bob:***@x.io/a"
    assert redact("redis://:SECRET@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("proxy http://u:p%40SECRET@proxy:3128") == "proxy http://u:***@proxy:3128"


@pytest.mark.parametrize(
    "name", ["Authorization", "proxy-authorization", "X-API-Key", "api-key", "x-goog-api-key"]
)
def test_header_lines(name):
    """A sensitive header line keeps its name and loses the rest of the line."""
    assert redact(f"{name}: Bearer SECRET\nAccept: */*") == f"{name}: ***\nAccept: */*"
    assert redact(f"sent {name}:SECRET") == f"sent {name}:***"


def test_quoted_headers():
    """Headers printed as dicts, tuples, httpx.Headers or CaseInsensitiveDict are redacted."""
    headers = {"Authorization": "Bearer SECRET", "x-api-key": "SECRET", "Accept": "json"}
    texts = [
        repr(headers),
        str(headers).replace("'", '"'),
        repr(list(headers.items())),
        repr([(k.lower().encode(), v.encode()) for k, v in headers.items()]),
        repr(httpx.Headers(headers)),
        repr(CaseInsensitiveDict(headers)),
        repr({"proxy-authorization": "Basic SECRET", "x-goog-api-key": "SECRET"}),
        repr({"api_key": "SECRET", "client_secret": "SECRET", "password": "SECRET"}),
    ]
    for text in texts:
        assert SECRET not in redact(text), text
    assert redact(repr(headers)) == "{'Authorization': '***', 'x-api-key': '***', 'Accept': 'json'}"
    assert redact("""{'authorization': "it's \\"SECRET\\""}""") == """{'authorization': "***"}"""


def test_bearer_tokens_anywhere():
    """`Bearer <token>` becomes `Bearer ***` wherever it appears."""
    assert redact("sent Bearer eyJhbGci.eyJzdWIi.SECRET== to x") == "sent Bearer *** to x"
    assert redact("auth=bearer SECRET") == "auth=bearer ***"


@pytest.mark.parametrize(
    "key",
    [
        "sk-SECRET123456",
        "sk-proj-abc_SECRET-xyz",
        "sk-ant-api03-SECRET",
        "sk-proj-abc1****************************************SECRET",
    ],
)
def test_openai_style_keys(key):
    """`sk-...` keys (the SDK's partly starred echo included) become `sk-***`."""
    assert redact(f"Incorrect API key provided: {key}. See docs.") == (
        "Incorrect API key provided: sk-***. See docs."
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("body api_key=abc123&model=m", "body api_key=***&model=m"),
        ("token = abc123, next", "token = ***, next"),
        ("Client(api_key='abc123', retries=2)", "Client(api_key='***', retries=2)"),
        ('password="p4ss word" ok', 'password="***" ok'),
        ("client_secret=abc;x=1", "client_secret=***;x=1"),
        ("auth=Bearer abc123", "auth=Bearer ***"),
        ('{"api_key": "abc123", "model": "m"}', '{"api_key": "***", "model": "m"}'),
        ('"{\\"api_key\\": \\"abc123\\"}"', '"{\\"api_key\\": \\"***\\"}"'),
        ('{"x-api-key":"abc123"}', '{"x-api-key":"***"}'),
        ("GET https://h.test/key/abc123/v1", "GET https://h.test/key/***/v1"),
        ("https://h.test/token/abc123?x=1", "https://h.test/token/***?x=1"),
        ("/v1/api_key/abc123", "/v1/api_key/***"),
        ("/SECRET/abc123", "/SECRET/***"),
    ],
)
def test_form_json_and_path_credentials(text, expected):
    """Form fields, keyword arguments, JSON fields (escaped too) and path segments."""
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens=100",
        "keyword=cats",
        "monkey=1",
        "https://h.test/keys/list",
        "https://h.test/auth/login",
        "https://h.test/v1/tokens/count",
        '{"key": "user_id"}',
        "x == y",
    ],
)
def test_form_json_and_path_rules_keep_ordinary_text(text):
    """Names that only resemble a credential are kept."""
    assert redact(text) == text


def test_google_api_keys():
    """Google API keys become `AIza***`."""
    assert redact("key AIzaSyA-1234567890abcdefghijklmnopqrstu!") == "key AIza***!"


def test_redact_never_raises():
    """Lone surrogates, control characters and a non-str value do not raise."""
    assert redact("\ud800?key=SECRET \udfff") == "\ud800?key=*** \udfff"
    assert redact("\x00Bearer SECRET\x7f") == "\x00Bearer ***\x7f"
    assert redact(b"Bearer SECRET") == "***"  # type: ignore[arg-type]


MB = 1_000_000


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    [
        "?" + "a_" * (MB // 2),
        "&a-a-a-a_a_a_a_" * (MB // 15),
        "?key=" + "%2" * (MB // 2),
        "://" + ":" * MB,
        "://a:b" * (MB // 6),
        "'authorization': '" + "\\" * MB,
        '"authorization": \'' * (MB // 18),
        "'a_" + "a_" * (MB // 2),
        "Authorization:" + " " * MB,
        "authorization " * (MB // 14),
        "Bearer " * (MB // 7),
        "Bearer" + "\t" * MB + "!",
        "sk-" + "*" * MB,
        "AIza" * (MB // 4),
        "b'" * (MB // 2),
        "?key='authorization': Bearer sk-://a:@\n" * (MB // 40),
    ],
)
def test_adversarial_input_is_fast(text):
    """A megabyte built to make backtracking patterns explode is redacted in time."""
    assert isinstance(redact(text), str)


def test_redactor_applies_extra_after_builtins():
    """The user callable sees the built-in result and has the last word."""
    seen: list[str] = []

    def extra(text: str) -> str:
        seen.append(text)
        return text.replace("acme", "<org>")

    redactor = Redactor(extra)
    assert redactor("acme ?key=SECRET") == "<org> ?key=***"
    assert seen == ["acme ?key=***"]
    assert Redactor()("acme ?key=SECRET") == "acme ?key=***"


def test_redactor_survives_a_bad_extra():
    """A raising or non-str-returning user callable leaves the built-in result."""

    def boom(text: str) -> str:
        raise ValueError(text)

    assert Redactor(boom)("Bearer SECRET") == "Bearer ***"
    assert Redactor(lambda text: None)("Bearer SECRET") == "Bearer ***"  # type: ignore[arg-type,return-value]


def test_error_text():
    """`error_text` gives `TypeName: message` redacted, robust to a raising `__str__`."""

    class Unprintable(Exception):
        def __str__(self) -> str:
            raise RuntimeError("SECRET")

    redactor = Redactor()
    assert redactor.error_text(ValueError("bad https://x.io/?key=SECRET")) == (
        "ValueError: bad https://x.io/?key=***"
    )
    assert redactor.error_text(KeyError()) == "KeyError"
    assert redactor.error_text(Unprintable()) == "Unprintable: <exception str() failed>"
    assert repr(redactor) == "Redactor(extra=None)"


def httpx_status_error() -> httpx.HTTPStatusError:
    url = "https://api.example.com/v1/models?key=SECRET&alt=json"
    headers = {"Authorization": "Bearer SECRET", "x-api-key": "SECRET"}
    request = httpx.Request("GET", url, headers=headers)
    response = httpx.Response(429, request=request, headers={"Retry-After": "7"})
    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as error:
        return error
    raise AssertionError  # pragma: no cover


def test_scrub_httpx_status_error():
    """A real httpx.HTTPStatusError loses its secrets; status and Retry-After stay readable."""
    error = httpx_status_error()
    copy = scrub(error, Redactor())
    assert type(copy) is httpx.HTTPStatusError
    assert_hidden(copy, SECRET)
    assert "key=***" in str(copy)
    assert copy.__traceback__ is None
    assert copy.__cause__ is None
    assert copy.__context__ is None
    assert http_status_of(copy) == 429
    assert retry_after_of(copy) == 7.0
    assert isinstance(copy.response, HTTPFacts)
    assert copy.response.reason_phrase == "Too Many Requests"
    assert copy.response.reason == "Too Many Requests"
    assert copy.request.method == "GET"
    assert copy.request.headers["authorization"] == "***"
    assert copy.request.headers["x-api-key"] == "***"
    assert copy.request.url == "https://api.example.com/v1/models?key=***&alt=json"
    assert error.request.headers["Authorization"] == "Bearer SECRET"  # the original is unchanged


def test_scrub_requests_http_error():
    """A real requests.HTTPError loses its secrets and still pickles both ways."""
    response = requests.Response()
    response.status_code = 503
    response.reason = "Service Unavailable"
    response.url = "https://x.io/v1?token=SECRET"
    response.headers["Retry-After"] = "5"
    response.request = requests.Request(
        "POST", response.url, headers={"Authorization": "Bearer SECRET"}, json={"a": 1}
    ).prepare()
    with pytest.raises(requests.HTTPError) as caught:
        response.raise_for_status()
    copy = scrub(caught.value, Redactor())
    assert type(copy) is requests.HTTPError
    assert_hidden(copy, SECRET)
    assert str(copy) == "503 Server Error: Service Unavailable for url: https://x.io/v1?token=***"
    assert http_status_of(copy) == 503
    assert retry_after_of(copy) == 5.0
    assert copy.response.reason == "Service Unavailable"
    assert copy.request.headers["authorization"] == "***"
    again = pickle.loads(pickle.dumps(copy, protocol=5))
    assert http_status_of(again) == 503
    assert retry_after_of(again) == 5.0


def openai_error(http, cls, status: int, headers: dict[str, str]):
    """Build the error as the SDK's `_make_status_error_from_response` does."""
    request = http.Request(
        "POST",
        "https://api.openai.com/v1/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    message = f"Incorrect API key provided: {KEY[:8]}{'*' * 20}{KEY[-4:]}. Use {KEY}."
    body = {"error": {"message": message, "type": "invalid_request_error", "code": "bad"}}
    response = http.Response(status, request=request, headers=headers, json=body)
    return cls(f"Error code: {status} - {message}", response=response, body=body["error"])


@pytest.mark.parametrize("http", HTTP_MODULES, ids=lambda m: m.__name__)
def test_scrub_openai_errors(http):
    """openai's RateLimitError and AuthenticationError lose the echoed key and the header."""
    headers = {"x-ratelimit-reset-requests": "6m0s", "x-request-id": "req_1"}
    limited = scrub(openai_error(http, openai.RateLimitError, 429, headers), Redactor())
    assert type(limited) is openai.RateLimitError
    assert_hidden(limited, KEY, KEY[8:-4], KEY[-4:])
    assert http_status_of(limited) == 429
    assert retry_after_of(limited) == 360.0
    assert limited.request_id == "req_1"
    assert limited.body["type"] == "invalid_request_error"
    assert "sk-***" in limited.body["message"]
    denied = scrub(openai_error(http, openai.AuthenticationError, 401, {}), Redactor())
    assert type(denied) is openai.AuthenticationError
    assert_hidden(denied, KEY, KEY[8:-4])
    assert http_status_of(denied) == 401
    assert retry_after_of(denied) is None
    assert str(denied) == "Error code: 401 - Incorrect API key provided: sk-***. Use sk-***."


def test_scrub_keeps_no_frames():
    """No object from the raising frame survives in the copy once the original is gone."""

    class Marker:
        pass

    refs: list[weakref.ref[Marker]] = []

    def fail() -> None:
        marker = Marker()
        refs.append(weakref.ref(marker))
        httpx_status_error().response.raise_for_status()

    try:
        fail()
    except httpx.HTTPStatusError as error:
        copy = scrub(error, Redactor())
    gc.collect()
    assert refs[0]() is None
    assert http_status_of(copy) == 429


class WithHeaders(Exception):
    """An error type of some SDK carrying headers itself (module level: picklable)."""


def test_scrub_attributes_and_args():
    """Args and attributes are cleaned by kind: text, containers, errors, headers, others."""

    class Opaque:
        def __repr__(self) -> str:
            return "Opaque(Bearer SECRET)"

    inner = ValueError("token: Bearer SECRET")
    error = WithHeaders("failed https://x.io/?key=SECRET", 7, b"Bearer SECRET")
    error.headers = httpx.Headers({"Retry-After": "3", "Authorization": "Basic SECRET"})
    error.status_code = 429
    error.inner = inner
    error.opaque = Opaque()
    error.when = None
    error.details = {"error": {"details": [{"retryDelay": "2s", "api_key": "SECRET"}]}}
    error.deep = [[[[["SECRET"]]]]]
    error.add_note("see https://u:SECRET@x.io")
    copy = scrub(error, Redactor())
    assert_hidden(copy, SECRET)
    assert copy.args == ("failed https://x.io/?key=***", 7, b"Bearer ***")
    assert copy.headers == {"retry-after": "3", "authorization": "***"}
    assert retry_after_of(copy) == 3.0
    assert http_status_of(copy) == 429
    assert type(copy.inner) is ValueError
    assert str(copy.inner) == "token: Bearer ***"
    assert copy.opaque == "Opaque(Bearer ***)"
    assert copy.when is None
    assert copy.details == {"error": {"details": [{"retryDelay": "2s", "api_key": "***"}]}}
    assert copy.deep == [[[["…"]]]]
    assert copy.__notes__ == ["see https://u:***@x.io"]


def test_scrub_falls_back_to_runtime_error():
    """An error whose type cannot be copied becomes a redacted RuntimeError."""

    class Picky(Exception):
        def __new__(cls, *args: object, **options: str) -> Self:
            if "required" not in options:
                raise TypeError("Picky() needs required=")
            return super().__new__(cls, *args)

        def __init__(self, *args: object, **options: str) -> None:
            super().__init__(*args)

    copy = scrub(Picky("401 for Bearer SECRET", required="x"), Redactor())
    assert type(copy) is RuntimeError
    assert str(copy) == "Picky: 401 for Bearer ***"


def test_scrub_applies_the_user_redactor():
    """The user callable runs on every string the copy keeps."""
    redactor = Redactor(lambda text: text.replace("acme", "<org>"))
    copy = scrub(ValueError("acme https://x.io/?key=SECRET"), redactor)
    assert str(copy) == "<org> https://x.io/?key=***"


def test_scrub_foreign_http_objects():
    """Foreign request/response shapes become HTTPFacts; nothing they raise escapes."""
    from http import HTTPStatus

    class Wire:
        method = b"POST"
        status_code = HTTPStatus.BAD_GATEWAY
        reason = "Bad Gateway"
        headers = ((b"Set-Cookie", b"a=SECRET"), (b"Via", b"1"), ("via", "2"))

    class Odd:
        headers = 5

    class Unrepresentable:
        def __repr__(self) -> str:
            raise RuntimeError("SECRET")

    error = WithHeaders("bad gateway")
    error.wire = Wire()
    error.odd = Odd()
    error.response = httpx.Response(500)  # no request: its `url` and `request` raise
    error.thing = Unrepresentable()
    copy = scrub(error, Redactor())
    assert_hidden(copy, SECRET)
    assert copy.wire == HTTPFacts(
        status_code=502,
        reason_phrase="Bad Gateway",
        method="POST",
        headers={"set-cookie": "***", "via": "1, 2"},
    )
    assert copy.odd == HTTPFacts()
    assert copy.response == HTTPFacts(status_code=500, reason_phrase="Internal Server Error")
    assert http_status_of(copy) == 500
    assert copy.thing == "<Unrepresentable object>"
