"""paginate() against fake Drift list endpoints: every record once, in order, never a loop."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

import driftsync.simulator
from driftsync.api import DriftClient, Page, RetryPolicy, paginate, records_at
from driftsync.catalog import ACCOUNTS, CONVERSATIONS, USERS
from driftsync.errors import MalformedResponseError, PaginationError, RequestRejectedError

TOKEN = "tok-SECRET-123"
SAMPLES = Path(driftsync.simulator.__file__).parent / "samples"
V1 = orjson.loads((SAMPLES / "conversations_list_v1.json").read_bytes())
V2 = orjson.loads((SAMPLES / "conversations_list_v2.json").read_bytes())
ACCOUNT = orjson.loads((SAMPLES / "account.json").read_bytes())["data"]


def ok(body: Any) -> httpx.Response:
    return httpx.Response(200, content=orjson.dumps(body))


class Server:
    """Routes a request to ``route(request)``; remembers every request it saw."""

    def __init__(self, route: Callable[[httpx.Request], httpx.Response]) -> None:
        self.route = route
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.route(request)

    @property
    def hosts(self) -> list[str]:
        return [r.url.host for r in self.requests]

    def params(self) -> list[dict[str, list[str]]]:
        return [parse_qs(r.url.query.decode(), keep_blank_values=True) for r in self.requests]


def client_for(server: Server, base_url: str = "https://driftapi.com") -> DriftClient:
    return DriftClient(TOKEN, base_url=base_url, transport=httpx.MockTransport(server),
                       sleep=lambda _: None, retry=RetryPolicy(max_attempts=1),
                       requests_per_minute=None)


def conversation(n: int) -> dict[str, Any]:
    return {"status": "open", "contactId": 17035536800 + n, "createdAt": 1686303243241 + n,
            "id": 3782727146 + n, "inboxId": 62491, "updatedAt": 1686303381300 + n}


def all_records(pages: list[Page]) -> list[dict[str, Any]]:
    return [r for p in pages for r in p.records]


def collect(client: DriftClient, table: Any) -> list[Page]:
    return list(paginate(client, table.endpoint, table.pagination, table.records_path,
                         table.page_size))


# -- conversations, links.next shape ------------------------------------------------------


class LinksServer:
    """Serves ``pages`` by page_token; page i links to ``token(i+1)`` on ``host``."""

    def __init__(self, pages: list[list[dict[str, Any]]], host: str = "https://api.drift.com",
                 last_next: Any = "absent") -> None:
        self.pages = pages
        self.host = host
        self.last_next = last_next

    def body(self, index: int) -> dict[str, Any]:
        if index == 0:
            body = copy.deepcopy(V2)  # Drift's own example is the first page
            body["data"] = self.pages[0]
        else:
            body = {"data": self.pages[index], "links": {
                "self": f"{self.host}/conversations/list?page_token=tok{index}"}}
        if index + 1 < len(self.pages):
            token = "<next_page_token>" if index == 0 else f"tok{index + 1}"
            body["links"]["next"] = f"{self.host}/conversations/list?page_token={token}"
        elif self.last_next == "absent":
            body["links"].pop("next", None)
        else:
            body["links"]["next"] = self.last_next
        return body

    def __call__(self, request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("page_token", "")
        index = {"": 0, "<next_page_token>": 1}.get(token)
        if index is None:
            index = int(token.removeprefix("tok"))
        return ok(self.body(index))


def test_v2_sample_page_then_links_next_across_seven_pages() -> None:
    pages = [V2["data"]] + [[conversation(10 * p + i) for i in range(3)] for p in range(1, 7)]
    server = Server(LinksServer(pages))

    result = collect(client_for(server), CONVERSATIONS)

    assert [p.number for p in result] == [1, 2, 3, 4, 5, 6, 7]
    assert all_records(result) == [r for page in pages for r in page]
    assert all_records(result)[0] == {"status": "open", "contactId": 17035536800,
                                      "createdAt": 1686303243241, "id": 3782727146,
                                      "inboxId": 62491, "updatedAt": 1686303381300}
    ids = [r["id"] for r in all_records(result)]
    assert len(ids) == len(set(ids)) == 19
    first, second, *rest = server.requests
    assert str(first.url) == "https://driftapi.com/conversations/list?limit=100&page_token="
    assert str(second.url) == (
        "https://api.drift.com/conversations/list?page_token=%3Cnext_page_token%3E")
    assert [str(r.url) for r in rest] == [
        f"https://api.drift.com/conversations/list?page_token=tok{i}" for i in range(2, 7)]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in server.requests)


@pytest.mark.parametrize("last_next", ["absent", None, ""], ids=["absent", "null", "empty"])
def test_last_page_without_a_next_link_ends_the_list(last_next: Any) -> None:
    pages = [[conversation(1)], [conversation(2), conversation(3)]]
    server = Server(LinksServer(pages, last_next=last_next))

    result = collect(client_for(server), CONVERSATIONS)

    assert all_records(result) == [conversation(1), conversation(2), conversation(3)]
    assert len(server.requests) == 2


def test_first_request_asks_for_100_and_a_blank_page_token() -> None:
    server = Server(lambda r: ok({"data": [conversation(1)], "links": {"next": None}}))

    collect(client_for(server), CONVERSATIONS)

    assert server.params() == [{"limit": ["100"], "page_token": [""]}]


def test_page_size_none_still_sends_a_limit() -> None:
    server = Server(lambda r: ok({"data": [], "links": {}}))

    list(paginate(client_for(server), "/conversations/list", "conversation_list", ("data",)))

    assert server.params() == [{"limit": ["100"], "page_token": [""]}]


@pytest.mark.parametrize(
    "body",
    [{"data": []}, {"data": [], "links": {"next": "https://driftapi.com/c?page_token=more"}},
     {"data": None}, {"data": [], "pagination": {"more": True, "next": "9"}}],
    ids=["empty-list", "empty-list-with-next-link", "data-null", "empty-list-with-more"],
)
def test_empty_list_is_one_empty_page(body: dict[str, Any]) -> None:
    server = Server(lambda r: ok(body))

    result = collect(client_for(server), CONVERSATIONS)

    assert result == [Page(number=1, records=[])]
    assert len(server.requests) == 1


def test_relative_links_next_is_followed_on_the_api_host() -> None:
    bodies = {"": {"data": [conversation(1)],
                   "links": {"next": "/conversations/list?page_token=b"}},
              "b": {"data": [conversation(2)], "links": {}}}
    server = Server(lambda r: ok(bodies[r.url.params["page_token"]]))

    result = collect(client_for(server, "http://127.0.0.1:8765"), CONVERSATIONS)

    assert all_records(result) == [conversation(1), conversation(2)]
    assert [str(r.url) for r in server.requests] == [
        "http://127.0.0.1:8765/conversations/list?limit=100&page_token=",
        "http://127.0.0.1:8765/conversations/list?page_token=b",
    ]


def test_repeated_page_token_stops_with_pagination_error() -> None:
    link = "https://driftapi.com/conversations/list?page_token=AAA"
    server = Server(lambda r: ok({"data": [conversation(len(server.requests))],
                                  "links": {"next": link}}))
    seen: list[Page] = []

    with pytest.raises(PaginationError) as caught:
        for page in paginate(client_for(server), "/conversations/list", "conversation_list",
                             ("data",), 100):
            seen.append(page)

    assert str(caught.value) == (
        "Drift sent the same page cursor twice for GET /conversations/list ('AAA'); stopped "
        "paging instead of looping forever. Run the sync again; if it persists, report it to "
        "Drift support."
    )
    assert caught.value.endpoint == "GET /conversations/list"
    assert all_records(seen) == [conversation(1), conversation(2)]
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("https://evil.example/conversations/list?page_token=x", "evil.example"),
        ("https://driftapi.com.evil.example/conversations/list?page_token=x",
         "driftapi.com.evil.example"),
        ("https://driftapi.com@evil.example/conversations/list?page_token=x", "evil.example"),
        ("//evil.example/conversations/list?page_token=x", "evil.example"),
        ("http://driftapi.com/conversations/list?page_token=x", "driftapi.com"),
        ("https://driftapi.com:8443/conversations/list?page_token=x", "driftapi.com:8443"),
    ],
    ids=["foreign-host", "lookalike-suffix", "userinfo-trick", "scheme-relative",
         "https-downgrade", "other-port"],
)
def test_next_link_to_a_foreign_host_is_never_contacted(link: str, shown: str) -> None:
    server = Server(lambda r: ok({"data": [conversation(1)], "links": {"next": link}}))

    with pytest.raises(PaginationError) as caught:
        collect(client_for(server), CONVERSATIONS)

    assert str(caught.value) == (
        f"Drift's next-page link for GET /conversations/list points to another host ({shown}); "
        "refused to follow it because that would send the access token there."
    )
    assert server.hosts == ["driftapi.com"]


@pytest.mark.parametrize(
    ("base", "link_host", "allowed"),
    [
        ("https://driftapi.com", "https://api.drift.com", True),
        ("https://api.drift.com", "https://driftapi.com", True),
        ("https://DriftAPI.com", "https://driftapi.com", True),
        ("http://127.0.0.1:8765", "https://api.drift.com", False),
        ("https://driftapi.com", "https://drift.com", False),
    ],
    ids=["driftapi-to-api.drift", "api.drift-to-driftapi", "case-insensitive",
         "local-base-refuses-drift", "bare-drift.com"],
)
def test_drifts_own_host_pair_is_trusted(base: str, link_host: str, allowed: bool) -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page_token") == "p2":
            return ok({"data": [conversation(2)], "links": {}})
        return ok({"data": [conversation(1)],
                   "links": {"next": f"{link_host}/conversations/list?page_token=p2"}})

    server = Server(route)
    if allowed:
        assert all_records(collect(client_for(server, base), CONVERSATIONS)) == [
            conversation(1), conversation(2)]
        assert server.hosts[1] == urlsplit(link_host).hostname
    else:
        with pytest.raises(PaginationError):
            collect(client_for(server, base), CONVERSATIONS)
        assert len(server.requests) == 1


# -- conversations, older pagination.more/next shape --------------------------------------


def test_v1_sample_then_cursor_pages() -> None:
    later = {"123494893": {"data": [conversation(1), conversation(2)],
                           "pagination": {"more": True, "next": 555}},
             "555": {"data": [conversation(3)], "pagination": {"more": False, "next": "777"}}}

    def route(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("next")
        return ok(V1 if cursor is None else later[cursor])

    server = Server(route)
    result = collect(client_for(server), CONVERSATIONS)

    assert all_records(result) == V1["data"] + [conversation(1), conversation(2), conversation(3)]
    assert [r["id"] for r in all_records(result)[:3]] == [1230200520, 1230183727, 1239406310]
    assert server.params() == [
        {"limit": ["100"], "page_token": [""]},
        {"limit": ["100"], "next": ["123494893"]},
        {"limit": ["100"], "next": ["555"]},
    ]
    assert set(server.hosts) == {"driftapi.com"}


@pytest.mark.parametrize(
    "pagination",
    [None, {"more": False}, {"more": False, "next": "2"}, {}],
    ids=["absent", "more-false", "more-false-with-next", "empty-object"],
)
def test_v1_last_page(pagination: dict[str, Any] | None) -> None:
    body: dict[str, Any] = {"data": V1["data"]}
    if pagination is not None:
        body["pagination"] = pagination
    server = Server(lambda r: ok(body))

    assert all_records(collect(client_for(server), CONVERSATIONS)) == V1["data"]
    assert len(server.requests) == 1


def test_v1_repeated_cursor_is_a_pagination_error() -> None:
    server = Server(lambda r: ok({"data": [conversation(1)],
                                  "pagination": {"more": True, "next": 42}}))

    with pytest.raises(PaginationError) as caught:
        collect(client_for(server), CONVERSATIONS)

    assert str(caught.value) == (
        "Drift sent the same page cursor twice for GET /conversations/list ('42'); stopped "
        "paging instead of looping forever. Run the sync again; if it persists, report it to "
        "Drift support."
    )
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"data": [{"id": 1}], "pagination": {"more": True}},
         "pagination.more is true but next is missing"),
        ({"data": [{"id": 1}], "pagination": {"more": True, "next": ""}},
         "pagination.more is true but next is missing"),
        ({"data": [{"id": 1}], "links": {"next": 12}}, "links.next is not a URL"),
        ({"data": {"id": 1}}, "'data' is not a list of objects"),
        ({"data": [{"id": 1}, 7]}, "'data' is not a list of objects"),
        ({"data": "none"}, "'data' is not a list of objects"),
        ({"conversations": []}, "no 'data' list in the body"),
        ([{"id": 1}], "no 'data' list in the body"),
    ],
    ids=["more-without-next", "more-with-empty-next", "next-link-not-text", "data-object",
         "data-with-non-object", "data-text", "data-missing", "body-is-a-list"],
)
def test_malformed_conversation_pages(body: Any, what: str) -> None:
    server = Server(lambda r: ok(body))

    with pytest.raises(MalformedResponseError) as caught:
        collect(client_for(server), CONVERSATIONS)

    assert str(caught.value) == (
        f"Drift answered GET /conversations/list with an unexpected body: {what}.")
    assert caught.value.endpoint == "GET /conversations/list"


# -- accounts: index/size offsets ---------------------------------------------------------


class AccountsServer:
    """``/accounts?index=&size=`` over ``accounts``, with Drift's relative ``data.next``."""

    def __init__(self, accounts: list[dict[str, Any]], max_size: int = 100) -> None:
        self.accounts = accounts
        self.max_size = max_size

    def __call__(self, request: httpx.Request) -> httpx.Response:
        index = int(request.url.params["index"])
        size = int(request.url.params["size"])
        if size > self.max_size:
            return httpx.Response(400, content=orjson.dumps({"error": {
                "type": "validation_error", "message": f"size must be at most {self.max_size}"}}))
        data: dict[str, Any] = {"accounts": self.accounts[index:index + size],
                                "total": len(self.accounts)}
        if index + size < len(self.accounts):
            data["next"] = f"/accounts?index={index + size}&size={size}"
        return ok({"data": data})


