"""A sync killed at any moment (SIGKILL) and rerun ends equal to the source: no duplicate, no
missing row, no row left marked deleted by mistake."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .conftest import fetch_rows, running

TRIALS = 20


SPEC_TABLES = "accounts,conversations,users"
FANOUT_TABLES = "messages,contacts,conversation_tags,conversation_participants"


def start_sync(sim: Any, database: Path, tables: str = SPEC_TABLES) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFT")}
    env["DRIFT_ACCESS_TOKEN"] = sim.config.token
    return subprocess.Popen(
        [sys.executable, "-m", "driftsync", "sync", "--api-url", sim.url, "--tables", tables,
         "--database", str(database), "--retries", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def assert_equal_to_source(sim: Any, database: Path) -> None:
    conversations = fetch_rows(database, 'SELECT id, "updatedAt", status FROM drift.conversations')
    assert len(conversations) == len({r["id"] for r in conversations})
    assert {r["id"]: (r["updatedAt"], r["status"]) for r in conversations} == {
        c["id"]: (c["updatedAt"], c["status"]) for c in sim.dataset.conversations}
    accounts = fetch_rows(database, 'SELECT "accountId", name, _driftsync_deleted_at AS gone '
                                    "FROM drift.accounts")
    assert len(accounts) == len({r["accountId"] for r in accounts})
    assert {r["accountId"]: r["name"] for r in accounts} == {
        a["accountId"]: a.get("name") for a in sim.dataset.accounts}
    assert all(r["gone"] is None for r in accounts)
    users = fetch_rows(database, "SELECT id FROM drift.users")
    assert sorted(r["id"] for r in users) == sorted(u["id"] for u in sim.dataset.users)


def test_kill_at_random_moments_then_rerun(tmp_path: Path) -> None:
    rng = random.Random(20261203)
    database = tmp_path / "drift.duckdb"
    with running(conversations=2000, accounts=800, users=40) as sim:
        # How long one full sync takes here, to spread the kills over all of its phases.
        started = time.monotonic()
        probe = start_sync(sim, tmp_path / "probe.duckdb")
        assert probe.wait(timeout=300) == 0, probe.stderr.read() if probe.stderr else ""
        full = time.monotonic() - started
        outcomes = []
        for trial in range(TRIALS):
            if trial % 4 == 1:  # Drift changes between trials, as it would between runs
                for conversation in sim.dataset.conversations[-30:]:
                    conversation["updatedAt"] = sim.dataset.conversations[0]["updatedAt"] + 7
                    conversation["status"] = "open"
                sim.dataset.accounts[trial]["name"] = f"renamed in trial {trial}"
                sim.reload()
            victim = start_sync(sim, database)
            time.sleep(rng.uniform(0.05, 0.9 * full))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=60)
            outcomes.append(victim.returncode)
            rerun = start_sync(sim, database)
            assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
            assert_equal_to_source(sim, database)
    assert outcomes.count(-signal.SIGKILL) >= TRIALS // 4, outcomes  # many were really killed
    runs = fetch_rows(database, "SELECT status FROM drift._driftsync_runs")
    assert {r["status"] for r in runs} <= {"succeeded", "interrupted"}
    assert "running" not in {r["status"] for r in runs}


def assert_fanout_equal_to_source(sim: Any, database: Path) -> None:
    messages = fetch_rows(database, "SELECT id FROM drift.messages")
    assert len(messages) == len({r["id"] for r in messages})
    assert {r["id"] for r in messages} == {
        m["id"] for c in sim.dataset.conversations for m in sim.messages_for(c["id"])}
    tags = fetch_rows(database, 'SELECT "conversationId" AS c, name FROM drift.conversation_tags')
    assert sorted((r["c"], r["name"]) for r in tags) == sorted(
        (c["id"], t["name"]) for c in sim.dataset.conversations
        for t in c.get("conversationTags") or [])
    people = fetch_rows(database, 'SELECT "conversationId" AS c, "userId" AS u '
                                  "FROM drift.conversation_participants")
    assert sorted((r["c"], r["u"]) for r in people) == sorted(
        (c["id"], u) for c in sim.dataset.conversations for u in c.get("participants") or [])
    contacts = fetch_rows(database, "SELECT id, name FROM drift.contacts")
    assert len(contacts) == len({r["id"] for r in contacts})
    stored = {r["id"]: r["name"] for r in contacts}
    for contact_id in {c["contactId"] for c in sim.dataset.conversations}:
        assert stored[contact_id] == sim.contact(contact_id)["attributes"].get("name")


FANOUT_TRIALS = 8


def test_kill_while_messages_contacts_and_nested_tables_load_then_rerun(tmp_path: Path) -> None:
    rng = random.Random(20261204)
    database = tmp_path / "drift.duckdb"
    with running(conversations=400, accounts=20, users=15) as sim:
        started = time.monotonic()
        probe = start_sync(sim, tmp_path / "probe.duckdb", FANOUT_TABLES)
        assert probe.wait(timeout=300) == 0, probe.stderr.read() if probe.stderr else ""
        full = time.monotonic() - started
        outcomes = []
        for trial in range(FANOUT_TRIALS):
            if trial % 3 == 1:  # Drift changes between trials: new messages, a tag removed
                ids = [c["id"] for c in sim.dataset.conversations[trial * 20:trial * 20 + 15]]
                sim.update_conversations(ids=ids[:-1])
                sim.update_conversations(ids=ids[-1:], fields={"conversationTags": []})
                # a contact changes along with one of its conversations (Drift gives contacts
                # no change time: their conversations' activity is what brings them back)
                changed = next(c for c in sim.dataset.conversations if c["id"] == ids[0])
                sim.update_contacts(ids=[changed["contactId"]])
            victim = start_sync(sim, database, FANOUT_TABLES)
            time.sleep(rng.uniform(0.05, 0.9 * full))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=60)
            outcomes.append(victim.returncode)
            rerun = start_sync(sim, database, FANOUT_TABLES)
            assert rerun.wait(timeout=300) == 0, rerun.stderr.read() if rerun.stderr else ""
            assert_fanout_equal_to_source(sim, database)
    assert outcomes.count(-signal.SIGKILL) >= FANOUT_TRIALS // 4, outcomes
