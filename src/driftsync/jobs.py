"""Run one resource, check its token, read its status: what the CLI, the scheduler and the
web app share, so each of them is only a shell.

The Drift client is built here for plain commands too (:func:`drift_client`, from
:class:`~driftsync.config.Settings`); a resource is first turned into such settings
(:func:`resource_settings`), so both take the same path to Drift: bearer token, or OAuth
refresh with a token store. Heavy modules (the engine, dlt) are imported only when a run or
a status needs them.

A resource's run also notifies its targets (:mod:`driftsync.notify`) and keeps a small live
state file, ``<data dir>/state/<name>.json``: "syncing" with the process id while it runs,
then how it ended. DuckDB locks the database file for the whole run, so that file is how
``driftsync status`` knows a sync is going on; a file left "syncing" by a process that no
longer exists (killed) is ignored. ``driftsync serve`` adds ``state/serve.json`` with its
next planned runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx

from .api.client import DEFAULT_API_URL, DEFAULT_TIMEOUT
from .config import DEFAULT_DATABASE, Settings, TokenStore, _write_private
from .errors import ConfigError, DriftSyncError
from .resources import (
    DestinationSettings,
    DuckDBDestination,
    PostgresResourceDestination,
    PublishedResourceDestination,
    Resource,
    data_dir,
    token_store_path,
)

if TYPE_CHECKING:
    from .api import DriftClient
    from .destinations import Role
    from .engine import Mode, SyncListener, SyncResult
    from .load import Warehouse
    from .runs import RunRecord

DEFAULT_RETRIES = 5

log = logging.getLogger("driftsync.jobs")


# -- the Drift client -------------------------------------------------------------------

def auth_for(settings: Settings, store: TokenStore | None = None) -> tuple[httpx.Auth, str]:
    """The httpx auth for ``settings`` and where its token comes from (for messages).

    OAuth refresh when client id, secret and refresh token are all set, with rotated tokens
    kept in ``store`` (default: ``tokens.toml`` beside the config file); else the access
    token alone.
    """
    from functools import partial

    from .api import BearerAuth, RefreshingAuth

    oauth = settings.oauth()  # ConfigError naming what is missing from a partial set
    if oauth is None:
        return BearerAuth(settings.require_token().reveal()), settings.token_source
    store = store or TokenStore()
    start = store.starting_tokens(oauth, settings.token)
    auth = RefreshingAuth(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret.reveal(),
        refresh_token=start.refresh_token.reveal(),
        access_token=start.access_token.reveal() if start.access_token else None,
        on_refresh=partial(store.save, oauth),
    )
    return auth, f"OAuth client {oauth.client_id}, refresh token from {start.source}"


def drift_client(
    settings: Settings,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    *,
    credentials: tuple[httpx.Auth, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    rate_limit: int | None = None,
    token_help: str | None = None,
) -> DriftClient:
    """A DriftClient for ``settings``. ``credentials`` is ``auth_for(settings)`` when the
    caller needs it too; ``transport`` is the seam for tests; ``rate_limit`` caps requests
    per minute, 0 means no limit, None the client's own default (a conservative pace on
    Drift's hosts, none elsewhere)."""
    from .api import DriftClient, RetryPolicy

    auth, _ = credentials or auth_for(settings)
    pace: dict[str, Any] = {} if rate_limit is None else {
        "requests_per_minute": rate_limit or None}
    return DriftClient(
        auth=auth,
        base_url=settings.api_url,
        timeout=timeout,
        retry=RetryPolicy(max_attempts=retries + 1),
        transport=transport,
        **pace,
        **({"token_help": token_help} if token_help else {}),
    )


# -- resources --------------------------------------------------------------------------

