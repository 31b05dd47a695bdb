"""Any other dlt destination: sync into a local working copy, then publish each changed table.

Why not load straight into, say, dlt's filesystem destination? Because a sync needs more from
its destination than dlt's loading:

* **merge on the primary key**, so a rerun adds nothing and an incremental run updates rows in
  place. dlt's filesystem destination merges only into table formats (Delta or Iceberg, with
  the ``deltalake`` or ``pyiceberg`` package), and plain Parquet files can only be appended to
  or replaced;
* **SQL for the bookkeeping**: the incremental bookmark (``max("updatedAt")`` of the stored
  rows), the stored content hashes, stamping ``_driftsync_deleted_at`` on rows Drift stopped
  returning, the fan-out state, and the run history. A bucket of files has no UPDATE, and
  warehouses such as BigQuery, Snowflake or ClickHouse each speak their own dialect, with
  their own idea of what a primary key and a transaction are.

So for these destinations driftsync keeps a **working copy**: an ordinary driftsync DuckDB
database (``--working-copy``, default ``./drift.duckdb``) that gets everything a DuckDB sync
gets (merge, marks, run history, crash safety). After each table syncs, the table is
**published**: read back from the working copy in Arrow batches (memory stays flat) and
loaded into the destination by dlt with ``write_disposition="replace"``, as Parquet files for
``filesystem``. The destination then holds exactly the rows of the working copy, whatever
happened before, and that costs a full copy of the table; so a table is only published when
its content changed since it was last published there (a fingerprint of the table, kept in
``_driftsync_published`` in the working copy, per destination). A run that is killed after a
table committed but before it was published publishes it on the next run. Publishing is
not atomic for readers of a bucket: dlt deletes the table's old files before it writes the
new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.schema import Schema
from dlt.pipeline.exceptions import PipelineStepFailed

from .catalog import CATALOG
from .destinations import PublishedDestination
from .errors import ConfigError, DestinationError
from .load import Destination, Warehouse, _find_in_chain, _root_message
from .transform import arrow_schema, dlt_columns

log = logging.getLogger("driftsync.load")

PUBLISHED = "_driftsync_published"
"""Per destination and table, the fingerprint of the table as last published there."""
BATCH_ROWS = 50_000


class PublishingWarehouse(Warehouse):
    """A DuckDB warehouse on the working copy that also publishes tables to ``target``."""

    def __init__(self, target: PublishedDestination) -> None:
        super().__init__(Destination(database=target.working_copy))
        self.target = target
        try:
            self._publisher = dlt.pipeline(
                pipeline_name=target.pipeline_name,
                pipelines_dir=str(self.destination.data_dir / "pipelines"),
                destination=_dlt_destination(target),
                dataset_name=target.dataset,
            )
        except (DestinationError, ConfigError):
            self.close()
            raise
        except Exception as exc:  # noqa: BLE001 - dlt raises many types; one message for all
            self.close()
            raise DestinationError(
                f"Cannot use the {target.kind} destination: {_root_message(exc)}") from exc
        self._schema_for_target = Schema(target.dataset, normalizers={"names": "direct"})

    def publish(self, table_name: str) -> int | None:
        """Replace ``table_name`` in the destination with the working copy's rows, unless it
        is already there as it is now; the rows published, or None."""
        table = CATALOG.get(table_name)
        if table is None or not self.has_table(table_name):
            return None
        self._ensure_published_table()
        rows, fingerprint = self.execute(
            f"SELECT count(*), CAST(coalesce(sum(hash(t)::HUGEINT), 0) AS VARCHAR) "
            f"FROM {self.qualified(table_name)} AS t")[0]
        before = self.execute(
            f"SELECT fingerprint FROM {self.qualified(PUBLISHED)} WHERE target = %s "
            "AND table_name = %s", (self.target.target, table_name))
        if before and before[0][0] == f"{rows}:{fingerprint}":
            log.info("%s: unchanged since it was last published to %s", table_name,
                     self.target.kind)
            return None
        resource = dlt.resource(
            self._batches(table_name),
            name=table_name,
            table_name=table_name,
            write_disposition="replace",
            primary_key=list(table.key_columns),
            columns=_replace_hints(table),
        )
        self._publisher.abort_packages()
        schema = (self._publisher.default_schema if self._publisher.default_schema_name
                  else self._schema_for_target)
        file_format = "parquet" if self.target.kind == "filesystem" else None
        try:
            self._publisher.run(resource, schema=schema,
                                loader_file_format=file_format)  # type: ignore[arg-type]
        except PipelineStepFailed as exc:
            if _find_in_chain(exc, KeyboardInterrupt) is not None:
                raise KeyboardInterrupt from exc
            raise DestinationError(
                f"Publishing {table_name} to {self.target.describe()} failed at the "
                f"{exc.step} step: {_root_message(exc)}. The working copy has the rows; the "
                "next run publishes them again."
            ) from exc
        self.execute_all([
            (f"DELETE FROM {self.qualified(PUBLISHED)} WHERE target = %s AND table_name = %s",
             (self.target.target, table_name)),
            (f"INSERT INTO {self.qualified(PUBLISHED)} (target, table_name, fingerprint, "
             "published_rows, published_at) VALUES (%s, %s, %s, %s, now())",
             (self.target.target, table_name, f"{rows}:{fingerprint}", rows)),
        ])
        log.info("%s: published %d rows to %s", table_name, rows, self.target.describe())
        return int(rows)

    def _batches(self, table_name: str) -> Iterator[pa.Table]:
        """The working copy's rows in catalog column order and types, batch by batch."""
        schema = arrow_schema(CATALOG[table_name])
        names = ", ".join(f'"{n}"' for n in schema.names)
        cursor = self._conn.cursor()
        try:
            reader = cursor.sql(
                f"SELECT {names} FROM {self.qualified(table_name)}").to_arrow_reader(BATCH_ROWS)
            empty = True
            for batch in reader:
                if batch.num_rows:
                    empty = False
                    yield pa.Table.from_batches([batch]).cast(schema)
            if empty:  # an empty table still gets its typed, empty files
                yield schema.empty_table()
        finally:
            cursor.close()

    def _ensure_published_table(self) -> None:
        self.execute(
            f"CREATE TABLE IF NOT EXISTS {self.qualified(PUBLISHED)} (target VARCHAR NOT NULL, "
            "table_name VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL, published_rows BIGINT, "
            "published_at TIMESTAMPTZ, PRIMARY KEY (target, table_name))"
        )


