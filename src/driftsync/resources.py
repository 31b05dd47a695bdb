"""Resources: a Drift workspace set up once, then synced by name or on a schedule.

A resource holds everything one sync needs: the Drift credentials, the tables, the
destination, the schedule, the update mode and who to notify. Several resources (several
Drift workspaces) live side by side in ``resources.toml`` in the driftsync data directory:
``$DRIFTSYNC_HOME`` if set, else the folder of the config file (``$DRIFTSYNC_CONFIG``'s
folder, else ``~/.config/driftsync``)::

    [resources.acme]
    token_env = "ACME_DRIFT_TOKEN"        # or: token = "..." (stored; the file is then 0600)
    api_url = "https://driftapi.com"      # optional
    tables = ["accounts", "users"]        # optional: all tables when left out
    schedule = "daily 06:30 Europe/Berlin"
    state = "enabled"                     # or "paused": the scheduler skips it
    mode = "incremental"                  # or "full-refresh"
    rate_limit = 120                      # optional: at most this many requests a minute
    notify = [{ type = "webhook", url = "https://hooks.slack.com/services/..." }]

    [resources.acme.destination]
    kind = "duckdb"
    database = "/srv/drift/acme.duckdb"   # optional: <data dir>/acme.duckdb
    dataset = "main"                      # optional: see below

    [resources.acme.oauth]                # optional, for expiring OAuth access tokens
    client_id = "..."
    client_secret_env = "ACME_CLIENT_SECRET"   # or client_secret = "..."
    refresh_token_env = "ACME_REFRESH_TOKEN"   # or refresh_token = "..."

Where the data goes. By default each resource gets its own DuckDB file,
``<data dir>/<name>.duckdb``, with the tables in its ``main`` schema. DuckDB lets one writer
hold a file, so with one file each two resources can sync at the same time and never wait
for each other's lock; and in ``main`` the tables answer to ``acme.conversations``. A
resource given a ``database`` of its own choosing may share that file with other resources,
so its schema then defaults to ``drift_<name>`` (``-`` becomes ``_``) and the resources
stay apart. Two resources may never write into the same file and schema.

Other destination kinds are entries in :data:`DESTINATION_KINDS`, each a parser from the
``[destination]`` table to a frozen settings object like :class:`DuckDBDestination`:

* ``kind = "postgres"`` with ``url`` (or ``url_env``, the name of the variable holding it,
  since a URL can carry a password) and ``dataset`` (the schema, default ``drift_<name>``);
  :class:`PostgresResourceDestination`;
* any other dlt destination by its dlt name, e.g. ``kind = "filesystem"`` with ``location``
  (a folder or bucket URL), or ``kind = "bigquery"``: synced into a working copy
  (``working_copy``, default ``<data dir>/<name>.duckdb``) and published from there
  (:class:`PublishedResourceDestination`, :mod:`driftsync.publish`). Their credentials stay
  in dlt's own configuration (``DESTINATION__BIGQUERY__CREDENTIALS__...``), not in this file.

A kind that stores a secret reports it through ``holds_secrets`` so the file-mode check
below covers it.

Secrets. A token may be stored in the file or, better, named by ``token_env``; the same holds
for the OAuth client secret and refresh token. The file is always written atomically with
mode 0600, and a file that holds a secret and is readable by others is refused, as ssh does.
Rotated OAuth tokens go to the resource's own token store, ``<data dir>/tokens/<name>.toml``
(the semantics of :class:`driftsync.config.TokenStore`), so resources never share a pair.

Schedules (:func:`parse_schedule`) are kept in their canonical text form; a time of day
without a time zone is UTC, and the canonical form always names the zone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomli_w

from .config import (
    OAuthSettings,
    Secret,
    _readable_by_others,
    _write_private,
    check_api_url,
    clean_word,
    config_path,
)
from .errors import ConfigError

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

HOME_ENV = "DRIFTSYNC_HOME"
RESOURCES_FILE = "resources.toml"
TOKENS_DIR = "tokens"

State = Literal["enabled", "paused"]
Mode = Literal["incremental", "full-refresh"]
STATES: tuple[State, ...] = ("enabled", "paused")
MODES: tuple[Mode, ...] = ("incremental", "full-refresh")

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class UnknownResourceError(ConfigError):
    """A command named a resource that resources.toml does not hold."""

    def __init__(self, name: str) -> None:
        super().__init__(f"No resource named '{name}'; see 'driftsync resource list'.")
        self.name = name


# -- where things live ------------------------------------------------------------------

def data_dir() -> Path:
    """driftsync's data directory: ``$DRIFTSYNC_HOME``, else the config file's folder."""
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser()
    return config_path().parent


def resources_path() -> Path:
    return data_dir() / RESOURCES_FILE


def token_store_path(name: str) -> Path:
    """Where the rotated OAuth tokens of resource ``name`` are kept."""
    return data_dir() / TOKENS_DIR / f"{name}.toml"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"Resource name {name!r} is not valid: use lowercase letters, digits, '-' and '_' "
            "(at most 63, starting with a letter or digit), e.g. acme-eu."
        )
    return name


def check_env_name(value: str, what: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        # Not echoed: a secret pasted into the wrong option must not be printed.
        raise ConfigError(
            f"The {what} must be the name of an environment variable (letters, digits and _, "
            "e.g. ACME_DRIFT_TOKEN), not the secret itself."
        )
    return value


def mask(secret: Secret) -> str:
    """Enough of a stored token to tell two apart, never enough to use: ``drft…ab12``.
    At least 16 characters always stay hidden, so a short token shows only its end."""
    value = secret.reveal()
    if len(value) >= 24:
        return f"{value[:4]}…{value[-4:]}"
    if len(value) >= 20:
        return f"…{value[-4:]}"
    return "****"


def data_left_note(resource: Resource) -> str:
    """What removing ``resource`` leaves behind, for the message that confirms it."""
    local = getattr(resource.destination, "database", None)  # a DuckDB file or working copy
    if isinstance(local, Path) and not local.exists():
        return "It had no synced data."
    return f"Its data stays in {resource.destination.describe()}."


def mask_url(url: str) -> str:
    """Scheme and host only: a webhook's path or query is often its credential."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    hidden = parts.path not in ("", "/") or parts.query
    return f"{parts.scheme}://{host}/…" if hidden else f"{parts.scheme}://{host}"


