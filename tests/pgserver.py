"""A throwaway PostgreSQL server for the tests, started from the machine's own binaries.

Debian's ``postgresql`` package puts them in ``/usr/lib/postgresql/<version>/bin`` (not on
PATH); ``DRIFTSYNC_PG_BINDIR`` points elsewhere. The server lives in a temporary folder,
listens on 127.0.0.1 only (no Unix socket), on a free port, with password authentication,
and is stopped and deleted at the end of the session.

initdb refuses to run as root, and CI runs as root: then the server runs as the ``postgres``
user (which Debian's package creates), or else as a system user made for it.

Without the binaries the PostgreSQL tests are skipped with the reason, except when ``CI`` is
set: in CI they must run, so a missing server is a failure (``.ci/run`` installs it).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

APP_USER = "driftsync"
SERVICE_USER = "driftsync-pg"


def find_bindir() -> Path | None:
    """The folder with initdb and pg_ctl: $DRIFTSYNC_PG_BINDIR, Debian's newest, or PATH."""
    candidates = []
    if os.environ.get("DRIFTSYNC_PG_BINDIR"):
        candidates.append(os.environ["DRIFTSYNC_PG_BINDIR"])
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                         key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                         else 0, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).resolve().parent))
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _runner() -> tuple[list[str], str | None]:
    """The command prefix that runs a program as a non-root user, and that user's name."""
    if os.geteuid() != 0:
        return [], None
    for name in ("postgres", SERVICE_USER):
        try:
            pwd.getpwnam(name)
            break
        except KeyError:
            continue
    else:
        name = SERVICE_USER
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/bin/sh", name],
                       check=True, capture_output=True)
    if shutil.which("runuser"):
        return ["runuser", "-u", name, "--"], name
    return ["su", name, "-s", "/bin/sh", "-c", '"$0" "$@"'], name


@dataclass
class PgServer:
    host: str
    port: int
    admin_password: str
    app_password: str
    root: Path
    bindir: Path
    runner: list[str]

    def connect(self, dbname: str = "postgres", user: str = "admin") -> Any:
        import psycopg2

        password = self.admin_password if user == "admin" else self.app_password
        conn = psycopg2.connect(host=self.host, port=self.port, user=user, password=password,
                                dbname=dbname)
        conn.autocommit = True
        return conn

    def create_database(self) -> str:
        """A new empty database owned by the app user; its URL (without the password)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.sql(f'CREATE DATABASE "{name}" OWNER {APP_USER}')
        return self.url(name)

    def sql(self, statement: str, params: tuple[Any, ...] = (), dbname: str = "postgres",
            user: str = "admin") -> list[tuple[Any, ...]]:
        """Run one statement on its own connection; its rows, if any."""
        conn = self.connect(dbname, user)
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement, params or None)
                return cursor.fetchall() if cursor.description else []
        finally:
            conn.close()

    def drop_database(self, name: str) -> None:
        self.sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, dbname: str, user: str = APP_USER) -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def stop(self) -> None:
        subprocess.run([*self.runner, str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"),
                        "-m", "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def start_server() -> PgServer:
    bindir = find_bindir()
    assert bindir is not None
    runner, user = _runner()
    root = Path(tempfile.mkdtemp(prefix="driftsync-pg-"))
    admin_password, app_password = secrets.token_hex(12), secrets.token_hex(12)
    (root / "pw").write_text(admin_password + "\n")
    if user is not None:
        shutil.chown(root, user)
        shutil.chown(root / "pw", user)
    subprocess.run([*runner, str(bindir / "initdb"), "-D", str(root / "data"), "-U", "admin",
                    "--auth=scram-sha-256", f"--pwfile={root / 'pw'}", "-E", "UTF8",
                    "--no-locale", "--no-sync"], check=True, capture_output=True)
    for _ in range(3):  # the free port may be taken between asking and binding
        port = _free_port()
        options = (f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=60")
        started = subprocess.run(
            [*runner, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l",
             str(root / "server.log"), "-w", "-t", "60", "-o", options, "start"],
            capture_output=True, text=True, check=False)
        if started.returncode == 0:
            break
    else:
        log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr} {log[-2000:]}")
    server = PgServer("127.0.0.1", port, admin_password, app_password, root, bindir, runner)
    server.sql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD %s", (app_password,))
    return server


def missing_reason() -> str:
    return ("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin "
            "or on PATH: install Debian's postgresql package (apt-get install -y postgresql) "
            "or set DRIFTSYNC_PG_BINDIR")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The session's server; skipped without binaries, but a failure when CI is set."""
    if find_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the PostgreSQL tests: {missing_reason()}", pytrace=False)
        pytest.skip(missing_reason())
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database for one test, its URL; the password is in PGPASSWORD."""
    url = pg_server.create_database()
    monkeypatch.setenv("PGPASSWORD", pg_server.app_password)
    try:
        yield url
    finally:
        pg_server.drop_database(url.rsplit("/", 1)[1])
