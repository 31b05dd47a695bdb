"""Serving the web app next to the scheduler: ``driftsync serve``.

The socket is bound first (:meth:`WebServer.bind`), before any sync starts, so a busy port
or a refused address stops the command with one line. Uvicorn then serves the app from a
thread while the main thread runs the scheduler and its signal handling; uvicorn installs
no signal handlers of its own in a thread, and is told to stop when the scheduler has.
Uvicorn logs only warnings and errors, and never the requests: nothing secret is in a URL,
but a log of every click is not the scheduler's job.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import threading
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from ..config import Secret
from ..errors import ConfigError
from ..scheduler import Scheduler
from .app import WebConfig, create_app
from .security import PASSWORD_ENV, check_exposure, is_loopback


def password_from_env() -> Secret | None:
    value = os.environ.get(PASSWORD_ENV, "")
    return Secret(value) if value else None


class WebServer:
    """The web app on a bound socket; :meth:`running` serves it until the block ends."""

    def __init__(self, app: Starlette, sock: socket.socket) -> None:
        self.app = app
        self.socket = sock
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def bind(cls, scheduler: Scheduler, host: str, port: int,
             password: Secret | None = None) -> WebServer:
        """Check the address (a non-loopback one needs a password, from ``password`` or
        ``DRIFTSYNC_WEB_PASSWORD``) and bind it; ConfigError in one line otherwise."""
        password = password or password_from_env()
        check_exposure(host, password)
        sock = _listen(host, port)
        config = WebConfig(password=password, loopback=is_loopback(host), plans=True)
        return cls(create_app(scheduler, config), sock)

    @property
    def url(self) -> str:
        host, port = self.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    @contextlib.contextmanager
    def running(self) -> Iterator[WebServer]:
        # proxy_headers off: the login throttle counts the real peer address, which a client
        # could otherwise choose for itself with an X-Forwarded-For header.
        config = uvicorn.Config(self.app, log_config=None, access_log=False, proxy_headers=False,
                                lifespan="off", timeout_graceful_shutdown=5)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, args=([self.socket],),
                                        name="driftsync-web", daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self.socket.close()


def _listen(host: str, port: int) -> socket.socket:
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"Cannot serve on {host}: {exc.strerror}; give an address of this "
                          "machine, e.g. 127.0.0.1.") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = "; choose another --port" if exc.errno == errno.EADDRINUSE else ""
        raise ConfigError(f"Cannot serve on {host}:{port}: {exc.strerror}{hint}.") from None
    return sock
