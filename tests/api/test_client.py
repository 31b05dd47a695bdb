"""DriftClient against fake Drift servers at the transport seam: auth, JSON, typed errors.

Every error test pins the exact one-line message the CLI prints, and every test checks that
the access token never leaks into a message, a log record or a repr.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from driftsync import __version__
from driftsync.api import DriftClient, RetryPolicy
from driftsync.api.errors import drift_error_message
from driftsync.errors import (
    ApiError,
    AuthError,
    ConnectionFailedError,
    ForbiddenError,
    MalformedResponseError,
    RequestRejectedError,
    ServerError,
)

TOKEN = "tok-SECRET-123"
BASE = "https://driftapi.com"
TOKEN_HELP = (
    "Check the token you gave (--token, DRIFT_ACCESS_TOKEN or the config file), or copy a "
    "fresh OAuth access token from your Drift app (dev.drift.com > your app > Installing to "
    "Drift)."
)

class FakeDrift:
    """Answers every request with the next scripted response (the last one repeats)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def json_response(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body),
                          headers={"content-type": "application/json", **headers})


def make_client(server: FakeDrift, attempts: int = 3, **kwargs: Any) -> tuple[DriftClient, list]:
    sleeps: list[float] = []
    client = DriftClient(
        TOKEN,
        base_url=kwargs.pop("base_url", BASE),
        transport=httpx.MockTransport(server),
        sleep=sleeps.append,
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.0, max_delay=0.0),
        requests_per_minute=kwargs.pop("requests_per_minute", None),
        **kwargs,
    )
    return client, sleeps


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text)
        assert TOKEN not in repr(text)


def exception_texts(exc: BaseException) -> list[str]:
    """str and repr of the exception and of everything chained to it."""
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), repr(getattr(seen, "args", ()))]
        seen = seen.__cause__ or seen.__context__
    return texts


# -- the happy path -----------------------------------------------------------------------


def test_get_sends_bearer_token_and_returns_parsed_json() -> None:
    server = FakeDrift(json_response(200, {"data": [{"id": 3782727146}]}))
    client, sleeps = make_client(server)

    body = client.get("/conversations/list", params={"limit": 100, "statusId": [1, 2]})

    assert body == {"data": [{"id": 3782727146}]}
    (request,) = server.requests
    assert request.method == "GET"
    assert str(request.url) == "https://driftapi.com/conversations/list?limit=100&statusId=1&statusId=2"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"] == f"driftsync/{__version__}"
    assert client.stats.snapshot() == (1, 0)
    assert sleeps == []


def test_absolute_url_on_the_api_host_is_used_verbatim() -> None:
    server = FakeDrift(json_response(200, {"data": []}))
    client, _ = make_client(server)

    client.get("https://api.drift.com/conversations/list?page_token=abc")

    assert str(server.requests[0].url) == "https://api.drift.com/conversations/list?page_token=abc"
    assert server.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"


def test_base_url_trailing_slash_and_path_prefix_are_kept() -> None:
    server = FakeDrift(json_response(200, {"ok": True}))
    client, _ = make_client(server, base_url="http://127.0.0.1:8123/drift/")

    assert client.base_url == "http://127.0.0.1:8123/drift"
    client.get("/users/list")

    assert str(server.requests[0].url) == "http://127.0.0.1:8123/drift/users/list"


def test_foreign_absolute_url_is_refused_without_sending_the_token() -> None:
    server = FakeDrift(json_response(200, {}))
    client, _ = make_client(server)

    with pytest.raises(ApiError) as caught:
        client.get("https://evil.example/steal")

    assert str(caught.value) == (
        "Refused to send the Drift access token to evil.example: GET /steal is not on the "
        "Drift API host https://driftapi.com."
    )
    assert server.requests == []
    assert client.stats.snapshot() == (0, 0)


