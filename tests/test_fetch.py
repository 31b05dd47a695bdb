"""Fan-out and window reads against a scripted Drift (httpx MockTransport, the HTTP seam)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from driftsync.api import DriftClient, RetryPolicy, paginate
from driftsync.catalog import CONTACTS, MEETINGS, MESSAGES
from driftsync.errors import MalformedResponseError, PaginationError
from driftsync.fetch import FanoutProgress, fanout_records, window_records


def client(handler: Any) -> DriftClient:
    return DriftClient("tok", base_url="https://driftapi.com", requests_per_minute=None,
                       transport=httpx.MockTransport(handler), sleep=lambda _: None,
                       retry=RetryPolicy(max_attempts=1))


def reply(body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body))


def test_messages_follow_pagination_more_and_next_until_more_is_false() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("next")
        seen.append(cursor or "")
        page = {None: 1, "2": 2, "3": 3}[cursor]
        more = page < 3
        body: dict[str, Any] = {"data": {"messages": [{"id": page * 10 + i} for i in range(2)]},
                                "pagination": {"more": more}}
        if more:
            body["pagination"]["next"] = str(page + 1)
        return reply(body)

    pages = list(paginate(client(handler), "/conversations/5/messages", "cursor",
                          ("data", "messages")))
    assert [r["id"] for p in pages for r in p.records] == [10, 11, 20, 21, 30, 31]
    assert seen == ["", "2", "3"]


def test_a_messages_cursor_seen_twice_stops_instead_of_looping() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply({"data": {"messages": [{"id": 1}]}, "pagination": {"more": True,
                                                                        "next": "2"}})

    with pytest.raises(PaginationError):
        list(paginate(client(handler), "/conversations/5/messages", "cursor",
                      ("data", "messages")))


def test_more_without_next_is_a_malformed_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply({"data": {"messages": [{"id": 1}]}, "pagination": {"more": True}})

    with pytest.raises(MalformedResponseError) as caught:
        list(paginate(client(handler), "/conversations/5/messages", "cursor",
                      ("data", "messages")))
    assert "pagination.more is true but next is missing" in str(caught.value)


def test_fanout_reads_each_parent_once_and_counts_the_ones_drift_no_longer_has() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        contact = int(request.url.path.rsplit("/", 1)[1])
        if contact == 2:
            return reply({"error": {"type": "not_found", "message": "Contact not found"}}, 404)
        return reply({"data": {"id": contact, "attributes": {"email": f"{contact}@x.io"}}})

    progress = FanoutProgress(done=[])
    records = list(fanout_records(client(handler), CONTACTS, [(1, 10), (2, 20), (3, 30)],
                                  progress, workers=3))
    assert [r["id"] for r in records] == [1, 3]
    assert progress.done == [(1, 10), (2, 20), (3, 30)]  # the 404 one is not read again
    assert progress.missing == 1


def test_a_fanout_failure_other_than_404_stops_the_table() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return reply({"error": {"type": "validation_error", "message": "bad id"}}, 400)

    progress = FanoutProgress(done=[])
    with pytest.raises(Exception, match="bad id"):
        list(fanout_records(client(handler), MESSAGES, [(1, 10)], progress, workers=2))
    assert progress.done == []


def test_a_window_with_a_capped_answer_is_split_until_no_answer_is_capped() -> None:
    meetings = [{"eventId": f"e{i}", "slotStart": i * 1000} for i in range(2500)]
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        low = int(request.url.params["min_start_time"])
        high = int(request.url.params["max_start_time"])
        asked.append((low, high))
        inside = [m for m in meetings if low <= m["slotStart"] <= high]
        return reply({"data": inside[:1000]})

    got = list(window_records(client(handler), MEETINGS, 0, 2_500_000))
    assert sorted(m["eventId"] for m in got) == sorted(m["eventId"] for m in meetings)
    assert len(got) == 2500  # the shared middle instants are not counted twice
    assert len(asked) > 3


def test_a_window_needs_both_bounds_in_every_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert {"min_start_time", "max_start_time"} <= set(request.url.params)
        return reply({"data": []})

    assert list(window_records(client(handler), MEETINGS, 5, 10)) == []
