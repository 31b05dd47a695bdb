"""The Drift HTTP API: one client, one retry policy, the paging strategies."""

from .client import DEFAULT_API_URL, DriftClient, RequestStats
from .pagination import Page, paginate, records_at
from .retry import RetryPolicy

__all__ = [
    "DEFAULT_API_URL",
    "DriftClient",
    "Page",
    "RequestStats",
    "RetryPolicy",
    "paginate",
    "records_at",
]