@pytest.mark.parametrize(
    ("base", "url", "allowed"),
    [
        (BASE, "/accounts?index=65&size=65", True),
        (BASE, "accounts", True),
        (BASE, "https://driftapi.com/accounts", True),
        (BASE, "https://DRIFTAPI.COM/accounts", True),
        (BASE, "https://api.drift.com/conversations/list", True),
        ("https://api.drift.com", "https://driftapi.com/x", True),
        (BASE, "http://driftapi.com/accounts", False),
        (BASE, "https://api.drift.com:8443/x", False),
        (BASE, "https://api.drift.com:abc/x", False),
        (BASE, "https://[::1/x", False),
        (BASE, "https://evil.example/x", False),
        (BASE, "https://driftapi.com.evil.example/x", False),
        (BASE, "https://driftapi.com@evil.example/x", False),
        (BASE, "//evil.example/x", False),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/users/list", True),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8766/users/list", False),
        ("http://127.0.0.1:8765", "https://driftapi.com/users/list", False),
    ],
    ids=["relative", "relative-no-slash", "same-host", "same-host-upper-case",
         "drift-pair", "drift-pair-reverse", "https-downgrade", "drift-pair-other-port",
         "bad-port", "bad-ipv6", "foreign", "lookalike-suffix", "userinfo-trick",
         "scheme-relative", "local-same", "local-other-port", "local-base-to-drift"],
)
def test_is_api_url(base: str, url: str, allowed: bool) -> None:
    client, _ = make_client(FakeDrift(), base_url=base)
    assert client.is_api_url(url) is allowed


def test_token_info_posts_the_token_as_json_and_returns_the_body() -> None:
    info = {"authenticated_userid": "orgId:123", "scope": "conversation_read user_read"}
    server = FakeDrift(json_response(200, info))
    client, _ = make_client(server)

    assert client.token_info() == info
    (request,) = server.requests
    assert request.method == "POST"
    assert request.url.path == "/app/token_info"
    assert orjson.loads(request.content) == {"access_token": TOKEN}


@pytest.mark.parametrize(
    "body",
    [["not", "an", "object"], {"scope": ["conversation_read"]}],
    ids=["list-body", "scope-not-text"],
)
def test_token_info_without_a_readable_scope_is_malformed(body: Any) -> None:
    client, _ = make_client(FakeDrift(json_response(200, body)))

    with pytest.raises(MalformedResponseError) as caught:
        client.token_info()

    assert str(caught.value) == (
        "Drift answered POST /app/token_info without a readable 'scope' field."
    )


def test_empty_token_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^token is required$"):
        DriftClient("", transport=httpx.MockTransport(FakeDrift()))


def test_repr_and_stats_never_show_the_token() -> None:
    client, _ = make_client(FakeDrift(json_response(200, {})))

    assert repr(client) == "DriftClient(base_url='https://driftapi.com')"
    assert repr(client._http.auth) == "BearerAuth(****)"
    assert_no_token(client, client.stats, client.retry, client._http.auth)


def test_context_manager_closes_the_http_client() -> None:
    client, _ = make_client(FakeDrift(json_response(200, {})))
    with client as entered:
        assert entered is client
    assert client._http.is_closed


# -- errors: one exact line per failure ---------------------------------------------------

