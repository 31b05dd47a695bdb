"""Reading a resource's synced data for the web app: read-only, briefly, and only by names the
catalog knows.

* **Read-only and brief.** Each request opens the DuckDB file ``read_only`` and closes it
  before answering. DuckDB lets one process write a file, and while a sync writes it nobody
  else may even read it, so a sync going on (:func:`driftsync.jobs.resource_status` says so
  from its live state file) is shown as "syncing" and the file is not touched. A file held
  anyway (a sync started by hand, a DuckDB session) answers :class:`~.errors.Busy`. Within
  this process, one request at a time opens a given file: DuckDB refuses a second connection
  to a file already open with other settings (``resource_status`` opens it for writing).
* **No way out of the file.** The connection starts with external access off (no files, no
  ``ATTACH``, no extensions: ``read_csv('/etc/passwd')`` is refused by DuckDB itself), then
  its configuration is locked, so no statement can turn that back on.
* **Names from the catalog only.** Tables and columns come from :data:`driftsync.catalog.CATALOG`
  and from what the database really holds; a name from the browser is only ever looked up
  there, never put into SQL. Filter values are bound parameters. Every identifier in SQL is
  quoted by :func:`ident`.
* **Bounded.** A statement that runs longer than ``seconds`` is interrupted.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

import duckdb

from ..catalog import Column, Table, select_tables
from ..resources import DuckDBDestination, Resource
from .errors import BadRequest, Busy, HTTPError, NotFound, QueryFailed, QueryRefused

SQL_TYPES = {"bigint": "BIGINT", "double": "DOUBLE", "text": "VARCHAR", "boolean": "BOOLEAN",
             "json": "VARCHAR", "timestamp": "TIMESTAMPTZ"}
"""How a filter value is read for a column of each catalog type."""
PAGE_SIZES = (10, 25, 50, 100, 250)
DEFAULT_PAGE_SIZE = 50
MAX_FILTERS = 5
BIGINT_RANGE = range(-(2**63), 2**63)
"""What a BIGINT column holds: a filter value outside it is the user's mistake (a 400), not a
DuckDB conversion error (a 500)."""
TOP_VALUES = 5
STATEMENT_SECONDS = 15.0
EXPORT_SECONDS = 120.0
QUERY_EXPORT_ROWS = 1_000_000
_CONFIG: dict[str, Any] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "threads": 2,
    "memory_limit": "1GB",
}

OPS: dict[str, str] = {
    "eq": "=", "ne": "≠", "lt": "<", "le": "≤", "gt": ">", "ge": "≥",
    "contains": "contains", "null": "is empty", "notnull": "is not empty",
}
"""Filter operators: the word in the URL and how the page shows it."""
_VALUELESS = ("null", "notnull")
_COMPARE = {"eq": "=", "ne": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- what the browser asks for -------------------------------------------------------------

@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: str = ""

    @property
    def label(self) -> str:
        shown = "" if self.op in _VALUELESS else f" {self.value}"
        return f"{self.column} {OPS[self.op]}{shown}"


@dataclass(frozen=True)
class View:
    """Which rows of a table the page shows: paging, sorting and filters."""

    page: int = 1
    size: int = DEFAULT_PAGE_SIZE
    sort: str | None = None
    descending: bool = False
    filters: tuple[Filter, ...] = ()

    def query(self, **changes: Any) -> str:
        """This view with ``changes``, as a URL query string (for links and forms)."""
        view = replace(self, **changes)
        pairs: list[tuple[str, Any]] = []
        if view.page != 1:
            pairs.append(("page", view.page))
        if view.size != DEFAULT_PAGE_SIZE:
            pairs.append(("size", view.size))
        if view.sort is not None:
            pairs += [("sort", view.sort), ("dir", "desc" if view.descending else "asc")]
        for f in view.filters:
            pairs += [("fc", f.column), ("fo", f.op), ("fv", f.value)]
        return urlencode(pairs)

    def without(self, index: int) -> str:
        kept = tuple(f for i, f in enumerate(self.filters) if i != index)
        return self.query(filters=kept, page=1)


def parse_view(params: Any, columns: Mapping[str, Column]) -> View:
    """The view a request's query parameters describe (``page``, ``size``, ``sort``, ``dir``,
    and filters as repeated ``fc``/``fo``/``fv``); BadRequest for anything unknown."""
    page = _whole(params.get("page", "1"), "page", 1, 10**9)
    size = _whole(params.get("size", str(DEFAULT_PAGE_SIZE)), "size", 1, max(PAGE_SIZES))
    if size not in PAGE_SIZES:
        raise BadRequest(f"Page size must be one of {', '.join(map(str, PAGE_SIZES))}.")
    sort = params.get("sort") or None
    if sort is not None and sort not in columns:
        raise BadRequest("That table has no such column to sort by.")
    direction = params.get("dir", "asc")
    if direction not in ("asc", "desc"):
        raise BadRequest("Sort direction must be asc or desc.")
    names, ops, values = (params.getlist(key) for key in ("fc", "fo", "fv"))
    if not len(names) == len(ops) == len(values):
        raise BadRequest("Each filter needs a column, an operator and a value.")
    if len(names) > MAX_FILTERS:
        raise BadRequest(f"At most {MAX_FILTERS} filters at a time.")
    filters = []
    for name, op, value in zip(names, ops, values, strict=True):
        if not name and not value and op in ("", "eq"):
            continue  # the empty "add a filter" row
        column = columns.get(name)
        if column is None:
            raise BadRequest("That table has no such column to filter on.")
        if op not in OPS:
            raise BadRequest(f"Filter operator must be one of {', '.join(OPS)}.")
        if op not in _VALUELESS:
            _filter_value(column, op, value)  # refuse a value the column cannot hold, now
        filters.append(Filter(name, op, "" if op in _VALUELESS else value))
    return View(page, size, sort, direction == "desc", tuple(filters))


def _whole(text: str, what: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,10}", text or ""):
        raise BadRequest(f"The {what} must be a whole number.")
    return min(max(int(text), low), high)


def _filter_value(column: Column, op: str, value: str) -> Any:
    """The filter value as the parameter bound for ``column``: checked here, so a wrong one
    is a clear message instead of a DuckDB conversion error."""
    if op == "contains" or column.type in ("text", "json"):
        return value
    kind = column.type
    try:
        if kind == "bigint":
            number = int(value.strip())
            if number in BIGINT_RANGE:
                return number
            raise ValueError(number)
        if kind == "double":
            return float(value.strip())
        if kind == "boolean":
            return {"true": True, "false": False}[value.strip().lower()]
        if kind == "timestamp":
            return datetime.fromisoformat(value.strip())
    except (ValueError, KeyError):
        pass
    wanted = {"bigint": "a whole number (64-bit)", "double": "a number", "boolean": "true or false",
              "timestamp": "a date or time like 2026-03-01 or 2026-03-01T12:00:00+00:00"}
    raise BadRequest(f"Filter on {column.name}: the value must be {wanted[kind]}.")


# -- what the database holds ---------------------------------------------------------------

@dataclass(frozen=True)
class StoredTable:
    """A catalog table as the database holds it: its columns that exist, in catalog order."""

    table: Table
    columns: tuple[Column, ...]
    rows: int

    @property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}


@dataclass(frozen=True)
class ColumnSummary:
    column: Column
    nulls: int
    distinct: int
    minimum: Any
    maximum: Any
    top: list[tuple[str, int]] = field(default_factory=list)
    """The most frequent values (as text) with their counts; empty when no value repeats."""


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    total: int
    page: int
    size: int
    seconds: float

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


def resource_tables(resource: Resource) -> list[Table]:
    """The tables a resource syncs, with the ones they are made from, in catalog order."""
    return select_tables(list(resource.tables) if resource.tables is not None else None)


def catalog_table(resource: Resource, name: str) -> Table:
    """The catalog table ``name`` if the resource syncs it; NotFound otherwise."""
    for table in resource_tables(resource):
        if table.name == name:
            return table
    raise NotFound(f"Resource '{resource.name}' has no table of that name.")


class Data:
    """One read-only connection to a resource's database, for one request."""

    def __init__(self, con: duckdb.DuckDBPyConnection, dataset: str) -> None:
        self._con = con
        self.dataset = dataset
        self.catalog = str(con.execute("SELECT current_database()").fetchall()[0][0])

    def qualified(self, table: str) -> str:
        return f"{ident(self.catalog)}.{ident(self.dataset)}.{ident(table)}"

    def _run(self, sql: str, params: Sequence[Any] = (),
             seconds: float | None = None) -> duckdb.DuckDBPyConnection:
        seconds = seconds or STATEMENT_SECONDS
        with self._deadline(seconds):
            try:
                return self._con.execute(sql, list(params))
            except duckdb.InterruptException:
                raise QueryFailed(f"The query ran longer than {seconds:g} s and was "
                                  "stopped.") from None

    def _value(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """The first value of the first row (fetched whole: DuckDB wants every result
        finished before the next statement)."""
        rows = self._run(sql, params).fetchall()
        return rows[0][0] if rows else None

    @contextlib.contextmanager
    def _deadline(self, seconds: float) -> Iterator[None]:
        timer = threading.Timer(seconds, self._con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            yield
        finally:
            timer.cancel()

    def existing(self) -> set[str]:
        rows = self._run(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
            "current_database() AND table_schema = ?", (self.dataset,)).fetchall()
        return {r[0] for r in rows}

    def counts(self, tables: Sequence[Table]) -> dict[str, int | None]:
        """Rows per table; None for a table not synced yet."""
        there = self.existing()
        return {t.name: (int(self._value(f"SELECT count(*) FROM {self.qualified(t.name)}"))
                         if t.name in there else None) for t in tables}

    def stored(self, table: Table) -> StoredTable | None:
        names = {r[0] for r in self._run(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = "
            "current_database() AND table_schema = ? AND table_name = ?",
            (self.dataset, table.name)).fetchall()}
        if not names:
            return None
        rows = int(self._value(f"SELECT count(*) FROM {self.qualified(table.name)}"))
        columns = tuple(c for c in table.all_columns if c.name in names)
        return StoredTable(table, columns, rows)

    # -- a table's rows ----------------------------------------------------------------

    def _where(self, stored: StoredTable, view: View) -> tuple[str, list[Any]]:
        conditions: list[str] = []
        params: list[Any] = []
        for f in view.filters:
            column = stored.by_name[f.column]
            name = ident(column.name)
            if f.op == "null":
                conditions.append(f"{name} IS NULL")
            elif f.op == "notnull":
                conditions.append(f"{name} IS NOT NULL")
            elif f.op == "contains":
                conditions.append(f"contains(lower(CAST({name} AS VARCHAR)), lower(?))")
                params.append(f.value)
            else:
                if column.type in ("text", "json"):
                    name = f"CAST({name} AS VARCHAR)"
                conditions.append(f"{name} {_COMPARE[f.op]} CAST(? AS {SQL_TYPES[column.type]})")
                params.append(_filter_value(column, f.op, f.value))
        return (" WHERE " + " AND ".join(conditions)) if conditions else "", params

    def _select(self, stored: StoredTable, view: View) -> tuple[str, list[Any]]:
        shown = ", ".join(
            f"CAST({ident(c.name)} AS VARCHAR) AS {ident(c.name)}" if c.type == "json"
            else ident(c.name) for c in stored.columns)
        where, params = self._where(stored, view)
        order = [f"{ident(view.sort)} {'DESC' if view.descending else 'ASC'} NULLS LAST"
                 ] if view.sort else []
        order += [ident(k) for k in stored.table.key_columns if k in stored.by_name]
        sql = f"SELECT {shown} FROM {self.qualified(stored.table.name)}{where}"
        if order:
            sql += " ORDER BY " + ", ".join(order)
        return sql, params

    def matching(self, stored: StoredTable, view: View) -> int:
        """How many rows match the view's filters."""
        where, params = self._where(stored, view)
        return int(self._value(f"SELECT count(*) FROM {self.qualified(stored.table.name)}"
                               f"{where}", params))

    def page(self, stored: StoredTable, view: View) -> tuple[list[tuple[Any, ...]], int]:
        """The rows of the view's page, and how many rows match its filters."""
        total = self.matching(stored, view)
        sql, params = self._select(stored, view)
        rows = self._run(f"{sql} LIMIT ? OFFSET ?",
                         [*params, view.size, (view.page - 1) * view.size]).fetchall()
        return rows, total

    def summary(self, stored: StoredTable, view: View) -> list[ColumnSummary]:
        """Per column: nulls, distinct values, smallest and largest, most frequent values;
        over the rows that match the view's filters."""
        where, params = self._where(stored, view)
        table = self.qualified(stored.table.name)
        parts = []
        for c in stored.columns:
            name = ident(c.name)
            text = f"CAST({name} AS VARCHAR)" if c.type == "json" else name
            ordered = "NULL" if c.type == "json" else None
            parts += [f"count(*) - count({name})", f"count(DISTINCT {text})",
                      ordered or f"min({name})", ordered or f"max({name})"]
        found = self._run(f"SELECT {', '.join(parts)} FROM {table}{where}", params).fetchall()
        values = found[0] if found else ()
        summaries = []
        for i, c in enumerate(stored.columns):
            nulls, distinct, low, high = values[4 * i: 4 * i + 4]
            top: list[tuple[str, int]] = []
            if distinct and int(distinct) < stored.rows:
                text = f"CAST({ident(c.name)} AS VARCHAR)"
                condition = f"{ident(c.name)} IS NOT NULL"
                found = self._run(
                    f"SELECT {text} AS v, count(*) AS n FROM {table}"
                    f"{where + ' AND ' if where else ' WHERE '}{condition} "
                    f"GROUP BY v ORDER BY n DESC, v LIMIT {TOP_VALUES}", params).fetchall()
                if found and found[0][1] > 1:
                    top = [(str(v), int(n)) for v, n in found]
            summaries.append(ColumnSummary(c, int(nulls), int(distinct), low, high, top))
        return summaries

    def export(self, stored: StoredTable, view: View, kind: str, out: IO[bytes]) -> None:
        """Every row of the view (filters and sort, no paging) as CSV or Parquet."""
        sql, params = self._select(stored, view)
        self._write(sql, params, kind, out)

    def _write(self, sql: str, params: Sequence[Any], kind: str, out: IO[bytes]) -> None:
        with self._deadline(EXPORT_SECONDS):
            try:
                if kind == "csv":
                    _write_csv(self._con.execute(sql, list(params)), out)
                else:
                    _write_parquet(self._con.sql(sql, params=list(params)), out)
            except duckdb.InterruptException:
                raise QueryFailed(f"The download took longer than {EXPORT_SECONDS:g} s and "
                                  "was stopped.") from None

    # -- the query page ----------------------------------------------------------------

    def query(self, sql: str, page: int, size: int) -> QueryResult:
        """One page of a statement already passed by :func:`check_read_only`."""
        started = time.perf_counter()
        wrapped = f"SELECT * FROM (\n{sql}\n) AS driftsync_query"
        try:
            total = int(self._value(f"SELECT count(*) FROM ({wrapped})"))
            page = min(page, max(1, -(-total // size)))  # past the end: the last page
            cursor = self._run(f"{wrapped} LIMIT ? OFFSET ?", (size, (page - 1) * size))
            rows = cursor.fetchall()
            columns = [d[0] for d in cursor.description or ()]
        except duckdb.Error as exc:
            raise QueryFailed(_duckdb_message(exc)) from None
        return QueryResult(columns, rows, total, page, size, time.perf_counter() - started)

    def export_query(self, sql: str, out: IO[bytes]) -> None:
        wrapped = f"SELECT * FROM (\n{sql}\n) AS driftsync_query LIMIT {QUERY_EXPORT_ROWS}"
        try:
            self._write(wrapped, (), "csv", out)
        except duckdb.Error as exc:
            raise QueryFailed(_duckdb_message(exc)) from None


def _write_csv(cursor: duckdb.DuckDBPyConnection, out: IO[bytes]) -> None:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text)
    writer.writerow([d[0] for d in cursor.description or ()])
    while rows := cursor.fetchmany(5000):
        writer.writerows([[csv_value(v) for v in row] for row in rows])
    text.flush()
    text.detach()  # leave ``out`` open for the caller


def csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str, ensure_ascii=False)
    return value


def _write_parquet(relation: Any, out: IO[bytes]) -> None:
    import pyarrow.parquet as pq

    make = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch
    reader = make(50_000)
    with pq.ParquetWriter(out, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def _duckdb_message(exc: duckdb.Error) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# -- opening a resource's database -------------------------------------------------------

class Reader:
    """Opens resources' databases read-only, one request at a time per file."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[Path, threading.Lock] = {}

    def lock(self, resource: Resource) -> threading.Lock:
        """The lock of the resource's database file in this process (also held while
        :func:`driftsync.jobs.resource_status` has it open)."""
        path = _database(resource).resolve()
        with self._guard:
            return self._locks.setdefault(path, threading.Lock())

    @contextlib.contextmanager
    def open(self, resource: Resource) -> Iterator[Data | None]:
        """The resource's data, or None when it has none yet (never synced)."""
        destination = resource.destination
        path = _database(resource)
        if not path.exists():
            yield None
            return
        assert isinstance(destination, DuckDBDestination)
        with self.lock(resource):
            try:
                con = duckdb.connect(str(path), read_only=True, config=_CONFIG)
            except duckdb.Error as exc:
                text = str(exc)
                if "lock" in text.lower() or "different configuration" in text:
                    raise Busy(f"The data of '{resource.name}' is being written right now (a "
                               "sync, or another program has the file open); try again when "
                               "it is done.") from None
                raise HTTPError(f"Cannot read {path}: {_duckdb_message(exc)}") from None
            try:
                try:
                    con.execute(f"SET schema = {_literal(destination.dataset)}")
                    synced = True
                except duckdb.Error:
                    synced = False  # the schema is made by the first sync
                con.execute("SET TimeZone = 'UTC'")
                con.execute("SET lock_configuration = true")
                yield Data(con, destination.dataset) if synced else None
            finally:
                con.close()


def _database(resource: Resource) -> Path:
    destination = resource.destination
    if not isinstance(destination, DuckDBDestination):
        raise HTTPError(f"Resource '{resource.name}' writes to {destination.kind}; the web app "
                        "shows DuckDB destinations only.", 501)
    return destination.database


# -- the query page's guard ------------------------------------------------------------------

_READ_START = re.compile(
    r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*(?:\(|(?:select|with|from|values|table)\b)",
    re.IGNORECASE | re.DOTALL)
_parser_lock = threading.Lock()
_parser: list[duckdb.DuckDBPyConnection] = []


def check_read_only(sql: str) -> str:
    """``sql`` as one read statement (trailing ``;`` removed), or QueryRefused.

    The parser, not string matching, decides: exactly one statement, of DuckDB's SELECT
    type, starting with SELECT, WITH, FROM, VALUES, TABLE or a parenthesis. That is the first
    guard; the read-only, locked connection without external access is the second.
    """
    if not sql.strip():
        raise QueryRefused("Type a query first, e.g. SELECT * FROM users LIMIT 10.")
    with _parser_lock:
        if not _parser:
            _parser.append(duckdb.connect(":memory:", config=_CONFIG))
        try:
            statements = _parser[0].extract_statements(sql)
        except duckdb.Error as exc:
            raise QueryRefused(f"That is not valid SQL: {_duckdb_message(exc)}") from None
    if len(statements) != 1:
        raise QueryRefused("Run one statement at a time.")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT or not _READ_START.match(statement.query):
        raise QueryRefused("Only reading queries run here: one SELECT (or WITH ... SELECT). "
                           "Nothing that writes, attaches, copies, installs or changes "
                           "settings.")
    return statement.query.strip().rstrip(";").rstrip()
