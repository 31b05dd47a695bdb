"""End to end: the simulator over real loopback HTTP, the sync engine, a real DuckDB file."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from driftsync.catalog import CATALOG, Table
from driftsync.engine import SyncOptions, run_sync
from driftsync.errors import RequestRejectedError
from driftsync.load import Destination, Warehouse

from .conftest import client_for, fetch_rows, running, sample


def sync(sim: Any, database: Path, **options: Any) -> Any:
    with Warehouse(Destination(database=database)) as warehouse, client_for(
        sim, token=options.pop("token", None)
    ) as client:
        return run_sync(client, warehouse, SyncOptions(**options))


def table_rows(database: Path, table: Table) -> dict[Any, dict[str, Any]]:
    rows = fetch_rows(database, f'SELECT * FROM drift.main."{table.name}"')
    keyed = {row[table.primary_key]: row for row in rows}
    assert len(keyed) == len(rows), f"duplicate primary keys in {table.name}"
    return keyed


def expected_value(kind: str, value: Any) -> Any:
    """What a Drift value must read back as, written independently of driftsync.transform."""
    if value is None:
        return None
    if kind == "bigint":
        return int(value)
    return value


def assert_row_matches(table: Table, record: dict[str, Any], row: dict[str, Any]) -> None:
    extra = orjson.loads(row["_extra"]) if row["_extra"] is not None else {}
    for column in table.columns:
        value = record.get(column.name)
        got = row[column.name]
        if column.type == "json":
            assert (None if got is None else orjson.loads(got)) == value, column.name
        elif column.type == "bigint" and isinstance(value, str) and not value.isdigit():
            assert got is None and extra[column.name] == value, column.name
        else:
            assert got == expected_value(column.type, value), column.name
            if value is not None:
                assert type(got) is {"bigint": int, "text": str, "boolean": bool}[column.type]
        if column.epoch_ms:
            ts = row[f"{column.name}_ts"]
            if value is None:
                assert ts is None
            else:
                assert ts == datetime.fromtimestamp(int(value) / 1000, UTC), column.name
    known = {c.name for c in table.columns}
    unknown = {k: v for k, v in record.items() if k not in known}
    for key, value in unknown.items():
        assert extra[key] == value, key


@pytest.mark.parametrize("pagination", ["links", "cursor"])
def test_every_record_lands_exactly_once_with_its_values(pagination: str, tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running(pagination=pagination) as sim:
        result = sync(sim, database)
        counts = sim.request_counts()
        dataset = sim.dataset
    assert result.ok, [t.error for t in result.tables]
    for table, records in (
        (CATALOG["accounts"], dataset.accounts),
        (CATALOG["conversations"], dataset.conversations),
        (CATALOG["users"], dataset.users),
    ):
        rows = table_rows(database, table)
        assert len(rows) == len(records) == len({r[table.primary_key] for r in records})
        for record in records:
            assert_row_matches(table, record, rows[expected_value(
                table.column(table.primary_key).type, record[table.primary_key])])
    page = 100 if pagination == "links" else 50  # the older shape caps pages at 50
    assert counts["GET /conversations/list"] == -(-len(dataset.conversations) // page)
    assert counts["GET /conversations/{id}"] == len(dataset.conversations)
    assert counts["GET /accounts"] == -(-len(dataset.accounts) // 100)
    assert counts["GET /users/list"] == 1
    by_name = {t.table: t for t in result.tables}
    assert by_name["conversations"].rows == len(dataset.conversations)
    assert by_name["conversations"].requests == (
        counts["GET /conversations/list"] + counts["GET /conversations/{id}"]
    )


def test_real_drift_sample_records_land_field_by_field(sim: Any, tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    assert sync(sim, database).ok

    conversation = sample("conversation_get.json")["data"]
    row = table_rows(database, CATALOG["conversations"])[116119985]
    assert row["status"] == "closed"
    assert orjson.loads(row["participants"]) == [243266, 252465]
    assert row["contactId"] == 903182234
    assert row["createdAt"] == 1528293067340
    assert row["createdAt_ts"] == datetime(2018, 6, 6, 13, 51, 7, 340000, tzinfo=UTC)
    assert row["relatedPlaybookId"] == 63505
    assert row["inboxId"] == 116983
    assert orjson.loads(row["conversationTags"]) == [
        {"color": "0960C5", "name": "test_tag"},
        {"color": "7695A5", "name": "second_tag"},
    ]
    assert row["updatedAt"] == 1565798942334
    assert row["orgId"] is None and row["_extra"] is None
    assert_row_matches(CATALOG["conversations"], conversation, row)

    conversations = table_rows(database, CATALOG["conversations"])
    for name in ("conversations_list_v1.json", "conversations_list_v2.json"):
        for item in sample(name)["data"]:
            assert_row_matches(CATALOG["conversations"], item, conversations[item["id"]])
    assert conversations[3782727146]["contactId"] == 17035536800  # > 2**31: BIGINT

    account = sample("account.json")["data"]
    row = table_rows(database, CATALOG["accounts"])["123458_domain.com"]
    assert row["ownerId"] == 21965 and row["name"] == "Company Name"
    assert row["domain"] == "www.domain.com" and row["deleted"] is False
    assert row["targeted"] is True
    assert orjson.loads(row["customProperties"]) == [
        {"label": "My Number", "name": " my number", "value": 1, "type": "NUMBER"}
    ]
    assert row["updateDateTime_ts"] == datetime(2018, 8, 2, 21, 1, 23, 493000, tzinfo=UTC)
    assert_row_matches(CATALOG["accounts"], account, row)


def test_column_types_and_comments_come_from_the_catalog(sim: Any, tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    assert sync(sim, database).ok
    columns = fetch_rows(
        database,
        "SELECT table_name, column_name, data_type, comment FROM duckdb_columns() "
        "WHERE database_name = 'drift' AND schema_name = 'main'",
    )
    found = {(c["table_name"], c["column_name"]): c for c in columns}
    expected_types = {"bigint": "BIGINT", "double": "DOUBLE", "text": "VARCHAR",
                      "boolean": "BOOLEAN",
                      "json": "JSON", "timestamp": "TIMESTAMP WITH TIME ZONE"}
    for table in CATALOG.values():
        for column in table.all_columns:
            got = found[(table.name, column.name)]
            assert got["data_type"] == expected_types[column.type], (table.name, column.name)
            assert got["comment"] == column.comment
    tables = fetch_rows(database, "SELECT table_name, comment FROM duckdb_tables() "
                                  "WHERE database_name = 'drift' AND schema_name = 'main'")
    comments = {t["table_name"]: t["comment"] for t in tables}
    assert comments["users"] == CATALOG["users"].description


def test_rerun_keeps_the_same_rows_and_content(sim: Any, tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    assert sync(sim, database).ok
    first = {t: fetch_rows(database, f'SELECT * FROM drift.{t} ORDER BY 1, 2') for t in CATALOG}
    assert sync(sim, database).ok
    second = {t: fetch_rows(database, f'SELECT * FROM drift.{t} ORDER BY 1, 2') for t in CATALOG}
    assert first == second
    assert len(second["conversations"]) == len(sim.dataset.conversations)


def test_faults_are_retried_and_the_result_is_complete_and_identical(tmp_path: Path) -> None:
    clean, faulty = tmp_path / "clean.duckdb", tmp_path / "faulty.duckdb"
    with running() as sim:
        assert sync(sim, clean).ok
    with running(fault_429_every=13, retry_after=0.01, fault_5xx_every=29,
                 drop_connection_every=31) as sim:
        result = sync(sim, faulty)
    assert result.ok, [t.error for t in result.tables]
    assert sum(t.retries for t in result.tables) > 50
    for table in CATALOG:
        sql = f'SELECT * FROM {{db}}.main."{table}" ORDER BY 1, 2'
        assert fetch_rows(clean, sql.format(db="clean")) == fetch_rows(
            faulty, sql.format(db="faulty"))


def test_html_5xx_bodies_are_retried(tmp_path: Path) -> None:
    with running(fault_5xx_every=3, fault_5xx_status=502) as sim:
        result = sync(sim, tmp_path / "drift.duckdb", tables=["users", "accounts"])
    assert result.ok and sum(t.retries for t in result.tables) >= 1


def test_a_missing_scope_skips_its_tables_with_a_warning_and_the_rest_sync(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="driftsync")
    database = tmp_path / "drift.duckdb"
    with running(missing_scopes={"user_read"}) as sim:
        result = sync(sim, database)
        n_accounts = len(sim.dataset.accounts)
        counts = sim.request_counts()
    by_name = {t.table: t for t in result.tables}
    assert result.ok
    assert [t.table for t in result.skipped] == ["users", "teams", "meetings"]
    assert by_name["users"].error == (
        "skipped: the token lacks the 'user_read' scope that users needs. Add 'user_read' "
        "under SETTINGS > OAuth & Scopes in your Drift app, reinstall the app, and use the new "
        "token; or leave the table out with --tables."
    )
    assert {t.status for t in result.tables if t.table not in ("users", "teams", "meetings")} \
        == {"succeeded"}
    # the token info said so up front: the skipped tables cost no request at all
    assert "GET /users/list" not in counts and "GET /teams/org" not in counts
    assert len(fetch_rows(database, "SELECT * FROM drift.accounts")) == n_accounts
    # Logged as info: the warning itself is the table's result, which the CLI prints once.
    said = [r.getMessage() for r in caplog.records if r.name.startswith("driftsync")]
    assert any(m.startswith("skipped users: the token lacks the 'user_read' scope") for m in said)
    assert not [r for r in caplog.records if r.levelname == "WARNING" and "skipped" in
                r.getMessage()]


def test_a_403_on_a_table_skips_it_when_drift_gives_no_token_info(tmp_path: Path) -> None:
    """Drift's docs are unsure which scope some endpoints need: the 403 itself decides."""
    database = tmp_path / "drift.duckdb"
    with running(missing_scopes={"playbook_read"}) as sim:
        sim.config.missing_scopes = {"playbook_read"}
        with Warehouse(Destination(database=database)) as warehouse, client_for(sim) as client:
            client.token_info = lambda: (_ for _ in ()).throw(  # type: ignore[method-assign]
                RequestRejectedError("no token info here", status=404))
            result = run_sync(client, warehouse, SyncOptions(tables=["users", "playbooks"]))
    by_name = {t.table: t for t in result.tables}
    assert result.ok and by_name["users"].status == "succeeded"
    assert by_name["playbooks"].status == "skipped"
    assert by_name["playbooks"].error == (
        "skipped: Drift refused access to playbooks (403): the token lacks the 'playbook_read' "
        "scope. Add 'playbook_read' under SETTINGS > OAuth & Scopes in your Drift app, "
        "reinstall the app, and use the new token."
    )


