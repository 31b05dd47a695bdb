"""Where settings come from: a flag, else an environment variable, else the config file.

The config file is TOML (``$DRIFTSYNC_CONFIG``, default ``~/.config/driftsync/config.toml``)::

    [drift]
    access_token = "..."        # or leave it out and set DRIFT_ACCESS_TOKEN
    api_url = "https://driftapi.com"

    [sync]
    database = "drift.duckdb"

A file that holds a token or secret must be readable by its owner only (``chmod 600``);
driftsync refuses to use it otherwise, as ssh does with private keys.

OAuth token refresh
-------------------
An OAuth access token lasts about two hours. To keep long or unattended runs going, configure
the Drift app's client id and secret and a refresh token: flags (``resolve()`` arguments),
else ``DRIFT_CLIENT_ID`` / ``DRIFT_CLIENT_SECRET`` / ``DRIFT_REFRESH_TOKEN``, else the file::

    [drift]
    client_id = "..."
    client_secret = "..."
    refresh_token = "..."
    access_token = "..."        # optional with OAuth: without it the first call refreshes

All three or none: :meth:`Settings.oauth` names what is missing from a partial set. A 401 then
refreshes the access token (``POST <api_url>/oauth2/token``) and the run goes on.

Drift may rotate the refresh token on every refresh, so the newest pair is saved in a token
store, ``tokens.toml`` beside the config file (``config_path().parent``), written atomically
(temporary file + rename) with mode 0600. The config file itself is never rewritten. The
store records the client id and a SHA-256 fingerprint of the *configured* refresh token the
pair descends from. On a later run the stored pair (access and refresh token) is used instead
of the configured ones only if both match: the same app, and the same configured token. So
putting a newly authorized refresh token into the settings makes the store stale, and it is
ignored and then overwritten by the next refresh. Delete the file to start over from the
configured token.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .api.client import DEFAULT_API_URL
from .errors import ConfigError

TOKEN_ENV = "DRIFT_ACCESS_TOKEN"
API_URL_ENV = "DRIFT_API_URL"
DATABASE_ENV = "DRIFTSYNC_DATABASE"
CONFIG_ENV = "DRIFTSYNC_CONFIG"
CLIENT_ID_ENV = "DRIFT_CLIENT_ID"
CLIENT_SECRET_ENV = "DRIFT_CLIENT_SECRET"
REFRESH_TOKEN_ENV = "DRIFT_REFRESH_TOKEN"
TOKEN_STORE_NAME = "tokens.toml"
SECRET_KEYS = {  # config-file keys that make the file private, as the message names them
    "access_token": "an access token",
    "client_secret": "a client secret",
    "refresh_token": "a refresh token",
}
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
class OAuthSettings:
    """A complete set of OAuth refresh settings, as configured (before the token store)."""

    client_id: str
    client_secret: Secret
    refresh_token: Secret
    refresh_token_source: str


@dataclass(frozen=True)
class Settings:
    token: Secret | None
    token_source: str
    api_url: str
    database: Path
    client_id: str | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    refresh_token_source: str = "none"

    def require_token(self) -> Secret:
        if self.token is None:
            raise ConfigError(
                "No Drift access token. Pass --token, set DRIFT_ACCESS_TOKEN, or put "
                f"access_token under [drift] in {config_path()}."
            )
        return self.token

    def oauth(self) -> OAuthSettings | None:
        """The OAuth refresh settings: None if none is set, a ConfigError if only some are."""
        parts = (
            ("client id", CLIENT_ID_ENV, "client_id", self.client_id),
            ("client secret", CLIENT_SECRET_ENV, "client_secret", self.client_secret),
            ("refresh token", REFRESH_TOKEN_ENV, "refresh_token", self.refresh_token),
        )
        missing = [part for part in parts if part[3] is None]
        if len(missing) == len(parts):
            return None
        if missing:
            names = " and ".join(p[0] for p in missing)
            envs = " and ".join(p[1] for p in missing)
            keys = " and ".join(p[2] for p in missing)
            verb = "is" if len(missing) == 1 else "are"
            raise ConfigError(
                f"Drift OAuth refresh needs a client id, client secret and refresh token, but "
                f"the {names} {verb} missing: set {envs}, or {keys} under [drift] in "
                f"{config_path()} (or remove the other OAuth settings to use the access token "
                "alone)."
            )
        assert self.client_id and self.client_secret and self.refresh_token
        return OAuthSettings(
            client_id=self.client_id,
            client_secret=self.client_secret,
            refresh_token=self.refresh_token,
            refresh_token_source=self.refresh_token_source,
        )


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
    drift = _section(data, "drift", path)
    held = [what for key, what in SECRET_KEYS.items() if drift.get(key)]
    if held and _readable_by_others(path):
        raise ConfigError(
            f"Config file {path} holds {held[0]} but other users have access to it. "
            f"Run: chmod 600 {path}"
        )
    return data


def resolve(
    *,
    token: str | None = None,
    api_url: str | None = None,
    database: str | Path | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    refresh_token: str | None = None,
) -> Settings:
    """Settings from flags (the arguments), then the environment, then the config file.

    The token store is not read here (see :class:`TokenStore`): commands that never call
    Drift must not fail on it.
    """
    file = load_config_file()
    drift = _section(file, "drift", config_path())
    sync = _section(file, "sync", config_path())

    token_value, source = _first(drift, token, "--token", TOKEN_ENV, "access_token",
                                 "access token", bearer=True)
    client_id_value, _ = _first(drift, client_id, "--client-id", CLIENT_ID_ENV, "client_id",
                                "client id")
    secret_value, _ = _first(drift, client_secret, "--client-secret", CLIENT_SECRET_ENV,
                             "client_secret", "client secret")
    refresh_value, refresh_source = _first(drift, refresh_token, "--refresh-token",
                                           REFRESH_TOKEN_ENV, "refresh_token", "refresh token")

    url = api_url or os.environ.get(API_URL_ENV) or drift.get("api_url") or DEFAULT_API_URL
    db = database or os.environ.get(DATABASE_ENV) or sync.get("database") or DEFAULT_DATABASE
    return Settings(
        token=Secret(token_value) if token_value else None,
        token_source=source,
        api_url=check_api_url(str(url)),
        database=Path(str(db)).expanduser(),
        client_id=client_id_value,
        client_secret=Secret(secret_value) if secret_value else None,
        refresh_token=Secret(refresh_value) if refresh_value else None,
        refresh_token_source=refresh_source,
    )


def _first(
    drift: dict[str, Any],
    flag_value: str | None,
    flag: str,
    env: str,
    key: str,
    what: str,
    *,
    bearer: bool = False,
) -> tuple[str | None, str]:
    """The first value set among flag, environment and config file, checked, and its source."""
    for candidate, where in (
        (flag_value, flag),
        (os.environ.get(env), env),
        (drift.get(key), str(config_path())),
    ):
        if candidate:
            return clean_word(str(candidate), what, where, bearer=bearer), where
    return None, "none"


def clean_token(value: str, where: str) -> str:
    return clean_word(value, "access token", where, bearer=True)


def clean_word(value: str, what: str, where: str, *, bearer: bool = False) -> str:
    """``value`` stripped (and without a ``Bearer`` prefix if ``bearer``), if it is one word."""
    word = value.strip()
    if bearer and word.lower().startswith("bearer "):
        word = word[7:].strip()
    if not word or any(ch.isspace() for ch in word) or not word.isprintable():
        raise ConfigError(
            f"The {what} from {where} is not a single word; paste only the "
            f"{what.split()[-1]} itself."
        )
    return word


# -- the token store --------------------------------------------------------------------

def token_store_path() -> Path:
    """``tokens.toml`` in the folder of the config file."""
    return config_path().parent / TOKEN_STORE_NAME


def fingerprint(refresh_token: Secret) -> str:
    """Names a configured refresh token in the store without writing the token itself."""
    return "sha256:" + hashlib.sha256(refresh_token.reveal().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StartingTokens:
    """The tokens a run starts from, and where the refresh token came from."""

    access_token: Secret | None
    refresh_token: Secret
    source: str


class TokenStore:
    """The newest OAuth token pair, kept between runs in a private file (module docstring)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or token_store_path()

    def __repr__(self) -> str:
        return f"TokenStore({str(self.path)!r})"

    def starting_tokens(self, oauth: OAuthSettings, access_token: Secret | None) -> StartingTokens:
        """The stored pair if it descends from the configured refresh token of the same app,
        else the configured tokens (``access_token`` is the configured one, may be None)."""
        stored = self._read()
        if (
            stored is not None
            and stored.get("client_id") == oauth.client_id
            and stored.get("configured_refresh_token") == fingerprint(oauth.refresh_token)
        ):
            return StartingTokens(
                access_token=Secret(stored["access_token"]),
                refresh_token=Secret(stored["refresh_token"]),
                source=str(self.path),
            )
        return StartingTokens(access_token, oauth.refresh_token, oauth.refresh_token_source)

    def save(self, oauth: OAuthSettings, access_token: str, refresh_token: str) -> None:
        """Replace the stored pair (mode 0600, atomically); fit as ``on_refresh`` with the
        settings bound (``functools.partial(store.save, oauth)``)."""
        values = {
            "client_id": oauth.client_id,
            "configured_refresh_token": fingerprint(oauth.refresh_token),
            "access_token": access_token,
            "refresh_token": refresh_token,
            "refreshed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        lines = [
            "# Written by driftsync after each Drift OAuth token refresh; do not edit.",
            "# Delete this file to start again from the refresh token in your settings.",
            "[drift]",
            *(f"{key} = {_toml_string(value)}" for key, value in values.items()),
        ]
        try:
            _write_private(self.path, "\n".join(lines) + "\n")
        except OSError as exc:
            raise ConfigError(
                f"Cannot save the refreshed Drift tokens to {self.path} "
                f"({exc.strerror or type(exc).__name__}); the next run starts from the "
                "configured refresh token, which Drift may have replaced."
            ) from exc

    def _read(self) -> dict[str, str] | None:
        if not self.path.exists():
            return None
        if _readable_by_others(self.path):
            raise ConfigError(
                f"Token store {self.path} holds tokens but other users have access to it. "
                f"Run: chmod 600 {self.path}"
            )
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(
                f"Cannot read the token store {self.path} ({type(exc).__name__}); delete it to "
                "start again from the configured refresh token."
            ) from exc
        drift = data.get("drift")
        keys = ("client_id", "configured_refresh_token", "access_token", "refresh_token")
        if not isinstance(drift, dict) or not all(
            isinstance(drift.get(k), str) and drift[k] for k in keys
        ):
            raise ConfigError(
                f"The token store {self.path} lacks [drift] {', '.join(keys)}; delete it to "
                "start again from the configured refresh token."
            )
        return drift


