"""Every page and action of the web app, in-process (Starlette's test client), against real
DuckDB files synced from the simulator on loopback; syncs run as real child processes."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from driftsync import jobs
from driftsync.catalog import CATALOG
from driftsync.config import Secret
from driftsync.resources import Resource, ResourceStore, duckdb_destination, parse_schedule
from driftsync.scheduler import progress_path
from driftsync.simulator import DriftSimulator

from .conftest import TOKEN, csrf_of, holding, rows, wait_for
from .html import elements_with, table


def state_of(page: str, name: str) -> str:
    found = re.search(rf'id="status-{name}".*?data-state="([^"]+)"', page, re.DOTALL)
    assert found, page
    return found.group(1)


def add(name: str, sim: DriftSimulator, **options: object) -> Resource:
    resource = Resource(name=name, destination=duckdb_destination(name), token=Secret(TOKEN),
                        api_url=sim.url, **options)  # type: ignore[arg-type]
    ResourceStore().add(resource)
    return resource


# -- Resources -------------------------------------------------------------------------------

def test_resources_page_shows_each_resource_with_its_status_times_and_row_totals(
        acme_home: Path, sim: DriftSimulator, client: TestClient) -> None:
    add("fresh", sim, tables=("users",), schedule=parse_schedule("every 6h"))
    add("held", sim, tables=("users",), state="paused")
    broken = Resource(name="broken", destination=duckdb_destination("broken"),
                      token=Secret("drft-revoked-token-000000"), api_url=sim.url,
                      tables=("users",))
    ResourceStore().add(broken)
    assert not jobs.run_resource(broken).ok  # Drift refuses the token: a failed run

    page = client.get("/resources")

    assert page.status_code == 200
    assert state_of(page.text, "acme") == "ready"
    assert state_of(page.text, "fresh") == "never synced"
    assert state_of(page.text, "held") == "paused"
    assert state_of(page.text, "broken") == "failed"
    header, body = table(page.text, "resources")
    assert header == ["Resource", "Status", "Last sync", "Next sync", "Rows", "Data Sync"]
    by_name = {r[0].split()[0]: r for r in body}
    expected = sum(rows(acme_home / "acme.duckdb", f"SELECT count(*) FROM {t}")[0][0]
                   for t in ("accounts", "users", "conversations", "messages", "contacts",
                             "meetings"))
    assert by_name["acme"][4] == f"{expected:,}"
    assert by_name["acme"][5] == "manual ENABLED"
    assert by_name["held"][5] == "manual PAUSED"
    assert by_name["fresh"][2] == "never"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC in \d+ (min|h)", by_name["fresh"][3])
    assert "Drift rejected" in by_name["broken"][1] or "401" in by_name["broken"][1]
    assert 'id="add-resource"' in page.text


def test_a_syncing_resource_shows_its_progress_and_the_page_reloads_when_it_ends(
        acme_home: Path, client: TestClient) -> None:
    started = datetime.now(UTC)
    live = jobs.LiveState("syncing", os.getpid(), started, process=jobs.process_tag(os.getpid()))
    jobs.write_live("acme", live)
    progress_path("acme").write_text(json.dumps({"pid": os.getpid(), "tables": [
        {"table": "accounts", "status": "succeeded", "rows": 30, "pages": 1},
        {"table": "conversations", "status": "running", "rows": 1200, "pages": 12}]}))
    with holding(acme_home / "acme.duckdb"):  # as a sync does: nobody else may open it
        listing = client.get("/resources")
        cell = client.get("/resources/acme/status?was=syncing")
        page = client.get("/resources/acme")
        polled = client.get("/resources/acme/progress")
        data = client.get("/resources/acme/tables/users")

    assert state_of(listing.text, "acme") == "syncing"
    assert "1,230 rows so far" in listing.text
    assert 'hx-get="/resources/acme/status?was=syncing"' in listing.text
    assert "HX-Refresh" not in cell.headers and "1,230 rows so far" in cell.text
    _, progress = table(polled.text, "progress-tables")
    assert progress == [["accounts", "succeeded", "30", "1"],
                        ["conversations", "running", "1,200", "12"]]
    assert "HX-Redirect" not in polled.headers
    assert re.search(r'id="sync-now" disabled', page.text)
    assert data.status_code == 200 and "This resource is syncing" in data.text

    jobs.write_live("acme", jobs.LiveState("succeeded", os.getpid(), started,
                                           finished_at=datetime.now(UTC)))
    done = client.get("/resources/acme/status?was=syncing")
    assert done.headers["HX-Refresh"] == "true"
    assert client.get("/resources/acme/progress").headers["HX-Redirect"] == "/resources/acme"
    assert state_of(client.get("/resources").text, "acme") == "ready"


def test_a_scheduled_resource_that_is_syncing_does_not_claim_it_syncs_only_by_hand(
        acme_home: Path, client: TestClient) -> None:
    """While a sync started here runs, its next run is not planned yet; the page used to say
    "only when you click Sync now" for a resource on a schedule."""
    store = ResourceStore()
    store.replace(replace(store.get("acme"), schedule=parse_schedule("every 6h")))
    web = client.app.state.web  # type: ignore[attr-defined]
    web._starting["acme"] = datetime.now(UTC)  # Sync now was clicked; its process starts
    with holding(acme_home / "acme.duckdb"):
        page = client.get("/resources/acme")

    facts = re.search(r'class="grid facts">(.*?)</div>\n</div>', page.text, re.DOTALL)
    assert facts, page.text
    assert "only when you click Sync now" not in facts.group(1)
    assert "every 6h" in facts.group(1)


def test_a_database_held_by_another_program_shows_as_unavailable_not_an_error(
        acme_home: Path, client: TestClient) -> None:
    with holding(acme_home / "acme.duckdb"):
        listing = client.get("/resources")
        data = client.get("/resources/acme/tables/users")
        download = client.get("/resources/acme/tables/users/download.csv")

    assert listing.status_code == 200 and state_of(listing.text, "acme") == "unavailable"
    assert "is open in another process" in listing.text
    assert data.status_code == 409 and "being written right now" in data.text
    assert download.status_code == 409


# -- the wizard ------------------------------------------------------------------------------

def test_add_resource_wizard_checks_the_token_then_saves_and_starts_the_first_sync(
        home: Path, sim: DriftSimulator, client: TestClient) -> None:
    source = client.get("/resources/new")
    assert source.status_code == 200 and 'href="/resources/new/drift"' in source.text
    csrf = csrf_of(client, "/resources/new/drift")
    form = {"csrf": csrf, "name": "acme", "api_url": sim.url}

    wrong = client.post("/resources/new/drift", data={**form, "token": "drft-not-a-real-token"})
    assert "verdict-ok" not in wrong.text
    assert re.search(r'id="verdict-error">Drift rejected the access token', wrong.text)
    assert client.get("/resources/new/tables", follow_redirects=False).headers[
        "location"] == "/resources/new/drift"  # no draft: back to step 2
    sim.config.missing_scopes = {"user_read"}
    try:
        checked = client.post("/resources/new/drift", data={**form, "token": TOKEN},
                              headers={"HX-Request": "true"})
    finally:
        sim.config.missing_scopes = set()
    assert checked.text.lstrip().startswith('<div id="verdict"')  # the fragment htmx swaps
    verdict = dict(re.findall(r'data-verdict="(\w+)" class="(\w+)"', checked.text))
    assert verdict["users"] == "missing" and verdict["meetings"] == "missing"
    assert verdict["accounts"] == verdict["conversations"] == verdict["messages"] == "granted"
    assert "missing user_read" in checked.text

    tables = client.get("/resources/new/tables")
    boxes = {attrs["value"]: attrs for _, attrs in elements_with(tables.text, "value")
             if attrs.get("name") == "tables"}
    assert "disabled" in boxes["users"] and "disabled" not in boxes["accounts"]
    assert {n for n, a in boxes.items() if "checked" in a} == {"accounts", "conversations"}
    refused = client.post("/resources/new/tables", data={"csrf": csrf, "tables": ["users"]})
    assert refused.status_code == 400 and "The token lacks &#39;user_read&#39;" in refused.text
    chosen = client.post("/resources/new/tables", follow_redirects=False,
                         data={"csrf": csrf, "tables": ["accounts", "conversations"]})
    assert chosen.headers["location"] == "/resources/new/schedule"

    schedule = client.get("/resources/new/schedule")
    assert "<code>accounts</code>, <code>conversations</code>" in schedule.text
    bad = client.post("/resources/new/finish", data={
        "csrf": csrf, "mode": "incremental", "state": "enabled", "schedule": "custom",
        "schedule_custom": "every tuesday"})
    assert bad.status_code == 400 and "is not understood" in bad.text
    assert not ResourceStore().load()
    finished = client.post("/resources/new/finish", follow_redirects=False, data={
        "csrf": csrf, "mode": "full-refresh", "state": "paused", "schedule": "daily 06:00 UTC"})

    assert finished.status_code == 303 and finished.headers["location"] == "/resources/acme"
    saved = ResourceStore().get("acme")
    assert saved.token == Secret(TOKEN) and saved.api_url == sim.url.rstrip("/")
    assert saved.tables == ("accounts", "conversations")
    assert (saved.mode, saved.state, saved.schedule.text) == (
        "full-refresh", "paused", "daily 06:00 UTC")
    assert oct((home / "resources.toml").stat().st_mode & 0o777) == "0o600"
    assert state_of(client.get("/resources").text, "acme") == "syncing"  # even paused
    wait_for(lambda: state_of(client.get("/resources").text, "acme") != "syncing")
    page = client.get("/resources/acme")
    assert 'data-state="paused"' in page.text  # paused: the scheduler will not run it
    _, history = table(page.text, "run-tables")
    assert [r[:4] for r in history] == [["accounts", "full", "succeeded", "30"],
                                        ["conversations", "full", "succeeded", "40"]]
    assert rows(home / "acme.duckdb", "SELECT count(*) FROM conversations") == [(40,)]
    assert client.get("/resources/new/schedule", follow_redirects=False).headers[
        "location"] == "/resources/new/drift"  # the draft is gone


def test_the_wizard_refuses_a_taken_or_reserved_name_and_can_be_cancelled(
        acme_home: Path, sim: DriftSimulator, client: TestClient) -> None:
    csrf = csrf_of(client, "/resources/new/drift")
    taken = client.post("/resources/new/drift", data={
        "csrf": csrf, "name": "acme", "token": TOKEN, "api_url": sim.url})
    reserved = client.post("/resources/new/drift", data={
        "csrf": csrf, "name": "new", "token": TOKEN, "api_url": sim.url})
    nameless = client.post("/resources/new/drift", data={
        "csrf": csrf, "name": "Not Valid", "token": TOKEN, "api_url": sim.url})
    assert "A resource named &#39;acme&#39; already exists" in taken.text
    assert "The name &#39;new&#39; is taken by the app itself" in reserved.text
    assert "is not valid: use lowercase letters" in nameless.text
    not_http = client.post("/resources/new/drift", data={
        "csrf": csrf, "name": "beta", "token": TOKEN, "api_url": "ftp://drift"})
    plain_remote = client.post("/resources/new/drift", data={
        "csrf": csrf, "name": "beta", "token": TOKEN, "api_url": "http://drift.example.com"})
    assert ("API URL &#39;ftp://drift&#39; is not an http(s) URL; use e.g. "
            "https://driftapi.com.<") in not_http.text  # no CLI flags in the app
    assert "would send the access token unencrypted over the network" in plain_remote.text
    good = client.post("/resources/new/drift", data={
        "csrf": csrf, "name": "beta", "token": TOKEN, "api_url": sim.url})
    assert 'id="verdict-ok"' in good.text
    assert client.get("/resources/new/tables").status_code == 200
    cancelled = client.post("/resources/new/cancel", data={"csrf": csrf}, follow_redirects=False)
    assert cancelled.headers["location"] == "/resources"
    assert client.get("/resources/new/tables", follow_redirects=False).headers[
        "location"] == "/resources/new/drift"
    assert list(ResourceStore().load()) == ["acme"]


# -- one resource -------------------------------------------------------------------------------

def test_resource_page_shows_tables_with_row_counts_runs_and_the_masked_token(
        acme_home: Path, client: TestClient) -> None:
    page = client.get("/resources/acme")

    assert page.status_code == 200
    _, listed = table(page.text, "tables")
    counts = {r[0].split()[0]: r[1] for r in listed}
    database = acme_home / "acme.duckdb"
    for name in ("accounts", "conversations", "messages", "users", "meetings", "contacts"):
        assert counts[name] == f"{rows(database, f'SELECT count(*) FROM {name}')[0][0]:,}"
    assert list(counts) == ["accounts", "conversations", "messages", "users", "meetings",
                            "contacts"]  # catalog order, with the tables contacts come from
    _, history = table(page.text, "run-tables")
    assert sorted(r[0] for r in history) == sorted(counts)
    assert all(r[2] == "succeeded" for r in history)
    assert "<code>drft…3a9c</code>" in page.text
    assert TOKEN not in page.text


def test_sync_now_runs_the_resource_in_a_child_process_and_a_failure_shows_its_error(
        acme_home: Path, sim: DriftSimulator, client: TestClient) -> None:
    csrf = csrf_of(client)
    before = rows(acme_home / "acme.duckdb", "SELECT count(*) FROM _driftsync_runs")[0][0]
    started = client.post("/resources/acme/sync", data={"csrf": csrf}, follow_redirects=False)
    assert started.headers["location"] == "/resources/acme?done=sync"
    again = client.post("/resources/acme/sync", data={"csrf": csrf}, follow_redirects=False)
    assert again.headers["location"] == "/resources/acme?done=running"
    wait_for(lambda: state_of(client.get("/resources").text, "acme") == "ready", 90)
    assert rows(acme_home / "acme.duckdb",
                "SELECT count(*) FROM _driftsync_runs")[0][0] == before + 1

    sim.config.revoke_after = 1  # every later request answers 401
    try:
        client.post("/resources/acme/sync", data={"csrf": csrf})
        wait_for(lambda: state_of(client.get("/resources").text, "acme") == "failed", 90)
    finally:
        sim.config.revoke_after = 0
    page = client.get("/resources/acme")
    assert 'data-state="failed"' in page.text
    _, history = table(page.text, "run-tables")
    assert history[0][2] == "failed" and "Drift rejected the access token" in history[0][6]


def test_settings_change_schedule_mode_and_data_sync_state(
        acme_home: Path, client: TestClient) -> None:
    csrf = csrf_of(client)
    saved = client.post("/resources/acme/settings", follow_redirects=False, data={
        "csrf": csrf, "state": "paused", "mode": "full-refresh", "schedule": "custom",
        "schedule_custom": "weekly mon,thu 07:15 Europe/Berlin"})
    assert saved.headers["location"] == "/resources/acme?done=saved"
    changed = ResourceStore().get("acme")
    assert (changed.state, changed.mode, changed.schedule.text) == (
        "paused", "full-refresh", "weekly mon,thu 07:15 Europe/Berlin")
    page = client.get("/resources/acme?done=saved")
    assert "Settings saved." in page.text
    assert 'value="weekly mon,thu 07:15 Europe/Berlin"' in page.text

    wrong = client.post("/resources/acme/settings", data={
        "csrf": csrf, "state": "sometimes", "mode": "incremental", "schedule": "manual"})
    assert wrong.status_code == 400 and "Choose the Data Sync state" in wrong.text
    nonsense = client.post("/resources/acme/settings", data={
        "csrf": csrf, "state": "enabled", "mode": "incremental", "schedule": "hourly-ish"})
    assert nonsense.status_code == 400 and "Choose a schedule from the list" in nonsense.text
    assert ResourceStore().get("acme") == changed


def test_delete_forgets_the_resource_and_keeps_its_data(
        acme_home: Path, client: TestClient) -> None:
    confirm = client.get("/resources/acme/delete")
    assert confirm.status_code == 200 and "Delete resource acme?" in confirm.text
    deleted = client.post("/resources/acme/delete", data={"csrf": csrf_of(client)})

    assert deleted.status_code == 200
    assert "Deleted resource &#39;acme&#39;. Its data stays in" in deleted.text
    assert ResourceStore().load() == {}
    assert (acme_home / "acme.duckdb").exists()
    assert client.get("/resources/acme").status_code == 404


# -- tables ---------------------------------------------------------------------------------------

def test_table_preview_pages_sorts_and_filters_like_sql(acme_home: Path,
                                                         client: TestClient) -> None:
    database = acme_home / "acme.duckdb"
    first = client.get("/resources/acme/tables/accounts?size=10")
    header, body = table(first.text, "data")
    assert header == [c.name for c in CATALOG["accounts"].all_columns]
    key = header.index("accountId")
    expected = rows(database, 'SELECT "accountId" FROM accounts ORDER BY "accountId" LIMIT 10')
    assert [r[key] for r in body] == [e[0] for e in expected]
    assert "30 rows · page 1 of 3" in first.text

    third = client.get("/resources/acme/tables/accounts?size=10&page=3&sort=createDateTime"
                       "&dir=desc")
    expected = rows(database, 'SELECT "accountId" FROM accounts ORDER BY "createDateTime" '
                    'DESC NULLS LAST, "accountId" LIMIT 10 OFFSET 20')
    assert [r[key] for r in table(third.text, "data")[1]] == [e[0] for e in expected]
    beyond = client.get("/resources/acme/tables/accounts?size=10&page=9999999999"
                        "&sort=createDateTime&dir=desc")
    assert [r[key] for r in table(beyond.text, "data")[1]] == [e[0] for e in expected]
    assert "30 rows · page 3 of 3" in beyond.text

    filtered = client.get("/resources/acme/tables/conversations",
                          params=[("fc", "status"), ("fo", "eq"), ("fv", "open"),
                                  ("fc", "id"), ("fo", "gt"), ("fv", "0"),
                                  ("sort", "id"), ("dir", "asc")])
    expected = rows(database, "SELECT id FROM conversations WHERE status = 'open' AND id > 0 "
                    "ORDER BY id")
    assert len(expected) > 0
    assert [int(r[0]) for r in table(filtered.text, "data")[1]] == [e[0] for e in expected]
    assert f"{len(expected)} rows match" in filtered.text
    assert "status = open" in filtered.text and "id &gt; 0" in filtered.text

    contains = client.get("/resources/acme/tables/users",
                          params={"fc": "name", "fo": "contains", "fv": "ROCK"})
    assert [r[2] for r in table(contains.text, "data")[1]] == ['Dwayne "The Rock" Johnson']
    empty = client.get("/resources/acme/tables/users",
                       params={"fc": "phone", "fo": "null", "fv": "ignored"})
    expected_nulls = rows(database, "SELECT count(*) FROM users WHERE phone IS NULL")[0][0]
    assert len(table(empty.text, "data")[1]) == expected_nulls
    bad = client.get("/resources/acme/tables/users", params={"fc": "id", "fo": "gt", "fv": "x"})
    assert bad.status_code == 400 and "the value must be a whole number" in bad.text


def test_schema_tab_lists_every_catalog_column_with_type_and_description(
        acme_home: Path, client: TestClient) -> None:
    from driftsync.docs import SQL_TYPES

    page = client.get("/resources/acme/tables/messages/schema")
    _, listed = table(page.text, "schema")
    columns = CATALOG["messages"].all_columns
    assert [r[0] for r in listed] == [c.name for c in columns]
    assert [r[1] for r in listed] == [SQL_TYPES[c.type] for c in columns]
    assert [r[2] for r in listed] == [" ".join(c.comment.split()) for c in columns]


def test_column_summary_counts_nulls_distinct_min_max_and_top_values(
        acme_home: Path, client: TestClient) -> None:
    page = client.get("/resources/acme/tables/conversations/summary")
    _, summary = table(page.text, "summary")
    by_column = {r[0]: r for r in summary}
    database = acme_home / "acme.duckdb"
    nulls, distinct, low, high = rows(database, 'SELECT count(*) - count("inboxId"), '
                                      'count(DISTINCT "inboxId"), min("inboxId"), '
                                      'max("inboxId") FROM conversations')[0]
    assert by_column["inboxId"][2:6] == [f"{nulls:,}", f"{distinct:,}", str(low), str(high)]
    top = rows(database, "SELECT status, count(*) AS n FROM conversations GROUP BY status "
               "ORDER BY n DESC, status LIMIT 5")
    assert by_column["status"][6] == " ".join(f"{v} ×{n}" for v, n in top)
    assert by_column["id"][6] == ""  # unique: no value repeats

    narrowed = client.get("/resources/acme/tables/conversations/summary",
                          params={"fc": "status", "fo": "eq", "fv": "closed"})
    closed = rows(database, "SELECT count(*) FROM conversations WHERE status = 'closed'")[0][0]
    assert {r[0]: r for r in table(narrowed.text, "summary")[1]}["status"][6] == (
        f"closed ×{closed}")
    # It says how many rows it is over: those that match, not the whole table.
    total = rows(database, "SELECT count(*) FROM conversations")[0][0]
    assert f"Over the {closed:,} of {total:,} rows that match the filters." in narrowed.text
    assert f"Over all {total:,} rows." in page.text


def test_downloads_hold_the_rows_of_the_view_as_csv_and_parquet(
        acme_home: Path, client: TestClient) -> None:
    database = acme_home / "acme.duckdb"
    view = {"fc": "status", "fo": "ne", "fv": "open", "sort": "id", "dir": "desc"}
    got = client.get("/resources/acme/tables/conversations/download.csv", params=view)
    assert got.headers["content-type"].startswith("text/csv")
    assert got.headers["content-disposition"] == 'attachment; filename="acme-conversations.csv"'
    read = list(csv.DictReader(io.StringIO(got.text)))
    expected = rows(database, "SELECT id, status, \"contactId\" FROM conversations WHERE "
                    "status <> 'open' ORDER BY id DESC")
    assert [(int(r["id"]), r["status"], int(r["contactId"])) for r in read] == expected

    parquet = client.get("/resources/acme/tables/users/download.parquet")
    assert parquet.headers["content-disposition"] == 'attachment; filename="acme-users.parquet"'
    loaded = pq.read_table(io.BytesIO(parquet.content))
    assert loaded.column("id").to_pylist() == [r[0] for r in rows(
        database, "SELECT id FROM users ORDER BY id")]
    assert loaded.column("name").to_pylist() == [r[0] for r in rows(
        database, "SELECT name FROM users ORDER BY id")]
    assert client.get("/resources/acme/tables/users/download.xlsx").status_code == 404


def test_pages_of_unknown_resources_and_tables_are_404(acme_home: Path,
                                                        client: TestClient) -> None:
    assert client.get("/resources/nobody").status_code == 404
    assert client.get("/resources/acme/tables/playbooks").status_code == 404  # not chosen
    assert client.get("/resources/acme/tables/nothing").status_code == 404
    assert client.get("/nowhere").status_code == 404
    assert client.get("/", follow_redirects=False).headers["location"] == "/resources"


def test_a_never_synced_resource_has_pages_without_data(home: Path, sim: DriftSimulator,
                                                        client: TestClient) -> None:
    add("fresh", sim, tables=("users",))
    page = client.get("/resources/fresh")
    assert page.status_code == 200 and "not synced yet" in page.text
    users = client.get("/resources/fresh/tables/users")
    assert users.status_code == 200 and 'id="not-synced"' in users.text
    query = client.post("/resources/fresh/query", data={"csrf": csrf_of(client),
                                                        "sql": "SELECT 1"})
    assert query.status_code == 404 and "has no data yet" in query.text
    assert not (home / "fresh.duckdb").exists()  # reading never creates a database


# -- query ---------------------------------------------------------------------------------------

def test_query_page_runs_a_read_pages_it_and_downloads_csv(acme_home: Path,
                                                            client: TestClient) -> None:
    page = client.get("/resources/acme/query")
    assert page.status_code == 200 and "FROM conversations" in page.text
    csrf = csrf_of(client, "/resources/acme/query")
    sql = "SELECT id, status FROM conversations ORDER BY id"
    expected = rows(acme_home / "acme.duckdb", sql)
    first = client.post("/resources/acme/query", data={"csrf": csrf, "sql": sql, "page": "1"})
    header, body = table(first.text, "query-result")
    assert header == ["id", "status"]
    assert [(int(r[0]), r[1]) for r in body] == expected[:50]
    grouped = client.post("/resources/acme/query", data={
        "csrf": csrf, "page": "1",
        "sql": "WITH c AS (SELECT status FROM conversations)\n"
               "SELECT status, count(*) AS n FROM c GROUP BY status ORDER BY n DESC, status;"})
    expected_groups = rows(acme_home / "acme.duckdb", "SELECT status, count(*) AS n FROM "
                           "conversations GROUP BY status ORDER BY n DESC, status")
    assert [(r[0], int(r[1])) for r in table(grouped.text, "query-result")[1]] == expected_groups
    assert f"{len(expected_groups)} rows" in grouped.text

    paged = client.post("/resources/acme/query", data={
        "csrf": csrf, "sql": "SELECT id FROM messages ORDER BY id", "page": "2"})
    all_ids = [r[0] for r in rows(acme_home / "acme.duckdb", "SELECT id FROM messages ORDER BY id")]
    assert [int(r[0]) for r in table(paged.text, "query-result")[1]] == all_ids[50:100]
    assert f"{len(all_ids):,} rows" in paged.text and "page 2 of" in paged.text
    last = -(-len(all_ids) // 50)
    beyond = client.post("/resources/acme/query", data={
        "csrf": csrf, "sql": "SELECT id FROM messages ORDER BY id", "page": "999999999"})
    assert [int(r[0]) for r in table(beyond.text, "query-result")[1]] == all_ids[
        (last - 1) * 50:]
    assert f"page {last} of {last}" in beyond.text

    download = client.post("/resources/acme/query.csv", data={"csrf": csrf, "sql": sql})
    assert download.headers["content-disposition"] == 'attachment; filename="acme-query.csv"'
    read = list(csv.reader(io.StringIO(download.text)))
    assert read[0] == ["id", "status"]
    assert [(int(i), s) for i, s in read[1:]] == expected

    failing = client.post("/resources/acme/query", data={"csrf": csrf, "sql":
                                                         "SELECT nope FROM users"})
    assert failing.status_code == 400 and "Referenced column" in failing.text


@pytest.mark.parametrize("path", ["/resources", "/resources/new", "/resources/new/drift",
                                  "/resources/acme", "/resources/acme/query",
                                  "/resources/acme/tables/users",
                                  "/resources/acme/tables/users/schema",
                                  "/resources/acme/tables/users/summary",
                                  "/resources/acme/delete"])
def test_every_page_loads_its_assets_from_the_app_itself(acme_home: Path, client: TestClient,
                                                         path: str) -> None:
    page = client.get(path)
    assert page.status_code == 200
    sources = [a.get("src") or a.get("href") for _, a in elements_with(page.text, "src")]
    sources += [a.get("href") for tag, a in elements_with(page.text, "href") if tag == "link"]
    assert sources and all(s and s.startswith("/static/") for s in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200
