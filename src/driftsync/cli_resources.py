"""``driftsync resource ...``, and ``sync``/``status`` for resources: a shell over
:mod:`driftsync.resources` (the file) and :mod:`driftsync.jobs` (runs, token checks, status).

Tokens are never printed: ``list`` and ``show`` mask them (``drft…ab12``, ``env:VAR``), and a
token typed at the prompt is not echoed. A resource name that does not exist is a one-line
error with exit code 2, like any other wrong argument.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from .config import Secret, clean_token, clean_word
from .errors import ConfigError, DriftSyncError, one_line
from .resources import (
    MANUAL,
    MODES,
    SCHEDULE_FORMS,
    DuckDBDestination,
    OAuthClient,
    Resource,
    ResourceStore,
    UnknownResourceError,
    check_env_name,
    check_name,
    data_left_note,
    default_dataset,
    duckdb_destination,
    mask_url,
    parse_schedule,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

PROMPT = "-"
"""``--token -``: ask for the token (hidden) instead of taking it from the command line."""


@contextmanager
def _known_resource() -> Iterator[None]:
    try:
        yield
    except UnknownResourceError as exc:
        err.print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True)
        sys.exit(2)


def _get(name: str) -> Resource:
    with _known_resource():
        return ResourceStore().get(name)


# -- options shared by add and edit -----------------------------------------------------

def _resource_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--token-env", metavar="VAR",
                     help="Read the token from this environment variable at each run "
                          "(recommended: nothing secret is stored)."),
        click.option("--token", metavar="TOKEN",
                     help="Store this token in resources.toml (mode 600). Give '-' to be "
                          "asked for it without echo; flags end up in shell history."),
        click.option("--tables", "table_names", metavar="NAMES",
                     help="Comma-separated tables to sync [default: all tables]."),
        click.option("--destination", metavar="KIND",
                     help="duckdb (default), postgres, or another dlt destination by name "
                          "(filesystem, bigquery...; published from a local working copy)."),
        click.option("--database", metavar="PATH|URL",
                     help="duckdb: the file [default: <data dir>/NAME.duckdb, schema main]; "
                          "postgres: its URL, stored (prefer --database-env); filesystem: "
                          "the folder or bucket URL."),
        click.option("--database-env", metavar="VAR",
                     help="postgres: the environment variable that holds the URL, read at "
                          "each run (nothing secret is stored)."),
        click.option("--dataset", metavar="SCHEMA",
                     help="Schema in the database [default: main in the resource's own file, "
                          "drift_NAME in a --database you name]."),
        click.option("--schedule", metavar="TEXT",
                     help=f"When it syncs by itself: {SCHEDULE_FORMS} [default: manual]. "
                          "Times are UTC unless a time zone follows."),
        click.option("--mode", type=click.Choice(MODES),
                     help="Update mode of its syncs [default: incremental]."),
        click.option("--api-url", metavar="URL",
                     help="Drift API base URL [default: https://driftapi.com]."),
        click.option("--rate-limit", type=click.IntRange(min=0), metavar="N",
                     help="At most N requests a minute [default, or 0: driftsync's own "
                          "pace for Drift]."),
        click.option("--notify-email", metavar="ADDR", multiple=True,
                     help="E-mail this address when data is ready or a sync fails "
                          "(repeatable; needs --smtp-host)."),
        click.option("--notify-webhook", metavar="URL", multiple=True,
                     help="POST a JSON message (Slack-compatible) to this URL (repeatable)."),
        click.option("--smtp-host", metavar="HOST", help="SMTP server for --notify-email."),
        click.option("--smtp-port", type=click.IntRange(1, 65535), metavar="PORT",
                     help="SMTP port [default: 587 for starttls, 465 for ssl, 25 for none]."),
        click.option("--smtp-security", type=click.Choice(["starttls", "ssl", "none"]),
                     help="SMTP encryption [default: starttls]."),
        click.option("--smtp-user", metavar="USER", help="SMTP login (with --smtp-password-env)."),
        click.option("--smtp-password-env", metavar="VAR",
                     help="Environment variable that holds the SMTP password."),
        click.option("--client-id", metavar="ID",
                     help="OAuth client id, for access tokens that expire: driftsync then "
                          "refreshes them (asks for the client secret and refresh token "
                          "unless their --...-env options are given)."),
        click.option("--client-secret-env", metavar="VAR",
                     help="Environment variable that holds the OAuth client secret."),
        click.option("--refresh-token-env", metavar="VAR",
                     help="Environment variable that holds the OAuth refresh token."),
        click.option("--verify/--no-verify", default=True, show_default=True,
                     help="Check the token and the scopes of the chosen tables with Drift "
                          "before saving."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _ask(what: str) -> str:
    return str(click.prompt(f"Drift {what}", hide_input=True, err=True))


def _token(token: str | None, token_env: str | None,
           must_have: bool) -> tuple[Secret | None, str | None]:
    """The (stored token, token variable) the options ask for."""
    if token is not None and token_env is not None:
        raise ConfigError("Give --token or --token-env, not both.")
    if token_env is not None:
        return None, check_env_name(token_env, "--token-env value")
    if token == PROMPT or (token is None and must_have):
        return Secret(clean_token(_ask("access token"), "the prompt")), None
    if token is not None:
        return Secret(clean_token(token, "--token")), None
    return None, None


def _oauth(client_id: str | None, secret_env: str | None, refresh_env: str | None,
           old: OAuthClient | None = None) -> OAuthClient | None:
    """OAuth settings from the options; a part not given is kept from ``old`` (same client),
    else asked for without echo."""
    client_id = client_id or (old.client_id if old else None)
    if client_id is None:
        if secret_env or refresh_env:
            raise ConfigError("--client-secret-env and --refresh-token-env go with --client-id.")
        return None
    keep = old if old is not None and old.client_id == client_id else None
    parts: dict[str, Any] = {}
    for key, env, what in (("client_secret", secret_env, "OAuth client secret"),
                           ("refresh_token", refresh_env, "OAuth refresh token")):
        if env:
            parts[f"{key}_env"] = check_env_name(env, f"--{key.replace('_', '-')}-env value")
        elif keep is not None:
            parts[key], parts[f"{key}_env"] = getattr(keep, key), getattr(keep, f"{key}_env")
        else:
            parts[key] = Secret(clean_word(_ask(what), what, "the prompt"))
    return OAuthClient(client_id=client_id, **parts)


def _tables(value: str) -> tuple[str, ...]:
    from .catalog import CATALOG, select_tables

    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        example = ",".join(list(CATALOG)[:3])
        raise ConfigError(f"--tables needs table names, e.g. --tables {example}")
    select_tables(list(names))
    return names


def _notify_targets(emails: tuple[str, ...], webhooks: tuple[str, ...],
                    smtp: dict[str, Any]) -> list[dict[str, Any]]:
    """Raw targets in the shape :func:`driftsync.notify.targets_from_config` reads."""
    targets: list[dict[str, Any]] = []
    if emails:
        if not smtp.get("host"):
            raise ConfigError("--notify-email needs --smtp-host, the SMTP server that sends "
                              "the mail.")
        target: dict[str, Any] = {"type": "email", "to": list(emails), "host": smtp["host"]}
        for key in ("port", "security", "user", "password_env"):
            if smtp.get(key) is not None:
                target[key] = smtp[key]
        targets.append(target)
    elif any(value is not None for value in smtp.values()):
        raise ConfigError("The --smtp-... options go with --notify-email.")
    targets.extend({"type": "webhook", "url": url} for url in webhooks)
    return targets


def _database(value: str) -> Path:
    """A path typed on the command line means from here, not from the data directory."""
    return Path(value).expanduser().absolute()


# -- the group ----------------------------------------------------------------------------

@click.group("resource")
def resource() -> None:
    """Set up Drift workspaces once, then sync them by name or on a schedule.

    \b
    Examples:
      export ACME_DRIFT_TOKEN=...
      driftsync resource add acme --token-env ACME_DRIFT_TOKEN --schedule "every 2h"
      driftsync resource list
      driftsync sync acme
      driftsync status

    Resources are kept in resources.toml in the driftsync data directory ($DRIFTSYNC_HOME,
    else the folder of the config file), readable by its owner only.
    """


@resource.command("add")
@click.argument("name")
@_resource_options
@click.option("--paused", is_flag=True, help="Add it paused: the scheduler skips it.")
def add(name: str, token_env: str | None, token: str | None, table_names: str | None,
        destination: str | None, database: str | None, database_env: str | None,
        dataset: str | None, schedule: str | None, mode: str | None,
        api_url: str | None, rate_limit: int | None, notify_email: tuple[str, ...],
        notify_webhook: tuple[str, ...], smtp_host: str | None, smtp_port: int | None,
        smtp_security: str | None, smtp_user: str | None, smtp_password_env: str | None,
        client_id: str | None, client_secret_env: str | None, refresh_token_env: str | None,
        verify: bool, paused: bool) -> None:
    """Add a resource: check its token and scopes with Drift, then save it.

    \b
    Examples:
      driftsync resource add acme --token-env ACME_DRIFT_TOKEN
      driftsync resource add beta --token - --tables accounts,users --schedule "daily 06:30 Europe/Berlin"
      driftsync resource add eu --token-env EU_TOKEN --database ~/data/drift.duckdb --paused

    Without --token or --token-env, the token is asked for (not echoed) and stored.
    """
    from . import jobs

    store = ResourceStore()
    store.ensure_absent(check_name(name))
    stored, env = _token(token, token_env, must_have=client_id is None)
    smtp = {"host": smtp_host, "port": smtp_port, "security": smtp_security, "user": smtp_user,
            "password_env": smtp_password_env}
    new = Resource(
        name=name,
        destination=_destination(name, destination, database, database_env, dataset),
        token=stored,
        token_env=env,
        oauth=_oauth(client_id, client_secret_env, refresh_token_env),
        tables=_tables(table_names) if table_names is not None else None,
        schedule=parse_schedule(schedule) if schedule else MANUAL,
        state="paused" if paused else "enabled",
        mode=mode or "incremental",  # type: ignore[arg-type]
        notify=tuple(_notify_targets(notify_email, notify_webhook, smtp)),
        api_url=api_url,
        rate_limit=rate_limit or None,
    )
    jobs.check_destination(new.destination)
    if verify and env is not None and not os.environ.get(env):
        # Said here: the check's own message would send the user to 'resource edit' for a
        # resource that does not exist yet.
        raise ConfigError(f"{env} is not set, so the token cannot be checked. Export it "
                          f"(export {env}=...) and run this again, or add the resource with "
                          "--no-verify if only the scheduler's environment sets it.")
    url_env = getattr(new.destination, "url_env", None)
    if verify and url_env is not None and not os.environ.get(url_env):
        raise ConfigError(f"{url_env} is not set, so the database URL cannot be checked. "
                          f"Export it (export {url_env}=postgresql://...) and run this again, "
                          "or add the resource with --no-verify if only the scheduler's "
                          "environment sets it.")
    check = jobs.verify_resource(new) if verify else None
    store.add(new)
    out.print(f"Added resource '{name}': {_describe(new)}.", markup=False)
    _say_verified(check, skipped=not verify)
    out.print(f"Sync it now: driftsync sync {name}", markup=False)


@resource.command("edit")
@click.argument("name")
@_resource_options
@click.option("--all-tables", is_flag=True, help="Sync every table again (undoes --tables).")
@click.option("--paused/--enabled", "paused", default=None,
              help="Pause the resource (the scheduler skips it) or enable it.")
@click.option("--clear-notify", is_flag=True,
              help="Remove every notification target (before adding any given here).")
@click.option("--no-oauth", is_flag=True, help="Drop the OAuth client settings.")
def edit(name: str, token_env: str | None, token: str | None, table_names: str | None,
         destination: str | None, database: str | None, database_env: str | None,
         dataset: str | None, schedule: str | None, mode: str | None,
         api_url: str | None, rate_limit: int | None, notify_email: tuple[str, ...],
         notify_webhook: tuple[str, ...], smtp_host: str | None, smtp_port: int | None,
         smtp_security: str | None, smtp_user: str | None, smtp_password_env: str | None,
         client_id: str | None, client_secret_env: str | None, refresh_token_env: str | None,
         verify: bool, all_tables: bool, paused: bool | None, clear_notify: bool,
         no_oauth: bool) -> None:
    """Change a resource; options left out keep their value. A new token, OAuth client,
    API URL or table choice is checked with Drift before saving (unless --no-verify).

    \b
    Examples:
      driftsync resource edit acme --schedule "weekly mon 06:30 Europe/Berlin"
      driftsync resource edit acme --token -          # asks for the new token
      driftsync resource edit acme --tables accounts --mode full-refresh
    """
    from . import jobs

    old = _get(name)
    changes: dict[str, Any] = {}
    if token is not None or token_env is not None:
        changes["token"], changes["token_env"] = _token(token, token_env, must_have=False)
    if all_tables and table_names is not None:
        raise ConfigError("Give --tables or --all-tables, not both.")
    if all_tables:
        changes["tables"] = None
    elif table_names is not None:
        changes["tables"] = _tables(table_names)
    if destination is not None or database_env is not None or (
        (database is not None or dataset is not None)
        and not isinstance(old.destination, DuckDBDestination)
    ):
        changes["destination"] = _destination(name, destination or old.destination.kind,
                                              database, database_env, dataset)
    elif database is not None or dataset is not None:
        changes["destination"] = _moved(old, database, dataset)
    if schedule is not None:
        changes["schedule"] = parse_schedule(schedule)
    if paused is not None:
        changes["state"] = "paused" if paused else "enabled"
    if mode is not None:
        changes["mode"] = mode
    if api_url is not None:
        changes["api_url"] = api_url
    if rate_limit is not None:
        changes["rate_limit"] = rate_limit or None
    if no_oauth and client_id is not None:
        raise ConfigError("Give --client-id or --no-oauth, not both.")
    if no_oauth:
        changes["oauth"] = None
    elif client_id is not None or client_secret_env or refresh_token_env:
        changes["oauth"] = _oauth(client_id, client_secret_env, refresh_token_env, old.oauth)
    smtp = {"host": smtp_host, "port": smtp_port, "security": smtp_security, "user": smtp_user,
            "password_env": smtp_password_env}
    added = _notify_targets(notify_email, notify_webhook, smtp)
    if clear_notify or added:
        kept = [] if clear_notify else [t for t in old.notify if t not in added]
        changes["notify"] = tuple(kept + added)
    if not changes:
        raise ConfigError(f"Nothing to change; see 'driftsync resource edit --help' "
                          f"(and 'driftsync resource show {name}').")
    new = replace(old, **changes)
    if "destination" in changes:
        jobs.check_destination(new.destination)
    access = ("token", "token_env", "oauth", "tables", "api_url")
    recheck = any(getattr(new, key) != getattr(old, key) for key in access)
    check = jobs.verify_resource(new, saved=True) if recheck and verify else None
    with _known_resource():
        ResourceStore().replace(new)
    out.print(f"Changed resource '{name}': {_describe(new)}.", markup=False)
    _say_verified(check, skipped=recheck and not verify)


def _destination(name: str, kind: str | None, database: str | None, database_env: str | None,
                 dataset: str | None) -> Any:
    """The destination that --destination, --database, --database-env and --dataset ask for."""
    from .resources import postgres_resource_destination, published_resource_destination

    chosen = (kind or "duckdb").strip().lower()
    if database_env is not None and chosen != "postgres":
        raise ConfigError("--database-env goes with --destination postgres.")
    if chosen == "duckdb":
        return duckdb_destination(name, _database(database) if database else None, dataset)
    if chosen in ("postgres", "postgresql"):
        if database is None and database_env is None:
            raise ConfigError("--destination postgres needs --database-env VAR (the variable "
                              "that holds postgresql://USER:PASSWORD@HOST:PORT/DB) or --database.")
        if database is not None and database_env is not None:
            raise ConfigError("Give --database or --database-env, not both.")
        return postgres_resource_destination(name, database, database_env, dataset)
    return published_resource_destination(name, chosen, database, dataset)


def _moved(old: Resource, database: str | None, dataset: str | None) -> DuckDBDestination:
    current = old.destination
    if not isinstance(current, DuckDBDestination):
        raise ConfigError(f"Resource '{old.name}' does not write to DuckDB; edit its "
                          "[destination] in resources.toml.")
    path = _database(database) if database is not None else current.database
    if dataset is None and current.dataset != default_dataset(old.name, current.database):
        dataset = current.dataset  # chosen by the user before: keep it
    return duckdb_destination(old.name, path, dataset)


def _say_verified(check: Any, *, skipped: bool) -> None:
    if skipped:
        out.print("The token was not checked with Drift (--no-verify).")
    elif check is not None:
        out.print(f"Token OK (from {check.source}) for Drift org {check.org}.", markup=False)


def _describe(resource: Resource) -> str:
    tables = ", ".join(resource.tables) if resource.tables is not None else "all tables"
    return (f"{tables} into {resource.destination.describe()}; schedule {resource.schedule}; "
            f"{resource.state}")


@resource.command("list")
def list_() -> None:
    """List the resources: tables, destination, schedule, state and masked token."""
    resources = ResourceStore().load()
    if not resources:
        out.print("No resources yet. Add one: driftsync resource add NAME --token-env VAR",
                  markup=False)
        return
    grid = RichTable(box=None, pad_edge=False, header_style="bold")
    for column in ("name", "tables", "destination", "schedule", "state", "token"):
        grid.add_column(column, overflow="fold")
    for r in resources.values():
        tables = ",".join(r.tables) if r.tables is not None else "all"
        grid.add_row(r.name, tables, r.destination.describe(), str(r.schedule), r.state,
                     r.masked_token())
    (out if out.is_terminal else Console(highlight=False, width=200)).print(grid)


@resource.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Show every setting of a resource (tokens masked, webhook URLs shortened)."""
    r = _get(name)
    from .api.client import DEFAULT_API_URL
    from .catalog import CATALOG
    from .resources import resources_path, token_store_path

    rows: list[tuple[str, str]] = [
        ("name", r.name),
        ("state", r.state),
        ("token", r.masked_token()),
        ("api url", r.api_url or f"{DEFAULT_API_URL} (default)"),
        ("tables", ", ".join(r.tables) if r.tables is not None
         else f"all ({', '.join(CATALOG)})"),
        ("destination", f"{r.destination.kind} {r.destination.describe()}"),
        ("schedule", str(r.schedule)),
        ("mode", r.mode),
        ("rate limit", f"{r.rate_limit} requests a minute" if r.rate_limit else "default (600 a minute on Drift's hosts)"),
    ]
    if r.oauth is not None:
        rows.append(("oauth", r.oauth.describe()))
        rows.append(("token store", str(token_store_path(r.name))))
    targets = [_notify_line(t) for t in r.notify] or ["none"]
    rows += [("notify" if i == 0 else "", line) for i, line in enumerate(targets)]
    rows.append(("file", str(resources_path())))
    for key, value in rows:
        out.print(f"{key:<12} {value}", markup=False)