def _toml_string(value: str) -> str:
    # A JSON string with only ASCII in it is also a TOML basic string.
    return json.dumps(value, ensure_ascii=True)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a 0600 file, atomically: a reader sees old or new."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.chmod(temp, 0o600)  # mkstemp's default; said explicitly
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if os.name == "posix":  # make the rename itself durable
        with contextlib.suppress(OSError):
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


def check_api_url(url: str, where: str = " (--api-url or DRIFT_API_URL)") -> str:
    """``url`` without a trailing slash, or a ConfigError; ``where`` names the place the URL
    is set, as the caller's user knows it (the web wizard has no flags)."""
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        parts, port_ok = urlsplit(""), False
    if parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
        raise ConfigError(
            f"API URL {url!r} is not an http(s) URL; use e.g. {DEFAULT_API_URL}{where}."
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(
            "The API URL must be a plain http(s)://host[:port] address without credentials, "
            f"query or fragment{where}."
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"API URL {url!r} would send the access token unencrypted over the network; use "
            "https:// (plain http:// is for a simulator or proxy on this machine only)."
        )
    return url.rstrip("/")


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine: ``localhost`` or a loopback address literal
    (IPv6 in brackets or not)."""
    bare = host.strip("[]")
    if bare.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False


def _section(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ConfigError(f"Config file {path}: [{name}] must be a table.")
    return section


def _readable_by_others(path: Path) -> bool:
    if os.name != "posix":
        return False
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
