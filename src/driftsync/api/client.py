"""One HTTP client for the Drift API: auth, timeouts, retries, JSON, typed errors.

It knows Drift's wire format but nothing about tables. Every request goes through
:meth:`DriftClient.request`, so there is exactly one retry loop and one place that logs.

Authorization is an httpx auth (:mod:`.auth`): a fixed :class:`BearerAuth` by default, or a
:class:`RefreshingAuth` that refreshes an OAuth access token on 401. ``stats.requests`` counts
every HTTP request sent, including an OAuth token refresh and the re-sent request after it
(they cost Drift's rate limit like any other); ``stats.refreshes`` counts the requests to
the token endpoint (a refresh whose connection dropped and was retried counts twice).
``stats.retries`` counts only the back-off retries of the retry policy.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import orjson

from .. import __version__
from ..errors import ApiError, ConnectionFailedError, MalformedResponseError
from .auth import BearerAuth, RefreshingAuth, token_url
from .errors import TOKEN_HELP, error_for_response, plural
from .ratelimit import DEFAULT_REQUESTS_PER_MINUTE, RateLimiter
from .retry import RetryPolicy, parse_retry_after

log = logging.getLogger("driftsync.api")

DEFAULT_API_URL = "https://driftapi.com"
DEFAULT_TIMEOUT = 30.0
DRIFT_HOSTS = frozenset({"driftapi.com", "api.drift.com"})
"""Drift's own API hosts. Its newer docs answer ``links.next`` on api.drift.com for calls
made to driftapi.com, so a link between these two is Drift's own and safe to follow."""


__all__ = ["DEFAULT_API_URL", "BearerAuth", "DriftClient", "RefreshingAuth", "RequestStats"]