def account(n: int) -> dict[str, Any]:
    return {**ACCOUNT, "accountId": f"{n}_domain{n}.com", "domain": f"www.domain{n}.com"}


def test_accounts_follow_relative_next_until_absent() -> None:
    accounts = [ACCOUNT] + [account(n) for n in range(1, 250)]
    server = Server(AccountsServer(accounts))

    result = collect(client_for(server), ACCOUNTS)

    assert [len(p.records) for p in result] == [100, 100, 50]
    assert all_records(result) == accounts
    assert all_records(result)[0]["customProperties"][0]["name"] == " my number"
    assert [str(r.url) for r in server.requests] == [
        "https://driftapi.com/accounts?index=0&size=100",
        "https://driftapi.com/accounts?index=100&size=100",
        "https://driftapi.com/accounts?index=200&size=100",
    ]


def test_accounts_fall_back_to_size_65_when_100_is_rejected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="driftsync.api")
    accounts = [account(n) for n in range(140)]
    server = Server(AccountsServer(accounts, max_size=65))

    result = collect(client_for(server), ACCOUNTS)

    assert all_records(result) == accounts
    assert [p.number for p in result] == [1, 2, 3]
    assert [len(p.records) for p in result] == [65, 65, 10]
    assert server.params() == [
        {"index": ["0"], "size": ["100"]},
        {"index": ["0"], "size": ["65"]},
        {"index": ["65"], "size": ["65"]},
        {"index": ["130"], "size": ["65"]},
    ]
    assert "Drift rejected size=100 for accounts; trying size=65" in caplog.messages


