"""The shared rate limiter: even pacing across threads, halving on 429, recovery."""

from __future__ import annotations

import threading

import httpx
import orjson
import pytest

from driftsync.api import DriftClient, RetryPolicy
from driftsync.api.ratelimit import DEFAULT_REQUESTS_PER_MINUTE, RateLimiter


class FakeClock:
    """Time that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)


def test_requests_are_spaced_evenly_at_the_configured_pace() -> None:
    time = FakeClock()
    limiter = RateLimiter(120, clock=time.clock, sleep=time.sleep, catch_up=0)  # every 0.5 s

    for _ in range(5):
        limiter.acquire()

    # the first goes at once; each later one waits for its slot, all at the same instant
    assert time.sleeps == [0.5, 1.0, 1.5, 2.0]


def test_an_idle_limiter_saves_up_no_more_than_a_small_catch_up() -> None:
    time = FakeClock()
    limiter = RateLimiter(60, clock=time.clock, sleep=time.sleep, catch_up=3)
    limiter.acquire()
    time.now += 3600  # an hour of silence

    for _ in range(6):
        limiter.acquire()

    # three missed slots are used at once, then the pace holds
    assert time.sleeps == [1.0, 2.0]


def test_a_sender_that_fell_behind_catches_up_and_keeps_the_average_pace() -> None:
    time = FakeClock()
    limiter = RateLimiter(600, clock=time.clock, sleep=time.sleep, catch_up=3)  # 0.1 s apart
    sent: list[float] = []
    for i in range(100):
        if i == 50:
            time.now += 0.25  # a slow answer: 2.5 slots lost
        before = len(time.sleeps)
        limiter.acquire()
        waited = time.sleeps[before] if len(time.sleeps) > before else 0.0
        sent.append(time.now + waited)
        time.now += waited
    # the start may use the catch-up (4 at once); after that the schedule holds, and the
    # slow answer costs nothing: the slots it missed are made up at once
    assert sent[:5] == [100.0] * 4 + [pytest.approx(100.1)]
    assert sent[-1] - sent[10] == pytest.approx(8.9, abs=1e-6)
    assert sent[50] == sent[51] == pytest.approx(sent[49] + 0.25)  # two missed slots, at once
    assert sent[52] == pytest.approx(sent[49] + 0.3)  # and back on the original schedule


def test_429_halves_the_pace_down_to_a_floor_and_successes_win_it_back() -> None:
    limiter = RateLimiter(600)
    limiter.throttled()
    assert limiter.per_minute == 300
    for _ in range(10):
        limiter.throttled()
    assert limiter.per_minute == 600 / 16

    for _ in range(10):
        limiter.succeeded()
    assert limiter.per_minute == pytest.approx(600 / 16 + 60)
    for _ in range(200):
        limiter.succeeded()
    assert limiter.per_minute == 600


def test_threads_share_one_schedule() -> None:
    time = FakeClock()
    limiter = RateLimiter(600, clock=time.clock, sleep=time.sleep, catch_up=0)  # 0.1 s apart
    threads = [threading.Thread(target=limiter.acquire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert sorted(round(s, 6) for s in time.sleeps) == [round(0.1 * i, 6) for i in range(1, 8)]


def test_bad_pace_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0)


def _client(base_url: str, **kwargs: object) -> DriftClient:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=orjson.dumps({"data": []}))

    return DriftClient("tok", base_url=base_url, transport=httpx.MockTransport(answer),
                       retry=RetryPolicy(max_attempts=1), **kwargs)  # type: ignore[arg-type]


def test_drift_hosts_get_the_conservative_default_and_other_hosts_none() -> None:
    with _client("https://driftapi.com") as drift:
        assert drift.limiter is not None
        assert drift.limiter.per_minute == DEFAULT_REQUESTS_PER_MINUTE
    with _client("http://127.0.0.1:8080") as local:
        assert local.limiter is None
    with _client("http://127.0.0.1:8080", requests_per_minute=30) as paced:
        assert paced.limiter is not None and paced.limiter.per_minute == 30
    with _client("https://driftapi.com", requests_per_minute=None) as unpaced:
        assert unpaced.limiter is None


def test_a_429_slows_the_client_and_counts_as_throttled() -> None:
    answers = iter([429, 200])

    def answer(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        body = {"error": {"type": "rate_limit", "message": "slow down"}} if status == 429 else {}
        return httpx.Response(status, content=orjson.dumps(body))

    client = DriftClient("tok", base_url="http://127.0.0.1:9", requests_per_minute=6000,
                         transport=httpx.MockTransport(answer), sleep=lambda _: None,
                         retry=RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0))
    with client:
        client.get("/users/list")
        assert client.stats.throttled == 1
        assert client.limiter is not None
        assert client.limiter.per_minute == pytest.approx(3000 + 60)  # halved, then one success
