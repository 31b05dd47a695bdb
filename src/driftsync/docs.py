"""The table reference, rendered from the catalog (``docs/tables.md`` is this output)."""

from __future__ import annotations

from .catalog import CATALOG, EXTRA_COLUMN, SPEC_TABLES, Table

SQL_TYPES = {
    "bigint": "BIGINT",
    "double": "DOUBLE",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "json": "JSON",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
}

HEADER = f"""\
# Table reference

Generated from the catalog in `src/driftsync/catalog/` by `driftsync tables --markdown`;
do not edit by hand (a test fails when this file and the catalog disagree).

Three tables, `accounts`, `conversations` and `users`, are the product spec's (Acho Studio's
Drift source), with the spec's descriptions verbatim; the others are the rest of Drift's
readable data. In the default
database, `./drift.duckdb`, the tables are `drift.accounts`, `drift.conversations` and so on
(DuckDB names the file's catalog `drift`; the tables sit in its default schema, so plain
`accounts` works too). Column names are Drift's own, camelCase included. Each description
is also stored as the column's comment (`SELECT column_name, comment FROM duckdb_columns()`).

Conventions for every table:

* epoch-millisecond fields keep Drift's integer and gain a `<name>_ts` column of type
  `TIMESTAMP WITH TIME ZONE` (UTC);
* a field Drift leaves out is `NULL`;
* `{EXTRA_COLUMN}` (JSON) keeps every field Drift sent that has no column, and any value that could
  not be stored in its column's type without loss.
* `driftsync sync --tables X` also syncs the tables X is made from (messages need
  conversations; contacts need conversations and meetings; a nested table needs its parent).
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(table: Table) -> str:
    key = ", ".join(f"`{k}`" for k in table.key_columns)
    lines = [
        f"## {table.title} (`{table.name}`)",
        "",
        table.description,
        "",
        f"* Read from: {_source(table)}",
        f"* Primary key: {key} (rows are merged on it: a rerun never duplicates)"
        + (f". {table.key_note}" if table.key_note else ""),
        f"* Incremental: {_incremental(table)}",
        f"* Required scope: `{table.scope}`" + (f" ({table.scope_note})" if table.scope_note
                                                else ""),
    ]
    if table.detail_endpoint:
        lines.append(f"* Detail endpoint: `GET {table.detail_endpoint}`. {table.detail_note}")
    elif table.detail_note:
        lines.append(f"* {table.detail_note}")
    spec = table.name in SPEC_TABLES
    header = "| Column | Type | Spec type | Description |" if spec else (
        "| Column | Type | Description |")
    lines += ["", header, "| --- | --- | --- | --- |" if spec else "| --- | --- | --- |"]
    for c in table.all_columns:
        cells = [f"`{c.name}`", SQL_TYPES[c.type]]
        if spec:
            cells.append(c.spec_type or "(added)")
        cells.append(_cell(c.comment))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _source(table: Table) -> str:
    if table.nested:
        return (f"the `{table.nested.field}` array of each `{table.nested.parent}` record, "
                f"written with it; a {table.nested.parent} row's old rows here are replaced "
                "whenever it is written, so items removed in Drift disappear")
    if table.fanout:
        parents = " and ".join(f"`{p.table}.{p.key}`" for p in table.fanout.parents)
        return f"`GET {table.fanout.path}` for each id in {parents} ({_paging(table)})"
    if table.window:
        w = table.window
        return (f"`GET {table.endpoint}?{w.min_param}=&{w.max_param}=`, from {w.days_back} days "
                f"back (Drift's limit) to {w.days_ahead} days ahead, each range split in two "
                f"while an answer holds Drift's cap of {w.cap}")
    return f"`GET {table.endpoint}` ({_paging(table)})"


def _incremental(table: Table) -> str:
    if table.nested:
        return f"follows `{table.nested.parent}`"
    if table.change_detection == "cursor":
        return (f"pages newest-first and stops below the stored `max({table.cursor})` "
                "(minus the look-back)")
    if table.change_detection == "parents":
        cursors = ", ".join(f"`{p.table}.{p.cursor}`" for p in table.fanout.parents) \
            if table.fanout else ""
        return f"read again only for ids whose {cursors} moved since they were last read"
    return ("every record is read; only changed ones (by content hash) are written, and rows "
            "Drift no longer returns get `_driftsync_deleted_at`")


def _paging(table: Table) -> str:
    if table.pagination == "conversation_list":
        return (
            f"pages of {table.page_size} following `links.next` (page_token), or the older "
            "`pagination.more`/`next` cursor"
        )
    if table.pagination == "offset":
        return f"`index`/`size` pages of up to {table.page_size} following `data.next`"
    if table.pagination == "cursor":
        return "every page, following `pagination.more`/`next`"
    return "one answer" + (", a bare JSON array" if not table.records_path else "")


def render_markdown() -> str:
    return HEADER + "\n" + "\n".join(render_table(t) for t in CATALOG.values())
