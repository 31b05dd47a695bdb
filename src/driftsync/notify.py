"""Tell people how a sync went: e-mail over SMTP, and webhooks (a JSON POST).

A notification is a side effect of a run, never part of it. :func:`notify` catches every
failure of every target, logs it as one warning line and hands it back as a
:class:`Delivery`, so a dead mail relay or a webhook answering 500 can never turn a good sync
into a failed one. The targets are sent one after the other, each with its own timeout, so a
slow one delays the others by at most that timeout.

Each target chooses its events. ``on_success`` is ``"first"`` (default: only a resource's
first successful sync, the "your data is ready" mail), ``"always"`` or ``"never"``;
``on_failure`` is true or false (default true). Failure messages carry driftsync's own
one-line error, which already says how to fix the problem, and the error of every table.

Secrets. The SMTP password is never in the configuration: ``password_env`` names the
environment variable that holds it, read at send time. A webhook URL often *is* a secret
(Slack puts the credential in its path), so logs, reasons and reprs show only its scheme and
host; header values are never shown either. Every failure reason is scrubbed of these values
before it is logged, whatever the underlying library put into its message. Messages contain
no Drift token: they are built from driftsync's errors, which never hold one.

In the config file each target is one TOML table (see :func:`targets_from_config`)::

    [[notify]]
    type = "email"
    to = ["data-team@example.com"]
    host = "smtp.example.com"
    port = 587                    # default: 587 for starttls, 465 for ssl, 25 for none
    security = "starttls"         # or "ssl" (TLS from the start), or "none" (loopback relays)
    user = "driftsync"
    password_env = "SMTP_PASSWORD"
    on_success = "first"
    on_failure = true

    [[notify]]
    type = "webhook"
    url = "https://hooks.slack.com/services/..."
    on_success = "always"
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx

from .config import is_loopback
from .errors import ConfigError, DriftSyncError, one_line

if TYPE_CHECKING:
    from .engine import SyncResult

log = logging.getLogger("driftsync.notify")

OnSuccess = Literal["always", "first", "never"]
Security = Literal["starttls", "ssl", "none"]
Event = Literal["success", "failure"]
DeliveryStatus = Literal["sent", "failed", "skipped"]

ON_SUCCESS: tuple[OnSuccess, ...] = ("first", "always", "never")
SMTP_PORTS: dict[Security, int] = {"starttls": 587, "ssl": 465, "none": 25}
DEFAULT_FROM = "driftsync@localhost"
DEFAULT_TIMEOUT = 10.0
"""Seconds per target. Notifications run after the data is loaded, so a stuck receiver may
only delay the end of the command, and only by this much."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")
"""A bare address. Display names are left out on purpose: they need quoting rules, and a
stray comma or newline in a header is how header injection starts."""


class NotificationError(DriftSyncError):
    """A notification could not be delivered. Only ever logged and returned, never raised
    out of :func:`notify`."""


