"""Other dlt destinations: synced into a working copy, then published. Tested end to end with
dlt's filesystem destination writing Parquet into a local folder."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from driftsync.catalog import CATALOG
from driftsync.cli import main

from .conftest import fetch_rows, running


def sync(sim: Any, *args: str) -> Any:
    result = CliRunner().invoke(
        main, ["sync", "--destination", "filesystem", "--database", "out", "--api-url", sim.url,
               *args], env={"DRIFT_ACCESS_TOKEN": sim.config.token})
    assert result.exit_code == 0, result.output
    return result


def parquet_rows(table: str) -> list[dict[str, Any]]:
    files = sorted(Path("out/drift", table).glob("*.parquet"))
    assert files, f"no Parquet files for {table}"
    rows = [row for f in files for row in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in CATALOG[table].key_columns))


def working_rows(table: str) -> list[dict[str, Any]]:
    rows = fetch_rows(Path("drift.duckdb"), f'SELECT * FROM drift."{table}"')
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in CATALOG[table].key_columns))


def files() -> dict[str, list[str]]:
    return {t: sorted(p.name for p in Path("out/drift", t).glob("*.parquet")) for t in CATALOG}


@pytest.fixture
def sim() -> Any:
    with running(conversations=150, accounts=30, users=7) as simulator:
        yield simulator


def test_parquet_files_hold_exactly_the_synced_rows_and_only_changes_are_republished(
    sim: Any
) -> None:
    first = sync(sim)
    assert "Synced into filesystem " in first.stdout
    for table in CATALOG:
        assert parquet_rows(table) == working_rows(table), table
    conversations = {r["id"]: (r["updatedAt"], r["status"]) for r in parquet_rows(
        "conversations")}
    assert conversations == {c["id"]: (c["updatedAt"], c["status"])
                             for c in sim.dataset.conversations}
    users = parquet_rows("users")
    assert [r["id"] for r in users] == sorted(u["id"] for u in sim.dataset.users)
    schema = pq.read_schema(next(Path("out/drift/conversations").glob("*.parquet")))
    assert schema.names == [c.name for c in CATALOG["conversations"].all_columns]
    assert str(schema.field("updatedAt_ts").type) == "timestamp[us, tz=UTC]"

    before = files()
    sync(sim)  # nothing changed in Drift: nothing is published again
    assert files() == before

    sim.update_conversations(fraction=0.1)
    sync(sim)
    after = files()
    assert after["conversations"] != before["conversations"]
    assert after["users"] == before["users"] and after["accounts"] == before["accounts"]
    assert {r["id"]: (r["updatedAt"], r["status"]) for r in parquet_rows("conversations")} == {
        c["id"]: (c["updatedAt"], c["status"]) for c in sim.dataset.conversations}
    for table in CATALOG:
        assert parquet_rows(table) == working_rows(table), table

    status = CliRunner().invoke(main, ["status", "--destination", "filesystem",
                                       "--database", "out"])
    assert status.exit_code == 0
    runs = re.findall(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  (\w+) .* run [0-9a-f]{8}$",
                      status.stdout, flags=re.MULTILINE)
    assert runs == ["succeeded"] * 3


def test_a_table_whose_publish_was_lost_is_published_by_the_next_run(sim: Any) -> None:
    import duckdb

    sync(sim, "--tables", "users")
    for path in Path("out/drift/users").glob("*.parquet"):  # as if the copy never happened
        path.unlink()
    with duckdb.connect("drift.duckdb") as con:
        con.execute("DELETE FROM drift._driftsync_published WHERE table_name = 'users'")
    sync(sim, "--tables", "users")
    assert [r["id"] for r in parquet_rows("users")] == sorted(u["id"] for u in sim.dataset.users)


def test_publishing_logs_no_dlt_warnings(sim: Any) -> None:
    """dlt's logger writes to stderr by itself; a clean first sync must leave it silent."""
    import logging

    class Keep(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    keep = Keep()
    logger = logging.getLogger("dlt")
    logger.addHandler(keep)
    try:
        sync(sim, "--tables", "users,accounts")
    finally:
        logger.removeHandler(keep)
    assert keep.messages == []


@pytest.mark.parametrize(("args", "message"), [
    (["--destination", "nosuch"],
     "Error: dlt has no destination called 'nosuch'; use duckdb, postgres, or a dlt destination "
     "name such as filesystem, bigquery, snowflake, clickhouse, motherduck.\n"),
    (["--destination", "bigquery", "--database", "x"],
     "Error: --database is not used with the bigquery destination: dlt reads its location and "
     "credentials from DESTINATION__BIGQUERY__... environment variables or .dlt/secrets.toml "
     "(see the README).\n"),
    (["--destination", "duckdb", "--working-copy", "x.duckdb"],
     "Error: --working-copy goes with destinations other than duckdb and postgres; a DuckDB "
     "database is its own working copy.\n"),
], ids=["unknown", "location-not-used", "working-copy-with-duckdb"])
def test_bad_destination_options_are_one_line(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["sync", "--api-url", "http://127.0.0.1:9", *args],
                                env={"DRIFT_ACCESS_TOKEN": "t"})
    assert result.exit_code == 1
    assert result.stderr == message