def _replace_hints(table: Any) -> dict[str, dict[str, Any]]:
    """The catalog's column hints without ``dedup_sort``: that hint only means something to a
    merge, and dlt warns on stderr about every published table that carries it."""
    return {name: {k: v for k, v in hint.items() if k != "dedup_sort"}
            for name, hint in dlt_columns(table).items()}


def _dlt_destination(target: PublishedDestination) -> Any:
    """dlt's destination for ``target``; a ConfigError naming the fix when dlt has no such
    destination, or lacks the package it needs (checked now, not after a whole sync)."""
    factory = getattr(dlt.destinations, target.kind)  # the name was checked when parsed
    options: dict[str, Any] = {"bucket_url": target.location} if target.location else {}
    if target.kind == "filesystem":
        # dlt warns that '/' after {table_name} is unsafe because dlt's "direct" naming allows
        # '/' inside table names. The catalog's names never hold one, so the warning is noise.
        options["warn_unsafe_layout_separators"] = False
    destination = factory(**options)
    try:
        destination.client_class  # noqa: B018 - imports the client library
    except ImportError as exc:
        raise ConfigError(
            f"The {target.kind} destination needs a package that is not installed "
            f"({exc.name or exc}): pip install \"dlt[{target.kind}]\""
        ) from None
    return destination
