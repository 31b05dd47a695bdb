"""Notifications against real receivers on loopback: an aiosmtpd SMTP server (plain, STARTTLS,
implicit TLS, with and without login) and a stdlib HTTP server for webhooks."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from driftsync.engine import SyncResult
from driftsync.errors import AuthError, ConfigError, MissingScopeError
from driftsync.notify import (
    Delivery,
    EmailTarget,
    RunReport,
    WebhookTarget,
    notify,
    target_to_config,
    targets_from_config,
)
from driftsync.runs import TableResult

LOOPBACK = "127.0.0.1"
PASSWORD = "s3cret-Smtp-Pa55"
STARTED = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
DESTINATION = "/data/acme/drift.duckdb"
SCOPE_ERROR = str(MissingScopeError("users", "user_read"))
TOKEN_ERROR = str(AuthError("Drift rejected the access token (401): it is invalid, expired or "
                            "revoked. Create a new token in your Drift app and use it."))


# --- reports built from the engine's own result objects ----------------------------------


def sync_result(*tables: TableResult, seconds: float = 12.3) -> SyncResult:
    return SyncResult("run-7f3a", STARTED, STARTED + timedelta(seconds=seconds), list(tables))


def succeeded() -> RunReport:
    result = sync_result(
        TableResult("accounts", rows=230, written=230),
        TableResult("conversations", rows=1234, written=12, mode="incremental"),
        TableResult("users", rows=17, written=0, mode="incremental"),
    )
    return RunReport.from_result("acme", result, first_success=True, destination=DESTINATION)


def failed() -> RunReport:
    result = sync_result(
        TableResult("accounts", rows=230, written=230),
        TableResult("users", status="failed", error=SCOPE_ERROR),
        seconds=3.5,
    )
    return RunReport.from_result("acme", result, first_success=False, destination=DESTINATION)


# --- a real SMTP server ------------------------------------------------------------------


@dataclass
class Inbox:
    """What the SMTP server accepted, one entry per message."""

    messages: list[EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.recipients.append(list(envelope.rcpt_tos))
        if session.authenticated:
            self.logins.append(session.auth_data.login.decode())
        return "250 OK"

    def only(self) -> EmailMessage:
        assert len(self.messages) == 1, f"{len(self.messages)} messages"
        return self.messages[0]

    def text(self) -> str:
        """The one message's body, with the wire's CRLF line ends made plain again."""
        return str(self.only().get_content()).replace("\r\n", "\n")


class LoopbackController(Controller):
    """aiosmtpd's controller on a port the OS picks, so parallel runs never collide."""

    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def check_login(server: Any, session: Any, envelope: Any, mechanism: str,
                auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"notifier"
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


@contextmanager
def smtp_server(**options: Any) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = LoopbackController(inbox, hostname=LOOPBACK, port=0,
                                    server_hostname="mail.test", **options)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


@dataclass
class Tls:
    server: ssl.SSLContext
    ca_file: str


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    """A throwaway CA and a certificate for 127.0.0.1 that it signed."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(LOOPBACK).configure_cert(context)
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return Tls(context, str(ca_file))


def email_target(port: int, **options: Any) -> EmailTarget:
    settings: dict[str, Any] = {"to": ["data@example.com", "ops@example.com"], "host": LOOPBACK,
                                "port": port, "security": "none", "timeout": 5}
    settings.update(options)
    return EmailTarget(**settings)


def notify_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "driftsync.notify" and r.levelno >= logging.WARNING]


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


# --- a real HTTP receiver ----------------------------------------------------------------


@dataclass
class Receiver:
    url: str
    requests: list[tuple[str, dict[str, str], Any]]
    answer: list[int]
    release: threading.Event


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    requests: list[tuple[str, dict[str, str], Any]] = []
    answer = [200]
    release = threading.Event()
    release.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", 0))
            requests.append((self.path, dict(self.headers), json.loads(self.rfile.read(size))))
            release.wait(5)
            text = b"ok" if answer[0] < 300 else b"boom: the receiver broke"
            self.send_response(answer[0])
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://{LOOPBACK}:{server.server_port}", requests, answer, release)
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


SECRET_PATH = "/services/T0000/B0000/XXXXsecretXXXX"


# --- e-mail ------------------------------------------------------------------------------


def test_success_mail_says_data_is_ready_with_rows_and_duration(
    smtp: tuple[Inbox, int],
) -> None:
    inbox, port = smtp
    [delivery] = notify([email_target(port, from_addr="sync@acme.test")], succeeded())

    assert delivery == Delivery(f"email to data@example.com, ops@example.com via "
                                f"{LOOPBACK}:{port}", "success", "sent")
    mail = inbox.only()
    assert mail["Subject"] == "driftsync: acme data is ready"
    assert mail["From"] == "sync@acme.test"
    assert mail["To"] == "data@example.com, ops@example.com"
    assert inbox.recipients == [["data@example.com", "ops@example.com"]]
    text = inbox.text()
    assert f"The Drift data of acme is ready in {DESTINATION}." in text
    assert "accounts: 230 rows read, 230 written" in text
    assert "conversations: 1,234 rows read, 12 written" in text
    assert "users: 17 rows read, 0 written" in text
    assert "Duration: 12.3 s (2024-05-01 10:00:00 UTC to 2024-05-01 10:00:12 UTC)." in text
    assert "first successful sync of acme" in text


def test_failure_mail_has_the_error_and_what_to_do(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    [delivery] = notify([email_target(port)], failed())

    assert delivery.status == "sent" and delivery.event == "failure"
    mail = inbox.only()
    assert mail["Subject"] == "driftsync: acme sync failed"
    text = inbox.text()
    assert f"The sync of acme into {DESTINATION} failed:\n\n  users: {SCOPE_ERROR}\n" in text
    assert "Add 'user_read' under SETTINGS > OAuth & Scopes" in text  # the fix, from the error
    assert "What to do:" in text
    assert "accounts: 230 rows read, 230 written" in text
    assert f"users: failed: {SCOPE_ERROR}" in text
    assert "Duration: 3.5 s" in text


def test_a_run_that_failed_before_any_table(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    report = RunReport.failure("acme", TOKEN_ERROR, DESTINATION)
    notify([email_target(port)], report)

    text = inbox.text()
    assert f"  {TOKEN_ERROR}\n" in text
    assert f"No table was synced, so the data in {DESTINATION} is unchanged." in text


def test_skipped_tables_are_listed_with_their_reason(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    result = sync_result(TableResult("accounts", rows=5, written=5),
                         TableResult("users", status="skipped", error=f"skipped: {SCOPE_ERROR}"))
    report = RunReport.from_result("acme", result, first_success=True, destination=DESTINATION)
    notify([email_target(port, on_success="always")], report)

    assert f"users: skipped: {SCOPE_ERROR}\n" in inbox.text()


@pytest.mark.parametrize(
    ("on_success", "first_success", "sent"),
    [
        ("first", True, True),
        ("first", False, False),
        ("always", True, True),
        ("always", False, True),
        ("never", True, False),
        ("never", False, False),
    ],
)
def test_on_success_setting(smtp: tuple[Inbox, int], on_success: str, first_success: bool,
                            sent: bool) -> None:
    inbox, port = smtp
    result = sync_result(TableResult("accounts", rows=1, written=1))
    report = RunReport.from_result("acme", result, first_success, DESTINATION)

    [delivery] = notify([email_target(port, on_success=on_success)], report)

    assert delivery.status == ("sent" if sent else "skipped")
    assert len(inbox.messages) == (1 if sent else 0)


def test_on_failure_false_sends_nothing_on_failure(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    target = email_target(port, on_success="always", on_failure=False)

    [delivery] = notify([target], failed())

    assert delivery.status == "skipped" and delivery.reason == "on_failure is false"
    assert inbox.messages == []


def test_starttls_and_login_with_the_password_from_the_environment(
    tls: Tls, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    # auth_require_tls (the default): the server offers AUTH only once STARTTLS is done.
    with smtp_server(tls_context=tls.server, authenticator=check_login,
                     require_starttls=True) as (inbox, port):
        target = email_target(port, security="starttls", ca_file=tls.ca_file, user="notifier",
                              password_env="SMTP_PASSWORD")
        [delivery] = notify([target], succeeded())

    assert delivery.status == "sent", delivery.reason
    assert inbox.logins == ["notifier"]
    assert inbox.only()["Subject"] == "driftsync: acme data is ready"


def test_implicit_tls(tls: Tls) -> None:
    with smtp_server(ssl_context=tls.server) as (inbox, port):
        [delivery] = notify([email_target(port, security="ssl", ca_file=tls.ca_file)],
                            succeeded())

    assert delivery.status == "sent", delivery.reason
    assert len(inbox.messages) == 1


def test_an_unknown_certificate_is_refused_with_a_hint(
    tls: Tls, caplog: pytest.LogCaptureFixture
) -> None:
    with smtp_server(tls_context=tls.server) as (inbox, port):
        [delivery] = notify([email_target(port, security="starttls")], succeeded())

    assert delivery.status == "failed"
    assert "could not be verified" in (delivery.reason or "")
    assert "set ca_file" in (delivery.reason or "")
    assert inbox.messages == []
    assert len(notify_warnings(caplog)) == 1


def test_wrong_password_is_one_warning_without_the_password(
    tls: Tls, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-Pa55word-123"
    monkeypatch.setenv("SMTP_PASSWORD", wrong)
    with smtp_server(tls_context=tls.server, authenticator=check_login) as (inbox, port):
        target = email_target(port, security="starttls", ca_file=tls.ca_file, user="notifier",
                              password_env="SMTP_PASSWORD")
        [delivery] = notify([target], succeeded())

    assert delivery.status == "failed"
    assert delivery.reason is not None and "rejected the login of notifier (535" in delivery.reason
    assert "SMTP_PASSWORD" in delivery.reason
    assert notify_warnings(caplog) == [
        f"notification to {target.label} failed: {delivery.reason}"
    ]
    assert wrong not in caplog.text and wrong not in repr(delivery)
    assert inbox.messages == []


def test_password_variable_not_set(smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch) -> None:
    inbox, port = smtp
    monkeypatch.delenv("SMTP_PASSWORD", raising=False)
    target = email_target(port, user="notifier", password_env="SMTP_PASSWORD")

    [delivery] = notify([target], succeeded())

    assert delivery.status == "failed"
    assert delivery.reason == ("the environment variable SMTP_PASSWORD (password_env) is not set "
                               "or empty: set it to the SMTP password")
    assert inbox.messages == []


def test_login_over_plain_smtp_on_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local relay without TLS is fine: the password never leaves the machine."""
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    with smtp_server(authenticator=check_login, auth_require_tls=False) as (inbox, port):
        target = email_target(port, user="notifier", password_env="SMTP_PASSWORD")
        [delivery] = notify([target], succeeded())

    assert delivery.status == "sent", delivery.reason
    assert inbox.logins == ["notifier"]


def test_unreachable_smtp_server_is_logged_and_the_next_target_still_runs(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    targets = [email_target(port), WebhookTarget(url=receiver.url, on_success="always")]

    deliveries = notify(targets, succeeded())

    assert [d.status for d in deliveries] == ["failed", "sent"]
    assert deliveries[0].reason == (f"could not connect to {LOOPBACK}:{port} (connection "
                                    "refused): check host and port")
    assert notify_warnings(caplog) == [
        f"notification to {targets[0].label} failed: {deliveries[0].reason}"
    ]
    assert len(receiver.requests) == 1


# --- webhooks ----------------------------------------------------------------------------


def test_webhook_posts_slack_text_and_the_figures(receiver: Receiver) -> None:
    target = WebhookTarget(url=receiver.url + "/hook", headers={"X-Team": "data"})

    [delivery] = notify([target], succeeded())

    assert delivery == Delivery(f"webhook {receiver.url}", "success", "sent")
    [(path, headers, body)] = receiver.requests
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Team"] == "data"
    assert body["text"] == (
        f"driftsync: acme data is ready in {DESTINATION} (12.3 s)\n"
        "accounts: 230 rows read, 230 written\n"
        "conversations: 1,234 rows read, 12 written\n"
        "users: 17 rows read, 0 written"
    )
    assert body["resource"] == "acme"
    assert body["status"] == "succeeded" and body["event"] == "success"
    assert body["first_success"] is True
    assert body["destination"] == DESTINATION
    assert body["started_at"] == "2024-05-01T10:00:00+00:00"
    assert body["finished_at"] == "2024-05-01T10:00:12.300000+00:00"
    assert body["seconds"] == 12.3
    assert body["run_id"] == "run-7f3a"
    assert body["error"] is None
    assert body["tables"][1] == {"table": "conversations", "status": "succeeded", "rows": 1234,
                                 "written": 12, "error": None}


def test_webhook_failure_payload(receiver: Receiver) -> None:
    notify([WebhookTarget(url=receiver.url)], failed())

    [(_, _, body)] = receiver.requests
    assert body["status"] == "failed" and body["event"] == "failure"
    assert body["error"] == f"users: {SCOPE_ERROR}"
    assert body["text"].splitlines()[:2] == ["driftsync: acme sync failed",
                                             f"users: {SCOPE_ERROR}"]
    assert body["tables"][1] == {"table": "users", "status": "failed", "rows": 0, "written": 0,
                                 "error": SCOPE_ERROR}


def test_webhook_answering_500_is_logged_without_the_secret_path(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.answer[0] = 500
    target = WebhookTarget(url=receiver.url + SECRET_PATH + "?token=hushhush",
                           headers={"Authorization": "Bearer hdr-secret-1"})

    [delivery] = notify([target], succeeded())

    assert delivery.status == "failed"
    assert delivery.reason == "it answered 500 Internal Server Error: boom: the receiver broke"
    assert notify_warnings(caplog) == [
        f"notification to webhook {receiver.url} failed: {delivery.reason}"
    ]
    for secret in ("XXXXsecretXXXX", "hushhush", "hdr-secret-1"):
        assert secret not in caplog.text
        assert secret not in repr(target) and secret not in repr(delivery)
    assert receiver.requests[0][0] == SECRET_PATH + "?token=hushhush"


def test_webhook_unreachable_or_slow(receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    receiver.release.clear()  # the receiver takes the request and does not answer
    slow = WebhookTarget(url=receiver.url + SECRET_PATH, timeout=0.3)
    gone = WebhookTarget(url=f"http://{LOOPBACK}:{free_port()}{SECRET_PATH}")

    deliveries = notify([slow, gone], succeeded())

    assert [d.status for d in deliveries] == ["failed", "failed"]
    assert deliveries[0].reason == "no answer within 0.3 s"
    assert (deliveries[1].reason or "").startswith("could not reach it:")
    assert len(notify_warnings(caplog)) == 2
    assert "secret" not in caplog.text


# --- configuration -----------------------------------------------------------------------

EMAIL = {"type": "email", "to": ["a@b.c"], "host": "smtp.example.com", "port": 587,
         "security": "starttls", "user": "me", "password_env": "SMTP_PASSWORD",
         "on_success": "first", "on_failure": True}
WEBHOOK = {"type": "webhook", "url": "https://hooks.slack.com/services/T0/B0/XYZsecret",
           "on_success": "always"}


def test_config_reads_both_kinds_and_writes_them_back() -> None:
    email_config, webhook_config = targets_from_config([EMAIL, WEBHOOK])

    assert email_config == EmailTarget(to=["a@b.c"], host="smtp.example.com", port=587,
                                       user="me", password_env="SMTP_PASSWORD")
    assert isinstance(webhook_config, WebhookTarget)
    assert webhook_config.on_success == "always" and webhook_config.on_failure is True
    assert webhook_config.label == "webhook https://hooks.slack.com"
    for target in (email_config, webhook_config):
        assert targets_from_config([target_to_config(target)]) == [target]
    assert target_to_config(email_config) == EMAIL


def test_config_defaults() -> None:
    [target] = targets_from_config([{"type": "email", "to": "a@b.c", "host": "mail",
                                     "security": "ssl"}])

    assert isinstance(target, EmailTarget)
    assert target.to == ("a@b.c",) and target.smtp_port == 465
    assert target.on_success == "first" and target.on_failure is True
    assert target.from_addr == "driftsync@localhost"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"security": "tls"}, "notification target 1 (email): 'security' must be \"starttls\""),
        ({"port": "587"}, "'port' must be a number from 1 to 65535, not '587'"),
        ({"port": 0}, "'port' must be a number from 1 to 65535"),
        ({"on_success": "yes"}, "'on_success' must be \"first\", \"always\" or \"never\""),
        ({"on_failure": "no"}, "'on_failure' must be true or false"),
        ({"timeout": 0}, "'timeout' must be a number of seconds"),
        ({"to": []}, "'to' needs at least one address"),
        ({"to": ["a@b.c, evil@x.y"]}, "'to' must hold plain e-mail addresses"),
        ({"to": ["a@b.c\nBcc: evil@x.y"]}, "'to' must hold plain e-mail addresses"),
        ({"host": ""}, "'host' must be the SMTP server's name"),
        ({"user": None, "password_env": None, "colour": "red"}, "unknown key 'colour'"),
        ({"password_env": None}, "'user' and 'password_env' go together"),
        ({"security": "none", "port": None},
         "would send the SMTP password unencrypted to smtp.example.com"),
        ({"type": "pigeon"}, "'type' must be \"email\" or \"webhook\", not 'pigeon'"),
        ({"host": None}, "'host' is missing; an email target needs to and host"),
    ],
)
def test_config_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    """A None in ``change`` leaves the key out."""
    item = {k: v for k, v in {**EMAIL, **change}.items() if v is not None}

    with pytest.raises(ConfigError) as caught:
        targets_from_config([item])

    assert message in str(caught.value)
    assert str(caught.value).startswith("notification target 1")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("item", "secret"),
    [
        ({**EMAIL, "password": "hunter2-pw"}, "hunter2-pw"),
        ({**EMAIL, "password_env": "hunter2 pw!"}, "hunter2"),
        ({**WEBHOOK, "url": "ftp://hooks.example.com/Tsecret"}, "Tsecret"),
        ({**WEBHOOK, "headers": {"Authorization": "Bearer hsecret\n"}}, "hsecret"),
    ],
)
def test_config_errors_never_echo_secrets(item: dict[str, Any], secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        targets_from_config([WEBHOOK, item])

    assert str(caught.value).startswith("notification target 2")
    assert secret not in str(caught.value)


def test_config_must_be_a_list_of_tables() -> None:
    with pytest.raises(ConfigError, match="notify must be a list of tables, one per target"):
        targets_from_config({"type": "email"})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="notification target 1: must be a table"):
        targets_from_config(["email"])  # type: ignore[list-item]