def _notify_line(target: dict[str, Any]) -> str:
    """A target's settings, with the values that may be credentials hidden."""
    parts = [str(target.get("type", "?"))]
    for key, value in target.items():
        if key == "type":
            continue
        if key == "url" and isinstance(value, str):
            value = mask_url(value)
        elif key == "headers" and isinstance(value, dict):
            value = "{" + ", ".join(f"{k}: ****" for k in value) + "}"
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return " ".join(parts)


@resource.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove(name: str, yes: bool) -> None:
    """Forget a resource. Its synced data stays where it is."""
    r = _get(name)
    left = data_left_note(r)
    if not yes:
        click.confirm(f"Remove resource '{name}'? {left}", abort=True, err=True)
    with _known_resource():
        ResourceStore().remove(name)
    if left.startswith("Its data stays"):
        left = left.removesuffix(".") + "; delete it yourself if you no longer need it."
    out.print(f"Removed resource '{name}'. {left}", markup=False)


@resource.command("pause")
@click.argument("name")
def pause(name: str) -> None:
    """Pause a resource: the scheduler skips it ('driftsync sync NAME' still runs it)."""
    _get(name)
    with _known_resource():
        ResourceStore().set_state(name, "paused")
    out.print(f"Paused resource '{name}'; resume it with: driftsync resource resume {name}",
              markup=False)


