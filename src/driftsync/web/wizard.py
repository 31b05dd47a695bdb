"""The Add Resource wizard: select a data source, configure it (name and access token, checked
with Drift at once, with a verdict per table), select the tables, choose update mode and
schedule, then Finish Setup, which saves the resource and starts its first sync.

Between the steps the wizard keeps a :class:`Draft` in this process, keyed by a random id in
the session cookie. The token typed in step 2 stays in that draft: it is never sent back to
the browser (no hidden field, no URL), and is written only to ``resources.toml`` (mode 600)
on Finish Setup.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import jobs
from ..api.client import DEFAULT_API_URL
from ..catalog import CATALOG, SPEC_TABLES, Table, select_tables
from ..config import Secret, check_api_url, clean_token
from ..errors import ConfigError, DriftSyncError
from ..resources import MANUAL, Resource, check_name, duckdb_destination, mask
from .app import state_of
from .forms import (
    MODE_LABELS,
    SCHEDULES,
    STATE_LABELS,
    mode_from,
    schedule_fields,
    schedule_from,
    state_from,
)
from .pages import action, render, see_other

DRAFT_SECONDS = 3600.0
MAX_DRAFTS = 200
CHECK_TIMEOUT = 15.0
"""Seconds to wait for Drift's answer about a token while the user waits."""
RESERVED_NAMES = ("new",)
"""Names that are pages of the wizard, not resources."""


@dataclass
class Draft:
    """A resource being set up: what steps 2 and 3 chose."""

    name: str
    token: Secret
    api_url: str | None
    granted: frozenset[str]
    org: str
    tables: tuple[str, ...] | None = None
    made: float = field(default_factory=time.monotonic)

    def readable(self, table: Table) -> bool:
        """May the token read the table and every table it is made from?"""
        return all(t.scope in self.granted for t in select_tables([table.name]))

    @property
    def masked_token(self) -> str:
        return mask(self.token)


