"""HTTP server of the offline Drift API simulator.

Stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive. Page bodies are serialised
to JSON bytes (orjson, one call per page) the first time they are served and cached; the whole
response (status line, headers, body) goes out in a single ``sendall`` on a TCP_NODELAY socket.
Paging through conversations is keyset based (``bisect`` on pre-computed sort keys), so no
per-request work grows with the dataset.

API routes (scope in brackets; a scope listed in ``config.missing_scopes`` gives 403):

* ``GET /conversations/list``, ``GET /conversations/{id}`` [conversation_read];
* ``GET /conversations/{id}/messages`` [conversation_read] — ``{"data": {"messages": [..]},
  "pagination": {"more": bool, "next": "<page>"}}``, always 50 per page, oldest first; the
  first request sends no (or an empty) ``next``, later ones the ``next`` of the previous page
  (a page number, as a string); the last page has ``"more": false`` and no ``next``; unknown
  conversation 404, a malformed ``next`` 400 (see ``messages.py``);
* ``GET /contacts/{id}`` [contact_read] — ``{"data": {id, createdAt, attributes}}`` for every
  conversation ``contactId`` and meeting ``schedulerId``, else 404 (``contacts.py``);
* ``GET /contacts/attributes`` [all_contact_read] — ``{"data": {"properties": [..]}}``;
* ``GET /accounts`` [account_read]; ``GET /users/list`` [user_read];
* ``GET /teams/org`` [user_read] — ``{"data": [Team]}``;
* ``GET /users/meetings/org`` [user_read] — ``min_start_time`` and ``max_start_time`` (epoch
  ms) both required (400 ``validation_error`` naming the missing one); ``{"data": [..]}``:
  meetings with ``min <= slotStart <= max`` and ``slotStart >= now - 30 days``, by slotStart,
  silently capped at the first 1000 (``meetings.py``);
* ``GET /playbooks/list``, ``GET /playbooks/clp`` [playbook_read] — bare JSON arrays (``org.py``);
* ``POST /app/token_info`` and, when ``config.client_id`` is set, ``POST /oauth2/token``
  (refresh with rotation, see ``oauth.py``).

Every API request, the token endpoint included, is counted (``request_counts()``, by route
name such as ``"GET /conversations/{id}/messages"``) and goes through the rate limit and then
the fault schedule. Messages, contacts and meetings are derived per record on demand from
seeded rngs (cached in bounded caches), so a 100k-conversation dataset does not hold its
~1M messages in memory.

Rate limit: with ``rate_limit_per_minute > 0``, a leaky bucket shared by all API requests
(admin routes excluded): each request adds one unit, the bucket drains at
``rate_limit_per_minute / 60`` units per second, and a request that would overflow
``rate_limit_burst`` units is answered 429 ``rate_limit`` (``Retry-After`` only if
``config.retry_after`` is set) without being served. It still counts as a request (and a step
of the fault schedule); refusals are counted in ``DriftSimulator.rate_limited`` and
``"rate_limited"`` of ``/_simulator/stats`` (present when the limit is on or was hit).

Tokens: the configured ``token`` and every refreshed access token are accepted until
``token_expires_after_requests`` uses / ``token_expires_after_seconds`` from issue (then 401
``authentication_error``, the documented body). ``revoke_after`` still ends everything, refresh
included (400 ``invalid_grant``).

Time: the simulator's "now" (``DriftSimulator.now_ms``) is ``config.now_ms`` or
2027-01-01T00:00:00Z, never the wall clock; the mutation clock starts there.

Mutations (deterministic, see ``mutations.py``): ``DriftSimulator.update_conversations``
(each updated conversation also gets one new message at its new ``updatedAt``),
``add_conversations``, ``update_accounts``, ``remove_accounts``, ``update_users``,
``remove_users``, ``update_contacts``. Each builds a new rendering by splicing the sorted views
(O(changes * log n) plus list copies: ~0.1 s for 1% of 100k conversations) and swaps it in
atomically. Page tokens encode a keyset position, not an offset, so a token minted before a
mutation still continues right after the last item it served; updated conversations that
jumped ahead are missed by that walk, like on the real API. The ``mutate_after_list_pages``
hook applies a mutation after the Nth list page is rendered and before it is sent, so the
very next request sees it.

Test hooks (Python objects equal to what the API serves): ``messages_for(id)``,
``contact(id)``, ``contact_ids()``, ``meetings()`` (all, also the unreachable old ones),
``playbooks()``, ``landing_pages()``, ``teams()``, ``contact_attributes()``, ``now_ms``,
``rate_limited``.

Admin routes (no auth, not counted, no faults, no rate limit): ``GET /_simulator/stats``,
``POST /_simulator/reset``, ``GET /_simulator/tokens`` (latest access/refresh pair) and
``POST /_simulator/mutate`` with exactly one of ``{"update_conversations": {"ids": [..]} |
{"fraction": f} (+ optional "now_ms", "status")}``, ``{"add_conversations": n}``,
``{"update_accounts": {"keys": [..]} | {"fraction": f}}``, ``{"remove_accounts": [keys]}``,
``{"update_users": {"ids": [..]} | {"fraction": f}}``, ``{"remove_users": [ids]}``,
``{"update_contacts": {"ids": [..]} | {"fraction": f}}`` → ``{"changed": [...]}`` (400
``validation_error`` on a bad request or an unknown id).
"""

from __future__ import annotations

import base64
import hashlib
import random
import socket
import socketserver
import sys
import threading
import time
import traceback
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from .config import SimulatorConfig
from .contacts import contact_record, revise
from .data import (
    STATUS_IDS,
    STATUSES,
    Dataset,
    gc_paused,
    generate_dataset,
    list_item,
    sort_conversations,
)
from .meetings import MAX_PER_REQUEST, WINDOW_FLOOR_MS, MeetingPlan
from .messages import PAGE_SIZE, People, appended_message, conversation_messages
from .mutations import (
    NEXT_STATUS,
    new_conversation,
    next_minute,
    pools,
    revised_name,
    sample_positions,
)
from .oauth import EXPIRES_IN, OAuthError, TokenBook, parse_token_request

# --- fixed bodies ------------------------------------------------------------------------------


def _err(etype: str, message: str) -> bytes:
    return orjson.dumps({"error": {"type": etype, "message": message}})


ERR_401 = _err("authentication_error", "The access token is invalid or has expired")
ERR_403 = _err("authentication_error", "Missing proper authorization")
ERR_404 = _err("not_found", "The requested resource was not found")
ERR_429 = _err("rate_limit", "You have maxed your number of API calls for the provided time window")
ERR_500 = _err("internal_error", "Something went wrong in our system")
ERR_BAD_TOKEN = _err("validation_error", "Invalid page_token")

_JSON = b"application/json"
_HTML_TYPE = b"text/html; charset=utf-8"

