"""Every error driftsync raises on purpose derives from :class:`DriftSyncError`.

The CLI (and later the web app) turns any of them into one line: ``str(error)``.
So each message says what failed and how to fix it, and never contains a token.

    DriftSyncError
    ├── ConfigError                  bad flag, missing token, unreadable config file
    ├── ApiError                     Drift answered, or could not be reached
    │   ├── AuthError                401: token invalid or expired
    │   │   └── TokenRefreshError    ... and the OAuth refresh failed too (api/auth.py)
    │   ├── ForbiddenError           403: the token lacks a scope
    │   │   └── MissingScopeError    ... named with the table that needs it
    │   ├── RequestRejectedError     other 4xx, with Drift's own message
    │   ├── ServerError              5xx or 429 after every retry
    │   ├── ConnectionFailedError    host unreachable, timeouts, dropped connections
    │   ├── MalformedResponseError   a body that is not the documented shape
    │   └── PaginationError          a cursor seen twice, a next link to a foreign host
    └── DestinationError             the database could not be opened or written
"""

from __future__ import annotations


def one_line(text: str) -> str:
    """``text`` on one line: the CLI, the logs and the notifications say each error in one."""
    return " ".join(text.split())


class DriftSyncError(Exception):
    """Root of every error driftsync raises on purpose."""


class ConfigError(DriftSyncError):
    """The user's settings are missing or wrong."""


class ApiError(DriftSyncError):
    """A call to the Drift API failed."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class AuthError(ApiError):
    """Drift rejected the token itself (HTTP 401)."""


class ForbiddenError(ApiError):
    """Drift refused the call for lack of authorization (HTTP 403)."""


class MissingScopeError(ForbiddenError):
    """A 403 explained: which table needs which scope."""

    def __init__(self, table: str, scope: str, *, endpoint: str = "") -> None:
        super().__init__(
            f"Drift refused access to {table} (403): the token lacks the '{scope}' scope. "
            f"Add '{scope}' under SETTINGS > OAuth & Scopes in your Drift app, "
            "reinstall the app, and use the new token.",
            status=403,
            endpoint=endpoint,
        )
        self.table = table
        self.scope = scope


class RequestRejectedError(ApiError):
    """A 4xx other than 401/403/429: Drift's own message is the best explanation."""


class ServerError(ApiError):
    """Drift kept failing (5xx or 429) after every retry."""


class ConnectionFailedError(ApiError):
    """No usable HTTP answer: refused connection, DNS failure, timeout, dropped socket."""


class MalformedResponseError(ApiError):
    """Drift answered 2xx with a body we cannot read as the documented shape."""


class PaginationError(ApiError):
    """Paging would loop or leak the token, so it was stopped."""


class DestinationError(DriftSyncError):
    """The destination database could not be opened, read or written."""