@resource.command("resume")
@click.argument("name")
def resume(name: str) -> None:
    """Enable a paused resource again: the scheduler runs it on its schedule."""
    _get(name)
    with _known_resource():
        r = ResourceStore().set_state(name, "enabled")
    out.print(f"Resumed resource '{name}' (schedule {r.schedule}).", markup=False)


# -- sync and status for resources (called from driftsync sync / status) -----------------

def sync_resources(name: str | None, all_resources: bool, *, mode: str | None,
                   lookback_ms: int | None, conversation_details: bool, timeout: float,
                   retries: int, plain: dict[str, Any]) -> None:
    """``driftsync sync NAME`` or ``driftsync sync --all``; exits 1 if anything failed.

    ``plain`` maps the flags of a plain sync that a resource replaces (``--tables``...) to
    their values, None when not given.
    """
    if name is not None and all_resources:
        raise ConfigError("Give a resource name or --all, not both.")
    conflicting = [flag for flag, value in plain.items() if value is not None]
    if conflicting:
        raise ConfigError(
            f"{conflicting[0]} does not go with a resource: it has its own; change it with "
            f"'driftsync resource edit {name or 'NAME'}'."
        )
    if name is not None:
        r = _get(name)
        ok = _sync_one(r, mode, lookback_ms, conversation_details, timeout, retries,
                       prefix="")
        if not ok:
            sys.exit(1)
        return
    resources = ResourceStore().load()
    if not resources:
        raise ConfigError("No resources yet; add one with 'driftsync resource add NAME'.")
    failed: list[str] = []
    enabled = [r for r in resources.values() if r.enabled]
    for r in resources.values():
        if not r.enabled:
            out.print(f"Skipped resource '{r.name}': paused.", markup=False)
            continue
        out.print(f"[bold]Resource {escape(r.name)}[/]")
        try:
            ok = _sync_one(r, mode, lookback_ms, conversation_details, timeout, retries,
                           prefix=f"{r.name}: ")
        except DriftSyncError as exc:
            text = one_line(str(exc))
            if f"'{r.name}'" not in text:
                text = f"{r.name}: {text}"
            err.print(f"[bold red]Error:[/] {escape(text)}", markup=True)
            ok = False
        if not ok:
            failed.append(r.name)
    synced = len(enabled) - len(failed)
    summary = f"Synced {synced} of {len(enabled)} enabled resources"
    out.print(summary + (f"; failed: {', '.join(failed)}." if failed else "."), markup=False)
    if failed:
        sys.exit(1)


