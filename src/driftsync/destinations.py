"""Where a sync writes: the destination kinds, chosen by flags, environment or config file.

Three kinds, each a frozen settings object with ``describe()`` (never a secret in it),
``dataset`` and ``data_dir``, and opened by :func:`open_warehouse`:

* ``duckdb`` (default): :class:`driftsync.load.Destination`, a local file;
* ``postgres``: :class:`PostgresDestination`, a schema in a PostgreSQL database
  (:mod:`driftsync.postgres`);
* any other dlt destination by its dlt name (``filesystem``, ``bigquery``, ``snowflake``,
  ``clickhouse``, ``motherduck``...): :class:`PublishedDestination`. driftsync keeps its
  working copy and bookkeeping in a local DuckDB file and publishes each table that changed
  to the destination (:mod:`driftsync.publish` says why).

This module imports neither dlt nor a database driver, so a command that only parses settings
stays quick.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, urlsplit

from .config import DEFAULT_DATABASE, Secret, config_path, load_config_file
from .errors import ConfigError

if TYPE_CHECKING:
    from .load import Destination, Warehouse

DESTINATION_ENV = "DRIFTSYNC_DESTINATION"
DATABASE_ENV = "DRIFTSYNC_DATABASE"
DATASET_ENV = "DRIFTSYNC_DATASET"
WORKING_COPY_ENV = "DRIFTSYNC_WORKING_COPY"
DEFAULT_PG_DATASET = "drift"
DEFAULT_PUBLISHED_DATASET = "drift"
PASSWORD_ENV = "PGPASSWORD"
_SCHEMES = ("postgresql", "postgres")
_DATASET = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_KIND = re.compile(r"[a-z][a-z0-9_]*")
Role = Literal["sync", "read"]
"""``sync`` writes and must be the only writer; ``read`` (status, export) only reads."""

LOCATED_KINDS = {"filesystem": "bucket_url"}
"""Published kinds whose ``--database`` is a location, and the dlt setting it fills."""


@dataclass(frozen=True)
class PostgresDestination:
    """A PostgreSQL database and the schema (dlt "dataset") in it that receives the tables.

    ``url`` never holds the password: :func:`postgres_destination` moves it to ``password``.
    """

    url: str
    password: Secret | None = field(default=None, compare=False)
    dataset: str = DEFAULT_PG_DATASET
    kind: str = field(default="postgres", init=False)

    @property
    def parts(self) -> Any:
        return urlsplit(self.url)

    @property
    def host(self) -> str:
        return self.parts.hostname or "localhost"

    @property
    def port(self) -> int:
        return self.parts.port or 5432

    @property
    def user(self) -> str:
        return unquote(self.parts.username or "")

    @property
    def database(self) -> str:
        return unquote(self.parts.path.lstrip("/"))

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def data_dir(self) -> Path:
        """driftsync's local working folder for this destination (dlt's pipeline files and
        spool files): in the driftsync data directory, since a server has no folder."""
        from .resources import data_dir

        return data_dir() / "work"

    @property
    def pipeline_name(self) -> str:
        where = hashlib.blake2b(f"{self.address}/{self.database}".encode(), digest_size=4)
        return f"driftsync_pg_{where.hexdigest()}_{self.dataset}"

    @property
    def lock_key(self) -> int:
        """The advisory lock's key: the same for every process that syncs this dataset
        (advisory locks are per database already)."""
        digest = hashlib.blake2b(f"driftsync:{self.dataset}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big", signed=True)

    def describe(self) -> str:
        return f"{self.url} (schema {self.dataset})"

    def scrub(self, text: str) -> str:
        """``text`` with the password (plain or URL-quoted) replaced by ``****``."""
        if self.password is None or not self.password.reveal():
            return text
        secret = self.password.reveal()
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, "****")
        return text


def postgres_destination(url: str, dataset: str | None = None,
                         where: str = "--database") -> PostgresDestination:
    """A :class:`PostgresDestination` from a ``postgresql://`` URL; ConfigError when it is not
    one. A password in the URL is kept apart from it, else taken from ``PGPASSWORD``."""
    try:
        parts = urlsplit(url.strip())
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme not in _SCHEMES or not parts.hostname or not port_ok:
        raise ConfigError(
            f"{where} must be a PostgreSQL URL like postgresql://USER@HOST:5432/DATABASE "
            f"(password in {PASSWORD_ENV}), not {_without_password(url)!r}."
        )
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise ConfigError(
            f"{where} names no database: add it after the host, e.g. "
            f"postgresql://{parts.hostname}:{parts.port or 5432}/drift."
        )
    if not parts.username:
        raise ConfigError(
            f"{where} names no user: write it before the host, e.g. "
            f"postgresql://USER@{parts.hostname}:{parts.port or 5432}/{database}."
        )
    chosen = dataset or DEFAULT_PG_DATASET
    if not _DATASET.fullmatch(chosen):
        raise ConfigError(
            f"Schema {chosen!r} is not a plain PostgreSQL schema name; use letters, digits "
            "and _ (at most 63), e.g. drift."
        )
    password = unquote(parts.password) if parts.password else os.environ.get(PASSWORD_ENV)
    netloc = f"{parts.username}@{parts.netloc.rpartition('@')[2]}"
    clean = parts._replace(scheme="postgresql", netloc=netloc).geturl()
    return PostgresDestination(clean, Secret(password) if password else None, chosen)


def _without_password(url: str) -> str:
    return re.sub(r"(//[^/:@]*):[^@/]*@", r"\1:****@", url)




@dataclass(frozen=True)
class PublishedDestination:
    """Any other dlt destination: tables are synced into ``working_copy`` (a local DuckDB
    file, where driftsync keeps its state), then each changed table is published to the
    destination ``kind`` (a dlt destination name) in ``dataset``.

    ``location`` is where that takes one (filesystem: a folder or bucket URL); the
    credentials come from dlt's own configuration (``DESTINATION__<KIND>__CREDENTIALS...``
    in the environment, or ``.dlt/secrets.toml``), never from driftsync's flags.
    """

    kind: str
    working_copy: Path
    location: str | None = None
    dataset: str = DEFAULT_PUBLISHED_DATASET

    @property
    def target(self) -> str:
        """Names the destination in the working copy's publish state."""
        where = f" {self.location}" if self.location else ""
        return f"{self.kind}{where} {self.dataset}"

    @property
    def data_dir(self) -> Path:
        return self.working_copy.resolve().parent / ".driftsync"

    @property
    def pipeline_name(self) -> str:
        digest = hashlib.blake2b(self.target.encode(), digest_size=4).hexdigest()
        return f"driftsync_publish_{self.kind}_{digest}"

    def describe(self) -> str:
        where = f" {self.location}" if self.location else ""
        return f"{self.kind}{where} (dataset {self.dataset}; working copy {self.working_copy})"


