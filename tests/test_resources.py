"""Resources: set up once with the CLI, kept private on disk, synced by name or all at once.

Every test talks to the simulator over loopback and writes real DuckDB files in its own
folder; the resources file lives in the test's own $XDG_CONFIG_HOME (conftest).
"""

from __future__ import annotations

import stat
import subprocess
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from driftsync.cli import main
from driftsync.config import Secret
from driftsync.errors import ConfigError
from driftsync.jobs import resource_status, run_resource
from driftsync.resources import ResourceStore, mask, parse_schedule

from .conftest import fetch_rows, running

SMALL = {"accounts": 20, "conversations": 30, "users": 7}
TOKEN = "drft-resource-SECRET-token-ab12"
TOKEN_HELP = ("Copy a fresh OAuth access token from your Drift app (dev.drift.com > your app > "
              "Installing to Drift) and give that one.")


def stored_token_help(name: str) -> str:
    return (f"Resource '{name}' needs a fresh OAuth access token from your Drift app "
            "(dev.drift.com > your app > Installing to Drift): store a working one with: "
            f"driftsync resource edit {name} --token -.")


@pytest.fixture(autouse=True)
def no_home(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DRIFTSYNC_HOME", "ACME_TOKEN", "BETA_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The data directory: the config file's folder under the test's XDG_CONFIG_HOME."""
    return tmp_path / "xdg" / "driftsync"


def cli(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)


def add(sim: Any, name: str, *extra: str, env: dict[str, str] | None = None) -> Result:
    return cli("resource", "add", name, "--api-url", sim.url, *extra, env=env)


def stored(home: Path) -> dict[str, Any]:
    return tomllib.loads((home / "resources.toml").read_text())["resources"]


# -- add ----------------------------------------------------------------------------------

def test_add_with_a_token_variable_checks_it_and_saves_only_the_name(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        result = add(sim, "acme", "--token-env", "ACME_TOKEN", "--tables", "accounts,users",
                     "--schedule", "every 120m", env={"ACME_TOKEN": TOKEN})
        org, url = sim.dataset.org_id, sim.url
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Added resource 'acme': accounts, users into {home / 'acme.duckdb'} (schema main); "
        "schedule every 2h; enabled.\n"
        f"Token OK (from ACME_TOKEN) for Drift org {org}.\n"
        "Sync it now: driftsync sync acme\n"
    )
    assert stored(home) == {"acme": {
        "token_env": "ACME_TOKEN", "api_url": url, "tables": ["accounts", "users"],
        "schedule": "every 2h", "state": "enabled", "mode": "incremental",
        "destination": {"kind": "duckdb"},
    }}
    assert stat.S_IMODE((home / "resources.toml").stat().st_mode) == 0o600


def test_a_prompted_token_is_stored_privately_and_never_shown(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        result = cli("resource", "add", "beta", "--api-url", sim.url, "--tables", "users",
                     "--notify-webhook", "https://hooks.example.com/services/T0/B0/HOOK-SECRET",
                     input=f"{TOKEN}\n")
        url = sim.url
    assert result.exit_code == 0, result.stderr
    assert TOKEN not in result.output
    assert "Token OK (from resource 'beta')" in result.stdout
    path = home / "resources.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stored(home)["beta"]["token"] == TOKEN

    listing = cli("resource", "list")
    assert listing.exit_code == 0
    assert TOKEN not in listing.output
    header, row = listing.stdout.splitlines()
    assert header.split() == ["name", "tables", "destination", "schedule", "state", "token"]
    assert row.split() == ["beta", "users", str(home / "beta.duckdb"), "(schema", "main)",
                           "manual", "enabled", "drft…ab12"]

    shown = cli("resource", "show", "beta")
    assert shown.exit_code == 0
    assert TOKEN not in shown.output and "HOOK-SECRET" not in shown.output
    assert shown.stdout.splitlines() == [
        "name         beta",
        "state        enabled",
        "token        drft…ab12",
        f"api url      {url}",
        "tables       users",
        f"destination  duckdb {home / 'beta.duckdb'} (schema main)",
        "schedule     manual",
        "mode         incremental",
        "rate limit   default (600 a minute on Drift's hosts)",
        "notify       webhook url=https://hooks.example.com/…",
        f"file         {path}",
    ]


def test_a_wrong_token_is_one_line_and_nothing_is_saved(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        result = add(sim, "acme", "--token", "wrong-SECRET-token-99")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Drift rejected the access token (401: authentication_error: The access token "
        f"is invalid or has expired). {TOKEN_HELP}\n"
    )
    assert "wrong-SECRET-token-99" not in result.output
    assert not (home / "resources.toml").exists()


def test_a_missing_scope_is_refused_naming_table_and_scope(home: Path) -> None:
    with running(**SMALL, token=TOKEN, missing_scopes={"user_read"}) as sim:
        result = add(sim, "acme", "--token", TOKEN, "--tables", "accounts,users")
        unchecked = add(sim, "acme", "--token", TOKEN, "--tables", "accounts,users",
                        "--no-verify")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: The token lacks 'user_read' (for users). Add it under SETTINGS > OAuth & "
        "Scopes in your Drift app and reinstall the app, or leave that table out with "
        "--tables accounts.\n"
    )
    assert unchecked.exit_code == 0, unchecked.stderr
    assert "The token was not checked with Drift (--no-verify).\n" in unchecked.stdout
    assert list(stored(home)) == ["acme"]


def test_an_unset_token_variable_is_named(home: Path) -> None:
    with running(**SMALL) as sim:
        result = add(sim, "acme", "--token-env", "ACME_TOKEN")
    assert result.exit_code == 1
    assert result.stderr == (  # not "driftsync resource edit acme": acme does not exist yet
        "Error: ACME_TOKEN is not set, so the token cannot be checked. Export it (export "
        "ACME_TOKEN=...) and run this again, or add the resource with --no-verify if only "
        "the scheduler's environment sets it.\n"
    )
    assert not (home / "resources.toml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Acme!", "--token-env", "T"],
         "Resource name 'Acme!' is not valid: use lowercase letters, digits, '-' and '_' (at "
         "most 63, starting with a letter or digit), e.g. acme-eu."),
        (["acme", "--token-env", "T", "--tables", "users,messagez"],
         "Unknown table 'messagez'. Choose from: {tables}."),
        (["acme", "--token-env", "T", "--schedule", "every 0m"],
         "Schedule 'every 0m' is not understood; use 'every 30m', 'every 2h', 'daily 06:30 "
         "[Europe/Berlin]', 'weekly mon 06:30 [TZ]', 'cron \"*/15 * * * *\" [TZ]' or 'manual'."),
        (["acme", "--token-env", "not a name"],
         "The --token-env value must be the name of an environment variable (letters, digits "
         "and _, e.g. ACME_DRIFT_TOKEN), not the secret itself."),
        (["acme", "--token-env", "T", "--notify-email", "a@example.com"],
         "--notify-email needs --smtp-host, the SMTP server that sends the mail."),
        (["acme", "--token-env", "T", "--database", "system.duckdb"],
         "DuckDB reserves the name 'system' for itself, so it cannot open system.duckdb; "
         "choose another --database file name."),
    ],
    ids=["name", "table", "schedule", "env-name", "email-without-smtp", "reserved-db"],
)
def test_bad_settings_are_one_line_before_any_request(args: list[str], message: str,
                                                      home: Path) -> None:
    from driftsync.catalog import CATALOG

    result = cli("resource", "add", *args, "--api-url", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message.format(tables=', '.join(CATALOG))}\n"
    assert not (home / "resources.toml").exists()


# -- the file -----------------------------------------------------------------------------

def test_a_file_with_a_token_readable_by_others_is_refused(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "acme", "--token-env", "ACME_TOKEN", "--no-verify").exit_code == 0
        path = home / "resources.toml"
        path.chmod(0o644)
        assert cli("resource", "list").exit_code == 0  # only a variable name: nothing secret
        path.chmod(0o600)
        assert add(sim, "beta", "--token", TOKEN).exit_code == 0
    path.chmod(0o644)
    for args in (["resource", "list"], ["sync", "acme"], ["status"]):
        result = cli(*args)
        assert result.exit_code == 1
        assert result.stderr == (
            f"Error: {path} holds a token (resource 'beta') but other users have access to "
            f"it. Run: chmod 600 {path}\n"
        )


def test_a_hand_edited_file_is_checked_with_the_place_named(home: Path) -> None:
    home.mkdir(parents=True)
    path = home / "resources.toml"
    path.write_text('[resources.acme]\ntoken_env = "T"\nschedule = "daily 25:00"\n')
    result = cli("resource", "list")
    assert result.stderr == (
        f"Error: {path} [resources.acme]: Schedule 'daily 25:00': '25:00' is not a time of "
        "day; write it as HH:MM, e.g. 06:30.\n"
    )
    path.write_text('[resources.acme]\ntoken_env = "T"\nrate_limt = 5\n')
    assert cli("resource", "list").stderr == (
        f"Error: {path} [resources.acme]: unknown key 'rate_limt'; the keys are token, "
        "token_env, api_url, tables, schedule, state, mode, rate_limit, notify, destination, "
        "oauth.\n"
    )
    path.write_text('[resources.acme]\ntoken_env = "T"\n[resources.acme.destination]\n'
                    'kind = "postgres"\n')
    assert cli("resource", "list").stderr == (
        f"Error: {path} [resources.acme]: A postgres destination needs exactly one of url and "
        "url_env (the name of the environment variable that holds the URL).\n"
    )
    path.write_text('[resources.acme]\ntoken_env = "T"\n[resources.acme.destination]\n'
                    'kind = "nosuch"\n')
    assert cli("resource", "list").stderr == (
        f"Error: {path} [resources.acme]: dlt has no destination called 'nosuch'; use duckdb, "
        "postgres, or a dlt destination name such as filesystem, bigquery, snowflake, "
        "clickhouse, motherduck.\n"
    )


# -- edit, pause, resume, remove ----------------------------------------------------------

def test_edit_changes_only_what_is_given_and_rechecks_scopes(home: Path) -> None:
    with running(**SMALL, token=TOKEN, missing_scopes={"conversation_read"}) as sim:
        assert add(sim, "acme", "--token-env", "ACME_TOKEN", "--tables", "users",
                   env={"ACME_TOKEN": TOKEN}).exit_code == 0
        refused = cli("resource", "edit", "acme", "--tables", "users,conversations",
                      env={"ACME_TOKEN": TOKEN})
        changed = cli("resource", "edit", "acme", "--schedule", "weekly Mon,thu 7:05 "
                      "Europe/Berlin", "--mode", "full-refresh", "--dataset", "crm",
                      "--rate-limit", "120")
        nothing = cli("resource", "edit", "acme")
        token = cli("resource", "edit", "acme", "--token", "-", "--all-tables", "--no-verify",
                    input=f"{TOKEN}\n")
        url = sim.url
    assert refused.exit_code == 1
    assert refused.stderr == (
        "Error: The token lacks 'conversation_read' (for conversations). Add it under SETTINGS "
        "> OAuth & Scopes in your Drift app and reinstall the app, or leave that table out "
        "with --tables users.\n"
    )
    assert changed.exit_code == 0, changed.stderr
    assert changed.stdout == (
        f"Changed resource 'acme': users into {home / 'acme.duckdb'} (schema crm); schedule "
        "weekly mon,thu 07:05 Europe/Berlin; enabled.\n"
    )
    assert nothing.exit_code == 1
    assert nothing.stderr == (
        "Error: Nothing to change; see 'driftsync resource edit --help' (and 'driftsync "
        "resource show acme').\n"
    )
    assert token.exit_code == 0, token.stderr
    assert TOKEN not in token.output
    assert stored(home)["acme"] == {
        "token": TOKEN, "api_url": url, "schedule": "weekly mon,thu 07:05 Europe/Berlin",
        "state": "enabled", "mode": "full-refresh", "rate_limit": 120,
        "destination": {"kind": "duckdb", "dataset": "crm"},
    }


def test_pause_resume_and_remove(home: Path, tmp_path: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "acme", "--token", TOKEN, "--tables", "users").exit_code == 0
        assert cli("sync", "acme").exit_code == 0
    paused = cli("resource", "pause", "acme")
    assert paused.stdout == (
        "Paused resource 'acme'; resume it with: driftsync resource resume acme\n")
    assert stored(home)["acme"]["state"] == "paused"
    skipped = cli("sync", "--all")
    assert skipped.exit_code == 0
    assert skipped.stdout == ("Skipped resource 'acme': paused.\n"
                              "Synced 0 of 0 enabled resources.\n")
    resumed = cli("resource", "resume", "acme")
    assert resumed.stdout == "Resumed resource 'acme' (schedule manual).\n"
    assert stored(home)["acme"]["state"] == "enabled"

    kept = cli("resource", "remove", "acme", input="n\n")
    assert kept.exit_code == 1 and "acme" in stored(home)
    removed = cli("resource", "remove", "acme", "--yes")
    assert removed.exit_code == 0
    database = home / "acme.duckdb"
    assert removed.stdout == (
        f"Removed resource 'acme'. Its data stays in {database} (schema main); delete it "
        "yourself if you no longer need it.\n"
    )
    assert stored(home) == {}
    assert fetch_rows(database, "SELECT count(*) AS n FROM acme.users") == [{"n": 7}]
    assert cli("resource", "list").stdout == (
        "No resources yet. Add one: driftsync resource add NAME --token-env VAR\n")


def test_removing_a_resource_that_never_synced_does_not_speak_of_its_data(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "acme", "--token", TOKEN, "--tables", "users").exit_code == 0
    removed = cli("resource", "remove", "acme", "--yes")
    assert removed.stdout == "Removed resource 'acme'. It had no synced data.\n"
    assert not (home / "acme.duckdb").exists()


@pytest.mark.parametrize(
    "args",
    [["sync", "nope"], ["status", "nope"], ["resource", "show", "nope"],
     ["resource", "edit", "nope", "--mode", "incremental"], ["resource", "remove", "nope"],
     ["resource", "pause", "nope"], ["resource", "resume", "nope"]],
    ids=["sync", "status", "show", "edit", "remove", "pause", "resume"],
)
def test_an_unknown_resource_is_one_line_and_exit_code_2(args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert result.stderr == "Error: No resource named 'nope'; see 'driftsync resource list'.\n"


# -- schedules ----------------------------------------------------------------------------

NOW = datetime(2026, 3, 27, 12, 10, tzinfo=UTC)  # a Friday; DST starts in Berlin on Sunday


@pytest.mark.parametrize(
    ("text", "canonical", "next_run"),
    [
        ("manual", "manual", None),
        ("every 30m", "every 30m", datetime(2026, 3, 27, 12, 40, tzinfo=UTC)),
        ("EVERY 180m", "every 3h", datetime(2026, 3, 27, 15, 10, tzinfo=UTC)),
        ("daily 6:30", "daily 06:30 UTC", datetime(2026, 3, 28, 6, 30, tzinfo=UTC)),
        ("daily 06:30 Europe/Berlin", "daily 06:30 Europe/Berlin",
         datetime(2026, 3, 28, 5, 30, tzinfo=UTC)),
        ("weekly mon 06:30 Europe/Berlin", "weekly mon 06:30 Europe/Berlin",
         datetime(2026, 3, 30, 4, 30, tzinfo=UTC)),  # summer time by then: UTC+2
        ("weekly fri,mon 12:00", "weekly mon,fri 12:00 UTC",
         datetime(2026, 3, 30, 12, 0, tzinfo=UTC)),
        ('cron "*/15 * * * *"', 'cron "*/15 * * * *" UTC',
         datetime(2026, 3, 27, 12, 15, tzinfo=UTC)),
        ("cron 0 9 * * * America/New_York", 'cron "0 9 * * *" America/New_York',
         datetime(2026, 3, 27, 13, 0, tzinfo=UTC)),
    ],
)
def test_schedules_parse_to_a_canonical_form_and_a_trigger(
    text: str, canonical: str, next_run: datetime | None
) -> None:
    schedule = parse_schedule(text)
    assert str(schedule) == canonical
    assert parse_schedule(canonical) == schedule
    assert schedule.next_run(NOW) == next_run
    if next_run is None:
        assert schedule.trigger() is None
    else:
        fire = schedule.trigger(anchor=NOW).get_next_fire_time(None, NOW)  # type: ignore[union-attr]
        assert fire == next_run


@pytest.mark.parametrize(
    ("day_of_week", "fires_on"),
    [
        ("1", ["Mon"]),
        ("0", ["Sun"]),
        ("7", ["Sun"]),
        ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
        ("5-7", ["Fri", "Sat", "Sun"]),
        ("mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
        ("6,0", ["Sun", "Sat"]),
    ],
)
def test_cron_days_of_week_count_from_sunday_as_in_crontab(
    day_of_week: str, fires_on: list[str]
) -> None:
    """APScheduler counts days from Monday = 0; a crontab line counts from Sunday = 0."""
    schedule = parse_schedule(f'cron "0 6 * * {day_of_week}"', now=NOW)
    assert str(schedule) == f'cron "0 6 * * {day_of_week}" UTC'
    fires, moment = [], NOW
    for _ in range(len(fires_on)):
        moment = schedule.next_run(moment + timedelta(minutes=1))  # type: ignore[assignment]
        fires.append(moment)
    assert sorted(f.strftime("%a") for f in fires) == sorted(fires_on)
    assert all(f.hour == 6 and f.minute == 0 for f in fires)
    assert (fires[-1] - fires[0]) < timedelta(days=7)


def test_an_interval_counts_from_the_last_run() -> None:
    schedule = parse_schedule("every 2h")
    last = datetime(2026, 3, 27, 11, 0, tzinfo=UTC)
    assert schedule.next_run(NOW, last) == datetime(2026, 3, 27, 13, 0, tzinfo=UTC)
    # Long down time: the next run is the next slot, not a burst of the missed ones.
    assert schedule.next_run(NOW, datetime(2026, 3, 26, 0, 0, tzinfo=UTC)) == datetime(
        2026, 3, 27, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hourly", "Schedule 'hourly' is not understood; use 'every 30m', 'every 2h', 'daily "
         "06:30 [Europe/Berlin]', 'weekly mon 06:30 [TZ]', 'cron \"*/15 * * * *\" [TZ]' or "
         "'manual'."),
        ("daily 06:30 Mars/Olympus", "Schedule 'daily 06:30 Mars/Olympus': unknown time zone "
         "'Mars/Olympus'; use an IANA name such as Europe/Berlin, America/New_York or UTC."),
        ("weekly someday 06:30", "Schedule 'weekly someday 06:30': 'someday' is not a day of "
         "the week; use mon, tue, wed, thu, fri, sat or sun (several with commas: mon,thu)."),
        ('cron "61 * * * *"', "Schedule 'cron \"61 * * * *\"': cron expression '61 * * * *' is "
         "not valid (Error validating expression '61': the last value (61) is higher than the "
         "maximum value (59)); it needs five fields: minute hour day-of-month month "
         "day-of-week."),
        ('cron "* * *"', "Schedule 'cron \"* * *\"': cron expression '* * *' is not valid "
         "(Wrong number of fields; got 3, expected 5); it needs five fields: minute hour "
         "day-of-month month day-of-week."),
        ('cron "0 0 31 2 *"', "Schedule 'cron \"0 0 31 2 *\"': cron expression '0 0 31 2 *' "
         "never comes due."),
        ('cron "*/5 * * *', "Schedule 'cron \"*/5 * * *' is not understood; use 'every 30m', "
         "'every 2h', 'daily 06:30 [Europe/Berlin]', 'weekly mon 06:30 [TZ]', 'cron \"*/15 * "
         "* * *\" [TZ]' or 'manual'."),
    ],
    ids=["unknown", "tz", "day", "cron-range", "cron-fields", "cron-never", "unbalanced-quote"],
)
def test_bad_schedules_are_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule(text, now=NOW)
    assert str(caught.value) == message


# -- syncing ------------------------------------------------------------------------------

def test_sync_resource_lands_in_its_own_database_with_its_own_settings(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "acme", "--token", TOKEN, "--tables", "users,accounts", "--mode",
                   "full-refresh").exit_code == 0
        first = cli("sync", "acme")
        second = cli("sync", "acme", "--mode", "incremental")
        conflict = cli("sync", "acme", "--database", "other.duckdb")
    assert first.exit_code == 0, first.stderr
    database = home / "acme.duckdb"
    assert "Synced into" in first.stdout and str(database) in first.stdout
    assert fetch_rows(database, "SELECT count(*) AS n FROM acme.main.users") == [{"n": 7}]
    assert fetch_rows(database, "SELECT count(*) AS n FROM acme.accounts") == [{"n": 20}]
    assert not Path("drift.duckdb").exists()
    modes = fetch_rows(database, "SELECT table_name, mode FROM acme._driftsync_run_tables "
                                 "ORDER BY mode, table_name")
    assert [r["mode"] for r in modes] == ["full", "full", "incremental", "incremental"]
    assert second.exit_code == 0
    assert conflict.exit_code == 1
    assert conflict.stderr == (
        "Error: --database does not go with a resource: it has its own; change it with "
        "'driftsync resource edit acme'.\n"
    )


def test_two_workspaces_side_by_side_in_one_file_keep_apart(home: Path, tmp_path: Path) -> None:
    shared = tmp_path / "crm.duckdb"
    with running(**SMALL, token="token-of-acme-0001", seed=5) as a, \
            running(accounts=9, conversations=4, users=3, token="token-of-beta-0002",
                    seed=8) as b:
        assert add(a, "acme", "--token-env", "ACME_TOKEN", "--tables", "users,accounts",
                   "--database", str(shared), env={"ACME_TOKEN": "token-of-acme-0001"}
                   ).exit_code == 0
        assert add(b, "beta-eu", "--token-env", "BETA_TOKEN", "--tables", "users,accounts",
                   "--database", str(shared), env={"BETA_TOKEN": "token-of-beta-0002"}
                   ).exit_code == 0
        clash = add(a, "gamma", "--token-env", "ACME_TOKEN", "--database", str(shared),
                    "--dataset", "drift_acme", "--no-verify")
        result = cli("sync", "--all", env={"ACME_TOKEN": "token-of-acme-0001",
                                           "BETA_TOKEN": "token-of-beta-0002"})
        a_users = sorted(u["id"] for u in a.dataset.users)
        b_users = sorted(u["id"] for u in b.dataset.users)
    assert clash.stderr == (
        f"Error: Resource 'gamma' would write into the same place as 'acme': {shared} (schema "
        "drift_acme). Choose another --dataset or --database.\n"
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "Synced 2 of 2 enabled resources."
    assert [r["id"] for r in fetch_rows(shared, "SELECT id FROM crm.drift_acme.users ORDER BY id")
            ] == a_users
    assert [r["id"] for r in fetch_rows(
        shared, "SELECT id FROM crm.drift_beta_eu.users ORDER BY id")] == b_users
    assert fetch_rows(shared, "SELECT count(*) AS n FROM crm.drift_beta_eu.accounts") == [
        {"n": 9}]


def test_sync_all_goes_on_past_a_failing_resource_and_fails_at_the_end(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        env = {"ACME_TOKEN": TOKEN, "BETA_TOKEN": TOKEN}
        for name, var in (("acme", "ACME_TOKEN"), ("beta", "BETA_TOKEN")):
            assert add(sim, name, "--token-env", var, "--tables", "users", env=env
                       ).exit_code == 0
        assert add(sim, "broken", "--token", "revoked-SECRET-token-77", "--tables", "users",
                   "--no-verify").exit_code == 0
        result = cli("sync", "--all", env={"ACME_TOKEN": TOKEN})
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "Synced 1 of 3 enabled resources; failed: beta, broken.")
    assert result.stderr.splitlines() == [
        "Error: Resource 'beta' reads its access token from BETA_TOKEN, which is not set. Set "
        "it, or change the resource with 'driftsync resource edit beta'.",
        "Error: broken: users: Drift rejected the access token (401: authentication_error: The "
        f"access token is invalid or has expired). {stored_token_help('broken')}",
    ]
    assert "revoked-SECRET-token-77" not in result.output
    assert fetch_rows(home / "acme.duckdb", "SELECT count(*) AS n FROM acme.users") == [{"n": 7}]
    assert not (home / "beta.duckdb").exists()

    status = cli("status")
    assert status.exit_code == 0
    states = {line.split()[0]: line.split(maxsplit=1)[1] for line in status.stdout.splitlines()
              if line and not line.startswith(" ")}
    assert states == {"acme": "ready", "beta": "never synced", "broken": "failed"}
    plain = cli("status", "--database", str(home / "acme.duckdb"))  # the run history, as ever
    assert "  succeeded  " in plain.stdout.splitlines()[0]


def test_a_rejected_token_is_one_error_line_not_one_per_table(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "broken", "--token", "revoked-SECRET-token-77", "--tables",
                   "accounts,users,teams", "--no-verify").exit_code == 0
        result = cli("sync", "broken")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: accounts: Drift rejected the access token (401: authentication_error: The "
        f"access token is invalid or has expired). {stored_token_help('broken')}",
    ]
    assert result.stdout.count(" failed ") >= 3  # the summary still lists every table


def test_status_shows_state_last_run_next_run_and_rows(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "acme", "--token", TOKEN, "--tables", "users", "--schedule",
                   "every 30m").exit_code == 0
        resource = ResourceStore().get("acme")
        before = resource_status(resource, now=NOW)
        assert not (home / "acme.duckdb").exists()  # reading the status made no database
        result = run_resource(resource)
    assert (before.state, before.runs, before.next_run) == (
        "never synced", [], datetime(2026, 3, 27, 12, 40, tzinfo=UTC))
    after = resource_status(resource, now=result.started_at, count_rows=True)
    assert after.state == "ready"
    assert after.last_run is not None and after.last_run.run_id == result.run_id
    assert after.next_run is not None
    assert after.next_run.timestamp() == pytest.approx(result.started_at.timestamp() + 1800)

    shown = cli("status", "acme").stdout.splitlines()
    assert shown[0] == "acme  ready"
    assert shown[1] == f"  destination  {home / 'acme.duckdb'} (schema main)"
    assert shown[2].startswith("  schedule     every 30m, next run ")
    assert shown[3].startswith("  last run     ") and " succeeded in " in shown[3]
    assert shown[4].split() == ["users", "full", "succeeded", "7", "rows,", "7", "written"]
    assert shown[5].split() == ["in", "tables", "users", "7", "rows"]  # the totals
    assert after.totals == {"users": 7}

    assert cli("resource", "pause", "acme").exit_code == 0
    paused = cli("status").stdout.splitlines()
    assert paused[0] == "acme  paused"
    assert paused[2] == "  schedule     every 30m, paused"


def test_status_says_unavailable_while_another_process_holds_the_database(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "acme", "--token", TOKEN, "--tables", "users").exit_code == 0
    database = home / "acme.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(database)!r}); "
         "print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        result = cli("status")
    finally:
        holder.kill()
        holder.wait()
    lines = result.stdout.splitlines()
    assert lines[0] == "acme  unavailable"
    assert lines[2].startswith(
        f"  problem      {database} is open in another process (PID {holder.pid}, ")


# -- OAuth and rate limit -----------------------------------------------------------------

def test_an_oauth_resource_refreshes_and_keeps_its_own_token_store(home: Path) -> None:
    with running(**SMALL, client_id="app-1", client_secret="cs-SECRET-1",
                 refresh_token="rt-SECRET-0") as sim:
        env = {"ACME_CS": "cs-SECRET-1", "ACME_RT": "rt-SECRET-0"}
        added = add(sim, "acme", "--client-id", "app-1", "--client-secret-env", "ACME_CS",
                    "--refresh-token-env", "ACME_RT", "--tables", "users", env=env)
        assert added.exit_code == 0, added.stderr
        assert "Token OK (from OAuth client app-1, refresh token from ACME_RT)" in (
            added.stdout)
        synced = cli("sync", "acme", env=env)
        shown = cli("resource", "show", "acme")
    assert synced.exit_code == 0, synced.stderr
    store = home / "tokens" / "acme.toml"
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert not (home / "tokens.toml").exists()
    assert ("oauth        client app-1, client secret env:ACME_CS, refresh token env:ACME_RT"
            in shown.stdout.splitlines())
    assert "SECRET" not in shown.output + synced.output + added.output
    edited = cli("resource", "edit", "acme", "--refresh-token-env", "ACME_RT2", "--no-verify")
    assert edited.exit_code == 0, edited.stderr
    assert stored(home)["acme"]["oauth"] == {
        "client_id": "app-1", "client_secret_env": "ACME_CS", "refresh_token_env": "ACME_RT2"}
    assert cli("resource", "remove", "acme", "--yes").exit_code == 0
    assert not store.exists()


def test_a_rate_limited_resource_stays_under_drifts_limit(home: Path) -> None:
    with running(accounts=1, conversations=12, users=2, token=TOKEN,
                 rate_limit_per_minute=1200, rate_limit_burst=4) as sim:
        assert add(sim, "acme", "--token", TOKEN, "--tables", "conversations",
                   "--rate-limit", "600", "--no-verify").exit_code == 0
        result = run_resource(ResourceStore().get("acme"), retries=0)
    assert result.ok, [t.error for t in result.tables]
    assert [t.retries for t in result.tables] == [0]


def test_data_dir_can_be_moved_with_driftsync_home(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTSYNC_HOME", str(tmp_path / "srv"))
    with running(**SMALL, token=TOKEN) as sim:
        assert add(sim, "acme", "--token", TOKEN, "--tables", "users").exit_code == 0
        assert cli("sync", "acme").exit_code == 0
    made = {p.name for p in (tmp_path / "srv").iterdir()}
    assert {"acme.duckdb", "resources.toml", ".driftsync"} <= made
    assert not (tmp_path / "xdg").exists()


@pytest.mark.parametrize(("token", "shown"), [
    ("drft-resource-SECRET-token-ab12", "drft…ab12"),
    ("x" * 18 + "9f3c", "…9f3c"),
    ("drift-demo-token", "****"),
    ("short", "****"),
])
def test_a_masked_token_always_hides_at_least_16_characters(token: str, shown: str) -> None:
    assert mask(Secret(token)) == shown
    revealed = len(shown.replace("…", "").replace("*", ""))
    assert len(token) - revealed >= min(16, len(token))


def test_an_unset_database_url_variable_is_named_unless_not_verifying(home: Path) -> None:
    with running(**SMALL, token=TOKEN) as sim:
        refused = add(sim, "acme", "--token", TOKEN, "--destination", "postgres",
                      "--database-env", "ACME_PG_URL")
        assert refused.exit_code == 1
        assert refused.stderr == (
            "Error: ACME_PG_URL is not set, so the database URL cannot be checked. Export it "
            "(export ACME_PG_URL=postgresql://...) and run this again, or add the resource "
            "with --no-verify if only the scheduler's environment sets it.\n")
        assert not (home / "resources.toml").exists()
        kept = add(sim, "acme", "--token", TOKEN, "--destination", "postgres",
                   "--database-env", "ACME_PG_URL", "--no-verify")
    assert kept.exit_code == 0, kept.stderr
    assert stored(home)["acme"]["destination"] == {"kind": "postgres", "url_env": "ACME_PG_URL"}
