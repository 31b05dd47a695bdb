"""A resource's runs notify its targets: real syncs against the simulator, a real SMTP server
(aiosmtpd) and a real HTTP receiver, all on loopback."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from driftsync.config import Secret
from driftsync.errors import ConfigError
from driftsync.jobs import read_live, run_resource
from driftsync.resources import Resource, duckdb_destination

from .conftest import fetch_rows, running
from .test_notify import LOOPBACK, smtp_server

SMALL = {"accounts": 20, "conversations": 30, "users": 7}
TOKEN = "drft-notify-SECRET-token-7f3a"
HOOK_PATH = "/services/T000/B000/hook-SECRET"
REJECTED = ("Drift rejected the access token (401: authentication_error: The access token is "
            "invalid or has expired). Resource 'acme' needs a fresh OAuth access token from your "
            "Drift app (dev.drift.com > your app > Installing to Drift): store a working one "
            "with: driftsync resource edit acme --token -.")


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("DRIFTSYNC_HOME", str(path))
    monkeypatch.delenv("ACME_TOKEN", raising=False)
    return path


@contextmanager
def webhook_receiver(status: int = 200) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server that keeps every JSON body POSTed to it and answers ``status``."""
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            bodies.append(json.loads(self.rfile.read(length)))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}{HOOK_PATH}", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def resource(api_url: str, *targets: dict[str, Any], **settings: Any) -> Resource:
    values: dict[str, Any] = {"token": Secret(TOKEN)}
    values.update(settings)
    return Resource(name="acme", destination=duckdb_destination("acme"), tables=("users",),
                    api_url=api_url, notify=targets, **values)


def mail_to(port: int, **options: Any) -> dict[str, Any]:
    return {"type": "email", "to": ["data@example.com"], "host": LOOPBACK, "port": port,
            "security": "none", "timeout": 5, **options}


def test_the_first_success_mails_data_is_ready_and_later_ones_only_when_asked(
    home: Path,
) -> None:
    with smtp_server() as (inbox, port), webhook_receiver() as (url, posted), \
            running(**SMALL, token=TOKEN) as sim:
        acme = resource(sim.url, mail_to(port),
                        {"type": "webhook", "url": url, "on_success": "always"})
        first = run_resource(acme)
        mails_after_first = len(inbox.messages)
        second = run_resource(acme)

    assert first.ok and second.ok
    assert mails_after_first == 1 and len(inbox.messages) == 1  # on_success = "first"
    mail = inbox.messages[0]
    assert mail["Subject"] == "driftsync: acme data is ready"
    assert inbox.recipients == [["data@example.com"]]
    text = str(mail.get_content()).replace("\r\n", "\n")
    where = f"{home / 'acme.duckdb'} (schema main)"
    assert text.startswith(f"The Drift data of acme is ready in {where}.\n\n"
                           "  users: 7 rows read, 7 written\n\n"
                           "This was the first successful sync of acme.\n")
    assert "Duration: " in text and f"Run: {first.run_id} " in text
    assert TOKEN not in text

    # The webhook wants every success: the first one says so, the second one does not.
    assert [(b["event"], b["first_success"], b["run_id"]) for b in posted] == [
        ("success", True, first.run_id), ("success", False, second.run_id)]
    assert posted[1]["tables"] == [{"table": "users", "status": "succeeded", "rows": 7,
                                    "written": 0, "error": None}]
    assert posted[1]["text"].splitlines()[1] == "users: 7 rows read, 0 written"
    assert fetch_rows(home / "acme.duckdb", "SELECT count(*) AS n FROM acme.users") == [{"n": 7}]

    live = read_live("acme")  # what `driftsync status` reads while a run holds the file
    assert live is not None
    assert (live.state, live.run_id, live.rows, live.written, live.error) == (
        "succeeded", second.run_id, 7, 0, None)


def test_a_rejected_token_posts_the_one_line_error_to_the_webhook(home: Path) -> None:
    with webhook_receiver() as (url, posted), \
            running(**SMALL, token="the-other-token-0000") as sim:
        result = run_resource(resource(sim.url, {"type": "webhook", "url": url}))

    assert not result.ok
    [body] = posted
    assert body["event"] == "failure" and body["status"] == "failed"
    assert body["error"] == f"users: {REJECTED}"
    assert body["text"].splitlines() == [
        "driftsync: acme sync failed",
        f"users: {REJECTED}",
        "What to do: the error says how to fix it; then run the sync again. Tables that "
        "failed kept their previous data.",
    ]
    assert body["tables"] == [{"table": "users", "status": "failed", "rows": 0, "written": 0,
                               "error": REJECTED}]
    assert body["destination"] == f"{home / 'acme.duckdb'} (schema main)"
    assert body["run_id"] == result.run_id
    assert TOKEN not in json.dumps(body)
    live = read_live("acme")
    assert live is not None and (live.state, live.error) == ("failed", f"users: {REJECTED}")


def test_a_run_that_cannot_start_notifies_its_error_and_raises_it(home: Path) -> None:
    with smtp_server() as (inbox, port), webhook_receiver() as (url, posted):
        acme = resource("http://127.0.0.1:9", mail_to(port), {"type": "webhook", "url": url},
                        token=None, token_env="ACME_TOKEN")
        with pytest.raises(ConfigError) as raised:
            run_resource(acme)

    error = ("Resource 'acme' reads its access token from ACME_TOKEN, which is not set. Set "
             "it, or change the resource with 'driftsync resource edit acme'.")
    assert str(raised.value) == error
    [body] = posted
    assert (body["event"], body["error"], body["tables"], body["run_id"]) == (
        "failure", error, [], None)
    mail = inbox.messages[0]
    assert mail["Subject"] == "driftsync: acme sync failed"
    text = str(mail.get_content()).replace("\r\n", "\n")
    assert f"failed:\n\n  {error}\n" in text
    assert "No table was synced, so the data in " in text
    assert not (home / "acme.duckdb").exists()


def test_a_failing_notification_is_logged_and_never_fails_the_sync(
    home: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="driftsync.notify")
    with webhook_receiver(status=500) as (url, posted), running(**SMALL, token=TOKEN) as sim:
        result = run_resource(resource(sim.url, {"type": "webhook", "url": url}))

    assert result.ok and len(posted) == 1
    warnings = [r.getMessage() for r in caplog.records if r.name == "driftsync.notify"]
    assert warnings == [f"notification to webhook http://{LOOPBACK}:{urlsplit(url).port} "
                        "failed: it answered 500 Internal Server Error"]
    assert "hook-SECRET" not in caplog.text
    assert fetch_rows(home / "acme.duckdb", "SELECT count(*) AS n FROM acme.users") == [{"n": 7}]
