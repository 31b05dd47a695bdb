"""HTTP server of the offline Drift API simulator.

Stdlib ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive. Page bodies are serialised
to JSON bytes (orjson, one call per page) the first time they are served and cached; the whole
response (status line, headers, body) goes out in a single ``sendall`` on a TCP_NODELAY socket. Paging through conversations is keyset based
(``bisect`` on pre-computed sort keys), so no per-request work grows with the dataset."""

from __future__ import annotations

import base64
import hashlib
import socket
import socketserver
import sys
import threading
import time
from bisect import bisect_right
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from .config import SimulatorConfig
from .data import STATUS_IDS, Dataset, gc_paused, generate_dataset, list_item, sort_conversations

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
    "GET /accounts": "account_read",
    "GET /users/list": "user_read",
}

LINKS_MAX_LIMIT = 100
CURSOR_MAX_LIMIT = 50
DEFAULT_LIMIT = 25
ACCOUNTS_DEFAULT_SIZE = 10

_STATUS_BITS = {"open": 1, "closed": 2, "pending": 4}
_PAGE_CACHE_MAX = 50_000  # cached page bodies (a full walk of 100k conversations by 100 = 1,000)


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
    """One status filter: positions into the sorted conversations plus their bisect keys."""

    __slots__ = ("idx", "keys")

    def __init__(self, idx: list[int] | range, keys: list[tuple[int, int]]):
        self.idx = idx
        self.keys = keys


