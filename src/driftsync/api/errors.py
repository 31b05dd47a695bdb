"""Turn a failed HTTP response into the typed error that says what the user should do.

This is the only place where a status code decides the kind of error.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from ..errors import (
    ApiError,
    AuthError,
    ForbiddenError,
    RequestRejectedError,
    ServerError,
)

TOKEN_HELP = (
    "Check the token you gave (--token, DRIFT_ACCESS_TOKEN or the config file), or copy a "
    "fresh OAuth access token from your Drift app (dev.drift.com > your app > Installing to "
    "Drift)."
)


MAX_MESSAGE = 280
"""Drift's words are quoted in a one-line error; longer text (an echoed page) is cut."""


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def drift_error_message(response: httpx.Response) -> str | None:
    """Drift's own words from an error body, in any of the shapes seen in the wild.

    ``{"error": {"type", "message"}}`` (documented), ``{"errors": [{"type", "message"}]}``
    (older docs), ``{"error": "invalid_token", "error_description": ...}`` (OAuth gateways)
    and ``{"message": ...}``. Returns None for bodies that are not JSON (HTML error pages).
    The result is one line of at most about ``MAX_MESSAGE`` characters, and the access token
    the request carried is masked should Drift echo it back.
    """
    body = _json_body(response)
    if not isinstance(body, dict):
        return None
    said: str | None = None
    error = body.get("error")
    if isinstance(error, dict):
        said = _join(error.get("type"), error.get("message"))
    elif isinstance(error, str):
        said = _join(error, body.get("error_description") or body.get("message"))
    else:
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            said = _join(errors[0].get("type"), errors[0].get("message"))
        elif isinstance(body.get("message"), str):
            said = body["message"]
    return _one_line(said, _sent_token(response)) if said else None


_NOT_JSON = object()


def _json_body(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _sent_token(response: httpx.Response) -> str | None:
    """The bearer token of the request behind ``response``, to mask it in Drift's words."""
    try:
        header = response.request.headers.get("authorization", "")
    except RuntimeError:  # a response built without a request
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _one_line(text: str, token: str | None) -> str:
    if token:
        text = text.replace(token, "****")
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE:
        text = text[:MAX_MESSAGE].rstrip() + "…"
    return text


def _join(kind: object, message: object) -> str | None:
    parts = [str(p) for p in (kind, message) if isinstance(p, str) and p]
    if len(parts) == 2 and parts[0] in parts[1]:
        return parts[1]
    return ": ".join(parts) or None


def status_text(response: httpx.Response) -> str:
    phrase = response.reason_phrase or ""
    return f"{response.status_code} {phrase}".strip()


def error_for_response(response: httpx.Response, endpoint: str, attempts: int = 1, *,
                       token_help: str = TOKEN_HELP) -> ApiError:
    """The error to raise for a non-2xx response to ``endpoint`` (e.g. ``GET /accounts``);
    ``token_help`` says how to fix a rejected token, which depends on where it came from."""
    status = response.status_code
    said = drift_error_message(response)
    detail = f"{status}: {said}" if said else status_text(response)
    if status == 401:
        return AuthError(
            f"Drift rejected the access token ({detail}). {token_help}",
            status=status,
            endpoint=endpoint,
        )
    if status == 403:
        return ForbiddenError(
            f"Drift refused {endpoint} ({detail}): the token lacks a scope this call needs.",
            status=status,
            endpoint=endpoint,
        )
    if status == 429:
        return ServerError(
            f"Drift kept rate-limiting {endpoint} (429) after {plural(attempts, 'attempt')}. "
            "Wait a few minutes and run the sync again.",
            status=status,
            endpoint=endpoint,
        )
    if status >= 500:
        body = ""
        if not said and not response.content.strip():
            body = " and an empty body"
        elif not said and _json_body(response) is _NOT_JSON:
            body = " and a non-JSON body"
        return ServerError(
            f"Drift failed on {endpoint} with {detail}{body} after {plural(attempts, 'attempt')}. "
            "Drift may be having trouble; try again later.",
            status=status,
            endpoint=endpoint,
        )
    return RequestRejectedError(
        f"Drift rejected {endpoint} ({detail}).",
        status=status,
        endpoint=endpoint,
    )
