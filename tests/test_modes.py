"""Update modes: incremental after the first run, full refresh on request; nothing lost."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftsync.catalog import CATALOG
from driftsync.engine import SyncOptions, run_sync
from driftsync.load import Destination, Warehouse

from .conftest import client_for, fetch_rows, running


def sync(sim: Any, database: Path, **options: Any) -> Any:
    with Warehouse(Destination(database=database)) as warehouse, client_for(sim) as client:
        result = run_sync(client, warehouse, SyncOptions(**options))
    assert result.ok, [t.error for t in result.tables]
    return {t.table: t for t in result.tables}


def conversations_in_db(database: Path) -> dict[int, tuple[int, str]]:
    rows = fetch_rows(database, 'SELECT id, "updatedAt", status FROM drift.conversations')
    return {r["id"]: (r["updatedAt"], r["status"]) for r in rows}


def conversations_in_drift(sim: Any) -> dict[int, tuple[int, str]]:
    return {c["id"]: (c["updatedAt"], c["status"]) for c in sim.dataset.conversations}


def touch(sim: Any, conversations: list[dict[str, Any]], status: str = "closed") -> None:
    """Update conversations in the simulated Drift: they move to the top of the list."""
    top = max(c["updatedAt"] for c in sim.dataset.conversations)
    for i, conversation in enumerate(conversations, start=1):
        conversation["updatedAt"] = top + 1000 * i
        conversation["status"] = status
    sim.reload()


def test_first_run_is_full_then_incremental_reads_only_the_top(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        first = sync(sim, database)
        sim.reset_counts()
        second = sync(sim, database)
        counts = sim.request_counts()
        expected = conversations_in_drift(sim)
    assert {t.mode for t in first.values()} == {"full"}
    assert {t.mode for t in second.values()} == {"incremental"}
    conversations = second["conversations"]
    # Page 1 holds the newest (inside the look-back window), page 2 is older: stop there.
    # Nothing changed, so nothing is fetched in detail or written.
    assert counts["GET /conversations/list"] == 2
    assert counts.get("GET /conversations/{id}", 0) == conversations.written == 0
    assert conversations_in_db(database) == expected
    assert second["accounts"].written == 0 and second["users"].written == 0


def test_incremental_picks_up_updated_conversations_with_few_requests(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        sync(sim, database)
        touch(sim, sim.dataset.conversations[-250:])  # the oldest 250 become the newest
        sim.reset_counts()
        result = sync(sim, database, tables=["conversations"])
        counts = sim.request_counts()
        expected = conversations_in_drift(sim)
    assert result["conversations"].mode == "incremental"
    assert result["conversations"].written == 250
    assert counts["GET /conversations/list"] <= -(-250 // 100) + 2
    assert conversations_in_db(database) == expected


def test_an_incremental_run_that_fails_advances_nothing_and_the_next_one_catches_up(
    tmp_path: Path,
) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        sync(sim, database)
        before = conversations_in_db(database)
        touch(sim, sim.dataset.conversations[-400:])
        sim.reset_counts()
        sim.config.revoke_after = 3  # the token dies on the list's second page
        with Warehouse(Destination(database=database)) as warehouse, client_for(sim) as client:
            failed = run_sync(client, warehouse, SyncOptions(tables=["conversations"]))
        assert failed.tables[0].status == "failed"
        assert conversations_in_db(database) == before  # nothing half-written
        sim.config.revoke_after = 0
        sim.reset_counts()
        sync(sim, database, tables=["conversations"])
        assert conversations_in_db(database) == conversations_in_drift(sim)


def test_accounts_write_only_changes_and_mark_vanished_rows(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        sync(sim, database, tables=["accounts"])
        accounts = sim.dataset.accounts
        for account in accounts[10:15]:
            account["name"] = account.get("name", "") + " (renamed) 🎉"
        removed = accounts[20:23]
        del accounts[20:23]
        sim.reload()
        result = sync(sim, database, tables=["accounts"])["accounts"]
        assert (result.mode, result.rows, result.written, result.vanished) == (
            "incremental", len(accounts), 5, 3)

        rows = {r["accountId"]: r for r in fetch_rows(
            database, 'SELECT "accountId", name, _driftsync_deleted_at FROM drift.accounts')}
        assert len(rows) == len(accounts) + 3  # marked, never deleted
        assert {k for k, r in rows.items() if r["_driftsync_deleted_at"] is not None} == {
            a["accountId"] for a in removed}
        assert rows[accounts[12]["accountId"]]["name"].endswith(" (renamed) 🎉")

        accounts.append(removed[0])  # it comes back
        sim.reload()
        again = sync(sim, database, tables=["accounts"])["accounts"]
        assert (again.written, again.vanished) == (1, 0)
        back = fetch_rows(database, 'SELECT _driftsync_deleted_at FROM drift.accounts '
                                    f"WHERE \"accountId\" = '{removed[0]['accountId']}'")
        assert back == [{"_driftsync_deleted_at": None}]


def test_users_removed_in_drift_are_marked_and_full_refresh_rewrites_everything(
    tmp_path: Path,
) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        sync(sim, database, tables=["users"])
        gone = sim.dataset.users.pop()
        sim.reload()
        full = sync(sim, database, tables=["users"], mode="full-refresh")["users"]
        assert (full.mode, full.written, full.vanished) == (
            "full", len(sim.dataset.users), 1)
    marked = fetch_rows(database, "SELECT id FROM drift.users "
                                  "WHERE _driftsync_deleted_at IS NOT NULL")
    assert marked == [{"id": gone["id"]}]


def test_a_conversation_updated_while_a_run_pages_is_not_lost(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=1500) as sim:
        sync(sim, database)
        # Next run: after its 3rd list page, three old conversations (deep in the list, not
        # yet read) are updated and jump to the front, behind the reader.
        deep = [c["id"] for c in sim.dataset.conversations[-3:]]
        sim.update_conversations(fraction=0.1)
        sim.config.mutate_after_list_pages = 3
        sim.config.mutate_conversation_ids = deep
        sim.reset_counts()
        sync(sim, database, tables=["conversations"])
        assert sorted(sim.hook_changed) == sorted(deep)
        missed = {i for i in deep if conversations_in_db(database)[i]
                  != conversations_in_drift(sim)[i]}
        assert missed == set(deep)  # this run could not see them: they moved behind it
        sim.config.mutate_after_list_pages = 0
        sync(sim, database, tables=["conversations"])  # the next run picks them up
        assert conversations_in_db(database) == conversations_in_drift(sim)


def test_oauth_tokens_that_expire_are_refreshed_mid_run(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from driftsync.cli import main

    database = tmp_path / "drift.duckdb"
    with running(client_id="app-1", client_secret="s3cret", refresh_token="r-0",
                 token_expires_after_requests=40) as sim:
        env = {"DRIFT_ACCESS_TOKEN": sim.config.token, "DRIFT_CLIENT_ID": "app-1",
               "DRIFT_CLIENT_SECRET": "s3cret", "DRIFT_REFRESH_TOKEN": "r-0"}
        result = CliRunner().invoke(main, ["sync", "--api-url", sim.url, "--database",
                                           str(database)], env=env)
        assert result.exit_code == 0, result.output
        refreshes = sim.request_counts()["POST /oauth2/token"]
        assert refreshes >= len(sim.dataset.conversations) // 40
        access, refresh = sim.current_tokens()
        store = tmp_path / "xdg" / "driftsync" / "tokens.toml"
        assert store.stat().st_mode & 0o777 == 0o600
        assert refresh in store.read_text()
        assert "s3cret" not in result.output and access not in result.output
        # The next run starts from the stored, rotated tokens (r-0 is no longer valid).
        sim.reset_counts()
        again = CliRunner().invoke(main, ["sync", "--api-url", sim.url, "--database",
                                          str(database)], env=env)
        assert again.exit_code == 0, again.output
        assert conversations_in_db(database) == conversations_in_drift(sim)


def test_a_failed_full_refresh_leaves_the_old_tables_exactly_as_they_were(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        sync(sim, database)
        before = {t: fetch_rows(database, f"SELECT * FROM drift.{t} ORDER BY 1, 2")
                  for t in CATALOG}
        sim.update_conversations(fraction=0.2)
        sim.update_accounts(fraction=0.2)
        sim.config.revoke_after = 2  # dies on the second page of accounts
        sim.reset_counts()
        with Warehouse(Destination(database=database)) as warehouse, client_for(sim) as client:
            result = run_sync(client, warehouse, SyncOptions(mode="full-refresh"))
    assert [t.status for t in result.tables] == ["failed"] * len(CATALOG)
    after = {t: fetch_rows(database, f"SELECT * FROM drift.{t} ORDER BY 1, 2")
             for t in CATALOG}
    assert after == before


def test_a_detail_newer_than_the_list_does_not_lift_the_bookmark(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running(conversations=1500) as sim:
        sync(sim, database)
        newest = sim.dataset.conversations[0]["updatedAt"]
        on_page_one = sim.dataset.conversations[50]["id"]
        sim.update_conversations(ids=[on_page_one], now_ms=newest + 1_000)  # changed: listed
        deep = [c["id"] for c in sim.dataset.conversations[-250:]]

        def during_the_run(s: Any) -> list[int]:
            # After page 1 is listed: 250 deep conversations are updated (they move to the
            # front, behind the reader), then the one on page 1 again, so its detail, fetched
            # next, shows a time later than theirs.
            s.update_conversations(ids=deep, now_ms=newest + 60_000)
            return [on_page_one]

        sim.config.mutate_after_list_pages = 1
        sim.config.mutate_conversation_ids = during_the_run
        sim.reset_counts()
        sync(sim, database, tables=["conversations"], lookback_ms=0)
        sim.config.mutate_after_list_pages = 0
        sim.reset_counts()
        sync(sim, database, tables=["conversations"], lookback_ms=0)
        assert conversations_in_db(database) == conversations_in_drift(sim)


def test_an_incremental_run_with_nothing_new_fetches_no_details(tmp_path: Path) -> None:
    database = tmp_path / "drift.duckdb"
    with running() as sim:
        sync(sim, database)
        sim.reset_counts()
        result = sync(sim, database, tables=["conversations"])["conversations"]
        counts = sim.request_counts()
    assert (result.written, result.rows) == (0, 100)
    assert counts == {"POST /app/token_info": 1, "GET /conversations/list": 2}
