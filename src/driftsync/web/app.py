"""The web app: server-rendered pages over the resources store, the scheduler and the data.

:func:`create_app` builds the Starlette app. It owns nothing long-lived but a
:class:`WebState`: the :class:`~driftsync.scheduler.Scheduler` that runs syncs as child
processes (``driftsync serve`` starts it; tests may leave it unstarted and only ask it to
run), the read-only :class:`~.data.Reader`, and the Add Resource wizard's drafts. Pages
live in :mod:`.pages` and :mod:`.wizard`; safety in :mod:`.security`.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from .. import __version__, jobs
from ..catalog import Table
from ..config import Secret
from ..docs import SQL_TYPES
from ..errors import DriftSyncError
from ..resources import Resource, ResourceStore
from ..scheduler import Scheduler, TableProgress, read_progress
from . import formatting
from .data import Reader, resource_tables
from .errors import HTTPError, render_error, render_unexpected
from .security import Guard, LoginThrottle, SecurityHeaders, csrf_token

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
SESSION_COOKIE = "driftsync_session"
SESSION_SECONDS = 12 * 3600


@dataclass(frozen=True)
class WebConfig:
    password: Secret | None = None
    """With a password, every page needs a login."""
    loopback: bool = True
    """Served on a loopback address: other Host headers are refused."""
    plans: bool = False
    """The scheduler is started (``driftsync serve``): re-plan it right after a change."""
    secret_key: str | None = None
    """Signs the session cookie; random per process when None (a restart logs out)."""


@dataclass(frozen=True)
class Overview:
    """A resource as the pages show it."""

    resource: Resource
    status: jobs.ResourceStatus
    counts: dict[str, int | None]
    """Rows per table of the resource; empty while it cannot be read (syncing, busy)."""
    progress: list[TableProgress] | None
    """Per table rows and pages of the running sync (None when not syncing)."""

    @property
    def rows(self) -> int | None:
        known = [n for n in self.counts.values() if n is not None]
        return sum(known) if known else None

    @property
    def syncing(self) -> bool:
        return self.status.state == "syncing"

    @property
    def tables(self) -> list[Table]:
        return resource_tables(self.resource)

    @property
    def error(self) -> str | None:
        """Why the resource failed: the problem, else the last run's first table error."""
        if self.status.problem:
            return self.status.problem
        last = self.status.last_run
        if last is None or last.status == "succeeded":
            return None
        failed = next((t for t in last.tables if t.status == "failed" and t.error), None)
        return f"{failed.table}: {failed.error}" if failed else last.error


