"""Events per second on the real broker: a raw consumer (the ceiling), the same core rules
in quixstreams (the peer), and withdrawguard's worker with one and two processes.

    .venv/bin/python bench/throughput.py [--events N] [--customers N] [--seed N]
                                         [--workers 1,2] [--profile DIR] [--keep DIR]

Preloads N events (~82% logins, 10% account changes, 3% trades, 5% withdrawals over
N / 20 customers, bench/history.py) into the four input topics of a fresh deployment
(its own WG_TOPIC_PREFIX), then times, one after the other on the same data (every
contender reads all four topics):

- ceiling: one aiokafka consumer reading the four input topics and decoding every
  value with orjson, nothing else;
- peer: bench/peer_quix.py, DEST_CHANGED_RECENTLY, NEW_DEVICE, DRAIN and LIQUIDATION
  with per-customer state in quixstreams, in its own process;
- the Faust floor (bench/faust_floor.py): a trivial Faust agent (decode only) on Faust's
  stock transport and settings, the same agent on the worker's (`wgkafka://`,
  `cython_optimizations`, the lean monitor: issue 29), and the agents that write a table
  value per event and per key of a batch;
- withdrawguard: `withdrawguard worker` processes (full rule set, every output, hold
  registry in Redis) in a fresh consumer group each, from the first process's launch
  until the lag is zero on every topic read: the detector's group on the inputs and
  internal topics (customer-events, destination and IP observations), the registry
  feed's group on the outputs it projects into Redis.

Each figure is events / wall seconds from start (so start-up counts against everyone),
with CPU seconds beside it (the machine may be shared: events per CPU second is the
steadier figure). The default N, 2,000,000 over 100,000 customers, is the issue's full
size and takes about 40 minutes on two cores (most of it the workers);
`--events 200000` (10,000 customers) gives the same picture in under 10 minutes.

`--switch-every S` adds the contender `switching`: one worker while a new live policy
version is published every S seconds (two versions that differ in `alert_score` only,
taken in turn), so every worker switches engines mid-run (docs/policy.md); beside the
plain one-worker run it shows what a live switch costs. The contender `shadowing` is one
worker with a shadow version (`hold_score = 50`) deciding beside the live one. Uses
WG_KAFKA_BOOTSTRAP and WG_REDIS_URL. `--profile DIR` samples the one-worker run with
py-spy and prints the top entries. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

import deployment as d  # bench/deployment.py
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings


async def _ceiling(settings: Settings, topics: list[str], total: int) -> tuple[float, float]:
    cpu0, started = time.process_time(), time.perf_counter()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(n, p) for n in topics for p in range(settings.partitions)])
        seen = 0
        while seen < total:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            for records in batches.values():
                for r in records:
                    orjson.loads(r.value)
                seen += sum(1 for _ in records)
    finally:
        await consumer.stop()
    return time.perf_counter() - started, time.process_time() - cpu0


def ceiling(settings: Settings, topics: list[str], total: int) -> dict[str, Any]:
    seconds, cpu = asyncio.run(_ceiling(settings, topics, total))
    return {"seconds": seconds, "cpu_seconds": cpu}


def peer(settings: Settings, total: int) -> dict[str, Any]:
    script = Path(__file__).with_name("peer_quix.py")
    args = [sys.executable, str(script), settings.kafka_bootstrap, settings.topic_prefix]
    done = subprocess.run([*args, str(total)], capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"the quixstreams peer failed:\n{done.stderr.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return result


def faust_floor(
    settings: Settings, mode: str, topics: list[str], total: int, work: Path
) -> dict[str, Any]:
    """bench/faust_floor.py in its own process and consumer group: what a trivial Faust
    agent does on the same data (the framework's own ceiling)."""
    script = Path(__file__).with_name("faust_floor.py")
    app_id = f"{settings.app_id}-floor-{mode}"
    data = work / f"floor-{mode}"
    args = [sys.executable, str(script), mode, settings.kafka_bootstrap, app_id, str(data)]
    done = subprocess.run([*args, str(total), *topics], capture_output=True, check=False)
    # Faust's worker draws a spinner on stdout: the figures are the last '{' onwards.
    out = done.stdout.decode()
    if done.returncode != 0 or '{"mode"' not in out:
        sys.exit(f"the Faust floor ({mode}) failed:\n{done.stderr.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out[out.rindex('{"mode"') :].splitlines()[0])
    return result


FLOORS = {
    "faust_events": ("events", "Faust agent, decode only"),
    "faust_events_wg": ("events-wg", "  same, wgkafka + settings"),
    "faust_table": ("table", "Faust agent + table write"),
    "faust_table_batch": ("table-batch", "Faust take_events + table"),
}
CONTENDERS = ("ceiling", "peer", *FLOORS, "workers", "switching", "shadowing")
SWITCH_TEXTS = ("[decision]\nalert_score = 30\n", "[decision]\nalert_score = 31\n")


def policy_action(settings: Settings, action: str, text: str) -> None:
    """Publish `text` live (`publish`), run it in shadow (`shadow`), or stop the shadow."""
    from withdrawguard.policy import actions
    from withdrawguard.policy.log import append, read_catalog

    catalog = read_catalog(settings, warn=lambda _m: None)
    now = int(time.time() * 1000)
    if action == "shadow-off":
        plan = actions.set_shadow(catalog, None, "bench", "done", now)
    else:
        role = "shadow" if action == "shadow" else "live"
        plan = actions.publish(catalog, text, "bench", action, now, role)
    append(settings, plan)


class Switcher:
    """Publishes SWITCH_TEXTS in turn as the live version every `every` seconds."""

    def __init__(self, settings: Settings, every: float) -> None:
        self.settings, self.every = settings, every
        self.stop = threading.Event()
        self.published = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from withdrawguard.policy import actions
        from withdrawguard.policy.log import append, read_catalog

        while not self.stop.wait(self.every):
            catalog = read_catalog(self.settings, warn=lambda _m: None)
            text = SWITCH_TEXTS[self.published % 2]
            now = int(time.time() * 1000)
            append(self.settings, actions.publish(catalog, text, "bench", "switch", now, "live"))
            self.published += 1

    def __enter__(self) -> Switcher:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join()


def withdrawguard(
    settings: Settings,
    workers: int,
    total: int,
    work: Path,
    profile: Path | None,
    switch_every: float | None = None,
) -> dict[str, Any]:
    probe = d.LagProbe.of_worker(settings)
    running = d.start_workers(settings, workers, work)
    spy = None
    if profile is not None:
        spy = d.Profiler(running.pids[0], profile)
        spy.start()
    switcher = Switcher(settings, switch_every) if switch_every else None
    try:
        if switcher is not None:
            switcher.__enter__()
        seconds = d.wait_lag_zero(probe, running.alive, running.started, timeout=3600)
        cpu, rss = running.cpu_seconds(), running.rss_bytes()
    finally:
        if switcher is not None:
            switcher.__exit__()
        if spy is not None:
            spy.stop()
        running.stop()
        probe.close()
    extra = {"versions_published": switcher.published} if switcher is not None else {}
    return {
        **extra,
        "workers": workers,
        "seconds": seconds,
        "seconds_after_ready": seconds - running.ready,
        "startup_seconds": running.ready,
        "cpu_seconds": cpu,
        "rss_mib": round(rss / 2**20),
    }


def show(name: str, events: int, r: dict[str, Any]) -> float:
    rate = events / r["seconds"]
    r["events_per_second"] = round(rate)
    r["events_per_cpu_second"] = round(events / r["cpu_seconds"]) if r["cpu_seconds"] else None
    extra = ""
    if "seconds_after_ready" in r:
        after = events / r["seconds_after_ready"]
        extra = f", {after:,.0f}/s after {r['startup_seconds']:.0f} s start-up"
    print(
        f"{name:<24} {rate:>10,.0f} events/s  ({r['seconds']:,.1f} s wall, "
        f"{r['cpu_seconds']:,.1f} s CPU{extra})",
        flush=True,
    )
    return rate


def print_profile(path: Path) -> list[list[Any]]:
    entries, samples = d.top_entries(path)
    print(f"\ntop entries of the one-worker profile ({samples:,} samples, self time):")
    for name, share in entries:
        print(f"  {share:6.1%}  {name}")
    return [[name, round(share, 4)] for name, share in entries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--customers", type=int, help="default: events / 20")
    parser.add_argument("--seed", type=int, default=20200901)
    parser.add_argument("--workers", default="1,2", help="worker counts to run (default 1,2)")
    parser.add_argument("--profile", type=Path, help="py-spy the one-worker run into DIR")
    parser.add_argument("--keep", type=Path, help="keep worker data and logs in DIR")
    parser.add_argument(
        "--switch-every",
        type=float,
        default=5.0,
        metavar="S",
        help="the switching contender publishes a live version every S seconds (default 5)",
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"which to run, in this order (default all: {','.join(CONTENDERS)})",
    )
    args = parser.parse_args()
    chosen = [c.strip() for c in args.contenders.split(",") if c.strip()]
    if unknown := set(chosen) - set(CONTENDERS):
        parser.error(f"unknown contender(s) {sorted(unknown)}; choose from {CONTENDERS}")
    counts = [int(n) for n in args.workers.split(",") if n.strip()] if "workers" in chosen else []
    args.customers = args.customers or max(1000, args.events // 20)
    work = d.workdir(args.keep)
    work.mkdir(parents=True, exist_ok=True)
    settings: Settings | None = None
    try:
        settings = d.fresh_deployment("tput", work)
        print(f"topic prefix {settings.topic_prefix!r}, broker {settings.kafka_bootstrap}")
        started = time.perf_counter()
        loaded = d.preload(settings, args.events, args.customers, args.seed)
        events = sum(loaded.values())
        print(
            f"preloaded {events:,} events for {args.customers:,} customers in "
            f"{time.perf_counter() - started:.0f} s: "
            + ", ".join(f"{n.removeprefix(settings.topic_prefix)} {c:,}" for n, c in loaded.items())
        )
        inputs = [t.TopicNames(settings).name(n) for n in d.TOPIC_OF.values()]
        results: dict[str, Any] = {}
        rates: dict[str, float] = {}
        if "ceiling" in chosen:
            results["ceiling"] = ceiling(settings, inputs, events)
            rates["ceiling"] = show("ceiling (aiokafka+orjson)", events, results["ceiling"])
        if "peer" in chosen:
            results["peer"] = peer(settings, events)
            rates["peer"] = show("peer (quixstreams)", events, results["peer"])
        for name, (mode, label) in FLOORS.items():
            if name in chosen:
                results[name] = faust_floor(settings, mode, inputs, events, work)
                rates[name] = show(label, events, results[name])
        profile_top = None
        # The worker contenders run in the order given (a run after another on a busy
        # machine can be slower for that alone: swap them to see).
        for contender in [c for c in chosen if c in ("workers", "switching", "shadowing")]:
            if contender == "workers":
                for n in counts:
                    s = d.another_group(settings, work, f"{n}w")
                    prof = None
                    if args.profile is not None and n == 1:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        prof = args.profile / "worker.collapsed"
                    results[f"workers_{n}"] = withdrawguard(s, n, events, work, prof)
                    label = f"withdrawguard, {n} worker(s)"
                    rates[f"workers_{n}"] = show(label, events, results[f"workers_{n}"])
                    if prof is not None and prof.exists():
                        profile_top = print_profile(prof)
            elif contender == "switching":
                s = d.another_group(settings, work, "switch")
                results["switching"] = withdrawguard(s, 1, events, work, None, args.switch_every)
                label = f"1 worker, switch each {args.switch_every:g} s"
                rates["switching"] = show(label, events, results["switching"])
                print(f"  ({results['switching']['versions_published']} versions published)")
                policy_action(s, "publish", SWITCH_TEXTS[0])  # the default's values again
            else:
                s = d.another_group(settings, work, "shadow")
                policy_action(s, "shadow", "[decision]\nhold_score = 50\n")
                results["shadowing"] = withdrawguard(s, 1, events, work, None)
                rates["shadowing"] = show("1 worker + a shadow", events, results["shadowing"])
                policy_action(s, "shadow-off", "")
        ratios: dict[str, float] = {}
        if "shadowing" in rates and "workers_1" in rates:
            ratios["shadowing_vs_one_worker"] = rates["shadowing"] / rates["workers_1"]
        if "switching" in rates and "workers_1" in rates:
            ratios["switching_vs_one_worker"] = rates["switching"] / rates["workers_1"]
        cpu_rate = {k: r.get("events_per_cpu_second") for k, r in results.items()}
        if cpu_rate.get("faust_events_wg") and cpu_rate.get("faust_events"):
            # issue 29's target: >= 2 in events per CPU second
            ratios["faust_wg_vs_stock_per_cpu_second"] = (
                cpu_rate["faust_events_wg"] / cpu_rate["faust_events"]
            )
            ratios["faust_wg_vs_stock"] = rates["faust_events_wg"] / rates["faust_events"]
        if "workers_1" in rates:
            for other in ("faust_events", "faust_table", "ceiling", "peer"):
                if other in rates:
                    ratios[f"withdrawguard_vs_{other}"] = rates["workers_1"] / rates[other]
            if "workers_2" in rates:
                ratios["two_workers_vs_one"] = rates["workers_2"] / rates["workers_1"]
        print()
        for name, value in ratios.items():
            print(f"{name:<28} {value:.4f}")
        figures = {
            "benchmark": "throughput",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "events": events,
            "customers": args.customers,
            "partitions": settings.partitions,
            **{f"{k}_events_per_second": round(v) for k, v in rates.items()},
            **{k: round(v, 4) for k, v in ratios.items()},
            "runs": results,
            "profile_top": profile_top,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        }
        print(json.dumps(figures))
    finally:
        d.cleanup(work, args.keep, settings)


if __name__ == "__main__":
    main()