class Drafts:
    """Drafts by the random id kept in the session; old ones are dropped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._drafts: dict[str, Draft] = {}

    def get(self, session: dict[str, Any]) -> Draft | None:
        key = session.get("draft")
        with self._lock:
            self._expire()
            return self._drafts.get(key) if isinstance(key, str) else None

    def put(self, session: dict[str, Any], draft: Draft) -> None:
        with self._lock:
            self._expire()
            old = session.get("draft")
            if isinstance(old, str):
                self._drafts.pop(old, None)
            while len(self._drafts) >= MAX_DRAFTS:
                self._drafts.pop(next(iter(self._drafts)))
            key = secrets.token_urlsafe(24)
            self._drafts[key] = draft
            session["draft"] = key

    def drop(self, session: dict[str, Any]) -> None:
        key = session.pop("draft", None)
        with self._lock:
            if isinstance(key, str):
                self._drafts.pop(key, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, d in self._drafts.items() if now - d.made > DRAFT_SECONDS]:
            del self._drafts[key]


def drafts_of(request: Request) -> Drafts:
    drafts: Drafts = request.app.state.drafts
    return drafts


# -- step 1: the data source ---------------------------------------------------------------

def source_page(request: Request) -> Response:
    return render(request, "wizard_source.html", {"step": 1})


# -- step 2: name and access token -------------------------------------------------------------

def configure_page(request: Request) -> Response:
    draft = drafts_of(request).get(request.session)
    fields = {"name": draft.name if draft else "", "api_url": draft.api_url or "" if draft
              else ""}
    return render(request, "wizard_configure.html", {
        "step": 2, "fields": fields, "draft": None, "error": None, "verdict": [],
        "default_api_url": DEFAULT_API_URL})


def check_token(name: str, token: str, api_url: str) -> Draft:
    """Ask Drift about the token (the same client path as every sync) and keep the answer;
    ConfigError or ApiError with a one-line message."""
    check_name(name)
    if name in RESERVED_NAMES:
        raise ConfigError(f"The name '{name}' is taken by the app itself; choose another.")
    if not token.strip():
        raise ConfigError("Paste the access token of your Drift app (after Install App to "
                          "Drift, under SETTINGS > OAuth & Scopes).")
    resource = Resource(
        name=name,
        destination=duckdb_destination(name),
        token=Secret(clean_token(token, "the form")),
        api_url=check_api_url(api_url.strip(), where="") if api_url.strip() else None,
    )
    assert resource.token is not None
    jobs.check_destination(resource.destination)
    client, _ = jobs.resource_client(resource, timeout=CHECK_TIMEOUT, retries=1)
    with client:
        info = client.token_info()
    granted = frozenset(str(info.get("scope", "")).split())
    org = str(info.get("authenticated_userid", "")).removeprefix("orgId:") or "unknown"
    return Draft(name, resource.token, resource.api_url, granted, org)


def verdict(draft: Draft) -> list[dict[str, Any]]:
    return [{"table": t, "ok": draft.readable(t),
             "missing": sorted({x.scope for x in select_tables([t.name])} - draft.granted)}
            for t in CATALOG.values()]


@action
def configure(request: Request, form: FormData) -> Response:
    state = state_of(request)
    name = str(form.get("name") or "").strip()
    api_url = str(form.get("api_url") or "")
    context: dict[str, Any] = {"step": 2, "fields": {"name": name, "api_url": api_url},
                               "draft": None, "error": None, "verdict": [],
                               "default_api_url": DEFAULT_API_URL}
    try:
        state.store.ensure_absent(check_name(name))
        draft = check_token(name, str(form.get("token") or ""), api_url)
    except DriftSyncError as exc:
        context["error"] = " ".join(str(exc).split())
        drafts_of(request).drop(request.session)
    else:
        drafts_of(request).put(request.session, draft)
        context.update(draft=draft, verdict=verdict(draft))
    partial = bool(request.headers.get("hx-request"))
    return render(request, "_verdict.html" if partial else "wizard_configure.html", context)


# -- step 3: tables ------------------------------------------------------------------------------

def _draft_or_start(request: Request) -> Draft | Response:
    draft = drafts_of(request).get(request.session)
    if draft is None:
        return see_other("/resources/new/drift")
    return draft


def _tables_context(draft: Draft, chosen: set[str], error: str | None) -> dict[str, Any]:
    return {"step": 3, "draft": draft, "verdict": verdict(draft), "chosen": chosen,
            "error": error}


def tables_page(request: Request) -> Response:
    draft = _draft_or_start(request)
    if isinstance(draft, Response):
        return draft
    chosen = set(draft.tables) if draft.tables is not None else {
        name for name in SPEC_TABLES if draft.readable(CATALOG[name])}
    return render(request, "wizard_tables.html", _tables_context(draft, chosen, None))


@action
def choose_tables(request: Request, form: FormData) -> Response:
    draft = _draft_or_start(request)
    if isinstance(draft, Response):
        return draft
    names = [str(n) for n in form.getlist("tables")]
    try:
        unknown = [n for n in names if n not in CATALOG]
        if unknown or not names:
            raise ConfigError("Select at least one table from the list." if not names else
                              "Select tables from the list only.")
        jobs.check_scopes(names, draft.granted)
    except ConfigError as exc:
        chosen = {n for n in names if n in CATALOG}
        return render(request, "wizard_tables.html",
                      _tables_context(draft, chosen, " ".join(str(exc).split())), status=400)
    ordered = tuple(n for n in CATALOG if n in names)
    drafts_of(request).put(request.session, replace(draft, tables=ordered))
    return see_other("/resources/new/schedule")


# -- step 4: update mode and schedule; Finish Setup ------------------------------------------

def _schedule_context(draft: Draft, form: Any | None, error: str | None) -> dict[str, Any]:
    values = {"mode": "incremental", "state": "enabled", **schedule_fields(MANUAL)}
    if form is not None:
        values.update(mode=str(form.get("mode") or "incremental"),
                      state=str(form.get("state") or "enabled"),
                      choice=str(form.get("schedule") or "manual"),
                      custom=str(form.get("schedule_custom") or ""))
    return {"step": 4, "draft": draft, "values": values, "schedules": SCHEDULES,
            "modes": MODE_LABELS, "states": STATE_LABELS, "error": error,
            "tables": [CATALOG[n] for n in draft.tables or ()]}


def schedule_page(request: Request) -> Response:
    draft = _draft_or_start(request)
    if isinstance(draft, Response):
        return draft
    if draft.tables is None:
        return see_other("/resources/new/tables")
    return render(request, "wizard_schedule.html", _schedule_context(draft, None, None))


@action
def finish(request: Request, form: FormData) -> Response:
    state = state_of(request)
    draft = _draft_or_start(request)
    if isinstance(draft, Response):
        return draft
    if draft.tables is None:
        return see_other("/resources/new/tables")
    try:
        resource = Resource(
            name=draft.name,
            destination=duckdb_destination(draft.name),
            token=draft.token,
            api_url=draft.api_url,
            tables=draft.tables,
            schedule=schedule_from(form),
            state=state_from(form),  # type: ignore[arg-type]
            mode=mode_from(form),  # type: ignore[arg-type]
        )
        jobs.check_destination(resource.destination)
        jobs.verify_resource(resource, timeout=CHECK_TIMEOUT, retries=1)
        state.store.add(resource)
    except DriftSyncError as exc:
        return render(request, "wizard_schedule.html",
                      _schedule_context(draft, form, " ".join(str(exc).split())), status=400)
    drafts_of(request).drop(request.session)
    state.start_sync(resource.name, "first sync (Finish Setup)")
    state.replan()
    return see_other(f"/resources/{resource.name}")


@action
def cancel(request: Request, form: FormData) -> Response:
    drafts_of(request).drop(request.session)
    return see_other("/resources")


def routes() -> list[Route]:
    return [
        Route("/resources/new", source_page, methods=["GET"]),
        Route("/resources/new/drift", configure_page, methods=["GET"]),
        Route("/resources/new/drift", configure, methods=["POST"]),
        Route("/resources/new/tables", tables_page, methods=["GET"]),
        Route("/resources/new/tables", choose_tables, methods=["POST"]),
        Route("/resources/new/schedule", schedule_page, methods=["GET"]),
        Route("/resources/new/finish", finish, methods=["POST"]),
        Route("/resources/new/cancel", cancel, methods=["POST"]),
    ]