SCOPE_BY_ROUTE = {
    "GET /conversations/list": "conversation_read",
    "GET /conversations/{id}": "conversation_read",
    "GET /conversations/{id}/messages": "conversation_read",
    "GET /accounts": "account_read",
    "GET /users/list": "user_read",
    "GET /contacts/{id}": "contact_read",
    "GET /contacts/attributes": "all_contact_read",
    "GET /playbooks/list": "playbook_read",
    "GET /playbooks/clp": "playbook_read",
    "GET /teams/org": "user_read",
    "GET /users/meetings/org": "user_read",
}
#: GET routes whose path has no parameter
_FIXED_GET_ROUTES = {
    "/conversations/list",
    "/accounts",
    "/users/list",
    "/contacts/attributes",
    "/playbooks/list",
    "/playbooks/clp",
    "/teams/org",
    "/users/meetings/org",
}

LINKS_MAX_LIMIT = 100
CURSOR_MAX_LIMIT = 50
DEFAULT_LIMIT = 25
ACCOUNTS_DEFAULT_SIZE = 10

_STATUS_BITS = {"open": 1, "closed": 2, "pending": 4}
_PAGE_CACHE_MAX = 50_000  # cached page bodies (a full walk of 100k conversations by 100 = 1,000)
_LAZY_CACHE_MAX = 4096  # cached message pages / contacts / meeting windows (derived on demand)
_DAY = 86_400_000


def _html_error(status: int) -> bytes:
    phrase = _phrase(status)
    return (
        f"<html>\r\n<head><title>{status} {phrase}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        f"</body>\r\n</html>\r\n"
    ).encode()


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class _Reply(Exception):
    """Raised inside handlers to answer with an error."""

    def __init__(self, status: int, body: bytes):
        self.status = status
        self.body = body


# --- pre-rendered dataset ------------------------------------------------------------------------


class _ConvView:
    """One status filter: its conversations in list order plus their ascending bisect keys."""

    __slots__ = ("items", "keys")

    def __init__(self, items: list[dict[str, Any]], keys: list[tuple[int, int]]):
        self.items = items
        self.keys = keys


def _key(conv: dict[str, Any]) -> tuple[int, int]:
    """Ascending bisect key == list order (updatedAt desc, id desc); unique since ids are."""
    return (-conv["updatedAt"], -conv["id"])


def _splice(
    items: list[Any],
    keys: list[tuple[int, int]],
    drop: list[tuple[int, int]],
    add: list[tuple[tuple[int, int], Any]],
) -> tuple[list[Any], list[tuple[int, int]]]:
    """New (items, keys) without the entries keyed ``drop`` and with ``add`` (sorted by key).

    O(k log n) bisects plus C-level slice copies: fast for a few thousand changes in 100k.
    """
    positions = []
    for k in drop:
        p = bisect_left(keys, k)
        if p < len(keys) and keys[p] == k:
            positions.append(p)
    positions.sort()
    ri: list[Any] = []
    rk: list[tuple[int, int]] = []
    prev = 0
    for p in positions:
        ri += items[prev:p]
        rk += keys[prev:p]
        prev = p + 1
    ri += items[prev:]
    rk += keys[prev:]
    if not add:
        return ri, rk
    if not rk or add[-1][0] < rk[0]:  # the usual case: everything changed goes to the front
        return [it for _, it in add] + ri, [k for k, _ in add] + rk
    ni: list[Any] = []
    nk: list[tuple[int, int]] = []
    prev = 0
    for k, it in add:
        p = bisect_left(rk, k, prev)
        ni += ri[prev:p]
        nk += rk[prev:p]
        ni.append(it)
        nk.append(k)
        prev = p
    ni += ri[prev:]
    nk += rk[prev:]
    return ni, nk


class _Rendered:
    """JSON bytes of the dataset, rendered lazily and then reused; immutable once published.

    Start-up only computes the sort keys and an id index. A list page (the JSON array of its
    <= 100 items) is serialised with one orjson call the first time it is served and cached
    by (filter, start, end); a conversation detail is cached per record. So a request costs
    O(limit) at most the first time and O(1) afterwards, whatever the dataset size.

    A mutation builds a new instance with ``with_conversations`` / ``with_accounts`` /
    ``with_users`` (splicing the sorted views, keeping the unaffected caches) and the simulator
    swaps it in: a request in flight keeps the snapshot it started with.
    """

    def __init__(self, dataset: Dataset):
        with gc_paused():
            convs = dataset.conversations
            keys = [_key(c) for c in convs]
            self.convs = convs
            self.by_id: dict[int, dict[str, Any]] = {c["id"]: c for c in convs}
            self._details: dict[int, bytes] = {}
            self._pages: dict[tuple[int, int, int], bytes] = {}
            self._acc_pages: dict[tuple[int, int], bytes] = {}
            self.accounts = dataset.accounts
            self.users = dataset.users
            self.users_body: bytes = orjson.dumps({"data": dataset.users})
            self.token_meta = dict(dataset.token_meta)
            self._views: dict[int, _ConvView] = {0: _ConvView(convs, keys)}
            # small org-wide collections: rendered once (no mutation touches them)
            self.playbooks_body: bytes = orjson.dumps(dataset.playbooks)
            self.clp_body: bytes = orjson.dumps(dataset.landing_pages)
            self.teams_body: bytes = orjson.dumps({"data": dataset.teams})
            self.attributes_body: bytes = orjson.dumps(
                {"data": {"properties": dataset.contact_attributes}}
            )
            #: conversation id -> (its record before its first update, messages appended by
            #: update_conversations since): copy on write, like everything here
            self.msg_extra: dict[int, tuple[dict[str, Any], tuple[dict[str, Any], ...]]] = {}
            #: contact id -> (revision, timestamp) of its last update_contacts
            self.contact_revs: dict[int, tuple[int, int]] = {}
            #: contact id -> first appearance (ms); built on first use
            self._contacts: dict[int, int] | None = None
        self._lock = threading.Lock()

    def _clone(self) -> _Rendered:
        new = object.__new__(_Rendered)
        new.__dict__.update(self.__dict__)
        new._lock = threading.Lock()
        return new

    def with_conversations(
        self,
        replaced: list[tuple[dict[str, Any] | None, dict[str, Any]]],
        msg_extra: dict[int, tuple[dict[str, Any], tuple[dict[str, Any], ...]]] | None = None,
    ) -> _Rendered:
        """A copy where each ``(old, new)`` record replaces ``old`` (None: a new record) and
        ``msg_extra`` entries replace those of the same conversations."""
        new = self._clone()
        if msg_extra:
            new.msg_extra = {**self.msg_extra, **msg_extra}
        if self._contacts is not None:
            contacts = dict(self._contacts)
            for _, c in replaced:
                _note_contact(contacts, c)
            new._contacts = contacts
        drop = [_key(old) for old, _ in replaced if old is not None]
        add = sorted(((_key(c), c) for _, c in replaced), key=lambda kc: kc[0])
        views = {}
        for mask, view in list(self._views.items()):
            if mask:
                sub = [(k, c) for k, c in add if _STATUS_BITS.get(c["status"], 0) & mask]
            else:
                sub = add
            views[mask] = _ConvView(*_splice(view.items, view.keys, drop, sub))
        new._views = views
        new.convs = views[0].items
        by_id = dict(self.by_id)
        details = dict(self._details)
        for _, c in replaced:
            by_id[c["id"]] = c
            details.pop(c["id"], None)
        new.by_id = by_id
        new._details = details
        new._pages = {}
        return new

    def with_accounts(self, accounts: list[dict[str, Any]]) -> _Rendered:
        new = self._clone()
        new.accounts = accounts
        new._acc_pages = {}
        return new

    def with_users(self, users: list[dict[str, Any]]) -> _Rendered:
        new = self._clone()
        new.users = users
        new.users_body = orjson.dumps({"data": users})
        return new

    def with_contact_revs(self, revs: dict[int, tuple[int, int]]) -> _Rendered:
        new = self._clone()
        new.contact_revs = {**self.contact_revs, **revs}
        return new

    def contact_index(self, plan: MeetingPlan) -> dict[int, int]:
        """Contact id -> first appearance (ms): every conversation's ``contactId`` (earliest
        ``createdAt``) and every meeting's ``schedulerId`` (a month before its slot)."""
        idx = self._contacts
        if idx is None:
            with self._lock:
                idx = self._contacts
                if idx is None:
                    idx = {}
                    for c in self.convs:
                        _note_contact(idx, c)
                    for slot, cid in zip(plan.slot, plan.scheduler, strict=True):
                        if cid and cid not in idx:
                            idx[cid] = slot - 30 * _DAY
                    self._contacts = idx
        return idx

    def view(self, mask: int) -> _ConvView:
        v = self._views.get(mask)
        if v is None:
            with self._lock:
                v = self._views.get(mask)
                if v is None:
                    everything = self._views[0]
                    pos = [
                        i
                        for i, c in enumerate(everything.items)
                        if _STATUS_BITS.get(c["status"], 0) & mask
                    ]
                    v = _ConvView(
                        [everything.items[i] for i in pos], [everything.keys[i] for i in pos]
                    )
                    self._views[mask] = v
        return v

    def list_page(self, mask: int, view: _ConvView, start: int, end: int) -> bytes:
        """JSON array body of list items ``view[start:end]`` (cached per slice)."""
        key = (mask, start, end)
        b = self._pages.get(key)
        if b is None:
            b = orjson.dumps([list_item(c) for c in view.items[start:end]])
            if len(self._pages) >= _PAGE_CACHE_MAX:
                self._pages.clear()
            self._pages[key] = b
        return b

    def detail(self, conversation_id: int) -> bytes | None:
        b = self._details.get(conversation_id)
        if b is None:
            conv = self.by_id.get(conversation_id)
            if conv is None:
                return None
            b = self._details[conversation_id] = b'{"data":' + orjson.dumps(conv) + b"}"
        return b

    def accounts_page(self, start: int, end: int) -> bytes:
        key = (start, end)
        b = self._acc_pages.get(key)
        if b is None:
            b = orjson.dumps(self.accounts[start:end])
            if len(self._acc_pages) >= _PAGE_CACHE_MAX:
                self._acc_pages.clear()
            self._acc_pages[key] = b
        return b


