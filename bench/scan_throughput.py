"""The history scan end to end: `withdrawguard scan` over a generated history of gzip JSON
Lines shards, in a subprocess, timed, with its peak resident memory.

    .venv/bin/python bench/scan_throughput.py [--events N] [--customers N] [--shards N]
                                              [--seed N] [--keep DIR] [--profile FILE]

The history (default 10,000,000 events over `--events / 10` customers, at most 1,000,000)
is ~82% logins, 10% account changes, 3% trades, 5% withdrawals over two years, plus one
2020-style attack chain (failed-login burst, login from a new device, e-mail and
destination change, a sell-off of the holdings, a draining withdrawal) per 20,000 events,
a quarter of them paying one shared mule account. Each event goes to a random shard, so
every file holds a slice of every customer and the scan must put them back in order. The
generator streams: it keeps no per-customer state (a customer's home network, device,
bank account and holdings derive from their number).

Prints events per second (the scan uses one core), wall and CPU time, peak RSS
(`getrusage(RUSAGE_CHILDREN).ru_maxrss`, the scan's process), the findings, and ends with
one JSON line. `--profile FILE` runs the scan under cProfile and prints the top functions.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import platform
import pstats
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

import history  # bench/history.py: the generated events


def generate(folder: Path, events: int, customers: int, shards: int, seed: int) -> int:
    """Write the history into `folder`; return the number of events written."""
    rng = random.Random(seed ^ 0x5EED)  # picks the shard, apart from the history's own RNG
    with contextlib.ExitStack() as stack:
        files = [
            stack.enter_context(gzip.open(folder / f"part-{n:03d}.jsonl.gz", "wb", 1))
            for n in range(shards)
        ]

        def put(body: dict[str, Any]) -> None:
            files[rng.randrange(shards)].write(orjson.dumps(body) + b"\n")

        return history.generate(put, events, customers, seed)


def run_scan(inputs: Path, out: Path, profile: Path | None) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in bytes) of the scan in a subprocess."""
    cmd = [sys.executable, "-m", "withdrawguard", "scan", str(inputs), "--out", str(out)]
    if profile is not None:
        cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), *cmd[1:]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, check=False, stderr=subprocess.DEVNULL, stdout=subprocess.PIPE)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"scan failed with exit status {done.returncode}")
    print(done.stdout.decode().rstrip())
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, after.ru_maxrss * 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, help="default: events / 10, at most 1,000,000")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--seed", type=int, default=20200901)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--profile", type=Path, help="cProfile the scan into this file")
    args = parser.parse_args()
    customers = args.customers or max(1000, min(1_000_000, args.events // 10))
    work = args.keep or Path(tempfile.mkdtemp(prefix="wg-scan-bench-"))
    inputs, out = work / "history", work / "out"
    inputs.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        events = generate(inputs, args.events, customers, args.shards, args.seed)
        gen_s = time.perf_counter() - started
        size = sum(f.stat().st_size for f in inputs.iterdir())
        print(
            f"generated {events:,} events for {customers:,} customers in {gen_s:.0f} s "
            f"({args.shards} gzip shards, {size / 2**20:,.0f} MiB)"
        )
        wall, cpu, rss = run_scan(inputs, out, args.profile)
        summary = orjson.loads((out / "summary.json").read_bytes())
        rate = events / wall
        print(f"scan: {wall:,.1f} s wall, {cpu:,.1f} s CPU: {rate:,.0f} events/s on one core")
        print(f"peak RSS of the scan: {rss / 2**20:,.0f} MiB")
        print(f"findings: {summary['held']:,} held of {summary['withdrawals']:,} withdrawals")
        if args.profile is not None:
            pstats.Stats(str(args.profile)).sort_stats("tottime").print_stats(20)
        figures = {
            "benchmark": "scan_throughput",
            "date": datetime.now(UTC).date().isoformat(),
            "events": events,
            "customers": customers,
            "shards": args.shards,
            "input_mib": round(size / 2**20, 1),
            "wall_seconds": round(wall, 1),
            "cpu_seconds": round(cpu, 1),
            "events_per_second": round(rate),
            "peak_rss_mib": round(rss / 2**20),
            "held": summary["held"],
            "withdrawals": summary["withdrawals"],
            "flagged_customers": summary["flagged_customers"],
            "profiled": args.profile is not None,
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
        print(json.dumps(figures))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