def _from_env(env: str, what: str, resource: str) -> Secret:
    value = os.environ.get(env)
    if not value:
        raise ConfigError(
            f"Resource '{resource}' reads its {what} from {env}, which is not set. Set it, or "
            f"change the resource with 'driftsync resource edit {resource}'."
        )
    return Secret(clean_word(value, what, env, bearer=what == "access token"))


# -- schedules --------------------------------------------------------------------------

ScheduleKind = Literal["manual", "every", "daily", "weekly", "cron"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SCHEDULE_FORMS = (
    "'every 30m', 'every 2h', 'daily 06:30 [Europe/Berlin]', 'weekly mon 06:30 [TZ]', "
    "'cron \"*/15 * * * *\" [TZ]' or 'manual'"
)
_CLOCK = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_EVERY = re.compile(r"(\d+)([mh])")


@dataclass(frozen=True)
class Schedule:
    """When a resource syncs by itself. ``text`` is the canonical form kept in the file."""

    text: str
    kind: ScheduleKind
    minutes: int = 0
    """``every``: the interval."""
    at: time | None = None
    """``daily`` and ``weekly``: the time of day in ``tz``."""
    days: tuple[str, ...] = ()
    """``weekly``: the days, as ``mon`` ... ``sun``."""
    cron: str | None = None
    tz: str = "UTC"

    def __str__(self) -> str:
        return self.text

    def trigger(self, anchor: datetime | None = None) -> BaseTrigger | None:
        """The APScheduler 3 trigger for this schedule; None for ``manual``.

        An ``every`` trigger fires at ``anchor`` + k x interval (k >= 1), ``anchor`` being
        the last run's start, or now when there was none; the others ignore ``anchor``.
        """
        zone = ZoneInfo(self.tz)
        if self.kind == "manual":
            return None
        if self.kind == "every":
            from apscheduler.triggers.interval import IntervalTrigger

            start = (anchor or datetime.now(UTC)) + timedelta(minutes=self.minutes)
            return IntervalTrigger(minutes=self.minutes, start_date=start, timezone=zone)
        from apscheduler.triggers.cron import CronTrigger

        if self.kind == "cron":
            assert self.cron is not None
            return _crontab_trigger(self.cron, zone)
        assert self.at is not None
        return CronTrigger(
            day_of_week=",".join(self.days) if self.kind == "weekly" else None,
            hour=self.at.hour,
            minute=self.at.minute,
            timezone=zone,
        )

    def next_run(self, now: datetime, last_run: datetime | None = None) -> datetime | None:
        """The first fire time at or after ``now`` (aware), given the last run's start."""
        trigger = self.trigger(anchor=last_run or now)
        if trigger is None:
            return None
        fire: datetime | None = trigger.get_next_fire_time(None, now)
        return fire


MANUAL = Schedule("manual", "manual")


def parse_schedule(text: str, *, now: datetime | None = None) -> Schedule:
    """A :class:`Schedule` from its text (forms in :data:`SCHEDULE_FORMS`); ConfigError.

    ``now`` only serves to reject a cron expression that can never fire (``0 0 31 2 *``).
    """
    try:
        words = shlex.split(text)
    except ValueError:
        words = []
    if not words:
        raise _bad_schedule(text)
    head, rest = words[0].lower(), words[1:]
    if head == "manual" and not rest:
        return MANUAL
    if head == "every" and len(rest) == 1:
        match = _EVERY.fullmatch(rest[0].lower())
        if match and int(match.group(1)) > 0:
            count, unit = int(match.group(1)), match.group(2)
            minutes = count * 60 if unit == "h" else count
            shown = f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"
            return Schedule(f"every {shown}", "every", minutes=minutes)
    if head == "daily" and len(rest) in (1, 2):
        at = _clock(rest[0], text)
        tz = _zone(rest[1] if len(rest) == 2 else "UTC", text)
        return Schedule(f"daily {at:%H:%M} {tz}", "daily", at=at, tz=tz)
    if head == "weekly" and len(rest) in (2, 3):
        days = _days(rest[0], text)
        at = _clock(rest[1], text)
        tz = _zone(rest[2] if len(rest) == 3 else "UTC", text)
        return Schedule(f"weekly {','.join(days)} {at:%H:%M} {tz}", "weekly", at=at,
                        days=days, tz=tz)
    if head == "cron" and rest:
        # Quoted ("*/15 * * * *" [TZ]) or, forgivingly, the five fields unquoted.
        if len(rest) in (5, 6):
            expression, zone = " ".join(rest[:5]), rest[5] if len(rest) == 6 else "UTC"
        elif len(rest) in (1, 2):
            expression, zone = " ".join(rest[0].split()), rest[1] if len(rest) == 2 else "UTC"
        else:
            raise _bad_schedule(text)
        return _cron(expression, _zone(zone, text), text, now)
    raise _bad_schedule(text)


def _bad_schedule(text: str) -> ConfigError:
    return ConfigError(f"Schedule {text!r} is not understood; use {SCHEDULE_FORMS}.")


def _clock(word: str, text: str) -> time:
    match = _CLOCK.fullmatch(word)
    if not match:
        raise ConfigError(
            f"Schedule {text!r}: {word!r} is not a time of day; write it as HH:MM, e.g. 06:30."
        )
    return time(int(match.group(1)), int(match.group(2)))


def _days(word: str, text: str) -> tuple[str, ...]:
    named = {d.strip()[:3] for d in word.lower().split(",")}
    if not named or not named <= set(DAYS):
        raise ConfigError(
            f"Schedule {text!r}: {word!r} is not a day of the week; use mon, tue, wed, thu, "
            "fri, sat or sun (several with commas: mon,thu)."
        )
    return tuple(d for d in DAYS if d in named)


def _zone(name: str, text: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"Schedule {text!r}: unknown time zone {name!r}; use an IANA name such as "
            "Europe/Berlin, America/New_York or UTC."
        ) from None
    return name


_CRON_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_DAY_NUMBERS = re.compile(r"(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?")


def _cron_weekdays(field: str) -> str:
    """The day-of-week field of a crontab in day names, as APScheduler 3 reads them.

    APScheduler numbers days from Monday = 0, so ``from_crontab("0 6 * * 1-5")`` would
    fire Tuesday to Saturday. Crontab numbers them from Sunday = 0 (7 is Sunday too), which
    is what a user copying a crontab line means. Named days and ``*`` pass through; numbers,
    ranges and steps are spelt out as names. A bad item is left for APScheduler to reject.
    """
    items = []
    for item in field.split(","):
        match = _CRON_DAY_NUMBERS.fullmatch(item)
        if match is None or item == "*":
            items.append(item)
            continue
        whole, first, last, step = match.groups()
        start = 0 if whole == "*" else int(first)
        end = 6 if whole == "*" else int(last) if last is not None else start
        if whole != "*" and last is None and step is not None:
            end = 7  # "1/2": from Monday, every second day (cron reads n/s as n-max/s)
        if not 0 <= start <= end <= 7 or (step is not None and int(step) < 1):
            items.append(item)
            continue
        days = range(start, end + 1, int(step) if step is not None else 1)
        items.extend(_CRON_DAY_NAMES[day] for day in days)
    return ",".join(dict.fromkeys(items))


def _crontab_trigger(expression: str, zone: ZoneInfo) -> BaseTrigger:
    """APScheduler's trigger for a crontab expression, with crontab's day numbers."""
    from apscheduler.triggers.cron import CronTrigger

    fields = expression.split()
    if len(fields) == 5:
        fields[4] = _cron_weekdays(fields[4])
    return CronTrigger.from_crontab(" ".join(fields), timezone=zone)


def _cron(expression: str, tz: str, text: str, now: datetime | None) -> Schedule:
    try:
        trigger = _crontab_trigger(expression, ZoneInfo(tz))
    except ValueError as exc:
        raise ConfigError(
            f"Schedule {text!r}: cron expression {expression!r} is not valid ({exc}); it needs "
            "five fields: minute hour day-of-month month day-of-week."
        ) from None
    if trigger.get_next_fire_time(None, now or datetime.now(UTC)) is None:
        raise ConfigError(f"Schedule {text!r}: cron expression {expression!r} never comes due.")
    return Schedule(f'cron "{expression}" {tz}', "cron", cron=expression, tz=tz)


# -- destinations -----------------------------------------------------------------------

class DestinationSettings(Protocol):
    """What every destination kind offers the rest of driftsync."""

    kind: str
    dataset: str

    @property
    def holds_secrets(self) -> bool: ...

    def describe(self) -> str: ...

    def same_place(self, other: DestinationSettings) -> bool: ...

    def to_toml(self, name: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DuckDBDestination:
    """A DuckDB file and the schema (dlt dataset) in it that receives the tables."""

    database: Path
    dataset: str
    kind: str = field(default="duckdb", init=False)

    @property
    def holds_secrets(self) -> bool:
        return False

    def describe(self) -> str:
        return f"{self.database} (schema {self.dataset})"

    def same_place(self, other: DestinationSettings) -> bool:
        return (
            isinstance(other, DuckDBDestination)
            and _same_file(self.database, other.database)
            and self.dataset == other.dataset
        )

    def to_toml(self, name: str) -> dict[str, Any]:
        """Only what differs from the defaults, so a moved data directory takes them along."""
        table: dict[str, Any] = {"kind": self.kind}
        own = default_database(name)
        if not _same_file(self.database, own):
            table["database"] = str(self.database)
        if self.dataset != default_dataset(name, self.database):
            table["dataset"] = self.dataset
        return table


def default_database(name: str) -> Path:
    return data_dir() / f"{name}.duckdb"


def default_dataset(name: str, database: Path) -> str:
    """``main`` in the resource's own file, ``drift_<name>`` in a file it may share."""
    if _same_file(database, default_database(name)):
        return "main"
    return "drift_" + name.replace("-", "_")


def duckdb_destination(
    name: str, database: str | Path | None = None, dataset: str | None = None
) -> DuckDBDestination:
    """The DuckDB destination of resource ``name``, with the defaults filled in."""
    path = Path(database).expanduser() if database else default_database(name)
    if not path.is_absolute():
        path = data_dir() / path
    chosen = dataset if dataset is not None else default_dataset(name, path)
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", chosen):
        raise ConfigError(
            f"Dataset {chosen!r} is not a plain schema name; use letters, digits and _ "
            "(e.g. drift_acme)."
        )
    return DuckDBDestination(path, chosen)


def _same_file(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def _duckdb_from_toml(name: str, table: dict[str, Any], where: str) -> DuckDBDestination:
    _known(table, ("kind", "database", "dataset"), f"{where}.destination")
    database = _optional_str(table, "database", f"{where}.destination")
    dataset = _optional_str(table, "dataset", f"{where}.destination")
    return duckdb_destination(name, database, dataset)


@dataclass(frozen=True)
class PostgresResourceDestination:
    """A schema in a PostgreSQL database: ``url`` stored (a password in it makes the file
    private), or ``url_env`` naming the variable that holds it, read at each run. Without a
    password in the URL, libpq's ``PGPASSWORD`` or ``~/.pgpass`` supplies it."""

    dataset: str
    url: str | None = None
    url_env: str | None = None
    kind: str = field(default="postgres", init=False)

    @property
    def holds_secrets(self) -> bool:
        return self.url is not None and urlsplit(self.url).password is not None

    def describe(self) -> str:
        if self.url_env is not None:
            return f"PostgreSQL URL in ${self.url_env} (schema {self.dataset})"
        return self.settings("").describe()

    def same_place(self, other: DestinationSettings) -> bool:
        if not isinstance(other, PostgresResourceDestination) or other.dataset != self.dataset:
            return False
        if self.url_env is not None or other.url_env is not None:
            return self.url_env == other.url_env
        a, b = self.settings(""), other.settings("")
        return (a.address, a.database) == (b.address, b.database)

    def to_toml(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = {"kind": self.kind}
        if self.url is not None:
            table["url"] = self.url
        if self.url_env is not None:
            table["url_env"] = self.url_env
        if self.dataset != "drift_" + name.replace("-", "_"):
            table["dataset"] = self.dataset
        return table

    def settings(self, resource: str) -> Any:
        """The :class:`~driftsync.destinations.PostgresDestination`, environment read now."""
        from .destinations import postgres_destination

        if self.url_env is not None:
            url = os.environ.get(self.url_env)
            if not url:
                raise ConfigError(
                    f"Resource '{resource}' reads its PostgreSQL URL from {self.url_env}, which "
                    f"is not set. Set it, or change the resource with 'driftsync resource edit "
                    f"{resource}'."
                )
            return postgres_destination(url, self.dataset, where=self.url_env)
        return postgres_destination(str(self.url), self.dataset, where="url")


def postgres_resource_destination(name: str, url: str | None = None, url_env: str | None = None,
                                  dataset: str | None = None) -> PostgresResourceDestination:
    """Checked: exactly one of ``url`` and ``url_env``; schema ``drift_<name>`` by default."""
    if (url is None) == (url_env is None):
        raise ConfigError("A postgres destination needs exactly one of url and url_env (the "
                          "name of the environment variable that holds the URL).")
    if url_env is not None:
        check_env_name(url_env, "URL variable")
    chosen = dataset or "drift_" + name.replace("-", "_")
    made = PostgresResourceDestination(chosen, url, url_env)
    if url is not None:
        made.settings(name)  # a ConfigError now for a URL that can never work
    elif not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", chosen):
        raise ConfigError(f"Schema {chosen!r} is not a plain PostgreSQL schema name; use "
                          "letters, digits and _.")
    return made


def _postgres_from_toml(name: str, table: dict[str, Any], where: str
                        ) -> PostgresResourceDestination:
    _known(table, ("kind", "url", "url_env", "dataset"), f"{where}.destination")
    return postgres_resource_destination(
        name, _optional_str(table, "url", f"{where}.destination"),
        _optional_str(table, "url_env", f"{where}.destination"),
        _optional_str(table, "dataset", f"{where}.destination"))


@dataclass(frozen=True)
class PublishedResourceDestination:
    """Any other dlt destination (``kind`` is its dlt name): synced into ``working_copy``
    (default ``<data dir>/<name>.duckdb``), then published (see :mod:`driftsync.publish`).
    ``location``: the folder or bucket URL of ``filesystem``. Credentials come from dlt's
    own configuration (``DESTINATION__<KIND>__CREDENTIALS...``), never from this file."""

    kind: str
    working_copy: Path
    dataset: str = "drift"
    location: str | None = None

    @property
    def holds_secrets(self) -> bool:
        return False

    @property
    def database(self) -> Path:
        """The working copy: where the run history is, as for a DuckDB resource."""
        return self.working_copy

    def describe(self) -> str:
        return self.settings().describe()

    def same_place(self, other: DestinationSettings) -> bool:
        return (isinstance(other, PublishedResourceDestination) and self.kind == other.kind
                and self.location == other.location and self.dataset == other.dataset) or (
            isinstance(other, PublishedResourceDestination | DuckDBDestination)
            and _same_file(self.working_copy, other.database))

    def to_toml(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = {"kind": self.kind}
        if self.location is not None:
            table["location"] = self.location
        if not _same_file(self.working_copy, default_database(name)):
            table["working_copy"] = str(self.working_copy)
        if self.dataset != "drift":
            table["dataset"] = self.dataset
        return table

    def settings(self) -> Any:
        from .destinations import published_destination

        return published_destination(self.kind, self.location, self.dataset, self.working_copy)


def published_resource_destination(name: str, kind: str, location: str | None = None,
                          dataset: str | None = None) -> PublishedResourceDestination:
    """A published destination for resource ``name`` (working copy in the data directory)."""
    table: dict[str, Any] = {"kind": kind}
    if location is not None:
        table["location"] = (location if "://" in location
                             else str(Path(location).expanduser().absolute()))
    if dataset is not None:
        table["dataset"] = dataset
    return _published_from_toml(name, table, f"resource '{name}'")


def _published_from_toml(name: str, table: dict[str, Any], where: str
                         ) -> PublishedResourceDestination:
    _known(table, ("kind", "location", "dataset", "working_copy"), f"{where}.destination")
    copy = _optional_str(table, "working_copy", f"{where}.destination")
    path = Path(copy).expanduser() if copy else default_database(name)
    made = PublishedResourceDestination(
        kind=str(table["kind"]),
        working_copy=path if path.is_absolute() else data_dir() / path,
        dataset=_optional_str(table, "dataset", f"{where}.destination") or "drift",
        location=_optional_str(table, "location", f"{where}.destination"),
    )
    made.settings()  # a ConfigError now for a kind or location that can never work
    return made


DESTINATION_KINDS: dict[str, Callable[[str, dict[str, Any], str], DestinationSettings]] = {
    "duckdb": _duckdb_from_toml,
    "postgres": _postgres_from_toml,
}
"""Destination kind -> parser of its ``[destination]`` table (resource name, table, where).
Any other kind that is a plain name is a dlt destination, published to from a working copy
(:func:`destination_parser`)."""


def destination_parser(kind: Any) -> Callable[[str, dict[str, Any], str], DestinationSettings] | None:
    """The parser for ``kind``: a registered one, else the published one for a dlt name."""
    if not isinstance(kind, str):
        return None
    if kind in DESTINATION_KINDS:
        return DESTINATION_KINDS[kind]
    return _published_from_toml if re.fullmatch(r"[a-z][a-z0-9_]*", kind) else None


# -- resources --------------------------------------------------------------------------

@dataclass(frozen=True)
class OAuthClient:
    """A resource's OAuth refresh settings: each secret stored, or named by an env var."""

    client_id: str
    client_secret: Secret | None = None
    client_secret_env: str | None = None
    refresh_token: Secret | None = None
    refresh_token_env: str | None = None

    def __post_init__(self) -> None:
        for what, stored, env in (
            ("client secret", self.client_secret, self.client_secret_env),
            ("refresh token", self.refresh_token, self.refresh_token_env),
        ):
            if (stored is None) == (env is None):
                key = what.replace(" ", "_")
                raise ConfigError(
                    f"OAuth for client {self.client_id} needs the {what}: set exactly one of "
                    f"{key} and {key}_env."
                )

    @property
    def holds_secrets(self) -> bool:
        return self.client_secret is not None or self.refresh_token is not None

    def settings(self, resource: str) -> OAuthSettings:
        """:class:`~driftsync.config.OAuthSettings` with the environment read now."""
        secret = self.client_secret or _from_env(
            str(self.client_secret_env), "client secret", resource)
        refresh = self.refresh_token or _from_env(
            str(self.refresh_token_env), "refresh token", resource)
        source = (f"resource '{resource}'" if self.refresh_token is not None
                  else str(self.refresh_token_env))
        return OAuthSettings(self.client_id, secret, refresh, source)

    def describe(self) -> str:
        def shown(stored: Secret | None, env: str | None) -> str:
            return mask(stored) if stored is not None else f"env:{env}"

        return (f"client {self.client_id}, client secret "
                f"{shown(self.client_secret, self.client_secret_env)}, refresh token "
                f"{shown(self.refresh_token, self.refresh_token_env)}")

    def to_toml(self) -> dict[str, Any]:
        table: dict[str, Any] = {"client_id": self.client_id}
        for key, stored, env in (
            ("client_secret", self.client_secret, self.client_secret_env),
            ("refresh_token", self.refresh_token, self.refresh_token_env),
        ):
            if stored is not None:
                table[key] = stored.reveal()
            else:
                table[f"{key}_env"] = env
        return table


@dataclass(frozen=True)
class Resource:
    """One Drift workspace and how to sync it (see the module docstring)."""

    name: str
    destination: DestinationSettings
    token: Secret | None = None
    token_env: str | None = None
    oauth: OAuthClient | None = None
    tables: tuple[str, ...] | None = None
    """None: every table in the catalog, including tables added to it later."""
    schedule: Schedule = MANUAL
    state: State = "enabled"
    mode: Mode = "incremental"
    notify: tuple[dict[str, Any], ...] = ()
    """Raw notification targets, as :func:`driftsync.notify.targets_from_config` reads them."""
    api_url: str | None = None
    rate_limit: int | None = None
    """Requests per minute, at most; None: the Drift client's own default pace."""

    def __post_init__(self) -> None:
        check_name(self.name)
        if self.token is not None and self.token_env is not None:
            raise ConfigError(f"Resource '{self.name}' has both token and token_env; keep one.")
        if self.token is None and self.token_env is None and self.oauth is None:
            raise ConfigError(
                f"Resource '{self.name}' has no token: set token_env (or token), or OAuth "
                "client settings."
            )
        if self.token_env is not None:
            check_env_name(self.token_env, "token variable")
        if self.state not in STATES:
            raise ConfigError(f"Resource '{self.name}': state must be enabled or paused, "
                              f"not {self.state!r}.")
        if self.mode not in MODES:
            raise ConfigError(f"Resource '{self.name}': mode must be incremental or "
                              f"full-refresh, not {self.mode!r}.")
        if self.tables is not None:
            from .catalog import select_tables

            if not self.tables:
                raise ConfigError(f"Resource '{self.name}': tables is empty; leave it out to "
                                  "sync every table.")
            select_tables(list(self.tables))
        if self.api_url is not None:
            object.__setattr__(self, "api_url", check_api_url(self.api_url))
        if self.rate_limit is not None and (
            type(self.rate_limit) is not int or self.rate_limit < 1
        ):
            raise ConfigError(f"Resource '{self.name}': rate_limit must be a whole number of "
                              "requests per minute, 1 or more.")
        check_notify(self.notify, f"Resource '{self.name}'")

    @property
    def enabled(self) -> bool:
        return self.state == "enabled"

    @property
    def holds_secrets(self) -> bool:
        return (
            self.token is not None
            or (self.oauth is not None and self.oauth.holds_secrets)
            or self.destination.holds_secrets
        )

    def access_token(self) -> Secret | None:
        """The access token, read from the environment now if named by ``token_env``.

        None only with OAuth and no token: the first request then refreshes one.
        """
        if self.token_env is not None:
            return _from_env(self.token_env, "access token", self.name)
        return self.token

    @property
    def token_source(self) -> str:
        """Where the token comes from, for messages: never the token itself."""
        return self.token_env if self.token_env else f"resource '{self.name}'"

    def masked_token(self) -> str:
        if self.token_env is not None:
            return f"env:{self.token_env}"
        if self.token is not None:
            return mask(self.token)
        return "OAuth"

    def table_names(self) -> list[str]:
        """The chosen tables, or every table in the catalog."""
        from .catalog import CATALOG

        return list(self.tables) if self.tables is not None else list(CATALOG)

    def to_toml(self) -> dict[str, Any]:
        table: dict[str, Any] = {}
        if self.token is not None:
            table["token"] = self.token.reveal()
        if self.token_env is not None:
            table["token_env"] = self.token_env
        if self.api_url is not None:
            table["api_url"] = self.api_url
        if self.tables is not None:
            table["tables"] = list(self.tables)
        table["schedule"] = self.schedule.text
        table["state"] = self.state
        table["mode"] = self.mode
        if self.rate_limit is not None:
            table["rate_limit"] = self.rate_limit
        if self.notify:
            table["notify"] = [dict(target) for target in self.notify]
        table["destination"] = self.destination.to_toml(self.name)
        if self.oauth is not None:
            table["oauth"] = self.oauth.to_toml()
        return table


_RESOURCE_KEYS = ("token", "token_env", "api_url", "tables", "schedule", "state", "mode",
                  "rate_limit", "notify", "destination", "oauth")
_OAUTH_KEYS = ("client_id", "client_secret", "client_secret_env", "refresh_token",
               "refresh_token_env")


def resource_from_toml(name: str, table: Mapping[str, Any], where: str) -> Resource:
    """A resource from its ``[resources.NAME]`` table; ``where`` names it in errors."""
    check_name(name)
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where} must be a table.")
    data = dict(table)
    _known(data, _RESOURCE_KEYS, where)
    destination = data.get("destination", {"kind": "duckdb"})
    if not isinstance(destination, dict):
        raise ConfigError(f"{where}.destination must be a table.")
    kind = destination.get("kind", "duckdb")
    parser = destination_parser(kind)
    if parser is None:
        raise ConfigError(
            f"{where}.destination: kind {kind!r} is not supported; use "
            f"{', '.join(DESTINATION_KINDS)} or a dlt destination name such as filesystem."
        )
    token = _optional_str(data, "token", where)
    token_env = _optional_str(data, "token_env", where)
    tables = data.get("tables")
    if tables is not None and (
        not isinstance(tables, list) or not all(isinstance(t, str) for t in tables)
    ):
        raise ConfigError(f"{where}: tables must be a list of table names.")
    notify = data.get("notify", [])
    if not isinstance(notify, list) or not all(isinstance(n, dict) for n in notify):
        raise ConfigError(f"{where}: notify must be a list of tables.")
    schedule_text = _optional_str(data, "schedule", where)
    try:
        schedule = parse_schedule(schedule_text) if schedule_text else MANUAL
        resource = Resource(
            name=name,
            destination=parser(name, destination, where),
            token=Secret(clean_word(token, "access token", where, bearer=True)) if token
            else None,
            token_env=token_env,
            oauth=_oauth_from_toml(data.get("oauth"), f"{where}.oauth"),
            tables=tuple(tables) if tables is not None else None,
            schedule=schedule,
            state=data.get("state", "enabled"),
            mode=data.get("mode", "incremental"),
            notify=tuple(notify),
            api_url=_optional_str(data, "api_url", where),
            rate_limit=data.get("rate_limit"),
        )
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if where in message else f"{where}: {message}") from None
    return resource


def _oauth_from_toml(table: Any, where: str) -> OAuthClient | None:
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table.")
    _known(table, _OAUTH_KEYS, where)
    client_id = _optional_str(table, "client_id", where)
    if not client_id:
        raise ConfigError(f"{where}: client_id is missing.")
    values = {key: _optional_str(table, key, where) for key in _OAUTH_KEYS[1:]}
    for key in ("client_secret_env", "refresh_token_env"):
        if values[key] is not None:
            check_env_name(str(values[key]), key.replace("_", " ").replace(" env", " variable"))
    return OAuthClient(
        client_id=clean_word(client_id, "client id", where),
        client_secret=Secret(values["client_secret"]) if values["client_secret"] else None,
        client_secret_env=values["client_secret_env"],
        refresh_token=Secret(values["refresh_token"]) if values["refresh_token"] else None,
        refresh_token_env=values["refresh_token_env"],
    )


def check_notify(targets: tuple[dict[str, Any], ...], where: str) -> None:
    """Validate notification targets with :mod:`driftsync.notify`, which owns their rules."""
    if not targets:
        return
    try:
        from .notify import targets_from_config
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.notify":
            raise
        return  # TODO: drop this fallback once driftsync.notify has landed
    try:
        targets_from_config(list(targets))
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _known(table: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; the keys are {', '.join(keys)}.")


def _optional_str(table: Mapping[str, Any], key: str, where: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: {key} must be a string.")
    return value


# -- the file ---------------------------------------------------------------------------

HEADER = (
    "# driftsync resources: one [resources.NAME] table each. Written by 'driftsync resource';\n"
    "# it may hold tokens, so keep it readable by its owner only (chmod 600).\n\n"
)


class ResourceStore:
    """``resources.toml``: read whole, changed under a lock, replaced atomically (0600)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or resources_path()

    def __repr__(self) -> str:
        return f"ResourceStore({str(self.path)!r})"

    def load(self) -> dict[str, Resource]:
        """Every resource, by name, in file order; empty when there is no file."""
        if not self.path.exists():
            return {}
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Cannot read {self.path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{self.path} is not valid TOML: {exc}") from exc
        _known(data, ("resources",), str(self.path))
        tables = data.get("resources", {})
        if not isinstance(tables, dict):
            raise ConfigError(f"{self.path}: [resources] must be a table.")
        resources = {
            name: resource_from_toml(name, table, f"{self.path} [resources.{name}]")
            for name, table in tables.items()
        }
        holding = [r.name for r in resources.values() if r.holds_secrets]
        if holding and _readable_by_others(self.path):
            raise ConfigError(
                f"{self.path} holds a token (resource '{holding[0]}') but other users have "
                f"access to it. Run: chmod 600 {self.path}"
            )
        return resources

    def get(self, name: str) -> Resource:
        resource = self.load().get(name)
        if resource is None:
            raise UnknownResourceError(name)
        return resource

    def ensure_absent(self, name: str) -> None:
        """ConfigError if ``name`` is taken: lets a command stop before asking Drift."""
        if name in self.load():
            raise _taken(name)

    def add(self, resource: Resource) -> None:
        with self._changing() as resources:
            if resource.name in resources:
                raise _taken(resource.name)
            _check_apart(resource, resources)
            resources[resource.name] = resource

    def replace(self, resource: Resource) -> None:
        with self._changing() as resources:
            if resource.name not in resources:
                raise UnknownResourceError(resource.name)
            _check_apart(resource, resources)
            resources[resource.name] = resource

    def remove(self, name: str) -> Resource:
        """Forget the resource and its stored OAuth tokens; its data stays where it is."""
        with self._changing() as resources:
            if name not in resources:
                raise UnknownResourceError(name)
            removed = resources.pop(name)
        with contextlib.suppress(FileNotFoundError):
            token_store_path(name).unlink()
        return removed

    def set_state(self, name: str, state: State) -> Resource:
        with self._changing() as resources:
            if name not in resources:
                raise UnknownResourceError(name)
            resources[name] = replace(resources[name], state=state)
            return resources[name]

    def save(self, resources: Mapping[str, Resource]) -> None:
        document = {"resources": {name: r.to_toml() for name, r in resources.items()}}
        try:
            _write_private(self.path, HEADER + tomli_w.dumps(document))
        except OSError as exc:
            raise ConfigError(
                f"Cannot write {self.path} ({exc.strerror or type(exc).__name__}); nothing "
                "was changed."
            ) from exc

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, Resource]]:
        """Load, let the caller change, save: under a lock, so two commands changing
        resources at once (CLI, web app) cannot lose each other's change."""
        with _locked(self.path):
            resources = self.load()
            yield resources
            self.save(resources)


def _taken(name: str) -> ConfigError:
    return ConfigError(
        f"A resource named '{name}' already exists; change it with "
        f"'driftsync resource edit {name}', or remove it first."
    )


def _check_apart(resource: Resource, others: Mapping[str, Resource]) -> None:
    for other in others.values():
        if other.name != resource.name and other.destination.same_place(resource.destination):
            raise ConfigError(
                f"Resource '{resource.name}' would write into the same place as "
                f"'{other.name}': {other.destination.describe()}. Choose another --dataset "
                "or --database."
            )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no advisory locks, the atomic write still holds
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        handle = open(path.with_name(f".{path.name}.lock"), "a")
    except OSError as exc:
        raise ConfigError(f"Cannot lock {path} ({exc.strerror}); nothing was changed.") from exc
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