def _note_contact(index: dict[int, int], conv: dict[str, Any]) -> None:
    cid = conv.get("contactId")
    if isinstance(cid, int) and not isinstance(cid, bool):
        t = conv.get("createdAt") or 0
        old = index.get(cid)
        if old is None or t < old:
            index[cid] = t


class _Cache:
    """A bounded, thread-safe dict (oldest entries go first) for bodies derived on demand."""

    def __init__(self, limit: int = _LAZY_CACHE_MAX):
        self._d: dict[Any, bytes] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: Any) -> bytes | None:
        return self._d.get(key)

    def put(self, key: Any, value: bytes) -> None:
        with self._lock:
            if len(self._d) >= self._limit:
                for old in list(self._d)[: self._limit // 4]:
                    del self._d[old]
            self._d[key] = value

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


class _LeakyBucket:
    """Drift's rate limit as DataGrail describes it: a leaky bucket. Each request adds one
    unit, the bucket drains continuously; a request that would overflow it is refused."""

    def __init__(self) -> None:
        self._level = 0.0
        self._t: float | None = None
        self._lock = threading.Lock()

    def admit(self, per_minute: float, burst: int) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._t is not None:
                self._level = max(0.0, self._level - (now - self._t) * per_minute / 60.0)
            self._t = now
            if self._level + 1.0 > burst + 1e-9:
                return False
            self._level += 1.0
            return True

    def reset(self) -> None:
        with self._lock:
            self._level = 0.0
            self._t = None


# --- page tokens -----------------------------------------------------------------------------------


class _Tokens:
    """Opaque, tamper-evident page tokens: urlsafe base64 of a keyset position + a MAC."""

    def __init__(self, secret: str):
        self._key = hashlib.sha256(secret.encode()).digest()[:32]

    def _mac(self, payload: bytes) -> bytes:
        return hashlib.blake2s(payload, key=self._key, digest_size=8).hexdigest().encode()

    def encode(self, page: int, mask: int, key: tuple[int, int]) -> str:
        payload = b"%d.%d.%d.%d" % (page, mask, -key[0], -key[1])
        return base64.urlsafe_b64encode(payload + b"." + self._mac(payload)).rstrip(b"=").decode()

    def decode(self, token: str) -> tuple[int, int, tuple[int, int]]:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            payload, _, mac = raw.rpartition(b".")
            if not payload or mac != self._mac(payload):
                raise ValueError
            page, mask, updated, cid = (int(x) for x in payload.split(b"."))
            if page < 1 or not 0 <= mask <= 7:
                raise ValueError
        except Exception:  # noqa: BLE001 - any garbling is the client's fault
            raise _Reply(400, ERR_BAD_TOKEN) from None
        return page, mask, (-updated, -cid)


# --- the simulator ---------------------------------------------------------------------------------


class DriftSimulator:
    """A Drift REST API on 127.0.0.1 in a background thread.

    >>> with DriftSimulator(SimulatorConfig(conversations=10)) as sim:
    ...     sim.url  # doctest: +SKIP
    """

    def __init__(self, config: SimulatorConfig | None = None, dataset: Dataset | None = None):
        self.config = config if config is not None else SimulatorConfig()
        self.dataset = dataset if dataset is not None else generate_dataset(self.config)
        self._rendered = _Rendered(self.dataset)
        self._tokens = _Tokens(f"driftsync-simulator:{self.config.seed}")
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._seq = 0  # API requests seen (fault schedule)
        self._successes = 0  # 2xx API answers (revocation)
        self._list_pages = 0  # 200 GET /conversations/list answers (mutation hook)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._token_book = TokenBook(self.config.seed)
        self._mutate_lock = threading.RLock()
        self._mutations = 0  # mutation calls so far (seeds their rng)
        self._clock_ms: int | None = None  # last timestamp the mutation clock handed out
        #: Conversation ids changed the last time the mid-run mutation hook fired.
        self.hook_changed: list[int] = []
        # message authors are the users as they were at start (removing one later does not
        # rewrite history)
        self._people = People(self.dataset.users)
        self._msg_cache = _Cache()
        self._contact_cache = _Cache()
        self._meeting_cache = _Cache(32)  # up to ~400 KB each
        self._bucket = _LeakyBucket()
        self._rate_limited = 0  # requests refused by the leaky bucket

    # -- lifecycle --
    def start(self) -> DriftSimulator:
        if self._server is not None:
            return self
        server = _Server((self.config.host, self.config.port), _Handler)
        server.sim = self
        self._token_book.register(self.config.token)  # the configured token is issued now
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="drift-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.close_all_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> DriftSimulator:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator is not running")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        host = self._server.server_address[0] if self._server is not None else self.config.host
        return f"http://{host}:{self.port}"

    # -- counters --
    def request_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    @property
    def rate_limited(self) -> int:
        """API requests refused with 429 by the leaky bucket (``rate_limit_per_minute``) since
        start or the last ``reset_counts()``; ``fault_429_every`` 429s are not included."""
        with self._lock:
            return self._rate_limited

    def reset_counts(self) -> None:
        """Zero the per-endpoint counters, the fault schedule, the revocation count, the
        list-page count of the mutation hook (which re-arms it), the rate-limited count, and
        empty the rate-limit bucket. Tokens are left alone."""
        with self._lock:
            self._counts.clear()
            self._seq = 0
            self._successes = 0
            self._list_pages = 0
            self._rate_limited = 0
        self._bucket.reset()

    def reload(self) -> None:
        """Re-render after a test mutated ``self.dataset`` (re-sorts conversations in place).
        Messages and contacts are derived again from the edited records; messages appended
        and contacts revised by earlier mutations are kept."""
        with self._mutate_lock, gc_paused():
            old = self._rendered
            sort_conversations(self.dataset.conversations)
            rendered = _Rendered(self.dataset)
            rendered.msg_extra = old.msg_extra
            rendered.contact_revs = old.contact_revs
            self._rendered = rendered
            self._msg_cache.clear()
            self._contact_cache.clear()

    # -- test hooks: what the API serves, as Python objects --
    @property
    def now_ms(self) -> int:
        """The simulator's "now" (epoch ms): ``dataset.now_ms`` (``config.now_ms`` or
        2027-01-01) until the mutation clock passes it. The 30-day floor of
        GET /users/meetings/org is ``now_ms - 30 days``."""
        clock = self._clock_ms
        return max(self.dataset.now_ms, clock if clock is not None else 0)

    def messages_for(self, conversation_id: int) -> list[dict[str, Any]]:
        """All messages GET /conversations/{id}/messages serves for this conversation (every
        page, oldest first). Raises KeyError for an unknown conversation (the API's 404)."""
        msgs = self._messages(self._rendered, conversation_id)
        if msgs is None:
            raise KeyError(conversation_id)
        return orjson.loads(orjson.dumps(msgs))

    def contact(self, contact_id: int) -> dict[str, Any] | None:
        """The ``data`` object of GET /contacts/{id}, or None where the API answers 404."""
        body = self._contact_body(self._rendered, contact_id)
        return None if body is None else orjson.loads(body)["data"]

    def contact_ids(self) -> list[int]:
        """Every id GET /contacts/{id} answers (conversation contacts, meeting schedulers)."""
        return sorted(self._rendered.contact_index(self.dataset.meetings))

    def meetings(self) -> list[dict[str, Any]]:
        """Every meeting, by slotStart, including those older than the 30-day floor that
        GET /users/meetings/org never serves."""
        plan = self.dataset.meetings
        return orjson.loads(orjson.dumps([plan.render(i) for i in range(len(plan))]))

    def playbooks(self) -> list[dict[str, Any]]:
        """GET /playbooks/list (a bare array)."""
        return orjson.loads(self._rendered.playbooks_body)

    def landing_pages(self) -> list[dict[str, Any]]:
        """GET /playbooks/clp (a bare array)."""
        return orjson.loads(self._rendered.clp_body)

    def teams(self) -> list[dict[str, Any]]:
        """``data`` of GET /teams/org."""
        return orjson.loads(self._rendered.teams_body)["data"]

    def contact_attributes(self) -> list[dict[str, Any]]:
        """``data.properties`` of GET /contacts/attributes."""
        return orjson.loads(self._rendered.attributes_body)["data"]["properties"]

    # -- derived records (messages, contacts, meetings) --
    def _messages(self, r: _Rendered, conversation_id: int) -> list[dict[str, Any]] | None:
        conv = r.by_id.get(conversation_id)
        if conv is None:
            return None
        extra = r.msg_extra.get(conversation_id)
        ds = self.dataset
        msgs = conversation_messages(
            extra[0] if extra else conv,
            self.config.seed,
            ds.org_id,
            self._people,
            ds.message_plan.get(conversation_id),
            ds.sample_messages.get(conversation_id),
        )
        if extra:
            msgs.extend(extra[1])
            msgs.sort(key=lambda m: (m["createdAt"], m["id"]))
        return msgs

    def _messages_page(self, r: _Rendered, conversation_id: int, page: int) -> bytes | None:
        if conversation_id not in r.by_id:
            return None
        extra = r.msg_extra.get(conversation_id)
        key = (conversation_id, len(extra[1]) if extra else 0, page)
        body = self._msg_cache.get(key)
        if body is None:
            msgs = self._messages(r, conversation_id) or []
            start = (page - 1) * PAGE_SIZE
            end = start + PAGE_SIZE
            parts = [b'{"data":{"messages":', orjson.dumps(msgs[start:end])]
            if end < len(msgs):
                parts.append(b'},"pagination":{"more":true,"next":"%d"}}' % (page + 1))
            else:
                parts.append(b'},"pagination":{"more":false}}')
            body = b"".join(parts)
            self._msg_cache.put(key, body)
        return body

    def _contact_body(self, r: _Rendered, contact_id: int) -> bytes | None:
        ds = self.dataset
        first = r.contact_index(ds.meetings).get(contact_id)
        if first is None:
            return None
        rev = r.contact_revs.get(contact_id)
        key = (contact_id, rev)
        body = self._contact_cache.get(key)
        if body is None:
            record = ds.sample_contacts.get(contact_id)
            if record is None:
                record = contact_record(
                    contact_id, first, self.config.seed, ds.now_ms, ds.contact_names.get(contact_id)
                )
            if rev is not None:
                record = revise(record, rev[0], rev[1], revised_name)
            body = b'{"data":' + orjson.dumps(record) + b"}"
            self._contact_cache.put(key, body)
        return body

    def _meetings_body(self, lo: int, hi: int) -> bytes:
        plan = self.dataset.meetings
        lo = max(lo, self.now_ms - WINDOW_FLOOR_MS)
        if lo > hi:
            return b'{"data":[]}'
        i, j = plan.window(lo, hi)
        j = min(j, i + MAX_PER_REQUEST)
        body = self._meeting_cache.get((i, j))
        if body is None:
            body = orjson.dumps({"data": [plan.render(p) for p in range(i, j)]})
            self._meeting_cache.put((i, j), body)
        return body

    # -- OAuth --
    def current_tokens(self) -> tuple[str, str | None]:
        """The latest (access_token, refresh_token): the configured pair until a refresh."""
        return self._token_book.current(self.config)

    # -- data mutations (deterministic; see mutations.py) --
    def update_conversations(
        self,
        ids: Iterable[int] | None = None,
        fraction: float | None = None,
        now_ms: int | None = None,
        status: str | None = None,
        fields: dict[str, Any] | None = None,
    ) -> list[int]:
        """Touch conversations: ``updatedAt`` = ``now_ms`` (default: the mutation clock, later
        than every timestamp so far) and ``status`` (default: every other one, chosen by the
        call's rng, flips open<->closed, pending/bulk_sent -> open). ``ids`` and/or a
        deterministic sample of ``fraction`` of all conversations. ``fields`` are set as given
        on each (e.g. new ``conversationTags`` or ``participants``). Returns the changed ids in
        their new list order (newest first). Unknown ids raise ``ValueError``."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        if now_ms is not None and (isinstance(now_ms, bool) or not isinstance(now_ms, int)):
            raise ValueError(f"now_ms must be an int (epoch milliseconds), got {now_ms!r}")
        with self._mutate_lock, gc_paused():
            r = self._rendered
            rng = self._rng("update_conversations")
            chosen = self._choose(
                "conversation", r.by_id, r.convs, lambda c: c["id"], ids, fraction, rng
            )
            if not chosen:
                return []
            ts = self._tick() if now_ms is None else self._advance(now_ms)
            replaced = []
            extras = {}
            seed, org_id = self.config.seed, self.dataset.org_id
            for cid in chosen:
                old = r.by_id[cid]
                new = dict(old)
                new["updatedAt"] = ts
                new.update(fields or {})
                if status is not None:
                    new["status"] = status
                elif rng.random() < 0.5:
                    new["status"] = NEXT_STATUS.get(old.get("status"), "open")
                replaced.append((old, new))
                # one new message per update, at the new updatedAt
                base, added = r.msg_extra.get(cid, (old, ()))
                msg = appended_message(new, len(added), ts, seed, org_id, self._people)
                extras[cid] = (base, (*added, msg))
            self._publish(r.with_conversations(replaced, extras))
            return [c["id"] for _, c in sorted(replaced, key=lambda oc: _key(oc[1]))]

    def add_conversations(self, n: int) -> list[int]:
        """Create ``n`` open conversations, newer (ids and timestamps) than all others.
        Returns their ids in list order (newest first)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        with self._mutate_lock, gc_paused():
            r = self._rendered
            rng = self._rng("add_conversations")
            if not n:
                return []
            ts = self._tick()
            next_id = max(r.by_id, default=4_600_000_000)
            inboxes, playbooks = pools(r.convs)
            user_ids = [u["id"] for u in r.users]
            org_id = self.dataset.org_id
            added = []
            for _ in range(n):
                next_id += 1 + rng.randrange(5_000)
                added.append(
                    new_conversation(rng, next_id, ts, org_id, user_ids, inboxes, playbooks)
                )
            self._publish(r.with_conversations([(None, c) for c in added]))
            return [c["id"] for c in reversed(added)]

    def update_accounts(
        self, keys: Iterable[str] | None = None, fraction: float | None = None
    ) -> list[str]:
        """Bump ``updateDateTime`` (mutation clock) and rename (``" (rev N)"`` suffix) the
        accounts with these ``accountId`` keys and/or a sample ``fraction``. Their position in
        GET /accounts does not change. Returns the keys in list order."""
        with self._mutate_lock, gc_paused():
            r = self._rendered
            rng = self._rng("update_accounts")
            index = {a["accountId"]: i for i, a in enumerate(r.accounts)}
            chosen = self._choose(
                "account", index, r.accounts, lambda a: a["accountId"], keys, fraction, rng
            )
            if not chosen:
                return []
            ts = self._tick()
            accounts = list(r.accounts)
            for key in chosen:
                i = index[key]
                acc = dict(accounts[i])
                acc["name"] = revised_name(acc.get("name"), self._mutations)
                acc["updateDateTime"] = ts
                accounts[i] = acc
            self._publish(r.with_accounts(accounts))
            return sorted(chosen, key=index.__getitem__)

    def remove_accounts(self, keys: Iterable[str]) -> list[str]:
        """Hard-delete accounts (gone from GET /accounts; ``total`` drops). Returns the keys
        in former list order."""
        with self._mutate_lock, gc_paused():
            r = self._rendered
            self._rng("remove_accounts")
            index = {a["accountId"]: i for i, a in enumerate(r.accounts)}
            chosen = self._choose("account", index, r.accounts, None, keys, None, None)
            gone = set(chosen)
            self._publish(r.with_accounts([a for a in r.accounts if a["accountId"] not in gone]))
            return sorted(chosen, key=index.__getitem__)

    def update_users(
        self, ids: Iterable[int] | None = None, fraction: float | None = None
    ) -> list[int]:
        """Bump ``updatedAt`` (mutation clock) and rename (``" (rev N)"``) users. Returns the
        ids in list order."""
        with self._mutate_lock, gc_paused():
            r = self._rendered
            rng = self._rng("update_users")
            index = {u["id"]: i for i, u in enumerate(r.users)}
            chosen = self._choose("user", index, r.users, lambda u: u["id"], ids, fraction, rng)
            if not chosen:
                return []
            ts = self._tick()
            users = list(r.users)
            for uid in chosen:
                i = index[uid]
                user = dict(users[i])
                user["name"] = revised_name(user.get("name"), self._mutations)
                user["updatedAt"] = ts
                users[i] = user
            self._publish(r.with_users(users))
            return sorted(chosen, key=index.__getitem__)

    def remove_users(self, ids: Iterable[int]) -> list[int]:
        """Delete users from GET /users/list (references to them elsewhere stay, like a
        deactivated agent's old conversations). Returns the ids in former list order."""
        with self._mutate_lock, gc_paused():
            r = self._rendered
            self._rng("remove_users")
            index = {u["id"]: i for i, u in enumerate(r.users)}
            chosen = self._choose("user", index, r.users, None, ids, None, None)
            gone = set(chosen)
            self._publish(r.with_users([u for u in r.users if u["id"] not in gone]))
            return sorted(chosen, key=index.__getitem__)

    def update_contacts(
        self, ids: Iterable[int] | None = None, fraction: float | None = None
    ) -> list[int]:
        """Revise contacts (GET /contacts/{id}): their ``name`` (or ``first_name``) gets a
        ``" (rev N)"`` suffix and ``last_active`` the mutation clock. ``ids`` and/or a sample
        ``fraction`` of all contacts. Returns the ids (named ones first, in the order given).
        Unknown ids raise ``ValueError``."""
        with self._mutate_lock, gc_paused():
            r = self._rendered
            rng = self._rng("update_contacts")
            index = r.contact_index(self.dataset.meetings)
            population = sorted(index) if fraction is not None else []
            chosen = self._choose("contact", index, population, lambda c: c, ids, fraction, rng)
            if not chosen:
                return []
            ts = self._tick()
            self._publish(r.with_contact_revs({cid: (self._mutations, ts) for cid in chosen}))
            return chosen

    # -- mutation plumbing --
    def _rng(self, op: str) -> random.Random:
        self._mutations += 1
        return random.Random(f"driftsync-simulator:{self.config.seed}:{op}:{self._mutations}")

    @staticmethod
    def _choose(
        kind: str,
        index: dict[Any, Any],
        records: list[dict[str, Any]],
        key_of: Any,
        wanted: Iterable[Any] | None,
        fraction: float | None,
        rng: random.Random | None,
    ) -> list[Any]:
        if wanted is None and fraction is None:
            raise ValueError(f"name the {kind}s to change (ids/keys) or pass a fraction")
        if isinstance(wanted, (str, bytes)):
            raise ValueError(f"{kind} ids/keys must be a list, got {wanted!r}")
        chosen: dict[Any, None] = dict.fromkeys(wanted or ())
        unknown = [k for k in chosen if k not in index]
        if unknown:
            raise ValueError(f"unknown {kind} ids/keys: {unknown[:20]}")
        if fraction is not None:
            assert rng is not None and key_of is not None
            for p in sample_positions(rng, len(records), fraction):
                chosen[key_of(records[p])] = None
        return list(chosen)

    def _data_max_ms(self, full: bool) -> int:
        r = self._rendered
        if full:
            stamps = [c.get(f, 0) for c in r.convs for f in ("createdAt", "updatedAt")]
        else:
            stamps = [r.convs[0]["updatedAt"]] if r.convs else []
        stamps += [a.get(f, 0) for a in r.accounts for f in ("createDateTime", "updateDateTime")]
        stamps += [u.get(f, 0) for u in r.users for f in ("createdAt", "updatedAt")]
        return max((t for t in stamps if isinstance(t, int)), default=0)

    def _clock_start(self) -> int:
        # the first reading is the simulated "now" (dataset.now_ms), or a minute past the
        # newest timestamp if the data is newer still
        return max(self._data_max_ms(full=True), self.dataset.now_ms - 1)

    def _tick(self) -> int:
        """The mutation clock's next reading: a whole minute after everything so far (and at
        least the simulated "now")."""
        last = self._clock_ms if self._clock_ms is not None else self._clock_start()
        self._clock_ms = next_minute(max(last, self._data_max_ms(full=False)))
        return self._clock_ms

    def _advance(self, now_ms: int) -> int:
        last = self._clock_ms if self._clock_ms is not None else self._clock_start()
        self._clock_ms = max(last, now_ms)
        return now_ms

    def _publish(self, rendered: _Rendered) -> None:
        self._rendered = rendered
        self.dataset.conversations = rendered.convs
        self.dataset.accounts = rendered.accounts
        self.dataset.users = rendered.users

    def _list_page_served(self) -> None:
        """Count a served list page; fire the mid-run mutation hook on the configured one."""
        n = self.config.mutate_after_list_pages
        with self._lock:
            self._list_pages += 1
            fire = bool(n) and self._list_pages == n
        if fire:
            try:
                self.hook_changed = self._fire_hook()
            except Exception:  # noqa: BLE001 - a broken hook must not break the page
                traceback.print_exc()

    def _fire_hook(self) -> list[int]:
        cfg = self.config
        spec = cfg.mutate_conversation_ids
        got = spec(self) if callable(spec) else spec
        known = self._rendered.by_id
        ids = [i for i in (got or ()) if i in known]
        fraction = cfg.mutate_conversation_fraction or None
        if not ids and fraction is None:
            return []
        return self.update_conversations(ids=ids, fraction=fraction)

    # -- request bookkeeping (called by the handler) --
    def _admit(self, route: str) -> int:
        with self._lock:
            self._counts[route] = self._counts.get(route, 0) + 1
            self._seq += 1
            return self._seq

    def _rate_limit(self) -> bool:
        """True if the leaky bucket refuses this request (counted)."""
        cfg = self.config
        if cfg.rate_limit_per_minute <= 0:
            return False
        if self._bucket.admit(cfg.rate_limit_per_minute, cfg.rate_limit_burst):
            return False
        with self._lock:
            self._rate_limited += 1
        return True

    def _revoked(self) -> bool:
        n = self.config.revoke_after
        return bool(n) and self._successes >= n

    def _succeeded(self) -> None:
        with self._lock:
            self._successes += 1


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    sim: DriftSimulator

    def __init__(self, *args: Any, **kwargs: Any):
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang
        # for seconds offline; we don't need server_name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = port

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-response (or stop() closing idle keep-alive sockets) is
        # normal for a test server: stay quiet. Anything else is a simulator bug: report it.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def close_all_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing --
    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length:
            try:
                n = int(length)
            except ValueError:
                self.close_connection = True
                return b""
            return self.rfile.read(n) if n > 0 else b""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return b""

    def _send(
        self,
        status: int,
        body: bytes,
        ctype: bytes = _JSON,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        head = [
            b"HTTP/1.1 %d %s\r\n" % (status, _phrase(status).encode()),
            b"Content-Type: " + ctype + b"\r\n",
            b"Content-Length: %d\r\n" % len(body),
        ]
        for name, value in extra:
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        if self.close_connection:
            head.append(b"Connection: close\r\n")
        head.append(b"\r\n")
        self.wfile.write(b"".join(head) + body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @staticmethod
    def _route(method: str, path: str) -> str:
        if method == "GET":
            if path in _FIXED_GET_ROUTES:
                return "GET " + path
            if path.startswith("/conversations/") and len(path) > 15:
                head, _, tail = path[15:].partition("/")
                if not tail:
                    return "GET /conversations/{id}"
                if head and tail == "messages":
                    return "GET /conversations/{id}/messages"
            if path.startswith("/contacts/") and len(path) > 10 and "/" not in path[10:]:
                return "GET /contacts/{id}"
        elif method == "POST":
            if path == "/app/token_info":
                return "POST /app/token_info"
            if path == "/oauth2/token":
                return "POST /oauth2/token"
        return f"{method} {path}"

    # -- request handling --
    def _handle(self, method: str) -> None:
        sim = self.server.sim
        body = self._read_body()
        split = urlsplit(self.path)
        path = split.path
        self._self_path = path + ("?" + split.query if split.query else "")

        if path.startswith("/_simulator/"):
            self._admin(method, path, body)
            return

        cfg = sim.config
        route = self._route(method, path)
        seq = sim._admit(route)  # 1-based position of this request in the fault schedule

        if sim._rate_limit():
            self._send(429, ERR_429, extra=self._retry_after(cfg))
            return
        if cfg.slow_ms:
            time.sleep(cfg.slow_ms / 1000.0)
        if cfg.drop_connection_every and seq % cfg.drop_connection_every == 0:
            self._drop()
            return
        if cfg.fault_5xx_every and seq % cfg.fault_5xx_every == 0:
            status = cfg.fault_5xx_status
            if status == 500:
                self._send(500, ERR_500)
            else:
                self._send(status, _html_error(status), _HTML_TYPE)
            return
        if cfg.fault_429_every and seq % cfg.fault_429_every == 0:
            self._send(429, ERR_429, extra=self._retry_after(cfg))
            return

        try:
            if route == "POST /oauth2/token":
                status, out = self._oauth_token(sim, cfg, body)
            elif sim._revoked():
                raise _Reply(401, ERR_401)
            elif route == "POST /app/token_info":
                status, out = self._token_info(sim, cfg, body)
            else:
                if not self._authorized(sim, cfg):
                    raise _Reply(401, ERR_401)
                scope = SCOPE_BY_ROUTE.get(route)
                if scope is None:
                    raise _Reply(404, ERR_404)
                if scope in (cfg.missing_scopes or ()):
                    raise _Reply(403, ERR_403)
                query = parse_qs(split.query, keep_blank_values=True)
                rendered = sim._rendered
                if route == "GET /conversations/list":
                    out = self._conversations_list(sim, cfg, query)
                elif route == "GET /conversations/{id}":
                    out = self._conversation(sim, path[15:])
                elif route == "GET /conversations/{id}/messages":
                    out = self._messages(sim, path[15:].partition("/")[0], query)
                elif route == "GET /accounts":
                    out = self._accounts(sim, cfg, query)
                elif route == "GET /users/list":
                    out = rendered.users_body
                elif route == "GET /contacts/{id}":
                    out = self._contact(sim, path[10:])
                elif route == "GET /contacts/attributes":
                    out = rendered.attributes_body
                elif route == "GET /playbooks/list":
                    out = rendered.playbooks_body
                elif route == "GET /playbooks/clp":
                    out = rendered.clp_body
                elif route == "GET /teams/org":
                    out = rendered.teams_body
                else:  # GET /users/meetings/org
                    out = self._meetings(sim, query)
                status = 200
        except _Reply as reply:
            self._send(reply.status, reply.body)
            return
        sim._succeeded()
        if route == "GET /conversations/list":
            # the page is already rendered: the hook's changes show from the next request on
            sim._list_page_served()
        self._send(status, out)

    @staticmethod
    def _retry_after(cfg: SimulatorConfig) -> tuple[tuple[str, str], ...]:
        if cfg.retry_after is None:
            return ()
        ra = cfg.retry_after
        return (("Retry-After", str(int(ra)) if float(ra).is_integer() else str(ra)),)

    def _bearer(self) -> str | None:
        auth = self.headers.get("Authorization")
        if not auth:
            return None
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else None

    def _authorized(self, sim: DriftSimulator, cfg: SimulatorConfig) -> bool:
        """Bearer token known and not expired (counts one use of it)."""
        return sim._token_book.use(self._bearer(), cfg)

    def _admin(self, method: str, path: str, body: bytes) -> None:
        sim = self.server.sim
        if method == "GET" and path == "/_simulator/stats":
            counts = sim.request_counts()
            stats: dict[str, Any] = {"requests": counts, "total": sum(counts.values())}
            limited = sim.rate_limited
            if limited or sim.config.rate_limit_per_minute > 0:
                stats["rate_limited"] = limited
            self._send(200, orjson.dumps(stats))
        elif method == "POST" and path == "/_simulator/reset":
            sim.reset_counts()
            self._send(200, orjson.dumps({"ok": True}))
        elif method == "GET" and path == "/_simulator/tokens":
            access, refresh = sim.current_tokens()
            self._send(200, orjson.dumps({"access_token": access, "refresh_token": refresh}))
        elif method == "POST" and path == "/_simulator/mutate":
            try:
                changed = _admin_mutate(sim, body)
            except (ValueError, TypeError) as exc:
                self._send(400, _err("validation_error", str(exc)))
                return
            self._send(200, orjson.dumps({"changed": changed}))
        else:
            self._send(404, ERR_404)

    # -- endpoints --
    @staticmethod
    def _int_param(query: dict[str, list[str]], name: str, default: int) -> int:
        values = query.get(name)
        if not values or values[-1] == "":
            return default
        try:
            return int(values[-1])
        except ValueError:
            raise _Reply(400, _err("validation_error", f"Invalid {name}")) from None

    def _status_mask(self, query: dict[str, list[str]]) -> int:
        mask = 0
        for value in query.get("statusId", ()):
            try:
                mask |= _STATUS_BITS[STATUS_IDS[int(value)]]
            except (ValueError, KeyError):
                raise _Reply(400, _err("validation_error", "Invalid statusId")) from None
        return mask

    def _base_url(self, cfg: SimulatorConfig, foreign: bool) -> str:
        if foreign and cfg.foreign_next_host:
            host = cfg.foreign_next_host
            return host.rstrip("/") if "://" in host else f"http://{host}"
        host = self.headers.get("Host")
        if not host:
            addr = self.server.server_address
            host = f"{addr[0]}:{addr[1]}"
        return f"http://{host}"

    def _conversations_list(
        self, sim: DriftSimulator, cfg: SimulatorConfig, query: dict[str, list[str]]
    ) -> bytes:
        rendered = sim._rendered
        links_mode = cfg.pagination != "cursor"
        limit = self._int_param(query, "limit", DEFAULT_LIMIT)
        limit = max(1, min(limit, LINKS_MAX_LIMIT if links_mode else CURSOR_MAX_LIMIT))
        repeat_after = cfg.repeat_cursor_after

        if links_mode:
            token = (query.get("page_token") or [""])[-1]
            if token:
                page, mask, after = sim._tokens.decode(token)
                view = rendered.view(mask)
                start = bisect_right(view.keys, after)
            else:
                page, mask, start = 1, self._status_mask(query), 0
                view = rendered.view(mask)
            end = start + limit
            out = [
                b'{"data":',
                rendered.list_page(mask, view, start, end),
                b',"links":{"self":',
                orjson.dumps(self._base_url(cfg, False) + self._self_path),
            ]
            if end < len(view.keys):
                if repeat_after and page > repeat_after and token:
                    next_token = token  # looping server bug: hand out the previous link again
                else:
                    next_token = sim._tokens.encode(page + 1, mask, view.keys[end - 1])
                next_url = (
                    f"{self._base_url(cfg, True)}/conversations/list"
                    f"?page_token={next_token}&limit={limit}"
                )
                out += [b',"next":', orjson.dumps(next_url)]
            out.append(b"}}")
            return b"".join(out)

        cursor = (query.get("next") or [""])[-1]
        if cursor:
            if not cursor.isdigit():
                raise _Reply(400, _err("validation_error", "Invalid next"))
            start = int(cursor)
        else:
            start = 0
        mask = self._status_mask(query)
        view = rendered.view(mask)
        end = start + limit
        out = [b'{"data":', rendered.list_page(mask, view, start, end)]
        if end < len(view.keys):
            page = start // limit + 1
            next_cursor = cursor if (repeat_after and page > repeat_after and cursor) else str(end)
            out += [b',"pagination":{"more":true,"next":', orjson.dumps(next_cursor), b"}"]
        out.append(b"}")
        return b"".join(out)

    @staticmethod
    def _conversation(sim: DriftSimulator, raw_id: str) -> bytes:
        body = sim._rendered.detail(int(raw_id)) if raw_id.isdigit() else None
        if body is None:
            raise _Reply(404, ERR_404)
        return body

    @staticmethod
    def _messages(sim: DriftSimulator, raw_id: str, query: dict[str, list[str]]) -> bytes:
        r = sim._rendered
        cid = int(raw_id) if raw_id.isdigit() else None
        if cid is None or cid not in r.by_id:
            raise _Reply(404, ERR_404)
        raw = (query.get("next") or [""])[-1].strip()
        if not raw:
            page = 1
        elif raw.isdigit() and int(raw) >= 1:
            page = int(raw)
        else:
            raise _Reply(400, _err("validation_error", "Invalid next"))
        body = sim._messages_page(r, cid, page)
        if body is None:
            raise _Reply(404, ERR_404)
        return body

    @staticmethod
    def _contact(sim: DriftSimulator, raw_id: str) -> bytes:
        body = sim._contact_body(sim._rendered, int(raw_id)) if raw_id.isdigit() else None
        if body is None:
            raise _Reply(404, ERR_404)
        return body

    @staticmethod
    def _meetings(sim: DriftSimulator, query: dict[str, list[str]]) -> bytes:
        bounds: list[int] = []
        missing: list[str] = []
        for name in ("min_start_time", "max_start_time"):
            raw = (query.get(name) or [""])[-1].strip()
            if not raw:
                missing.append(name)
                continue
            try:
                bounds.append(int(raw))
            except ValueError:
                raise _Reply(400, _err("validation_error", f"Invalid {name}")) from None
        if missing:
            verb = "is" if len(missing) == 1 else "are"
            raise _Reply(400, _err("validation_error", f"{' and '.join(missing)} {verb} required"))
        return sim._meetings_body(bounds[0], bounds[1])

    def _accounts(
        self, sim: DriftSimulator, cfg: SimulatorConfig, query: dict[str, list[str]]
    ) -> bytes:
        rendered = sim._rendered
        total = len(rendered.accounts)
        index = max(0, self._int_param(query, "index", 0))
        size = self._int_param(query, "size", ACCOUNTS_DEFAULT_SIZE)
        size = max(1, min(size, max(1, cfg.accounts_max_size)))
        end = index + size
        out = [b'{"data":{"accounts":', rendered.accounts_page(index, end), b',"total":%d' % total]
        if end < total:
            out.append(b',"next":"/accounts?index=%d&size=%d"' % (end, size))
        out.append(b"}}")
        return b"".join(out)

    def _token_info(
        self, sim: DriftSimulator, cfg: SimulatorConfig, body: bytes
    ) -> tuple[int, bytes]:
        # token_info authenticates the token in the body (one use of it); an Authorization
        # header, if sent, must be valid too (the same token is counted once).
        header_token = None
        if self.headers.get("Authorization"):
            if not self._authorized(sim, cfg):
                raise _Reply(401, ERR_401)
            header_token = self._bearer()
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            raise _Reply(400, _err("validation_error", "access_token is required"))
        if token != header_token and not sim._token_book.use(token, cfg):
            raise _Reply(401, ERR_401)
        meta = sim._rendered.token_meta
        refreshed, created_ms = sim._token_book.info(token)
        info = {
            "access_token": token,
            "authenticated_userid": meta["authenticated_userid"],
            "credential_id": meta["credential_id"],
            "token_type": meta["token_type"],
            # an "Install to Drift" token never expires (0); OAuth tokens: 2 h, in millis
            "expires_in": EXPIRES_IN * 1000 if refreshed else meta["expires_in"],
            "created_at": created_ms if refreshed else meta["created_at"],
            "scope": " ".join(cfg.granted_scopes()),
            "id": meta["id"],
        }
        return 200, orjson.dumps(info)

    def _oauth_token(
        self, sim: DriftSimulator, cfg: SimulatorConfig, body: bytes
    ) -> tuple[int, bytes]:
        if cfg.client_id is None:
            raise _Reply(404, ERR_404)
        try:
            params = parse_token_request(
                body, self.headers.get("Content-Type") or "", self.headers.get("Authorization")
            )
            out = sim._token_book.refresh(params, cfg, sim.dataset.org_id, sim._revoked())
        except OAuthError as exc:
            raise _Reply(exc.status, exc.body) from None
        return 200, out


# --- admin mutations -------------------------------------------------------------------------------


def _selection(spec: Any, id_key: str, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """``{"ids": [...]}`` / ``{"fraction": f}`` (or a bare list of ids) as keyword arguments."""
    if isinstance(spec, list):
        return {id_key: spec}
    if not isinstance(spec, dict):
        raise ValueError("expected a list of ids or an object with ids/keys and/or fraction")
    unknown = set(spec) - {"ids", "keys", "fraction", *extra}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    out: dict[str, Any] = {}
    ids = spec.get("ids", spec.get("keys"))
    if ids is not None:
        if not isinstance(ids, list):
            raise ValueError("ids must be a list")
        out[id_key] = ids
    if spec.get("fraction") is not None:
        fraction = spec["fraction"]
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise ValueError("fraction must be a number")
        out["fraction"] = float(fraction)
    return out


def _admin_mutate(sim: DriftSimulator, body: bytes) -> list[Any]:
    """``POST /_simulator/mutate``: exactly one operation per request."""
    try:
        req = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        raise ValueError("body must be JSON") from None
    if not isinstance(req, dict) or len(req) != 1:
        raise ValueError("body must be a JSON object with exactly one operation")
    ((op, spec),) = req.items()
    if op == "update_conversations":
        kwargs = _selection(spec, "ids", ("now_ms", "status"))
        if isinstance(spec, dict):
            for name in ("now_ms", "status"):
                if spec.get(name) is not None:
                    kwargs[name] = spec[name]
        return sim.update_conversations(**kwargs)
    if op == "add_conversations":
        n = spec.get("n") if isinstance(spec, dict) else spec
        if isinstance(n, bool) or not isinstance(n, int):
            raise ValueError("add_conversations takes a count")
        return sim.add_conversations(n)
    if op == "update_accounts":
        return sim.update_accounts(**_selection(spec, "keys"))
    if op == "update_users":
        return sim.update_users(**_selection(spec, "ids"))
    if op == "update_contacts":
        return sim.update_contacts(**_selection(spec, "ids"))
    if op in ("remove_accounts", "remove_users"):
        if isinstance(spec, dict):
            spec = spec.get("ids", spec.get("keys"))
        if not isinstance(spec, list):
            raise ValueError(f"{op} takes a list")
        return sim.remove_accounts(spec) if op == "remove_accounts" else sim.remove_users(spec)
    raise ValueError(f"unknown operation: {op}")
