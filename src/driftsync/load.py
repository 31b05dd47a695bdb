"""Loading through dlt: where the data goes and how it is written.

dlt owns the destination work (DDL, staging, merge transactions); this module only says
which destination, feeds it Arrow tables typed by the catalog, and adds what dlt lacks:
column comments from the catalog descriptions, and plain SQL for driftsync's own
bookkeeping tables.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# Before dlt is imported: no telemetry leaves this machine, ever.
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
# Empty dlt's merge staging tables after each load instead of keeping a full copy of the
# last load in the file.
os.environ.setdefault("LOAD__TRUNCATE_STAGING_DATASET", "true")

import dlt  # noqa: E402
import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402
from dlt.common.schema import Schema  # noqa: E402
from dlt.pipeline.exceptions import PipelineStepFailed  # noqa: E402

from .catalog import DELETED_COLUMN, HASH_COLUMN, Table  # noqa: E402
from .config import DEFAULT_DATABASE  # noqa: E402
from .errors import DestinationError, DriftSyncError  # noqa: E402
from .transform import dlt_columns  # noqa: E402

log = logging.getLogger("driftsync.load")
E = TypeVar("E", bound=BaseException)


class _ExpectedHintNotice(logging.Filter):
    """dlt warns when our catalog hint (JSON) differs from the Arrow type (string) of a JSON
    column. That difference is the point: the catalog decides the destination type."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "several column hints were different" not in record.getMessage()


logging.getLogger("dlt").addFilter(_ExpectedHintNotice())

DEFAULT_DATASET = "main"
"""DuckDB's own default schema. DuckDB names a file's catalog after the file, so in the
default ./drift.duckdb a schema called ``drift`` would make ``drift.conversations`` ambiguous
(DuckDB refuses it, and so does dlt's loader). In ``main`` the tables answer to both
``drift.conversations`` (catalog.table) and plain ``conversations``."""
DATA_DIR_NAME = ".driftsync"
DLT_VERSION_TABLE = "_dlt_version"
FANOUT_STATE = "_driftsync_fanout_state"
"""Per fan-out table (messages, contacts), the parent id and cursor value it last read."""


@dataclass(frozen=True)
class Destination:
    """A DuckDB file and the schema (dlt "dataset") inside it that receives the tables."""

    # Validation lives in __post_init__ so a bad pair never reaches dlt's cryptic binder error.

    database: Path = DEFAULT_DATABASE
    dataset: str = DEFAULT_DATASET

    def __post_init__(self) -> None:
        if self.catalog.lower() in ("system", "temp"):
            raise DestinationError(
                f"DuckDB reserves the name {self.catalog!r} for itself, so it cannot open "
                f"{self.database.name}; choose another --database file name."
            )
        if self.dataset == self.catalog and self.dataset != "main":
            raise DestinationError(
                f"Schema {self.dataset!r} has the same name as the database file "
                f"{self.database.name}, which DuckDB cannot tell apart; rename one of them."
            )

    @property
    def data_dir(self) -> Path:
        """driftsync's working folder, next to the database rather than in the home folder."""
        return self.database.resolve().parent / DATA_DIR_NAME

    @property
    def pipeline_name(self) -> str:
        stem = re.sub(r"[^A-Za-z0-9_]", "_", self.database.stem)
        return f"driftsync_{stem}_{self.dataset}"

    @property
    def catalog(self) -> str:
        """DuckDB's usual name for the file's catalog (up to the first dot); the warehouse
        asks DuckDB for the exact one."""
        return self.database.name.split(".")[0]

    def describe(self) -> str:
        return f"{self.database} (schema {self.dataset})"