def resource_settings(resource: Resource) -> Settings:
    """The resource as the settings a plain command would resolve, environment read now."""
    oauth = resource.oauth.settings(resource.name) if resource.oauth else None
    database = (resource.destination.database
                if isinstance(resource.destination, DuckDBDestination) else DEFAULT_DATABASE)
    return Settings(
        token=resource.access_token(),
        token_source=resource.token_source,
        api_url=resource.api_url or DEFAULT_API_URL,
        database=database,
        client_id=oauth.client_id if oauth else None,
        client_secret=oauth.client_secret if oauth else None,
        refresh_token=oauth.refresh_token if oauth else None,
        refresh_token_source=oauth.refresh_token_source if oauth else "none",
    )


def resource_client(
    resource: Resource,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    transport: httpx.BaseTransport | None = None,
    saved: bool = True,
) -> tuple[DriftClient, str]:
    """A client for the resource's workspace, and where its token comes from. ``saved``:
    the resource is in resources.toml already (not one being added), which decides what a
    rejected token's error tells the user to do."""
    settings = resource_settings(resource)
    creds = auth_for(settings, TokenStore(token_store_path(resource.name)))
    client = drift_client(settings, timeout, retries, credentials=creds, transport=transport,
                          rate_limit=resource.rate_limit,
                          token_help=resource_token_help(resource, saved))
    return client, creds[1]


def resource_token_help(resource: Resource, saved: bool = True) -> str:
    """How to fix a rejected token of ``resource``: where its token comes from."""
    if not saved:
        return ("Copy a fresh OAuth access token from your Drift app (dev.drift.com > your app "
                "> Installing to Drift) and give that one.")
    name = resource.name
    if resource.token_env is not None:
        given = f"put a working token in {resource.token_env}"
    elif resource.token is not None:
        given = f"store a working one with: driftsync resource edit {name} --token -"
    else:
        given = f"set up its OAuth client again with: driftsync resource edit {name}"
    return (f"Resource '{name}' needs a fresh OAuth access token from your Drift app "
            f"(dev.drift.com > your app > Installing to Drift): {given}.")


def open_warehouse(destination: DestinationSettings, role: Role = "sync",
                   resource: str = "") -> Warehouse:
    """The warehouse for a resource's destination (it holds the database until closed);
    ``role="read"`` for a look at the run history (see :mod:`driftsync.destinations`)."""
    from . import destinations
    from .load import Destination

    if isinstance(destination, DuckDBDestination):
        return destinations.open_warehouse(
            Destination(database=destination.database, dataset=destination.dataset))
    if isinstance(destination, PostgresResourceDestination):
        return destinations.open_warehouse(destination.settings(resource), role)
    if isinstance(destination, PublishedResourceDestination):
        if role == "read":  # the run history is in the working copy
            return destinations.open_warehouse(Destination(database=destination.working_copy))
        return destinations.open_warehouse(destination.settings())
    raise ConfigError(f"Destination kind {destination.kind!r} cannot be synced yet.")


def check_destination(destination: DestinationSettings) -> None:
    """Refuse, before saving, a destination that could never be opened."""
    from .load import Destination

    if isinstance(destination, PublishedResourceDestination):
        folder = destination.working_copy.parent
        if not folder.is_dir() and folder != data_dir():
            raise ConfigError(
                f"Folder {folder} for the working copy does not exist; create it or choose "
                "another working copy."
            )
    if isinstance(destination, DuckDBDestination):
        Destination(database=destination.database, dataset=destination.dataset)
        folder = destination.database.parent
        if not folder.is_dir() and folder != data_dir():  # the data dir is made on save
            raise ConfigError(
                f"Folder {folder} for the database does not exist; create it or choose "
                "another --database."
            )


@dataclass(frozen=True)
class TokenCheck:
    """What Drift said about a resource's token."""

    org: str
    scopes: frozenset[str]
    source: str


def verify_resource(
    resource: Resource,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    transport: httpx.BaseTransport | None = None,
    saved: bool = False,
) -> TokenCheck:
    """Ask Drift about the token (``POST /app/token_info``) and check that it grants the
    scope of every chosen table; an ApiError for a bad token, a ConfigError for a scope.
    ``saved``: the resource is already in resources.toml (an edit, not an add)."""
    client, source = resource_client(resource, timeout=timeout, retries=retries,
                                     transport=transport, saved=saved)
    with client:
        info = client.token_info()
    granted = frozenset(str(info.get("scope", "")).split())
    check_scopes(resource.table_names(), granted)
    org = str(info.get("authenticated_userid", "")).removeprefix("orgId:") or "unknown"
    return TokenCheck(org, granted, source)


