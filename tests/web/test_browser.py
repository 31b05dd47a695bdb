"""End to end in a real headless Chromium (Debian's ``chromium``, driven by Playwright): the
spec's flow as a new user clicks through it, against the simulator on loopback, with
``driftsync serve``'s web server and scheduler, syncs in child processes.

Screenshots of each main page go to ``tests/web/artifacts/`` (or ``$DRIFTSYNC_TEST_ARTIFACTS``);
with ``DRIFTSYNC_UPDATE_SCREENSHOT=1`` the Resources page also goes to ``docs/screenshot.png``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from driftsync.scheduler import Scheduler
from driftsync.simulator import DriftSimulator
from driftsync.web.server import WebServer

from .conftest import TOKEN, rows_elsewhere

CHROMIUM = Path(os.environ.get("DRIFTSYNC_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("DRIFTSYNC_TEST_ARTIFACTS",
                                Path(__file__).parent / "artifacts"))
DOCS_SCREENSHOT = Path(__file__).parents[2] / "docs" / "screenshot.png"
# Chromium's own background traffic (updates, sync, field trials) has nowhere to go here.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-extensions", "--disable-quic"]
WAIT = 60_000
"""Milliseconds a sync may take to show its end in the browser."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"The browser tests need Debian's chromium at {CHROMIUM}: "
                    "apt-get install chromium (or set DRIFTSYNC_CHROMIUM).")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def server(home: Path) -> Iterator[WebServer]:
    """What ``driftsync serve`` runs: the scheduler, and the web app on 127.0.0.1."""
    scheduler = Scheduler(stop_timeout=20)
    web = WebServer.bind(scheduler, "127.0.0.1", 0)
    scheduler.start()
    try:
        with web.running():
            yield web
    finally:
        scheduler.shutdown()


@pytest.fixture
def page(browser: Browser, server: WebServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860},
                                  base_url=server.url, accept_downloads=True)
    opened = context.new_page()
    problems: list[str] = []
    opened.on("dialog", lambda dialog: (problems.append(f"dialog: {dialog.message}"),
                                        dialog.dismiss()))
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # A refused query answers 400, which the console reports too; anything else is a problem.
    opened.on("console", lambda message: problems.append(f"console: {message.text}")
              if message.type == "error" and "status of 400" not in message.text else None)
    opened.on("request", lambda request: None if request.url.startswith(server.url)
              else problems.append(f"request elsewhere: {request.url}"))
    yield opened
    context.close()
    assert problems == []  # no script ran from data, no CSP violation, nothing fetched outside


def shot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def status(page: Page) -> str:
    return page.locator("h1 .status").get_attribute("data-state") or ""


