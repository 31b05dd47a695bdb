"""Paging through Drift's list endpoints, completely and without ever looping.

Drift pages its lists four ways (see the API notes):

* conversations: ``links.next`` (an absolute URL carrying ``page_token``), or in the older
  shape ``pagination: {more, next}`` with a ``next`` cursor parameter;
* accounts: ``index``/``size`` offsets, with the next page as a relative ``data.next`` URL;
* messages: ``pagination: {more, next}`` with a ``next`` cursor and a fixed page size;
* users, playbooks, teams...: one page.

Each shape is a small strategy object; :func:`paginate` is the one loop that drives them.
A token seen twice is an error (a server bug would otherwise loop forever), and a next link
to a host other than the API's own is refused, because following it would send the token
there.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from ..errors import MalformedResponseError, PaginationError, RequestRejectedError
from .client import DriftClient, display_host

log = logging.getLogger("driftsync.api")

PaginationKind = Literal["conversation_list", "offset", "cursor", "none"]


@dataclass(frozen=True)
class PageRequest:
    url: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of raw Drift records, as sent."""

    number: int
    records: list[dict[str, Any]]


class Paginator(ABC):
    """Knows how to ask for the first page and how to find the next one in a response."""

    def __init__(self, client: DriftClient, endpoint: str, page_size: int | None) -> None:
        self.client = client
        self.endpoint = endpoint
        self.page_size = page_size
        self._seen: set[str] = set()

    @abstractmethod
    def first(self) -> PageRequest: ...

    @abstractmethod
    def next(self, body: Any) -> PageRequest | None:
        """The request for the page after ``body``, or None when ``body`` was the last."""

    def fallback(self, error: RequestRejectedError) -> PageRequest | None:
        """Another first request to try when Drift rejects the first one (400), if any."""
        return None

    def _remember(self, token: str) -> None:
        if token in self._seen:
            raise PaginationError(
                f"Drift sent the same page cursor twice for GET {self.endpoint} ({token!r}); "
                "stopped paging instead of looping forever. Run the sync again; if it "
                "persists, report it to Drift support.",
                endpoint=f"GET {self.endpoint}",
            )
        self._seen.add(token)

    def _checked_link(self, link: str) -> str:
        if not self.client.is_api_url(link):
            raise PaginationError(
                f"Drift's next-page link for GET {self.endpoint} points to another host "
                f"({display_host(link)}); refused to follow it because that would send the "
                "access token there.",
                endpoint=f"GET {self.endpoint}",
            )
        return link


class ConversationListPaginator(Paginator):
    """``links.next`` (page_token) or, in the older shape, ``pagination.more/next``."""

    DEFAULT_LIMIT = 100  # the newer docs' maximum
    OLD_LIMIT = 50  # the older docs' maximum, tried if Drift rejects 100

    def __init__(self, client: DriftClient, endpoint: str, page_size: int | None) -> None:
        super().__init__(client, endpoint, page_size)
        self.limit = page_size or self.DEFAULT_LIMIT

    def first(self) -> PageRequest:
        # Drift's own SDK sends an empty page_token on the first call ("leave blank").
        return PageRequest(self.endpoint, {"limit": self.limit, "page_token": ""})

    def fallback(self, error: RequestRejectedError) -> PageRequest | None:
        if error.status != 400 or self.limit <= self.OLD_LIMIT:
            return None
        log.info("Drift rejected limit=%d for conversations; trying limit=%d",
                 self.limit, self.OLD_LIMIT)
        self.limit = self.OLD_LIMIT
        return self.first()

    def next(self, body: Any) -> PageRequest | None:
        links = body.get("links")
        if isinstance(links, dict) and links.get("next"):
            link = links["next"]
            if not isinstance(link, str):
                raise _malformed(self.endpoint, "links.next is not a URL")
            self._remember(_page_token(link))
            return PageRequest(self._checked_link(link), {})
        pagination = body.get("pagination")
        if isinstance(pagination, dict) and pagination.get("more"):
            cursor = pagination.get("next")
            if cursor in (None, ""):
                raise _malformed(self.endpoint, "pagination.more is true but next is missing")
            self._remember(str(cursor))
            return PageRequest(self.endpoint, {"limit": self.limit, "next": cursor})
        return None