class _Rendered:
    """JSON bytes of the dataset, rendered lazily and then reused.

    Start-up only computes the sort keys and an id index. A list page (the JSON array of its
    <= 100 items) is serialised with one orjson call the first time it is served and cached
    by (filter, start, end); a conversation detail is cached per record. So a request costs
    O(limit) at most the first time and O(1) afterwards, whatever the dataset size.
    """

    def __init__(self, dataset: Dataset):
        with gc_paused():
            self.convs = convs = dataset.conversations
            # ascending keys for bisect == list order (updatedAt desc, id desc)
            keys = [(-c["updatedAt"], -c["id"]) for c in convs]
            self.conv_detail: list[bytes | None] = [None] * len(convs)
            self.by_id: dict[int, int] = {c["id"]: i for i, c in enumerate(convs)}
            self.accounts = dataset.accounts
            self._pages: dict[tuple[int, int, int], bytes] = {}
            self.users_body: bytes = orjson.dumps({"data": dataset.users})
            self.token_meta = dict(dataset.token_meta)
            self._views: dict[int, _ConvView] = {0: _ConvView(range(len(convs)), keys)}
        self._lock = threading.Lock()

    def view(self, mask: int) -> _ConvView:
        v = self._views.get(mask)
        if v is None:
            with self._lock:
                v = self._views.get(mask)
                if v is None:
                    everything = self._views[0]
                    idx = [
                        i
                        for i, c in enumerate(self.convs)
                        if _STATUS_BITS.get(c["status"], 0) & mask
                    ]
                    v = _ConvView(idx, [everything.keys[i] for i in idx])
                    self._views[mask] = v
        return v

    def list_page(self, mask: int, view: _ConvView, start: int, end: int) -> bytes:
        """JSON array body of list items ``view[start:end]`` (cached per slice)."""
        key = (mask, start, end)
        b = self._pages.get(key)
        if b is None:
            convs = self.convs
            b = orjson.dumps([list_item(convs[i]) for i in view.idx[start:end]])
            if len(self._pages) >= _PAGE_CACHE_MAX:
                self._pages.clear()
            self._pages[key] = b
        return b

    def detail(self, conversation_id: int) -> bytes | None:
        i = self.by_id.get(conversation_id)
        if i is None:
            return None
        b = self.conv_detail[i]
        if b is None:
            b = self.conv_detail[i] = b'{"data":' + orjson.dumps(self.convs[i]) + b"}"
        return b

    def accounts_page(self, start: int, end: int) -> bytes:
        key = (-1, start, end)
        b = self._pages.get(key)
        if b is None:
            b = orjson.dumps(self.accounts[start:end])
            if len(self._pages) >= _PAGE_CACHE_MAX:
                self._pages.clear()
            self._pages[key] = b
        return b


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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --
    def start(self) -> DriftSimulator:
        if self._server is not None:
            return self
        server = _Server((self.config.host, self.config.port), _Handler)
        server.sim = self
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

    def reset_counts(self) -> None:
        """Zero the per-endpoint counters, the fault schedule and the revocation count."""
        with self._lock:
            self._counts.clear()
            self._seq = 0
            self._successes = 0

    def reload(self) -> None:
        """Re-render after a test mutated ``self.dataset`` (re-sorts conversations in place)."""
        sort_conversations(self.dataset.conversations)
        self._rendered = _Rendered(self.dataset)

    # -- request bookkeeping (called by the handler) --
    def _admit(self, route: str) -> int:
        with self._lock:
            self._counts[route] = self._counts.get(route, 0) + 1
            self._seq += 1
            return self._seq

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
            if path == "/conversations/list":
                return "GET /conversations/list"
            if path.startswith("/conversations/") and "/" not in path[15:] and len(path) > 15:
                return "GET /conversations/{id}"
            if path == "/accounts":
                return "GET /accounts"
            if path == "/users/list":
                return "GET /users/list"
        elif method == "POST" and path == "/app/token_info":
            return "POST /app/token_info"
        return f"{method} {path}"

    # -- request handling --
    def _handle(self, method: str) -> None:
        sim = self.server.sim
        body = self._read_body()
        split = urlsplit(self.path)
        path = split.path
        self._self_path = path + ("?" + split.query if split.query else "")

        if path.startswith("/_simulator/"):
            self._admin(method, path)
            return

        cfg = sim.config
        route = self._route(method, path)
        seq = sim._admit(route)  # 1-based position of this request in the fault schedule

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
            extra: tuple[tuple[str, str], ...] = ()
            if cfg.retry_after is not None:
                ra = cfg.retry_after
                extra = (("Retry-After", str(int(ra)) if float(ra).is_integer() else str(ra)),)
            self._send(429, ERR_429, extra=extra)
            return

        try:
            if sim._revoked():
                raise _Reply(401, ERR_401)
            if route == "POST /app/token_info":
                status, out = self._token_info(cfg, body)
            else:
                if not self._authorized(cfg):
                    raise _Reply(401, ERR_401)
                scope = SCOPE_BY_ROUTE.get(route)
                if scope is None:
                    raise _Reply(404, ERR_404)
                if scope in (cfg.missing_scopes or ()):
                    raise _Reply(403, ERR_403)
                query = parse_qs(split.query, keep_blank_values=True)
                if route == "GET /conversations/list":
                    out = self._conversations_list(sim, cfg, query)
                elif route == "GET /conversations/{id}":
                    out = self._conversation(sim, path[15:])
                elif route == "GET /accounts":
                    out = self._accounts(sim, cfg, query)
                else:
                    out = sim._rendered.users_body
                status = 200
        except _Reply as reply:
            self._send(reply.status, reply.body)
            return
        sim._succeeded()
        self._send(status, out)

    def _authorized(self, cfg: SimulatorConfig) -> bool:
        auth = self.headers.get("Authorization")
        if not auth:
            return False
        scheme, _, token = auth.partition(" ")
        return scheme.lower() == "bearer" and token.strip() == cfg.token

    def _admin(self, method: str, path: str) -> None:
        sim = self.server.sim
        if method == "GET" and path == "/_simulator/stats":
            counts = sim.request_counts()
            self._send(200, orjson.dumps({"requests": counts, "total": sum(counts.values())}))
        elif method == "POST" and path == "/_simulator/reset":
            sim.reset_counts()
            self._send(200, orjson.dumps({"ok": True}))
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

    def _token_info(self, cfg: SimulatorConfig, body: bytes) -> tuple[int, bytes]:
        # token_info authenticates the token in the body; an Authorization header, if sent,
        # must be valid too.
        if self.headers.get("Authorization") and not self._authorized(cfg):
            raise _Reply(401, ERR_401)
        try:
            payload = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            payload = None
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str):
            raise _Reply(400, _err("validation_error", "access_token is required"))
        if token != cfg.token:
            raise _Reply(401, ERR_401)
        meta = self.server.sim._rendered.token_meta
        info = {
            "access_token": token,
            "authenticated_userid": meta["authenticated_userid"],
            "credential_id": meta["credential_id"],
            "token_type": meta["token_type"],
            "expires_in": meta["expires_in"],
            "created_at": meta["created_at"],
            "scope": " ".join(cfg.granted_scopes()),
            "id": meta["id"],
        }
        return 200, orjson.dumps(info)
