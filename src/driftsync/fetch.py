"""Reading a table's records from Drift, as Drift sends them. No transform, no load.

Three shapes (the catalog's ``kind``):

* ``list``: page through one list endpoint; conversations are completed by one detail call
  each, since Drift's list omits participants, tags and playbook;
* ``fanout``: one request series per parent id (messages per conversation, contact per
  ``contactId``), run on a thread pool; the client's shared rate limiter paces them all;
* ``window``: a time-window endpoint (meetings), asked range by range, each range split in
  two until Drift's per-answer cap no longer cuts it short.

Records stream out page by page (fan-out: chunk by chunk); no table is held whole in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .api import DriftClient, Page, paginate
from .api.pagination import records_at
from .catalog import Table
from .errors import MalformedResponseError, RequestRejectedError

log = logging.getLogger("driftsync.sync")

Record = dict[str, Any]
OnPage = Callable[[int], None] | None


def list_records(
    client: DriftClient,
    table: Table,
    *,
    details: bool,
    workers: int,
    on_page: OnPage = None,
    stop_below: int | None = None,
    keep: Callable[[list[Record]], list[Record]] | None = None,
) -> Iterator[Record]:
    """Every record of a ``list`` table, page by page.

    With ``stop_below``, paging ends at the first page whose records all have a cursor value
    below it (the table is listed newest first). If Drift turns out not to list in that order,
    the early stop is dropped and the list is read to the end: slower, never incomplete.
    ``keep`` filters each page before details are read (records already stored).
    """
    pages = _pages_until(
        paginate(client, table.endpoint, table.pagination, table.records_path, table.page_size),
        table, stop_below,
    )
    if keep is not None:
        pages = _kept(pages, keep, on_page)
        on_page = None
    if not (table.detail_endpoint and details):
        for page in pages:
            if on_page:
                on_page(len(page.records))
            yield from page.records
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift-detail") as pool:
        try:
            for page in pages:
                detailed = list(pool.map(lambda r: _with_detail(client, table, r), page.records))
                if on_page:
                    on_page(len(detailed))
                yield from detailed
        finally:
            pool.shutdown(cancel_futures=True)


def _kept(pages: Iterator[Page], keep: Callable[[list[Record]], list[Record]],
          on_page: OnPage) -> Iterator[Page]:
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


def _with_detail(client: DriftClient, table: Table, record: Record) -> Record:
    """The list record completed with the fields only the single-object endpoint returns."""
    key = record.get(table.key)
    if key is None or table.detail_endpoint is None:
        return record
    path = table.detail_endpoint.format(**{table.key: key})
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


# -- fan-out ---------------------------------------------------------------------------------


@dataclass
class FanoutProgress:
    """Which parents a fan-out has read, for the state written after the load commits."""

    done: list[tuple[int, int | None]]
    missing: int = 0
    """Parents Drift answered 404 for (a contact deleted for GDPR, say)."""


def fanout_records(
    client: DriftClient,
    table: Table,
    parents: Sequence[tuple[int, int | None]],
    progress: FanoutProgress,
    *,
    workers: int,
    on_page: OnPage = None,
    chunk: int = 256,
) -> Iterator[Record]:
    """The records of each parent id in ``parents``, read ``workers`` at a time.

    Ids are read in chunks so memory stays flat; a chunk's records are yielded in id order
    after the whole chunk is read, and its ids join ``progress.done`` only then.
    """
    assert table.fanout is not None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="drift-fanout") as pool:
        try:
            for start in range(0, len(parents), chunk):
                part = parents[start:start + chunk]
                answers = list(pool.map(lambda p: _read_parent(client, table, p[0]), part))
                for (parent, cursor), records in zip(part, answers, strict=True):
                    if records is None:
                        progress.missing += 1
                    else:
                        yield from records
                    progress.done.append((parent, cursor))
                    if on_page:
                        on_page(len(records or ()))
        finally:
            pool.shutdown(cancel_futures=True)


def _read_parent(client: DriftClient, table: Table, parent: int) -> list[Record] | None:
    """All records under one parent id, or None when Drift no longer knows the parent."""
    spec = table.fanout
    assert spec is not None
    path = spec.path.format(id=parent)
    try:
        if spec.single:
            body = client.get(path)
            record = _object_at(body, spec.records_path, spec.path)
            return [record]
        records: list[Record] = []
        for page in paginate(client, path, spec.pagination, spec.records_path):
            records.extend(page.records)
        return records
    except RequestRejectedError as exc:
        if exc.status == 404:
            log.info("%s: Drift answered 404 for GET %s; nothing to read there", table.name, path)
            return None
        raise


def _object_at(body: Any, path: tuple[str, ...], endpoint: str) -> Record:
    node = body
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    if not isinstance(node, dict):
        raise MalformedResponseError(
            f"Drift answered GET {endpoint} without a '{'.'.join(path)}' object.",
            endpoint=f"GET {endpoint}",
        )
    return node


# -- time windows ------------------------------------------------------------------------------

MIN_WINDOW_MS = 60_000


def window_records(
    client: DriftClient, table: Table, start_ms: int, end_ms: int, on_page: OnPage = None
) -> Iterator[Record]:
    """Every record with its window column in [start_ms, end_ms], each once.

    An answer holding ``cap`` records may have been cut short, so that range is asked again
    as two halves. The halves share their middle instant (Drift does not say whether a bound
    is inclusive), and records seen twice are yielded once.
    """
    spec = table.window
    assert spec is not None
    seen: set[Any] = set()
    ranges = [(start_ms, end_ms)]
    while ranges:
        low, high = ranges.pop()
        body = client.get(table.endpoint, params={spec.min_param: low, spec.max_param: high})
        records = records_at(body, table.records_path, table.endpoint)
        if len(records) >= spec.cap:
            if high - low > MIN_WINDOW_MS:
                middle = (low + high) // 2
                ranges += [(middle, high), (low, middle)]  # popped low half first
                continue
            log.warning("%s: more than %d records start within one minute; Drift returns only "
                        "%d of them", table.name, spec.cap, spec.cap)
        fresh = []
        for record in records:
            identity = _identity(table, record)
            if identity not in seen:
                seen.add(identity)
                fresh.append(record)
        if on_page:
            on_page(len(fresh))
        yield from fresh


def _identity(table: Table, record: Record) -> Any:
    key = table.column(table.key)
    if key.derive is not None:
        value = key.derive(record)
        if value is not None:
            return value
    return record.get(table.key) or repr(sorted(record.items()))
