"""The ``driftsync`` command: a thin shell over the catalog and the sync engine.

Every DriftSyncError becomes one line on stderr and exit code 1; a traceback only with
``--debug``. Nothing here prints a token.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table as RichTable

from . import __version__
from .catalog import CATALOG, Table
from .errors import ConfigError, DriftSyncError, one_line
from .runs import TableResult

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DEMO_QUERY = """\
SELECT status,
       count(*)                  AS conversations,
       count(DISTINCT contactId) AS contacts,
       max(updatedAt_ts)         AS last_update
FROM {conversations}
GROUP BY status
ORDER BY conversations DESC"""


class DriftSyncGroup(click.Group):
    """Turns driftsync's own errors into one line and an exit code, at the edge only."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DriftSyncError as exc:
            if _debug(ctx):
                raise
            err.print(f"[bold red]Error:[/] {escape(one_line(str(exc)))}", markup=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            # The reader went away (`driftsync status | head -1`): stop quietly, like cat does.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except KeyboardInterrupt:
            err.print("Interrupted: tables that had not finished keep their previous data. "
                      "Run the same command again to finish.")
            sys.exit(130)
        except Exception as exc:  # noqa: BLE001 - the one place unexpected errors are caught
            if _debug(ctx):
                raise
            err.print(
                f"[bold red]Error:[/] unexpected {type(exc).__name__}: "
                f"{escape(one_line(str(exc)))} "
                "(run with --debug for the traceback)",
                markup=True,
            )
            sys.exit(1)


def _debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug"))


@click.group(cls=DriftSyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="driftsync")
@click.option("--debug", is_flag=True, envvar="DRIFTSYNC_DEBUG",
              help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Log each request and retry.")
@click.pass_context
def main(ctx: click.Context, debug: bool, verbose: bool) -> None:
    """Sync Drift (drift.com) data into DuckDB (a local file, the default), PostgreSQL or
    another dlt destination.

    \b
    Quick start, offline:   driftsync demo
    With your Drift token:  export DRIFT_ACCESS_TOKEN=...
                            driftsync check
                            driftsync sync
                            driftsync status
    On a schedule:          driftsync resource add acme --token-env DRIFT_ACCESS_TOKEN --schedule "every 2h"
                            driftsync serve      # the scheduler and the web app
    """
    ctx.obj = {"debug": debug}
    # SIGTERM (a service manager stopping us) ends a run the same careful way as Ctrl-C.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = _StderrHandler()
    handler.setFormatter(_LineFormatter())
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    logging.getLogger("driftsync").setLevel(level)


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (the progress display swaps it), one
    record per line: ``warning: GET /accounts answered 429; retry 1 of 5 in 0.61s``."""

    def __init__(self) -> None:
        super().__init__()

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


# -- shared options ---------------------------------------------------------------------

def api_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0,
                      show_default=True, help="Seconds to wait for each Drift response.")(fn)
    fn = click.option("--retries", type=click.IntRange(min=0, max=20), default=5,
                      show_default=True,
                      help="Retries per request on 429, 5xx, timeouts and dropped connections.")(fn)
    fn = click.option("--api-url", metavar="URL",
                      help="Drift API base URL [env DRIFT_API_URL; default https://driftapi.com]")(fn)
    fn = click.option("--token", metavar="TOKEN",
                      help="Drift access token [env DRIFT_ACCESS_TOKEN, or the config file]. "
                           "Prefer the environment: flags show up in shell history.")(fn)
    return fn


def destination_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Where the data is: ``--destination`` with ``--database``, ``--dataset`` and, for
    destinations that are published to, ``--working-copy`` (see driftsync.destinations)."""
    fn = click.option("--working-copy", metavar="PATH",
                      help="Other destinations: the local DuckDB file that holds the synced "
                           "tables and driftsync's state before they are published "
                           "[env DRIFTSYNC_WORKING_COPY; default ./drift.duckdb]")(fn)
    fn = click.option("--dataset", metavar="NAME",
                      help="Schema (dlt dataset) that holds the tables [env DRIFTSYNC_DATASET; "
                           "default main for DuckDB, drift elsewhere]")(fn)
    fn = click.option("--database", metavar="PATH|URL",
                      help="duckdb: the file [default ./drift.duckdb]; postgres: "
                           "postgresql://USER@HOST:PORT/DB (password in PGPASSWORD); "
                           "filesystem: a folder or bucket URL [env DRIFTSYNC_DATABASE]")(fn)
    fn = click.option("--destination", metavar="NAME",
                      help="duckdb, postgres, or another dlt destination by name: filesystem "
                           "(Parquet), bigquery, snowflake, clickhouse, motherduck... "
                           "[env DRIFTSYNC_DESTINATION; default duckdb]")(fn)
    return fn


def _client(settings: Any, timeout: float, retries: int, *, credentials: Any = None,
            transport: Any = None, rate_limit: int | None = None) -> Any:
    """A DriftClient for the settings (:func:`driftsync.jobs.drift_client`)."""
    from .jobs import drift_client

    return drift_client(settings, timeout, retries, credentials=credentials,
                        transport=transport, rate_limit=rate_limit)


def _credentials(settings: Any) -> tuple[Any, str]:
    """The httpx auth for the settings, and where its token comes from (for messages)."""
    from .jobs import auth_for

    return auth_for(settings)


# -- commands ---------------------------------------------------------------------------

@main.command()
@click.option("--markdown", is_flag=True, help="Print the Markdown reference (docs/tables.md).")
def tables(markdown: bool) -> None:
    """List the tables driftsync syncs, with their columns, types and descriptions."""
    if markdown:
        from .docs import render_markdown

        click.echo(render_markdown(), nl=False)
        return
    from .docs import SQL_TYPES

    for table in CATALOG.values():
        source = (f"from {table.nested.parent}.{table.nested.field}" if table.nested
                  else f"GET {table.endpoint}")
        out.print(
            f"[bold]{table.name}[/]  {source}  key {', '.join(table.key_columns)}  "
            f"scope {table.scope}", markup=True, highlight=False,
        )
        grid = RichTable(show_header=True, header_style="bold", box=None, pad_edge=False)
        grid.add_column("column")
        grid.add_column("type")
        grid.add_column("description", overflow="fold")
        for c in table.all_columns:
            grid.add_row(c.name, SQL_TYPES[c.type], c.comment)
        out.print(grid)
        out.print()


@main.command()
@api_options
def check(token: str | None, api_url: str | None, timeout: float, retries: int) -> None:
    """Validate the access token and show, table by table, whether its scope is granted."""
    from .config import resolve

    settings = resolve(token=token, api_url=api_url)
    credentials = _credentials(settings)
    with _client(settings, timeout, retries, credentials=credentials) as client:
        info = client.token_info()
    granted = set(str(info.get("scope", "")).split())
    org = str(info.get("authenticated_userid", "")).removeprefix("orgId:") or "unknown"
    out.print(f"Token OK (from {credentials[1]}) for Drift org {org} at {settings.api_url}")
    missing = []
    for table in CATALOG.values():
        ok = table.scope in granted
        mark = "[green]ok[/]     " if ok else "[red]missing[/]"
        out.print(f"  {mark} {table.name:<28} needs {table.scope}")
        if not ok:
            missing.append(table)
    if missing:
        scopes = ", ".join(sorted({t.scope for t in missing}))
        raise ConfigError(
            f"The token lacks {scopes}, needed by {', '.join(t.name for t in missing)}. "
            "Add the scopes under SETTINGS > OAuth & Scopes in your Drift app and reinstall it."
        )


@main.command()
@click.argument("resource", required=False)
@click.option("--all", "all_resources", is_flag=True,
              help="Sync every enabled resource, one after another (driftsync resource list).")
@click.option("--tables", "table_names", metavar="NAMES",
              help=f"Comma-separated tables to sync [default: all: {','.join(CATALOG)}]")
@destination_options
@api_options
@click.option("--conversation-details/--no-conversation-details", default=True,
              show_default=True,
              help="Read GET /conversations/{id} for each conversation to fill participants, "
                   "conversationTags and relatedPlaybookId (one request per conversation).")
@click.option("--mode", type=click.Choice(["incremental", "full-refresh"]),
              default="incremental", show_default=True,
              help="incremental: only what changed since the last successful run (a table's "
                   "first run is always full); full-refresh: read and write everything.")
@click.option("--lookback", type=click.IntRange(min=0), default=2, show_default=True,
              metavar="MINUTES",
              help="Incremental conversations: also re-read those updated this many minutes "
                   "before the last synced update.")
@click.option("--rate-limit", type=click.IntRange(min=0), metavar="PER_MINUTE",
              help="Requests per minute for the whole run, all threads together; 0 = no "
                   "limit [default: 600 on Drift's hosts, no limit on other API URLs]. "
                   "driftsync also slows down by itself when Drift answers 429.")
def sync(resource: str | None, all_resources: bool, table_names: str | None,
         destination: str | None, database: str | None, dataset: str | None,
         working_copy: str | None, token: str | None, api_url: str | None, timeout: float,
         retries: int, conversation_details: bool, mode: str, lookback: int,
         rate_limit: int | None) -> None:
    """Sync Drift tables into the database, or a resource into its own. Exit code 0 only if
    every table synced.

    \b
    Examples:
      driftsync sync                                   # incremental after the first run
      driftsync sync --mode full-refresh
      driftsync sync --tables accounts,users --database ./drift.duckdb
      driftsync sync --destination postgres --database postgresql://me@db.local/analytics
      driftsync sync --destination filesystem --database ./parquet
      driftsync sync acme                              # a resource (driftsync resource add)
      driftsync sync --all                             # every enabled resource
    """
    if resource is not None or all_resources:
        from click.core import ParameterSource

        from .cli_resources import sync_resources

        given = click.get_current_context().get_parameter_source("mode")
        sync_resources(resource, all_resources,
                       mode=None if given is ParameterSource.DEFAULT else mode,
                       lookback_ms=lookback * 60_000, conversation_details=conversation_details,
                       timeout=timeout, retries=retries,
                       plain={"--tables": table_names, "--database": database,
                              "--destination": destination, "--dataset": dataset,
                              "--working-copy": working_copy,
                              "--token": token, "--api-url": api_url})
        return
    from .config import resolve
    from .destinations import resolve_destination
    from .engine import SyncOptions

    settings = resolve(token=token, api_url=api_url)
    target = resolve_destination(destination, database, dataset, working_copy)
    options = SyncOptions(tables=_parse_tables(table_names), mode=mode,  # type: ignore[arg-type]
                          lookback_ms=lookback * 60_000, conversation_details=conversation_details)
    with _client(settings, timeout, retries, rate_limit=rate_limit) as client:
        result = _run_sync(client, target, options)
    if not result.ok:
        sys.exit(1)


def _parse_tables(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ConfigError("--tables needs table names, e.g. --tables accounts,conversations,users")
    from .catalog import select_tables

    select_tables(names)
    return names


def _run_sync(client: Any, target: Any, options: Any) -> Any:
    """Sync into ``target``: a DuckDB file's path, or any destination settings."""
    from .destinations import open_warehouse, where
    from .engine import run_sync
    from .load import Destination

    if isinstance(target, Path):
        target = Destination(database=target)
    with open_warehouse(target) as warehouse, _ProgressListener() as listener:
        result = run_sync(client, warehouse, options, listener)
    _print_summary(result.tables, result.seconds, where(target))
    _print_problems(result.tables)
    return result


def _print_problems(tables: Any, prefix: str = "") -> None:
    """One line per table that failed or was skipped. A run-wide failure (token rejected, API
    unreachable) is told in full by the first table; the rest only repeat it as
    "not synced: ...", which the summary already shows, so they are not printed again."""
    for t in tables:
        if not t.error or t.error.startswith("not synced: "):
            continue
        line = f"{escape(prefix)}{t.table}: {escape(one_line(t.error))}"
        if t.status == "skipped":
            err.print(f"[bold yellow]Warning:[/] {line}", markup=True)
        else:
            err.print(f"[bold red]Error:[/] {line}", markup=True)


class _ProgressListener:
    """Live rows/pages per table on stderr while the sync runs (quiet when not a terminal),
    and in the progress file that ``driftsync serve`` names for the syncs it starts."""

    def __init__(self) -> None:
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<28}"),
            TextColumn("{task.fields[rows]:>9,} rows  {task.fields[pages]:>6,} pages"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self._tasks: dict[str, Any] = {}
        self._file: Any = None
        if os.environ.get("DRIFTSYNC_PROGRESS_FILE"):
            from .scheduler import ProgressFile

            self._file = ProgressFile.from_env()

    def __enter__(self) -> _ProgressListener:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def table_started(self, table: Table) -> None:
        self._tasks[table.name] = self._progress.add_task(table.name, total=None, rows=0, pages=0)
        if self._file is not None:
            self._file.table_started(table)

    def page_fetched(self, table: Table, pages: int, rows: int) -> None:
        self._progress.update(self._tasks[table.name], rows=rows, pages=pages)
        if self._file is not None:
            self._file.page_fetched(table, pages, rows)

    def table_finished(self, result: TableResult) -> None:
        self._progress.update(self._tasks[result.table], visible=False)
        if self._file is not None:
            self._file.table_finished(result)


def _print_summary(results: list[TableResult], seconds: float, database: Path | str) -> None:
    failed = sum(t.status == "failed" for t in results)
    title = (f"Synced into {database} in {seconds:.1f}s" if not failed else
             f"Sync into {database} finished in {seconds:.1f}s: {failed} of {len(results)} "
             "tables failed and kept their previous data")
    grid = RichTable(title=title, title_justify="left")
    for name in ("table", "mode", "status", "rows", "written", "deleted", "pages", "requests",
                 "retries", "seconds"):
        grid.add_column(name, justify="left" if name in ("table", "mode", "status") else "right")
    for t in results:
        status = {"succeeded": "[green]ok[/]", "skipped": "[yellow]skipped[/]"}.get(
            t.status, "[red]failed[/]")
        ok = t.status == "succeeded"
        grid.add_row(t.table, t.mode, status, f"{t.rows:,}" if ok else "-",
                     f"{t.written:,}" if ok else "-", f"{t.vanished:,}" if ok else "-",
                     f"{t.pages:,}", f"{t.requests:,}",
                     f"{t.retries:,}", f"{t.seconds:.2f}")
    # Never truncated, even when the output is a file or an 80-column log.
    (out if out.is_terminal else Console(highlight=False, width=200)).print(grid)


@main.command()
@click.argument("resource", required=False)
@destination_options
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many recent runs to show.")
def status(resource: str | None, destination: str | None, database: str | None,
           dataset: str | None, working_copy: str | None, limit: int) -> None:
    """Show the last sync runs: per table rows, duration and error.

    With resources set up (and no --database), shows each resource: its state, last and
    next run, and rows per table; 'driftsync status NAME' shows one with its last runs.
    """
    from . import cli_resources

    plain = (destination, database, dataset, working_copy)
    if resource is not None and any(v is not None for v in plain):
        raise ConfigError("Give a resource name or --database, not both.")
    if resource is not None or (
        all(v is None for v in plain) and not os.environ.get("DRIFTSYNC_DATABASE")
        and not os.environ.get("DRIFTSYNC_DESTINATION") and cli_resources.has_resources()
    ):
        cli_resources.show_status(resource, limit)
        return
    from .destinations import open_warehouse, resolve_destination, working_database
    from .runs import recent_runs

    target = resolve_destination(destination, database, dataset, working_copy)
    local = working_database(target)  # the run history of a published destination is here
    if local is not None and not local.database.exists():
        raise ConfigError(
            f"No database at {local.database} yet. Run 'driftsync sync' (or "
            "'driftsync demo') first, or pass --database."
        )
    with open_warehouse(local or target, role="read") as warehouse:
        records = recent_runs(warehouse, limit)
    shown = local.database if local is not None else target.describe()
    if not records:
        out.print(f"No runs recorded in {shown} yet.")
        return
    for record in records:
        took = (f"{record.seconds:.1f}s" if record.seconds is not None
                else "still running" if record.status == "running" else "-")
        started = record.started_at.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        colour = {"succeeded": "green", "failed": "red"}.get(record.status, "yellow")
        if record.error and record.status != "failed":
            took += f"  ({record.error})"
        out.print(f"[bold]{started}[/]  [{colour}]{record.status}[/]  {took}  "
                  f"run {record.run_id[:8]}")
        for t in record.tables:
            rows = (f"{t.rows:>9,} rows, {t.written:,} written" if t.status == "succeeded"
                    else f"{'-':>9} rows")
            if t.vanished:
                rows += f", {t.vanished:,} marked deleted"
            line = f"    {t.table:<28} {t.mode:<11} {t.status:<9} {rows}  {t.seconds:.2f}s"
            if t.error:
                line += f"  {one_line(t.error)}"
            out.print(line, markup=False)


@main.command()
@click.option("--once", is_flag=True,
              help="Run every enabled resource that is due now, then exit (for cron). Exit "
                   "code 0 only if all of them synced. No web app.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address the web app listens on. The default, loopback, is reachable from "
                   "this machine only; any other address exposes the app and its data to the "
                   "network, so it needs a login password in DRIFTSYNC_WEB_PASSWORD.")
@click.option("-p", "--port", type=click.IntRange(0, 65535), default=8700, show_default=True,
              help="Port of the web app (0: any free port).")
@click.option("--no-web", is_flag=True, help="Run the scheduler only, without the web app.")
def serve(once: bool, host: str, port: int, no_web: bool) -> None:
    """Serve the web app and sync every enabled resource on its schedule, until stopped
    (Ctrl-C or SIGTERM).

    \b
    Examples:
      driftsync resource add acme --token-env ACME_DRIFT_TOKEN --schedule "every 2h"
      driftsync serve              # web app on http://127.0.0.1:8700; runs acme every 2 hours
      driftsync serve --once       # from cron: run what is due now, then exit
      DRIFTSYNC_WEB_PASSWORD=... driftsync serve --host 0.0.0.0   # with a login

    The web app (Resources page, Add Resource, tables, queries) is printed on stdout as a
    URL. It listens on 127.0.0.1 unless --host says otherwise; on any other address it
    asks for the password in DRIFTSYNC_WEB_PASSWORD, and refuses to start without one.

    Each run is 'driftsync sync NAME' in a child process, one at a time per resource: a
    run that comes due while the last is still going is skipped. A resource that never
    synced, or missed its schedule while serve was down, runs once right away. Paused
    resources are skipped. resources.toml is read again every 30 s and on SIGHUP, so
    'driftsync resource add/pause/resume' take effect without a restart. Stopping
    interrupts a running sync safely: its tables keep their previous data and the run is
    recorded as interrupted. 'driftsync status' shows what is syncing and the next runs.
    """
    from .scheduler import LogFormatter, Scheduler
    from .scheduler import serve as run_scheduler

    for handler in logging.getLogger().handlers:
        handler.setFormatter(LogFormatter())
    verbose = logging.getLogger("driftsync").getEffectiveLevel() <= logging.INFO
    if not verbose:
        logging.getLogger("driftsync.serve").setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # its skip warning is ours
    scheduler = Scheduler(verbose=verbose)
    if once or no_web:
        sys.exit(run_scheduler(scheduler, once=once))
    from .web.server import WebServer

    web = WebServer.bind(scheduler, host, port)  # before any sync: a busy port stops here
    with web.running():
        out.print(f"driftsync web app: {web.url}", markup=False)
        code = run_scheduler(scheduler)
    sys.exit(code)


@main.command()
@click.option("--database", metavar="PATH", help="DuckDB file [default: ./demo.duckdb].")
@click.option("--conversations", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Simulated conversations.")
@click.option("--accounts", type=click.IntRange(min=0), default=500, show_default=True,
              help="Simulated accounts.")
@click.option("--users", type=click.IntRange(min=1), default=25, show_default=True,
              help="Simulated users.")
@click.option("--seed", type=int, default=1, show_default=True, help="Simulator data seed.")
def demo(database: str | None, conversations: int, accounts: int, users: int, seed: int) -> None:
    """Run the whole job offline: a simulated Drift on loopback, synced into ./demo.duckdb
    (a file of its own, so that the simulated rows never mix with your real Drift data)."""
    from .api import DriftClient
    from .engine import SyncOptions
    from .load import Destination, Warehouse
    from .simulator import DriftSimulator, SimulatorConfig

    path = Path(database or "demo.duckdb")
    config = SimulatorConfig(seed=seed, accounts=accounts, conversations=conversations,
                             users=users)
    with DriftSimulator(config) as sim:
        out.print(f"Drift simulator running at {sim.url} "
                  f"({accounts} accounts, {conversations} conversations, {users} users)")
        with DriftClient(config.token, base_url=sim.url) as client:
            result = _run_sync(client, path, SyncOptions())
    if not result.ok:
        sys.exit(1)
    with Warehouse(Destination(database=path)) as warehouse:
        _show_demo_tables(warehouse, path)


def _show_demo_tables(warehouse: Any, path: Path) -> None:
    out.print()
    out.print("[bold]Rows per table[/]")
    for name in CATALOG:
        (count,) = warehouse.execute(f"SELECT count(*) FROM {warehouse.qualified(name)}")[0]
        out.print(f"  {warehouse.display_name(name):<34} {count:>8,}")
    out.print()
    out.print("[bold]Example query[/]")
    query = DEMO_QUERY.format(conversations=warehouse.display_name("conversations"))
    out.print(query, markup=False)
    rows = warehouse.execute(query)
    grid = RichTable("status", "conversations", "contacts", "last_update")
    for status_, n, contacts, last in rows:
        grid.add_row(str(status_), f"{n:,}", f"{contacts:,}", str(last))
    out.print(grid)
    users = warehouse.display_name("users")
    out.print("\nQuery it yourself (DuckDB's Python package is installed with driftsync):")
    out.print(f"  python -c \"import duckdb; duckdb.connect('{path}').sql('SELECT * FROM {users} "
              "LIMIT 5').show()\"", markup=False)


def _attach_simulator() -> None:
    from .simulator.cli import simulate

    main.add_command(simulate)


def _attach_resources() -> None:
    from .cli_resources import resource

    main.add_command(resource)


def _attach_export() -> None:
    from .cli_export import export

    main.add_command(export)


_attach_simulator()
_attach_resources()
_attach_export()