def _sync_one(r: Resource, mode: str | None, lookback_ms: int | None,
              conversation_details: bool, timeout: float, retries: int, prefix: str) -> bool:
    from .cli import _print_problems, _print_summary, _ProgressListener
    from .jobs import run_resource

    with _ProgressListener() as listener:
        result = run_resource(r, listener, mode=mode,  # type: ignore[arg-type]
                              lookback_ms=lookback_ms, conversation_details=conversation_details,
                              timeout=timeout, retries=retries)
    where = (r.destination.database if isinstance(r.destination, DuckDBDestination)
             else r.destination.describe())
    _print_summary(result.tables, result.seconds, where)  # type: ignore[arg-type]
    _print_problems(result.tables, prefix)
    return bool(result.ok)


def has_resources() -> bool:
    return bool(ResourceStore().load())


def show_status(name: str | None, limit: int, now: datetime | None = None) -> None:
    """``driftsync status [NAME]``: per resource its state, last and next run, table rows."""
    from .jobs import resource_status

    now = now or datetime.now(UTC)
    if name is not None:
        resources = [_get(name)]
    else:
        resources = list(ResourceStore().load().values())
    for i, r in enumerate(resources):
        if i:
            out.print()
        status = resource_status(r, limit=limit if name else 1, now=now, count_rows=True)
        _print_status(status)


