"""OAuth token refresh against a small fake Drift at the transport seam.

``FakeOAuthDrift`` issues access tokens that expire after a number of API requests and
rotates the refresh token on every refresh, as an OAuth server may. Every test counts the
requests exactly and checks that no token or secret leaks into a log, a message or a repr.
"""

from __future__ import annotations

import logging
import stat
import threading
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import orjson
import pytest

from driftsync import cli
from driftsync.api import (
    BearerAuth,
    DriftClient,
    RefreshingAuth,
    RetryPolicy,
    TokenRefreshError,
)
from driftsync.api import client as client_module
from driftsync.config import resolve
from driftsync.errors import AuthError, ConfigError

BASE = "http://127.0.0.1:8123/drift"
CLIENT_ID = "app-4711"
CLIENT_SECRET = "cs-SECRET-client"
REFRESH_HELP = (
    "Re-authorize the Drift app and put the new refresh token in DRIFT_REFRESH_TOKEN or "
    "refresh_token under [drift] in the config file."
)


@pytest.fixture(autouse=True)
def no_oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DRIFT_CLIENT_ID", "DRIFT_CLIENT_SECRET", "DRIFT_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def json_response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body),
                          headers={"content-type": "application/json"})


class FakeOAuthDrift:
    """Drift's API and token endpoint, in memory.

    Access tokens ``at-SECRET-<n>`` are good for ``lifetime`` API requests. A refresh
    (grant_type=refresh_token with this app's credentials and the *current* refresh token)
    issues the next access token and, with ``rotate``, a new refresh token ``rt-SECRET-<n>``,
    so the old one stops working. ``camel`` answers in Drift's sample-app spelling.
    ``stale_barrier`` holds every request made with an expired token until that many have
    arrived, so their 401s are truly concurrent.
    """

    def __init__(self, *, lifetime: int = 100, camel: bool = False, rotate: bool = True,
                 refresh_answer: httpx.Response | None = None,
                 stale_barrier: threading.Barrier | None = None) -> None:
        self.lifetime = lifetime
        self.camel = camel
        self.rotate = rotate
        self.refresh_answer = refresh_answer
        self.stale_barrier = stale_barrier
        self.lock = threading.Lock()
        self.uses: dict[str, int] = {}
        self.access_count = 0
        self.refresh_token = "rt-SECRET-0"
        self.refresh_count = 0
        self.api_calls: list[str] = []        # bearer token of each API request
        self.refresh_forms: list[dict[str, str]] = []
        self.requests: list[httpx.Request] = []

    def issue(self, uses: int | None = None) -> str:
        self.access_count += 1
        token = f"at-SECRET-{self.access_count}"
        self.uses[token] = self.lifetime if uses is None else uses
        return token

    def secrets(self) -> list[str]:
        issued = [f"at-SECRET-{n}" for n in range(1, self.access_count + 1)]
        return [CLIENT_SECRET, *issued, *(f"rt-SECRET-{n}" for n in range(self.refresh_count + 1))]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if request.url.path.endswith("/oauth2/token"):
            return self.token_endpoint(request)
        return self.api(request)

    def token_endpoint(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert "authorization" not in request.headers
        form = dict(parse_qsl(request.content.decode()))
        with self.lock:
            self.refresh_forms.append(form)
            if self.refresh_answer is not None:
                return self.refresh_answer
            if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
                return json_response(401, {"error": "invalid_client",
                                           "error_description": "Unknown client"})
            if form.get("grant_type") != "refresh_token" or (
                    form.get("refresh_token") != self.refresh_token):
                return json_response(400, {"error": "invalid_grant",
                                           "error_description": "Invalid refresh token"})
            access = self.issue()
            if self.rotate:
                self.refresh_count += 1
                self.refresh_token = f"rt-SECRET-{self.refresh_count}"
            keys = ("accessToken", "refreshToken") if self.camel else ("access_token",
                                                                        "refresh_token")
            return json_response(200, {keys[0]: access, keys[1]: self.refresh_token,
                                       "orgId": 21, "token_type": "bearer"})

    def api(self, request: httpx.Request) -> httpx.Response:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            self.api_calls.append(token)
            live = self.uses.get(token, 0) > 0
        if not live and self.stale_barrier is not None:
            self.stale_barrier.wait(timeout=5)
        with self.lock:
            if self.uses.get(token, 0) <= 0:
                return json_response(401, {"error": {"type": "authentication_error",
                                                     "message": "Invalid or expired token"}})
            self.uses[token] -= 1
        if request.url.path.endswith("/app/token_info"):
            asked = orjson.loads(request.content)["access_token"]
            if self.uses.get(asked, 0) <= 0:
                return json_response(401, {"error": {"type": "authentication_error",
                                                     "message": "Invalid token"}})
            return json_response(200, {"authenticated_userid": "orgId:21",
                                       "scope": "user_read", "expires_in": 7200000})
        return json_response(200, {"data": {"path": request.url.path}})


def oauth_client(fake: FakeOAuthDrift, *, access_token: str | None = None,
                 refresh_token: str = "rt-SECRET-0", base_url: str = BASE,
                 saved: list[tuple[str, str]] | None = None,
                 **kwargs: Any) -> tuple[DriftClient, RefreshingAuth]:
    auth = RefreshingAuth(
        client_id=kwargs.pop("client_id", CLIENT_ID),
        client_secret=kwargs.pop("client_secret", CLIENT_SECRET),
        refresh_token=refresh_token,
        access_token=access_token,
        on_refresh=(lambda a, r: saved.append((a, r))) if saved is not None else None,
    )
    client = DriftClient(
        auth=auth,
        base_url=base_url,
        transport=httpx.MockTransport(fake),
        retry=RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0),
        sleep=lambda _: None,
        requests_per_minute=None,
        **kwargs,
    )
    return client, auth


