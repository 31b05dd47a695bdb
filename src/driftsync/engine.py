"""One sync run: for each selected table, fetch -> transform -> load, and record the run.

The CLI, the demo and (later) the scheduler and web app are shells over :func:`run_sync`.
Tables are loaded one at a time, each in its own transaction, so a table that fails (a
missing scope, say) leaves its previous data untouched and does not stop the others.

Update modes (the spec's Data Sync): a table's first successful run is a full one; after that
runs are incremental unless ``full-refresh`` is asked for.

* Conversations (``cursor`` change detection): Drift lists them newest-updated first, so an
  incremental run pages until a whole page is older than the bookmark minus a look-back
  window. The bookmark is ``max(updatedAt)`` of the rows *in the table*: it is committed with
  the rows it covers by construction, so a crash can never advance it past missing data. A
  conversation updated while a run pages jumps to the front, behind the reader; its new
  ``updatedAt`` is above anything that run committed, so the next run picks it up.
* Accounts and users (``content``): Drift has no change filter, so every record is read;
  only new or changed ones (by content hash) are written, and rows Drift stopped returning are
  marked with ``_driftsync_deleted_at``, never deleted.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Literal, Protocol

from . import runs
from .api import DriftClient, Page, paginate
from .catalog import Table, select_tables
from .errors import (
    AuthError,
    ConnectionFailedError,
    DriftSyncError,
    ForbiddenError,
    MalformedResponseError,
    MissingScopeError,
    RequestRejectedError,
)
from .load import Warehouse
from .runs import TableResult
from .transform import batches, content_hash

log = logging.getLogger("driftsync.sync")


Mode = Literal["incremental", "full-refresh"]
DEFAULT_LOOKBACK_MS = 2 * 60 * 1000
"""Re-read conversations updated up to two minutes before the bookmark: insurance against
clock skew between Drift's servers and updates that show up late in the list. Everything in
the window is read again on every run, so a long window costs requests on busy inboxes."""


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
    batch_rows: int = 10_000


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
        return all(t.status == "succeeded" for t in self.tables)

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
    try:
        fatal: TableResult | None = None
        for table in tables:
            listener.table_started(table)
            if fatal is None:
                outcome = _sync_table(client, warehouse, table, options, listener)
                fatal = outcome if outcome.fatal else None
            else:
                outcome = TableResult(table.name, "failed", error=f"not synced: {fatal.error}",
                                      mode="-")
            runs.record_table(warehouse, result.run_id, outcome)
            result.tables.append(outcome)
            listener.table_finished(outcome)
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


def _sync_table(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    options: SyncOptions,
    listener: SyncListener,
) -> TableResult:
    outcome = TableResult(table=table.name)
    requests_before, retries_before = client.stats.snapshot()
    started = time.perf_counter()

    def on_page(rows: int) -> None:
        outcome.pages += 1
        outcome.rows += rows
        listener.page_fetched(table, outcome.pages, outcome.rows)

    try:
        incremental = options.mode == "incremental" and runs.has_completed(warehouse, table.name)
        outcome.mode = "incremental" if incremental else "full"
        if table.change_detection == "cursor":
            _sync_by_cursor(client, warehouse, table, options, incremental, outcome, on_page)
        else:
            _sync_by_content(client, warehouse, table, options, incremental, outcome, on_page)
    except ForbiddenError as exc:
        outcome.status = "failed"
        outcome.error = str(MissingScopeError(table.name, table.scope, endpoint=exc.endpoint))
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
    return outcome


def _sync_by_cursor(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    options: SyncOptions,
    incremental: bool,
    outcome: TableResult,
    on_page: Any,
) -> None:
    stop_below = None
    if incremental and table.cursor:
        bookmark = warehouse.max_value(table.name, table.cursor)
        if bookmark is not None:
            stop_below = int(bookmark) - options.lookback_ms
            log.info("%s: incremental from %s=%d (look-back %d ms)", table.name, table.cursor,
                     bookmark, options.lookback_ms)

    def counted(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            outcome.written += 1
            yield record

    def changed_only(page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Drop records whose cursor value is already stored: no detail call, no write."""
        assert table.cursor is not None
        stored = warehouse.values_for(table.name, table.primary_key, table.cursor,
                                      [_key(table, r.get(table.primary_key)) for r in page])
        return [r for r in page
                if stored.get(_key(table, r.get(table.primary_key))) != r.get(table.cursor)]

    records = fetch_records(client, table, options, on_page, stop_below=stop_below,
                            keep=changed_only if stop_below is not None else None)
    _load_if_any(warehouse, table, counted(records), options, always=not incremental)


