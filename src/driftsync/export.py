"""``driftsync export``: stream one table out of the destination as CSV, Parquet or JSON lines.

The table is never held whole in memory. DuckDB hands it out as an Arrow record batch
reader; PostgreSQL through a server-side cursor, ``fetchmany`` by ``fetchmany`` (a plain
cursor would pull every row into the client first). Each batch is written and dropped before
the next one is read, so memory depends on the batch size, not on the table.

The columns are the catalog's, in its order (a column the stored table lacks is left out).
Formats:

* ``csv``: a header row; timestamps in ISO 8601 UTC (``2018-06-06T13:51:07.340000Z``); JSON
  columns as JSON text; NULL as an empty field, an empty string as ``""``.
* ``jsonl``: one JSON object per row; timestamps ISO 8601; JSON columns as JSON values.
* ``parquet``: the catalog's types (JSON columns as text), timestamps in UTC.

``--since`` keeps the rows whose time column is at or after the given time: the table's
cursor column (``updatedAt`` for conversations), else its first epoch-milliseconds column
(contacts: ``createdAt``), compared through its ``_ts`` twin.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from .catalog import CATALOG, TIMESTAMP_SUFFIX, Table
from .errors import ConfigError, DestinationError
from .load import Warehouse, _ident
from .transform import ARROW_TYPES

FORMATS = ("csv", "parquet", "jsonl")
BATCH_ROWS = 10_000


def parse_since(text: str) -> datetime:
    """An aware UTC datetime from an ISO 8601 date or date-time; naive times are UTC."""
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            moment = datetime.combine(date.fromisoformat(value), time(0), UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"--since {text!r} is not a date or time; use ISO 8601, e.g. 2024-05-01 or "
            "2024-05-01T12:30:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def since_column(table: Table) -> str:
    """The ``_ts`` column that ``--since`` compares with (see the module docstring)."""
    name = table.cursor
    if name is None or not table.column(name).epoch_ms:
        name = next((c.name for c in table.columns if c.epoch_ms), None)
    if name is None:
        raise ConfigError(
            f"Table {table.name} has no time column to compare with --since; leave --since out "
            "to export it whole."
        )
    return f"{name}{TIMESTAMP_SUFFIX}"


def export_table(
    warehouse: Warehouse,
    table_name: str,
    fmt: str,
    output: IO[bytes],
    since: datetime | None = None,
    batch_rows: int = BATCH_ROWS,
) -> int:
    """Write ``table_name`` to ``output`` in ``fmt``; the number of rows written."""
    if fmt not in FORMATS:
        raise ConfigError(f"Unknown format {fmt!r}; use {', '.join(FORMATS)}.")
    table = _synced_table(warehouse, table_name)
    stored = set(_stored_columns(warehouse, table_name))
    schema = pa.schema([pa.field(c.name, ARROW_TYPES[c.type]) for c in table.all_columns
                        if c.name in stored])
    where, params = "", ()
    if since is not None:
        column = since_column(table)
        where, params = f" WHERE {_ident(column)} >= %s", (since,)
    # No ORDER BY: sorting would hold the whole table (DuckDB sorts in memory).
    select = (f"SELECT {', '.join(_ident(n) for n in schema.names)} FROM "
              f"{warehouse.qualified(table_name)}{where}")
    json_columns = {c.name for c in table.all_columns if c.type == "json"}
    batches = _read(warehouse, select, params, schema, json_columns, batch_rows)
    try:
        return _WRITERS[fmt](batches, schema, json_columns, output)
    finally:
        batches.close()  # ends the read (and its transaction) while the connection is open


def _synced_table(warehouse: Warehouse, name: str) -> Table:
    """The catalog table ``name`` if the destination holds it; else one line that lists the
    tables it does hold."""
    synced = [t for t in CATALOG if warehouse.has_table(t)]
    table = CATALOG.get(name)
    if table is not None and name in synced:
        return table
    where = warehouse.destination.describe()
    choices = ", ".join(synced) if synced else "none yet: run 'driftsync sync' first"
    if table is None:
        raise ConfigError(f"Unknown table {name!r}. Tables in {where}: {choices}.")
    raise ConfigError(f"Table {name!r} has not been synced into {where} yet. Tables there: "
                      f"{choices}.")


def _stored_columns(warehouse: Warehouse, table_name: str) -> list[str]:
    rows = warehouse.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_catalog = %s "
        "AND table_schema = %s AND table_name = %s",
        (warehouse.catalog, warehouse.destination.dataset, table_name),
    )
    return [r[0] for r in rows]


def _read(warehouse: Warehouse, select: str, params: tuple[Any, ...], schema: pa.Schema,
          json_columns: set[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """The query's rows as Arrow batches of at most ``batch_rows`` in ``schema``."""
    connection = getattr(warehouse, "connection", None)
    if connection is None:  # DuckDB: its own Arrow reader, batch by batch
        cursor = warehouse._conn.cursor()  # the warehouse's connection holds the file
        try:
            reader = cursor.sql(select.replace("%s", "?"), params=list(params) or None
                                ).to_arrow_reader(batch_rows)
            for batch in reader:
                yield _cast(batch, schema)
        finally:
            cursor.close()
        return
    # Smaller slices than DuckDB's: each row passes through Python objects (and JSON values
    # through a parse and a dump), several copies of a slice at once.
    yield from _read_postgres(connection, select, params, schema, json_columns,
                              max(1, batch_rows // 5))


def _cast(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    arrays = [batch.column(i).cast(field.type) for i, field in enumerate(schema)]
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _read_postgres(connection: Any, select: str, params: tuple[Any, ...], schema: pa.Schema,
                   json_columns: set[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A server-side (named) cursor: the server keeps the result, we fetch it in slices."""
    connection.autocommit = False  # a named cursor lives inside a transaction
    try:
        with connection.cursor(name="driftsync_export") as cursor:
            cursor.itersize = batch_rows
            cursor.execute(select, params or None)
            while True:
                rows = cursor.fetchmany(batch_rows)
                if not rows:
                    break
                columns = list(zip(*rows, strict=True))
                arrays = []
                for field, values in zip(schema, columns, strict=True):
                    if field.name in json_columns:
                        values = tuple(None if v is None else orjson.dumps(v).decode()
                                       for v in values)
                    arrays.append(pa.array(values, type=field.type))
                yield pa.RecordBatch.from_arrays(arrays, schema=schema)
    finally:
        connection.rollback()
        connection.autocommit = True


# -- writers -----------------------------------------------------------------------------

def _as_text_times(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Timestamp columns as ISO 8601 UTC text (``2018-06-06T13:51:07.340000Z``)."""
    arrays, fields = [], []
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if pa.types.is_timestamp(field.type):
            column = pc.strftime(column.cast(pa.timestamp("us", tz="UTC")),
                                 format="%Y-%m-%dT%H:%M:%SZ")
            field = pa.field(field.name, pa.string())
        arrays.append(column)
        fields.append(field)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def _write_csv(batches: Iterator[pa.RecordBatch], schema: pa.Schema, json_columns: set[str],
               output: IO[bytes]) -> int:
    import pyarrow.csv as csv

    text_schema = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type)
                             else f for f in schema])
    rows = 0
    with csv.CSVWriter(output, text_schema) as writer:
        for batch in batches:
            writer.write_batch(_as_text_times(batch))
            rows += batch.num_rows
    return rows


def _write_jsonl(batches: Iterator[pa.RecordBatch], schema: pa.Schema, json_columns: set[str],
                 output: IO[bytes]) -> int:
    rows = 0
    for batch in batches:
        lines = []
        for row in batch.to_pylist():
            for name in json_columns:
                if row.get(name) is not None:
                    row[name] = orjson.Fragment(row[name])
            lines.append(orjson.dumps(row, option=orjson.OPT_UTC_Z))
        output.write(b"\n".join(lines) + b"\n" if lines else b"")
        rows += batch.num_rows
    return rows


def _write_parquet(batches: Iterator[pa.RecordBatch], schema: pa.Schema, json_columns: set[str],
                   output: IO[bytes]) -> int:
    import pyarrow.parquet as pq

    rows = 0
    with pq.ParquetWriter(output, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


_WRITERS = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet}


def open_output(path: str | None) -> tuple[IO[bytes], Path | None]:
    """Where to write: stdout for None or ``-``, else a temporary file beside ``path`` that
    :func:`finish_output` renames into place (a failed export leaves no half file)."""
    import sys

    if path is None or path == "-":
        return sys.stdout.buffer, None
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise ConfigError(f"Cannot write {target}: folder {target.parent} does not exist.")
    if target.is_dir():  # checked now: the rename at the end would fail after all the work
        raise ConfigError(f"Cannot write {target}: it is a folder; give a file name, e.g. "
                          f"-o {target / 'export.csv'}.")
    partial = target.with_name(f".{target.name}.part")
    try:
        return partial.open("wb"), partial
    except OSError as exc:
        raise DestinationError(f"Cannot write {target}: {exc.strerror}.") from exc


def finish_output(handle: IO[bytes], partial: Path | None, path: str | None, ok: bool) -> None:
    if partial is None:
        handle.flush()
        return
    handle.close()
    if ok:
        target = Path(str(path)).expanduser()
        try:
            os.replace(partial, target)
        except OSError as exc:  # e.g. the name became a folder meanwhile: no stray .part
            partial.unlink(missing_ok=True)
            raise DestinationError(f"Cannot write {target}: {exc.strerror}.") from exc
    else:
        partial.unlink(missing_ok=True)