def exception_texts(exc: BaseException) -> list[str]:
    texts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        texts += [str(seen), repr(seen), repr(seen.args)]
        seen = seen.__cause__ or seen.__context__
    return texts


def assert_no_secrets(fake: FakeOAuthDrift, *texts: object) -> None:
    for text in texts:
        for secret in fake.secrets():
            assert secret not in str(text), (secret, text)
            assert secret not in repr(text), (secret, text)


# -- refresh on 401 -----------------------------------------------------------------------


def test_a_401_refreshes_once_and_the_request_is_sent_again(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeOAuthDrift(lifetime=2)
    first = fake.issue()
    saved: list[tuple[str, str]] = []
    client, auth = oauth_client(fake, access_token=first, saved=saved)

    bodies = [client.get(f"/users/{n}") for n in range(3)]

    assert bodies == [{"data": {"path": f"/drift/users/{n}"}} for n in range(3)]
    assert fake.api_calls == ["at-SECRET-1", "at-SECRET-1", "at-SECRET-1", "at-SECRET-2"]
    assert fake.refresh_forms == [{"grant_type": "refresh_token", "refresh_token": "rt-SECRET-0",
                                   "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}]
    refresh = fake.requests[3]
    assert str(refresh.url) == "http://127.0.0.1:8123/drift/oauth2/token"
    assert refresh.headers["user-agent"].startswith("driftsync/")
    assert refresh.extensions["timeout"] == fake.requests[2].extensions["timeout"]
    assert saved == [("at-SECRET-2", "rt-SECRET-1")]
    assert (auth.access_token, auth.refresh_token, auth.refreshes) == (
        "at-SECRET-2", "rt-SECRET-1", 1)
    # Every HTTP request counts, the refresh and the re-sent request included; none is a retry.
    assert client.stats.snapshot() == (5, 0)
    assert client.stats.refreshes == 1
    assert "GET /users/2 answered 401: refreshed the Drift access token " \
           "(POST /oauth2/token -> 200)" in caplog.messages
    assert_no_secrets(fake, caplog.text, client, auth, client.stats,
                      *(r.url for r in fake.requests))


def test_the_refresh_goes_to_the_configured_api_host_even_for_a_next_link_elsewhere() -> None:
    fake = FakeOAuthDrift()
    expired = fake.issue(uses=0)
    client, _ = oauth_client(fake, access_token=expired, base_url="https://driftapi.com")

    client.get("https://api.drift.com/conversations/list?page_token=abc")

    assert [str(r.url) for r in fake.requests] == [
        "https://api.drift.com/conversations/list?page_token=abc",
        "https://driftapi.com/oauth2/token",
        "https://api.drift.com/conversations/list?page_token=abc",
    ]


@pytest.mark.parametrize("camel", [False, True], ids=["snake_case", "camelCase"])
def test_both_spellings_of_the_token_answer_are_read(camel: bool) -> None:
    fake = FakeOAuthDrift(camel=camel)
    saved: list[tuple[str, str]] = []
    client, auth = oauth_client(fake, access_token=fake.issue(uses=0), saved=saved)

    client.get("/users/list")

    assert saved == [("at-SECRET-2", "rt-SECRET-1")]
    assert fake.api_calls == ["at-SECRET-1", "at-SECRET-2"]


def test_an_answer_without_a_refresh_token_keeps_the_current_one() -> None:
    fake = FakeOAuthDrift(rotate=False)
    saved: list[tuple[str, str]] = []
    client, auth = oauth_client(fake, access_token=fake.issue(uses=0), saved=saved)
    fake.refresh_answer = json_response(200, {"access_token": "at-SECRET-9"})
    fake.uses["at-SECRET-9"] = 5

    client.get("/users/list")

    assert saved == [("at-SECRET-9", "rt-SECRET-0")]
    assert auth.refresh_token == "rt-SECRET-0"


def test_without_an_access_token_the_first_request_refreshes_before_it_is_sent() -> None:
    fake = FakeOAuthDrift()
    client, auth = oauth_client(fake)

    client.get("/users/list")

    assert [r.url.path for r in fake.requests] == ["/drift/oauth2/token", "/drift/users/list"]
    assert fake.api_calls == ["at-SECRET-1"]
    assert client.stats.snapshot() == (2, 0)


def test_a_fresh_token_that_is_rejected_too_is_not_refreshed_again() -> None:
    fake = FakeOAuthDrift(lifetime=0)
    client, _ = oauth_client(fake, access_token=fake.issue())

    with pytest.raises(AuthError) as caught:
        client.get("/users/list")

    assert not isinstance(caught.value, TokenRefreshError)
    assert str(caught.value).startswith(
        "Drift rejected the access token (401: authentication_error: Invalid or expired token).")
    assert len(fake.refresh_forms) == 1
    assert fake.api_calls == ["at-SECRET-1", "at-SECRET-2"]


def test_token_info_asks_again_about_the_refreshed_token() -> None:
    fake = FakeOAuthDrift()
    client, _ = oauth_client(fake, access_token=fake.issue(uses=0))

    info = client.token_info()

    assert info["authenticated_userid"] == "orgId:21"
    bodies = [orjson.loads(r.content) for r in fake.requests if r.url.path.endswith("token_info")]
    # expired token; re-sent with the new bearer but the old body (rejected); asked again
    assert bodies == [{"access_token": "at-SECRET-1"}] * 2 + [{"access_token": "at-SECRET-2"}]
    assert len(fake.refresh_forms) == 1
    assert client.stats.snapshot() == (4, 0)


# -- refresh failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (json_response(400, {"error": "invalid_grant",
                             "error_description": "Invalid refresh token"}),
         f"Drift rejected the refresh token (400: invalid_grant: Invalid refresh token). "
         f"{REFRESH_HELP}"),
        (json_response(401, {"error": "invalid_client", "error_description": "Unknown client"}),
         "Drift rejected the OAuth client id or secret while refreshing the access token "
         "(401: invalid_client: Unknown client). Check DRIFT_CLIENT_ID and DRIFT_CLIENT_SECRET "
         "(or client_id / client_secret under [drift] in the config file) against your Drift "
         "app at dev.drift.com."),
        (json_response(400, {"error": "invalid_grant",
                             "error_description": "Token rt-SECRET-0 was revoked"}),
         f"Drift rejected the refresh token (400: invalid_grant: Token **** was revoked). "
         f"{REFRESH_HELP}"),
        (httpx.Response(404, text="<html>nope</html>"),
         "Drift refused the token refresh: POST /oauth2/token answered 404 Not Found. Check "
         "the API URL (--api-url or DRIFT_API_URL)."),
        (json_response(200, {"token_type": "bearer"}),
         f"Drift answered the token refresh (POST /oauth2/token, 200) with no usable "
         f"access_token. {REFRESH_HELP}"),
        (json_response(200, {"access_token": "two words"}),
         f"Drift answered the token refresh (POST /oauth2/token, 200) with no usable "
         f"access_token. {REFRESH_HELP}"),
    ],
    ids=["invalid_grant", "invalid_client", "echoed-token-masked", "not-found", "no-token",
         "bad-token"],
)
def test_a_rejected_refresh_leaves_the_401_with_one_line_saying_what_to_do(
        answer: httpx.Response, message: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake = FakeOAuthDrift(refresh_answer=answer)
    saved: list[tuple[str, str]] = []
    client, auth = oauth_client(fake, access_token=fake.issue(uses=0), saved=saved)

    with pytest.raises(TokenRefreshError) as caught:
        client.get("/accounts")

    error = caught.value
    assert isinstance(error, AuthError)
    assert str(error) == message
    assert (error.status, error.endpoint, error.refresh_status) == (
        401, "GET /accounts", answer.status_code)
    assert fake.api_calls == ["at-SECRET-1"]
    assert len(fake.refresh_forms) == 1
    # Drift refused: a later 401 fails at once, without asking again.
    with pytest.raises(TokenRefreshError) as again:
        client.get("/users/list")
    assert str(again.value) == message and again.value.endpoint == "GET /users/list"
    assert len(fake.refresh_forms) == 1
    assert saved == [] and auth.refreshes == 0
    assert client.stats.snapshot() == (3, 0)
    assert_no_secrets(fake, caplog.text, *exception_texts(error), auth, client)


def test_a_failing_token_endpoint_is_not_remembered() -> None:
    fake = FakeOAuthDrift(refresh_answer=json_response(503, {"message": "maintenance"}))
    client, _ = oauth_client(fake, access_token=fake.issue(uses=0))

    with pytest.raises(TokenRefreshError) as caught:
        client.get("/accounts")
    assert str(caught.value) == (
        "Drift could not refresh the access token (503: maintenance). Drift may be having "
        "trouble; try again later.")

    fake.refresh_answer = None
    assert client.get("/accounts") == {"data": {"path": "/drift/accounts"}}
    assert len(fake.refresh_forms) == 2


def test_a_dropped_connection_while_refreshing_is_retried_like_any_other() -> None:
    fake = FakeOAuthDrift()
    drops = [httpx.ConnectError("connection refused")]

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth2/token") and drops:
            raise drops.pop()
        return fake(request)

    auth = RefreshingAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                          refresh_token="rt-SECRET-0", access_token=fake.issue(uses=0))
    client = DriftClient(auth=auth, base_url=BASE, transport=httpx.MockTransport(flaky),
                         retry=RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0),
                         sleep=lambda _: None)

    assert client.get("/accounts") == {"data": {"path": "/drift/accounts"}}
    assert fake.api_calls == ["at-SECRET-1", "at-SECRET-1", "at-SECRET-2"]
    assert client.stats.snapshot() == (5, 1)
    assert client.stats.refreshes == 2  # two refresh requests went out; one got an answer
    assert auth.refreshes == 1


