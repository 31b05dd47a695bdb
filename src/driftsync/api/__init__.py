"""The Drift HTTP API: one client, its auth (bearer or refreshing OAuth), retry, paging."""

from .auth import BearerAuth, RefreshingAuth, TokenRefreshError
from .client import DEFAULT_API_URL, DriftClient, RequestStats
from .pagination import Page, paginate, records_at
from .retry import RetryPolicy

__all__ = [
    "DEFAULT_API_URL",
    "BearerAuth",
    "DriftClient",
    "Page",
    "RefreshingAuth",
    "RequestStats",
    "RetryPolicy",
    "TokenRefreshError",
    "paginate",
    "records_at",
]
