"""One pace for every request a client sends: the shared rate limiter.

Drift meters API calls with a leaky bucket and answers 429 when it overflows (API.md §4); it
publishes no numbers. So the client paces itself: requests leave at most ``per_minute`` a
minute, evenly spaced, whichever thread sends them. A sender that fell behind its schedule
(a slow answer, a busy CPU) may catch up by ``catch_up`` requests at once, never more, so the
pace holds over any stretch longer than a few requests and a leaky bucket with room for a
handful of requests never overflows. A 429 halves the pace (never below a
sixteenth of it); every success then wins back a hundredth of the configured pace, so after
a burst of 429s the client settles just under what Drift accepts and climbs back when the
bucket has room again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_REQUESTS_PER_MINUTE = 600.0
"""Applied when talking to Drift's own hosts: ten requests a second, a pace well inside what
Drift's public integrations run at. Other hosts (the simulator, a proxy) get no limit unless
one is set."""


class RateLimiter:
    """Paces ``acquire()`` callers to ``per_minute`` and adapts to 429 answers. Thread-safe."""

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        catch_up: int = 3,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.catch_up = catch_up
        self.ceiling = float(per_minute)
        self.floor = self.ceiling / 16
        self._rate = self.ceiling
        self._next = 0.0
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()

    @property
    def per_minute(self) -> float:
        """The pace in force now (lower than the ceiling after 429s)."""
        return self._rate

    def acquire(self) -> None:
        """Wait for this request's slot."""
        with self._lock:
            now = self._clock()
            interval = 60.0 / self._rate
            # Behind schedule: the missed slots are used, up to ``catch_up`` of them.
            slot = max(self._next, now - self.catch_up * interval)
            self._next = slot + interval
        if slot > now:
            self._sleep(slot - now)

    def throttled(self) -> None:
        """Drift answered 429: halve the pace."""
        with self._lock:
            self._rate = max(self.floor, self._rate / 2)

    def succeeded(self) -> None:
        """A request went through: recover a step toward the ceiling."""
        if self._rate < self.ceiling:
            with self._lock:
                self._rate = min(self.ceiling, self._rate + self.ceiling / 100)
