"""``driftsync serve``: run every enabled resource on its schedule until stopped.

Design.

* **Planning** is APScheduler 3's job (a ``BackgroundScheduler``): one job per enabled
  resource, with the trigger of its schedule (:meth:`driftsync.resources.Schedule.trigger`),
  ``max_instances=1``, ``coalesce=True`` and no misfire grace limit. So runs missed while the
  machine slept collapse into one late run, and a run that comes due while the last one is
  still going is not started; APScheduler reports it and it is logged as one line,
  ``skipped NAME: the previous run is still going``. A per-resource guard says the same when
  a sync of the resource is already running anywhere (a ``driftsync sync NAME`` by hand, a
  second scheduler): its live state file (:mod:`driftsync.jobs`) names a live process.
* **Catch-up.** When a resource is planned (at start, or when a reload finds it new, resumed
  or rescheduled), its last run's start is read from its destination's run history. If its
  schedule had a fire time since then (the service was down), or it never ran, it runs once
  right away, then on its schedule again: one catch-up run, never a burst.
* **Each run is a child process**, ``python -m driftsync sync NAME``: exactly what a user
  runs by hand, so every guarantee of that command holds as tested there. Each table loads
  in one transaction, a run is recorded ``running`` first, and SIGTERM becomes the engine's
  orderly interrupt (exit code 130, run recorded ``interrupted``, unfinished tables keep
  their previous data). A run in a thread could not be interrupted like that: Python
  delivers signals to the main thread only, and the engine's interrupt is a
  KeyboardInterrupt. A process also gives back dlt's and DuckDB's memory after each run,
  and a crash in a sync cannot take the scheduler down. The child has its own session,
  so Ctrl-C in a terminal reaches the scheduler only, which then signals the child once.
  The child notifies (:func:`driftsync.jobs.run_resource`); its stderr (warnings, the
  one-line error) is relayed into this log with the resource name in front.
* **Stopping.** SIGTERM or SIGINT: no new runs start, each running child gets SIGTERM, the
  scheduler waits for them (``stop_timeout``; a child still alive then is killed, which the
  crash guarantees cover: the run shows as interrupted) and :func:`serve` returns 0.
* **Reload.** ``resources.toml`` is re-read every ``reload_seconds`` (30 s) and on SIGHUP, so
  ``driftsync resource add|edit|pause|resume|remove`` take effect without a restart; a
  resource is also checked again right before each run, so a pause is never late.
* **Status.** Right after starting a child, the scheduler writes the resource's live state
  (``syncing``, child pid); the child keeps it up to date and records how the run ended.
  ``state/serve.json`` holds this process's pid and each resource's next planned run, for
  ``driftsync status``.
* **Log.** One line when a run starts and one when it ends (resource, status, rows,
  seconds). Nothing here ever sees a token: the child reads it itself.
* **Progress.** Each child is told (``DRIFTSYNC_PROGRESS_FILE``) to keep its tables' rows
  and pages so far in ``state/<name>.progress.json`` (:class:`ProgressFile`), which the web
  app shows while the database is locked by the sync.

:class:`Scheduler` is started and stopped by its owner (:func:`serve` here; a web app can own
one the same way, with its HTTP server alongside). ``trigger_for`` lets tests plan with
seconds instead of the schedules' minutes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

from . import jobs
from .config import _write_private
from .errors import DriftSyncError, one_line
from .resources import Resource, ResourceStore

log = logging.getLogger("driftsync.serve")

TriggerFor = Callable[[Resource, datetime], BaseTrigger | None]
"""The trigger of a resource, its interval counted from ``anchor`` (the last run's start)."""

RELOAD_SECONDS = 30.0
STOP_TIMEOUT = 60.0
"""Seconds a stopping scheduler waits for an interrupted sync to record itself and exit."""
CONCURRENCY = 4
"""Resources that may sync at the same time (each has its own database file by default)."""
_JOB = "sync:"


def schedule_trigger(resource: Resource, anchor: datetime) -> BaseTrigger | None:
    return resource.schedule.trigger(anchor)


def first_due(trigger: BaseTrigger, last_start: datetime | None,
              now: datetime) -> datetime | None:
    """The first fire time after the last run started (``now`` if it never ran): the
    resource is due when that is not later than ``now``. None: it never fires again."""
    if last_start is None:
        return now
    # A second later: a run that started right at its fire time must not count it twice.
    fire: datetime | None = trigger.get_next_fire_time(None, last_start + timedelta(seconds=1))
    return fire


@dataclass(frozen=True)
class RunOutcome:
    """How one scheduled run ended, as logged."""

    resource: str
    status: str
    """``succeeded``, ``failed`` or ``interrupted``."""
    rows: int
    seconds: float
    error: str | None = None


class Scheduler:
    """Runs the resources of a :class:`ResourceStore` on their schedules (module docstring).

    ``start()`` returns at once (the planning runs in a background thread); ``shutdown()``
    interrupts running syncs and waits for them. ``run_once()`` runs what is due now and
    returns, without starting the background planning.
    """

    def __init__(
        self,
        store: ResourceStore | None = None,
        *,
        trigger_for: TriggerFor = schedule_trigger,
        reload_seconds: float = RELOAD_SECONDS,
        stop_timeout: float = STOP_TIMEOUT,
        concurrency: int = CONCURRENCY,
        command: Sequence[str] = (sys.executable, "-m", "driftsync"),
        verbose: bool = False,
    ) -> None:
        self.store = store or ResourceStore()
        self._trigger_for = trigger_for
        self._reload_seconds = reload_seconds
        self._stop_timeout = stop_timeout
        self._concurrency = concurrency
        self._command = [*command, *(["-v"] if verbose else []), "sync"]
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running: set[str] = set()  # resources with a run in flight, under _lock
        self._children: dict[str, subprocess.Popen[str]] = {}
        self._stopping = False
        self._plan_lock = threading.Lock()
        self._planned: dict[str, tuple[str, str]] = {}  # name -> (state, schedule) planned
        self._catch_up: dict[str, str] = {}  # name -> why its next run is a catch-up
        self._started = False
        self._served = False  # start() got as far as planning: "stopped" is worth a line
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(concurrency),
                       "control": ThreadPoolExecutor(1)},  # reloads never wait for syncs
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )
        self._scheduler.add_listener(self._on_max_instances, EVENT_JOB_MAX_INSTANCES)

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Plan every resource and start running them; ConfigError if resources.toml is
        broken (later reloads only log that and keep the plan they have)."""
        resources = self.store.load()
        self._scheduler.start()
        self._started = self._served = True
        if not resources:
            log.info("no resources yet; add one with 'driftsync resource add NAME --schedule "
                     "...' (read again every %g s)", self._reload_seconds)
        self._plan(resources)
        self._scheduler.add_job(self.reload, IntervalTrigger(seconds=self._reload_seconds),
                                id="reload", executor="control")

    def shutdown(self) -> None:
        """Stop planning, interrupt running syncs (SIGTERM), wait for them to end."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            children = list(self._children.items())
        if self._started:
            self._scheduler.shutdown(wait=False)
            self._started = False
        for name, child in children:
            log.info("stopping: interrupting the run of %s", name)
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        if not self._wait_idle(self._stop_timeout):
            with self._lock:
                stuck = list(self._children.items())
            for name, child in stuck:
                log.warning("stopping: %s did not stop within %g s; killed it (its tables keep "
                            "their previous data)", name, self._stop_timeout)
                with contextlib.suppress(ProcessLookupError):
                    child.kill()
            self._wait_idle(10)
        self._unpublish()
        if self._served:
            log.info("stopped")

    def _wait_idle(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        with self._idle:
            while self._running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # -- planning ----------------------------------------------------------------------

    def reload(self) -> None:
        """Re-read resources.toml and plan what changed; a broken file keeps the old plan."""
        try:
            resources = self.store.load()
        except DriftSyncError as exc:
            log.warning("cannot read the resources (%s); keeping the current plan",
                        one_line(str(exc)))
            return
        self._plan(resources)

    def _plan(self, resources: dict[str, Resource]) -> None:
        with self._plan_lock:
            if self._stopping:
                return
            for name in [n for n in self._planned if n not in resources]:
                del self._planned[name]
                self._unschedule(name)
                log.info("removed %s: no longer a resource", name)
            for resource in resources.values():
                key = (resource.state, resource.schedule.text)
                if self._planned.get(resource.name) != key:
                    self._planned[resource.name] = key
                    self._plan_one(resource)
            self._publish()

    def _plan_one(self, resource: Resource) -> None:
        name = resource.name
        if not resource.enabled:
            self._unschedule(name)
            log.info("paused %s: not scheduled until resumed", name)
            return
        now = datetime.now(UTC)
        if self._trigger_for(resource, now) is None:
            self._unschedule(name)
            log.info("manual %s: no schedule; it runs only with 'driftsync sync %s'", name,
                     name)
            return
        trigger, due, last_start = self._due(resource, now)
        if trigger is None:
            return
        extra: dict[str, Any] = {}
        if due is not None and due <= now:
            extra["next_run_time"] = now
            self._catch_up[name] = ("first sync" if last_start is None else
                                    f"catch-up: last run {_at(last_start)}")
        job = self._scheduler.add_job(
            self._scheduled_run, trigger, args=[name], id=_JOB + name, name=name,
            replace_existing=True, **extra,
        )
        if "next_run_time" in extra:
            log.info("scheduled %s: %s; %s now", name, resource.schedule,
                     self._catch_up[name])
        else:
            log.info("scheduled %s: %s; next run %s", name, resource.schedule,
                     _at(job.next_run_time) if job.next_run_time else "never")

    def _due(self, resource: Resource,
             now: datetime) -> tuple[BaseTrigger | None, datetime | None, datetime | None]:
        """The resource's trigger, anchored on its last run; when it is due (None: unknown,
        or never); and its last run's start."""
        known, last_start = self._last_start(resource)
        trigger = self._trigger_for(resource, last_start or now)
        due = first_due(trigger, last_start, now) if known and trigger is not None else None
        return trigger, due, last_start

    def _last_start(self, resource: Resource) -> tuple[bool, datetime | None]:
        """(known, start of the last run); unknown while the destination cannot be read."""
        status = jobs.resource_status(resource)
        if status.syncing_since is not None:
            return True, status.syncing_since
        if status.state == "unavailable":
            log.warning("%s: cannot read its run history (%s); no catch-up run", resource.name,
                        one_line(status.problem or "unavailable"))
            return False, None
        return True, status.last_run.started_at if status.last_run else None

    def _unschedule(self, name: str) -> None:
        self._catch_up.pop(name, None)
        with contextlib.suppress(JobLookupError):
            self._scheduler.remove_job(_JOB + name)

    def _publish(self) -> None:
        """``state/serve.json``: this process and each resource's next run, for status."""
        if not self._started:
            return
        next_runs: dict[str, str | None] = {}
        for name in list(self._planned):
            job = self._scheduler.get_job(_JOB + name)
            when = getattr(job, "next_run_time", None) if job else None
            next_runs[name] = when.isoformat() if when else None
        pid = os.getpid()
        jobs.write_state_file(jobs.SCHEDULER_STATE, json.dumps(
            {"pid": pid, "process": jobs.process_tag(pid), "next_runs": next_runs}))

    def _unpublish(self) -> None:
        path = jobs.state_path(jobs.SCHEDULER_STATE)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            if json.loads(path.read_text(encoding="utf-8"))["pid"] == os.getpid():
                path.unlink()

    def _on_max_instances(self, event: JobSubmissionEvent) -> None:
        if event.job_id.startswith(_JOB):
            log.warning("skipped %s: the previous run is still going",
                        event.job_id.removeprefix(_JOB))

    # -- running -----------------------------------------------------------------------

    def run_once(self) -> list[RunOutcome]:
        """Run every enabled resource that is due now (up to ``concurrency`` at a time)."""
        todo: list[tuple[str, str]] = []
        for resource in self.store.load().values():
            name = resource.name
            if not resource.enabled:
                log.info("skipped %s: paused", name)
                continue
            now = datetime.now(UTC)
            if self._trigger_for(resource, now) is None:
                log.info("skipped %s: no schedule (manual)", name)
                continue
            _, due, last_start = self._due(resource, now)
            if due is None or due > now:
                log.info("skipped %s: not due%s", name, f" until {_at(due)}" if due else "")
                continue
            todo.append((name, "first sync" if last_start is None else
                         f"due: last run {_at(last_start)}"))
        if not todo:
            return []
        with futures.ThreadPoolExecutor(min(self._concurrency, len(todo)),
                                        thread_name_prefix="driftsync-run") as pool:
            outcomes = list(pool.map(lambda item: self.run(*item), todo))
        return [outcome for outcome in outcomes if outcome is not None]

    def _scheduled_run(self, name: str) -> None:
        self.run(name, self._catch_up.pop(name, "scheduled"))
        with self._plan_lock:
            self._publish()  # a skipped run moved the next one too

    def run(self, name: str, why: str, *, even_paused: bool = False) -> RunOutcome | None:
        """Run the resource now in a child process, unless a run of it is going on; None
        when it did not run (skipped, or the scheduler is stopping). A paused resource is
        skipped unless ``even_paused`` (someone asked for this run: "Sync now")."""
        with self._lock:
            if self._stopping:
                return None
            if name in self._running:
                log.warning("skipped %s: the previous run is still going", name)
                return None
            self._running.add(name)
        try:
            return self._run_child(name, why, even_paused)
        finally:
            with self._idle:
                self._running.discard(name)
                self._idle.notify_all()

    def _run_child(self, name: str, why: str, even_paused: bool = False) -> RunOutcome | None:
        try:
            resource = self.store.get(name)
        except DriftSyncError as exc:
            log.warning("skipped %s: %s", name, one_line(str(exc)))
            return None
        if not resource.enabled and not even_paused:
            log.info("skipped %s: paused", name)
            return None
        live = jobs.read_live(name)
        if live is not None and live.active:
            log.warning("skipped %s: the previous run is still going (process %d)", name,
                        live.pid)
            return None
        started = time.monotonic()
        progress = progress_path(name)
        with contextlib.suppress(OSError):
            progress.unlink()  # the last run's
        with self._lock:
            if self._stopping:
                return None
            child = subprocess.Popen(
                [*self._command, name], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True,
                env={**os.environ, PROGRESS_ENV: str(progress)},
            )
            self._children[name] = child
        jobs.write_live(name, jobs.LiveState("syncing", child.pid, datetime.now(UTC),
                                             process=jobs.process_tag(child.pid)))
        log.info("started %s (%s)", name, why)
        with self._plan_lock:
            self._publish()  # the next run, now that this one is under way
        last_error = None
        try:
            assert child.stderr is not None
            for raw in child.stderr:
                line = raw.strip()
                if line:
                    log.info("%s: %s", name, line)
                    if line.startswith("Error: "):
                        last_error = line.removeprefix("Error: ")
            code = child.wait()
        finally:
            with self._lock:
                self._children.pop(name, None)
        outcome = self._outcome(name, child.pid, code, last_error, time.monotonic() - started)
        text = (f"finished {name}: {outcome.status}, {outcome.rows:,} rows, "
                f"{outcome.seconds:.1f} s")
        if outcome.error:
            text += f": {outcome.error}"
        (log.info if outcome.status == "succeeded" else log.warning)(text)
        return outcome

    def _outcome(self, name: str, pid: int, code: int, last_error: str | None,
                 seconds: float) -> RunOutcome:
        """What the child recorded in its live state, else what its exit code says."""
        live = jobs.read_live(name)
        if live is not None and live.pid == pid and live.state != "syncing":
            return RunOutcome(name, live.state, live.rows, seconds, live.error)
        stopped = code in (130, -signal.SIGTERM, -signal.SIGINT, -signal.SIGKILL)
        status: jobs.LiveStatus = (
            "succeeded" if code == 0 else "interrupted" if stopped else "failed")
        error = None if code == 0 else last_error or f"exit code {code}"
        if live is not None and live.pid == pid:  # it ended before its run, or was killed
            jobs.write_live(name, jobs.LiveState(status, pid, live.started_at,
                                                 process=live.process,
                                                 finished_at=datetime.now(UTC), error=error))
        return RunOutcome(name, status, 0, seconds, error)


# -- progress of a child's sync --------------------------------------------------------------

PROGRESS_ENV = "DRIFTSYNC_PROGRESS_FILE"
"""Set for each child: the file its sync keeps its progress in (:class:`ProgressFile`)."""


def progress_path(name: str) -> Path:
    """``<data dir>/state/<name>.progress.json``: each table of the resource's latest
    scheduled sync, with its rows and pages so far."""
    return jobs.state_path(f"{name}.progress")


@dataclass(frozen=True)
class TableProgress:
    table: str
    status: str
    """``running``, or how the table ended: ``succeeded``, ``failed`` or ``skipped``."""
    rows: int
    pages: int


def read_progress(name: str, pid: int | None = None) -> list[TableProgress] | None:
    """The tables of the resource's sync so far, in the order they started (of process
    ``pid`` only, when given); None when there is no such file or it cannot be read."""
    try:
        data = json.loads(progress_path(name).read_text(encoding="utf-8"))
        if pid is not None and int(data["pid"]) != pid:
            return None
        return [TableProgress(str(t["table"]), str(t["status"]), int(t["rows"]),
                              int(t["pages"])) for t in data["tables"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None


class ProgressFile:
    """A sync listener that keeps a progress file (:func:`read_progress`) up to date: at each
    table's start and end, and at most every ``interval`` seconds while pages come in.
    Writing is best effort: a file that cannot be written never stops the sync."""

    def __init__(self, path: Path, interval: float = 0.5) -> None:
        self._path = path
        self._interval = interval
        self._tables: dict[str, dict[str, Any]] = {}
        self._written = 0.0

    @classmethod
    def from_env(cls) -> ProgressFile | None:
        """The file the scheduler named for this process, if any."""
        path = os.environ.get(PROGRESS_ENV)
        return cls(Path(path)) if path else None

    def table_started(self, table: Any) -> None:
        self._entry(table.name)["status"] = "running"
        self._write()

    def page_fetched(self, table: Any, pages: int, rows: int) -> None:
        self._entry(table.name).update(rows=rows, pages=pages)
        if time.monotonic() - self._written >= self._interval:
            self._write()

    def table_finished(self, result: Any) -> None:
        self._entry(result.table).update(status=result.status, rows=result.rows,
                                         pages=result.pages)
        self._write()

    def _entry(self, table: str) -> dict[str, Any]:
        return self._tables.setdefault(
            table, {"table": table, "status": "running", "rows": 0, "pages": 0})

    def _write(self) -> None:
        self._written = time.monotonic()
        text = json.dumps({"pid": os.getpid(), "tables": list(self._tables.values())})
        try:
            _write_private(self._path, text)
        except OSError as exc:
            log.debug("cannot write %s: %s", self._path, exc.strerror or exc)


def serve(scheduler: Scheduler, *, once: bool = False) -> int:
    """Run ``scheduler`` until SIGTERM or SIGINT (with ``once``: until what is due has run),
    re-reading the resources on SIGHUP. Returns the exit code: 0 after a clean stop; with
    ``once``, 0 only if every run it started succeeded. Call from the main thread."""
    stop = threading.Event()
    hup = threading.Event()
    signals: list[str] = []
    outcomes: list[RunOutcome] = []
    errors: list[DriftSyncError] = []

    def on_stop(signum: int, frame: Any) -> None:
        signals.append(signal.Signals(signum).name)
        stop.set()

    def on_hup(signum: int, frame: Any) -> None:
        hup.set()

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    if hasattr(signal, "SIGHUP"):
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    worker = None
    try:
        if once:
            def run_due() -> None:
                try:
                    outcomes.extend(scheduler.run_once())
                except DriftSyncError as exc:  # resources.toml unreadable: said by the CLI
                    errors.append(exc)
                finally:
                    stop.set()

            worker = threading.Thread(target=run_due, name="driftsync-once")
            worker.start()
        else:
            scheduler.start()
            log.info("serving; stop with Ctrl-C or SIGTERM")
        while not stop.wait(0.5):
            if hup.is_set():
                hup.clear()
                log.info("SIGHUP: reading the resources again")
                scheduler.reload()
        if signals:
            log.info("%s: stopping", signals[0])
    finally:
        scheduler.shutdown()
        if worker is not None:
            worker.join()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if errors:
        raise errors[0]
    if once:
        return 0 if all(o.status == "succeeded" for o in outcomes) else 1
    return 0


class LogFormatter(logging.Formatter):
    """``2026-03-27 06:30:00Z info: started acme (scheduled)``: a service log needs times."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        text = f"{when} {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _at(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


