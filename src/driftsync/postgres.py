"""PostgreSQL as a destination: the same warehouse as DuckDB, through dlt's postgres destination.

What differs from DuckDB, and only that, lives here:

* **Where.** ``postgresql://user@host:port/database``
  (:class:`~driftsync.destinations.PostgresDestination`); the tables go into a schema (the dlt
  dataset, default ``drift``), written ``"drift"."conversations"``. The password comes from
  the URL, else ``PGPASSWORD`` (or libpq's ``~/.pgpass``). It is never printed, logged or put
  in an error message: ``describe()`` shows the URL without it, and every message that leaves
  this module is scrubbed of it.
* **One writer per dataset.** DuckDB's file lock makes a second sync on the same file fail at
  once, and lets a run still marked ``running`` be closed as interrupted. A server has no such
  lock, so a sync takes a session-level advisory lock (``pg_try_advisory_lock``) keyed by the
  dataset, on a connection of its own, held until the warehouse is closed or its process dies
  (the server then ends the session, and the lock with it). A reader (``driftsync status``,
  ``driftsync export``) does not take the lock; it only asks whether someone holds it.
* **Loading.** dlt writes the Arrow batches as ``insert_values`` (INSERT statements), not as
  CSV: dlt's CSV copy turns empty strings into NULL, and a row must read back exactly as Drift
  sent it.
* **Bookkeeping SQL** (runs, hashes, deletion marks, fan-out state) is the same text as for
  DuckDB. It runs on one long-lived connection, since each new connection costs a round of
  password authentication.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dlt
import psycopg2
from dlt.common.schema import Schema
from dlt.destinations.impl.postgres.configuration import PostgresCredentials

from .destinations import PASSWORD_ENV, PostgresDestination, Role
from .errors import DestinationError, DriftSyncError
from .load import Warehouse, _ident, _root_message

log = logging.getLogger("driftsync.load")


class _ExpectedFormatNotice(logging.Filter):
    """dlt warns that Arrow batches become INSERT statements more slowly than a copy would:
    the choice is deliberate (see the module docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "ArrowToInsertValuesWriter" not in record.getMessage()


logging.getLogger("dlt").addFilter(_ExpectedFormatNotice())
CONNECT_TIMEOUT = 10
LOCK_GRACE = 3.0
"""Seconds a sync waits for the advisory lock before it says another sync holds it."""


class PostgresWarehouse(Warehouse):
    """:class:`~driftsync.load.Warehouse` on a PostgreSQL schema (see the module docstring).

    ``role="sync"`` holds the dataset's advisory lock until closed and fails at once when
    another sync holds it; ``role="read"`` never takes it.
    """

    loader_file_format = "insert_values"
    destination: PostgresDestination  # type: ignore[assignment]

    def __init__(self, destination: PostgresDestination, role: Role = "sync") -> None:
        # Not Warehouse.__init__, which opens a DuckDB file; the same attributes, though.
        self.destination = destination
        self.role = role
        self.exclusive = False
        self._catalog: str | None = None
        self._client: Any = None
        self._schema = Schema(destination.dataset, normalizers={"names": "direct"})
        try:
            destination.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DestinationError(
                f"Cannot create driftsync's working folder {destination.data_dir} "
                f"({exc.strerror}); set DRIFTSYNC_HOME to a writable folder."
            ) from exc
        self._lock_conn = connect(destination)
        try:
            if role == "sync":
                self._take_lock()
            credentials = PostgresCredentials(destination.url)
            # "" lets libpq fall back on ~/.pgpass; dlt insists on the field being set.
            credentials.password = destination.password.reveal() if destination.password else ""
            credentials.connect_timeout = CONNECT_TIMEOUT
            self.pipeline = dlt.pipeline(
                pipeline_name=destination.pipeline_name,
                pipelines_dir=str(destination.data_dir / "pipelines"),
                destination=dlt.destinations.postgres(credentials=credentials),
                dataset_name=destination.dataset,
            )
            self._forget_state_of_another_database()
        except BaseException:
            self.close()
            raise

    # -- the advisory lock --------------------------------------------------------------

    def _lock_ids(self) -> tuple[int, int]:
        """The lock key as ``pg_locks`` shows a bigint key: (classid, objid)."""
        key = self.destination.lock_key
        return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF

    def _take_lock(self) -> None:
        # A sync that just ended (or was killed) leaves its lock to the server, which drops
        # it a moment later: wait that moment, no longer.
        deadline = time.monotonic() + LOCK_GRACE
        while True:
            with self._lock_conn.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (self.destination.lock_key,))
                (taken,) = cursor.fetchone()
            if taken or time.monotonic() >= deadline:
                break
            time.sleep(0.1)
        if not taken:
            raise DestinationError(
                f"{self.destination.describe()} is being synced by another "
                f"process{self._holder()}. Wait for that sync to finish, then run again."
            )
        self.exclusive = True

    def _holder(self) -> str:
        """`` (driftsync pid 123 on 10.0.0.5)``: who holds the lock, as far as we may see."""
        try:
            with self._lock_conn.cursor() as cursor:
                cursor.execute(
                    "SELECT a.application_name, host(a.client_addr) FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    f"WHERE {_LOCK_MATCH.format(t='l.')}",
                    self._lock_ids(),
                )
                row = cursor.fetchone()
        except psycopg2.Error:
            return ""
        if not row or not row[0]:
            return ""
        return f" ({row[0]}{f' on {row[1]}' if row[1] else ''})"

    def sync_running(self) -> bool:
        if self.exclusive:
            return False
        with self._lock_conn.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM pg_locks WHERE {_LOCK_MATCH.format(t='')}",
                           self._lock_ids())
            (count,) = cursor.fetchone()
        return bool(count)

    def close(self) -> None:
        """Release the advisory lock and the connections."""
        if self.exclusive:
            try:
                with self._lock_conn.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", (self.destination.lock_key,))
            except psycopg2.Error as exc:  # the session's end releases it anyway
                log.debug("releasing the advisory lock: %s", exc)
            self.exclusive = False
        if self._client is not None:
            try:
                self._client.close_connection()
            except Exception as exc:  # noqa: BLE001 - closing must not hide the run's result
                log.debug("closing the PostgreSQL connection: %s", exc)
            self._client = None
        self._lock_conn.close()

    # -- what differs in SQL ------------------------------------------------------------

    @property
    def connection(self) -> Any:
        """A psycopg2 connection (autocommit) of this warehouse, for streaming reads."""
        return self._lock_conn

    def qualified(self, table_name: str) -> str:
        return f"{_ident(self.destination.dataset)}.{_ident(table_name)}"

    def display_name(self, table_name: str) -> str:
        return f"{self.destination.dataset}.{table_name}"

    def _explain(self, exc: BaseException) -> str | None:
        text = _root_message(exc)
        explained = explain_connect(self.destination, text)
        if explained is None:
            scrubbed = self.destination.scrub(text)
            if scrubbed != text:
                return f"PostgreSQL at {self.destination.address}: {scrubbed}"
        return explained

    @contextmanager
    def sql(self) -> Iterator[Any]:
        """One dlt SQL client for the warehouse's whole life (see the module docstring)."""
        try:
            if self._client is None:
                client = self.pipeline.sql_client()
                client.open_connection()
                self._client = client
                if not client.has_dataset():
                    client.create_dataset()
            yield self._client
        except DriftSyncError:
            raise
        except Exception as exc:  # noqa: BLE001
            d = self.destination
            raise DestinationError(
                self._explain(exc) or d.scrub(f"Cannot use {d.describe()}: {_root_message(exc)}")
            ) from exc


