"""How requests to Drift are authorized: a fixed bearer token, or OAuth with token refresh.

Drift OAuth access tokens typically last two hours; tokens from the "Install to Drift"
button last until revoked (API.md §1.2-1.3). :class:`BearerAuth` is for the latter.
:class:`RefreshingAuth` is for an OAuth app with a client id, client secret and refresh
token: when Drift answers 401 it refreshes the access token once, as an httpx auth flow, and
re-sends the request, so a long run outlives its access token.

The refresh is ``POST <api base>/oauth2/token``, form-encoded, with ``grant_type=refresh_token,
refresh_token, client_id, client_secret`` (API.md §1.3 step 4). The base is the API URL the
:class:`~driftsync.api.client.DriftClient` was built with (:meth:`RefreshingAuth.bind`), never a
host taken from a request or a response. The answer may spell its fields ``access_token`` /
``refresh_token`` (documented) or ``accessToken`` / ``refreshToken`` (Drift's own sample app);
both are read. Refresh tokens may rotate: the newest one is always kept, and handed with the
new access token to ``on_refresh(access_token, refresh_token)`` so it can be saved for the
next run.

Thread safety: one lock guards the tokens. A request records which token generation it was
sent with; on a 401 it takes the lock, and if another thread has replaced the token meanwhile
it simply re-sends with the new one. Otherwise it refreshes while holding the lock, so any
number of concurrent 401s cause one refresh. Requests that start while a refresh is in flight
wait for it instead of going out with the stale token. A refresh Drift *rejected* (4xx, or an
answer without a token) is remembered: later 401s fail at once with the same message instead
of asking again with a token Drift already refused.

If the refresh fails, the 401 stands: the request raises :class:`TokenRefreshError` (an
:class:`~driftsync.errors.AuthError`, status 401) whose one-line message says why and what to
do. Tokens, the refresh token and the client secret never appear in a message, log or repr.
A network failure while refreshing propagates as the httpx error it is, so the client's retry
loop treats it like any other dropped connection of the original request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

import httpx
import orjson

from ..errors import AuthError, DriftSyncError
from .errors import drift_error_message, status_text

log = logging.getLogger("driftsync.api")

TOKEN_PATH = "/oauth2/token"
REFRESH_HELP = (
    "Re-authorize the Drift app and put the new refresh token in DRIFT_REFRESH_TOKEN or "
    "refresh_token under [drift] in the config file."
)
CLIENT_HELP = (
    "Check DRIFT_CLIENT_ID and DRIFT_CLIENT_SECRET (or client_id / client_secret under [drift] "
    "in the config file) against your Drift app at dev.drift.com."
)

RefreshCallback = Callable[[str, str], None]
"""``on_refresh(access_token, refresh_token)``: called after each successful refresh."""


def token_url(api_url: str) -> str:
    """The OAuth token endpoint on the API host ``api_url`` (base URL, optionally a path)."""
    return f"{api_url.rstrip('/')}{TOKEN_PATH}"


class BearerAuth(httpx.Auth):
    """Adds the token as a header, the only place it ever goes (never a URL, never a log)."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._header = f"Bearer {token}"

    @property
    def access_token(self) -> str:
        return self._token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(****)"


class TokenRefreshError(AuthError):
    """Drift answered 401 and the access token could not be refreshed.

    ``status`` is the original 401; ``refresh_status`` is what the token endpoint answered
    (None when it gave no usable answer).
    """

    def __init__(
        self, message: str, *, endpoint: str = "", refresh_status: int | None = None
    ) -> None:
        super().__init__(message, status=401, endpoint=endpoint)
        self.refresh_status = refresh_status


