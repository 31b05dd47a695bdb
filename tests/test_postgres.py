"""The sync contract on a real PostgreSQL server (tests/pgserver.py), next to DuckDB.

Each contract test runs on both destinations where that costs little. Rows read back are
compared with the simulator's data (the spec tables, through test_sync's own checks), and
every table with a DuckDB sync of the same simulator, which the DuckDB tests check field by
field against Drift's data.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from driftsync.catalog import CATALOG
from driftsync.cli import main
from driftsync.destinations import open_warehouse, postgres_destination
from driftsync.engine import SyncOptions, run_sync
from driftsync.load import Destination
from driftsync.runs import recent_runs

from .conftest import client_for, fetch_rows, running
from .pgserver import PgServer
from .test_sync import assert_row_matches

SMALL = {"conversations": 300, "accounts": 70, "users": 12}


@dataclass
class Target:
    """One destination under test: how to open it and read it back as a user would."""

    kind: str
    destination: Any
    server: PgServer | None = None

    def sync(self, sim: Any, **options: Any) -> dict[str, Any]:
        options.setdefault("now_ms", sim.now_ms)
        with open_warehouse(self.destination) as warehouse, client_for(sim) as client:
            result = run_sync(client, warehouse, SyncOptions(**options))
        assert result.ok, [(t.table, t.error) for t in result.tables if t.error]
        return {t.table: t for t in result.tables}

    def query(self, sql: str) -> list[dict[str, Any]]:
        if self.server is None:
            return fetch_rows(self.destination.database, sql)
        dbname = self.destination.database
        conn = self.server.connect(dbname, "driftsync")
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                if cursor.description is None:
                    return []
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        finally:
            conn.close()

    def name(self, table: str) -> str:
        return f'"{table}"' if self.server is None else f'"drift"."{table}"'

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a catalog table, JSON columns parsed, in primary key order."""
        spec = CATALOG[table]
        order = ", ".join(f'"{k}"' for k in spec.key_columns)
        json_columns = {c.name for c in spec.all_columns if c.type == "json"}
        found = self.query(f"SELECT * FROM {self.name(table)} ORDER BY {order}")
        if self.server is None:  # DuckDB hands JSON out as text; psycopg2 parses jsonb
            for row in found:
                for name in json_columns:
                    if row[name] is not None:
                        row[name] = orjson.loads(row[name])
        return found


