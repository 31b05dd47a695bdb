"""Settings resolution for OAuth refresh, and the token store beside the config file."""

from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from driftsync.config import (
    OAuthSettings,
    Secret,
    Settings,
    StartingTokens,
    TokenStore,
    fingerprint,
    resolve,
    token_store_path,
)
from driftsync.errors import ConfigError

OAUTH_ENV = {"DRIFT_CLIENT_ID": "env-client", "DRIFT_CLIENT_SECRET": "env-SECRET",
             "DRIFT_REFRESH_TOKEN": "env-REFRESH"}


@pytest.fixture(autouse=True)
def no_oauth_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OAUTH_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The default config file path (conftest points XDG_CONFIG_HOME into tmp_path)."""
    path = tmp_path / "xdg" / "driftsync" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def write_config(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)


FILE_OAUTH = ('[drift]\nclient_id = "file-client"\nclient_secret = "file-SECRET"\n'
              'refresh_token = "file-REFRESH"\n')


# -- precedence ---------------------------------------------------------------------------


def test_oauth_settings_come_from_flag_then_env_then_config_file(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(config, FILE_OAUTH)
    assert resolve().oauth() == OAuthSettings(
        client_id="file-client", client_secret=Secret("file-SECRET"),
        refresh_token=Secret("file-REFRESH"), refresh_token_source=str(config))

    for name, value in OAUTH_ENV.items():
        monkeypatch.setenv(name, value)
    assert resolve().oauth() == OAuthSettings(
        client_id="env-client", client_secret=Secret("env-SECRET"),
        refresh_token=Secret("env-REFRESH"), refresh_token_source="DRIFT_REFRESH_TOKEN")

    flags = resolve(client_id="flag-client", client_secret="flag-SECRET",
                    refresh_token="flag-REFRESH").oauth()
    assert flags == OAuthSettings(
        client_id="flag-client", client_secret=Secret("flag-SECRET"),
        refresh_token=Secret("flag-REFRESH"), refresh_token_source="--refresh-token")


def test_each_setting_falls_back_on_its_own(config: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(config, FILE_OAUTH)
    monkeypatch.setenv("DRIFT_CLIENT_SECRET", "env-SECRET")

    settings = resolve(client_id="flag-client")

    assert (settings.client_id, settings.client_secret, settings.refresh_token) == (
        "flag-client", Secret("env-SECRET"), Secret("file-REFRESH"))


def test_no_oauth_settings_means_no_oauth() -> None:
    settings = resolve(token="tok")
    assert settings.oauth() is None
    assert (settings.client_id, settings.client_secret, settings.refresh_token,
            settings.refresh_token_source) == (None, None, None, "none")


def test_secrets_are_masked_in_reprs(config: Path) -> None:
    write_config(config, FILE_OAUTH.replace("[drift]\n", '[drift]\naccess_token = "file-TOKEN"\n'))
    settings = resolve()
    texts = [repr(settings), str(settings), repr(settings.oauth())]
    for text in texts:
        for secret in ("file-SECRET", "file-REFRESH", "file-TOKEN"):
            assert secret not in text
    assert "client_secret=Secret('****')" in texts[0]


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({"DRIFT_CLIENT_ID": "c"},
         "the client secret and refresh token are missing: set DRIFT_CLIENT_SECRET and "
         "DRIFT_REFRESH_TOKEN, or client_secret and refresh_token"),
        ({"DRIFT_CLIENT_ID": "c", "DRIFT_CLIENT_SECRET": "s"},
         "the refresh token is missing: set DRIFT_REFRESH_TOKEN, or refresh_token"),
        ({"DRIFT_CLIENT_SECRET": "s", "DRIFT_REFRESH_TOKEN": "r"},
         "the client id is missing: set DRIFT_CLIENT_ID, or client_id"),
        ({"DRIFT_REFRESH_TOKEN": "r"},
         "the client id and client secret are missing: set DRIFT_CLIENT_ID and "
         "DRIFT_CLIENT_SECRET, or client_id and client_secret"),
    ],
    ids=["only-id", "no-refresh-token", "no-id", "only-refresh-token"],
)
def test_partial_oauth_settings_name_what_is_missing(
        env: dict[str, str], missing: str, monkeypatch: pytest.MonkeyPatch, config: Path) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = resolve(token="tok")  # resolving alone does not fail: 'status' needs no API

    with pytest.raises(ConfigError) as caught:
        settings.oauth()

    assert str(caught.value) == (
        f"Drift OAuth refresh needs a client id, client secret and refresh token, but {missing} "
        f"under [drift] in {config} (or remove the other OAuth settings to use the access "
        "token alone).")


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("DRIFT_REFRESH_TOKEN",
         "The refresh token from DRIFT_REFRESH_TOKEN is not a single word; paste only the token "
         "itself."),
        ("DRIFT_CLIENT_SECRET",
         "The client secret from DRIFT_CLIENT_SECRET is not a single word; paste only the secret "
         "itself."),
        ("DRIFT_CLIENT_ID",
         "The client id from DRIFT_CLIENT_ID is not a single word; paste only the id itself."),
    ],
)
def test_a_value_with_spaces_is_refused(variable: str, message: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(variable, "two words")
    with pytest.raises(ConfigError) as caught:
        resolve()
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("key", "what"),
    [("client_secret", "a client secret"), ("refresh_token", "a refresh token")],
)
def test_a_config_file_with_an_oauth_secret_must_be_private(config: Path, key: str,
                                                            what: str) -> None:
    write_config(config, f'[drift]\n{key} = "x"\n', mode=0o644)
    with pytest.raises(ConfigError) as caught:
        resolve()
    assert str(caught.value) == (
        f"Config file {config} holds {what} but other users have access to it. "
        f"Run: chmod 600 {config}")


# -- the token store ----------------------------------------------------------------------


def oauth(client_id: str = "app-1", refresh: str = "rt-configured") -> OAuthSettings:
    return OAuthSettings(client_id=client_id, client_secret=Secret("cs"),
                         refresh_token=Secret(refresh), refresh_token_source="DRIFT_REFRESH_TOKEN")


def test_the_store_lives_beside_the_config_file(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert token_store_path() == tmp_path / "xdg" / "driftsync" / "tokens.toml"
    monkeypatch.setenv("DRIFTSYNC_CONFIG", str(tmp_path / "etc" / "drift.toml"))
    assert TokenStore().path == tmp_path / "etc" / "tokens.toml"


def test_saving_writes_a_private_file_atomically(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "new" / "tokens.toml")

    store.save(oauth(), "at-1", 'rt-"odd"\\1')
    store.save(oauth(), "at-2", "rt-2")

    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert os.listdir(store.path.parent) == ["tokens.toml"]  # no temporary file left over
    stored = tomllib.loads(store.path.read_text())["drift"]
    assert {k: v for k, v in stored.items() if k != "refreshed_at"} == {
        "client_id": "app-1",
        "configured_refresh_token": fingerprint(Secret("rt-configured")),
        "access_token": "at-2",
        "refresh_token": "rt-2",
    }
    assert "rt-configured" not in store.path.read_text()


def test_a_value_that_needs_escaping_survives_the_round_trip(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.toml")
    store.save(oauth(), "at-1", 'rt-"odd"\\1')
    start = store.starting_tokens(oauth(), None)
    assert start.refresh_token == Secret('rt-"odd"\\1')


def test_the_stored_pair_wins_only_for_the_same_app_and_configured_token(
        tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.toml")
    configured = StartingTokens(Secret("at-configured"), Secret("rt-configured"),
                                "DRIFT_REFRESH_TOKEN")
    assert store.starting_tokens(oauth(), Secret("at-configured")) == configured  # no store

    store.save(oauth(), "at-stored", "rt-stored")

    assert store.starting_tokens(oauth(), Secret("at-configured")) == StartingTokens(
        Secret("at-stored"), Secret("rt-stored"), str(store.path))
    # another app: its tokens are not ours
    assert store.starting_tokens(oauth(client_id="app-2"), Secret("at-configured")) == (
        StartingTokens(Secret("at-configured"), Secret("rt-configured"), "DRIFT_REFRESH_TOKEN"))
    # a newly configured refresh token (re-authorized): newer than anything stored
    assert store.starting_tokens(oauth(refresh="rt-new"), None) == StartingTokens(
        None, Secret("rt-new"), "DRIFT_REFRESH_TOKEN")


def test_a_store_readable_by_others_is_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.toml")
    store.save(oauth(), "at", "rt")
    store.path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        store.starting_tokens(oauth(), None)
    assert str(caught.value) == (
        f"Token store {store.path} holds tokens but other users have access to it. "
        f"Run: chmod 600 {store.path}")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[drift\n", "Cannot read the token store {path} (TOMLDecodeError); delete it to start "
                     "again from the configured refresh token."),
        ('[drift]\nclient_id = "app-1"\n',
         "The token store {path} lacks [drift] client_id, configured_refresh_token, "
         "access_token, refresh_token; delete it to start again from the configured refresh "
         "token."),
    ],
    ids=["not-toml", "incomplete"],
)
def test_a_damaged_store_says_to_delete_it(tmp_path: Path, text: str, message: str) -> None:
    store = TokenStore(tmp_path / "tokens.toml")
    write_config(store.path, text)
    with pytest.raises(ConfigError) as caught:
        store.starting_tokens(oauth(), None)
    assert str(caught.value) == message.format(path=store.path)


def test_a_store_that_cannot_be_written_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_text("a file, not a folder")
    store = TokenStore(tmp_path / "blocker" / "tokens.toml")
    with pytest.raises(ConfigError) as caught:
        store.save(oauth(), "at-SECRET", "rt-SECRET")
    assert str(caught.value) == (
        f"Cannot save the refreshed Drift tokens to {store.path} (File exists); the next run "
        "starts from the configured refresh token, which Drift may have replaced.")
    assert "SECRET" not in str(caught.value)


def test_settings_stay_constructible_without_oauth_fields() -> None:
    settings = Settings(token=None, token_source="none", api_url="https://driftapi.com",
                        database=Path("drift.duckdb"))
    assert settings.oauth() is None