class Warehouse:
    """The destination as driftsync uses it: load a table, run bookkeeping SQL, read back.

    This class is the DuckDB warehouse; :class:`driftsync.postgres.PostgresWarehouse` and
    :class:`driftsync.publish.PublishingWarehouse` change only what differs for theirs.
    """

    exclusive = True
    """Nobody else can write this dataset while the warehouse is open (DuckDB's file lock; on
    PostgreSQL an advisory lock), so a run still marked ``running`` is one that died."""
    loader_file_format: str | None = None
    """dlt's load file format; None: the destination's preferred one (Parquet for DuckDB)."""

    def __init__(self, destination: Destination) -> None:
        self.destination = destination
        database = destination.database
        if database.exists() and database.is_dir():
            raise DestinationError(f"--database {database} is a folder; give a file path.")
        if not database.resolve().parent.is_dir():
            raise DestinationError(
                f"Cannot create the database {database}: folder "
                f"{database.resolve().parent} does not exist."
            )
        try:
            destination.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(
                f"Cannot create driftsync's working folder {destination.data_dir} "
                f"({exc.strerror}); put the database in a writable folder (--database)."
            ) from exc
        self._catalog: str | None = None
        self._schema = Schema(destination.dataset, normalizers={"names": "direct"})
        # One connection for the warehouse's whole life, shared with dlt: each DuckDB open and
        # close costs a checkpoint, and holding the file's lock from the start makes a second
        # sync on the same file fail at once instead of half-way.
        try:
            self._conn = duckdb.connect(str(database.resolve()))
        except duckdb.Error as exc:
            raise DestinationError(
                _explained(destination, exc)
                or f"Cannot open {destination.describe()}: {_root_message(exc)}"
            ) from exc
        try:
            self.pipeline = dlt.pipeline(
                pipeline_name=destination.pipeline_name,
                pipelines_dir=str(destination.data_dir / "pipelines"),
                destination=dlt.destinations.duckdb(self._conn),
                dataset_name=destination.dataset,
            )
        except Exception as exc:  # noqa: BLE001 - dlt raises many types; one message for all
            self._conn.close()
            raise DestinationError(f"Cannot open {destination.describe()}: {exc}") from exc
        self._forget_state_of_another_database()

    def _forget_state_of_another_database(self) -> None:
        """Start dlt afresh when the database holds nothing dlt loaded (new, or deleted and
        made again) but dlt's local files remember tables: dlt would take them as created,
        create only the table being loaded, and the next table's load would then fail."""
        if self.pipeline.default_schema_name and not self.has_table(DLT_VERSION_TABLE):
            log.info("%s holds no dlt tables: dropping dlt's local state for it",
                     self.destination.describe())
            self.pipeline = self.pipeline.drop()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the database file (and its lock)."""
        self._conn.close()

    def load(self, table: Table, batches: Iterable[pa.Table], merge_key: str | None = None) -> None:
        """Merge ``batches`` into ``table`` on its primary key, in one dlt load.

        The merge is transactional in the destination: readers see the table before or
        after the load, never half of it, and a failure leaves the last good data. With
        ``merge_key`` (a nested table's parent column), every stored row whose parent appears
        in the batches is replaced in the same transaction: an item removed from the parent's
        array disappears.
        """
        hints: dict[str, Any] = {}
        if merge_key is not None:
            hints["merge_key"] = merge_key
        resource = dlt.resource(
            batches,
            name=table.name,
            table_name=table.name,
            write_disposition="merge",
            primary_key=list(table.key_columns),
            columns=dlt_columns(table),
            **hints,
        )
        # A run killed mid-way can leave an unfinished package behind; this table is read
        # again in full, so the leftover is redundant and would only be loaded twice.
        self.pipeline.abort_packages() if hasattr(self.pipeline, "abort_packages") else (
            self.pipeline.drop_pending_packages()
        )
        try:
            self.pipeline.run(resource, schema=self._pipeline_schema(),
                              loader_file_format=self.loader_file_format)  # type: ignore[arg-type]
        except PipelineStepFailed as exc:
            if _find_in_chain(exc, KeyboardInterrupt) is not None:
                raise KeyboardInterrupt from exc
            cause = _find_in_chain(exc, DriftSyncError)
            if cause is not None:
                raise cause from exc
            raise DestinationError(
                self._explain(exc)
                or f"Loading {table.name} into {self.destination.describe()} failed at the "
                f"{exc.step} step: {_root_message(exc)}"
            ) from exc
        self._comment(table)

    def _pipeline_schema(self) -> Schema:
        if self.pipeline.default_schema_name:
            return self.pipeline.default_schema
        return self._schema

    def _comment(self, table: Table) -> None:
        """Catalog descriptions become table and column comments, so any SQL tool shows them."""
        name = self.qualified(table.name)
        statements = [f"COMMENT ON TABLE {name} IS {_literal(table.description)}"]
        statements += [
            f"COMMENT ON COLUMN {name}.{_ident(c.name)} IS {_literal(c.comment)}"
            for c in table.all_columns
        ]
        with self.sql() as client:
            for statement in statements:
                client.execute_sql(statement)

    @property
    def catalog(self) -> str:
        """The catalog name DuckDB gave the file (``drift`` for drift.duckdb, but ``main_db``
        for main.duckdb): asked once, since our SQL always says catalog.schema.table."""
        if self._catalog is None:
            with self.sql() as client:
                self._catalog = str(client.execute_sql("SELECT current_database()")[0][0])
        return self._catalog

    def qualified(self, table_name: str) -> str:
        d = self.destination
        return f"{_ident(self.catalog)}.{_ident(d.dataset)}.{_ident(table_name)}"

    def has_table(self, table_name: str) -> bool:
        rows = self.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_catalog = %s "
            "AND table_schema = %s AND table_name = %s",
            (self.catalog, self.destination.dataset, table_name),
        )
        return bool(rows[0][0])

    def max_value(self, table_name: str, column: str) -> Any:
        """The largest committed value of ``column``: an incremental bookmark that can never
        run ahead of the rows it covers."""
        if not self.has_table(table_name):
            return None
        return self.execute(f"SELECT max({_ident(column)}) FROM {self.qualified(table_name)}")[0][0]

    def values_for(self, table_name: str, key: str, column: str, keys: Sequence[Any]) -> dict[Any, Any]:
        """``column`` of the stored rows with these keys, by key."""
        wanted = [k for k in keys if k is not None]
        if not wanted:
            return {}
        marks = ", ".join(["%s"] * len(wanted))
        rows = self.execute(
            f"SELECT {_ident(key)}, {_ident(column)} FROM {self.qualified(table_name)} "
            f"WHERE {_ident(key)} IN ({marks})",
            tuple(wanted),
        )
        return dict(rows)

    def stored_hashes(
        self, table_name: str, key: str, since: tuple[str, int] | None = None
    ) -> dict[Any, str]:
        """Content hash by primary key for the rows not marked deleted ("" where unknown);
        with ``since`` = (column, value), only rows whose column is at least that value (the
        part of a windowed table that Drift can still return)."""
        if not self.has_table(table_name):
            return {}
        columns = {r[0] for r in self.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = %s "
            "AND table_schema = %s AND table_name = %s",
            (self.catalog, self.destination.dataset, table_name),
        )}
        digest = _ident(HASH_COLUMN) if HASH_COLUMN in columns else "NULL"
        conditions, params = [], []
        if DELETED_COLUMN in columns:
            conditions.append(f"{_ident(DELETED_COLUMN)} IS NULL")
        if since is not None:
            conditions.append(f"{_ident(since[0])} >= %s")
            params.append(since[1])
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        rows = self.execute(
            f"SELECT {_ident(key)}, {digest} FROM {self.qualified(table_name)} {where}",
            tuple(params),
        )
        return {k: h or "" for k, h in rows}

    def delete_where_in(self, table_name: str, column: str, values: Sequence[Any]) -> None:
        """Delete the rows whose ``column`` is one of ``values`` (a nested table's rows of
        parents whose array became empty)."""
        if not values or not self.has_table(table_name):
            return
        name = self.qualified(table_name)
        statements = []
        for start in range(0, len(values), 1000):
            chunk = list(values[start:start + 1000])
            marks = ", ".join(["%s"] * len(chunk))
            statements.append(
                (f"DELETE FROM {name} WHERE {_ident(column)} IN ({marks})", tuple(chunk))
            )
        self.execute_all(statements)

    # -- fan-out state: which parent version each fan-out table last read --------------------

    def fanout_todo(self, table: str, parents: Sequence[tuple[str, str, str]],
                    everything: bool) -> list[tuple[int, int | None]]:
        """(parent id, parent cursor) pairs that ``table`` must read: all of them with
        ``everything``, else those new or changed since ``table`` last read them.

        ``parents`` are (parent table, id column, cursor column); tables not yet created
        are left out. An id found in several parents counts with its latest cursor.
        """
        parts = [
            f"SELECT {_ident(key)} AS k, {_ident(cursor)} AS c FROM {self.qualified(name)} "
            f"WHERE {_ident(key)} IS NOT NULL"
            for name, key, cursor in parents
            if self.has_table(name)
        ]
        if not parts:
            return []
        found = f"SELECT k, max(c) AS c FROM ({' UNION ALL '.join(parts)}) AS p GROUP BY k"
        if everything:
            return [(k, c) for k, c in self.execute(f"{found} ORDER BY k")]
        self._ensure_fanout_state()
        return [(k, c) for k, c in self.execute(
            f"SELECT f.k, f.c FROM ({found}) AS f LEFT JOIN {self.qualified(FANOUT_STATE)} AS s "
            "ON s.table_name = %s AND s.parent_key = f.k "
            "WHERE s.parent_key IS NULL OR s.parent_cursor IS DISTINCT FROM f.c ORDER BY f.k",
            (table,),
        )]

    def fanout_done(self, table: str, done: Sequence[tuple[int, int | None]]) -> None:
        """Remember which parent versions ``table`` has read (after its rows are committed:
        a crash in between only means reading them again)."""
        if not done:
            return
        self._ensure_fanout_state()
        name = self.qualified(FANOUT_STATE)
        statements: list[tuple[str, Sequence[Any]]] = []
        for start in range(0, len(done), 500):
            chunk = list(done[start:start + 500])
            marks = ", ".join(["%s"] * len(chunk))
            statements.append((
                f"DELETE FROM {name} WHERE table_name = %s AND parent_key IN ({marks})",
                (table, *[k for k, _ in chunk]),
            ))
            rows = ", ".join(["(%s, %s, %s)"] * len(chunk))
            statements.append((
                f"INSERT INTO {name} (table_name, parent_key, parent_cursor) VALUES {rows}",
                tuple(v for k, c in chunk for v in (table, k, c)),
            ))
        self.execute_all(statements)

    def _ensure_fanout_state(self) -> None:
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.qualified(FANOUT_STATE)} ("
            "table_name VARCHAR NOT NULL, parent_key BIGINT NOT NULL, parent_cursor BIGINT, "
            "PRIMARY KEY (table_name, parent_key))"
        )

    def mark_deleted(self, table_name: str, key: str, keys: Sequence[Any]) -> int:
        """Stamp ``_driftsync_deleted_at`` on rows Drift no longer returns; returns how many."""
        if not keys:
            return 0
        name, stamp = self.qualified(table_name), _ident(DELETED_COLUMN)
        statements = []
        for start in range(0, len(keys), 1000):
            chunk = list(keys[start:start + 1000])
            marks = ", ".join(["%s"] * len(chunk))
            statements.append((
                f"UPDATE {name} SET {stamp} = now() WHERE {_ident(key)} IN ({marks}) "
                f"AND {stamp} IS NULL",
                tuple(chunk),
            ))
        self.execute_all(statements)
        return len(keys)

    def sync_running(self) -> bool:
        """Does another process hold the dataset for a sync right now? Never, for a DuckDB
        file this process could open."""
        return False

    def publish(self, table_name: str) -> int | None:
        """Copy ``table_name`` on to where the data is finally wanted, if that is not this
        database (see :mod:`driftsync.publish`); the rows published, None when nothing was."""
        return None

    def _explain(self, exc: BaseException) -> str | None:
        """Plain words for a failure of this destination, or None to use dlt's."""
        return _explained(self.destination, exc)

    def display_name(self, table_name: str) -> str:
        """How a user types the table in SQL: ``drift.conversations`` for ./drift.duckdb."""
        d = self.destination
        if d.dataset == "main":
            return f"{self.catalog}.{table_name}"
        return f"{self.catalog}.{d.dataset}.{table_name}"

    @contextmanager
    def sql(self) -> Iterator[Any]:
        """A dlt SQL client on the destination, with the dataset created if missing."""
        try:
            with self.pipeline.sql_client() as client:
                if not client.has_dataset():
                    client.create_dataset()
                yield client
        except DriftSyncError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise DestinationError(
                self._explain(exc)
                or f"Cannot use {self.destination.describe()}: {_root_message(exc)}"
            ) from exc

    def execute(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.execute_all([(statement, params)])

    def execute_all(
        self, statements: Sequence[tuple[str, Sequence[Any]]]
    ) -> list[tuple[Any, ...]]:
        """Run statements on one connection (opening one costs tens of ms); last one's rows."""
        rows: list[tuple[Any, ...]] = []
        with self.sql() as client:
            for statement, params in statements:
                rows = list(client.execute_sql(statement, *params) or [])
        return rows


def _find_in_chain(exc: BaseException, kind: type[E]) -> E | None:
    """The first exception of ``kind`` in ``exc``'s cause/context chain (dlt wraps ours)."""
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, kind):
            return node
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return None


def _explained(destination: Destination, exc: BaseException) -> str | None:
    """Plain words for the DuckDB failures users actually meet."""
    text = _root_message(exc)
    lock = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", text)
    if lock or "Could not set lock" in text:
        holder = f" (PID {lock.group(2)}, {lock.group(1)})" if lock else ""
        return (
            f"{destination.database} is open in another process{holder}: a sync still "
            "running, or a DuckDB session. Wait for it to finish or close it, then run again."
        )
    if "not a valid DuckDB database" in text:
        return (
            f"{destination.database} exists but is not a DuckDB database; choose another "
            "--database path."
        )
    if "Permission denied" in text or "Read-only file system" in text:
        return (
            f"Cannot write {destination.database}: permission denied. Choose a writable "
            "--database path."
        )
    return None


def _root_message(exc: BaseException) -> str:
    node = exc
    while node.__cause__ is not None or node.__context__ is not None:
        node = node.__cause__ or node.__context__  # type: ignore[assignment]
    text = str(node).strip().splitlines()
    return text[0] if text else type(node).__name__


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
