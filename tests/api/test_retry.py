"""RetryPolicy on its own, and the client's one retry loop driven through fake servers."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import orjson
import pytest

from driftsync.api import DriftClient, RetryPolicy
from driftsync.api.retry import RETRY_STATUSES, parse_retry_after
from driftsync.errors import ApiError, RequestRejectedError, ServerError

TOKEN = "tok-SECRET-123"
NOW = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)


class LowRng(random.Random):
    """Jitter that always draws the smallest value."""

    def uniform(self, a: float, b: float) -> float:
        return a


class HighRng(random.Random):
    """Jitter that always draws the largest value."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Script:
    """A fake Drift that plays a list of responses, then answers 200 {"ok": true}."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) <= len(self.answers):
            answer = self.answers[len(self.requests) - 1]
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(200, content=b'{"ok": true}')


def client_for(script: Script, **policy: Any) -> tuple[DriftClient, list[float]]:
    sleeps: list[float] = []
    policy.setdefault("base_delay", 0.0)
    client = DriftClient(TOKEN, transport=httpx.MockTransport(script), sleep=sleeps.append,
                         retry=RetryPolicy(**policy), requests_per_minute=None)
    return client, sleeps


def status(code: int, **headers: str) -> httpx.Response:
    return httpx.Response(code, headers=headers, content=b"{}")


# -- RetryPolicy ----------------------------------------------------------------------------


def test_defaults() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.base_delay, policy.max_delay, policy.max_retry_after) == (
        6, 0.5, 30.0, 120.0)
    assert policy.statuses == RETRY_STATUSES == frozenset({429, 500, 502, 503, 504})


@pytest.mark.parametrize("attempts", [0, -1], ids=["zero", "negative"])
def test_max_attempts_must_be_positive(attempts: int) -> None:
    with pytest.raises(ValueError, match=r"^max_attempts must be at least 1$"):
        RetryPolicy(max_attempts=attempts)


@pytest.mark.parametrize(
    ("code", "retried"),
    [(429, True), (500, True), (502, True), (503, True), (504, True), (400, False),
     (401, False), (403, False), (404, False), (408, False), (501, False), (200, False)],
    ids=lambda v: str(v),
)
def test_should_retry_status(code: int, retried: bool) -> None:
    assert RetryPolicy().should_retry_status(code) is retried


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (4, 2.5, 5.0), (5, 2.5, 5.0), (60, 2.5, 5.0)],
    ids=["1st", "2nd", "3rd", "4th-capped", "5th-capped", "60th-capped"],
)
def test_exponential_wait_with_equal_jitter_bounds(attempt: int, low: float, high: float) -> None:
    def wait(rng: random.Random) -> float:
        return RetryPolicy(base_delay=1.0, max_delay=5.0, rng=rng).wait(attempt)

    assert wait(LowRng()) == low
    assert wait(HighRng()) == high
    seeded = RetryPolicy(base_delay=1.0, max_delay=5.0, rng=random.Random(7))
    assert all(low <= seeded.wait(attempt) <= high for _ in range(200))


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(7.0, 7.0), (0.0, 0.0), (-3.0, 0.0), (120.0, 120.0), (121.0, 120.0), (1e9, 120.0)],
    ids=["honoured", "zero", "negative", "at-cap", "over-cap", "huge"],
)
def test_retry_after_wins_and_is_clamped(retry_after: float, expected: float) -> None:
    assert RetryPolicy(rng=HighRng()).wait(3, retry_after) == expected


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("120", 120.0),
        (" 5 ", 5.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("soon", None),
        ("nan", None),
        ("inf", None),
        ("Wed, 21 Oct 2015 07:29:30 GMT", 90.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        ("Wednesday, 21-Oct-15 07:28:45 GMT", 45.0),
        ("Wed, 21 Oct 2015 09:29:30 +0200", 90.0),
        ("Wed, 32 Oct 2015 07:29:30 GMT", None),
    ],
    ids=["absent", "empty", "blank", "seconds", "padded", "zero", "fraction", "negative",
         "word", "nan", "inf", "http-date", "http-date-now", "http-date-past", "rfc850-date",
         "date-with-offset", "impossible-date"],
)
def test_parse_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


# -- the client's retry loop ------------------------------------------------------------------


def test_retries_until_success_and_counts_requests_and_retries() -> None:
    script = Script(status(503), httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("gone"),
                    status(502))
    client, sleeps = client_for(script, max_attempts=5)

    assert client.get("/users/list") == {"ok": True}
    assert len(script.requests) == 5
    assert len(sleeps) == 4
    assert client.stats.snapshot() == (5, 4)
    assert (client.stats.requests, client.stats.retries) == (5, 4)


@pytest.mark.parametrize("attempts", [1, 2, 4], ids=["1-attempt", "2-attempts", "4-attempts"])
def test_attempts_are_bounded(attempts: int) -> None:
    script = Script(*[status(503)] * 10)
    client, sleeps = client_for(script, max_attempts=attempts)

    with pytest.raises(ServerError):
        client.get("/users/list")

    assert len(script.requests) == attempts
    assert len(sleeps) == attempts - 1
    assert client.stats.snapshot() == (attempts, attempts - 1)


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422],
                         ids=["400", "401", "403", "404", "409", "422"])
def test_client_errors_are_never_retried(code: int) -> None:
    script = Script(status(code, **{"retry-after": "1"}))
    client, sleeps = client_for(script, max_attempts=6)

    with pytest.raises(ApiError) as caught:
        client.get("/accounts")

    assert caught.value.status == code
    assert len(script.requests) == 1
    assert sleeps == []
    assert client.stats.snapshot() == (1, 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), ("2.5", 2.5), ("600", 120.0)],
    ids=["seconds", "zero", "fraction", "clamped-to-max"],
)
@pytest.mark.parametrize("code", [429, 503], ids=["429", "503"])
def test_retry_after_seconds_is_the_recorded_sleep(code: int, header: str,
                                                   expected: float) -> None:
    script = Script(status(code, **{"retry-after": header}))
    client, sleeps = client_for(script, max_attempts=3, base_delay=50.0, rng=HighRng())

    assert client.get("/accounts") == {"ok": True}
    assert sleeps == [expected]


def test_retry_after_clamp_follows_the_policy() -> None:
    script = Script(status(429, **{"retry-after": "45"}))
    client, sleeps = client_for(script, max_attempts=2, max_retry_after=10.0)

    client.get("/accounts")

    assert sleeps == [10.0]


def test_retry_after_http_date_is_honoured() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    script = Script(status(429, **{"retry-after": format_datetime(when, usegmt=True)}))
    client, sleeps = client_for(script, max_attempts=2)

    client.get("/accounts")

    (slept,) = sleeps
    # HTTP dates have whole seconds, and a little time passes before the client reads it.
    assert 28.0 <= slept <= 30.0


@pytest.mark.parametrize(
    ("delta", "expected"),
    [(timedelta(days=1), 120.0), (timedelta(hours=-1), 0.0)],
    ids=["far-future-clamped", "past-means-now"],
)
def test_retry_after_http_date_edges(delta: timedelta, expected: float) -> None:
    when = datetime.now(UTC) + delta
    script = Script(status(503, **{"retry-after": format_datetime(when, usegmt=True)}))
    client, sleeps = client_for(script, max_attempts=2)

    client.get("/accounts")

    assert sleeps == [expected]


def test_garbled_retry_after_falls_back_to_exponential_backoff() -> None:
    script = Script(status(429, **{"retry-after": "later"}), status(429), status(429))
    client, sleeps = client_for(script, max_attempts=4, base_delay=1.0, max_delay=3.0,
                                rng=LowRng())

    client.get("/accounts")

    assert sleeps == [0.5, 1.0, 1.5]


def test_backoff_grows_exponentially_within_jitter_bounds() -> None:
    script = Script(*[status(500)] * 6)
    client, sleeps = client_for(script, max_attempts=7, base_delay=0.25, max_delay=4.0,
                                rng=random.Random(1234))

    client.get("/accounts")

    caps = [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert len(sleeps) == 6
    for slept, cap in zip(sleeps, caps, strict=True):
        assert cap / 2 <= slept <= cap


def test_backoff_is_never_instant_and_never_above_cap() -> None:
    script = Script(*[status(500)] * 3)
    client, sleeps = client_for(script, max_attempts=4, base_delay=1.0, max_delay=30.0,
                                rng=HighRng())
    client.get("/accounts")
    assert sleeps == [1.0, 2.0, 4.0]

    script = Script(*[status(500)] * 3)
    client, sleeps = client_for(script, max_attempts=4, base_delay=1.0, max_delay=30.0,
                                rng=LowRng())
    client.get("/accounts")
    assert sleeps == [0.5, 1.0, 2.0]


def test_every_retry_is_logged_at_warning_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    script = Script(status(503), status(429, **{"retry-after": "3"}),
                    httpx.ReadTimeout(f"timeout for {TOKEN}"), httpx.RemoteProtocolError("eof"))
    client, sleeps = client_for(script, max_attempts=5, base_delay=1.0, rng=LowRng())

    assert client.get("/conversations/list", params={"limit": 100}) == {"ok": True}

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.name, r.getMessage()) for r in warnings] == [
        ("driftsync.api", "GET /conversations/list answered 503; retry 1 of 4 in 0.50s"),
        ("driftsync.api",
         "GET /conversations/list answered 429; retry 2 of 4 in 3.00s (Retry-After)"),
        ("driftsync.api", "GET /conversations/list timed out; retry 3 of 4 in 2.00s"),
        ("driftsync.api",
         "GET /conversations/list failed (connection dropped); retry 4 of 4 in 4.00s"),
    ]
    assert sleeps == [0.5, 3.0, 2.0, 4.0]
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
        assert TOKEN not in repr(record.args)
        assert TOKEN not in (record.exc_text or "")
    assert TOKEN not in caplog.text


def test_final_failure_is_not_logged_as_a_retry(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="driftsync.api")
    client, sleeps = client_for(Script(status(503), status(503)), max_attempts=2)

    with pytest.raises(ServerError):
        client.get("/accounts")

    assert caplog.messages == ["GET /accounts answered 503; retry 1 of 1 in 0.00s"]
    assert sleeps == [0.0]


def test_a_rejection_after_a_retry_reports_drifts_message() -> None:
    body = orjson.dumps({"error": {"type": "validation_error", "message": "bad size"}})
    script = Script(status(503), httpx.Response(400, content=body))
    client, sleeps = client_for(script, max_attempts=5)

    with pytest.raises(RequestRejectedError) as caught:
        client.get("/accounts")

    assert str(caught.value) == "Drift rejected GET /accounts (400: validation_error: bad size)."
    assert len(script.requests) == 2
    assert client.stats.snapshot() == (2, 1)


def test_stats_accumulate_across_calls() -> None:
    script = Script(status(500), httpx.Response(200, content=b"[]"), status(500), status(500))
    client, _ = client_for(script, max_attempts=3)

    assert client.get("/a") == []
    assert client.get("/b") == {"ok": True}

    assert client.stats.snapshot() == (5, 3)
