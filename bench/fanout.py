"""Benchmark: messages for N conversations, fetched concurrently at the rate limit's edge.

The simulator runs in its own process and enforces a leaky-bucket limit of R requests per
minute, as Drift does. driftsync first syncs the conversation list (not timed), then the
messages table with its own limiter set to the same R. The figure that matters: the messages
table's wall time against requests / R (target: within 10 %), with zero failed requests and,
ideally, zero 429s. Then the same without any limit, for raw throughput.

    python bench/fanout.py                        # N = 10,000, R = 10,000/min, 3 runs
    python bench/fanout.py --rate 6000 --runs 5
    python bench/fanout.py --conversations 2000 --rate 3000 --runs 1   # a quick look

Each run syncs into a fresh DuckDB file; medians are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

from driftsync.api import DriftClient  # noqa: E402
from driftsync.engine import SyncOptions, run_sync  # noqa: E402
from driftsync.load import Destination, Warehouse  # noqa: E402

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(conversations: int, rate: float, burst: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [sys.executable, "-m", "driftsync.simulator", "--port", str(port), "--token", TOKEN,
            "--conversations", str(conversations), "--accounts", "10", "--users", "25"]
    if rate:
        args += ["--rate-limit", str(rate), "--rate-burst", str(burst)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line}")
    return proc, f"http://127.0.0.1:{port}"


def simulator_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/_simulator/stats") as response:
        return json.loads(response.read())


def sync(url: str, database: Path, tables: list[str], rate: float | None,
         workers: int) -> Any:
    with Warehouse(Destination(database=database)) as warehouse, DriftClient(
        TOKEN, base_url=url, requests_per_minute=rate
    ) as client:
        options = SyncOptions(tables=tables, conversation_details=False, detail_workers=workers)
        result = run_sync(client, warehouse, options)
        return result, client.stats.throttled


def one_run(url: str, rate: float | None, workers: int) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="driftsync-fanout-"))
    try:
        database = workdir / "bench.duckdb"
        setup, _ = sync(url, database, ["conversations"], rate, workers)
        assert setup.ok, [t.error for t in setup.tables]
        before = simulator_stats(url)
        result, throttled = sync(url, database, ["messages"], rate, workers)
        after = simulator_stats(url)
        messages = next(t for t in result.tables if t.table == "messages")
        if messages.status != "succeeded":
            raise SystemExit(f"messages failed: {messages.error}")
        served_429 = after.get("rate_limited", 0) - before.get("rate_limited", 0)
        return {
            "seconds": messages.seconds,
            "requests": messages.requests,
            "rows": messages.rows,
            "throttled": throttled,
            "served_429": served_429,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def report(label: str, runs: list[dict[str, float]], rate: float | None) -> None:
    seconds = statistics.median(r["seconds"] for r in runs)
    requests = statistics.median(r["requests"] for r in runs)
    rows = statistics.median(r["rows"] for r in runs)
    print(f"\n{label}: {len(runs)} run(s), medians")
    print(f"  messages table   {seconds:8.2f} s   {requests:,.0f} requests   {rows:,.0f} messages")
    print(f"  throughput       {requests / seconds:8.1f} requests/s   {rows / seconds:,.0f} rows/s")
    print(f"  429s             client saw {max(r['throttled'] for r in runs):.0f}, simulator "
          f"refused {max(r['served_429'] for r in runs):.0f} (max over runs)")
    if rate:
        ideal = requests / (rate / 60)
        print(f"  requests / R     {ideal:8.2f} s   wall time is {100 * (seconds / ideal - 1):+.1f} % "
              "of it (target within 10 %)")
    print("  per run (s):     " + ", ".join(f"{r['seconds']:.2f}" for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=10_000,
                        help="requests per minute, enforced by the simulator and the client")
    parser.add_argument("--burst", type=int, default=10, help="the simulator's bucket size")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--no-unlimited", action="store_true",
                        help="skip the run without a rate limit")
    args = parser.parse_args()

    limited, url = start_simulator(args.conversations, args.rate, args.burst)
    try:
        runs = [one_run(url, args.rate, args.workers) for _ in range(args.runs)]
    finally:
        limited.kill()
    report(f"N = {args.conversations:,}, R = {args.rate:,.0f} requests/minute", runs, args.rate)

    if not args.no_unlimited:
        free, url = start_simulator(args.conversations, 0, 0)
        try:
            runs = [one_run(url, None, args.workers) for _ in range(args.runs)]
        finally:
            free.kill()
        report(f"N = {args.conversations:,}, no rate limit", runs, None)


if __name__ == "__main__":
    main()
