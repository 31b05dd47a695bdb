"""One sync run: for each selected table, fetch -> transform -> load, and record the run.

The CLI, the demo, the scheduler and the web app are shells over :func:`run_sync`. Tables
are loaded one at a time, each in its own transaction, so a table that fails leaves its
previous data untouched and does not stop the others. A table whose scope the token lacks is
skipped with a warning (Drift's token info says which scopes it has; a 403 says the same).

Update modes (the spec's Data Sync): a table's first successful run is a full one; after that
runs are incremental unless ``full-refresh`` is asked for.

* Conversations (``cursor`` change detection): Drift lists them newest-updated first, so an
  incremental run pages until a whole page is older than the bookmark minus a look-back
  window. The bookmark is ``max(updatedAt)`` of the rows *in the table*: it is committed with
  the rows it covers by construction, so a crash can never advance it past missing data.
* Accounts, users, playbooks, teams... (``content``): Drift has no change filter, so every
  record is read; only new or changed ones (by content hash) are written, and rows Drift
  stopped returning are marked with ``_driftsync_deleted_at``, never deleted. Meetings work
  the same within the 30 days Drift still serves.
* Messages and contacts (``parents``): read per conversation / per contact id, and in an
  incremental run only for the parents whose ``updatedAt`` moved since they were last read.
  Which parent versions were read is stored after the rows commit, so a crash means reading
  some again, never missing them.
* Nested tables (conversation tags and participants, account custom properties) are written
  with their parent, *before* it: their rows for a parent are replaced in one transaction,
  and the parent row that tells the next run "nothing to do here" commits last.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa

from . import runs
from .api import DriftClient
from .catalog import Table, select_tables
from .errors import (
    ApiError,
    AuthError,
    ConnectionFailedError,
    DriftSyncError,
    ForbiddenError,
    MissingScopeError,
)
from .fetch import FanoutProgress, fanout_records, list_records, window_records
from .load import Warehouse
from .runs import TableResult
from .transform import batches, content_hash, nested_rows, stored_key, to_arrow

log = logging.getLogger("driftsync.sync")


Mode = Literal["incremental", "full-refresh"]
DEFAULT_LOOKBACK_MS = 2 * 60 * 1000
"""Re-read conversations updated up to two minutes before the bookmark: insurance against
clock skew between Drift's servers and updates that show up late in the list. Everything in
the window is read again on every run, so a long window costs requests on busy inboxes."""
DAY_MS = 86_400_000


@dataclass(frozen=True)
class SyncOptions:
    tables: list[str] | None = None
    mode: Mode = "incremental"
    """``incremental`` falls back to a full run for a table that never synced successfully."""
    lookback_ms: int = DEFAULT_LOOKBACK_MS
    conversation_details: bool = True
    """Fetch GET /conversations/{id} for each listed conversation (participants, tags,
    playbook): one request per conversation, since Drift's list omits those fields."""
    detail_workers: int = 8
    """Requests in flight at once for per-conversation and per-contact reads. The client's
    rate limiter, not this number, decides how many go out per minute."""
    batch_rows: int = 10_000
    now_ms: int | None = None
    """The clock for time windows (meetings); None = now. Tests pin it."""


class SyncListener(Protocol):
    """What a shell (CLI progress bar, web page) hears while a run goes on."""

    def table_started(self, table: Table) -> None: ...
    def page_fetched(self, table: Table, pages: int, rows: int) -> None: ...
    def table_finished(self, result: TableResult) -> None: ...


class _Silent:
    def table_started(self, table: Table) -> None:
        pass

    def page_fetched(self, table: Table, pages: int, rows: int) -> None:
        pass

    def table_finished(self, result: TableResult) -> None:
        pass