ERROR_CASES = [
    pytest.param(
        401, {"error": {"type": "authentication_error",
                        "message": "The access token is invalid or has expired"}},
        AuthError, 1,
        "Drift rejected the access token (401: authentication_error: The access token is "
        f"invalid or has expired). {TOKEN_HELP}",
        id="401-drift-envelope",
    ),
    pytest.param(
        401, {"error": "invalid_token", "error_description": "The access token is invalid"},
        AuthError, 1,
        f"Drift rejected the access token (401: invalid_token: The access token is invalid). "
        f"{TOKEN_HELP}",
        id="401-oauth-gateway",
    ),
    pytest.param(
        401, b"", AuthError, 1,
        f"Drift rejected the access token (401 Unauthorized). {TOKEN_HELP}",
        id="401-empty-body",
    ),
    pytest.param(
        403, b"", ForbiddenError, 1,
        "Drift refused GET /accounts (403 Forbidden): the token lacks a scope this call needs.",
        id="403-generic",
    ),
    pytest.param(
        403, {"error": {"type": "authentication_error", "message": "Missing proper authorization"}},
        ForbiddenError, 1,
        "Drift refused GET /accounts (403: authentication_error: Missing proper authorization): "
        "the token lacks a scope this call needs.",
        id="403-drift-envelope",
    ),
    pytest.param(
        404, {"error": {"type": "not_found", "message": "The requested resource was not found"}},
        RequestRejectedError, 1,
        "Drift rejected GET /accounts (404: not_found: The requested resource was not found).",
        id="404-drift-message",
    ),
    pytest.param(
        400, {"errors": [{"type": "validation_error", "message": "limit must be at most 50",
                          "param": "limit"}]},
        RequestRejectedError, 1,
        "Drift rejected GET /accounts (400: validation_error: limit must be at most 50).",
        id="400-older-errors-list",
    ),
    pytest.param(
        400, {"error": {"type": "validation_error", "message": "validation_error: bad size"}},
        RequestRejectedError, 1,
        "Drift rejected GET /accounts (400: validation_error: bad size).",
        id="400-type-repeated-in-message",
    ),
    pytest.param(
        422, {"message": "Unprocessable"}, RequestRejectedError, 1,
        "Drift rejected GET /accounts (422: Unprocessable).",
        id="422-bare-message",
    ),
    pytest.param(
        400, {"error": {"type": "validation_error", "message": "bad\n  request\tparam"}},
        RequestRejectedError, 1,
        "Drift rejected GET /accounts (400: validation_error: bad request param).",
        id="400-multiline-message-folded",
    ),
    pytest.param(
        500, b"<html><body><h1>502 Bad Gateway</h1></body></html>", ServerError, 3,
        "Drift failed on GET /accounts with 500 Internal Server Error and a non-JSON body "
        "after 3 attempts. Drift may be having trouble; try again later.",
        id="500-html-after-retries",
    ),
    pytest.param(
        503, {"error": {"type": "internal_error", "message": "Something went wrong in our system"}},
        ServerError, 3,
        "Drift failed on GET /accounts with 503: internal_error: Something went wrong in our "
        "system after 3 attempts. Drift may be having trouble; try again later.",
        id="503-drift-envelope-after-retries",
    ),
    pytest.param(
        502, {"unexpected": True}, ServerError, 3,
        "Drift failed on GET /accounts with 502 Bad Gateway after 3 attempts. Drift may be "
        "having trouble; try again later.",
        id="502-json-without-message",
    ),
    pytest.param(
        504, b"", ServerError, 3,
        "Drift failed on GET /accounts with 504 Gateway Timeout and an empty body after 3 "
        "attempts. Drift may be having trouble; try again later.",
        id="504-empty-body-after-retries",
    ),
    pytest.param(
        429, {"error": {"type": "rate_limit", "message": "You have maxed your number of API calls"}},
        ServerError, 3,
        "Drift kept rate-limiting GET /accounts (429) after 3 attempts. Wait a few minutes and "
        "run the sync again.",
        id="429-after-retries",
    ),
]


@pytest.mark.parametrize(("status", "body", "kind", "requests", "message"), ERROR_CASES)
def test_http_error_becomes_one_exact_line(
    status: int, body: Any, kind: type[ApiError], requests: int, message: str
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    server = FakeDrift(httpx.Response(status, content=content))
    client, sleeps = make_client(server, attempts=3)

    with pytest.raises(ApiError) as caught:
        client.get("/accounts", params={"index": 0})

    assert type(caught.value) is kind
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    assert caught.value.status == status
    assert caught.value.endpoint == "GET /accounts"
    assert len(server.requests) == requests
    assert len(sleeps) == requests - 1
    assert client.stats.snapshot() == (requests, requests - 1)


def test_huge_drift_message_is_shortened() -> None:
    server = FakeDrift(json_response(400, {"error": {"type": "validation_error",
                                                     "message": "x" * 5000}}))
    client, _ = make_client(server)

    with pytest.raises(RequestRejectedError) as caught:
        client.get("/accounts")

    assert str(caught.value) == (
        f"Drift rejected GET /accounts (400: validation_error: {'x' * 262}…)."
    )


def test_drift_echoing_the_token_in_its_message_is_redacted() -> None:
    server = FakeDrift(json_response(400, {"error": {
        "type": "validation_error", "message": f"access_token {TOKEN} is malformed"}}))
    client, _ = make_client(server)

    with pytest.raises(RequestRejectedError) as caught:
        client.token_info()

    assert str(caught.value) == (
        "Drift rejected POST /app/token_info (400: validation_error: access_token **** is "
        "malformed)."
    )


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"error": {"type": "not_found", "message": "gone"}}, "not_found: gone"),
        ({"error": {"message": "only a message"}}, "only a message"),
        ({"error": {"type": "rate_limit"}}, "rate_limit"),
        ({"error": "invalid_token", "error_description": "expired"}, "invalid_token: expired"),
        ({"error": "invalid_token", "message": "expired"}, "invalid_token: expired"),
        ({"error": "invalid_token"}, "invalid_token"),
        ({"errors": [{"type": "validation_error", "message": "bad"}, {"message": "2nd"}]},
         "validation_error: bad"),
        ({"errors": []}, None),
        ({"message": "plain"}, "plain"),
        ({"error": {"type": 5, "message": None}}, None),
        (["a", "list"], None),
        (b"<html>oops</html>", None),
        (b"", None),
    ],
    ids=["envelope", "envelope-message-only", "envelope-type-only", "oauth-description",
         "oauth-message", "oauth-bare", "errors-list-first", "errors-empty", "bare-message",
         "non-string-fields", "json-list", "html", "empty"],
)
def test_drift_error_message_reads_every_known_shape(body: Any, said: str | None) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    assert drift_error_message(httpx.Response(400, content=content)) == said


