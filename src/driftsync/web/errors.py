"""HTTP errors as exceptions carrying a status; :func:`render_error` turns any of them (and
driftsync's own errors) into one page, or a short fragment for an htmx request.

A message shown here is always written by driftsync, never the text of a request: a value
the browser sent is echoed only through the template, escaped.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from ..errors import ConfigError, DriftSyncError
from ..resources import UnknownResourceError

log = logging.getLogger("driftsync.web")


class HTTPError(Exception):
    """An error page with ``status`` and a one-line ``message`` for the user."""

    status = 500

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class BadRequest(HTTPError):
    status = 400


class Forbidden(HTTPError):
    status = 403


class NotFound(HTTPError):
    status = 404


class Busy(HTTPError):
    """The database is held by a sync (or another program); reading must wait."""

    status = 409


class QueryRefused(BadRequest):
    """A statement the query page does not run: anything but one read."""


class QueryFailed(BadRequest):
    """DuckDB could not run a (read-only) query: its own one-line reason."""


def status_and_message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, HTTPError):
        return exc.status, exc.message
    if isinstance(exc, UnknownResourceError):
        return 404, f"There is no resource named '{exc.name}'."
    if isinstance(exc, ConfigError | DriftSyncError):
        return 400, " ".join(str(exc).split())
    if isinstance(exc, StarletteHTTPException):
        return exc.status_code, {404: "There is no such page.",
                                 405: "That is not something this page does."}.get(
            exc.status_code, str(exc.detail))
    log.error("unexpected %s while serving a page", type(exc).__name__, exc_info=exc)
    return 500, f"Unexpected {type(exc).__name__}; the server log has the details."


async def render_unexpected(request: Request, exc: Exception) -> Response:
    """:func:`render_error` for an exception no handler expected. Starlette answers those from
    its outermost middleware, outside :class:`~.security.SecurityHeaders`, so the page (which
    carries the session's CSRF token, like every page) gets the security headers and
    ``no-store`` here."""
    from .security import HEADERS

    response = await render_error(request, exc)
    for name, value in HEADERS:
        response.headers[name.decode()] = value.decode()
    response.headers["cache-control"] = "no-store"
    return response


async def render_error(request: Request, exc: Exception) -> Response:
    from .app import templates_of

    status, message = status_and_message(exc)
    templates = templates_of(request)
    name = "_error.html" if request.headers.get("hx-request") else "error.html"
    return templates.TemplateResponse(request, name, {"status": status, "message": message},
                                      status_code=status)
