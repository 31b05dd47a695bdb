"""``driftsync export``: one table out of the destination, streamed (:mod:`driftsync.export`)."""

from __future__ import annotations

import click

from .cli import destination_options, err
from .errors import ConfigError
from .export import FORMATS


@click.command("export")
@click.argument("table")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="csv", show_default=True,
              help="csv (timestamps ISO 8601), parquet, or jsonl (one JSON object a line).")
@click.option("-o", "--output", metavar="FILE",
              help="File to write; '-' or left out: standard output.")
@click.option("--since", metavar="TIME",
              help="Only rows updated at or after TIME (ISO 8601: 2024-05-01 or "
                   "2024-05-01T12:30:00Z; UTC unless it names an offset), by the table's "
                   "cursor column (updatedAt), else its first time column.")
@click.option("--resource", metavar="NAME",
              help="Export from this resource's destination (driftsync resource list).")
@destination_options
def export(table: str, fmt: str, output: str | None, since: str | None, resource: str | None,
           destination: str | None, database: str | None, dataset: str | None,
           working_copy: str | None) -> None:
    """Write one table to a file or to standard output, without loading it all in memory.

    \b
    Examples:
      driftsync export conversations -o conversations.csv
      driftsync export messages --format parquet -o messages.parquet --since 2024-05-01
      driftsync export users --format jsonl | head -3
      driftsync export accounts --resource acme --format csv -o acme-accounts.csv
      driftsync export conversations --destination postgres --database postgresql://me@db/x
    """
    from .destinations import open_warehouse, resolve_destination, working_database
    from .export import export_table, finish_output, open_output, parse_since

    moment = parse_since(since) if since is not None else None
    plain = (destination, database, dataset, working_copy)
    if resource is not None:
        if any(v is not None for v in plain):
            raise ConfigError("Give --resource or --destination/--database/--dataset, not both.")
        from .cli_resources import _get
        from .jobs import open_warehouse as open_resource

        chosen = _get(resource)
        opened = open_resource(chosen.destination, "read", chosen.name)
    else:
        target = resolve_destination(destination, database, dataset, working_copy)
        local = working_database(target)
        if local is not None and not local.database.exists():
            raise ConfigError(f"No database at {local.database} yet. Run 'driftsync sync' "
                              "first, or pass --database.")
        opened = open_warehouse(local or target, role="read")
    with opened as warehouse:
        handle, partial = open_output(output)
        ok = False
        try:
            rows = export_table(warehouse, table, fmt, handle, moment)
            ok = True
        finally:
            finish_output(handle, partial, output, ok)
    if partial is not None:
        err.print(f"Exported {rows:,} rows of {table} to {output}.", markup=False)
