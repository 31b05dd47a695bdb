"""The web app's safety: CSRF on every action, Drift's HTML shown as text, SQL injection through
every parameter, a read-only query page, security headers, allowed hosts, the login, and
tokens that never come back to the browser or into a log."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import duckdb
import httpx
import pytest
from click.testing import CliRunner
from starlette.routing import Route
from starlette.testclient import TestClient

from driftsync.cli import main
from driftsync.config import Secret
from driftsync.errors import ConfigError
from driftsync.resources import ResourceStore
from driftsync.scheduler import Scheduler
from driftsync.simulator import DriftSimulator
from driftsync.web.security import CSP, check_exposure
from driftsync.web.server import WebServer

from .conftest import TOKEN, app_client, csrf_of
from .html import table

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


def table_counts(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as con:
        names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables "
                                           "WHERE table_schema = 'main'").fetchall()]
        return {n: con.execute(f'SELECT count(*) FROM "{n}"').fetchall()[0][0]
                for n in sorted(names)}


# -- CSRF -------------------------------------------------------------------------------------

def post_routes(client: TestClient) -> list[str]:
    paths = []
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            paths.append(route.path.replace("{name}", "acme"))
    return paths


def test_every_action_refuses_a_missing_or_wrong_csrf_token_and_a_foreign_origin(
        acme_home: Path, client: TestClient) -> None:
    paths = post_routes(client)
    assert {"/resources/acme/sync", "/resources/acme/delete", "/resources/acme/settings",
            "/resources/new/finish", "/resources/new/drift", "/resources/acme/query",
            "/login", "/logout"} <= set(paths)
    token = csrf_of(client)
    for path in paths:
        missing = client.post(path, data={"state": "paused", "sql": "SELECT 1"})
        wrong = client.post(path, data={"csrf": token[:-2] + "xx"},
                            headers={"X-CSRF-Token": "not-it"})
        foreign = client.post(path, data={"csrf": token}, headers={"Origin": "http://evil.test"})
        assert missing.status_code == 403, path
        assert wrong.status_code == 403, path
        assert foreign.status_code == 403, path
        assert "CSRF token" in missing.text or path == "/login"

    assert list(ResourceStore().load()) == ["acme"]  # nothing was deleted or changed
    assert ResourceStore().get("acme").state == "enabled"
    other = TestClient(client.app, base_url="http://127.0.0.1")  # another session
    csrf_of(other)
    assert other.post("/resources/acme/delete", data={"csrf": token}).status_code == 403
    accepted = client.post("/resources/acme/settings", headers={"X-CSRF-Token": token},
                           data={"state": "paused", "mode": "incremental", "schedule": "manual"})
    assert accepted.status_code == 200 and ResourceStore().get("acme").state == "paused"


# -- escaping ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "params"), [
    ("/resources/acme/tables/users", {"fc": "name", "fo": "contains", "fv": "script"}),
    ("/resources/acme/tables/contacts", {"fc": "name", "fo": "contains", "fv": "script"}),
    ("/resources/acme/tables/messages", {"fc": "body", "fo": "contains", "fv": "script"}),
    ("/resources/acme/tables/messages/summary", {"fc": "body", "fo": "contains",
                                                 "fv": "script"}),
    ("/resources/acme/tables/users/summary", {}),
], ids=["user name", "contact name", "message body", "summary of bodies", "summary of names"])
def test_html_from_drift_is_shown_as_text(acme_home: Path, client: TestClient, path: str,
                                          params: dict[str, str]) -> None:
    page = client.get(path, params=params)

    assert page.status_code == 200
    assert ESCAPED in page.text
    assert SCRIPT not in page.text
    assert "<b>bold</b>" not in page.text
    if "summary" not in path:
        _, found = table(page.text, "data")
        assert found and all(any(SCRIPT in cell for cell in row) for row in found)


def test_query_results_and_filter_values_are_escaped_too(acme_home: Path,
                                                         client: TestClient) -> None:
    csrf = csrf_of(client)
    result = client.post("/resources/acme/query", data={
        "csrf": csrf, "sql": "SELECT body FROM messages WHERE body LIKE '%<script>%' LIMIT 1"})
    assert ESCAPED in result.text and SCRIPT not in result.text.replace(
        "LIKE '%<script>%'", "")  # the SQL itself is echoed in the textarea, escaped
    assert "LIKE &#39;%&lt;script&gt;%&#39;" in result.text
    echoed = client.get("/resources/acme/tables/users",
                        params={"fc": "name", "fo": "eq", "fv": '"><img src=x onerror=alert(1)>'})
    assert "<img src=x" not in echoed.text
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in echoed.text


# -- SQL injection -------------------------------------------------------------------------------

INJECTIONS = ['x"; DROP TABLE users; --', "1; DELETE FROM users", "' OR '1'='1",
              'name" FROM users; --', "users; ATTACH '/tmp/x.duckdb'", "0) OR (1=1"]


@pytest.mark.parametrize("payload", INJECTIONS)
def test_sql_injection_through_every_table_parameter_is_refused_or_inert(
        acme_home: Path, client: TestClient, payload: str) -> None:
    database = acme_home / "acme.duckdb"
    before = table_counts(database)
    base = "/resources/acme/tables/users"
    refused = [
        client.get(f"/resources/acme/tables/{payload}"),
        client.get(base, params={"sort": payload}),
        client.get(base, params={"sort": "name", "dir": payload}),
        client.get(base, params={"fc": payload, "fo": "eq", "fv": "x"}),
        client.get(base, params={"fc": "name", "fo": payload, "fv": "x"}),
        client.get(base, params={"fc": "id", "fo": "eq", "fv": payload}),  # not a number
        client.get(base, params={"page": payload}),
        client.get(base, params={"size": payload}),
        client.get(f"{base}/download.csv", params={"sort": payload}),
        client.get(f"{base}/summary", params={"fc": payload, "fo": "eq", "fv": "x"}),
        client.get(f"/resources/{payload}"),
    ]
    assert [r.status_code for r in refused] == [404] + [400] * 9 + [404]
    as_value = client.get(base, params={"fc": "name", "fo": "eq", "fv": payload})
    contains = client.get(f"{base}/download.csv",
                          params={"fc": "email", "fo": "contains", "fv": payload})

    assert as_value.status_code == 200 and "0 rows match" in as_value.text
    assert contains.status_code == 200 and contains.text.splitlines()[1:] == []
    assert table_counts(database) == before


@pytest.mark.parametrize("value", ["99999999999999999999999", "-9223372036854775809",
                                   "9223372036854775808"])
def test_a_filter_number_beyond_bigint_is_a_clear_400_not_a_server_error(
        acme_home: Path, client: TestClient, value: str) -> None:
    """Python's int has no limit but a BIGINT has: DuckDB's conversion error used to escape
    as a 500 (and a traceback in the log) on the data, summary and download pages."""
    base = "/resources/acme/tables/users"
    filters = {"fc": "id", "fo": "gt", "fv": value}
    answers = [client.get(base, params=filters),
               client.get(f"{base}/summary", params=filters),
               client.get(f"{base}/download.csv", params=filters)]

    assert [r.status_code for r in answers] == [400] * 3
    assert all("Filter on id: the value must be a whole number" in r.text for r in answers)
    # On the data page the message stands above the table, which shows unfiltered.
    assert 'id="view-problem"' in answers[0].text and 'class="striped data"' in answers[0].text
    edge = client.get(base, params={"fc": "id", "fo": "lt", "fv": "9223372036854775807"})
    assert edge.status_code == 200


@pytest.mark.parametrize("sql", [
    "COPY users TO '{out}'",
    "COPY (SELECT * FROM users) TO '{out}' (FORMAT csv)",
    "ATTACH '{out}' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "PRAGMA database_list",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "CREATE TABLE stolen AS SELECT * FROM users",
    "INSERT INTO users (id) VALUES (1)",
    "UPDATE users SET name = 'x'",
    "DELETE FROM users",
    "DROP TABLE users",
    "ALTER TABLE users ADD COLUMN x INT",
    "EXPORT DATABASE '{out}'",
    "CALL pragma_version()",
    "CHECKPOINT",
    "EXPLAIN SELECT 1",
    "SELECT 1; DROP TABLE users",
    "SELECT 1; SELECT 2",
    "SELECT * FROM users) UNION (SELECT 1",
    "",
], ids=lambda s: s.split()[0] if s else "empty")
def test_query_page_refuses_anything_but_one_read(acme_home: Path, tmp_path: Path,
                                                  client: TestClient, sql: str) -> None:
    database = acme_home / "acme.duckdb"
    before = table_counts(database)
    out = tmp_path / "out.file"
    statement = sql.format(out=out)
    for path in ("/resources/acme/query", "/resources/acme/query.csv"):
        refused = client.post(path, data={"csrf": csrf_of(client), "sql": statement})
        assert refused.status_code == 400, (path, refused.text)
        assert re.search(r"Only reading queries run here|Run one statement at a time|"
                         r"not valid SQL|Type a query first", refused.text), refused.text
    assert not out.exists()
    assert table_counts(database) == before


@pytest.mark.parametrize("sql", [
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_csv_auto('{secret}')",
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_blob('{secret}')",
    "SELECT * FROM read_json('{secret}')",
    "SELECT * FROM read_parquet('{secret}')",
    "SELECT * FROM glob('{folder}/*')",
    "SELECT * FROM '{secret}'",
    "WITH f AS (SELECT * FROM read_text('{secret}')) SELECT * FROM f",
    "SELECT * FROM sniff_csv('{secret}')",
], ids=["read_csv", "read_csv_auto", "read_text", "read_blob", "read_json", "read_parquet",
        "glob", "file as table", "inside WITH", "sniff_csv"])
def test_reads_of_local_files_are_refused_by_duckdb_itself(acme_home: Path, tmp_path: Path,
                                                           client: TestClient, sql: str) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    statement = sql.format(secret=secret, folder=tmp_path)
    for path in ("/resources/acme/query", "/resources/acme/query.csv"):
        refused = client.post(path, data={"csrf": csrf_of(client), "sql": statement})
        assert refused.status_code == 400, refused.text
        assert "hunter2" not in refused.text and "secret.csv" not in refused.text.replace(
            str(secret), "")
        assert "disabled by configuration" in refused.text or "Permission" in refused.text


def test_a_long_query_is_stopped(acme_home: Path, client: TestClient,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("driftsync.web.data.STATEMENT_SECONDS", 0.5)
    slow = client.post("/resources/acme/query", data={
        "csrf": csrf_of(client),
        "sql": "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = 3"})
    assert slow.status_code == 400 and "ran longer than 0.5 s and was stopped" in slow.text


# -- headers, hosts, login -------------------------------------------------------------------------

def test_every_response_carries_the_security_headers(acme_home: Path,
                                                     client: TestClient) -> None:
    for path in ("/resources", "/resources/acme", "/resources/nobody",
                 "/static/vendor/htmx.min.js"):
        response = client.get(path)
        assert response.headers["content-security-policy"] == CSP
        assert "script-src 'self';" in CSP and "unsafe-inline" not in CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"
    assert client.get("/resources").headers["cache-control"] == "no-store"
    cookie = client.get("/resources").headers.get("set-cookie") or ""
    page = client.get("/resources/acme")
    assert "<script>" not in page.text.replace('<script src="/static/vendor/htmx.min.js" '
                                               'defer></script>', "")
    assert re.search(r"\son[a-z]+=", page.text) is None  # no inline event handlers
    assert re.search(r'\sstyle="', page.text) is None  # no inline styles either
    assert cookie == "" or ("httponly" in cookie.lower() and "samesite=strict" in cookie.lower())


def test_an_unexpected_error_page_carries_the_security_headers_too(
        acme_home: Path, scheduler: Scheduler, monkeypatch: pytest.MonkeyPatch) -> None:
    """Starlette renders a 500 outside the app's middleware: the page, which holds the CSRF
    token, must still be uncacheable and under the CSP."""
    from driftsync.web.app import WebState

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(WebState, "overview", broken)
    with TestClient(client_app(scheduler), base_url="http://127.0.0.1",
                    raise_server_exceptions=False) as client:
        response = client.get("/resources")
    assert response.status_code == 500 and "Unexpected RuntimeError" in response.text
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers.get_list("content-security-policy") == [CSP]


def test_on_loopback_only_loopback_host_names_are_answered(acme_home: Path,
                                                           scheduler: Scheduler) -> None:
    for host in ("127.0.0.1:8700", "localhost", "[::1]:8700", "127.0.0.2:8700"):
        with TestClient(client_app(scheduler), base_url=f"http://{host}") as ok:
            assert ok.get("/resources").status_code == 200, host
    for host in ("rebound.example", "127.0.0.1.rebound.example:8700", "localhost.:8700",
                 "[::ffff:192.0.2.1]:8700"):
        with TestClient(client_app(scheduler), base_url=f"http://{host}") as rebound:
            assert rebound.get("/resources").status_code == 421, host


def test_serving_on_another_loopback_address_answers_its_own_url(home: Path) -> None:
    """``--host 127.0.0.2`` is loopback (no password needed), so the URL that serve prints
    must be answered rather than refused as a foreign Host."""
    scheduler = Scheduler()
    server = WebServer.bind(scheduler, "127.0.0.2", 0)
    try:
        with server.running():
            page = httpx.get(server.url + "resources", timeout=30)
    finally:
        scheduler.shutdown()
    assert page.status_code == 200, page.text


def client_app(scheduler: Scheduler):  # type: ignore[no-untyped-def]
    from driftsync.web import create_app

    return create_app(scheduler)


def test_with_a_password_every_page_needs_the_login(acme_home: Path,
                                                    scheduler: Scheduler) -> None:
    client = app_client(scheduler, password=Secret("correct horse"), loopback=False)
    first = client.get("/resources/acme/tables/users?sort=name", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/login?next=%2Fresources%2Facme%2Ftables%2Fusers%3Fsort%3Dname"
    assert client.get("/resources/acme/tables/users/download.csv",
                      follow_redirects=False).status_code == 303
    assert client.get("/static/app.css").status_code == 200
    login_page = client.get(first.headers["location"])
    csrf = re.search(r'name="csrf" value="([^"]+)"', login_page.text).group(1)  # type: ignore[union-attr]
    assert client.post("/resources/acme/sync", data={"csrf": csrf}).status_code == 401

    wrong = client.post("/login", data={"csrf": csrf, "password": "wrong",
                                        "next": "/resources/acme"})
    assert wrong.status_code == 401 and "Wrong password." in wrong.text
    right = client.post("/login", follow_redirects=False, data={
        "csrf": csrf, "password": "correct horse", "next": "/resources/acme"})
    assert right.status_code == 303 and right.headers["location"] == "/resources/acme"
    assert client.get("/resources/acme").status_code == 200
    offsite = client.post("/login", follow_redirects=False, data={
        "csrf": csrf_of(client), "password": "correct horse", "next": "//evil.test/x"})
    assert offsite.headers["location"] == "/resources"
    logout = client.post("/logout", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert logout.headers["location"] == "/login"
    assert client.get("/resources", follow_redirects=False).status_code == 303


def test_log_out_is_offered_only_to_a_session_that_logged_in(acme_home: Path,
                                                             scheduler: Scheduler) -> None:
    """The login page used to show a "Log out" button, the first submit button of the page,
    which answered a bare "Log in first." when clicked."""
    client = app_client(scheduler, password=Secret("correct horse"), loopback=False)
    login_page = client.get("/login")
    assert 'action="/logout"' not in login_page.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', login_page.text).group(1)  # type: ignore[union-attr]
    client.post("/login", data={"csrf": csrf, "password": "correct horse", "next": "/"})
    assert 'action="/logout"' in client.get("/resources").text
    open_app = app_client(scheduler)
    assert 'action="/logout"' not in open_app.get("/resources").text


def test_repeated_failed_logins_are_refused_for_a_while(acme_home: Path,
                                                        scheduler: Scheduler) -> None:
    client = app_client(scheduler, password=Secret("correct horse"), loopback=False)
    csrf = re.search(r'name="csrf" value="([^"]+)"',  # type: ignore[union-attr]
                     client.get("/login").text).group(1)
    codes = [client.post("/login", data={"csrf": csrf, "password": f"guess {n}"}).status_code
             for n in range(6)]
    assert codes == [401] * 5 + [429]
    late = client.post("/login", data={"csrf": csrf, "password": "correct horse"})
    assert late.status_code == 429 and "Too many failed attempts" in late.text


def test_serving_beyond_loopback_needs_a_password(home: Path) -> None:
    with pytest.raises(ConfigError, match="exposes it to the network, so it needs a login"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", Secret("correct horse battery"))
    with pytest.raises(ConfigError, match="DRIFTSYNC_WEB_PASSWORD is too short to guard an app "
                       "on the network; use a passphrase of at least 12 characters."):
        check_exposure("0.0.0.0", Secret("  pw       "))
    check_exposure("127.0.0.1", None)
    check_exposure("::1", None)
    check_exposure("localhost", None)
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--port", "0"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: Serving the web app on 0.0.0.0 exposes it to the network, so it needs a "
        "login: set DRIFTSYNC_WEB_PASSWORD to a password, or serve on 127.0.0.1 (the "
        "default).")


# -- tokens ------------------------------------------------------------------------------------------

def test_the_token_never_goes_back_to_the_browser_into_a_url_or_a_log(
        home: Path, sim: DriftSimulator, client: TestClient,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    csrf = csrf_of(client, "/resources/new/drift")
    seen = []
    checked = client.post("/resources/new/drift", data={
        "csrf": csrf, "name": "acme", "token": TOKEN, "api_url": sim.url})
    seen.append(checked)
    seen.append(client.get("/resources/new/tables"))
    seen.append(client.post("/resources/new/tables", data={"csrf": csrf, "tables": ["users"]}))
    seen.append(client.post("/resources/new/finish", data={
        "csrf": csrf, "mode": "incremental", "state": "enabled", "schedule": "manual"}))
    seen += [client.get(p) for p in ("/resources", "/resources/acme", "/resources/acme/query")]

    assert 'id="verdict-ok"' in checked.text
    for response in seen:
        assert TOKEN not in response.text
        assert TOKEN not in str(response.url) and TOKEN not in str(response.headers)
        for hop in response.history:
            assert TOKEN not in str(hop.url) and TOKEN not in str(hop.headers)
    assert "drft…3a9c" in seen[-2].text
    assert TOKEN not in caplog.text
    assert ResourceStore().get("acme").token == Secret(TOKEN)