def test_2xx_body_that_is_not_json_is_malformed() -> None:
    server = FakeDrift(httpx.Response(200, content=b"<html>maintenance</html>",
                                      headers={"content-type": "text/html; charset=utf-8"}))
    client, sleeps = make_client(server)

    with pytest.raises(MalformedResponseError) as caught:
        client.get("/users/list")

    assert str(caught.value) == (
        "Drift answered GET /users/list with a body that is not JSON (24 bytes, content-type "
        "'text/html; charset=utf-8')."
    )
    assert caught.value.status == 200
    assert caught.value.endpoint == "GET /users/list"
    assert len(server.requests) == 1
    assert sleeps == []


def test_2xx_empty_body_without_content_type_is_malformed() -> None:
    client, _ = make_client(FakeDrift(httpx.Response(204)))

    with pytest.raises(MalformedResponseError) as caught:
        client.get("/users/list")

    assert str(caught.value) == (
        "Drift answered GET /users/list with a body that is not JSON (0 bytes, content-type "
        "'unknown')."
    )


def test_2xx_body_that_cannot_be_decompressed_is_malformed() -> None:
    server = FakeDrift(httpx.Response(200, stream=httpx.ByteStream(b"not gzip at all"),
                                      headers={"content-encoding": "gzip"}))
    client, _ = make_client(server)

    with pytest.raises(MalformedResponseError) as caught:
        client.get("/users/list")

    assert str(caught.value) == (
        "Drift answered GET /users/list with a compressed body that could not be decompressed "
        "(Error -3 while decompressing data: incorrect header check)."
    )
    assert len(server.requests) == 1


def test_redirect_is_not_followed() -> None:
    server = FakeDrift(httpx.Response(302, headers={"location": "https://evil.example/x"}))
    client, _ = make_client(server)

    with pytest.raises(RequestRejectedError) as caught:
        client.get("/users/list")

    assert str(caught.value) == "Drift rejected GET /users/list (302 Found)."
    assert [r.url.host for r in server.requests] == ["driftapi.com"]


# -- transport failures -------------------------------------------------------------------

TRANSPORT_CASES = [
    pytest.param(
        httpx.ReadTimeout("timed out"),
        "The Drift API at https://driftapi.com did not answer GET /accounts within 30s "
        "(3 attempts). Check the network, or raise --timeout.",
        id="read-timeout",
    ),
    pytest.param(
        httpx.ConnectTimeout("timed out"),
        "The Drift API at https://driftapi.com did not answer GET /accounts within 30s "
        "(3 attempts). Check the network, or raise --timeout.",
        id="connect-timeout",
    ),
    pytest.param(
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        "The connection to the Drift API at https://driftapi.com failed during GET /accounts "
        "(connection dropped, 3 attempts). Try again; if it persists, Drift may be down.",
        id="dropped-connection",
    ),
    pytest.param(
        httpx.ReadError("[Errno 104] Connection reset by peer"),
        "The connection to the Drift API at https://driftapi.com failed during GET /accounts "
        "(connection dropped, 3 attempts). Try again; if it persists, Drift may be down.",
        id="connection-reset",
    ),
    pytest.param(
        httpx.ConnectError("[Errno -2] Name or service not known"),
        "Cannot reach the Drift API at https://driftapi.com (host name not found, 3 attempts). "
        "Check --api-url or DRIFT_API_URL and your network connection.",
        id="dns-failure",
    ),
]


