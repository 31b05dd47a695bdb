"""What keeps the web app safe: where it may listen, the login, CSRF tokens, allowed hosts and
security headers.

* **Where.** Loopback by default. Any other address serves the synced data and the tokens'
  power to the network, so it needs a password (``DRIFTSYNC_WEB_PASSWORD``):
  :func:`check_exposure` refuses to start without one.
* **Login.** With a password set, every page but ``/login`` and ``/static`` needs a session
  that logged in; the session cookie is signed, HttpOnly and SameSite=Strict. Failed logins
  from one address are slowed and then refused for a while.
* **CSRF.** Each session has a random token. Every POST must carry it, in the form field
  ``csrf`` or the ``X-CSRF-Token`` header (htmx sends it from ``hx-headers``), and a POST
  whose ``Origin`` is another site is refused before that.
* **Hosts.** On loopback, only requests for ``127.0.0.1``, ``localhost`` or ``[::1]`` are
  answered, so a web page cannot reach the app by DNS rebinding.
* **Headers.** A strict Content-Security-Policy (scripts and styles from the app only, no
  inline script, no framing), ``X-Frame-Options: DENY``, ``Referrer-Policy: no-referrer``,
  ``nosniff``; pages are not cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from urllib.parse import quote, urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Secret, is_loopback
from ..errors import ConfigError
from .errors import Forbidden

PASSWORD_ENV = "DRIFTSYNC_WEB_PASSWORD"
MIN_PASSWORD = 12
"""Characters of the login password, so that it withstands guessing at the login throttle's
pace for longer than anyone would leave the app exposed."""
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
"""The usual loopback names; any loopback address literal (``127.0.0.2``) is answered too,
since ``--host 127.0.0.2`` is accepted as loopback and the printed URL must then work."""
OPEN_PATHS = ("/login", "/static/")
LOGIN_FAILURES = 5
"""Failed logins from one address within ``LOGIN_WINDOW`` seconds before it must wait."""
LOGIN_WINDOW = 60.0

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def check_exposure(host: str, password: Secret | None) -> None:
    """ConfigError when serving on ``host`` would expose the app without a login."""
    if not is_loopback(host) and password is None:
        raise ConfigError(
            f"Serving the web app on {host} exposes it to the network, so it needs a login: "
            f"set {PASSWORD_ENV} to a password, or serve on 127.0.0.1 (the default)."
        )
    if not is_loopback(host) and password is not None and len(
            password.reveal().strip()) < MIN_PASSWORD:
        raise ConfigError(
            f"{PASSWORD_ENV} is too short to guard an app on the network; use a passphrase of "
            f"at least {MIN_PASSWORD} characters."
        )


def password_matches(given: str, expected: Secret) -> bool:
    """Constant-time comparison (of digests, so the lengths give nothing away either)."""
    return hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                               hashlib.sha256(expected.reveal().encode()).digest())


# -- CSRF ----------------------------------------------------------------------------------

def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def check_csrf(request: Request) -> None:
    """Forbidden unless the request carries the session's CSRF token."""
    expected = request.session.get(CSRF_FIELD)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not isinstance(expected, str) or not given or not hmac.compare_digest(
            given.encode(), expected.encode()):
        raise Forbidden("This form has expired or did not come from this app (its CSRF token "
                        "is missing or wrong). Reload the page and try again.")


def local_path(target: str | None) -> str:
    """``target`` if it is a path on this app (after login), else the Resources page."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return "/resources"


class LoginThrottle:
    """Counts failed logins per client address."""

    def __init__(self, failures: int = LOGIN_FAILURES, window: float = LOGIN_WINDOW) -> None:
        self._failures = failures
        self._window = window
        self._lock = threading.Lock()
        self._seen: dict[str, list[float]] = {}

    def blocked(self, client: str) -> bool:
        with self._lock:
            recent = self._recent(client)
            return len(recent) >= self._failures

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> list[float]:
        now = time.monotonic()
        recent = [t for t in self._seen.get(client, []) if now - t < self._window]
        self._seen[client] = recent
        return recent


# -- middleware ----------------------------------------------------------------------------

class SecurityHeaders:
    """Adds :data:`HEADERS` to every response, and ``no-store`` to everything but assets."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Guard:
    """Allowed hosts, same-origin POSTs and the login (inside the session middleware)."""

    def __init__(self, app: ASGIApp, *, password: Secret | None, loopback: bool) -> None:
        self.app = app
        self.password = password
        self.loopback = loopback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        response = self._refusal(scope, headers, host)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: Headers, host: str) -> Response | None:
        if self.loopback and not _loopback_name(_hostname(host)):
            return PlainTextResponse("This app answers only on its loopback address.", 421)
        if scope["method"] not in ("GET", "HEAD"):
            # With Referrer-Policy no-referrer a browser sends "Origin: null" on form posts
            # of this very app: only a named other origin can be refused here.
            origin = headers.get("origin")
            if origin not in (None, "null") and urlsplit(origin).netloc.lower() != host.lower():
                return PlainTextResponse("Cross-site request refused.", 403)
        if self.password is None or scope["path"].startswith(OPEN_PATHS):
            return None
        if scope.get("session", {}).get("user"):
            return None
        if scope["method"] in ("GET", "HEAD") and not headers.get("hx-request"):
            target = scope["path"] + (f"?{scope['query_string'].decode()}"
                                      if scope.get("query_string") else "")
            return RedirectResponse(f"/login?next={quote(target, safe='')}", 303)
        return PlainTextResponse("Log in first.", 401)


def _loopback_name(hostname: str) -> bool:
    """A Host that only this machine can mean: a name of :data:`LOOPBACK_HOSTS` or a loopback
    address literal. A DNS name (even one resolving to 127.0.0.1, as in DNS rebinding) is not
    one."""
    return hostname in LOOPBACK_HOSTS or is_loopback(hostname)


def _hostname(host: str) -> str:
    host = host.lower()
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
