"""The CLI as a user meets it: exact messages, exit codes, no tracebacks, no token in output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from driftsync.catalog import CATALOG
from driftsync.cli import main
from driftsync.docs import render_markdown

from .conftest import fetch_rows, running

TOKEN_HELP = (
    "Check the token you gave (--token, DRIFT_ACCESS_TOKEN or the config file), or copy a "
    "fresh OAuth access token from your Drift app (dev.drift.com > your app > Installing to "
    "Drift)."
)


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def sync_args(sim: Any, *extra: str) -> list[str]:
    return ["sync", "--api-url", sim.url, "--token", sim.config.token, "--retries", "2", *extra]


def test_tables_lists_the_catalog_and_prints_the_markdown_reference() -> None:
    result = cli("tables")
    assert result.exit_code == 0
    assert "accounts  GET /accounts  key accountId  scope account_read" in result.stdout
    assert "conversations  GET /conversations/list  key id  scope conversation_read" in (
        result.stdout)
    assert "relatedPlaybookId" in result.stdout and "updatedAt_ts" in result.stdout
    assert cli("tables", "--markdown").stdout == render_markdown()


def test_check_reports_each_tables_scope(sim: Any) -> None:
    result = cli("check", "--api-url", sim.url, "--token", sim.config.token)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"Token OK (from --token) for Drift org {sim.dataset.org_id} at {sim.url}"
    assert lines[1:] == [
        "  ok      accounts                     needs account_read",
        "  ok      account_custom_properties    needs account_read",
        "  ok      conversations                needs conversation_read",
        "  ok      conversation_tags            needs conversation_read",
        "  ok      conversation_participants    needs conversation_read",
        "  ok      messages                     needs conversation_read",
        "  ok      users                        needs user_read",
        "  ok      teams                        needs user_read",
        "  ok      meetings                     needs user_read",
        "  ok      contacts                     needs contact_read",
        "  ok      contact_attributes           needs all_contact_read",
        "  ok      playbooks                    needs playbook_read",
        "  ok      conversational_landing_pages needs playbook_read",
    ]


def test_check_names_the_missing_scope() -> None:
    with running(missing_scopes={"conversation_read"}) as sim:
        result = cli("check", "--api-url", sim.url, "--token", sim.config.token)
    assert result.exit_code == 1
    assert "  missing conversations                needs conversation_read" in result.stdout
    assert result.stderr == (
        "Error: The token lacks conversation_read, needed by conversations, conversation_tags, "
        "conversation_participants, messages. Add the scopes under SETTINGS > OAuth & Scopes in "
        "your Drift app and reinstall it.\n"
    )


def test_a_wrong_token_is_one_line_without_the_token(sim: Any) -> None:
    secret = "wrong-SECRET-token-42"
    result = cli("check", "--api-url", sim.url, "--token", secret)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: Drift rejected the access token (401: authentication_error: The access token "
        f"is invalid or has expired). {TOKEN_HELP}\n"
    )
    assert secret not in result.output


def test_a_sync_with_a_rejected_token_says_so_once_not_once_per_table(sim: Any) -> None:
    result = cli("sync", "--api-url", sim.url, "--token", "wrong-SECRET-token-42")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: accounts: Drift rejected the access token (401: authentication_error: The "
        f"access token is invalid or has expired). {TOKEN_HELP}"]
    assert "wrong-SECRET-token-42" not in result.output


def test_sync_then_status(sim: Any, tmp_path: Path) -> None:
    result = cli(*sync_args(sim, "--database", "my.duckdb"))
    assert result.exit_code == 0, result.stderr
    assert "Synced into my.duckdb" in result.stdout
    for name, rows in (("accounts", len(sim.dataset.accounts)),
                       ("conversations", len(sim.dataset.conversations)),
                       ("users", len(sim.dataset.users))):
        cells = [[c.strip() for c in line.split("│")[1:6]]
                 for line in result.stdout.splitlines() if f"│ {name} " in line]
        assert cells == [[name, "full", "ok", f"{rows:,}", f"{rows:,}"]], result.stdout
    assert fetch_rows(tmp_path / "my.duckdb", "SELECT count(*) AS n FROM my.users") == [
        {"n": len(sim.dataset.users)}]

    status = cli("status", "--database", "my.duckdb")
    assert status.exit_code == 0
    lines = status.stdout.splitlines()
    assert "  succeeded  " in lines[0]
    assert sorted(line.split()[0] for line in lines[1:]) == sorted(CATALOG)
    users = next(line for line in lines if line.split()[0] == "users")
    assert users.split()[:4] == ["users", "full", "succeeded", f"{len(sim.dataset.users)}"]


def test_sync_with_a_missing_scope_warns_skips_those_tables_and_syncs_the_rest() -> None:
    with running(missing_scopes={"playbook_read"}) as sim:
        result = cli(*sync_args(sim, "--database", "d.duckdb"))
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [  # each said once
        "Warning: playbooks: skipped: the token lacks the 'playbook_read' scope that playbooks "
        "needs. Add 'playbook_read' under SETTINGS > OAuth & Scopes in your Drift app, reinstall "
        "the app, and use the new token; or leave the table out with --tables.",
        "Warning: conversational_landing_pages: skipped: the token lacks the 'playbook_read' "
        "scope that conversational_landing_pages needs. Add 'playbook_read' under SETTINGS > "
        "OAuth & Scopes in your Drift app, reinstall the app, and use the new token; or leave "
        "the table out with --tables.",
    ]
    assert "│ accounts                     │ full │ ok      │" in result.stdout
    assert "│ playbooks                    │ -    │ skipped │" in result.stdout


def test_unreachable_host() -> None:
    result = cli("sync", "--api-url", "http://127.0.0.1:9", "--token", "t", "--retries", "0",
                 "--tables", "users")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: users: Cannot reach the Drift API at http://127.0.0.1:9 (connection refused, "
        "1 attempt). Check --api-url or DRIFT_API_URL and your network connection."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sync", "--token", "t", "--tables", "users,message"],
         "Error: Unknown table 'message'. Choose from: accounts, account_custom_properties, "
         "conversations, conversation_tags, conversation_participants, messages, users, teams, "
         "meetings, contacts, contact_attributes, playbooks, conversational_landing_pages.\n"),
        (["sync", "--token", "t", "--tables", ","],
         "Error: --tables needs table names, e.g. --tables accounts,conversations,users\n"),
        (["sync", "--token", "t", "--api-url", "ftp://drift"],
         "Error: API URL 'ftp://drift' is not an http(s) URL; use e.g. https://driftapi.com "
         "(--api-url or DRIFT_API_URL).\n"),
        (["sync", "--token", "t", "--api-url", "http://drift.example.com"],
         "Error: API URL 'http://drift.example.com' would send the access token unencrypted "
         "over the network; use https:// (plain http:// is for a simulator or proxy on this "
         "machine only).\n"),
        (["sync"],
         "Error: No Drift access token. Pass --token, set DRIFT_ACCESS_TOKEN, or put "
         "access_token under [drift] in {config}.\n"),
        (["check", "--token", "two words"],
         "Error: The access token from --token is not a single word; paste only the token "
         "itself.\n"),
        (["status", "--database", "nothing.duckdb"],
         "Error: No database at nothing.duckdb yet. Run 'driftsync sync' (or 'driftsync demo') "
         "first, or pass --database.\n"),
    ],
    ids=["unknown-table", "empty-tables", "bad-url", "plain-http-elsewhere", "no-token",
         "token-with-space",
         "status-no-db"],
)
def test_bad_input_gets_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    config = tmp_path / "xdg" / "driftsync" / "config.toml"
    assert result.stderr == message.format(config=config)


def test_a_bad_flag_value_is_a_usage_error() -> None:
    result = cli("sync", "--retries", "-1")
    assert result.exit_code == 2
    assert "Invalid value for '--retries': -1 is not in the range 0<=x<=20." in result.stderr


def test_token_precedence_flag_then_env_then_config_file(sim: Any, tmp_path: Path) -> None:
    config = tmp_path / "xdg" / "driftsync" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[drift]\naccess_token = "{sim.config.token}"\napi_url = "{sim.url}"\n')
    config.chmod(0o600)
    assert cli("check").stdout.startswith(f"Token OK (from {config})")
    env_result = cli("check", env={"DRIFT_ACCESS_TOKEN": sim.config.token})
    assert env_result.stdout.startswith("Token OK (from DRIFT_ACCESS_TOKEN)")
    flag = cli("check", "--token", "wrong", env={"DRIFT_ACCESS_TOKEN": sim.config.token})
    assert flag.exit_code == 1 and "401" in flag.stderr

    config.chmod(0o644)
    result = cli("check")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Config file {config} holds an access token but other users have access to it. "
        f"Run: chmod 600 {config}\n"
    )


def test_retries_are_logged_without_the_token(tmp_path: Path) -> None:
    with running(fault_429_every=2, retry_after=0.01, token="tok-SECRET-77") as sim:
        result = cli("sync", "--api-url", sim.url, "--token", "tok-SECRET-77",
                     "--tables", "accounts", "--database", "d.duckdb")
    assert result.exit_code == 0, result.stderr
    assert "warning: GET /accounts answered 429; retry 1 of 5 in 0.01s (Retry-After)\n" in (
        result.stderr)
    assert "tok-SECRET-77" not in result.output


def test_demo_runs_offline_and_prints_counts_and_a_query(tmp_path: Path) -> None:
    result = cli("demo", "--conversations", "300", "--accounts", "120", "--users", "9")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "  demo.accounts                           120" in out
    assert "  demo.conversations                      300" in out
    assert "  demo.users                                9" in out
    for name in CATALOG:
        assert f"  demo.{name} " in out
    assert "FROM demo.conversations" in out
    assert "duckdb.connect('demo.duckdb').sql('SELECT * FROM demo.users LIMIT 5').show()" in out
    assert (tmp_path / "demo.duckdb").exists()
    assert not (tmp_path / "drift.duckdb").exists()  # kept for the real Drift data
    rows = fetch_rows(tmp_path / "demo.duckdb",
                      "SELECT status, count(*) AS n FROM demo.conversations GROUP BY 1")
    assert sum(r["n"] for r in rows) == 300
    assert {r["status"] for r in rows} == {"open", "closed", "pending", "bulk_sent"}


def run_module(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT")}
    return subprocess.run([sys.executable, "-m", "driftsync", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, check=False)


def test_python_m_driftsync_fails_cleanly_and_shows_a_traceback_only_with_debug(sim: Any) -> None:
    secret = "SECRET-abc-123"
    plain = run_module("sync", "--api-url", sim.url, "--token", secret, "--tables", "users")
    assert plain.returncode == 1
    assert "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines()[-1].startswith(
        "Error: users: Drift rejected the access token (401")
    assert secret not in plain.stdout + plain.stderr

    debug = run_module("--debug", "check", "--api-url", sim.url, "--token", secret)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "AuthError" in debug.stderr
    assert secret not in debug.stdout + debug.stderr


def test_a_database_open_in_another_process_is_named_not_dumped(sim: Any, tmp_path: Path) -> None:
    assert cli(*sync_args(sim, "--tables", "users")).exit_code == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect('drift.duckdb'); "
         "print('open', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        result = cli(*sync_args(sim, "--tables", "users"))
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: drift.duckdb is open in another process (PID {holder.pid}, ")
    assert result.stderr.endswith(
        "a sync still running, or a DuckDB session. Wait for it to finish or close it, then "
        "run again.\n")
    assert cli("status").exit_code == 0  # the data is still there once the other process ends


def test_a_file_that_is_not_duckdb_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.duckdb").write_text("my notes\n")
    result = cli("status", "--database", "notes.duckdb")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: notes.duckdb exists but is not a DuckDB database; choose another --database "
        "path.\n")
    assert (tmp_path / "notes.duckdb").read_text() == "my notes\n"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_an_interrupted_sync_says_so_keeps_old_data_and_a_rerun_completes(
    sig: int, tmp_path: Path
) -> None:
    with running(conversations=3000, slow_ms=3) as sim:
        args = ["sync", "--api-url", sim.url, "--token", sim.config.token,
                "--no-conversation-details"]
        assert cli(*args, "--tables", "users").exit_code == 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT")}
        # As from a terminal: a shell's background job (CI's, say) starts with SIGINT
        # ignored, and Python then never turns SIGINT into KeyboardInterrupt.
        proc = subprocess.Popen([sys.executable, "-m", "driftsync", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 60
        while sim.request_counts().get("GET /conversations/list", 0) < 3:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.02)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 130
        assert "Traceback" not in stderr
        assert stderr.strip().splitlines()[-1] == (
            "Interrupted: tables that had not finished keep their previous data. Run the same "
            "command again to finish.")
        runs = fetch_rows(tmp_path / "drift.duckdb",
                          "SELECT status, error FROM drift._driftsync_runs ORDER BY started_at")
        assert [r["status"] for r in runs] == ["succeeded", "interrupted"]
        assert fetch_rows(tmp_path / "drift.duckdb",
                          "SELECT count(*) AS n FROM drift.users") == [{"n": 17}]
        assert cli(*args).exit_code == 0
        total = len(sim.dataset.conversations)
    assert fetch_rows(tmp_path / "drift.duckdb",
                      "SELECT count(*) AS n, count(DISTINCT id) AS d FROM drift.conversations"
                      ) == [{"n": total, "d": total}]


@pytest.mark.parametrize(
    ("url", "name"),
    [("http://[::1", "http://[::1"), ("http://127.0.0.1:99999", "http://127.0.0.1:99999")],
    ids=["broken-ipv6", "port-out-of-range"],
)
def test_malformed_api_urls_are_refused_up_front(url: str, name: str) -> None:
    result = cli("check", "--token", "t", "--api-url", url)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: API URL {name!r} is not an http(s) URL; use e.g. https://driftapi.com "
        "(--api-url or DRIFT_API_URL).\n")


def test_reserved_database_names_and_unwritable_folders_get_one_line(tmp_path: Path) -> None:
    result = cli("sync", "--token", "t", "--database", "system.duckdb")
    assert result.stderr == (
        "Error: DuckDB reserves the name 'system' for itself, so it cannot open system.duckdb; "
        "choose another --database file name.\n")
    locked = tmp_path / "ro"
    locked.mkdir()
    (locked / "drift.duckdb").write_bytes(b"")
    locked.chmod(0o500)
    try:
        result = cli("status", "--database", str(locked / "drift.duckdb"))
    finally:
        locked.chmod(0o700)
    assert result.exit_code == 1
    if os.geteuid() != 0:  # root may write anywhere; the message is then about the empty file
        assert result.stderr == (
            f"Error: Cannot create driftsync's working folder {locked / '.driftsync'} "
            "(Permission denied); put the database in a writable folder (--database).\n")
    else:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_a_second_sync_on_the_same_database_stops_at_once_naming_the_first(
    tmp_path: Path,
) -> None:
    with running(conversations=3000, slow_ms=3) as sim:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT")}
        first = subprocess.Popen(
            [sys.executable, "-m", "driftsync", "sync", "--api-url", sim.url, "--token",
             sim.config.token, "--no-conversation-details"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while sum(sim.request_counts().values()) < 2:
                assert time.monotonic() < deadline and first.poll() is None
                time.sleep(0.02)
            started = time.monotonic()
            second = cli(*sync_args(sim))
            took = time.monotonic() - started
        finally:
            first.wait(timeout=120)
    assert second.exit_code == 1 and took < 5
    assert second.stderr.startswith(
        f"Error: drift.duckdb is open in another process (PID {first.pid}, ")
    assert first.returncode == 0  # the first one was not disturbed
