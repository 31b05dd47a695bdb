"""Run history, kept in the destination next to the data it describes.

Two tables in the dataset: ``_driftsync_runs`` (one row per run) and
``_driftsync_run_tables`` (one row per table per run). A run is written as ``running``
when it starts and updated when it ends, so a crash leaves a visible trace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .load import Warehouse

RUNS = "_driftsync_runs"
RUN_TABLES = "_driftsync_run_tables"

TableStatus = Literal["succeeded", "failed", "skipped"]
"""``skipped``: the token lacks the table's scope; a warning, the run still succeeds."""
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]


@dataclass
class TableResult:
    table: str
    status: TableStatus = "succeeded"
    rows: int = 0
    """Records read from Drift in this run."""
    pages: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    error: str | None = None
    mode: str = "full"
    """``full`` (every record read and written) or ``incremental`` (only changes written)."""
    written: int = 0
    """Rows written: all of them in a full run, only new or changed ones in an incremental run."""
    vanished: int = 0
    """Rows marked deleted because a run that read the whole table no longer found them."""
    fatal: bool = field(default=False, compare=False)
    """The failure dooms every later table too (bad token, unreachable host): stop the run."""


@dataclass
class RunRecord:
    run_id: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    error: str | None
    tables: list[TableResult]

    @property
    def seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _ddl(warehouse: Warehouse) -> list[tuple[str, tuple[Any, ...]]]:
    runs, run_tables = warehouse.qualified(RUNS), warehouse.qualified(RUN_TABLES)
    return [
        (
            f"CREATE TABLE IF NOT EXISTS {runs} (run_id VARCHAR PRIMARY KEY, "
            "started_at TIMESTAMPTZ NOT NULL, finished_at TIMESTAMPTZ, status VARCHAR NOT NULL, "
            "tables VARCHAR NOT NULL, error VARCHAR)",
            (),
        ),
        (
            f"CREATE TABLE IF NOT EXISTS {run_tables} (run_id VARCHAR NOT NULL, "
            "table_name VARCHAR NOT NULL, status VARCHAR NOT NULL, rows BIGINT, pages BIGINT, "
            "requests BIGINT, retries BIGINT, seconds DOUBLE PRECISION, error VARCHAR, "
            "PRIMARY KEY (run_id, table_name))",
            (),
        ),
        # Added after the first release: databases made before get the columns here.
        *(
            (f"ALTER TABLE {run_tables} ADD COLUMN IF NOT EXISTS {name} {kind}", ())
            for name, kind in (("mode", "VARCHAR"), ("written", "BIGINT"),
                               ("vanished", "BIGINT"))
        ),
    ]


STALE_ERROR = "the process stopped before the run finished (killed or crashed)"


def _close_stale(warehouse: Warehouse) -> list[tuple[str, tuple[Any, ...]]]:
    """A run still marked ``running`` died without finishing (SIGKILL, power loss).

    Only a warehouse that is the dataset's one writer (``warehouse.exclusive``) may say so: a
    DuckDB file is locked by the live sync, so whoever could open it knows no sync is running;
    on PostgreSQL the sync holds an advisory lock. A reader without the lock changes nothing
    (see :func:`recent_runs`).
    """
    if not warehouse.exclusive:
        return []
    return [(
        f"UPDATE {warehouse.qualified(RUNS)} SET status = 'interrupted', error = %s "
        "WHERE status = 'running'",
        (STALE_ERROR,),
    )]


def record_start(warehouse: Warehouse, run_id: str, started_at: datetime, tables: list[str]) -> None:
    insert = (
        f"INSERT INTO {warehouse.qualified(RUNS)} (run_id, started_at, status, tables) "
        "VALUES (%s, %s, 'running', %s)",
        (run_id, started_at, ",".join(tables)),
    )
    warehouse.execute_all([*_ddl(warehouse), *_close_stale(warehouse), insert])


def record_table(warehouse: Warehouse, run_id: str, result: TableResult) -> None:
    warehouse.execute(
        f"INSERT INTO {warehouse.qualified(RUN_TABLES)} (run_id, table_name, status, rows, pages, "
        "requests, retries, seconds, error, mode, written, vanished) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run_id,
            result.table,
            result.status,
            result.rows,
            result.pages,
            result.requests,
            result.retries,
            round(result.seconds, 3),
            result.error,
            result.mode,
            result.written,
            result.vanished,
        ),
    )


def record_finish(
    warehouse: Warehouse, run_id: str, finished_at: datetime, status: RunStatus, error: str | None
) -> None:
    warehouse.execute(
        f"UPDATE {warehouse.qualified(RUNS)} SET finished_at = %s, status = %s, error = %s "
        "WHERE run_id = %s",
        (finished_at, status, error, run_id),
    )


def recent_runs(warehouse: Warehouse, limit: int = 10) -> list[RunRecord]:
    select = (
        f"SELECT run_id, started_at, finished_at, status, error FROM {warehouse.qualified(RUNS)} "
        "ORDER BY started_at DESC LIMIT %s",
        (limit,),
    )
    rows = warehouse.execute_all([*_ddl(warehouse), *_close_stale(warehouse), select])
    records = [RunRecord(r[0], r[1], r[2], r[3], r[4], []) for r in rows]
    if not warehouse.exclusive and any(r.status == "running" for r in records) and (
        not warehouse.sync_running()
    ):
        # Read without the lock, and nobody holds it: those runs died. The next sync says
        # so in the table; until then they are shown as what they are.
        for record in records:
            if record.status == "running":
                record.status, record.error = "interrupted", STALE_ERROR
    if not records:
        return records
    by_id = {r.run_id: r for r in records}
    placeholders = ", ".join(["%s"] * len(records))
    table_rows: list[Any] = warehouse.execute(
        "SELECT run_id, table_name, status, rows, pages, requests, retries, seconds, error, "
        "coalesce(mode, 'full'), coalesce(written, rows), coalesce(vanished, 0) "
        f"FROM {warehouse.qualified(RUN_TABLES)} WHERE run_id IN ({placeholders}) "
        "ORDER BY run_id, table_name",
        tuple(by_id),
    )
    for row in table_rows:
        by_id[row[0]].tables.append(TableResult(*row[1:]))
    return records


def has_completed(warehouse: Warehouse, table: str) -> bool:
    """Has ``table`` ever synced successfully into this destination? Decides the auto mode."""
    rows = warehouse.execute_all([
        *_ddl(warehouse),
        (
            f"SELECT count(*) FROM {warehouse.qualified(RUN_TABLES)} "
            "WHERE table_name = %s AND status = 'succeeded'",
            (table,),
        ),
    ])
    return bool(rows and rows[0][0])
