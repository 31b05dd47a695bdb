"""Fixtures of the web app's tests: a data directory per test, one resource synced once per
session from the simulator on loopback (copied into each test's directory), and the app
served in-process or, for the browser, by uvicorn on 127.0.0.1."""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pytest
from starlette.testclient import TestClient

from driftsync import jobs
from driftsync.config import Secret
from driftsync.resources import Resource, ResourceStore, duckdb_destination
from driftsync.scheduler import Scheduler
from driftsync.simulator import DriftSimulator
from driftsync.web import WebConfig, create_app

from ..conftest import running

TOKEN = "drft-web-SECRET-token-7f3a9c"
SIZES = {"accounts": 30, "conversations": 40, "users": 6}
TABLES = ("accounts", "users", "conversations", "messages", "contacts")
"""Synced for the in-process tests: messages and contacts hold Drift's HTML and the contact
named ``<script>alert(1)</script>``."""
BASE_URL = "http://127.0.0.1"


@pytest.fixture(scope="session")
def sim() -> Iterator[DriftSimulator]:
    """One simulator for the whole session (tests that change its config restore it)."""
    with running(**SIZES, token=TOKEN) as simulator:
        yield simulator


@pytest.fixture(scope="session")
def synced(sim: DriftSimulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding resource ``acme``, synced once (kept read-only by tests:
    each test works on its own copy)."""
    home = tmp_path_factory.mktemp("synced-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DRIFTSYNC_HOME", str(home))
        resource = Resource(name="acme", destination=duckdb_destination("acme"),
                            token=Secret(TOKEN), api_url=sim.url, tables=TABLES)
        ResourceStore().add(resource)
        result = jobs.run_resource(resource)
    assert result.ok, [(t.table, t.error) for t in result.tables]
    return home


@pytest.fixture(autouse=True)
def web_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DRIFTSYNC_WEB_PASSWORD", raising=False)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data directory, also seen by the syncs' child processes."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("DRIFTSYNC_HOME", str(path))
    return path


@pytest.fixture
def acme_home(home: Path, synced: Path) -> Path:
    """The data directory with ``acme`` synced (a copy of the session's)."""
    for item in synced.iterdir():
        if item.is_dir():
            shutil.copytree(item, home / item.name)
        else:
            shutil.copy2(item, home / item.name)
    return home


@pytest.fixture
def scheduler(home: Path) -> Iterator[Scheduler]:
    made = Scheduler(stop_timeout=20)
    yield made
    made.shutdown()


@pytest.fixture
def client(scheduler: Scheduler) -> Iterator[TestClient]:
    with TestClient(create_app(scheduler), base_url=BASE_URL) as test_client:
        yield test_client


def app_client(scheduler: Scheduler, **config: Any) -> TestClient:
    return TestClient(create_app(scheduler, WebConfig(**config)), base_url=BASE_URL)


def csrf_of(client: TestClient, path: str = "/resources/new") -> str:
    """The session's CSRF token, as every page hands it to htmx (and to its forms)."""
    page = client.get(path)
    found = re.search(r'"X-CSRF-Token": "([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def rows(database: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """Read the resource's DuckDB file directly, as a user's own tool would."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def rows_elsewhere(database: Path, sql: str) -> list[list[Any]]:
    """:func:`rows` from another process: in this one the app under test may have the file
    open with its own settings, which DuckDB does not let a second connection differ from."""
    import json
    import subprocess
    import sys

    script = ("import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
              "print(json.dumps(c.execute(sys.argv[2]).fetchall(), default=str))")
    done = subprocess.run([sys.executable, "-c", script, str(database), sql], check=True,
                          capture_output=True, text=True)
    found: list[list[Any]] = json.loads(done.stdout)
    return found


def wait_for(check: Callable[[], Any], seconds: float = 60, step: float = 0.25) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {seconds} s")
        time.sleep(step)


@contextmanager
def holding(database: Path) -> Iterator[None]:
    """Another process holds the database for writing (as a sync does) until the block ends."""
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); sys.stdin.read()", str(database)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
