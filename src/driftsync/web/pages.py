"""The pages: Resources, one resource, its tables, the query page and the login; and the
actions on them (Sync now, settings, delete).

Handlers that only read are plain functions (Starlette runs them in its thread pool, since
they open files and databases); handlers that change something are wrapped by
:func:`action`, which checks the CSRF token before anything else.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import IO, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ..catalog import Table
from ..errors import ConfigError
from ..resources import Resource, data_left_note
from .app import WebState, state_of, templates_of
from .data import (
    OPS,
    PAGE_SIZES,
    BadRequest,
    Data,
    StoredTable,
    View,
    catalog_table,
    check_read_only,
    parse_view,
    resource_tables,
)
from .errors import Busy, HTTPError, NotFound
from .forms import (
    MODE_LABELS,
    SCHEDULES,
    STATE_LABELS,
    mode_from,
    schedule_fields,
    schedule_from,
    state_from,
)
from .security import check_csrf, local_path, password_matches

RUNS_SHOWN = 20
QUERY_PAGE_SIZE = 50
EXAMPLE_QUERY = "SELECT status, count(*) AS conversations\nFROM conversations\nGROUP BY status\nORDER BY conversations DESC"

Sync = Callable[[Request, FormData], Response]


def action(handler: Sync) -> Callable[[Request], Any]:
    """A POST handler: CSRF token checked first, then ``handler(request, form)`` runs in the
    thread pool."""

    async def endpoint(request: Request) -> Response:
        await check_csrf(request)
        form = await request.form()
        return await run_in_threadpool(handler, request, form)

    endpoint.__name__ = handler.__name__
    endpoint.csrf_checked = True  # type: ignore[attr-defined]
    return endpoint


def render(request: Request, name: str, context: dict[str, Any], status: int = 200,
           headers: dict[str, str] | None = None) -> Response:
    return templates_of(request).TemplateResponse(request, name, context, status_code=status,
                                                  headers=headers)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def resource_of(request: Request) -> Resource:
    return state_of(request).store.get(request.path_params["name"])


# -- home, login -------------------------------------------------------------------------------

def home(request: Request) -> Response:
    return see_other("/resources")


def login_page(request: Request) -> Response:
    if state_of(request).config.password is None:
        return see_other("/resources")
    return render(request, "login.html", {"next": local_path(request.query_params.get("next")),
                                          "error": None})


async def login(request: Request) -> Response:
    state = state_of(request)
    await check_csrf(request)
    form = await request.form()
    expected = state.config.password
    target = local_path(str(form.get("next") or ""))
    if expected is None:
        return see_other(target)
    client = request.client.host if request.client else "?"
    throttle = request.app.state.throttle
    if throttle.blocked(client):
        return render(request, "login.html", {"next": target, "error": "Too many failed "
                      "attempts; wait a minute and try again."}, status=429)
    if not password_matches(str(form.get("password") or ""), expected):
        throttle.failed(client)
        await run_in_threadpool(time.sleep, 0.5)
        return render(request, "login.html", {"next": target, "error": "Wrong password."},
                      status=401)
    request.session.clear()  # a new session: nothing from before the login carries over
    request.session["user"] = True
    return see_other(target)


@action
def logout(request: Request, form: FormData) -> Response:
    request.session.clear()
    return see_other("/login")


# -- Resources ---------------------------------------------------------------------------------

def resources_page(request: Request) -> Response:
    state = state_of(request)
    overviews = [state.overview(r) for r in state.store.load().values()]
    flash = request.session.pop("flash", None)
    return render(request, "resources.html", {"overviews": overviews, "flash": flash})


def status_fragment(request: Request) -> Response:
    """One resource's status cell, polled while it syncs; when the sync has ended the whole
    page is reloaded (``HX-Refresh``) so totals and times are fresh."""
    state = state_of(request)
    overview = state.overview(resource_of(request))
    headers = {}
    if request.query_params.get("was") == "syncing" and not overview.syncing:
        headers["HX-Refresh"] = "true"
    return render(request, "_status_cell.html", {"o": overview}, headers=headers)


# -- one resource --------------------------------------------------------------------------------

def resource_context(state: WebState, resource: Resource, **extra: Any) -> dict[str, Any]:
    overview = state.overview(resource, limit=RUNS_SHOWN)
    tables = resource_tables(resource)
    context = {
        "o": overview,
        "r": resource,
        "tables": tables,
        "schedules": SCHEDULES,
        "schedule": schedule_fields(resource.schedule),
        "modes": MODE_LABELS,
        "states": STATE_LABELS,
        "settings_error": None,
        "notice": None,
    }
    context.update(extra)
    return context


def resource_page(request: Request) -> Response:
    state = state_of(request)
    notice = {"sync": "Sync started.", "saved": "Settings saved.",
              "running": "A sync of this resource is already going on."}.get(
        request.query_params.get("done", ""))
    return render(request, "resource.html",
                  resource_context(state, resource_of(request), notice=notice))


def progress_fragment(request: Request) -> Response:
    state = state_of(request)
    overview = state.overview(resource_of(request))
    headers = {}
    if not overview.syncing:  # the whole page again, without a "Sync started." notice
        headers["HX-Redirect"] = f"/resources/{overview.resource.name}"
    return render(request, "_progress.html", {"o": overview}, headers=headers)


@action
def sync_now(request: Request, form: FormData) -> Response:
    state = state_of(request)
    resource = resource_of(request)
    started = state.start_sync(resource.name, "Sync now (web)")
    return see_other(f"/resources/{resource.name}?done={'sync' if started else 'running'}")


@action
def save_settings(request: Request, form: FormData) -> Response:
    state = state_of(request)
    resource = resource_of(request)
    try:
        changed = replace(resource, schedule=schedule_from(form),
                          state=state_from(form),  # type: ignore[arg-type]
                          mode=mode_from(form))  # type: ignore[arg-type]
    except ConfigError as exc:
        context = resource_context(state, resource, settings_error=str(exc))
        return render(request, "resource.html", context, status=400)
    state.store.replace(changed)
    state.replan()
    return see_other(f"/resources/{resource.name}?done=saved")


def delete_page(request: Request) -> Response:
    resource = resource_of(request)
    return render(request, "delete.html", {"r": resource})


@action
def delete(request: Request, form: FormData) -> Response:
    state = state_of(request)
    resource = resource_of(request)
    if state.syncing(resource):
        raise HTTPError(f"'{resource.name}' is syncing; delete it when the sync has ended.",
                        409)
    state.store.remove(resource.name)
    state.forget(resource.name)
    state.replan()
    request.session["flash"] = f"Deleted resource '{resource.name}'. {data_left_note(resource)}"
    return see_other("/resources")


# -- tables --------------------------------------------------------------------------------------

def _open_table(request: Request) -> tuple[WebState, Resource, Table]:
    state = state_of(request)
    resource = resource_of(request)
    table = catalog_table(resource, request.path_params["table"])
    return state, resource, table


def _table_page(request: Request, tab: str,
                fill: Callable[[Data, StoredTable, View], dict[str, Any]] | None) -> Response:
    state, resource, table = _open_table(request)
    context: dict[str, Any] = {"r": resource, "table": table, "tab": tab,
                               "stored": None, "view": View(), "ops": OPS,
                               "sizes": PAGE_SIZES, "busy": None, "problem": None}
    if state.syncing(resource):
        context["busy"] = "This resource is syncing; its data shows again when the sync ends."
        return render(request, "table.html", context)
    try:
        with state.reader.open(resource) as data:
            stored = data.stored(table) if data is not None else None
            status = 200
            if stored is not None:
                try:
                    view = parse_view(request.query_params, stored.by_name)
                except BadRequest as exc:  # said above the table, which shows unfiltered
                    context["problem"], status, view = exc.message, exc.status, View()
                context.update(stored=stored, view=view)
                if fill is not None:
                    context.update(fill(data, stored, view))
    except Busy as exc:
        context["busy"] = exc.message
        return render(request, "table.html", context, status=exc.status)
    return render(request, "table.html", context, status=status)


def table_data(request: Request) -> Response:
    def fill(data: Data, stored: StoredTable, view: View) -> dict[str, Any]:
        rows, total = data.page(stored, view)
        pages = max(1, -(-total // view.size))
        if view.page > pages:  # past the end (an old link, a hand-typed number): the last page
            view = replace(view, page=pages)
            rows, total = data.page(stored, view)
        return {"rows": rows, "total": total, "pages": pages, "view": view}

    return _table_page(request, "data", fill)


def table_schema(request: Request) -> Response:
    return _table_page(request, "schema", None)


def table_summary(request: Request) -> Response:
    def fill(data: Data, stored: StoredTable, view: View) -> dict[str, Any]:
        # With filters, the page says how many rows the summary is over, not the table's size.
        matching = data.matching(stored, view) if view.filters else stored.rows
        return {"summary": data.summary(stored, view), "matching": matching}

    return _table_page(request, "summary", fill)


DOWNLOADS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}


def download(request: Request) -> Response:
    kind = request.path_params["kind"]
    if kind not in DOWNLOADS:
        raise NotFound("Downloads come as .csv or .parquet.")
    state, resource, table = _open_table(request)
    if state.syncing(resource):
        raise Busy("This resource is syncing; download its data when the sync ends.")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, closed there
    try:
        with state.reader.open(resource) as data:
            stored = data.stored(table) if data is not None else None
            if stored is None:
                raise NotFound(f"Table {table.name} has not been synced yet.")
            view = parse_view(request.query_params, stored.by_name)
            data.export(stored, view, kind, spool)
    except BaseException:
        spool.close()
        raise
    return _file(spool, f"{resource.name}-{table.name}.{kind}", DOWNLOADS[kind])


def _file(spool: IO[bytes], filename: str, media_type: str) -> StreamingResponse:
    """Stream a finished temporary file (the database is already closed) and drop it."""
    spool.seek(0)

    def chunks() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(1 << 16):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})


# -- query -----------------------------------------------------------------------------------

def _query_context(request: Request, resource: Resource, sql: str) -> dict[str, Any]:
    return {"r": resource, "sql": sql, "result": None, "error": None,
            "tables": resource_tables(resource)}


def query_page(request: Request) -> Response:
    resource = resource_of(request)
    return render(request, "query.html", _query_context(request, resource, EXAMPLE_QUERY))


def _page_number(form: FormData) -> int:
    text = str(form.get("page") or "1")
    if not text.isdigit() or len(text) > 9:
        raise BadRequest("The page must be a whole number.")
    return max(1, int(text))


@action
def run_query(request: Request, form: FormData) -> Response:
    state = state_of(request)
    resource = resource_of(request)
    sql = str(form.get("sql") or "")
    context = _query_context(request, resource, sql)
    try:
        page = _page_number(form)
        statement = check_read_only(sql)
        if state.syncing(resource):
            raise Busy("This resource is syncing; run the query when the sync ends.")
        with state.reader.open(resource) as data:
            if data is None:
                raise NotFound(f"'{resource.name}' has no data yet: sync it first.")
            context["result"] = data.query(statement, page, QUERY_PAGE_SIZE)
    except HTTPError as exc:
        context["error"] = exc.message
        return render(request, "query.html", context, status=exc.status)
    return render(request, "query.html", context)


@action
def query_csv(request: Request, form: FormData) -> Response:
    state = state_of(request)
    resource = resource_of(request)
    statement = check_read_only(str(form.get("sql") or ""))
    if state.syncing(resource):
        raise Busy("This resource is syncing; run the query when the sync ends.")
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the response, closed there
    try:
        with state.reader.open(resource) as data:
            if data is None:
                raise NotFound(f"'{resource.name}' has no data yet: sync it first.")
            data.export_query(statement, spool)
    except BaseException:
        spool.close()
        raise
    return _file(spool, f"{resource.name}-query.csv", DOWNLOADS["csv"])


def routes() -> list[Route]:
    return [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/resources", resources_page),
        Route("/resources/{name}", resource_page),
        Route("/resources/{name}/status", status_fragment),
        Route("/resources/{name}/progress", progress_fragment),
        Route("/resources/{name}/sync", sync_now, methods=["POST"]),
        Route("/resources/{name}/settings", save_settings, methods=["POST"]),
        Route("/resources/{name}/delete", delete_page, methods=["GET"]),
        Route("/resources/{name}/delete", delete, methods=["POST"]),
        Route("/resources/{name}/query", query_page, methods=["GET"]),
        Route("/resources/{name}/query", run_query, methods=["POST"]),
        Route("/resources/{name}/query.csv", query_csv, methods=["POST"]),
        Route("/resources/{name}/tables/{table}", table_data),
        Route("/resources/{name}/tables/{table}/schema", table_schema),
        Route("/resources/{name}/tables/{table}/summary", table_summary),
        Route("/resources/{name}/tables/{table}/download.{kind}", download),
    ]
