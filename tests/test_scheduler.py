"""``driftsync serve``: resources run on their schedules, one run at a time each, catch up once
after downtime and stop cleanly on SIGTERM.

Every run is a real ``driftsync sync NAME`` child process against the simulator on loopback,
writing a real DuckDB file. Intervals are seconds (``every()`` replaces the schedules'
minutes), so nothing waits for real hours.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger
from click.testing import CliRunner

from driftsync.cli import main
from driftsync.config import Secret
from driftsync.jobs import read_live, resource_status, run_resource, state_path
from driftsync.resources import Resource, ResourceStore, duckdb_destination, parse_schedule
from driftsync.scheduler import Scheduler, TriggerFor, first_due

from .conftest import fetch_rows, running

SMALL = {"accounts": 20, "conversations": 30, "users": 7}
TOKEN = "drft-serve-SECRET-token-5e2c"
FINISHED_OK = re.compile(r"finished acme: succeeded, 7 rows, \d+\.\d s")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The data directory, also seen by the child processes (they inherit the env)."""
    path = tmp_path / "home"
    monkeypatch.setenv("DRIFTSYNC_HOME", str(path))
    return path


@pytest.fixture
def log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    caplog.set_level(logging.INFO, logger="driftsync.serve")
    return lambda: [r.getMessage() for r in list(caplog.records) if r.name == "driftsync.serve"]


def every(seconds: float) -> TriggerFor:
    """Schedules in seconds: an interval counted from the anchor, as ``every Nm`` does."""

    def trigger(resource: Resource, anchor: datetime) -> BaseTrigger | None:
        if resource.schedule.kind == "manual":
            return None
        return IntervalTrigger(seconds=seconds, start_date=anchor + timedelta(seconds=seconds),
                               timezone=UTC)

    return trigger


def add(name: str, api_url: str, *, schedule: str = "every 1m", paused: bool = False,
        token: str = TOKEN) -> Resource:
    resource = Resource(name=name, destination=duckdb_destination(name), token=Secret(token),
                        tables=("users",), api_url=api_url, schedule=parse_schedule(schedule),
                        state="paused" if paused else "enabled")
    ResourceStore().add(resource)
    return resource


def wait_for(condition: Callable[[], Any], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def runs(home: Path, name: str = "acme") -> list[dict[str, Any]]:
    return fetch_rows(home / f"{name}.duckdb",
                      f"SELECT status, started_at, finished_at FROM {name}._driftsync_runs "
                      "ORDER BY started_at")


def scheduled_at(home: Path) -> str:
    """As the log shows it: 4 s after the first run's start, in whole seconds."""
    first = runs(home)[0]["started_at"] + timedelta(seconds=4)
    return f"{first.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def age_runs(database: Path, hours: int) -> None:
    """Pretend the service was down: move the recorded runs back in time."""
    with duckdb.connect(str(database)) as con:
        con.execute(f"UPDATE _driftsync_runs SET started_at = started_at - INTERVAL {hours} HOUR, "
                    f"finished_at = finished_at - INTERVAL {hours} HOUR")


@pytest.fixture
def scheduler() -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(**options: Any) -> Scheduler:
        made.append(Scheduler(stop_timeout=20, **options))
        return made[-1]

    yield make
    for s in made:
        s.shutdown()


# -- when a resource is due ---------------------------------------------------------------

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "last_start", "due"),
    [
        ("every 2h", None, NOW),                                      # never ran: now
        ("every 2h", NOW - timedelta(minutes=30), NOW + timedelta(minutes=90)),
        ("every 2h", NOW - timedelta(hours=9), NOW - timedelta(hours=7)),  # one catch-up
        ("daily 06:30", NOW - timedelta(days=3), datetime(2026, 3, 25, 6, 30, tzinfo=UTC)),
        ("daily 06:30", datetime(2026, 3, 27, 6, 30, 0, 400_000, tzinfo=UTC),
         datetime(2026, 3, 28, 6, 30, tzinfo=UTC)),                    # ran at its fire time
        ('cron "*/15 * * * *"', NOW - timedelta(minutes=20), NOW - timedelta(minutes=15)),
    ],
    ids=["never", "not-yet", "missed-many", "daily-missed", "daily-done", "cron"],
)
def test_a_resource_is_due_once_a_fire_time_passed_since_its_last_run(
    schedule: str, last_start: datetime | None, due: datetime,
) -> None:
    trigger = parse_schedule(schedule).trigger(last_start or NOW)
    assert trigger is not None
    assert first_due(trigger, last_start, NOW) == due