# --- targets -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class EmailTarget:
    """Plain-text mail through an SMTP server. Validated on construction (ConfigError)."""

    to: Sequence[str]
    host: str
    port: int | None = None
    """None: the usual port for ``security`` (see :attr:`smtp_port`)."""
    security: Security = "starttls"
    user: str | None = None
    password_env: str | None = None
    """Name of the environment variable holding the password; the password is never stored."""
    from_addr: str = DEFAULT_FROM
    on_success: OnSuccess = "first"
    on_failure: bool = True
    timeout: float = DEFAULT_TIMEOUT
    ca_file: str | None = None
    """PEM file of the CA that signed the server's certificate, for relays with a private CA."""
    verify: bool = True
    """Check the server's certificate. Turning it off lets anyone on the path read the
    password; prefer ``ca_file``."""

    def __post_init__(self) -> None:
        to = [self.to] if isinstance(self.to, str) else self.to
        if not isinstance(to, Sequence) or not to:
            raise ConfigError("'to' needs at least one address, e.g. to = [\"you@example.com\"].")
        for address in to:
            _check_address("to", address)
        object.__setattr__(self, "to", tuple(to))
        _check_address("from", self.from_addr)
        _check_text("host", self.host, "the SMTP server's name, e.g. host = \"smtp.example.com\"")
        if self.security not in SMTP_PORTS:
            raise ConfigError(
                f"'security' must be \"starttls\", \"ssl\" or \"none\", not {self.security!r}: "
                "\"starttls\" for port 587, \"ssl\" for port 465."
            )
        if self.port is not None and (
            type(self.port) is not int or not 0 < self.port < 65536
        ):
            raise ConfigError(f"'port' must be a number from 1 to 65535, not {self.port!r}.")
        if self.user is not None:
            _check_text("user", self.user, "the SMTP login name")
        if self.password_env is not None and (
            not isinstance(self.password_env, str) or not _ENV_NAME.fullmatch(self.password_env)
        ):
            # Not echoed: a password pasted here by mistake must not end up in a log.
            raise ConfigError(
                "'password_env' must be the name of an environment variable (letters, digits "
                "and _), e.g. password_env = \"SMTP_PASSWORD\", never the password itself."
            )
        if (self.user is None) != (self.password_env is None):
            raise ConfigError(
                "'user' and 'password_env' go together: set both to log in, or neither."
            )
        if self.user is not None and self.security == "none" and not is_loopback(self.host):
            raise ConfigError(
                f"'security' = \"none\" would send the SMTP password unencrypted to "
                f"{self.host}: use \"starttls\" (port 587) or \"ssl\" (port 465)."
            )
        if self.ca_file is not None:
            _check_text("ca_file", self.ca_file, "the path of a PEM CA certificate")
        _check_bool("verify", self.verify)
        if self.ca_file is not None and not self.verify:
            raise ConfigError("'ca_file' is only used when 'verify' is true: drop one of them.")
        _check_common(self.on_success, self.on_failure, self.timeout)

    @property
    def smtp_port(self) -> int:
        return self.port if self.port is not None else SMTP_PORTS[self.security]

    @property
    def label(self) -> str:
        """How logs and deliveries name this target."""
        return f"email to {', '.join(self.to)} via {self.host}:{self.smtp_port}"


@dataclass(frozen=True, kw_only=True, repr=False)
class WebhookTarget:
    """A JSON POST with a Slack-compatible ``text`` field and the run's figures beside it."""

    url: str
    on_success: OnSuccess = "first"
    on_failure: bool = True
    timeout: float = DEFAULT_TIMEOUT
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Extra request headers, e.g. an Authorization for receivers that want one."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            # Not echoed: the URL may hold a credential.
            raise ConfigError(
                "'url' must be an http:// or https:// URL, as the receiving service shows it "
                "(Slack: your app's Incoming Webhooks page)."
            )
        if not isinstance(self.headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and "\n" not in k + v and "\r" not in k + v
            for k, v in self.headers.items()
        ):
            raise ConfigError(
                "'headers' must be a table of text values on one line each, e.g. "
                "headers = { Authorization = \"Bearer ...\" }."
            )
        object.__setattr__(self, "headers", dict(self.headers))
        _check_common(self.on_success, self.on_failure, self.timeout)

    @property
    def label(self) -> str:
        """Scheme and host only: the path and query of a webhook URL are often its secret."""
        return f"webhook {_public_url(self.url)}"

    def __repr__(self) -> str:
        return (f"WebhookTarget(url={_public_url(self.url) + '/...'!r}, "
                f"on_success={self.on_success!r}, on_failure={self.on_failure!r})")


Target = EmailTarget | WebhookTarget


def _check_common(on_success: Any, on_failure: Any, timeout: Any) -> None:
    if on_success not in ON_SUCCESS:
        raise ConfigError(
            f"'on_success' must be \"first\", \"always\" or \"never\", not {on_success!r}: "
            "\"first\" notifies only when a resource's data is ready for the first time."
        )
    _check_bool("on_failure", on_failure)
    if type(timeout) not in (int, float) or not 0 < timeout <= 300:
        raise ConfigError(f"'timeout' must be a number of seconds from 0 to 300, not {timeout!r}.")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"'{name}' must be true or false, not {value!r}.")