def is_dlt_destination(kind: str) -> bool:
    """Whether dlt ships a destination called ``kind`` (its client library may still be
    missing; :mod:`driftsync.publish` checks that when it loads)."""
    import dlt
    from dlt.common.destination import Destination as DltDestination

    factory = getattr(dlt.destinations, kind, None)
    return isinstance(factory, type) and issubclass(factory, DltDestination)


def published_destination(kind: str, location: str | None = None, dataset: str | None = None,
                          working_copy: str | Path | None = None) -> PublishedDestination:
    """A :class:`PublishedDestination`, checked: the kind must be a dlt destination name."""
    if not _KIND.fullmatch(kind):
        raise ConfigError(
            f"Destination {kind!r} is not a destination name; use duckdb, postgres or a dlt "
            "destination such as filesystem, bigquery, snowflake, clickhouse or motherduck."
        )
    if not is_dlt_destination(kind):
        raise ConfigError(
            f"dlt has no destination called {kind!r}; use duckdb, postgres, or a dlt "
            "destination name such as filesystem, bigquery, snowflake, clickhouse, motherduck."
        )
    if location is not None and kind not in LOCATED_KINDS:
        raise ConfigError(
            f"--database is not used with the {kind} destination: dlt reads its location and "
            f"credentials from DESTINATION__{kind.upper()}__... environment variables or "
            ".dlt/secrets.toml (see the README)."
        )
    if location is not None and kind == "filesystem" and "://" not in location:
        location = str(Path(location).expanduser().absolute())
    chosen = dataset or DEFAULT_PUBLISHED_DATASET
    if not _DATASET.fullmatch(chosen):
        raise ConfigError(
            f"Dataset {chosen!r} is not a plain name; use letters, digits and _ (e.g. drift)."
        )
    copy = Path(working_copy).expanduser() if working_copy else DEFAULT_DATABASE
    return PublishedDestination(kind, copy, location, chosen)


