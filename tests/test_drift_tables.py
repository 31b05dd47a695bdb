"""The tables beyond the spec, end to end: simulator over loopback -> engine -> DuckDB file.

Expected values are computed here from the simulator's own data and from Drift's documented
sample payloads, never through driftsync's transform.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftsync.engine import SyncOptions, run_sync
from driftsync.load import Destination, Warehouse

from .conftest import client_for, fetch_rows, running, sample


def sync(sim: Any, database: Path, **options: Any) -> dict[str, Any]:
    options.setdefault("now_ms", sim.now_ms)
    with Warehouse(Destination(database=database)) as warehouse, client_for(sim) as client:
        result = run_sync(client, warehouse, SyncOptions(**options))
    assert result.ok, [(t.table, t.error) for t in result.tables if t.error]
    return {t.table: t for t in result.tables}


def rows(database: Path, table: str, order: str = "1") -> list[dict[str, Any]]:
    return fetch_rows(database, f'SELECT * FROM drift.main."{table}" ORDER BY {order}')


def ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def js(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """One full sync of every table, shared by the read-only tests below."""
    database = tmp_path_factory.mktemp("drift") / "drift.duckdb"
    with running() as sim:
        sync(sim, database)
        yield sim, database


# -- documented samples, field by field ------------------------------------------------------


@pytest.mark.parametrize("name", ["message.json", "message_v13.json"])
def test_documented_messages_land_field_by_field(synced: Any, name: str) -> None:
    sim, database = synced
    doc = sample(name)
    (row,) = fetch_rows(database, f"SELECT * FROM drift.messages WHERE id = {doc['id']}")
    assert row["conversationId"] == doc["conversationId"]
    assert row["orgId"] == doc["orgId"]
    assert (row["authorType"], row["authorId"], row["authorBot"]) == (
        doc["author"]["type"], doc["author"]["id"], doc["author"]["bot"])
    assert row["type"] == doc["type"]
    assert row["body"] == doc["body"]  # HTML kept exactly as sent
    assert row["createdAt"] == doc["createdAt"]
    assert row["createdAt_ts"] == ts(doc["createdAt"])
    assert js(row["buttons"]) == doc["buttons"]
    assert js(row["context"]) == doc["context"]
    assert js(row["attributes"]) == doc["attributes"]
    assert row["editedMessageId"] == doc.get("editedMessageId")
    assert row["editType"] == doc.get("editType")
    assert row["attachments"] is None
    assert row["_extra"] is None


def test_documented_contacts_land_field_by_field(synced: Any) -> None:
    sim, database = synced
    got = {r["id"]: r for r in rows(database, "contacts")}
    retrieved = sample("contact_get.json")["data"]
    model = sample("contact_model.json")

    row = got[retrieved["id"]]
    attrs = retrieved["attributes"]
    assert row["createdAt"] == retrieved["createdAt"]
    assert row["createdAt_ts"] == ts(retrieved["createdAt"])
    assert row["email"] == attrs["email"]
    assert row["name"] is None  # this contact has only first_name, kept in attributes
    assert row["externalId"] == "a12-1234"
    assert row["last_active"] == attrs["last_active"]
    assert row["last_active_ts"] == ts(attrs["last_active"])
    assert row["start_date"] == attrs["start_date"]
    assert js(row["attributes"]) == attrs  # every attribute, custom ones included
    assert row["_extra"] is None

    row = got[model["id"]]
    assert row["name"] == "Stephen Webel"
    assert row["externalId"] == "12341243"  # a number in this payload: stored as text
    assert js(row["attributes"]) == model["attributes"]
    assert row["_extra"] is None


def test_documented_playbook_team_meeting_and_attributes_land_field_by_field(
    synced: Any,
) -> None:
    sim, database = synced
    playbook = sample("playbooks_list.json")[0]
    (row,) = fetch_rows(database, f"SELECT * FROM drift.playbooks WHERE id = {playbook['id']}")
    for key in ("name", "orgId", "createdAt", "updatedAt", "createdAuthorId", "updatedAuthorId",
                "interactionId", "reportType"):
        assert row[key] == playbook[key], key
    assert js(row["goals"]) == playbook["goals"] and js(row["meta"]) == playbook["meta"]
    assert row["updatedAt_ts"] == ts(playbook["updatedAt"])

    team = sample("team.json")
    (row,) = fetch_rows(database, f"SELECT * FROM drift.teams WHERE id = {team['id']}")
    for key, value in team.items():
        assert (js(row[key]) if key == "members" else row[key]) == value, key
    assert row["teamCsatEnabled"] is None and row["_extra"] is None

    meeting = sample("meeting.json")
    (row,) = fetch_rows(database, "SELECT * FROM drift.meetings WHERE "
                                  f"\"eventId\" = '{meeting['eventId']}'")
    assert row["meetingKey"] == f"event:{meeting['eventId']}@{meeting['slotStart']}"
    for key, value in meeting.items():
        assert row[key] == value, key
    assert row["slotStart_ts"] == ts(meeting["slotStart"])
    assert row["_extra"] is None

    documented = sample("contact_attributes.json")["data"]["properties"]
    stored = {r["name"]: r for r in rows(database, "contact_attributes")}
    for prop in documented:
        got = stored[prop["name"]]
        assert (got["displayName"], got["type"]) == (prop["displayName"], prop["type"])
    assert set(stored) == {p["name"] for p in sim.contact_attributes()}


# -- whole tables against the simulator's data --------------------------------------------------


def test_every_message_of_every_conversation_lands_once(synced: Any) -> None:
    sim, database = synced
    expected = {m["id"]: m for c in sim.dataset.conversations for m in sim.messages_for(c["id"])}
    got = {r["id"]: r for r in rows(database, "messages")}
    assert len(got) == len(rows(database, "messages"))  # no duplicates
    assert got.keys() == expected.keys()
    for key in list(expected)[::97]:
        assert got[key]["body"] == expected[key].get("body")
        assert got[key]["conversationId"] == expected[key]["conversationId"]


def test_a_conversation_with_more_than_50_messages_is_read_page_by_page(tmp_path: Path) -> None:
    with running(conversations=300) as sim:
        long = next(c["id"] for c in sim.dataset.conversations
                    if len(sim.messages_for(c["id"])) > 100)
        expected = sim.messages_for(long)
        sync(sim, tmp_path / "drift.duckdb", tables=["conversations"])
        sim.reset_counts()
        sync(sim, tmp_path / "drift.duckdb", tables=["messages"])
        counts = sim.request_counts()
    stored = fetch_rows(tmp_path / "drift.duckdb",
                        f'SELECT id FROM drift.messages WHERE "conversationId" = {long} ORDER BY id')
    assert [r["id"] for r in stored] == sorted(m["id"] for m in expected)
    total_pages = sum(max(1, math.ceil(len(sim.messages_for(c["id"])) / 50))
                      for c in sim.dataset.conversations)
    assert counts["GET /conversations/{id}/messages"] == total_pages


def test_contacts_are_those_of_conversations_and_meetings(synced: Any) -> None:
    sim, database = synced
    wanted = {c["contactId"] for c in sim.dataset.conversations}
    got = {r["id"] for r in rows(database, "contacts")}
    assert wanted <= got
    meeting_contacts = {r["schedulerId"] for r in rows(database, "meetings")}
    assert got == wanted | meeting_contacts
    for contact_id in list(got)[::53]:
        (row,) = fetch_rows(database, f"SELECT attributes FROM drift.contacts WHERE id = {contact_id}")
        assert js(row["attributes"]) == sim.contact(contact_id)["attributes"]


def test_meetings_are_every_one_drift_serves_for_the_last_30_days_and_ahead(synced: Any) -> None:
    sim, database = synced
    floor = sim.now_ms - 30 * 86_400_000
    expected = {m["eventId"] for m in sim.meetings() if m["slotStart"] >= floor}
    stored = rows(database, "meetings")
    assert {r["eventId"] for r in stored} == expected
    assert len(stored) == len(expected)


def test_meetings_beyond_the_1000_cap_are_read_by_splitting_the_window(tmp_path: Path) -> None:
    with running(conversations=200, meetings=3000) as sim:
        floor = sim.now_ms - 30 * 86_400_000
        expected = {m["eventId"] for m in sim.meetings() if m["slotStart"] >= floor}
        assert len(expected) > 2000  # more than two answers' worth
        result = sync(sim, tmp_path / "drift.duckdb", tables=["meetings"])["meetings"]
        counts = sim.request_counts()
    stored = rows(tmp_path / "drift.duckdb", "meetings")
    assert {r["eventId"] for r in stored} == expected and len(stored) == len(expected)
    assert counts["GET /users/meetings/org"] == result.requests >= 4


def test_playbooks_landing_pages_teams_match_drift(synced: Any) -> None:
    sim, database = synced
    assert {r["id"] for r in rows(database, "playbooks")} == {p["id"] for p in sim.playbooks()}
    assert {r["playbookId"]: r["landingPageUrl"] for r in rows(database,
            "conversational_landing_pages")} == {
        p["playbookId"]: p["landingPageUrl"] for p in sim.landing_pages()}
    assert {r["id"] for r in rows(database, "teams")} == {t["id"] for t in sim.teams()}


# -- nested tables --------------------------------------------------------------------------------


def test_tags_and_participants_are_rows_joinable_to_conversations(synced: Any) -> None:
    sim, database = synced
    tags = {(c["id"], t["name"]): t.get("color") for c in sim.dataset.conversations
            for t in c.get("conversationTags") or []}
    stored = {(r["conversationId"], r["name"]): r["color"] for r in
              rows(database, "conversation_tags")}
    assert stored == tags
    people = {(c["id"], u) for c in sim.dataset.conversations for u in c.get("participants") or []}
    assert {(r["conversationId"], r["userId"]) for r in
            rows(database, "conversation_participants")} == people


def test_custom_properties_whose_value_type_varies_between_accounts_all_load(synced: Any) -> None:
    sim, database = synced
    by_type: dict[str, set[type]] = {}
    for account in sim.dataset.accounts:
        for prop in account.get("customProperties") or []:
            by_type.setdefault(prop["name"], set()).add(type(prop["value"]))
    varying = [name for name, types in by_type.items() if len(types) > 1]
    assert "employees" in varying  # a number in some accounts, a string like "1,000" in others
    stored = {(r["accountId"], r["name"]): r for r in rows(database, "account_custom_properties")}
    expected = {(a["accountId"], p["name"]): p for a in sim.dataset.accounts
                for p in a.get("customProperties") or []}
    assert stored.keys() == expected.keys()
    for key, prop in expected.items():
        row, value = stored[key], prop["value"]
        assert js(row["jsonValue"]) == value
        assert row["label"] == prop.get("label") and row["type"] == prop.get("type")
        if isinstance(value, str):
            assert row["value"] == value
            digits = value.replace(",", "")
            if digits.replace(".", "", 1).lstrip("-").isdigit():
                assert row["numberValue"] == float(digits)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            assert row["value"] == str(value) and row["numberValue"] == float(value)
    account = sample("account.json")["data"]
    (row,) = fetch_rows(database, "SELECT * FROM drift.account_custom_properties WHERE "
                                  f"\"accountId\" = '{account['accountId']}'")
    assert (row["name"], row["label"], row["value"], row["numberValue"]) == (
        " my number", "My Number", "1", 1.0)


def test_a_tag_removed_in_drift_disappears_and_a_new_one_appears(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=300) as sim:
        tagged = [c for c in sim.dataset.conversations if c.get("conversationTags")][:2]
        sync(sim, database, tables=["conversation_tags", "conversation_participants"])
        sim.update_conversations(ids=[tagged[0]["id"]], fields={"conversationTags": []})
        sim.update_conversations(ids=[tagged[1]["id"]], fields={
            "conversationTags": [{"name": "vip", "color": "FF0000"}], "participants": []})
        result = sync(sim, database, tables=["conversation_tags", "conversation_participants"])
    stored = rows(database, "conversation_tags")
    assert not [r for r in stored if r["conversationId"] == tagged[0]["id"]]
    assert [(r["name"], r["color"]) for r in stored if r["conversationId"] == tagged[1]["id"]] \
        == [("vip", "FF0000")]
    assert not [r for r in rows(database, "conversation_participants")
                if r["conversationId"] == tagged[1]["id"]]
    assert result["conversations"].written == 2
    # everything else is untouched
    others = {(c["id"], t["name"]) for c in sim.dataset.conversations
              for t in c.get("conversationTags") or []}
    assert {(r["conversationId"], r["name"]) for r in stored} == others


# -- incremental -----------------------------------------------------------------------------------


def test_a_rerun_adds_no_rows_to_any_table(synced: Any, tmp_path: Path) -> None:
    sim, database = synced
    copy = tmp_path / "drift.duckdb"
    copy.write_bytes(database.read_bytes())
    counts = {t: len(rows(copy, t)) for t in ("messages", "contacts", "meetings",
                                              "conversation_tags", "account_custom_properties",
                                              "playbooks", "teams", "contact_attributes")}
    sim.reset_counts()
    result = sync(sim, copy)
    requests = sim.request_counts()
    assert {t: len(rows(copy, t)) for t in counts} == counts
    assert all(t.written == 0 for t in result.values()), {
        t.table: t.written for t in result.values() if t.written}
    assert "GET /conversations/{id}/messages" not in requests
    assert "GET /contacts/{id}" not in requests


def test_incremental_messages_and_contacts_only_touch_changed_conversations(
    tmp_path: Path,
) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=400) as sim:
        sync(sim, database, tables=["messages", "contacts"])
        changed = [c["id"] for c in sim.dataset.conversations[150:153]]
        sim.update_conversations(ids=changed)
        sim.reset_counts()
        result = sync(sim, database, tables=["messages", "contacts"])
        counts = sim.request_counts()
        expected = {m["id"] for c in sim.dataset.conversations for m in sim.messages_for(c["id"])}
        contacts = {c["contactId"] for c in sim.dataset.conversations if c["id"] in changed}
        pages = sum(math.ceil(len(sim.messages_for(cid)) / 50) or 1 for cid in changed)
    assert counts["GET /conversations/{id}/messages"] == pages
    assert counts["GET /contacts/{id}"] == len(contacts)
    assert result["messages"].written == sum(len(sim.messages_for(c)) for c in changed)
    assert {r["id"] for r in rows(database, "messages")} == expected  # the new ones included


def test_missing_scope_on_one_table_skips_it_and_the_others_sync(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=200, missing_scopes={"all_contact_read"}) as sim:
        result = sync(sim, database)
        counts = sim.request_counts()
    assert [t.table for t in result.values() if t.status == "skipped"] == ["contact_attributes"]
    assert all(t.status == "succeeded" for name, t in result.items()
               if name != "contact_attributes")
    assert "GET /contacts/attributes" not in counts
    assert rows(database, "contacts")


def test_the_simulators_rate_limit_is_never_hit_when_the_client_paces_to_it(
    tmp_path: Path,
) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=150, rate_limit_per_minute=6000, rate_limit_burst=5) as sim:
        sync(sim, database, tables=["conversations"], conversation_details=False)
        with Warehouse(Destination(database=database)) as warehouse, client_for(
            sim, requests_per_minute=6000
        ) as client:
            result = run_sync(client, warehouse, SyncOptions(tables=["messages"]))
            throttled = client.stats.throttled
        assert result.ok
        assert sim.rate_limited == 0 and throttled == 0


def test_a_client_faster_than_the_rate_limit_slows_down_and_loses_nothing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=150, rate_limit_per_minute=3000, rate_limit_burst=5,
                 retry_after=0.05) as sim:
        sync(sim, database, tables=["conversations"], conversation_details=False)
        with Warehouse(Destination(database=database)) as warehouse, client_for(
            sim, requests_per_minute=12000
        ) as client:
            result = run_sync(client, warehouse, SyncOptions(tables=["messages"]))
            throttled = client.stats.throttled
            assert client.limiter is not None and client.limiter.per_minute < 12000
        expected = {m["id"] for c in sim.dataset.conversations for m in sim.messages_for(c["id"])}
        refused = sim.rate_limited
    assert result.ok
    assert throttled == refused > 0
    assert {r["id"] for r in rows(database, "messages")} == expected