def check_scopes(tables: list[str], granted: frozenset[str]) -> None:
    """ConfigError naming each chosen table whose scope (or a parent table's) is missing."""
    from .catalog import select_tables

    missing = [t for t in select_tables(tables) if t.scope not in granted]
    if not missing:
        return
    needs = ", ".join(f"'{t.scope}' (for {t.name})" for t in missing)
    one = len(missing) == 1
    message = (f"The token lacks {needs}. Add {'it' if one else 'them'} under SETTINGS > "
               "OAuth & Scopes in your Drift app and reinstall the app")
    readable = [name for name in tables
                if all(t.scope in granted for t in select_tables([name]))]
    if readable:
        message += (f", or leave {'that table' if one else 'those tables'} out with "
                    f"--tables {','.join(readable)}")
    raise ConfigError(message + ".")


def run_resource(
    resource: Resource,
    listener: SyncListener | None = None,
    *,
    mode: Mode | None = None,
    lookback_ms: int | None = None,
    conversation_details: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    transport: httpx.BaseTransport | None = None,
) -> SyncResult:
    """Sync the resource's tables into its destination, in its mode unless ``mode`` is
    given, and record the run there. A paused resource runs too: pausing only stops the
    scheduler. Raises DriftSyncError when the run cannot start (token variable unset,
    database held by another process); a table's own failure is in the result.

    Then the resource's notification targets hear about it: the result of the run (a
    success counts as the first one when none was recorded in the destination before), or
    the one-line error of a run that could not go on (then re-raised). An interrupted run
    (KeyboardInterrupt) notifies nobody. Notifying never raises, so it never fails a sync.
    """
    from .engine import SyncOptions, run_sync
    from .notify import RunReport, notify

    options: dict[str, Any] = {
        "tables": list(resource.tables) if resource.tables is not None else None,
        "mode": mode or resource.mode,
        "conversation_details": conversation_details,
    }
    if lookback_ms is not None:
        options["lookback_ms"] = lookback_ms
    targets = _targets(resource)
    where = resource.destination.describe()
    started = datetime.now(UTC)
    try:
        client, _ = resource_client(resource, timeout=timeout, retries=retries,
                                    transport=transport)
        with client, open_warehouse(resource.destination, resource=resource.name) as warehouse:
            first_success = not _succeeded_before(warehouse)
            result = _live_run(resource.name, lambda: run_sync(
                client, warehouse, SyncOptions(**options), listener))
    except DriftSyncError as exc:
        notify(targets, RunReport.failure(resource.name, str(exc), where, started_at=started,
                                          finished_at=datetime.now(UTC)))
        raise
    # After the database is released: a slow receiver must not keep it locked.
    notify(targets, RunReport.from_result(resource.name, result, first_success=first_success,
                                          destination=where))
    return result


def _targets(resource: Resource) -> list[Any]:
    """The resource's notification targets; a bad one is logged, never stops the sync."""
    from .notify import targets_from_config

    if not resource.notify:
        return []
    try:
        return targets_from_config(list(resource.notify))
    except ConfigError as exc:
        log.warning("resource '%s' notifies nobody: %s", resource.name, exc)
        return []


def _succeeded_before(warehouse: Warehouse) -> bool:
    """Does the destination hold a succeeded run? Decides the "data is ready" mail."""
    from .runs import RUNS

    if not warehouse.has_table(RUNS):
        return False
    rows = warehouse.execute(
        f"SELECT count(*) FROM {warehouse.qualified(RUNS)} WHERE status = 'succeeded'")
    return bool(rows[0][0])


# -- live state: what `driftsync status` cannot read from a locked database -----------------