class OffsetPaginator(Paginator):
    """Accounts: ``index``/``size``, following ``data.next`` until Drift leaves it out.

    Drift's docs disagree on the largest ``size`` (65 or 100): we ask for 100 and fall back
    to 65 if Drift rejects it. Following ``data.next`` verbatim keeps whatever size Drift
    actually used.
    """

    SIZES = (100, 65)

    def __init__(self, client: DriftClient, endpoint: str, page_size: int | None) -> None:
        super().__init__(client, endpoint, page_size)
        self._sizes = [s for s in self.SIZES if page_size is None or s <= page_size] or [
            page_size or self.SIZES[0]
        ]
        self._size_index = 0

    def first(self) -> PageRequest:
        self._remember("0")
        return PageRequest(self.endpoint, {"index": 0, "size": self._sizes[self._size_index]})

    def fallback(self, error: RequestRejectedError) -> PageRequest | None:
        if error.status != 400 or self._size_index + 1 >= len(self._sizes):
            return None
        self._size_index += 1
        self._seen.clear()
        log.info("Drift rejected size=%d for accounts; trying size=%d",
                 self._sizes[self._size_index - 1], self._sizes[self._size_index])
        return self.first()

    def next(self, body: Any) -> PageRequest | None:
        data = body.get("data")
        link = data.get("next") if isinstance(data, dict) else None
        if not link:
            return None
        if not isinstance(link, str):
            raise _malformed(self.endpoint, "data.next is not a URL")
        query = parse_qs(urlsplit(link).query)
        self._remember(query.get("index", [link])[0])
        return PageRequest(self._checked_link(link), {})


class CursorPaginator(Paginator):
    """Messages: ``pagination: {more, next}``, passing ``next`` back until ``more`` is false.

    Drift fixes the page size (50), so none is sent.
    """

    def first(self) -> PageRequest:
        return PageRequest(self.endpoint, {})

    def next(self, body: Any) -> PageRequest | None:
        pagination = body.get("pagination") if isinstance(body, dict) else None
        if not isinstance(pagination, dict) or not pagination.get("more"):
            return None
        cursor = pagination.get("next")
        if cursor in (None, ""):
            raise _malformed(self.endpoint, "pagination.more is true but next is missing")
        self._remember(str(cursor))
        return PageRequest(self.endpoint, {"next": cursor})


class SinglePagePaginator(Paginator):
    def first(self) -> PageRequest:
        return PageRequest(self.endpoint, {})

    def next(self, body: Any) -> PageRequest | None:
        return None


PAGINATORS: dict[str, type[Paginator]] = {
    "conversation_list": ConversationListPaginator,
    "offset": OffsetPaginator,
    "cursor": CursorPaginator,
    "none": SinglePagePaginator,
}


def paginate(
    client: DriftClient,
    endpoint: str,
    kind: PaginationKind,
    records_path: tuple[str, ...],
    page_size: int | None = None,
) -> Iterator[Page]:
    """Yield every page of ``endpoint`` in order; raise instead of looping or leaking."""
    paginator = PAGINATORS[kind](client, endpoint, page_size)
    request: PageRequest | None = paginator.first()
    number = 0
    while request is not None:
        try:
            body = client.get(request.url, params=request.params or None)
        except RequestRejectedError as error:
            retry = paginator.fallback(error) if number == 0 else None
            if retry is None:
                raise
            request = retry
            continue
        number += 1
        records = records_at(body, records_path, endpoint)
        yield Page(number=number, records=records)
        if not records:
            # An empty page ends the list even if Drift offers a next link: following
            # empty pages could go on forever with fresh tokens.
            return
        request = paginator.next(body)


def records_at(body: Any, path: tuple[str, ...], endpoint: str) -> list[dict[str, Any]]:
    """The list of records at ``path`` (e.g. ``data.accounts``), checked to be a list of objects."""
    node = body
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise _malformed(endpoint, f"no '{'.'.join(path)}' list in the body")
        node = node[key]
    if node is None:
        return []
    if not isinstance(node, list) or not all(isinstance(r, dict) for r in node):
        raise _malformed(endpoint, f"'{'.'.join(path)}' is not a list of objects")
    return node


def _page_token(link: str) -> str:
    query = parse_qs(urlsplit(link).query)
    for key in ("page_token", "next"):
        if query.get(key):
            return query[key][0]
    return link


def _malformed(endpoint: str, what: str) -> MalformedResponseError:
    return MalformedResponseError(
        f"Drift answered GET {endpoint} with an unexpected body: {what}.",
        endpoint=f"GET {endpoint}",
    )