class WebState:
    """What the pages share: the store, the scheduler, the reader and running web syncs."""

    def __init__(self, scheduler: Scheduler, config: WebConfig) -> None:
        self.scheduler = scheduler
        self.store: ResourceStore = scheduler.store
        self.config = config
        self.reader = Reader()
        self._lock = threading.Lock()
        self._starting: dict[str, datetime] = {}  # syncs started here, until they end
        self._counts: dict[str, tuple[Any, dict[str, int | None]]] = {}

    # -- syncs -----------------------------------------------------------------------------

    def start_sync(self, name: str, why: str) -> bool:
        """Run the resource now in the background (a child process, via the scheduler);
        False when a sync of it is already going on."""
        with self._lock:
            if name in self._starting:
                return False
            live = jobs.read_live(name)
            if live is not None and live.active:
                return False
            self._starting[name] = datetime.now(UTC)

        def run() -> None:
            try:
                with contextlib.suppress(DriftSyncError, HTTPError):
                    # A read of this app that holds the file ends before the sync opens it.
                    with self.reader.lock(self.store.get(name)):
                        pass
                self.scheduler.run(name, why, even_paused=True)
            finally:
                with self._lock:
                    self._starting.pop(name, None)

        threading.Thread(target=run, name=f"driftsync-web-{name}", daemon=True).start()
        return True

    def replan(self) -> None:
        """Let a started scheduler see a change now rather than at its next reload."""
        if self.config.plans:
            threading.Thread(target=self.scheduler.reload, name="driftsync-web-reload",
                             daemon=True).start()

    # -- reading -----------------------------------------------------------------------------

    def syncing(self, resource: Resource) -> bool:
        """Is a sync of the resource asked for here, or going on anywhere? Cheap: reads the
        live state file only, never the database."""
        with self._lock:
            if resource.name in self._starting:
                return True
        live = jobs.read_live(resource.name)
        return live is not None and live.active

    def status(self, resource: Resource, limit: int = 1) -> jobs.ResourceStatus:
        """The resource's status; "syncing" from the moment a sync was asked for here
        (before its process has said so), without opening the database meanwhile."""
        with self._lock:
            asked = self._starting.get(resource.name)
        if asked is not None:
            live = jobs.read_live(resource.name)
            since = live.started_at if live is not None and live.active else asked
            return jobs.ResourceStatus(resource, "syncing", None, [], None, since)
        with self.reader.lock(resource):
            return jobs.resource_status(resource, limit=limit)

    def overview(self, resource: Resource, limit: int = 1) -> Overview:
        status = self.status(resource, limit)
        if status.state == "syncing":
            live = jobs.read_live(resource.name)
            pid = live.pid if live is not None and live.active else None
            progress = (read_progress(resource.name, pid) or []) if pid else []
            return Overview(resource, status, {}, progress)
        return Overview(resource, status, self.counts(resource), None)

    def counts(self, resource: Resource) -> dict[str, int | None]:
        """Rows per table, remembered while the database file stays unchanged."""
        tables: list[Table] = resource_tables(resource)
        path = getattr(resource.destination, "database", None)
        try:
            stat = path.stat() if path is not None else None
        except OSError:
            return {t.name: None for t in tables}
        key = (stat.st_mtime_ns, stat.st_size, tuple(t.name for t in tables)) if stat else None
        cached = self._counts.get(resource.name)
        if cached is not None and key is not None and cached[0] == key:
            return cached[1]
        try:
            with self.reader.open(resource) as data:
                counts = data.counts(tables) if data is not None else {t.name: None
                                                                        for t in tables}
        except (HTTPError, DriftSyncError):
            return {}
        self._counts[resource.name] = (key, counts)
        return counts

    def forget(self, name: str) -> None:
        self._counts.pop(name, None)


def make_templates() -> Jinja2Templates:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    formatting.install(env)
    env.globals["version"] = __version__
    env.globals["sql_types"] = SQL_TYPES

    def common(request: Request) -> dict[str, Any]:
        state: WebState = request.app.state.web
        # "Log out" only for a session that logged in: on the login page (or an error page
        # before the login) it would only post to /logout and get "Log in first." back.
        logged_in = state.config.password is not None and bool(request.session.get("user"))
        return {"csrf": csrf_token(request), "login": logged_in}

    return Jinja2Templates(env=env, context_processors=[common])


def templates_of(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


def state_of(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def create_app(scheduler: Scheduler | None = None, config: WebConfig | None = None) -> Starlette:
    """The web app over ``scheduler`` (and its resources store)."""
    from . import pages, wizard

    config = config or WebConfig()
    scheduler = scheduler or Scheduler()
    routes = [*wizard.routes(), *pages.routes(),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=config.secret_key or secrets.token_urlsafe(32),
                   session_cookie=SESSION_COOKIE, max_age=SESSION_SECONDS, same_site="strict",
                   https_only=False),
        Middleware(Guard, password=config.password, loopback=config.loopback),
    ]
    handlers: dict[Any, Any] = {HTTPError: render_error, DriftSyncError: render_error,
                                StarletteHTTPException: render_error,
                                Exception: render_unexpected}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
    app.state.web = WebState(scheduler, config)
    app.state.templates = make_templates()
    app.state.throttle = LoginThrottle()
    app.state.drafts = wizard.Drafts()
    return app
