"""``driftsync export``: exact contents in each format, filters, errors, and flat memory."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from driftsync.catalog import CATALOG
from driftsync.cli import main
from driftsync.destinations import open_warehouse, postgres_destination
from driftsync.engine import SyncOptions, run_sync
from driftsync.load import Destination, Warehouse

from .conftest import client_for, fetch_rows, running
from .pgserver import PgServer


def sync(sim: Any, destination: Any, tables: list[str]) -> None:
    with open_warehouse(destination) as warehouse, client_for(sim) as client:
        assert run_sync(client, warehouse, SyncOptions(tables=tables, now_ms=sim.now_ms)).ok


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """users, accounts and conversations of one simulated Drift, in a DuckDB file."""
    database = tmp_path_factory.mktemp("export") / "drift.duckdb"
    with running(conversations=300, accounts=40, users=15) as sim:
        sync(sim, Destination(database=database), ["users", "accounts", "conversations"])
        yield sim, database


def export(*args: str) -> Any:
    return CliRunner().invoke(main, ["export", *args])


def iso(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_csv_field(kind: str, value: Any) -> str:
    """How a stored value must read in the CSV (written here, not through the exporter)."""
    if value is None:
        return ""
    if kind == "timestamp":
        return iso(value)
    if kind == "boolean":
        return "true" if value else "false"
    return str(value)


def test_csv_holds_every_row_and_column_with_iso_timestamps(synced: Any, tmp_path: Path) -> None:
    sim, database = synced
    target = tmp_path / "users.csv"
    result = export("users", "--database", str(database), "-o", str(target))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Exported {len(sim.dataset.users)} rows of users to {target}.\n"
    table = CATALOG["users"]
    text = target.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == ",".join(f'"{c.name}"' for c in table.all_columns)
    stored = fetch_rows(database, 'SELECT * FROM drift.users')  # in storage order, as exported
    read = list(csv.DictReader(io.StringIO(text)))
    assert len(read) == len(stored) == len(sim.dataset.users)
    for row, expected in zip(read, stored, strict=True):
        assert row == {c.name: as_csv_field(c.type, expected[c.name]) for c in table.all_columns}
    first = stored[0]
    assert iso(first["createdAt_ts"]) == datetime.fromtimestamp(
        first["createdAt"] / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # NULL is an empty field, text is always quoted: the two never look alike.
    assert ',"",' not in lines[1] or first["alias"] == ""
    assert lines[1].startswith(f'{first["id"]},{first["createdAt"]},"')
    assert not list(tmp_path.glob(".*.part"))


def test_jsonl_and_parquet_hold_the_same_rows(synced: Any, tmp_path: Path) -> None:
    _, database = synced
    table = CATALOG["conversations"]
    stored = fetch_rows(database, "SELECT * FROM drift.conversations")
    result = export("conversations", "--database", str(database), "--format", "jsonl")
    assert result.exit_code == 0
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(stored)
    for line, row in zip(lines, stored, strict=True):
        assert list(line) == [c.name for c in table.all_columns]
        for column in table.all_columns:
            value = row[column.name]
            if column.type == "json":
                assert line[column.name] == (None if value is None else orjson.loads(value))
            elif column.type == "timestamp":
                assert line[column.name] == (None if value is None else iso(value))
            else:
                assert line[column.name] == value
    target = tmp_path / "c.parquet"
    assert export("conversations", "--database", str(database), "--format", "parquet", "-o",
                  str(target)).exit_code == 0
    assert pq.read_table(target).to_pylist() == stored


def test_since_keeps_rows_updated_at_or_after_the_time(synced: Any) -> None:
    sim, database = synced
    moments = sorted(c["updatedAt"] for c in sim.dataset.conversations)
    middle = moments[len(moments) // 2]
    since = datetime.fromtimestamp(middle / 1000, UTC)
    result = export("conversations", "--database", str(database), "--format", "jsonl",
                    "--since", since.isoformat().replace("+00:00", "Z"))
    got = sorted(orjson.loads(line)["updatedAt"] for line in result.stdout.splitlines())
    assert got == [m for m in moments if m >= middle]
    day = since.date().isoformat()  # a plain date is midnight UTC
    by_day = export("conversations", "--database", str(database), "--format", "jsonl",
                    "--since", day)
    floor = datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000
    assert len(by_day.stdout.splitlines()) == sum(m >= floor for m in moments)


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "Error: Unknown table 'nope'. Tables in {db} (schema main): accounts, "
               "conversations, users.\n"),
    (["messages"], "Error: Table 'messages' has not been synced into {db} (schema main) yet. "
                   "Tables there: accounts, conversations, users.\n"),
    (["users", "--since", "May 1st"], "Error: --since 'May 1st' is not a date or time; use "
                                      "ISO 8601, e.g. 2024-05-01 or 2024-05-01T12:30:00Z.\n"),
], ids=["unknown-table", "not-synced", "bad-since"])
def test_bad_input_is_one_line(synced: Any, args: list[str], message: str) -> None:
    _, database = synced
    result = export(*args, "--database", str(database))
    assert result.exit_code == 1
    assert result.stderr == message.format(db=database)


def test_output_that_is_a_folder_is_one_line_and_leaves_no_part_file(
    synced: Any, tmp_path: Path
) -> None:
    _, database = synced
    folder = tmp_path / "out"
    folder.mkdir()
    result = export("users", "--database", str(database), "-o", str(folder))
    assert result.exit_code == 1
    assert result.stderr == (f"Error: Cannot write {folder}: it is a folder; give a file name, "
                             f"e.g. -o {folder / 'export.csv'}.\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not any(folder.iterdir())


def test_postgres_exports_the_same_rows_as_duckdb(pg_url: str, tmp_path: Path) -> None:
    with running(conversations=120, accounts=20, users=8) as sim:
        sync(sim, postgres_destination(pg_url), ["users", "conversations"])
        duck = tmp_path / "drift.duckdb"
        sync(sim, Destination(database=duck), ["users", "conversations"])
    for name in ("users", "conversations"):
        from_pg = export(name, "--destination", "postgres", "--database", pg_url)
        from_duck = export(name, "--database", str(duck))
        assert from_pg.exit_code == 0, from_pg.output
        assert parsed_csv(name, from_pg.stdout) == parsed_csv(name, from_duck.stdout), name
        assert len(parsed_csv(name, from_pg.stdout)) > 0


def parsed_csv(table: str, text: str) -> list[dict[str, Any]]:
    """CSV rows with JSON parsed (PostgreSQL's jsonb orders keys its own way), by key."""
    json_columns = {c.name for c in CATALOG[table].all_columns if c.type == "json"}
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for column in json_columns:
            row[column] = orjson.loads(row[column]) if row[column] else None
    key = CATALOG[table].key
    return sorted(rows, key=lambda row: int(row[key]))


# -- memory stays flat -------------------------------------------------------------------------

ROWS = 120_000
PADDING = 2_000  # bytes of text per row: the whole table is about 240 MB as Arrow


_MEASURED = """
import atexit, sys
def report():
    with open("/proc/self/status") as status:
        sys.stderr.write(next(line for line in status if line.startswith("VmHWM")))
atexit.register(report)
from driftsync.cli import main
sys.argv[0] = "driftsync"
main()
"""


def _peak_rss_mb(args: list[str]) -> float:
    """Run ``driftsync export ARGS`` (output discarded); its peak resident memory in MB.

    Read from /proc by the process itself: the rusage of a child counts the memory of the
    (large) test process it was forked from."""
    done = subprocess.run([sys.executable, "-c", _MEASURED, "export", *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("VmHWM")]
    return int(line.split()[1]) / 1024  # kB


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_a_large_table_streams_out_in_flat_memory(kind: str, request: pytest.FixtureRequest,
                                                  tmp_path: Path) -> None:
    with running(conversations=0, accounts=0, users=5, include_samples=False) as sim:
        if kind == "duckdb":
            destination: Any = Destination(database=tmp_path / "big.duckdb")
            args = ["--database", str(destination.database)]
        else:
            url = request.getfixturevalue("pg_url")
            destination = postgres_destination(url)
            args = ["--destination", "postgres", "--database", url]
        sync(sim, destination, ["users"])
    small = _peak_rss_mb(["users", *args, "--format", "csv"])
    grow = ("INSERT INTO {t} (id, name, \"_extra\") SELECT 1000000 + i, 'user ' || i, "
            "CAST('\"' || {pad} || '\"' AS {json}) FROM {series} AS s(i)")
    if kind == "duckdb":
        with Warehouse(destination) as warehouse:
            warehouse.execute(grow.format(t=warehouse.qualified("users"),
                                          pad=f"repeat('x', {PADDING})", json="JSON",
                                          series=f"range({ROWS})"))
    else:
        server: PgServer = request.getfixturevalue("pg_server")
        server.sql(grow.format(t='drift."users"', pad=f"repeat('x', {PADDING})", json="jsonb",
                               series=f"generate_series(0, {ROWS - 1})"),
                   dbname=destination.database, user="driftsync")
    large = _peak_rss_mb(["users", *args, "--format", "csv"])
    # Held whole, the table alone would take ~240 MB more (seen here: +75 MB for DuckDB, +50 MB
    # for PostgreSQL, the cost of a few batches in flight).
    assert large - small < 120, (small, large)