def test_a_failing_save_is_a_warning_and_the_run_goes_on(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="driftsync")
    fake = FakeOAuthDrift()

    def broken(access: str, refresh: str) -> None:
        raise OSError(f"disk full while writing {refresh}")

    auth = RefreshingAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                          refresh_token="rt-SECRET-0", access_token=fake.issue(uses=0),
                          on_refresh=broken)
    client = DriftClient(auth=auth, base_url=BASE, transport=httpx.MockTransport(fake))

    assert client.get("/accounts") == {"data": {"path": "/drift/accounts"}}
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "Could not save the refreshed Drift tokens: disk full while writing ****"]


# -- threads ------------------------------------------------------------------------------


def test_concurrent_401s_from_eight_threads_cause_exactly_one_refresh() -> None:
    threads = 8
    fake = FakeOAuthDrift(stale_barrier=threading.Barrier(threads))
    saved: list[tuple[str, str]] = []
    client, auth = oauth_client(fake, access_token=fake.issue(uses=0), saved=saved)

    with ThreadPoolExecutor(threads) as pool:
        bodies = list(pool.map(lambda n: client.get(f"/users/{n}"), range(threads)))

    assert bodies == [{"data": {"path": f"/drift/users/{n}"}} for n in range(threads)]
    assert len(fake.refresh_forms) == 1
    assert saved == [("at-SECRET-2", "rt-SECRET-1")]
    assert sorted(fake.api_calls) == ["at-SECRET-1"] * threads + ["at-SECRET-2"] * threads
    assert client.stats.snapshot() == (2 * threads + 1, 0)
    assert (client.stats.refreshes, auth.refreshes) == (1, 1)