# -- the service ----------------------------------------------------------------------------

def test_a_resource_runs_on_its_schedule_and_status_shows_syncing_then_ready(
    home: Path, log: Callable[[], list[str]], scheduler: Callable[..., Scheduler],
) -> None:
    states: list[str] = []
    with running(**SMALL, token=TOKEN, slow_ms=300) as sim:
        acme = add("acme", sim.url)
        assert resource_status(acme).state == "never synced"
        assert run_resource(acme).ok  # a run just now: the next one is due 4 s after it
        service = scheduler(trigger_for=every(4))
        service.start()

        def finished() -> bool:
            states.append(resource_status(acme).state)
            return any(FINISHED_OK.fullmatch(line) for line in log())

        wait_for(finished)
        service.shutdown()

    assert states[0] == "ready" and "syncing" in states
    assert resource_status(acme).state == "ready"
    assert [line for line in log() if line.startswith(("scheduled", "started"))] == [
        f"scheduled acme: every 1m; next run {scheduled_at(home)}",
        "started acme (scheduled)",
    ]
    history = runs(home)
    assert [r["status"] for r in history] == ["succeeded", "succeeded"]
    assert history[1]["started_at"] - history[0]["started_at"] >= timedelta(seconds=4)
    assert fetch_rows(home / "acme.duckdb", "SELECT count(*) AS n FROM acme.users") == [{"n": 7}]
    assert not state_path("serve").exists()  # removed on shutdown


def test_a_paused_resource_does_not_run_and_resuming_takes_effect_without_restart(
    home: Path, log: Callable[[], list[str]], scheduler: Callable[..., Scheduler],
) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        beta = add("beta", sim.url, paused=True)
        service = scheduler(trigger_for=every(0.5))
        service.start()
        time.sleep(1.2)
        assert not (home / "beta.duckdb").exists()
        assert resource_status(beta).state == "paused"
        assert log() == ["paused beta: not scheduled until resumed"]

        ResourceStore().set_state("beta", "enabled")
        service.reload()
        wait_for(lambda: "started beta (first sync)" in log())
        ResourceStore().set_state("beta", "paused")  # each run checks before it starts
        wait_for(lambda: "skipped beta: paused" in log())
        service.reload()
        service.shutdown()

    said = [line for line in log() if not line.startswith(("skipped", "stopped"))]
    assert said[:3] == ["paused beta: not scheduled until resumed",
                        "scheduled beta: every 1m; first sync now",
                        "started beta (first sync)"]
    assert re.fullmatch(r"finished beta: succeeded, 7 rows, \d+\.\d s", said[3])
    assert said[4:] == ["paused beta: not scheduled until resumed"]
    assert [r["status"] for r in runs(home, "beta")] == ["succeeded"]


def test_a_run_that_outlasts_its_interval_is_skipped_never_doubled(
    home: Path, log: Callable[[], list[str]], scheduler: Callable[..., Scheduler],
) -> None:
    with running(**SMALL, token=TOKEN, slow_ms=900) as sim:
        add("acme", sim.url)
        service = scheduler(trigger_for=every(1))
        service.start()
        wait_for(lambda: any(FINISHED_OK.fullmatch(line) for line in log()))
        service.shutdown()

    skipped = [line for line in log() if line.startswith("skipped")]
    assert skipped and set(skipped) == {"skipped acme: the previous run is still going"}
    history = runs(home)
    assert history[0]["status"] == "succeeded"
    for before, after in zip(history, history[1:], strict=False):  # one at a time
        assert after["started_at"] >= before["finished_at"]


