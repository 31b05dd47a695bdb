"""Shared fixtures: an isolated environment, the simulator on loopback, real DuckDB files."""

from __future__ import annotations

import logging
import os

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import duckdb  # noqa: E402
import orjson  # noqa: E402
import pytest  # noqa: E402

import driftsync.simulator  # noqa: E402
from driftsync.api import DriftClient, RetryPolicy  # noqa: E402
from driftsync.simulator import DriftSimulator, SimulatorConfig  # noqa: E402

from .pgserver import pg_server, pg_url  # noqa: E402, F401 - fixtures for the PostgreSQL tests

SAMPLES = Path(driftsync.simulator.__file__).parent / "samples"
ENV_VARS = ("DRIFT_ACCESS_TOKEN", "DRIFT_API_URL", "DRIFTSYNC_DATABASE", "DRIFTSYNC_CONFIG",
            "DRIFTSYNC_DEBUG", "DRIFT_CLIENT_ID", "DRIFT_CLIENT_SECRET", "DRIFT_REFRESH_TOKEN",
            "DRIFTSYNC_DESTINATION", "DRIFTSYNC_DATASET", "DRIFTSYNC_WORKING_COPY", "PGPASSWORD")


def sample(name: str) -> Any:
    return orjson.loads((SAMPLES / name).read_bytes())


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test runs in its own folder, with no driftsync settings from the real machine."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """The CLI sets up logging for its process (levels of the ``driftsync`` loggers, root
    handlers); in-process CLI tests must not leave that to the tests that follow."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    named = {name: logging.getLogger(name).level
             for name in ("driftsync", "driftsync.serve", "apscheduler")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in named.items():
        logging.getLogger(name).setLevel(was)


@contextmanager
def running(**overrides: Any) -> Iterator[DriftSimulator]:
    settings: dict[str, Any] = {"seed": 3, "accounts": 230, "conversations": 1234, "users": 17}
    settings.update(overrides)
    with DriftSimulator(SimulatorConfig(**settings)) as sim:
        yield sim


@pytest.fixture
def sim() -> Iterator[DriftSimulator]:
    with running() as simulator:
        yield simulator


def client_for(sim: DriftSimulator, token: str | None = None, attempts: int = 10,
               **options: Any) -> DriftClient:
    """A client with instant back-off, so fault tests take no wall time."""
    return DriftClient(
        token or sim.config.token,
        base_url=sim.url,
        retry=RetryPolicy(max_attempts=attempts, base_delay=0.0, max_delay=0.0),
        timeout=10,
        **options,
    )


def fetch_rows(database: Path, sql: str) -> list[dict[str, Any]]:
    """Read the DuckDB file directly, as a user's own tool would."""
    with duckdb.connect(str(database)) as con:
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