def _check_text(name: str, value: Any, what: str) -> None:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ConfigError(f"'{name}' must be {what}, not {value!r}.")


def _check_address(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise ConfigError(
            f"'{name}' must hold plain e-mail addresses like \"you@example.com\", not {value!r}."
        )


def _public_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


# --- what happened -----------------------------------------------------------------------


@dataclass(frozen=True)
class TableReport:
    table: str
    status: str
    """``succeeded``, ``failed`` or ``skipped``, as the engine reported it."""
    rows: int = 0
    """Records read from Drift."""
    written: int = 0
    error: str | None = None
    """Why it failed or was skipped, with the fix."""


@dataclass(frozen=True, kw_only=True)
class RunReport:
    """Everything a notification says about one run, independent of how it is sent."""

    resource: str
    """What was synced, as the user calls it (a Drift org, a config name)."""
    destination: str
    """Where the data is, e.g. the DuckDB file's path."""
    ok: bool
    first_success: bool = False
    tables: tuple[TableReport, ...] = ()
    error: str | None = None
    """The one-line error of a failed run: the first failure, which the others often share."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    run_id: str | None = None

    @property
    def event(self) -> Event:
        return "success" if self.ok else "failure"

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def from_result(
        cls, resource: str, result: SyncResult, first_success: bool, destination: str
    ) -> RunReport:
        """The report of a finished run.

        ``first_success``: no earlier run of this resource had succeeded (the caller knows,
        e.g. from the run history before the run). It decides ``on_success = "first"``.
        """
        tables = tuple(
            TableReport(t.table, t.status, t.rows, t.written, t.error) for t in result.tables
        )
        error = None
        if not result.ok:
            culprit = next((t for t in tables if t.status == "failed"), None) or next(
                (t for t in tables if t.status != "succeeded"), None
            )
            error = f"{culprit.table}: {culprit.error or culprit.status}" if culprit else (
                "the run failed")
        return cls(
            resource=resource,
            destination=destination,
            ok=result.ok,
            first_success=first_success and result.ok,
            tables=tables,
            error=error,
            started_at=result.started_at,
            finished_at=result.finished_at,
            run_id=result.run_id,
        )

    @classmethod
    def failure(
        cls,
        resource: str,
        error_line: str,
        destination: str,
        *,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> RunReport:
        """A run that failed before any table: a rejected token, an unreachable API."""
        return cls(resource=resource, destination=destination, ok=False,
                   error=one_line(error_line), started_at=started_at, finished_at=finished_at)


@dataclass(frozen=True)
class Delivery:
    """What became of one target: ``sent``, ``failed`` (with the reason) or ``skipped``
    (the target does not want this event)."""

    target: str
    """The target's label: safe to print, without secrets."""
    event: Event
    status: DeliveryStatus
    reason: str | None = None


def wants(target: Target, report: RunReport) -> bool:
    """Does ``target`` want to hear about this run?"""
    if not report.ok:
        return target.on_failure
    return target.on_success == "always" or (
        target.on_success == "first" and report.first_success
    )


def notify(targets: Iterable[Target], report: RunReport) -> list[Delivery]:
    """Send ``report`` to every target that wants it. Never raises (Ctrl-C aside)."""
    deliveries: list[Delivery] = []
    for target in targets:
        if not wants(target, report):
            why = ("on_failure is false" if not report.ok else
                   f"on_success is \"{target.on_success}\"")
            deliveries.append(Delivery(target.label, report.event, "skipped", why))
            continue
        try:
            if isinstance(target, EmailTarget):
                _send_email(target, report)
            else:
                _post_webhook(target, report)
        except Exception as exc:  # noqa: BLE001 - a notification must never fail the sync
            reason = _scrub(one_line(_reason(target, exc)), _secrets(target))
            log.warning("notification to %s failed: %s", target.label, reason)
            deliveries.append(Delivery(target.label, report.event, "failed", reason))
        else:
            log.info("notification sent to %s", target.label)
            deliveries.append(Delivery(target.label, report.event, "sent"))
    return deliveries


# --- what the messages say ---------------------------------------------------------------

_WHAT_TO_DO = "What to do: the error says how to fix it; then run the sync again."
_KEPT = " Tables that failed kept their previous data."


def subject(report: RunReport) -> str:
    resource = one_line(report.resource)  # a header: a line break would end it
    if report.ok:
        return f"driftsync: {resource} data is ready"
    return f"driftsync: {resource} sync failed"


def body(report: RunReport) -> str:
    """The e-mail text: what happened, per table, how long it took, and what to do."""
    if report.ok:
        lines = [f"The Drift data of {report.resource} is ready in {report.destination}.", ""]
        lines += [f"  {_table_line(t)}" for t in report.tables]
        if report.first_success:
            lines += ["", f"This was the first successful sync of {report.resource}."]
    else:
        lines = [f"The sync of {report.resource} into {report.destination} failed:", "",
                 f"  {report.error}", "", _what_to_do(report)]
        if report.tables:
            lines += ["", "Tables:"] + [f"  {_table_line(t)}" for t in report.tables]
        else:
            lines += ["", f"No table was synced, so the data in {report.destination} is "
                          "unchanged."]
    lines += ["", *_timing(report)]
    return "\n".join(lines).rstrip() + "\n"


def short_text(report: RunReport) -> str:
    """The chat message (Slack ``text``): the subject and a few lines."""
    if report.ok:
        took = f" ({_duration(report.seconds)})" if report.seconds is not None else ""
        head = f"{subject(report)} in {report.destination}{took}"
        return "\n".join([head, *(_table_line(t) for t in report.tables)])
    return "\n".join([subject(report), str(report.error), _what_to_do(report)])


def payload(report: RunReport) -> dict[str, Any]:
    """The webhook body: ``text`` for chat tools, and the same facts as fields for programs."""
    return {
        "text": short_text(report),
        "event": report.event,
        "resource": report.resource,
        "status": "succeeded" if report.ok else "failed",
        "first_success": report.first_success,
        "destination": report.destination,
        "run_id": report.run_id,
        "started_at": _iso(report.started_at),
        "finished_at": _iso(report.finished_at),
        "seconds": None if report.seconds is None else round(report.seconds, 3),
        "tables": [
            {"table": t.table, "status": t.status, "rows": t.rows, "written": t.written,
             "error": t.error}
            for t in report.tables
        ],
        "error": report.error,
    }


def _what_to_do(report: RunReport) -> str:
    return _WHAT_TO_DO + (_KEPT if report.tables else "")


def _table_line(table: TableReport) -> str:
    if table.status == "succeeded":
        return f"{table.table}: {table.rows:,} rows read, {table.written:,} written"
    reason = table.error or "no reason given"
    reason = reason.removeprefix(f"{table.status}: ")  # the engine may have said it already
    return f"{table.table}: {table.status}: {reason}"


def _timing(report: RunReport) -> list[str]:
    lines = []
    if report.seconds is not None and report.started_at and report.finished_at:
        lines.append(f"Duration: {_duration(report.seconds)} ({_clock(report.started_at)} to "
                     f"{_clock(report.finished_at)}).")
    elif report.finished_at:
        lines.append(f"Finished: {_clock(report.finished_at)}.")
    if report.run_id:
        lines.append(f"Run: {report.run_id} (driftsync status shows it).")
    return lines


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _clock(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


# --- sending -----------------------------------------------------------------------------


def _send_email(target: EmailTarget, report: RunReport) -> None:
    password = _password(target)
    message = EmailMessage()
    message["Subject"] = subject(report)
    message["From"] = target.from_addr
    message["To"] = ", ".join(target.to)
    message["Date"] = format_datetime(datetime.now(UTC))
    # An explicit domain: the default asks DNS for this machine's name, which can hang.
    message["Message-ID"] = make_msgid("driftsync", domain=target.from_addr.rpartition("@")[2])
    message.set_content(body(report))

    context = _tls_context(target) if target.security != "none" else None
    smtp: smtplib.SMTP
    if target.security == "ssl":
        smtp = smtplib.SMTP_SSL(target.host, target.smtp_port, timeout=target.timeout,
                                context=context)
    else:
        smtp = smtplib.SMTP(target.host, target.smtp_port, timeout=target.timeout)
    with smtp:
        if target.security == "starttls":
            smtp.starttls(context=context)
        if target.user is not None and password is not None:
            smtp.login(target.user, password)
        refused = smtp.send_message(message)
    if refused:
        raise NotificationError(
            f"{target.host} refused {_refusals(refused)}; the other recipients got the mail"
        )


def _password(target: EmailTarget) -> str | None:
    if target.password_env is None:
        return None
    password = os.environ.get(target.password_env)
    if not password:
        raise NotificationError(
            f"the environment variable {target.password_env} (password_env) is not set or "
            "empty: set it to the SMTP password"
        )
    return password


def _tls_context(target: EmailTarget) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=target.ca_file)
    if not target.verify:  # the user's explicit choice (verify = false)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _post_webhook(target: WebhookTarget, report: RunReport) -> None:
    # No redirects: a 3xx means the URL is out of date, and following it would send the
    # message somewhere the user never configured.
    with httpx.Client(timeout=target.timeout, follow_redirects=False) as client:
        response = client.post(target.url, json=payload(report), headers=dict(target.headers))
    if not response.is_success:
        answer = one_line(response.text)[:200]
        raise NotificationError(
            f"it answered {response.status_code} {response.reason_phrase}"
            + (f": {answer}" if answer else "")
        )


# --- why it failed -----------------------------------------------------------------------


def _reason(target: Target, exc: Exception) -> str:
    """One line saying what went wrong and, where we can tell, what to change."""
    if isinstance(exc, DriftSyncError):
        return str(exc)
    if isinstance(target, WebhookTarget):
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer within {target.timeout:g} s"
        if isinstance(exc, httpx.HTTPError):
            return f"could not reach it: {str(exc) or type(exc).__name__}"
        return f"unexpected {type(exc).__name__}: {exc}"
    return _smtp_reason(target, exc)


def _smtp_reason(target: EmailTarget, exc: Exception) -> str:
    where = f"{target.host}:{target.smtp_port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (f"{where} rejected the login of {target.user} ({_answer(exc)}): check the "
                f"user and the password in {target.password_env}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if "STARTTLS" in str(exc).upper():
            return (f"{where} does not offer STARTTLS: use security = \"ssl\" (port 465), or "
                    "check host and port")
        return (f"{where} offers no login (AUTH) on this connection: {exc} Use security = "
                "\"starttls\" or \"ssl\", or drop user and password_env")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return f"{where} refused every recipient: {_refusals(exc.recipients)}"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return (f"{where} refused the sender {target.from_addr} ({_answer(exc)}): set 'from' to "
                "an address the server accepts")
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where} answered {_answer(exc)}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection ({exc}); check security and port"
    if isinstance(exc, smtplib.SMTPException):
        return f"{where}: {exc}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the TLS certificate of {where} could not be verified ({exc.verify_message}): "
                "if the server uses a private CA, set ca_file to its certificate")
    if isinstance(exc, ssl.SSLError):
        return (f"TLS with {where} failed ({exc.reason or exc}): check security and port "
                "(\"ssl\" usually on 465, \"starttls\" on 587)")
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} within {target.timeout:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return f"could not connect to {where} (connection refused): check host and port"
    if isinstance(exc, OSError):
        return f"could not reach {where}: {exc.strerror or exc}"
    return f"unexpected {type(exc).__name__}: {exc}"


def _answer(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(
        exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text}".strip()


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(
        f"{address} ({code} {text.decode('utf-8', 'replace')})"
        for address, (code, text) in refused.items()
    )


def _secrets(target: Target) -> list[str]:
    """Values that must not appear in a log line, longest first."""
    if isinstance(target, EmailTarget):
        password = os.environ.get(target.password_env) if target.password_env else None
        values = [password] if password else []
    else:
        parts = urlsplit(target.url)
        values = [target.url, parts.query, *target.headers.values()]
        if len(parts.path) > 1:
            values.append(parts.path)
    return sorted((v for v in values if v), key=len, reverse=True)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "****")
    return text


# --- configuration -----------------------------------------------------------------------

_COMMON_KEYS = ("type", "on_success", "on_failure", "timeout")
_EMAIL_KEYS = (*_COMMON_KEYS, "to", "from", "host", "port", "security", "user", "password_env",
               "ca_file", "verify")
_WEBHOOK_KEYS = (*_COMMON_KEYS, "url", "headers")


def targets_from_config(items: Sequence[Mapping[str, Any]]) -> list[Target]:
    """Targets from the config file's ``[[notify]]`` tables; ConfigError on any bad value.

    The error names the target (by position and type) and the key, and says how to fix it.
    """
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise ConfigError(
            "notify must be a list of tables, one per target, e.g. "
            "notify = [{ type = \"webhook\", url = \"https://...\" }]."
        )
    targets: list[Target] = []
    for number, item in enumerate(items, start=1):
        kind = item.get("type") if isinstance(item, Mapping) else None
        where = f"notification target {number}" + (f" ({kind})" if isinstance(kind, str) else "")
        try:
            targets.append(_target(item))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return targets


def _target(item: Any) -> Target:
    if not isinstance(item, Mapping):
        raise ConfigError("must be a table, e.g. { type = \"webhook\", url = \"https://...\" }.")
    kind = item.get("type")
    if kind not in ("email", "webhook"):
        raise ConfigError(f"'type' must be \"email\" or \"webhook\", not {kind!r}.")
    if "password" in item:
        raise ConfigError(
            "'password' is not read from the config file: put the SMTP password in an "
            "environment variable and set password_env to its name."
        )
    known = _EMAIL_KEYS if kind == "email" else _WEBHOOK_KEYS
    unknown = sorted(set(item) - set(known))
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; the keys of a {kind} target are "
                          f"{', '.join(known)}.")
    required = ("to", "host") if kind == "email" else ("url",)
    missing = [key for key in required if key not in item]
    if missing:
        article = "an" if kind == "email" else "a"
        raise ConfigError(f"'{missing[0]}' is missing; {article} {kind} target needs "
                          f"{' and '.join(required)}.")
    values = {key: value for key, value in item.items() if key != "type"}
    if kind == "webhook":
        return WebhookTarget(**values)
    if "from" in values:
        values["from_addr"] = values.pop("from")
    return EmailTarget(**values)


def target_to_config(target: Target) -> dict[str, Any]:
    """The TOML table for ``target``; :func:`targets_from_config` reads it back unchanged.

    A webhook's table holds its URL, which may be a secret: write it only to a file readable
    by its owner alone.
    """
    config: dict[str, Any]
    if isinstance(target, EmailTarget):
        config = {"type": "email", "to": list(target.to), "host": target.host}
        if target.port is not None:
            config["port"] = target.port
        config["security"] = target.security
        if target.user is not None:
            config["user"] = target.user
            config["password_env"] = target.password_env
        if target.from_addr != DEFAULT_FROM:
            config["from"] = target.from_addr
        if target.ca_file is not None:
            config["ca_file"] = target.ca_file
        if not target.verify:
            config["verify"] = False
    else:
        config = {"type": "webhook", "url": target.url}
        if target.headers:
            config["headers"] = dict(target.headers)
    config["on_success"] = target.on_success
    config["on_failure"] = target.on_failure
    if target.timeout != DEFAULT_TIMEOUT:
        config["timeout"] = target.timeout
    return config
