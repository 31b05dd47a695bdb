"""The table reference, rendered from the catalog (``docs/tables.md`` is this output)."""

from __future__ import annotations

from .catalog import CATALOG, EXTRA_COLUMN, Table

SQL_TYPES = {
    "bigint": "BIGINT",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
    "json": "JSON",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
}

HEADER = f"""\
# Table reference

Generated from the catalog in `src/driftsync/catalog.py` by `driftsync tables --markdown`;
do not edit by hand (a test fails when this file and the catalog disagree).

In the default database, `./drift.duckdb`, the tables are `drift.accounts`,
`drift.conversations` and `drift.users` (DuckDB names the file's catalog `drift`; the tables
sit in its default schema, so plain `accounts` works too). Column names are Drift's own, as
the spec writes them, camelCase included. Each description is also stored as the column's
comment (`SELECT column_name, comment FROM duckdb_columns()`).

Conventions for every table:

* epoch-millisecond fields keep Drift's integer and gain a `<name>_ts` column of type
  `TIMESTAMP WITH TIME ZONE` (UTC);
* a field Drift leaves out is `NULL`;
* `{EXTRA_COLUMN}` (JSON) keeps every field Drift sent that has no column, and any value that could
  not be stored in its column's type without loss.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_table(table: Table) -> str:
    lines = [
        f"## {table.title} (`{table.name}`)",
        "",
        table.description,
        "",
        f"* Endpoint: `GET {table.endpoint}` ({_paging(table)})",
        f"* Primary key: `{table.primary_key}` (rows are merged on it: a rerun never duplicates)",
        f"* Change cursor: `{table.cursor}`" if table.cursor else "* Change cursor: none",
        f"* Required scope: `{table.scope}`",
    ]
    if table.detail_endpoint:
        lines.append(f"* Detail endpoint: `GET {table.detail_endpoint}`. {table.detail_note}")
    lines += [
        "",
        "| Column | Type | Spec type | Description |",
        "| --- | --- | --- | --- |",
    ]
    for c in table.all_columns:
        spec = c.spec_type or "(added)"
        lines.append(
            f"| `{c.name}` | {SQL_TYPES[c.type]} | {spec} | {_cell(c.comment)} |"
        )
    return "\n".join(lines) + "\n"


def _paging(table: Table) -> str:
    if table.pagination == "conversation_list":
        return (
            f"pages of {table.page_size} following `links.next` (page_token), or the older "
            "`pagination.more`/`next` cursor"
        )
    if table.pagination == "offset":
        return f"`index`/`size` pages of up to {table.page_size} following `data.next`"
    return "one page"


def render_markdown() -> str:
    return HEADER + "\n" + "\n".join(render_table(t) for t in CATALOG.values())
