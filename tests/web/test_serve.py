"""``driftsync serve`` runs the web app next to the scheduler, on loopback by default."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from click.testing import CliRunner

from driftsync.cli import main
from driftsync.config import Secret
from driftsync.scheduler import Scheduler
from driftsync.web.server import WebServer


def test_serve_prints_the_url_serves_the_app_and_stops_on_sigterm(acme_home: Path) -> None:
    serve = subprocess.Popen([sys.executable, "-m", "driftsync", "serve", "--port", "0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ))
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline().strip()
        assert line.startswith("driftsync web app: http://127.0.0.1:"), line
        url = line.removeprefix("driftsync web app: ")
        page = httpx.get(url + "resources", timeout=30)
        asset = httpx.get(url + "static/vendor/htmx.min.js", timeout=30)
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=60)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate()

    assert page.status_code == 200 and 'data-resource="acme"' in page.text
    assert asset.status_code == 200 and asset.headers["content-type"].startswith(
        "text/javascript")
    assert serve.returncode == 0, stderr
    assert stderr.splitlines()[-1].endswith("info: stopped")
    assert "GET /resources" not in stderr  # no access log


def test_a_busy_port_stops_serve_before_anything_runs(home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["serve", "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: Cannot serve on 127.0.0.1:{port}: Address "
                                     "already in use; choose another --port.")


def test_the_web_server_binds_ipv6_loopback_too(home: Path) -> None:
    scheduler = Scheduler()
    server = WebServer.bind(scheduler, "::1", 0)
    try:
        with server.running():
            assert server.url.startswith("http://[::1]:")
            assert httpx.get(server.url + "resources", timeout=30).status_code == 200
    finally:
        scheduler.shutdown()


def test_a_forwarded_for_header_does_not_escape_the_login_throttle(home: Path) -> None:
    scheduler = Scheduler()
    server = WebServer.bind(scheduler, "127.0.0.1", 0, password=Secret("correct horse battery"))
    try:
        with server.running(), httpx.Client(base_url=server.url, timeout=30) as client:
            csrf = re.search(r'name="csrf" value="([^"]+)"',  # type: ignore[union-attr]
                             client.get("/login").text).group(1)
            codes = [client.post("/login", data={"csrf": csrf, "password": f"guess {n}"},
                                 headers={"X-Forwarded-For": f"203.0.113.{n}"}).status_code
                     for n in range(6)]
    finally:
        scheduler.shutdown()
    assert codes == [401] * 5 + [429]
