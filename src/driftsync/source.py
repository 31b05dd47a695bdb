"""driftsync as a dlt source, for teams that run dlt pipelines under an orchestrator.

    import dlt
    from driftsync import drift_source

    pipeline = dlt.pipeline(pipeline_name="drift", destination="duckdb", dataset_name="drift")
    pipeline.run(drift_source(token=..., tables=["accounts", "conversations", "users"]))

The source reads Drift with driftsync's own client (timeouts, bounded retries, rate limit) and
hands dlt Arrow tables typed by the catalog, with its column names (``updatedAt``, not dlt's
snake_case) and descriptions. dlt then owns the destination, the state and the schedule.

What each table does, run after run:

* ``conversations``: **incremental, merged** on ``id``. The newest ``updatedAt`` read is kept
  in dlt's resource state; the next run reads the list (newest first) down to that value
  minus ``lookback_minutes``. Its tag and participant tables are merged per conversation:
  the rows of every conversation read are replaced.
* ``meetings``: the window Drift serves (30 days back, a year ahead) every run, merged on the
  meeting key: meetings older than the window stay.
* every other list table (accounts, users, teams, playbooks, contact attributes, landing
  pages) and its nested tables: read whole and **replaced**, so the table is what Drift
  returns now. (The driftsync CLI instead keeps rows Drift stopped returning, stamped with
  ``_driftsync_deleted_at``; that needs SQL on the destination, which a source does not have.)
* ``messages`` and ``contacts`` are read per conversation / per contact, from ids stored in
  the destination. They are not offered here: use the driftsync CLI for them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt  # noqa: E402
import httpx  # noqa: E402
from dlt.common.schema import Schema  # noqa: E402

from .api import DriftClient, RetryPolicy  # noqa: E402
from .api.client import DEFAULT_API_URL  # noqa: E402
from .catalog import CATALOG, Table  # noqa: E402
from .errors import ConfigError  # noqa: E402
from .fetch import list_records, window_records  # noqa: E402
from .transform import dlt_columns, nested_rows, to_arrow  # noqa: E402

BATCH_ROWS = 10_000
DAY_MS = 86_400_000
SOURCE_TABLES = tuple(name for name, t in CATALOG.items() if t.kind in ("list", "window"))
"""Tables offered as resources; nested tables come with their parent."""


@dlt.source(section="drift", schema=Schema("drift", normalizers={"names": "direct"}))
def drift_source(
    token: str = dlt.secrets.value,
    api_url: str = DEFAULT_API_URL,
    tables: Sequence[str] | None = None,
    conversation_details: bool = True,
    lookback_minutes: int = 2,
    retries: int = 5,
    transport: httpx.BaseTransport | None = None,
) -> Any:
    """Drift's tables as dlt resources (see the module docstring for what each does).

    Args:
        token: a Drift access token; from dlt's secrets (``SOURCES__DRIFT__TOKEN``) when not
            given.
        api_url: Drift's API, or the simulator's address.
        tables: resource names from :data:`SOURCE_TABLES` (nested tables such as
            ``conversation_tags`` come with their parent); all of them when None.
        conversation_details: one ``GET /conversations/{id}`` per conversation, for
            participants, tags and playbook (Drift's list leaves them out).
        lookback_minutes: conversations updated this long before the last run's newest
            ``updatedAt`` are read again.
        retries: retries per request on 429, 5xx, timeouts and dropped connections.
        transport: an httpx transport, for tests.
    """
    chosen = list(tables) if tables is not None else list(SOURCE_TABLES)
    unknown = [n for n in chosen if n not in SOURCE_TABLES]
    if unknown:
        raise ConfigError(
            f"drift_source has no table {', '.join(repr(n) for n in unknown)}; choose from "
            f"{', '.join(SOURCE_TABLES)} (nested tables come with their parent; messages and "
            "contacts need the driftsync CLI)."
        )
    settings = _Settings(token, api_url, conversation_details, lookback_minutes * 60_000,
                         retries, transport)
    return [_resource(CATALOG[name], settings) for name in chosen]


class _Settings:
    def __init__(self, token: str, api_url: str, details: bool, lookback_ms: int,
                 retries: int, transport: httpx.BaseTransport | None) -> None:
        self.token, self.api_url, self.details = token, api_url, details
        self.lookback_ms, self.retries, self.transport = lookback_ms, retries, transport

    def client(self) -> DriftClient:
        return DriftClient(self.token, base_url=self.api_url, transport=self.transport,
                           retry=RetryPolicy(max_attempts=self.retries + 1))


def _disposition(table: Table) -> str:
    return "replace" if table.kind == "list" and table.change_detection == "content" else "merge"


def _resource(table: Table, settings: _Settings) -> Any:
    children = [t for t in CATALOG.values() if t.nested and t.nested.parent == table.name]
    incremental = table.change_detection == "cursor" and table.cursor is not None

    def rows() -> Iterator[Any]:
        state = dlt.current.resource_state()
        newest = state.get("last_cursor") if incremental else None
        stop_below = int(newest) - settings.lookback_ms if newest is not None else None
        with settings.client() as client:
            if table.kind == "window":
                assert table.window is not None
                now = int(time.time() * 1000)
                records = window_records(client, table,
                                         now - table.window.days_back * DAY_MS + 60_000,
                                         now + table.window.days_ahead * DAY_MS)
            else:
                records = list_records(client, table, details=settings.details, workers=8,
                                       stop_below=stop_below)
            for chunk in _chunks(records):
                if incremental:
                    newest = max([v for v in (newest, *(r.get(table.cursor) for r in chunk))
                                  if isinstance(v, int)], default=newest)
                yield dlt.mark.with_table_name(to_arrow(table, chunk), table.name)
                for child in children:
                    yield _nested(child, table, chunk)
        if incremental:  # only after every page was read: a failed run keeps the old one
            state["last_cursor"] = newest

    # Each table gets its hints as a variant of its own: hints on the resource itself would
    # also apply to the nested tables' rows (and add the parent's columns to them).
    resource = dlt.resource(rows, name=table.name, write_disposition=_disposition(table))
    for each in (table, *children):
        merge_key = each.nested.parent_column if each.nested else None
        resource.apply_hints(
            table_name=each.name,
            write_disposition=_disposition(table),
            primary_key=list(each.key_columns),
            merge_key=merge_key if _disposition(table) == "merge" else None,
            columns=_columns(each, _disposition(table)),
            create_table_variant=True,
        )
    return resource


def _columns(table: Table, disposition: str) -> dict[str, Any]:
    """The catalog's column hints; a replaced table needs no de-duplication order."""
    hints = dlt_columns(table)
    if disposition == "replace":
        for hint in hints.values():
            hint.pop("dedup_sort", None)
    return hints


def _nested(child: Table, parent: Table, records: list[dict[str, Any]]) -> Any:
    """The nested table's rows of these parent records, routed to their own table."""
    child_rows, _ = nested_rows(child, parent, records)
    return dlt.mark.with_table_name(to_arrow(child, child_rows), child.name)


def _chunks(records: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Lists of at most BATCH_ROWS records; one empty list for no records, so an empty
    table still gets its typed columns."""
    chunk: list[dict[str, Any]] = []
    sent = False
    for record in records:
        chunk.append(record)
        if len(chunk) >= BATCH_ROWS:
            yield chunk
            sent, chunk = True, []
    if chunk or not sent:
        yield chunk


__all__ = ["SOURCE_TABLES", "drift_source"]