def _print_status(status: Any) -> None:
    r = status.resource
    colour = {"ready": "green", "failed": "red", "unavailable": "red",
              "syncing": "yellow", "paused": "yellow"}.get(status.state, "default")
    out.print(f"[bold]{escape(r.name)}[/]  [{colour}]{status.state}[/]")
    lines = [("destination", r.destination.describe())]
    if status.problem:
        lines.append(("problem", one_line(status.problem)))
    schedule = str(r.schedule)
    if status.next_run is not None:
        schedule += f", next run {_when(status.next_run)}"
    elif not r.enabled:
        schedule += ", paused"
    lines.append(("schedule", schedule))
    if status.syncing_since is not None:
        lines.append(("syncing", f"since {_when(status.syncing_since)}"))
    elif not status.runs:
        lines.append(("last run", "never"))
    for key, value in lines:
        out.print(f"  {key:<12} {value}", markup=False)
    for n, record in enumerate(status.runs):
        took = (f" in {record.seconds:.1f}s" if record.seconds is not None else "")
        label = "last run" if n == 0 else ""
        text = f"{_when(record.started_at)} {record.status}{took} (run {record.run_id[:8]})"
        if record.error and record.status != "failed":
            text += f": {one_line(record.error)}"
        out.print(f"  {label:<12} {text}", markup=False)
        for t in record.tables:
            rows = (f"{t.rows:,} rows, {t.written:,} written" if t.status == "succeeded"
                    else "- rows")
            line = f"    {t.table:<28} {t.mode:<11} {t.status:<9} {rows}"  # longest: 28
            if t.error:
                line += f"  {one_line(t.error)}"
            out.print(line, markup=False)
    for n, (table, count) in enumerate(status.totals.items()):
        out.print(f"  {'in tables' if n == 0 else '':<12} {table:<28} {count:>11,} rows",
                  markup=False)


def _when(moment: datetime) -> str:
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %Z")