def test_after_downtime_the_missed_runs_collapse_into_one_catch_up_run(
    home: Path, log: Callable[[], list[str]], scheduler: Callable[..., Scheduler],
) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert run_resource(add("acme", sim.url, schedule="every 1m")).ok
        age_runs(home / "acme.duckdb", hours=3)  # 180 runs missed
        last = runs(home)[0]["started_at"]

        service = scheduler()  # the real schedule: every minute
        service.start()
        wait_for(lambda: any(FINISHED_OK.fullmatch(line) for line in log()))
        time.sleep(1.0)
        planned = resource_status(ResourceStore().get("acme")).next_run
        service.shutdown()

    caught_up = f"catch-up: last run {last.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"
    assert f"scheduled acme: every 1m; {caught_up} now" in log()
    assert [line for line in log() if line.startswith("started")] == [
        f"started acme ({caught_up})"]
    history = runs(home)
    assert [r["status"] for r in history] == ["succeeded", "succeeded"]
    assert planned is not None  # from serve.json: a minute after the catch-up run
    assert timedelta(seconds=55) < planned - history[1]["started_at"] < timedelta(seconds=65)


def test_sigterm_stops_serve_while_it_syncs_and_the_run_is_recorded_interrupted(
    home: Path,
) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        acme = add("acme", sim.url)
        assert CliRunner().invoke(main, ["sync", "acme"]).exit_code == 0
        age_runs(home / "acme.duckdb", hours=2)
        sim.config.slow_ms = 1500
        before = sim.request_counts().get("POST /app/token_info", 0)
        serve = subprocess.Popen([sys.executable, "-m", "driftsync", "serve"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=dict(os.environ))
        try:
            wait_for(lambda: sim.request_counts().get("POST /app/token_info", 0) > before)
            status = resource_status(acme)
            serve.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            _, stderr = serve.communicate(timeout=30)
            took = time.monotonic() - stopping
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.communicate()

    assert serve.returncode == 0, stderr
    assert took < 5
    assert status.state == "syncing" and status.syncing_since is not None
    lines = [line.split(" ", 2)[2] for line in stderr.splitlines()]  # without the time
    assert lines[0].startswith("info: scheduled acme: every 1m; catch-up: last run ")
    assert any(line.startswith("info: started acme (catch-up: last run ") for line in lines)
    assert "info: SIGTERM: stopping" in lines
    assert "info: stopping: interrupting the run of acme" in lines
    assert re.fullmatch(r"warning: finished acme: interrupted, 0 rows, \d+\.\d s", lines[-2])
    assert lines[-1] == "info: stopped"
    assert TOKEN not in stderr and "Traceback" not in stderr
    assert [r["status"] for r in runs(home)] == ["succeeded", "interrupted"]
    assert fetch_rows(home / "acme.duckdb", "SELECT count(*) AS n FROM acme.users") == [{"n": 7}]
    live = read_live("acme")
    assert live is not None and live.state == "interrupted"
    shown = CliRunner().invoke(main, ["status", "acme"]).stdout.splitlines()
    assert shown[0] == "acme  ready"  # the data is the last good run's, untouched
    assert " interrupted in " in shown[3]
    assert not state_path("serve").exists()


def test_serve_once_runs_what_is_due_then_exits(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        add("acme", sim.url)
        add("beta", sim.url, paused=True)
        add("gamma", sim.url, schedule="manual")
        add("broken", sim.url, token="drft-wrong-SECRET-token-00")
        first = CliRunner().invoke(main, ["serve", "--once"])
        second = CliRunner().invoke(main, ["serve", "--once"])

    assert first.exit_code == 1  # broken failed
    said = [line.split(" ", 2)[2] for line in first.stderr.splitlines()]
    assert "info: started acme (first sync)" in said
    assert "info: started broken (first sync)" in said
    assert any(FINISHED_OK.fullmatch(line.removeprefix("info: ")) for line in said)
    assert "info: skipped beta: paused" in said
    assert "info: skipped gamma: no schedule (manual)" in said
    assert any(line.startswith("warning: finished broken: failed, 0 rows, ")
               and line.endswith("users: Drift rejected the access token (401: "
                                 "authentication_error: The access token is invalid or has "
                                 "expired). Resource 'broken' needs a fresh OAuth access "
                                 "token from your Drift app (dev.drift.com > your app > "
                                 "Installing to Drift): store a working one with: driftsync "
                                 "resource edit broken --token -.")
               for line in said), said
    assert "SECRET" not in first.output

    assert second.exit_code == 0, second.stderr
    again = [line.split(" ", 2)[2] for line in second.stderr.splitlines()]
    assert [line for line in again if "acme" in line][0].startswith(
        "info: skipped acme: not due until ")
    assert not any(line.startswith("info: started") for line in again)
    assert [r["status"] for r in runs(home)] == ["succeeded"]
