"""Benchmark: a full sync from the Drift simulator (in its own process) into a fresh DuckDB file.

Prints, per dataset size, the median of several runs: rows/s end to end, conversation-list
requests, and the sync process's peak RSS. Each run is a separate ``driftsync sync`` process
so its peak memory is its own.

    python bench/sync.py                      # N = 10,000 and 100,000, 3 runs each
    python bench/sync.py --sizes 20000 --runs 5
    python bench/sync.py --details            # also fetch GET /conversations/{id} per row

Targets (issue 2): >= 30,000 rows/s at N = 100,000 (list-only), exactly ceil(N/100) list
requests, peak RSS <= 300 MB and flat in N.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_simulator(conversations: int, accounts: int, users: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "driftsync.simulator", "--port", str(port), "--token", TOKEN,
         "--conversations", str(conversations), "--accounts", str(accounts),
         "--users", str(users)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening" not in line:
        proc.kill()
        raise SystemExit(f"simulator did not start: {line}")
    return proc, f"http://127.0.0.1:{port}"


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_simulator/stats") as response:
        return json.loads(response.read())["requests"]


def reset(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(f"{url}/_simulator/reset", method="POST"))


def one_run(url: str, details: bool) -> dict[str, float]:
    workdir = Path(tempfile.mkdtemp(prefix="driftsync-bench-"))
    try:
        reset(url)
        # The spec's three tables, as issue 2 measured them (the others have their own bench).
        args = [sys.executable, "-m", "driftsync", "sync", "--tables", "accounts,conversations,users",
                "--database",
                str(workdir / "bench.duckdb"), "--api-url", url]
        args.append("--conversation-details" if details else "--no-conversation-details")
        env = {**os.environ, "DRIFT_ACCESS_TOKEN": TOKEN, "RUNTIME__DLTHUB_TELEMETRY": "false"}
        out_path = workdir / "out.txt"
        with out_path.open("w") as out_file:
            started = time.perf_counter()
            proc = subprocess.Popen(args, stdout=out_file, stderr=subprocess.STDOUT, env=env)
            # wait4 (not Popen.wait) returns this process's own resource usage: its peak RSS.
            _, status, usage = os.wait4(proc.pid, 0)
            seconds = time.perf_counter() - started
        out = out_path.read_text()
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"sync failed:\n{out}")
        rows = sum(int(n.replace(",", ""))
                   for n in re.findall(r"│ \w+\s+│ ok\s+│\s+([\d,]+)", out))
        counts = stats(url)
        return {
            "seconds": seconds,
            "rows": rows,
            "list_requests": counts.get("GET /conversations/list", 0),
            "detail_requests": counts.get("GET /conversations/{id}", 0),
            "peak_rss_mb": usage.ru_maxrss / 1024,
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def measure(size: int, runs: int, details: bool) -> None:
    accounts, users = size // 2, 250
    sim, url = start_simulator(size, accounts, users)
    try:
        one_run(url, details)  # warm-up: the simulator renders and caches its pages once
        results = [one_run(url, details) for _ in range(runs)]
    finally:
        sim.terminate()
        sim.wait()
    med = {k: statistics.median(r[k] for r in results) for k in results[0]}
    mode = "with details" if details else "list only"
    print(
        f"N={size:>7,} conversations (+{accounts:,} accounts, {users} users), {mode}: "
        f"{med['rows'] / med['seconds']:>8,.0f} rows/s  "
        f"{med['seconds']:6.2f} s  {med['rows']:>8,.0f} rows  "
        f"list requests {med['list_requests']:,.0f} (ceil(N/100) = {math.ceil(size / 100):,})  "
        f"detail requests {med['detail_requests']:,.0f}  peak RSS {med['peak_rss_mb']:.0f} MB  "
        f"[median of {runs}; runs: "
        + ", ".join(f"{r['seconds']:.2f}s" for r in results) + "]",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000",
                        help="comma-separated conversation counts")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--details", action="store_true",
                        help="also run with GET /conversations/{id} per conversation")
    args = parser.parse_args()
    for size in [int(s) for s in args.sizes.split(",")]:
        measure(size, args.runs, details=False)
        if args.details:
            measure(size, args.runs, details=True)


if __name__ == "__main__":
    main()
