"""Configuration of the Drift API simulator.

Every field has a default, so ``SimulatorConfig()`` is a usable demo setup. The object is
mutable on purpose: a running :class:`~driftsync.simulator.server.DriftSimulator` reads its
``config`` on every request, so tests can flip fault, OAuth, expiry and hook fields while it
serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

PAGINATION_MODES = ("links", "cursor")

#: Scopes a simulated token is granted unless listed in ``missing_scopes`` (Fivetran's minimal
#: read-only set for a full Drift sync, see API.md §1.5).
DEFAULT_SCOPES = (
    "conversation_read",
    "user_read",
    "account_read",
    "contact_read",
    "all_contact_read",
    "playbook_read",
)


#: ``mutate_conversation_ids`` may be a callable: called with the simulator when the hook fires,
#: it may mutate anything itself and returns conversation ids to update (or None).
MutateIds = list[int] | Callable[[Any], Iterable[int] | None]


@dataclass
class SimulatorConfig:
    # --- dataset (deterministic for a given seed and sizes) -------------------------------
    seed: int = 1
    accounts: int = 500
    conversations: int = 2000
    users: int = 25
    #: Put Drift's documented sample records into the dataset (they count toward the sizes).
    include_samples: bool = True
    #: Booked meetings (GET /users/meetings/org); None = ``conversations // 2``. Spread over
    #: [now - 40 days, now + 20 days); the oldest sixth is past Drift's 30-day floor.
    meetings: int | None = None
    #: The simulator's "now" (epoch ms) at start: meetings are laid out around it, the 30-day
    #: floor of GET /users/meetings/org counts back from it and the mutation clock starts there.
    #: None = 2027-01-01T00:00:00Z, later than every generated timestamp (never the wall clock).
    now_ms: int | None = None

    # --- server ----------------------------------------------------------------------------
    token: str = "drift-demo-token"
    #: "links" = new Drift list shape (page_token + links.next, limit <= 100);
    #: "cursor" = old shape (next + pagination.next, limit <= 50).
    pagination: str = "links"
    host: str = "127.0.0.1"
    port: int = 0
    #: Largest ``size`` honoured by ``GET /accounts`` (larger values are clamped).
    accounts_max_size: int = 100

    # --- fault injection (deterministic; counted over all API requests, admin excluded) ---
    #: Every Nth API request gets a 429 rate_limit error.
    fault_429_every: int = 0
    #: Seconds sent in ``Retry-After`` on 429s (None = no header). May be a float.
    retry_after: float | None = None
    #: Every Nth API request fails with ``fault_5xx_status``.
    fault_5xx_every: int = 0
    fault_5xx_status: int = 503
    #: Every Nth API request: close the socket without any response.
    drop_connection_every: int = 0
    #: Delay every API response by this many milliseconds.
    slow_ms: int = 0
    #: After N successful (2xx) API requests the token is revoked: every later request is 401.
    revoke_after: int = 0
    #: Scopes the token lacks: endpoints needing them answer 403.
    missing_scopes: set[str] = field(default_factory=set)
    #: Links mode: ``links.next`` points to this host (e.g. "evil.example.com").
    foreign_next_host: str | None = None
    #: After N pages of conversations the next link/cursor repeats the previous one.
    repeat_cursor_after: int = 0

    # --- rate limit (a leaky bucket shared by every API request; admin routes excluded) -------
    #: Drain rate of the bucket in requests per minute (0 = no rate limit). Each request adds
    #: one unit; one that would overflow ``rate_limit_burst`` units gets 429 ``rate_limit``
    #: (with ``Retry-After`` only if ``retry_after`` is set) and is not served.
    rate_limit_per_minute: float = 0
    #: Capacity of the bucket: this many requests may go back to back.
    rate_limit_burst: int = 10

    # --- OAuth (POST /oauth2/token, refresh_token grant; see server.py) -----------------------
    #: None = the token endpoint does not exist (404 not_found).
    client_id: str | None = None
    client_secret: str | None = None
    #: The refresh token valid at start. Rotation: each successful refresh invalidates the one
    #: used and issues a new one (``DriftSimulator.current_tokens()``).
    refresh_token: str | None = None
    #: An access token (the configured ``token`` and every refreshed one) answers 401 once it
    #: has authenticated N API requests (0 = never).
    token_expires_after_requests: int = 0
    #: ... or once S seconds have passed since it was issued (0 = never). The configured token
    #: is issued when the simulator starts.
    token_expires_after_seconds: float = 0

    # --- mid-run mutation hook ------------------------------------------------------------------
    #: Right after the Nth successful GET /conversations/list page (counted since start or the
    #: last ``reset_counts()``), update these conversations (moved to the front of the list).
    mutate_after_list_pages: int = 0
    mutate_conversation_ids: MutateIds = field(default_factory=list)
    #: ... and/or a deterministic sample of this fraction of all conversations.
    mutate_conversation_fraction: float = 0.0

    def __post_init__(self) -> None:
        if self.pagination not in PAGINATION_MODES:
            raise ValueError(
                f"pagination must be one of {PAGINATION_MODES}, got {self.pagination!r}"
            )
        for name in (
            "accounts",
            "conversations",
            "users",
            "token_expires_after_requests",
            "token_expires_after_seconds",
            "mutate_after_list_pages",
            "rate_limit_per_minute",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.meetings is not None and self.meetings < 0:
            raise ValueError("meetings must be >= 0 (or None)")
        if self.rate_limit_burst < 1:
            raise ValueError("rate_limit_burst must be >= 1")
        if not 0.0 <= self.mutate_conversation_fraction <= 1.0:
            raise ValueError("mutate_conversation_fraction must be between 0 and 1")
        if not callable(self.mutate_conversation_ids):
            self.mutate_conversation_ids = [int(i) for i in self.mutate_conversation_ids or ()]
        if not isinstance(self.missing_scopes, set):
            self.missing_scopes = set(self.missing_scopes or ())

    def granted_scopes(self) -> list[str]:
        missing = self.missing_scopes or set()
        return [s for s in DEFAULT_SCOPES if s not in missing]