AnyDestination = Any
"""A :class:`driftsync.load.Destination`, :class:`PostgresDestination` or
:class:`PublishedDestination`."""


def resolve_destination(
    kind: str | None = None,
    database: str | None = None,
    dataset: str | None = None,
    working_copy: str | None = None,
) -> AnyDestination:
    """The destination the flags ask for, each unset one taken from the environment
    (``DRIFTSYNC_DESTINATION``, ``DRIFTSYNC_DATABASE``, ``DRIFTSYNC_DATASET``,
    ``DRIFTSYNC_WORKING_COPY``), then from the config file's ``[sync]`` table (``destination``,
    ``database``, ``dataset``, ``working_copy``)."""
    from .load import DEFAULT_DATASET, Destination

    sync = load_config_file().get("sync", {})
    if not isinstance(sync, dict):
        raise ConfigError(f"Config file {config_path()}: [sync] must be a table.")

    def pick(flag: str | None, env: str, key: str) -> str | None:
        value = flag or os.environ.get(env) or sync.get(key)
        return str(value) if value else None

    chosen = (pick(kind, DESTINATION_ENV, "destination") or "duckdb").strip().lower()
    location = pick(database, DATABASE_ENV, "database")
    schema = pick(dataset, DATASET_ENV, "dataset")
    if chosen == "duckdb":
        if working_copy:
            raise ConfigError("--working-copy goes with destinations other than duckdb and "
                              "postgres; a DuckDB database is its own working copy.")
        path = Path(location).expanduser() if location else DEFAULT_DATABASE
        return Destination(database=path, dataset=schema or DEFAULT_DATASET)
    if chosen in ("postgres", "postgresql"):
        if not location:
            raise ConfigError(
                "The postgres destination needs --database postgresql://USER@HOST:5432/DB "
                f"(or {DATABASE_ENV}); the password goes in {PASSWORD_ENV}."
            )
        return postgres_destination(location, schema)
    return published_destination(chosen, location, schema,
                                 pick(working_copy, WORKING_COPY_ENV, "working_copy"))


def open_warehouse(destination: AnyDestination, role: Role = "sync") -> Warehouse:
    """The warehouse for any destination kind; it holds the destination until closed."""
    if isinstance(destination, PostgresDestination):
        from .postgres import PostgresWarehouse

        return PostgresWarehouse(destination, role)
    if isinstance(destination, PublishedDestination):
        from .publish import PublishingWarehouse

        return PublishingWarehouse(destination)
    from .load import Warehouse

    return Warehouse(destination)


def where(destination: AnyDestination) -> str:
    """The destination as the sync summary names it: a DuckDB file by its path."""
    from .load import Destination

    if isinstance(destination, Destination):
        return str(destination.database)
    return str(destination.describe())


def working_database(destination: AnyDestination) -> Destination | None:
    """The local DuckDB destination that holds the rows, if there is one."""
    from .load import Destination

    if isinstance(destination, Destination):
        return destination
    if isinstance(destination, PublishedDestination):
        return Destination(database=destination.working_copy)
    return None