def test_accounts_rejecting_both_sizes_raise_drifts_message() -> None:
    server = Server(AccountsServer([account(1)], max_size=10))

    with pytest.raises(RequestRejectedError) as caught:
        collect(client_for(server), ACCOUNTS)

    assert str(caught.value) == (
        "Drift rejected GET /accounts (400: validation_error: size must be at most 10).")
    assert server.params() == [{"index": ["0"], "size": ["100"]},
                               {"index": ["0"], "size": ["65"]}]


def test_a_400_on_a_later_page_is_not_a_size_fallback() -> None:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.params["index"] == "0":
            return ok({"data": {"accounts": [account(1)], "total": 2,
                                "next": "/accounts?index=1&size=100"}})
        return httpx.Response(400, content=b'{"error":{"type":"validation_error","message":"x"}}')

    server = Server(route)

    with pytest.raises(RequestRejectedError):
        collect(client_for(server), ACCOUNTS)
    assert len(server.requests) == 2


def test_accounts_404_on_first_page_is_not_retried_with_another_size() -> None:
    server = Server(lambda r: httpx.Response(404))

    with pytest.raises(RequestRejectedError) as caught:
        collect(client_for(server), ACCOUNTS)

    assert str(caught.value) == "Drift rejected GET /accounts (404 Not Found)."
    assert len(server.requests) == 1