@dataclass
class SyncResult:
    run_id: str
    started_at: datetime
    finished_at: datetime
    tables: list[TableResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every table synced or was skipped for a missing scope (a warning, not a failure)."""
        return all(t.status != "failed" for t in self.tables)

    @property
    def skipped(self) -> list[TableResult]:
        return [t for t in self.tables if t.status == "skipped"]

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


def run_sync(
    client: DriftClient,
    warehouse: Warehouse,
    options: SyncOptions | None = None,
    listener: SyncListener | None = None,
) -> SyncResult:
    """Sync the selected tables from Drift into the warehouse and record the run."""
    options = options or SyncOptions()
    listener = listener or _Silent()
    tables = select_tables(options.tables)
    result = SyncResult(uuid.uuid4().hex, _now(), _now())
    runs.record_start(warehouse, result.run_id, result.started_at, [t.name for t in tables])
    status: runs.RunStatus = "failed"

    def finish(outcome: TableResult) -> None:
        runs.record_table(warehouse, result.run_id, outcome)
        result.tables.append(outcome)
        listener.table_finished(outcome)

    try:
        fatal: str | None = None
        first_failure = False  # the first table reports a run-wide failure in full
        try:
            granted = _granted_scopes(client)
        except (AuthError, ConnectionFailedError) as exc:
            granted, fatal, first_failure = None, str(exc), True
        for table in tables:
            if table.nested:
                continue  # written with its parent
            children = [t for t in tables if t.nested and t.nested.parent == table.name]
            for t in (table, *children):
                listener.table_started(t)
            if fatal is not None:
                outcomes = []
                for t in (table, *children):
                    error = fatal if first_failure else f"not synced: {fatal}"
                    outcomes.append(TableResult(t.name, "failed", mode="-", error=error))
                    first_failure = False
            elif granted is not None and table.scope not in granted:
                outcomes = [_skipped(t, table.scope) for t in (table, *children)]
            else:
                outcomes = _sync_table(client, warehouse, table, children, options, listener)
                if outcomes[0].fatal:
                    fatal = outcomes[0].error
                _publish(warehouse, outcomes)
            for outcome in outcomes:
                finish(outcome)
        status = "succeeded" if result.ok else "failed"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        result.finished_at = _now()
        failed = [t.table for t in result.tables if t.status == "failed"]
        error = f"failed tables: {', '.join(failed)}" if failed else None
        if status == "interrupted":
            error = "interrupted (Ctrl-C or SIGTERM); the tables not finished keep their data"
        elif status == "failed" and len(result.tables) < len(tables):
            error = "run aborted"
        runs.record_finish(warehouse, result.run_id, result.finished_at, status, error)
    return result


def _publish(warehouse: Warehouse, outcomes: list[TableResult]) -> None:
    """Copy each table that synced on to the final destination, when the warehouse is only
    the working copy (:mod:`driftsync.publish`). A failed copy fails the table: its data is
    safe in the working copy, and the next run copies it again."""
    for outcome in outcomes:
        if outcome.status != "succeeded":
            continue
        started = time.perf_counter()
        try:
            warehouse.publish(outcome.table)
        except DriftSyncError as exc:
            outcome.status, outcome.error = "failed", str(exc)
        outcome.seconds += time.perf_counter() - started


def _granted_scopes(client: DriftClient) -> set[str] | None:
    """The token's scopes, asked once per run; None when Drift will not say (then a 403
    on the table's own endpoint tells)."""
    try:
        info = client.token_info()
    except (AuthError, ConnectionFailedError):
        raise
    except ApiError as exc:
        log.info("token info unavailable (%s); scopes will be checked table by table", exc)
        return None
    return set(str(info.get("scope", "")).split())


def _skipped(table: Table, scope: str, endpoint: str = "") -> TableResult:
    """A table the token may not read: a warning naming the scope, not a failure."""
    if endpoint:  # Drift answered 403
        reason = str(MissingScopeError(table.name, scope, endpoint=endpoint))
    else:  # the token info lists the scopes, and this one is not among them
        reason = (f"the token lacks the '{scope}' scope that {table.name} needs. Add '{scope}' "
                  "under SETTINGS > OAuth & Scopes in your Drift app, reinstall the app, and "
                  "use the new token; or leave the table out with --tables.")
    log.info("skipped %s: %s", table.name, reason)  # the summary warns, once
    return TableResult(table.name, "skipped", error=f"skipped: {reason}", mode="-")


def _sync_table(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    children: list[Table],
    options: SyncOptions,
    listener: SyncListener,
) -> list[TableResult]:
    outcome = TableResult(table=table.name)
    nested = [TableResult(table=c.name) for c in children]
    requests_before, retries_before = client.stats.snapshot()
    started = time.perf_counter()

    def on_page(rows: int) -> None:
        outcome.pages += 1
        outcome.rows += rows
        listener.page_fetched(table, outcome.pages, outcome.rows)

    try:
        incremental = options.mode == "incremental" and all(
            runs.has_completed(warehouse, t.name) for t in (table, *children)
        )
        outcome.mode = "incremental" if incremental else "full"
        for n in nested:
            n.mode = outcome.mode
        writer = _Writer(warehouse, table, children, nested, options)
        sync = _STRATEGIES[table.kind if table.kind != "list" else table.change_detection]
        sync(client, warehouse, table, options, incremental, outcome, on_page, writer)
    except ForbiddenError as exc:
        return [_skipped(t, table.scope, exc.endpoint) for t in (table, *children)]
    except (AuthError, ConnectionFailedError) as exc:
        outcome.status, outcome.error, outcome.fatal = "failed", str(exc), True
    except DriftSyncError as exc:
        outcome.status = "failed"
        outcome.error = str(exc)
    finally:
        outcome.seconds = time.perf_counter() - started
        requests_after, retries_after = client.stats.snapshot()
        outcome.requests = requests_after - requests_before
        outcome.retries = retries_after - retries_before
    if outcome.error:
        log.info("%s failed: %s", table.name, outcome.error)
        for n in nested:
            if n.status == "succeeded":
                n.status, n.error = "failed", f"not synced: {table.name} failed"
    return [outcome, *nested]


class _Writer:
    """Writes a table's records, and its nested tables' rows before them.

    Without nested tables the records stream straight into the load. With them, the parent's
    Arrow batches are spooled to a file while the nested rows are collected; then each
    nested table is replaced for the parents written, and the parent loads last.
    """

    def __init__(self, warehouse: Warehouse, table: Table, children: list[Table],
                 results: list[TableResult], options: SyncOptions) -> None:
        self.warehouse = warehouse
        self.table = table
        self.children = children
        self.results = results
        self.options = options

    def write(self, records: Iterator[dict[str, Any]], always: bool) -> None:
        """Load ``records``; skip dlt entirely when an incremental run found nothing."""
        first = next(records, None)
        if first is None and not always:
            return
        rows = records if first is None else chain([first], records)
        if not self.children:
            self.warehouse.load(self.table, batches(self.table, rows, self.options.batch_rows))
            return
        spool = self.warehouse.destination.data_dir / f"spool-{uuid.uuid4().hex}.arrow"
        try:
            nested = self._spool(rows, spool)
            for child, (tables, parents, emptied), result in zip(
                self.children, nested, self.results, strict=True
            ):
                assert child.nested is not None
                if tables:
                    self.warehouse.load(child, tables, merge_key=child.nested.parent_column)
                elif not self.warehouse.has_table(child.name):
                    self.warehouse.load(child, [to_arrow(child, [])])
                self.warehouse.delete_where_in(child.name, child.nested.parent_column, emptied)
                result.rows = result.written = sum(t.num_rows for t in tables)
                result.pages = parents
            self.warehouse.load(self.table, _spooled(spool))
        finally:
            spool.unlink(missing_ok=True)

    def _spool(self, rows: Iterable[dict[str, Any]], path: Path) -> list[
            tuple[list[pa.Table], int, list[Any]]]:
        """Parent batches to ``path``; per nested table its Arrow batches, how many parents
        it covers and which parents now have no rows."""
        collected: list[tuple[list[pa.Table], int, list[Any]]] = [
            ([], 0, []) for _ in self.children
        ]
        writer: pa.ipc.RecordBatchFileWriter | None = None
        try:
            for batch_records in _chunks(rows, self.options.batch_rows):
                parent = to_arrow(self.table, batch_records)
                if writer is None:
                    writer = pa.ipc.new_file(str(path), parent.schema)
                writer.write_table(parent)
                for i, child in enumerate(self.children):
                    child_rows, parents = nested_rows(child, self.table, batch_records)
                    tables, count, emptied = collected[i]
                    if child_rows:
                        tables.append(to_arrow(child, child_rows))
                    assert child.nested is not None
                    having = {r[child.nested.parent_column] for r in child_rows}
                    emptied.extend(p for p in parents if p not in having)
                    collected[i] = (tables, count + len(parents), emptied)
            if writer is None:  # nothing at all: an empty table still gets its schema
                parent = to_arrow(self.table, [])
                writer = pa.ipc.new_file(str(path), parent.schema)
                writer.write_table(parent)
        finally:
            if writer is not None:
                writer.close()
        return collected


def _spooled(path: Path) -> Iterator[pa.Table]:
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        if reader.num_record_batches == 0:  # no rows: the empty table still carries the schema
            yield reader.schema.empty_table()
        for i in range(reader.num_record_batches):
            yield pa.Table.from_batches([reader.get_batch(i)])


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _counted(records: Iterator[dict[str, Any]], outcome: TableResult) -> Iterator[dict[str, Any]]:
    for record in records:
        outcome.written += 1
        yield record


def _sync_by_cursor(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    options: SyncOptions,
    incremental: bool,
    outcome: TableResult,
    on_page: Any,
    writer: _Writer,
) -> None:
    stop_below = None
    if incremental and table.cursor:
        bookmark = warehouse.max_value(table.name, table.cursor)
        if bookmark is not None:
            stop_below = int(bookmark) - options.lookback_ms
            log.info("%s: incremental from %s=%d (look-back %d ms)", table.name, table.cursor,
                     bookmark, options.lookback_ms)

    def changed_only(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop records whose cursor value is already stored: no detail call, no write."""
        assert table.cursor is not None
        stored = warehouse.values_for(table.name, table.key, table.cursor,
                                      [stored_key(table, r.get(table.key)) for r in page])
        return [r for r in page
                if stored.get(stored_key(table, r.get(table.key))) != r.get(table.cursor)]

    records = list_records(client, table, details=options.conversation_details,
                           workers=options.detail_workers, on_page=on_page,
                           stop_below=stop_below,
                           keep=changed_only if stop_below is not None else None)
    writer.write(_counted(records, outcome), always=not incremental)


def _sync_by_content(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    options: SyncOptions,
    incremental: bool,
    outcome: TableResult,
    on_page: Any,
    writer: _Writer,
) -> None:
    records = list_records(client, table, details=options.conversation_details,
                           workers=options.detail_workers, on_page=on_page)
    _write_changed(warehouse, table, records, incremental, outcome, writer)


def _sync_window(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    options: SyncOptions,
    incremental: bool,
    outcome: TableResult,
    on_page: Any,
    writer: _Writer,
) -> None:
    """Meetings: the whole window Drift serves is read every run (it has no change filter);
    only changed rows are written, and only rows inside the window can be marked gone."""
    spec = table.window
    assert spec is not None
    now = options.now_ms if options.now_ms is not None else int(time.time() * 1000)
    # A minute inside Drift's limit, so the oldest bound is never refused as too old.
    start = now - spec.days_back * DAY_MS + 60_000
    end = now + spec.days_ahead * DAY_MS
    records = window_records(client, table, start, end, on_page)
    _write_changed(warehouse, table, records, incremental, outcome, writer,
                   since=(spec.column, start))


def _write_changed(
    warehouse: Warehouse,
    table: Table,
    records: Iterator[dict[str, Any]],
    incremental: bool,
    outcome: TableResult,
    writer: _Writer,
    since: tuple[str, int] | None = None,
) -> None:
    stored = warehouse.stored_hashes(table.name, table.key, since)
    seen: set[Any] = set()
    key_column = table.column(table.key)

    def changed(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            raw = key_column.derive(record) if key_column.derive else record.get(table.key)
            key = stored_key(table, raw)
            seen.add(key)
            before = stored.get(key)
            if not incremental or before is None or before != content_hash(record):
                outcome.written += 1
                yield record

    writer.write(changed(records), always=not incremental)
    # Only a complete read (we got here without an error) may conclude a row is gone.
    gone = [key for key in stored if key not in seen]
    outcome.vanished = warehouse.mark_deleted(table.name, table.key, gone)


def _sync_fanout(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    options: SyncOptions,
    incremental: bool,
    outcome: TableResult,
    on_page: Any,
    writer: _Writer,
) -> None:
    spec = table.fanout
    assert spec is not None
    parents = warehouse.fanout_todo(
        table.name, [(p.table, p.key, p.cursor) for p in spec.parents], everything=not incremental
    )
    log.info("%s: reading %d parent(s)", table.name, len(parents))
    progress = FanoutProgress(done=[])
    records = fanout_records(client, table, parents, progress, workers=options.detail_workers,
                             on_page=on_page)
    writer.write(_counted(records, outcome), always=not incremental)
    warehouse.fanout_done(table.name, progress.done)
    if progress.missing:
        log.info("%s: Drift no longer has %d of the %d parent(s) read", table.name,
                 progress.missing, len(parents))


_STRATEGIES = {
    "cursor": _sync_by_cursor,
    "content": _sync_by_content,
    "window": _sync_window,
    "fanout": _sync_fanout,
}


def _now() -> datetime:
    return datetime.now(UTC)
