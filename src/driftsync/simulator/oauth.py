"""Access/refresh tokens of the Drift API simulator: validation, expiry, refresh with rotation.

Drift documents (API.md §1.3) ``POST https://driftapi.com/oauth2/token``, form-encoded, with
``grant_type=refresh_token``, ``refresh_token``, ``client_id`` and ``client_secret``. The
simulator also accepts a JSON body with the same snake_case keys, Drift's own sample app's
camelCase JSON (``clientId, clientSecret, refreshToken, grantType``) and, as RFC 6749 §2.3.1
allows, the client credentials in an HTTP Basic ``Authorization`` header.

Answers (errors follow RFC 6749 §5.2, ``{"error": code, "error_description": text}``):

* 200 ``{"access_token", "refresh_token", "token_type": "bearer", "expires_in": 7200,
  "orgId"}`` — a new access token (valid at once; older access tokens stay valid until they
  expire) and a new refresh token; the refresh token just used is dead (rotation).
* 400 ``invalid_request`` — unparsable body or a missing parameter.
* 400 ``unsupported_grant_type`` — any grant other than ``refresh_token``.
* 401 ``invalid_client`` — unknown ``client_id`` or wrong ``client_secret``.
* 400 ``invalid_grant`` — unknown, already used (rotated) or revoked (``revoke_after``)
  refresh token.

Token strings are derived from the seed and a counter, so a run is reproducible.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import orjson

from .config import SimulatorConfig

#: Nominal lifetime announced by the token endpoint (seconds). The simulator's real expiry is
#: ``token_expires_after_*``; this number is not adjusted to it, like a server whose clock or
#: revocation list disagrees with what it announced.
EXPIRES_IN = 7200

_CAMEL = {
    "clientId": "client_id",
    "clientSecret": "client_secret",
    "refreshToken": "refresh_token",
    "grantType": "grant_type",
}


def oauth_error(code: str, description: str) -> bytes:
    return orjson.dumps({"error": code, "error_description": description})


class OAuthError(Exception):
    def __init__(self, status: int, code: str, description: str):
        self.status = status
        self.body = oauth_error(code, description)


@dataclass
class _TokenState:
    issued: float  # time.monotonic() at issue
    created_ms: int  # wall clock at issue (token_info created_at)
    refreshed: bool  # issued by POST /oauth2/token (vs the configured token)
    uses: int = 0


def parse_token_request(body: bytes, content_type: str, authorization: str | None) -> dict:
    """The token request parameters as snake_case strings (Basic credentials included)."""
    ctype = content_type.split(";")[0].strip().lower()
    stripped = body.lstrip()
    params: dict[str, Any]
    if "json" in ctype or (not ctype.endswith("urlencoded") and stripped.startswith(b"{")):
        try:
            raw = orjson.loads(body) if stripped else {}
        except orjson.JSONDecodeError:
            raise OAuthError(400, "invalid_request", "The request body is not valid JSON") from None
        if not isinstance(raw, dict):
            raise OAuthError(400, "invalid_request", "The request body must be a JSON object")
        params = {}
        for key, value in raw.items():
            params[_CAMEL.get(key, key)] = value
    else:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise OAuthError(400, "invalid_request", "The request body is not UTF-8") from None
        params = {k: v[-1] for k, v in form.items()}
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(401, "invalid_client", "Invalid client authentication") from None
        cid, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError(401, "invalid_client", "Invalid client authentication")
        params.setdefault("client_id", cid)
        params.setdefault("client_secret", secret)
    return {k: v for k, v in params.items() if isinstance(v, str)}


class TokenBook:
    """Every access token the simulator accepts, their use counts and the live refresh token."""

    def __init__(self, seed: int):
        self._seed = seed
        self._lock = threading.Lock()
        self._state: dict[str, _TokenState] = {}
        self._issued: set[str] = set()  # refreshed access tokens (the configured one aside)
        self._latest: str | None = None  # latest refreshed access token
        self._refresh: str | None = None
        self._refresh_from_config: str | None = None
        self._config_refresh_seen = False
        self._n = 0

    # -- the configured token --
    def register(self, token: str) -> None:
        """Mark ``token`` as issued now (called when the simulator starts)."""
        with self._lock:
            self._state.setdefault(token, self._new_state(refreshed=False))

    @staticmethod
    def _new_state(refreshed: bool) -> _TokenState:
        return _TokenState(time.monotonic(), int(time.time() * 1000), refreshed)

    # -- validation --
    def use(self, token: str | None, cfg: SimulatorConfig) -> bool:
        """True if ``token`` is accepted now; counts one use of it."""
        if not token:
            return False
        with self._lock:
            if token != cfg.token and token not in self._issued:
                return False
            state = self._state.get(token)
            if state is None:  # configured token changed at run time: issued now
                state = self._state[token] = self._new_state(refreshed=False)
            n = cfg.token_expires_after_requests
            if n and state.uses >= n:
                return False
            s = cfg.token_expires_after_seconds
            if s and time.monotonic() - state.issued >= s:
                return False
            state.uses += 1
            return True

    def info(self, token: str) -> tuple[bool, int]:
        """(refreshed?, created_at ms) of an accepted token."""
        with self._lock:
            state = self._state.get(token)
        if state is None:
            return False, 0
        return state.refreshed, state.created_ms

    # -- refresh --
    def _live_refresh(self, cfg: SimulatorConfig) -> str | None:
        # A test may set config.refresh_token at run time: a new value replaces the chain.
        if not self._config_refresh_seen or cfg.refresh_token != self._refresh_from_config:
            self._config_refresh_seen = True
            self._refresh_from_config = cfg.refresh_token
            self._refresh = cfg.refresh_token
        return self._refresh

    def _mint(self, kind: str) -> str:
        digest = hashlib.sha256(f"driftsync-simulator:{self._seed}:{kind}:{self._n}".encode())
        return f"sim{kind[0]}{self._n}_{digest.hexdigest()[:32]}"

    def refresh(
        self, params: dict[str, str], cfg: SimulatorConfig, org_id: int, revoked: bool = False
    ) -> bytes:
        grant = params.get("grant_type")
        if not grant:
            raise OAuthError(400, "invalid_request", "Missing parameter: grant_type")
        if grant != "refresh_token":
            raise OAuthError(
                400, "unsupported_grant_type", f"Unsupported grant_type: {grant}"[:200]
            )
        secret_ok = cfg.client_secret is None or params.get("client_secret") == cfg.client_secret
        if params.get("client_id") != cfg.client_id or not secret_ok:
            raise OAuthError(401, "invalid_client", "Invalid client authentication")
        presented = params.get("refresh_token")
        if not presented:
            raise OAuthError(400, "invalid_request", "Missing parameter: refresh_token")
        if revoked:  # revoke_after: the app's grant is gone, refresh tokens included
            raise OAuthError(400, "invalid_grant", "The refresh_token has been revoked")
        with self._lock:
            live = self._live_refresh(cfg)
            if live is None or presented != live:
                raise OAuthError(400, "invalid_grant", "Invalid refresh_token")
            self._n += 1
            access, refresh = self._mint("access"), self._mint("refresh")
            self._state[access] = self._new_state(refreshed=True)
            self._issued.add(access)
            self._latest = access
            self._refresh = refresh
        return orjson.dumps(
            {
                "access_token": access,
                "refresh_token": refresh,
                "token_type": "bearer",
                "expires_in": EXPIRES_IN,
                "orgId": org_id,
            }
        )

    def current(self, cfg: SimulatorConfig) -> tuple[str, str | None]:
        with self._lock:
            return (self._latest or cfg.token, self._live_refresh(cfg))