def _sync_by_content(
    client: DriftClient,
    warehouse: Warehouse,
    table: Table,
    options: SyncOptions,
    incremental: bool,
    outcome: TableResult,
    on_page: Any,
) -> None:
    stored = warehouse.stored_hashes(table.name, table.primary_key)
    seen: set[Any] = set()

    def changed(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for record in records:
            key = _key(table, record.get(table.primary_key))
            seen.add(key)
            before = stored.get(key)
            if not incremental or before is None or before != content_hash(record):
                outcome.written += 1
                yield record

    records = fetch_records(client, table, options, on_page)
    _load_if_any(warehouse, table, changed(records), options, always=not incremental)
    # Only a complete read (we got here without an error) may conclude a row is gone.
    gone = [key for key in stored if key not in seen]
    outcome.vanished = warehouse.mark_deleted(table.name, table.primary_key, gone)


def _key(table: Table, value: Any) -> Any:
    """The primary key as stored: Drift may send a numeric id as a string."""
    if table.column(table.primary_key).type == "bigint" and isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
    return value


def _load_if_any(
    warehouse: Warehouse,
    table: Table,
    records: Iterator[dict[str, Any]],
    options: SyncOptions,
    always: bool,
) -> None:
    """Load ``records``; skip dlt entirely when an incremental run found nothing to write."""
    first = next(records, None)
    if first is None and not always:
        return
    rows = records if first is None else chain([first], records)
    warehouse.load(table, batches(table, rows, options.batch_rows))


def fetch_records(
    client: DriftClient,
    table: Table,
    options: SyncOptions,
    on_page: Any = None,
    stop_below: int | None = None,
    keep: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every record of ``table`` as Drift sends it, page by page, never the whole table at once.

    With ``stop_below``, paging ends at the first page whose records all have a cursor value
    below it (the table is listed newest first). If Drift turns out not to list in that order,
    the early stop is dropped and the list is read to the end: slower, never incomplete.
    """
    pages = _pages_until(
        paginate(client, table.endpoint, table.pagination, table.records_path, table.page_size),
        table, stop_below,
    )
    if keep is not None:
        pages = _kept(pages, keep, on_page)
        on_page = None
    if not (table.detail_endpoint and options.conversation_details):
        for page in pages:
            if on_page:
                on_page(len(page.records))
            yield from page.records
        return
    with ThreadPoolExecutor(max_workers=options.detail_workers,
                            thread_name_prefix="drift-detail") as pool:
        try:
            for page in pages:
                detailed = list(
                    pool.map(lambda r: _with_detail(client, table, r), page.records)
                )
                if on_page:
                    on_page(len(detailed))
                yield from detailed
        finally:
            pool.shutdown(cancel_futures=True)


def _kept(pages: Iterator[Page], keep: Callable[[list[dict[str, Any]]], list[dict[str, Any]]],
          on_page: Any) -> Iterator[Page]:
    """Pages with only the records worth writing; progress counts every record read."""
    for page in pages:
        if on_page:
            on_page(len(page.records))
        yield Page(page.number, keep(page.records))


def _pages_until(pages: Iterator[Page], table: Table, stop_below: int | None) -> Iterator[Page]:
    previous_low: int | None = None
    for page in pages:
        values = [v for r in page.records
                  if type(v := r.get(table.cursor or "")) is int]
        if stop_below is not None and values:
            if previous_low is not None and max(values) > previous_low:
                log.warning("Drift did not list %s newest-updated first; reading the whole list "
                            "this time", table.name)
                stop_below = None
            elif max(values) < stop_below:
                return
        if values:
            previous_low = min(values)
        yield page


def _with_detail(client: DriftClient, table: Table, record: dict[str, Any]) -> dict[str, Any]:
    """The list record completed with the fields only the single-object endpoint returns."""
    key = record.get(table.primary_key)
    if key is None or table.detail_endpoint is None:
        return record
    path = table.detail_endpoint.format(**{table.primary_key: key})
    try:
        body = client.get(path)
    except RequestRejectedError as exc:
        if exc.status == 404:  # deleted between the list and this call: keep what we have
            log.info("%s %s disappeared while syncing; kept the list fields", table.name, key)
            return record
        raise
    detail = body.get("data") if isinstance(body, dict) else None
    if not isinstance(detail, dict):
        raise MalformedResponseError(
            f"Drift answered GET {table.detail_endpoint} without a 'data' object.",
            endpoint=f"GET {table.detail_endpoint}",
        )
    merged = {**record, **detail}
    if table.cursor and table.cursor in record:
        # Keep the list's cursor value. The detail is read later and may already show an
        # update made during this run; storing that newer value would lift the bookmark
        # above conversations that moved to the front of the list behind the reader, and
        # the next run would never look for them. The next run re-reads this row instead.
        merged[table.cursor] = record[table.cursor]
    return merged


def _now() -> datetime:
    return datetime.now(UTC)
