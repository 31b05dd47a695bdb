"""One sync run: for each selected table, fetch -> transform -> load, and record the run.

The CLI, the demo and (later) the scheduler and web app are shells over :func:`run_sync`.
Tables are loaded one at a time, each in its own transaction, so a table that fails (a
missing scope, say) leaves its previous data untouched and does not stop the others.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from . import runs
from .api import DriftClient, paginate
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
from .transform import batches

log = logging.getLogger("driftsync.sync")


@dataclass(frozen=True)
class SyncOptions:
    tables: list[str] | None = None
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
                outcome = TableResult(table.name, "failed", error=f"not synced: {fatal.error}")
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
        records = fetch_records(client, table, options, on_page)
        warehouse.load(table, batches(table, records, options.batch_rows))
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


def fetch_records(
    client: DriftClient,
    table: Table,
    options: SyncOptions,
    on_page: Any = None,
) -> Iterator[dict[str, Any]]:
    """Every record of ``table`` as Drift sends it, page by page, never the whole table at once."""
    pages = paginate(client, table.endpoint, table.pagination, table.records_path, table.page_size)
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
    return {**record, **detail}


def _now() -> datetime:
    return datetime.now(UTC)