@dataclass
class RequestStats:
    """Requests, retries and token refreshes so far; shared by worker threads, hence the lock.

    ``snapshot()`` stays ``(requests, retries)``; ``refreshes`` is read directly.
    """

    requests: int = 0
    retries: int = 0
    refreshes: int = 0
    throttled: int = 0
    """429 answers (rate limited), each also retried."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, requests: int = 0, retries: int = 0, refreshes: int = 0,
            throttled: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.refreshes += refreshes
            self.throttled += throttled

    def snapshot(self) -> tuple[int, int]:
        with self._lock:
            return self.requests, self.retries


class DriftClient:
    """A Drift API client bound to one credential and one API host.

    Give either ``token`` (sent as a fixed bearer token) or ``auth``, e.g. a
    :class:`RefreshingAuth`, which the client binds to its own ``base_url`` so tokens are only
    ever refreshed there. ``transport`` is the seam for tests (``httpx.MockTransport``);
    ``sleep`` lets them skip real back-off waits. ``requests_per_minute`` paces every request
    of the client, from any thread (:mod:`.ratelimit`); ``"auto"`` means the conservative
    default on Drift's own hosts and no limit elsewhere (the simulator), None no limit.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        auth: httpx.Auth | None = None,
        base_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_connections: int = 16,
        requests_per_minute: float | None | Literal["auto"] = "auto",
        token_help: str = TOKEN_HELP,
    ) -> None:
        if auth is None:
            if not token:
                raise ValueError("token is required")
            auth = BearerAuth(token)
        elif token:
            raise ValueError("pass token or auth, not both")
        self.base_url = base_url.rstrip("/")
        self.token_help = token_help
        """What a rejected token's error tells the user to do: where this token came from."""
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.stats = RequestStats()
        self._sleep = sleep
        if requests_per_minute == "auto":
            host = urlsplit(self.base_url).hostname
            requests_per_minute = DEFAULT_REQUESTS_PER_MINUTE if host in DRIFT_HOSTS else None
        self.limiter = RateLimiter(requests_per_minute) if requests_per_minute else None
        self._auth = auth
        self._token_url = httpx.URL(token_url(self.base_url))
        if isinstance(auth, RefreshingAuth):
            auth.bind(self.base_url)
        self._http = httpx.Client(
            base_url=self.base_url,
            auth=auth,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
            event_hooks={"request": [self._count]},
            headers={"Accept": "application/json", "User-Agent": f"driftsync/{__version__}"},
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        )

    def __repr__(self) -> str:
        return f"DriftClient(base_url={self.base_url!r})"

    def __enter__(self) -> DriftClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- requests -----------------------------------------------------------------------

    def get(self, url: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET a JSON document; ``url`` is a path on the API host or an absolute URL on it."""
        return self.request("GET", url, params=params)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        endpoint = f"{method} {urlsplit(url).path or '/'}"
        if not self.is_api_url(url):
            # The token goes with every request, so it may only go to the API host.
            raise ApiError(
                f"Refused to send the Drift access token to {display_host(url)}: {endpoint} "
                f"is not on the Drift API host {self.base_url}.",
                endpoint=endpoint,
            )
        response = self._send_with_retries(method, url, endpoint, params=params, json=json)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise MalformedResponseError(
                f"Drift answered {endpoint} with a body that is not JSON "
                f"({len(response.content)} bytes, content-type "
                f"{response.headers.get('content-type', 'unknown')!r}).",
                status=response.status_code,
                endpoint=endpoint,
            ) from exc

    def token_info(self) -> dict[str, Any]:
        """``POST /app/token_info``: the token's org and granted scopes.

        The token travels in the body too. Should the auth refresh it during the call, the
        re-sent body still names the old token, so the question is asked again (once) about
        the new one.
        """
        token = self._current_token()
        try:
            body = self.request("POST", "/app/token_info", json={"access_token": token})
        except ApiError:
            if self._current_token() == token:
                raise
            body = None
        if self._current_token() != token:
            body = self.request(
                "POST", "/app/token_info", json={"access_token": self._current_token()}
            )
        if not isinstance(body, dict) or not isinstance(body.get("scope", ""), str):
            raise MalformedResponseError(
                "Drift answered POST /app/token_info without a readable 'scope' field.",
                endpoint="POST /app/token_info",
            )
        return body

    def _current_token(self) -> str | None:
        return getattr(self._auth, "access_token", None)

    def _count(self, request: httpx.Request) -> None:
        """Event hook: every request httpx sends, including those of the auth flow."""
        refresh = request.method == "POST" and request.url == self._token_url
        self.stats.add(requests=1, refreshes=int(refresh))

    def is_api_url(self, url: str) -> bool:
        """May the token be sent to ``url``? Only to the configured host (or Drift's pair)."""
        try:
            target = urlsplit(url)
            if not target.scheme and not target.netloc:
                return True  # relative: resolved against the configured host
            ours = urlsplit(self.base_url)
            if (target.scheme, target.netloc.lower()) == (ours.scheme, ours.netloc.lower()):
                return True
            return (
                target.scheme == "https"
                and ours.hostname in DRIFT_HOSTS
                and target.hostname in DRIFT_HOSTS
                and target.port is None
            )
        except ValueError:  # a bad port or IPv6 literal: not a URL we can vouch for
            return False

    def _send_with_retries(
        self,
        method: str,
        url: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None,
        json: Any,
    ) -> httpx.Response:
        attempts = self.retry.max_attempts
        for attempt in range(1, attempts + 1):
            failure: str
            retry_after: float | None = None
            if self.limiter is not None:
                self.limiter.acquire()
            try:
                sent = time.perf_counter()
                response = self._http.request(method, url, params=params, json=json)
            except httpx.TimeoutException as exc:
                if attempt == attempts:
                    raise ConnectionFailedError(
                        f"The Drift API at {self.base_url} did not answer {endpoint} within "
                        f"{self.timeout:g}s ({plural(attempts, 'attempt')}). Check the network, or raise "
                        "--timeout.",
                        endpoint=endpoint,
                    ) from exc
                failure = "timed out"
            except httpx.DecodingError as exc:
                # A 2xx whose gzip/deflate/brotli body is corrupt: retrying rarely helps.
                raise MalformedResponseError(
                    f"Drift answered {endpoint} with a compressed body that could not be "
                    f"decompressed ({exc}).",
                    endpoint=endpoint,
                ) from exc
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise _connection_error(self.base_url, endpoint, exc, attempts) from exc
                failure = f"failed ({_reason(exc)})"
            else:
                if log.isEnabledFor(logging.INFO):
                    log.info("%s -> %d in %.0f ms", endpoint, response.status_code,
                             (time.perf_counter() - sent) * 1000)
                if response.is_success:
                    if self.limiter is not None:
                        self.limiter.succeeded()
                    return response
                if response.status_code == 429:
                    self.stats.add(throttled=1)
                    if self.limiter is not None:
                        self.limiter.throttled()
                if not self.retry.should_retry_status(response.status_code) or attempt == attempts:
                    raise error_for_response(response, endpoint, attempt,
                                             token_help=self.token_help)
                failure = f"answered {response.status_code}"
                retry_after = parse_retry_after(response.headers.get("retry-after"))
            wait = self.retry.wait(attempt, retry_after)
            self.stats.add(retries=1)
            log.warning(
                "%s %s; retry %d of %d in %.2fs%s",
                endpoint,
                failure,
                attempt,
                attempts - 1,
                wait,
                " (Retry-After)" if retry_after is not None else "",
            )
            self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover


def display_host(url: str) -> str:
    """The host (and port) of ``url`` for a message: never its user-info part."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return url
    return netloc.rpartition("@")[2] or url


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectError):
        if "refused" in text:
            return "connection refused"
        if "name or service" in text or "nodename" in text or "resolve" in text:
            return "host name not found"
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection dropped"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return "connection dropped"
    return type(exc).__name__


def _connection_error(
    base_url: str, endpoint: str, exc: httpx.TransportError, attempts: int
) -> ConnectionFailedError:
    reason = _reason(exc)
    if isinstance(exc, httpx.ConnectError):
        return ConnectionFailedError(
            f"Cannot reach the Drift API at {base_url} ({reason}, {plural(attempts, 'attempt')}). "
            "Check --api-url or DRIFT_API_URL and your network connection.",
            endpoint=endpoint,
        )
    return ConnectionFailedError(
        f"The connection to the Drift API at {base_url} failed during {endpoint} "
        f"({reason}, {plural(attempts, 'attempt')}). Try again; if it persists, Drift may be down.",
        endpoint=endpoint,
    )