class RefreshingAuth(httpx.Auth):
    """Bearer auth that refreshes the OAuth access token once when Drift answers 401.

    ``access_token`` may be None: the first request then refreshes before it is sent. Use it
    with a synchronous ``httpx.Client`` (normally through ``DriftClient(auth=...)``, which calls
    :meth:`bind` with its API URL). ``refreshes`` counts successful refreshes.
    """

    requires_request_body = True  # a request is sent twice when its token is refreshed

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        access_token: str | None = None,
        on_refresh: RefreshCallback | None = None,
        api_url: str | None = None,
    ) -> None:
        for name, value in (("client_id", client_id), ("client_secret", client_secret),
                            ("refresh_token", refresh_token)):
            if not value:
                raise ValueError(f"{name} is required")
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._access_token = access_token or None
        self._on_refresh = on_refresh
        self._lock = threading.Lock()
        self._generation = 0
        self._rejected: tuple[int, str, int | None] | None = None  # generation, message, status
        self._spent: list[str] = []  # replaced tokens, still masked should Drift echo them
        self.refreshes = 0
        self._token_url: str | None = None
        self._base_path = ""
        if api_url:
            self.bind(api_url)

    def bind(self, api_url: str) -> None:
        """Refresh at ``<api_url>/oauth2/token``; ``DriftClient`` passes its own base URL."""
        url = token_url(api_url)
        if self._token_url is not None and self._token_url != url:
            raise ValueError("this RefreshingAuth already refreshes at another API URL")
        self._token_url = url
        self._base_path = httpx.URL(url).path.removesuffix(TOKEN_PATH)

    @property
    def access_token(self) -> str | None:
        """The current access token (None until the first refresh if none was given)."""
        with self._lock:
            return self._access_token

    @property
    def refresh_token(self) -> str:
        """The newest refresh token."""
        with self._lock:
            return self._refresh_token

    def __repr__(self) -> str:
        return "RefreshingAuth(****)"

    # -- the flow -----------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """:meth:`auth_flow`, driven so that a waiting thread holds no connection or lock.

        Each response is read (and its connection returned to the pool) before the flow may
        wait for the lock, so a refresh never starves for a connection held by a thread that
        waits for it. Closing this generator closes the flow, which releases the lock.
        """
        request.read()
        flow = self.auth_flow(request)
        try:
            outgoing = next(flow)
            while True:
                response = yield outgoing
                response.read()
                try:
                    outgoing = flow.send(response)
                except StopIteration:
                    return
        finally:
            flow.close()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise RuntimeError("RefreshingAuth uses a thread lock: use it with httpx.Client only.")
        yield request  # pragma: no cover - makes this an async generator

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        path = request.url.path
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path):]  # named as the client names it: "GET /accounts"
        endpoint = f"{request.method} {path or '/'}"
        with self._lock:
            token, generation = self._access_token, self._generation
        refreshed = False
        if token is None:
            token, generation = yield from self._renew(
                request, generation, endpoint, "needed a first access token")
            refreshed = True
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code != 401 or refreshed:
            return
        token, _ = yield from self._renew(request, generation, endpoint, "answered 401")
        request.headers["Authorization"] = f"Bearer {token}"
        yield request

    def _renew(
        self, request: httpx.Request, seen: int, endpoint: str, why: str
    ) -> Generator[httpx.Request, httpx.Response, tuple[str, int]]:
        """A token newer than generation ``seen``: another thread's, or one refreshed here."""
        with self._lock:
            if self._generation != seen and self._access_token is not None:
                return self._access_token, self._generation
            if self._rejected is not None and self._rejected[0] == self._generation:
                _, message, status = self._rejected
                raise TokenRefreshError(message, endpoint=endpoint, refresh_status=status)
            response = yield self._token_request(request)
            access, refresh = self._read_tokens(response, endpoint)
            if self._access_token is not None:
                self._spent.append(self._access_token)
            if refresh != self._refresh_token:
                self._spent.append(self._refresh_token)
            self._access_token, self._refresh_token = access, refresh
            self._generation += 1
            self.refreshes += 1
            log.info("%s %s: refreshed the Drift access token (POST %s -> %d)",
                     endpoint, why, TOKEN_PATH, response.status_code)
            self._save(access, refresh)
            return access, self._generation

    def _token_request(self, request: httpx.Request) -> httpx.Request:
        if self._token_url is None:
            raise RuntimeError("RefreshingAuth is not bound to an API URL; pass api_url=...")
        headers = {"Accept": "application/json"}
        if "user-agent" in request.headers:
            headers["User-Agent"] = request.headers["user-agent"]
        extensions = {"timeout": request.extensions["timeout"]} if (
            "timeout" in request.extensions) else {}
        return httpx.Request(
            "POST",
            self._token_url,
            data={
                "grant_type": "refresh_token",
                "refresh_token": self._refresh_token,
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            },
            headers=headers,
            extensions=extensions,
        )

    def _read_tokens(self, response: httpx.Response, endpoint: str) -> tuple[str, str]:
        """The new (access, refresh) pair, or TokenRefreshError. Caller holds the lock."""
        status = response.status_code
        if not response.is_success:
            said = drift_error_message(response)
            detail = self._mask(f"{status}: {said}" if said else status_text(response))
            if status == 401 or (status == 400 and "invalid_client" in detail):
                message = (f"Drift rejected the OAuth client id or secret while refreshing the "
                           f"access token ({detail}). {CLIENT_HELP}")
            elif status in (400, 403):
                message = f"Drift rejected the refresh token ({detail}). {REFRESH_HELP}"
            elif 400 <= status < 500 and status != 429:
                message = (f"Drift refused the token refresh: POST {TOKEN_PATH} answered "
                           f"{detail}. Check the API URL (--api-url or DRIFT_API_URL).")
            else:  # 5xx, 429 or a redirect: may pass, so not remembered
                raise TokenRefreshError(
                    f"Drift could not refresh the access token ({detail}). Drift may be having "
                    "trouble; try again later.",
                    endpoint=endpoint,
                    refresh_status=status,
                )
            self._rejected = (self._generation, message, status)
            raise TokenRefreshError(message, endpoint=endpoint, refresh_status=status)
        body = _json(response)
        access = _field(body, "access_token", "accessToken")
        refresh = _field(body, "refresh_token", "refreshToken")
        problem = None
        if not isinstance(body, dict):
            problem = "a body that is not a JSON object"
        elif not _usable(access):
            problem = "no usable access_token"
        elif refresh is not None and not _usable(refresh):
            problem = "an unusable refresh_token"
        if problem is not None:
            message = (f"Drift answered the token refresh (POST {TOKEN_PATH}, {status}) with "
                       f"{problem}. {REFRESH_HELP}")
            self._rejected = (self._generation, message, status)
            raise TokenRefreshError(message, endpoint=endpoint, refresh_status=status)
        assert isinstance(access, str)
        return access, refresh if isinstance(refresh, str) else self._refresh_token

    def _save(self, access: str, refresh: str) -> None:
        if self._on_refresh is None:
            return
        try:
            self._on_refresh(access, refresh)
        except Exception as exc:  # noqa: BLE001 - the run goes on with the new token in memory
            text = self._mask(" ".join(str(exc).split()) or type(exc).__name__)
            if isinstance(exc, DriftSyncError):  # already says what failed and what follows
                log.warning("%s", text)
            else:
                log.warning("Could not save the refreshed Drift tokens: %s", text)

    def _mask(self, text: str) -> str:
        for secret in (self._client_secret, self._refresh_token, self._access_token,
                       *self._spent):
            if secret:
                text = text.replace(secret, "****")
        return text


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None


def _field(body: Any, snake: str, camel: str) -> Any:
    if not isinstance(body, dict):
        return None
    value = body.get(snake)
    return value if value is not None else body.get(camel)


def _usable(value: Any) -> bool:
    """A token we can put in a header and a TOML file: one printable word."""
    return (isinstance(value, str) and bool(value) and value.isprintable()
            and not any(ch.isspace() for ch in value))