def test_a_request_that_failed_with_a_replaced_token_retries_without_refreshing() -> None:
    """Thread A's request is answered 401 only after thread B has refreshed."""
    fake = FakeOAuthDrift()
    expired = fake.issue(uses=0)
    a_sent, b_done = threading.Event(), threading.Event()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/slow"):
            a_sent.set()
            assert b_done.wait(5)
        return fake(request)

    auth = RefreshingAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                          refresh_token="rt-SECRET-0", access_token=expired)
    client = DriftClient(auth=auth, base_url=BASE, transport=httpx.MockTransport(handler))
    with ThreadPoolExecutor(1) as pool:
        slow = pool.submit(client.get, "/slow")
        assert a_sent.wait(5)
        client.get("/fast")
        b_done.set()
        assert slow.result(timeout=5) == {"data": {"path": "/drift/slow"}}

    assert len(fake.refresh_forms) == 1
    # B: expired token, refresh, new token. A: its 401 for the replaced token, new token.
    assert fake.api_calls == ["at-SECRET-1", "at-SECRET-2", "at-SECRET-1", "at-SECRET-2"]
    assert client.stats.snapshot() == (5, 0)


# -- persistence through the CLI's client -----------------------------------------------


def test_rotated_tokens_are_stored_0600_and_the_next_run_uses_them(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "xdg" / "driftsync" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[drift]\nclient_id = "{CLIENT_ID}"\nrefresh_token = "rt-SECRET-0"\n')
    config.chmod(0o600)
    before = config.read_bytes(), config.stat().st_mtime_ns
    monkeypatch.setenv("DRIFT_CLIENT_SECRET", CLIENT_SECRET)
    fake = FakeOAuthDrift(lifetime=1)
    store = config.parent / "tokens.toml"

    def run() -> Any:
        settings = resolve(api_url=BASE)
        with cli._client(settings, 5.0, 0, transport=httpx.MockTransport(fake)) as client:
            return client.get("/users/list")

    run()  # no access token configured: refreshes first, with the configured refresh token
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    stored = tomllib.loads(store.read_text())["drift"]
    assert {k: stored[k] for k in ("client_id", "access_token", "refresh_token")} == {
        "client_id": CLIENT_ID, "access_token": "at-SECRET-1", "refresh_token": "rt-SECRET-1"}
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml", "tokens.toml"]

    run()  # the stored token is used up: refreshes with the stored (rotated) refresh token
    assert [f["refresh_token"] for f in fake.refresh_forms] == ["rt-SECRET-0", "rt-SECRET-1"]
    assert fake.api_calls == ["at-SECRET-1", "at-SECRET-1", "at-SECRET-2"]
    stored = tomllib.loads(store.read_text())["drift"]
    assert (stored["access_token"], stored["refresh_token"]) == ("at-SECRET-2", "rt-SECRET-2")
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert (config.read_bytes(), config.stat().st_mtime_ns) == before
    assert sorted(p.name for p in config.parent.iterdir()) == ["config.toml", "tokens.toml"]


def test_the_cli_client_uses_a_plain_bearer_token_without_oauth_settings(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFT_ACCESS_TOKEN", "at-SECRET-1")
    settings = resolve(api_url=BASE)
    auth, source = cli._credentials(settings)
    assert isinstance(auth, BearerAuth) and source == "DRIFT_ACCESS_TOKEN"

    for name, value in (("DRIFT_CLIENT_ID", CLIENT_ID), ("DRIFT_CLIENT_SECRET", CLIENT_SECRET),
                        ("DRIFT_REFRESH_TOKEN", "rt-SECRET-0")):
        monkeypatch.setenv(name, value)
    auth, source = cli._credentials(resolve(api_url=BASE))
    assert isinstance(auth, RefreshingAuth) and auth.access_token == "at-SECRET-1"
    assert source == f"OAuth client {CLIENT_ID}, refresh token from DRIFT_REFRESH_TOKEN"


def test_partial_oauth_settings_stop_the_cli_client(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    monkeypatch.setenv("DRIFT_ACCESS_TOKEN", "at-SECRET-1")
    monkeypatch.setenv("DRIFT_REFRESH_TOKEN", "rt-SECRET-0")
    with pytest.raises(ConfigError) as caught:
        cli._client(resolve(api_url=BASE), 5.0, 0)
    config = tmp_path / "xdg" / "driftsync" / "config.toml"
    assert str(caught.value) == (
        "Drift OAuth refresh needs a client id, client secret and refresh token, but the "
        "client id and client secret are missing: set DRIFT_CLIENT_ID and DRIFT_CLIENT_SECRET, "
        f"or client_id and client_secret under [drift] in {config} (or remove the other OAuth "
        "settings to use the access token alone).")


# -- construction -------------------------------------------------------------------------


def test_construction_rules_and_reprs() -> None:
    auth = RefreshingAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                          refresh_token="rt-SECRET-0", access_token="at-SECRET-1")
    with pytest.raises(ValueError, match=r"^pass token or auth, not both$"):
        DriftClient("at-SECRET-1", auth=auth)
    with pytest.raises(ValueError, match=r"^refresh_token is required$"):
        RefreshingAuth(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, refresh_token="")
    DriftClient(auth=auth, base_url=BASE).close()
    with pytest.raises(ValueError, match="already refreshes at another API URL"):
        DriftClient(auth=auth, base_url="http://127.0.0.1:9999")
    assert repr(auth) == str(auth) == "RefreshingAuth(****)"
    assert repr(BearerAuth("at-SECRET-1")) == "BearerAuth(****)"
    assert client_module.BearerAuth is BearerAuth  # still importable from the client module


def test_a_store_that_cannot_be_written_is_one_warning(
        caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    caplog.set_level(logging.WARNING, logger="driftsync")
    blocker = tmp_path / "xdg" / "driftsync"
    blocker.parent.mkdir()
    blocker.write_text("a file where the config folder should be")
    fake = FakeOAuthDrift()
    for name, value in (("DRIFT_CLIENT_ID", CLIENT_ID), ("DRIFT_CLIENT_SECRET", CLIENT_SECRET),
                        ("DRIFT_REFRESH_TOKEN", "rt-SECRET-0")):
        monkeypatch.setenv(name, value)

    with cli._client(resolve(api_url=BASE), 5.0, 0,
                     transport=httpx.MockTransport(fake)) as client:
        assert client.get("/users/list") == {"data": {"path": "/drift/users/list"}}

    store = blocker / "tokens.toml"
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"Cannot save the refreshed Drift tokens to {store} (File exists); the next run "
        "starts from the configured refresh token, which Drift may have replaced."]
    assert_no_secrets(fake, caplog.text)