def test_a_new_user_adds_drift_watches_it_sync_and_explores_the_data(
        home: Path, sim: DriftSimulator, page: Page) -> None:
    page.goto("/")
    expect(page.locator("h1")).to_have_text("Resources")
    expect(page.locator("article.empty")).to_contain_text("No resources yet")

    # The wizard: data source, token checked on the spot, tables, schedule, Finish Setup.
    page.click("#add-resource")
    page.click("#select-drift")
    page.fill("#name", "acme")
    page.fill("#token", TOKEN)
    page.click("summary:has-text('Advanced')")
    page.fill("#api-url", sim.url)
    page.click("#check-token")
    expect(page.locator("#verdict-ok")).to_contain_text("Token OK for Drift org")
    expect(page.locator('[data-verdict="conversations"]')).to_have_class("granted")
    assert page.url.endswith("/resources/new/drift")  # the verdict came in place (htmx)
    assert page.input_value("#token") == TOKEN  # still in the browser's field, not re-sent
    shot(page, "wizard-configure")
    page.click("#next-tables")
    checked = page.locator('input[name="tables"]:checked')
    assert sorted(checked.evaluate_all("boxes => boxes.map(b => b.value)")) == [
        "accounts", "conversations", "users"]
    shot(page, "wizard-tables")
    page.click("#next-schedule")
    expect(page.locator('input[name="state"][value="enabled"]')).to_be_checked()
    shot(page, "wizard-schedule")
    sim.config.slow_ms = 60  # a first sync long enough to watch
    try:
        page.click("#finish-setup")
        expect(page).to_have_url(f"{page.url.split('/resources')[0]}/resources/acme")
        expect(page.locator("#progress [data-progress]").first).to_be_visible(timeout=WAIT)
        shot(page, "resource-syncing")
        expect(page.locator("h1 .status")).to_have_attribute("data-state", "ready",
                                                              timeout=WAIT)
    finally:
        sim.config.slow_ms = 0
    database = home / "acme.duckdb"
    users = rows_elsewhere(database, "SELECT count(*) FROM users")[0][0]
    expect(page.locator('tr[data-table="users"] td.num')).to_have_text(str(users))
    shot(page, "resource")

    page.click("text=Resources >> nth=0")
    expect(page.locator("#status-acme .status")).to_have_attribute("data-state", "ready")
    shot(page, "resources")
    if os.environ.get("DRIFTSYNC_UPDATE_SCREENSHOT") == "1":
        box = page.locator("footer").bounding_box()
        assert box is not None
        page.screenshot(path=str(DOCS_SCREENSHOT), clip={
            "x": 0, "y": 0, "width": 1280, "height": box["y"] + box["height"] + 24})

    # A table: sort, filter, the HTML from Drift as text, CSV.
    page.click('a[href="/resources/acme"]')
    page.click('tr[data-table="users"] a')
    expect(page.locator("h1")).to_have_text("users")
    names = page.locator("table.data tbody tr td:nth-child(3)")
    page.click('a[data-sort="name"]')
    expect(page.locator('a[data-sort="name"]')).to_have_text("name ▲")
    ordered = [r[0] for r in rows_elsewhere(database, "SELECT name FROM users ORDER BY name NULLS LAST, id")]
    assert names.all_inner_texts() == [n.strip() if n else "NULL" for n in ordered]
    page.click('a[data-sort="name"]')
    expect(page.locator('a[data-sort="name"]')).to_have_text("name ▼")
    page.select_option("#filter-column", "name")
    page.select_option("#filter-op", "contains")
    page.fill("#filter-value", "script")
    page.click("#add-filter")
    expect(page.locator("#row-count")).to_contain_text("1 row matches")
    expect(names).to_have_text(["<b>bold</b> & <script>alert(1)</script>"])
    shot(page, "table")
    with page.expect_download() as download:
        page.click("#download-csv")
    saved = download.value.path()
    with open(saved, newline="", encoding="utf-8") as handle:
        found = list(csv.DictReader(handle))
    assert [r["name"] for r in found] == ["<b>bold</b> & <script>alert(1)</script>"]
    page.click("text=Column summary")
    expect(page.locator('tr[data-column="name"] td').nth(2)).to_have_text("0")
    shot(page, "summary")

    # A query.
    page.goto("/resources/acme/query")
    page.fill("#sql", "SELECT status, count(*) AS n FROM conversations GROUP BY status "
                      "ORDER BY n DESC, status")
    page.click("#run-query")
    expected = rows_elsewhere(database, "SELECT status, count(*) AS n FROM conversations GROUP BY "
                    "status ORDER BY n DESC, status")
    result = page.locator("#query-result tbody tr")
    expect(result).to_have_count(len(expected))
    assert [r.split("\t") for r in result.all_inner_texts()] == [
        [s, str(n)] for s, n in expected]
    shot(page, "query")
    page.fill("#sql", "DROP TABLE users")
    page.click("#run-query")
    expect(page.locator("#query-error")).to_contain_text("Only reading queries run here")

    # A sync that fails: Drift revokes the token.
    page.goto("/resources/acme")
    sim.config.revoke_after = 1
    try:
        page.click("#sync-now")
        expect(page.locator("h1 .status")).to_have_attribute("data-state", "failed",
                                                              timeout=WAIT)
    finally:
        sim.config.revoke_after = 0
    first_run = page.locator("details.run").first
    expect(first_run.locator("summary .run-status")).to_have_text("failed")
    expect(first_run.locator("tr.table-failed").first).to_contain_text(
        "Drift rejected the access token")
    shot(page, "resource-failed")
    page.goto("/resources")
    expect(page.locator("#status-acme")).to_contain_text("Drift rejected the access token")