def test_accounts_repeated_index_is_a_pagination_error() -> None:
    server = Server(lambda r: ok({"data": {"accounts": [account(1)], "total": 5,
                                           "next": "/accounts?index=0&size=100"}}))

    with pytest.raises(PaginationError) as caught:
        collect(client_for(server), ACCOUNTS)

    assert str(caught.value) == (
        "Drift sent the same page cursor twice for GET /accounts ('0'); stopped paging instead "
        "of looping forever. Run the sync again; if it persists, report it to Drift support."
    )
    assert len(server.requests) == 1


def test_accounts_empty() -> None:
    server = Server(lambda r: ok({"data": {"accounts": [], "total": 0}}))

    assert collect(client_for(server), ACCOUNTS) == [Page(number=1, records=[])]


def test_accounts_next_to_a_foreign_host_is_refused() -> None:
    server = Server(lambda r: ok({"data": {"accounts": [account(1)], "total": 9,
                                           "next": "https://evil.example/accounts?index=1"}}))

    with pytest.raises(PaginationError) as caught:
        collect(client_for(server), ACCOUNTS)

    assert str(caught.value) == (
        "Drift's next-page link for GET /accounts points to another host (evil.example); "
        "refused to follow it because that would send the access token there."
    )
    assert server.hosts == ["driftapi.com"]


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ({"data": {"total": 0}}, "no 'data.accounts' list in the body"),
        ({"data": [{"accountId": "a"}]}, "no 'data.accounts' list in the body"),
        ({"accounts": []}, "no 'data.accounts' list in the body"),
        ({"data": {"accounts": {"accountId": "a"}}}, "'data.accounts' is not a list of objects"),
        ({"data": {"accounts": [{"accountId": "a"}], "next": 5}}, "data.next is not a URL"),
    ],
    ids=["accounts-missing", "data-is-a-list", "data-missing", "accounts-object",
         "next-not-text"],
)
def test_malformed_account_pages(body: Any, what: str) -> None:
    server = Server(lambda r: ok(body))

    with pytest.raises(MalformedResponseError) as caught:
        collect(client_for(server), ACCOUNTS)

    assert str(caught.value) == f"Drift answered GET /accounts with an unexpected body: {what}."