@pytest.fixture(params=["duckdb", "postgres"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    if request.param == "duckdb":
        return Target("duckdb", Destination(database=tmp_path / "drift.duckdb"))
    url = request.getfixturevalue("pg_url")
    return Target("postgres", postgres_destination(url), request.getfixturevalue("pg_server"))


@pytest.fixture
def pg(pg_url: str, pg_server: PgServer) -> Target:
    return Target("postgres", postgres_destination(pg_url), pg_server)


@pytest.fixture
def sim() -> Iterator[Any]:
    with running(**SMALL) as simulator:
        yield simulator


# -- rows ------------------------------------------------------------------------------------

def test_every_table_holds_exactly_the_rows_of_drift(pg: Target, sim: Any, tmp_path: Path
                                                     ) -> None:
    reference = Target("duckdb", Destination(database=tmp_path / "reference.duckdb"))
    reference.sync(sim)
    first = pg.sync(sim)
    assert {t.mode for t in first.values()} == {"full"}
    for table in ("accounts", "conversations", "users"):
        spec = CATALOG[table]
        records = getattr(sim.dataset, table)
        rows = {r[spec.key]: r for r in pg.query(f"SELECT * FROM {pg.name(table)}")}
        assert len(rows) == len(records)
        for record in records:
            key = int(record[spec.key]) if spec.column(spec.key).type == "bigint" else record[
                spec.key]
            row = dict(rows[key])
            for column in spec.all_columns:  # back to text, as test_sync reads DuckDB
                if column.type == "json" and row[column.name] is not None:
                    row[column.name] = orjson.dumps(row[column.name]).decode()
            assert_row_matches(spec, record, row)
    for table in CATALOG:
        assert pg.rows(table) == reference.rows(table), table
        assert pg.rows(table), f"{table} is empty: the comparison proves little"


def test_a_rerun_adds_nothing_and_writes_nothing(target: Target, sim: Any) -> None:
    target.sync(sim)
    before = {t: target.rows(t) for t in CATALOG}
    second = target.sync(sim)
    assert {t: target.rows(t) for t in CATALOG} == before
    assert {name: r.written for name, r in second.items()} == {name: 0 for name in second}
    assert {r.mode for r in second.values()} == {"incremental"}


def test_incremental_picks_up_changed_conversations_with_few_requests(target: Target,
                                                                      sim: Any) -> None:
    tables = ["conversations", "conversation_tags", "messages"]
    target.sync(sim, tables=tables)
    changed = sim.update_conversations(fraction=0.05)
    sim.reset_counts()
    result = target.sync(sim, tables=tables)
    counts = sim.request_counts()
    assert result["conversations"].mode == "incremental"
    assert result["conversations"].written == len(changed)
    assert counts["GET /conversations/list"] <= 2
    assert counts["GET /conversations/{id}"] == len(changed)
    stored = {r["id"]: (r["updatedAt"], r["status"]) for r in target.rows("conversations")}
    assert stored == {c["id"]: (c["updatedAt"], c["status"]) for c in sim.dataset.conversations}


# -- names, types and comments ---------------------------------------------------------------

def test_columns_keep_their_camel_case_names_types_and_comments(pg: Target, sim: Any) -> None:
    documented = ("conversations", "conversation_tags", "conversation_participants",
                  "accounts", "account_custom_properties", "users")
    pg.sync(sim, tables=list(documented), conversation_details=False)
    columns = pg.query(
        "SELECT c.table_name, c.column_name, c.data_type, "
        "col_description(format('%I.%I', c.table_schema, c.table_name)::regclass, "
        "c.ordinal_position) AS comment FROM information_schema.columns c "
        "WHERE c.table_schema = 'drift'")
    found = {(c["table_name"], c["column_name"]): c for c in columns}
    types = {"bigint": "bigint", "double": "double precision", "text": "character varying",
             "boolean": "boolean", "json": "jsonb", "timestamp": "timestamp with time zone"}
    for name in documented:
        for column in CATALOG[name].all_columns:
            got = found[(name, column.name)]
            assert got["data_type"] == types[column.type], (name, column.name)
            assert got["comment"] == column.comment, (name, column.name)
    assert ("conversations", "updatedAt") in found and ("conversations", "updatedat") not in found
    tables = pg.query("SELECT obj_description('drift.users'::regclass) AS comment")
    assert tables == [{"comment": CATALOG["users"].description}]
    # What a user types: camelCase names quoted, as in any PostgreSQL client.
    (row,) = pg.query('SELECT count(*) AS n, max("updatedAt_ts") AS last, '
                      'count(DISTINCT "contactId") AS contacts FROM drift.conversations')
    assert row["n"] == len(sim.dataset.conversations) and row["contacts"] > 0


# -- one writer at a time ----------------------------------------------------------------------

def test_a_second_sync_stops_at_once_while_one_holds_the_schema(pg: Target, sim: Any) -> None:
    runner = CliRunner()
    env = {"DRIFT_ACCESS_TOKEN": sim.config.token}
    args = ["sync", "--destination", "postgres", "--database", pg.destination.url,
            "--api-url", sim.url, "--tables", "users"]
    with open_warehouse(pg.destination):  # a sync holds it
        started = time.monotonic()
        result = runner.invoke(main, args, env=env)
        assert time.monotonic() - started < 10
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {pg.destination.url} (schema drift) is being synced by another process "
        f"(driftsync pid {os.getpid()} on 127.0.0.1). Wait for that sync to finish, then run "
        "again.\n")
    assert runner.invoke(main, args, env=env).exit_code == 0  # released: the next one runs


def test_a_run_left_running_is_closed_by_the_next_sync_not_by_a_reader(pg: Target,
                                                                        sim: Any) -> None:
    pg.sync(sim, tables=["users"])
    dbname = pg.destination.database
    pg.server.sql("INSERT INTO drift._driftsync_runs VALUES ('dead', now(), NULL, 'running', "
                  "'users', NULL)", dbname=dbname, user="driftsync")
    with open_warehouse(pg.destination):  # a live sync holds the lock: 'running' may be true
        with open_warehouse(pg.destination, role="read") as reader:
            assert {r.run_id: r.status for r in recent_runs(reader)}["dead"] == "running"
    with open_warehouse(pg.destination, role="read") as reader:  # nobody holds it: dead
        shown = {r.run_id: (r.status, r.error) for r in recent_runs(reader)}["dead"]
        assert shown == ("interrupted",
                         "the process stopped before the run finished (killed or crashed)")
    stored = pg.query("SELECT status FROM drift._driftsync_runs WHERE run_id = 'dead'")
    assert stored == [{"status": "running"}]  # a reader writes nothing
    pg.sync(sim, tables=["users"])
    stored = pg.query("SELECT status FROM drift._driftsync_runs WHERE run_id = 'dead'")
    assert stored == [{"status": "interrupted"}]


# -- connection errors: one line, never the password -------------------------------------------

def _sync_into(url: str, env: dict[str, str]) -> Any:
    return CliRunner().invoke(
        main, ["sync", "--destination", "postgres", "--database", url, "--api-url",
               "http://127.0.0.1:9"], env={"DRIFT_ACCESS_TOKEN": "t", **env})


def test_a_wrong_password_is_one_line_without_the_password(pg_server: PgServer) -> None:
    url = pg_server.url("postgres")
    result = _sync_into(url.replace("driftsync@", "driftsync:Sekr1t-wrong@"), {})
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: PostgreSQL at 127.0.0.1:{pg_server.port} rejected the password for user "
        "'driftsync'. Put the right one in PGPASSWORD (or in the URL), then run again.\n")
    assert "Sekr1t" not in result.output
    from_env = _sync_into(url, {"PGPASSWORD": "Sekr1t-wrong"})
    assert from_env.stderr == result.stderr


