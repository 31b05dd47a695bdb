"""Benchmark: a full sync of N conversations, then 1 % of them updated in Drift, then an
incremental sync. Prints requests and seconds for both (incremental: median of several rounds).

    python bench/incremental.py                       # N = 100,000, details on (the default)
    python bench/incremental.py --conversations 20000 --rounds 5
    python bench/incremental.py --no-details          # list-only syncs

Target (issue 3): the incremental run makes at most ceil(changed/100) + 2 conversation-list
requests and takes under 5 % of the full run's time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sync import TOKEN, reset, start_simulator, stats  # noqa: E402

HOUR_MS = 3_600_000


def newest_update(url: str) -> int:
    """The newest updatedAt Drift has: the first item of its newest-first list."""
    request = urllib.request.Request(f"{url}/conversations/list?limit=1",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request) as response:
        return int(json.loads(response.read())["data"][0]["updatedAt"])


def mutate(url: str, body: dict[str, object]) -> list[int]:
    request = urllib.request.Request(f"{url}/_simulator/mutate", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())["changed"]


def timed_sync(url: str, database: Path, details: bool, mode: str) -> tuple[float, dict[str, int]]:
    reset(url)
    args = [sys.executable, "-m", "driftsync", "sync", "--tables", "conversations",
            "--database", str(database), "--api-url", url, "--mode", mode,
            "--conversation-details" if details else "--no-conversation-details"]
    env = {**os.environ, "DRIFT_ACCESS_TOKEN": TOKEN, "RUNTIME__DLTHUB_TELEMETRY": "false"}
    started = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sync failed:\n{done.stdout}\n{done.stderr}")
    return seconds, stats(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--fraction", type=float, default=0.01)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-details", action="store_true")
    args = parser.parse_args()
    details = not args.no_details
    sim, url = start_simulator(args.conversations, 0, 50)
    workdir = Path(tempfile.mkdtemp(prefix="driftsync-bench-"))
    try:
        database = workdir / "bench.duckdb"
        full_seconds, full = timed_sync(url, database, details, "full-refresh")
        print(f"full sync of {args.conversations:,} conversations "
              f"({'with' if details else 'without'} details): {full_seconds:.2f} s, "
              f"{full.get('GET /conversations/list', 0):,} list requests, "
              f"{full.get('GET /conversations/{id}', 0):,} detail requests", flush=True)
        rounds = []
        clock = newest_update(url)
        for _ in range(args.rounds):
            # An hour of Drift activity between two hourly syncs: the updates arrive in 20
            # batches, 3 minutes apart, rather than all at one instant.
            updated: set[int] = set()
            for _batch in range(20):
                clock += HOUR_MS // 20
                updated.update(mutate(url, {"update_conversations": {
                    "fraction": args.fraction / 20, "now_ms": clock}}))
            changed = len(updated)
            seconds, counts = timed_sync(url, database, details, "incremental")
            rounds.append((seconds, counts.get("GET /conversations/list", 0),
                           counts.get("GET /conversations/{id}", 0), changed))
        seconds = statistics.median(r[0] for r in rounds)
        lists = max(r[1] for r in rounds)
        changed = rounds[0][3]
        limit = math.ceil(changed / 100) + 2
        print(f"incremental after {changed:,} updated: {seconds:.2f} s "
              f"({100 * seconds / full_seconds:.1f} % of full; target < 5 %), "
              f"list requests max {lists} (target <= {limit}), detail requests "
              f"{statistics.median(r[2] for r in rounds):,.0f} "
              f"[median of {len(rounds)}: " + ", ".join(f"{r[0]:.2f}s" for r in rounds) + "]")
    finally:
        sim.terminate()
        sim.wait()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