STATE_DIR = "state"
SCHEDULER_STATE = "serve"
"""``state/serve.json``: the pid of ``driftsync serve`` and its next planned runs."""

LiveStatus = Literal["syncing", "succeeded", "failed", "interrupted"]


@dataclass(frozen=True)
class LiveState:
    """The content of ``state/<name>.json``. No secret ever goes in it."""

    state: LiveStatus
    pid: int
    started_at: datetime
    process: str | None = None
    """When the process ``pid`` started (see :func:`process_tag`): a pid reused by another
    program after a crash or reboot is then not mistaken for the sync."""
    finished_at: datetime | None = None
    run_id: str | None = None
    rows: int = 0
    """Records read by the tables that succeeded."""
    written: int = 0
    error: str | None = None

    @property
    def active(self) -> bool:
        """A sync is going on right now (and not a stale file of a killed one)."""
        return self.state == "syncing" and process_alive(self.pid, self.process)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("started_at", "finished_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> LiveState | None:
        try:
            data = json.loads(text)
            data["started_at"] = datetime.fromisoformat(data["started_at"])
            if data.get("finished_at"):
                data["finished_at"] = datetime.fromisoformat(data["finished_at"])
            return cls(**data)
        except (ValueError, TypeError, KeyError):
            return None  # half-written or from another version: as if absent


def state_path(name: str) -> Path:
    """``<data dir>/state/<name>.json``: a resource's live state (``serve`` for the
    scheduler's)."""
    return data_dir() / STATE_DIR / f"{name}.json"


def read_live(name: str) -> LiveState | None:
    try:
        return LiveState.from_json(state_path(name).read_text(encoding="utf-8"))
    except OSError:
        return None


def write_live(name: str, state: LiveState) -> None:
    write_state_file(name, state.to_json())


def write_state_file(name: str, text: str) -> None:
    """Best effort: a state file that cannot be written is logged, never stops a sync."""
    try:
        _write_private(state_path(name), text)
    except OSError as exc:
        log.warning("cannot write %s: %s", state_path(name), exc.strerror or exc)


def process_tag(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux); None elsewhere."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (command) "
    return fields[19] if len(fields) > 19 else None


def process_alive(pid: int, tag: str | None = None) -> bool:
    """Is ``pid`` running, and (when ``tag`` is known) the same process that wrote it?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    return tag is None or process_tag(pid) in (None, tag)


def _live_run(name: str, run: Callable[[], SyncResult]) -> SyncResult:
    """``run()``, with the live state file saying "syncing" meanwhile and how it ended after.

    Called while the destination is held, so only the process holding it writes the file.
    """
    pid = os.getpid()
    begun = LiveState("syncing", pid, datetime.now(UTC), process=process_tag(pid))
    write_live(name, begun)
    try:
        result = run()
    except KeyboardInterrupt:
        write_live(name, _ended(begun, "interrupted"))
        raise
    except BaseException as exc:
        write_live(name, _ended(begun, "failed", error=" ".join(str(exc).split())))
        raise
    failed = next((t for t in result.tables if t.status == "failed"), None)
    write_live(name, _ended(
        begun, "succeeded" if result.ok else "failed", run_id=result.run_id,
        rows=sum(t.rows for t in result.tables if t.status == "succeeded"),
        written=sum(t.written for t in result.tables if t.status == "succeeded"),
        error=f"{failed.table}: {' '.join((failed.error or 'failed').split())}" if failed
        else None))
    return result


def _ended(begun: LiveState, state: LiveStatus, **facts: Any) -> LiveState:
    return LiveState(state, begun.pid, begun.started_at, process=begun.process,
                     finished_at=datetime.now(UTC), **facts)


def planned_next_run(name: str) -> tuple[bool, datetime | None]:
    """``(True, next run)`` when a live ``driftsync serve`` plans this resource."""
    try:
        data = json.loads(state_path(SCHEDULER_STATE).read_text(encoding="utf-8"))
        pid, tag, planned = int(data["pid"]), data.get("process"), data["next_runs"]
    except (OSError, ValueError, TypeError, KeyError):
        return False, None
    if not isinstance(planned, dict) or name not in planned or not process_alive(pid, tag):
        return False, None
    value = planned[name]
    try:
        return True, datetime.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return False, None


StatusState = Literal["never synced", "syncing", "ready", "failed", "paused", "unavailable"]


@dataclass(frozen=True)
class ResourceStatus:
    """A resource's state, its latest runs (newest first) and its next scheduled run.

    ``unavailable``: the destination could not be read (``problem`` says why; for DuckDB
    usually a sync or another program holding the file). ``syncing``: a sync holds the
    destination since ``syncing_since`` (its runs are not read meanwhile). ``failed`` with a
    ``problem`` and no new run: the latest attempt could not even start (e.g. the token
    variable was not set for ``driftsync serve``).
    """

    resource: Resource
    state: StatusState
    next_run: datetime | None
    runs: list[RunRecord] = field(default_factory=list)
    problem: str | None = None
    syncing_since: datetime | None = None
    totals: dict[str, int] = field(default_factory=dict)
    """Rows in each of the resource's tables now (tables not created yet are left out); only
    when asked for (``count_rows``): the web app polls the status and counts on its own."""

    @property
    def last_run(self) -> RunRecord | None:
        return self.runs[0] if self.runs else None


def resource_status(resource: Resource, *, limit: int = 1, now: datetime | None = None,
                    count_rows: bool = False) -> ResourceStatus:
    """Read the resource's run history from its destination; never creates a database.

    While a sync runs (its live state file says so, and its process is alive) the database
    is not opened: DuckDB holds it for the sync, and opening it could delay the sync.
    """
    from .runs import recent_runs

    history: list[RunRecord] = []
    totals: dict[str, int] = {}
    problem = None
    live = read_live(resource.name)
    syncing_since = live.started_at if live is not None and live.active else None
    destination = resource.destination
    if syncing_since is None and not (
        isinstance(destination, DuckDBDestination | PublishedResourceDestination)
        and not destination.database.exists()
    ):
        try:
            with open_warehouse(destination, "read", resource.name) as warehouse:
                history = recent_runs(warehouse, max(limit, 20))
                totals = _totals(warehouse, resource) if count_rows else {}
        except DriftSyncError as exc:
            problem = str(exc)
    runs = history[:limit]
    last = runs[0] if runs else None
    # An interrupted run (serve stopped, the machine went down) changed no table it had not
    # finished, so the data is as the run before it left it: that run decides the state.
    decisive = next((r for r in history if r.status != "interrupted"), last)
    attempt_failed = (  # an attempt after the last recorded run that never got to record one
        live is not None and live.state == "failed" and live.run_id is None
        and (last is None or live.started_at > last.started_at)
    )
    state: StatusState
    if syncing_since is not None:
        state = "syncing"
    elif problem is not None:
        state = "unavailable"
    elif last is not None and last.status == "running":
        state = "syncing"
    elif not resource.enabled:
        state = "paused"
    elif attempt_failed:
        state, problem = "failed", live.error if live is not None else None
    elif last is None:
        state = "never synced"
    else:
        state = "ready" if decisive is not None and decisive.status == "succeeded" else "failed"
    next_run = None
    if resource.enabled:
        planned, next_run = planned_next_run(resource.name)
        if not planned:
            anchor = syncing_since or (last.started_at if last else None)
            next_run = resource.schedule.next_run(now or datetime.now(UTC), anchor)
    return ResourceStatus(resource, state, next_run, runs, problem, syncing_since, totals)


def _totals(warehouse: Warehouse, resource: Resource) -> dict[str, int]:
    """Rows per table of ``resource`` that exists in ``warehouse`` (parents included)."""
    from .catalog import select_tables

    counts: dict[str, int] = {}
    for table in select_tables(resource.table_names()):
        if warehouse.has_table(table.name):
            [(n,)] = warehouse.execute(f"SELECT count(*) FROM {warehouse.qualified(table.name)}")
            counts[table.name] = int(n)
    return counts