def test_a_failed_table_keeps_its_last_good_data(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        assert sync(sim, database).ok
        before = fetch_rows(database, "SELECT * FROM drift.conversations ORDER BY id")
        sim.config.revoke_after = 5  # token revoked after a few pages of conversations
        sim.reset_counts()
        result = sync(sim, database, tables=["conversations"], mode="full-refresh")
    assert not result.ok
    assert result.tables[0].error.startswith("Drift rejected the access token (401: ")
    assert fetch_rows(database, "SELECT * FROM drift.conversations ORDER BY id") == before


def test_a_wrong_token_stops_the_run_after_the_first_table(tmp_path: Path) -> None:
    with running() as sim:
        result = sync(sim, tmp_path / "drift.duckdb", token="not-the-token")
        counts = sim.request_counts()
    errors = [t.error for t in result.tables]
    assert errors[0] == (
        "Drift rejected the access token (401: authentication_error: The access token is invalid "
        "or has expired). "
        "Check the token you gave (--token, DRIFT_ACCESS_TOKEN or the config file), or copy a "
        "fresh OAuth access token from your Drift app (dev.drift.com > your app > Installing to "
        "Drift)."
    )
    assert errors[1] == errors[2] == f"not synced: {errors[0]}"
    assert sum(counts.values()) == 1


def test_runs_are_recorded(sim: Any, tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    result = sync(sim, database, tables=["users"])
    runs = fetch_rows(database, "SELECT * FROM drift.main._driftsync_runs")
    assert [(r["run_id"], r["status"], r["tables"]) for r in runs] == [
        (result.run_id, "succeeded", "users")
    ]
    tables = fetch_rows(database, "SELECT * FROM drift.main._driftsync_run_tables")
    assert tables[0]["table_name"] == "users" and tables[0]["rows"] == len(sim.dataset.users)
    assert tables[0]["requests"] == 1 and tables[0]["error"] is None


def test_without_details_only_list_requests_are_made(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=950) as sim:
        assert sync(sim, database, tables=["conversations"], conversation_details=False).ok
        counts = sim.request_counts()
    assert counts == {"POST /app/token_info": 1, "GET /conversations/list": 10}
    rows = fetch_rows(database, "SELECT participants, conversationTags FROM drift.conversations")
    assert len(rows) == 950
    assert all(r["participants"] is None for r in rows)


def test_a_run_left_running_by_a_killed_process_shows_as_interrupted(
    sim: Any, tmp_path: Path
) -> None:
    import duckdb

    from driftsync.runs import recent_runs

    database = tmp_path / "drift.duckdb"
    assert sync(sim, database, tables=["users"]).ok
    with duckdb.connect(str(database)) as con:  # what a SIGKILLed run leaves behind
        con.execute("INSERT INTO drift._driftsync_runs VALUES "
                    "('dead', now(), NULL, 'running', 'accounts', NULL)")
    with Warehouse(Destination(database=database)) as warehouse:
        records = recent_runs(warehouse)
    dead = next(r for r in records if r.run_id == "dead")
    assert (dead.status, dead.error) == (
        "interrupted", "the process stopped before the run finished (killed or crashed)")


def test_an_org_with_no_rows_still_gets_typed_empty_tables(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=0, accounts=0, include_samples=False) as sim:
        result = sync(sim, database)
    assert result.ok, [t.error for t in result.tables]
    assert fetch_rows(database, "SELECT count(*) AS n FROM drift.conversations") == [{"n": 0}]
    for name in ("messages", "contacts", "conversation_tags", "account_custom_properties"):
        assert fetch_rows(database, f"SELECT count(*) AS n FROM drift.{name}") == [{"n": 0}]
    columns = fetch_rows(database, "SELECT column_name, data_type FROM duckdb_columns() "
                                   "WHERE table_name = 'accounts' AND database_name = 'drift'")
    assert {c["column_name"]: c["data_type"] for c in columns}["updateDateTime_ts"] == (
        "TIMESTAMP WITH TIME ZONE")


@pytest.mark.parametrize("name", ["drift.backup.duckdb", "main.duckdb"])
def test_file_names_that_duckdb_renames_still_work(sim: Any, tmp_path: Path, name: str) -> None:
    with Warehouse(Destination(database=tmp_path / name)) as warehouse, client_for(sim) as client:
        assert run_sync(client, warehouse, SyncOptions(tables=["users"])).ok
    catalog = {"drift.backup.duckdb": "drift", "main.duckdb": "main_db"}[name]
    assert warehouse.display_name("users") == f"{catalog}.users"
    assert fetch_rows(tmp_path / name, f"SELECT count(*) AS n FROM {catalog}.users") == [
        {"n": len(sim.dataset.users)}]