# -- users: one page ----------------------------------------------------------------------


def test_users_is_a_single_page_without_parameters() -> None:
    users = [{"id": 243266, "name": "Ann"}, {"id": 252465, "name": "Bo"}]
    server = Server(lambda r: ok({"data": users, "links": {"next": "https://driftapi.com/x"},
                                  "pagination": {"more": True, "next": "2"}}))

    result = collect(client_for(server), USERS)

    assert result == [Page(number=1, records=users)]
    assert [str(r.url) for r in server.requests] == ["https://driftapi.com/users/list"]


def test_records_at_walks_the_path() -> None:
    assert records_at({"data": {"accounts": [{"a": 1}]}}, ("data", "accounts"), "/x") == [{"a": 1}]
    assert records_at({"data": None}, ("data",), "/x") == []
    with pytest.raises(MalformedResponseError, match=r"^Drift answered GET /x with an unexpected "
                                                     r"body: no 'data' list in the body\.$"):
        records_at(None, ("data",), "/x")


def test_conversations_fall_back_to_the_older_limit_of_50_when_100_is_rejected() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.params.get("limit") == "100":
            return httpx.Response(400, json={"error": {"type": "validation_error",
                                                       "message": "limit must be <= 50"}})
        if request.url.params.get("next") == "50":
            return httpx.Response(200, json={"data": [{"id": 2}]})
        return httpx.Response(200, json={"data": [{"id": 1}],
                                         "pagination": {"more": True, "next": "50"}})

    client = DriftClient("tok", base_url="https://driftapi.com",
                         transport=httpx.MockTransport(handler))
    pages = list(paginate(client, "/conversations/list", "conversation_list", ("data",), 100))
    assert [r["id"] for p in pages for r in p.records] == [1, 2]
    assert seen == [
        "https://driftapi.com/conversations/list?limit=100&page_token=",
        "https://driftapi.com/conversations/list?limit=50&page_token=",
        "https://driftapi.com/conversations/list?limit=50&next=50",
    ]