_LOCK_MATCH = (
    "{t}locktype = 'advisory' AND {t}granted AND {t}objsubid = 1 AND {t}classid = %s "
    "AND {t}objid = %s AND {t}database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)
"""The advisory lock's row in ``pg_locks`` (``{t}``: the table alias, if any)."""


def connect(destination: PostgresDestination) -> Any:
    """An autocommit psycopg2 connection, or one line saying why there is none."""
    options: dict[str, Any] = {
        "host": destination.host,
        "port": destination.port,
        "user": destination.user,
        "dbname": destination.database,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": f"driftsync pid {os.getpid()}",
    }
    if destination.password is not None:
        options["password"] = destination.password.reveal()
    try:
        conn = psycopg2.connect(**options)
    except psycopg2.Error as exc:
        text = " ".join(str(exc).split())
        raise DestinationError(
            explain_connect(destination, text)
            or destination.scrub(f"Cannot connect to PostgreSQL at {destination.address}: {text}")
        ) from None
    conn.autocommit = True
    return conn


def explain_connect(d: PostgresDestination, text: str) -> str | None:
    """Plain words for the connection failures users meet (never with the password)."""
    at = f"PostgreSQL at {d.address}"
    if "password authentication failed" in text:
        return (f"{at} rejected the password for user '{d.user}'. Put the right one in "
                f"{PASSWORD_ENV} (or in the URL), then run again.")
    if "no password supplied" in text:
        return (f"{at} wants a password for user '{d.user}' and none was given: set "
                f"{PASSWORD_ENV} (or put it in the URL).")
    if re.search(r'database ".*" does not exist', text):
        return (f"{at} has no database '{d.database}'. Create it (createdb -h {d.host} -p "
                f"{d.port} -U {d.user} {d.database}) or name an existing one in the URL.")
    if re.search(r'role ".*" does not exist', text):
        return f"{at} has no user '{d.user}'. Create it, or name an existing user in the URL."
    if "Connection refused" in text:
        return (f"Cannot connect to {at}: connection refused. Check the host and port in the "
                "URL, and that the server is running and accepts TCP connections.")
    if "could not translate host name" in text:
        return f"Cannot connect to {at}: unknown host {d.host!r}. Check the host in the URL."
    if "timeout expired" in text:
        return (f"Cannot connect to {at}: no answer within {CONNECT_TIMEOUT} s. Check the host "
                "and port, and that no firewall is in the way.")
    return None
