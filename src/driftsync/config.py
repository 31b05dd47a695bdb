"""Where settings come from: a flag, else an environment variable, else the config file.

The config file is TOML (``$DRIFTSYNC_CONFIG``, default ``~/.config/driftsync/config.toml``)::

    [drift]
    access_token = "..."        # or leave it out and set DRIFT_ACCESS_TOKEN
    api_url = "https://driftapi.com"

    [sync]
    database = "drift.duckdb"

A file that holds a token must be readable by its owner only (``chmod 600``); driftsync
refuses to use it otherwise, as ssh does with private keys.
"""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .api.client import DEFAULT_API_URL
from .errors import ConfigError

TOKEN_ENV = "DRIFT_ACCESS_TOKEN"
API_URL_ENV = "DRIFT_API_URL"
DATABASE_ENV = "DRIFTSYNC_DATABASE"
CONFIG_ENV = "DRIFTSYNC_CONFIG"
DEFAULT_DATABASE = Path("drift.duckdb")


class Secret:
    """A value that must not be printed: its repr and str are masked."""

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    token: Secret | None
    token_source: str
    api_url: str
    database: Path

    def require_token(self) -> Secret:
        if self.token is None:
            raise ConfigError(
                "No Drift access token. Pass --token, set DRIFT_ACCESS_TOKEN, or put "
                f"access_token under [drift] in {config_path()}."
            )
        return self.token


def config_path() -> Path:
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "driftsync" / "config.toml"


def load_config_file(path: Path | None = None) -> dict[str, Any]:
    path = path or config_path()
    if not path.exists():
        if os.environ.get(CONFIG_ENV):
            raise ConfigError(f"Config file {path} (from {CONFIG_ENV}) does not exist.")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}") from exc
    if _section(data, "drift", path).get("access_token") and _readable_by_others(path):
        raise ConfigError(
            f"Config file {path} holds an access token but other users have access to it. "
            f"Run: chmod 600 {path}"
        )
    return data


def resolve(
    *,
    token: str | None = None,
    api_url: str | None = None,
    database: str | Path | None = None,
) -> Settings:
    """Settings from flags (the arguments), then the environment, then the config file."""
    file = load_config_file()
    drift = _section(file, "drift", config_path())
    sync = _section(file, "sync", config_path())

    token_value, source = None, "none"
    for candidate, where in (
        (token, "--token"),
        (os.environ.get(TOKEN_ENV), TOKEN_ENV),
        (drift.get("access_token"), str(config_path())),
    ):
        if candidate:
            token_value, source = clean_token(str(candidate), where), where
            break

    url = api_url or os.environ.get(API_URL_ENV) or drift.get("api_url") or DEFAULT_API_URL
    db = database or os.environ.get(DATABASE_ENV) or sync.get("database") or DEFAULT_DATABASE
    return Settings(
        token=Secret(token_value) if token_value else None,
        token_source=source,
        api_url=check_api_url(str(url)),
        database=Path(str(db)).expanduser(),
    )


def clean_token(value: str, where: str) -> str:
    token = value.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    if not token or any(ch.isspace() for ch in token) or not token.isprintable():
        raise ConfigError(
            f"The access token from {where} is not a single word; paste only the token itself."
        )
    return token


def check_api_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(
            f"API URL {url!r} is not an http(s) URL; use e.g. {DEFAULT_API_URL} "
            "(--api-url or DRIFT_API_URL)."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            "The API URL must be a plain http(s)://host[:port] address without credentials, "
            "query or fragment (--api-url or DRIFT_API_URL)."
        )
    return url.rstrip("/")


def _section(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"Config file {path}: [{name}] must be a table.")
    return section


def _readable_by_others(path: Path) -> bool:
    if os.name != "posix":
        return False
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