def test_a_missing_database_says_how_to_create_it(pg_server: PgServer) -> None:
    url = pg_server.url("nope")
    result = _sync_into(url, {"PGPASSWORD": pg_server.app_password})
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: PostgreSQL at 127.0.0.1:{pg_server.port} has no database 'nope'. Create it "
        f"(createdb -h 127.0.0.1 -p {pg_server.port} -U driftsync nope) or name an existing "
        "one in the URL.\n")
    assert pg_server.app_password not in result.output


def test_an_unreachable_server_is_one_line(pg_server: PgServer) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _sync_into(f"postgresql://driftsync:pw-in-url@127.0.0.1:{port}/drift", {})
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused. Check the "
        "host and port in the URL, and that the server is running and accepts TCP "
        "connections.\n")
    assert "pw-in-url" not in result.output


def test_a_url_that_is_not_postgres_is_refused_before_connecting() -> None:
    result = _sync_into("mysql://me:hunter2@db/x", {})
    assert result.stderr == (
        "Error: --database must be a PostgreSQL URL like postgresql://USER@HOST:5432/DATABASE "
        "(password in PGPASSWORD), not 'mysql://me:****@db/x'.\n")


# -- crash trials ------------------------------------------------------------------------------

TRIALS = 4


def test_a_sync_killed_at_random_moments_then_rerun_equals_drift(pg: Target) -> None:
    rng = random.Random(20261204)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT")}
    env.update(DRIFT_ACCESS_TOKEN="", PGPASSWORD=os.environ["PGPASSWORD"])

    def start(sim: Any, *extra: str) -> subprocess.Popen[str]:
        env["DRIFT_ACCESS_TOKEN"] = sim.config.token
        return subprocess.Popen(
            [sys.executable, "-m", "driftsync", "sync", "--destination", "postgres",
             "--database", pg.destination.url, "--api-url", sim.url, "--retries", "2",
             "--tables", "accounts,conversations,users", *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    with running(conversations=600, accounts=300, users=30) as sim:
        started = time.monotonic()
        probe = start(sim)
        assert probe.wait(timeout=120) == 0, probe.stderr.read() if probe.stderr else ""
        full = time.monotonic() - started
        pg.query("TRUNCATE drift._driftsync_run_tables")  # the next runs start from scratch
        for name in ("accounts", "conversations", "users"):
            pg.query(f"TRUNCATE drift.{name}")
        outcomes = []
        for trial in range(TRIALS):
            if trial % 2 == 1:  # Drift changes between trials, as it would between runs
                sim.update_conversations(fraction=0.1)
                sim.dataset.accounts[trial]["name"] = f"renamed in trial {trial}"
                sim.reload()
            # Half the victims read everything, so the kill lands inside a long run.
            victim = start(sim, *(("--mode", "full-refresh") if trial % 2 == 0 else ()))
            time.sleep(rng.uniform(0.3, 0.9 * full))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=60)
            outcomes.append(victim.returncode)
            rerun = start(sim)
            assert rerun.wait(timeout=120) == 0, rerun.stderr.read() if rerun.stderr else ""
            conversations = pg.query('SELECT id, "updatedAt", status FROM drift.conversations')
            assert len(conversations) == len({r["id"] for r in conversations})
            assert {r["id"]: (r["updatedAt"], r["status"]) for r in conversations} == {
                c["id"]: (c["updatedAt"], c["status"]) for c in sim.dataset.conversations}
            accounts = pg.query('SELECT "accountId", name, _driftsync_deleted_at AS gone '
                                "FROM drift.accounts")
            assert {r["accountId"]: r["name"] for r in accounts} == {
                a["accountId"]: a.get("name") for a in sim.dataset.accounts}
            assert all(r["gone"] is None for r in accounts)
            users = pg.query("SELECT id FROM drift.users")
            assert sorted(r["id"] for r in users) == sorted(u["id"] for u in sim.dataset.users)
    assert outcomes.count(-signal.SIGKILL) >= TRIALS // 2, outcomes
    runs = pg.query("SELECT status FROM drift._driftsync_runs")
    assert {r["status"] for r in runs} <= {"succeeded", "interrupted"}