@pytest.mark.parametrize(("error", "message"), TRANSPORT_CASES)
def test_transport_failure_after_retries_is_connection_failed(error: Exception,
                                                              message: str) -> None:
    server = FakeDrift(error)
    client, sleeps = make_client(server, attempts=3)

    with pytest.raises(ConnectionFailedError) as caught:
        client.get("/accounts")

    assert str(caught.value) == message
    assert caught.value.endpoint == "GET /accounts"
    assert caught.value.status is None
    assert caught.value.__cause__ is error
    assert len(server.requests) == 3
    assert sleeps == [0.0, 0.0]
    assert client.stats.snapshot() == (3, 2)


def test_timeout_message_names_the_configured_timeout() -> None:
    client, _ = make_client(FakeDrift(httpx.ReadTimeout("slow")), attempts=1, timeout=2.5)

    with pytest.raises(ConnectionFailedError) as caught:
        client.get("/users/list")

    assert str(caught.value) == (
        "The Drift API at https://driftapi.com did not answer GET /users/list within 2.5s "
        "(1 attempt). Check the network, or raise --timeout."
    )


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_connection_refused_on_a_real_closed_port(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    port = closed_port()
    sleeps: list[float] = []
    client = DriftClient(TOKEN, base_url=f"http://127.0.0.1:{port}", sleep=sleeps.append,
                         retry=RetryPolicy(max_attempts=2, base_delay=0), timeout=5)

    with client, pytest.raises(ConnectionFailedError) as caught:
        client.get("/users/list")

    assert str(caught.value) == (
        f"Cannot reach the Drift API at http://127.0.0.1:{port} (connection refused, "
        "2 attempts). Check --api-url or DRIFT_API_URL and your network connection."
    )
    assert client.stats.snapshot() == (2, 1)
    assert sleeps == [0.0]
    assert [r.getMessage() for r in caplog.records if r.name == "driftsync.api"] == [
        "GET /users/list failed (connection refused); retry 1 of 1 in 0.00s"
    ]
    assert_no_token(*exception_texts(caught.value), *caplog.messages, caplog.text)


# -- the token never leaks ----------------------------------------------------------------

LEAK_SCENARIOS = [
    pytest.param(lambda: [json_response(401, {"error": {"type": "authentication_error",
                                                        "message": "bad token"}})], id="401"),
    pytest.param(lambda: [httpx.Response(403)], id="403"),
    pytest.param(lambda: [httpx.Response(503, content=b"<html/>")], id="503"),
    pytest.param(lambda: [httpx.Response(429, headers={"retry-after": "1"})], id="429"),
    pytest.param(lambda: [httpx.ReadTimeout("slow")], id="timeout"),
    pytest.param(lambda: [httpx.RemoteProtocolError("dropped")], id="dropped"),
    pytest.param(lambda: [httpx.Response(200, content=b"not json")], id="2xx-not-json"),
    pytest.param(lambda: [json_response(400, {"error": {"type": "validation_error",
                                                        "message": f"token {TOKEN} unknown"}})],
                 id="400-echoing-token"),
]


@pytest.mark.parametrize("answers", LEAK_SCENARIOS)
def test_token_never_appears_in_errors_or_logs(answers: Callable[[], list],
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client, _ = make_client(FakeDrift(*answers()), attempts=2)

    with pytest.raises(ApiError) as caught:
        client.token_info()

    records = [(r.getMessage(), r.args, r.exc_text) for r in caplog.records]
    assert_no_token(*exception_texts(caught.value), *records, caplog.text, client)
