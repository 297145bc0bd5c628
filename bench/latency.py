"""Decision latency under a steady load, and the worker's memory over time.

    .venv/bin/python bench/latency.py [--max-rate N] [--loads 50,80] [--duration S]
                                      [--calibrate N] [--customers N] [--keep DIR]

One `withdrawguard worker` process on a fresh deployment (the real broker and Redis of
WG_KAFKA_BOOTSTRAP and WG_REDIS_URL). The maximum rate is `--max-rate` (events/s, for
example `workers_1_events_per_second` of a bench/throughput.py run) or, by default,
measured first: `--calibrate` events (default 30,000) are preloaded and the worker's rate
from ready to lag zero is taken; this also warms its state and caches.

Then, for each load (percent of the maximum, default 50 and 80), events of the generated
history (bench/history.py, same population) are produced at that steady rate for
`--duration` seconds (default 120). Decision latency is, for every withdrawal, from just
before it is handed to the producer until its first verdict is read from
`withdrawal-decisions` by a consumer in this process: p50, p95, p99, max. The worker's
RSS is sampled every 5 s: at the start and end of each phase, with its spread; beside
it, what the worker's `/metrics` says its tables' RocksDB memory is.
`--loads 50 --duration 600` is the 10-minute flatness check. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

import deployment as d  # bench/deployment.py
import history  # bench/history.py
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.streaming.monitoring import TABLE_INTERVAL


@dataclass
class Verdicts:
    """Reads withdrawal-decisions from its end; per withdrawal id, when its first verdict
    was read and that verdict's record timestamp (when the worker handed it to its
    producer: aiokafka stamps a record as it is sent)."""

    settings: Settings
    first_seen: dict[str, float] = field(default_factory=dict)
    sent: dict[str, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        name = t.TopicNames(self.settings).name(t.WITHDRAWAL_DECISIONS)
        self.consumer = KafkaConsumer(
            bootstrap_servers=self.settings.bootstrap_servers,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        parts = [TopicPartition(name, p) for p in range(self.settings.partitions)]
        self.consumer.assign(parts)
        self.consumer.seek_to_end()
        for tp in parts:
            self.consumer.position(tp)  # resolve the end now, before any load
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for records in self.consumer.poll(timeout_ms=100).values():
                now = time.time()
                for r in records:
                    wid = orjson.loads(r.value)["withdrawal_id"]
                    if wid not in self.first_seen:
                        self.first_seen[wid] = now
                        self.sent[wid] = r.timestamp / 1000

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.consumer.close()


def steady_load(
    settings: Settings, rate: float, seconds: float, customers: int, tag: str
) -> dict[str, float]:
    """Produce generated events at `rate`/s for `seconds`; withdrawal id -> time produced."""
    names = t.TopicNames(settings)
    topic_of = {k: names.name(v) for k, v in d.TOPIC_OF.items()}
    p = d.producer(settings, linger_ms=0)  # every event leaves at once, as a client's would
    produced: dict[str, float] = {}
    started = time.perf_counter()
    count = 0

    def put(body: dict[str, Any]) -> None:
        nonlocal count
        due = started + count / rate
        ahead = due - time.perf_counter()
        if ahead > 0.001:
            time.sleep(ahead)
        count += 1
        body["event_id"] = f"{tag}-{body['event_id']}"  # unique across phases
        if body["type"] == "withdrawal":
            body["withdrawal_id"] = f"{tag}-{body['withdrawal_id']}"
            produced[body["withdrawal_id"]] = time.time()
        d.send(p, topic_of[body["type"]], body["customer_id"].encode(), orjson.dumps(body))
        p.poll(0)

    # Event times: the last `seconds` before now, so every window sees a live stream.
    span = timedelta(seconds=seconds)
    history.generate(put, int(rate * seconds), customers, zlib.crc32(tag.encode()), _now(), span)
    p.flush(60)
    return produced


def _now() -> datetime:
    return datetime.now(UTC)


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    rank = max(0, min(len(sorted_ms) - 1, round(q / 100 * len(sorted_ms) + 0.5) - 1))
    return sorted_ms[rank]


@dataclass
class RssSampler:
    """The worker's RSS every `every` seconds, in the background."""

    running: d.Running
    every: float = 5.0
    samples: list[tuple[float, int]] = field(default_factory=list)
    tables: list[tuple[float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        scraped = float("-inf")
        while True:
            now = time.perf_counter()
            self.samples.append((now, self.running.rss_bytes()))
            # the worker refreshes that gauge every TABLE_INTERVAL: scraping its /metrics
            # more often would only add work to the worker being measured
            if now - scraped >= TABLE_INTERVAL:
                try:
                    tables = self.running.table_memory_bytes()
                except OSError:  # the worker's web server busy or gone: next sample
                    tables = None
                if tables is not None:
                    scraped = now
                    self.tables.append((now, tables))
            if self.stop.wait(self.every):
                return

    def close(self) -> list[int]:
        self.stop.set()
        self.thread.join(timeout=10)
        self.samples.append((time.perf_counter(), self.running.rss_bytes()))
        return [rss for _, rss in self.samples]

    def per_minute(self) -> list[float]:
        """RSS in MiB at the start of each minute of the phase, and at its end."""
        return _per_minute(self.samples, self.samples[0][0])

    def tables_per_minute(self) -> list[float]:
        """The tables' RocksDB memory in MiB (as the worker last reported it) at the start
        of each minute of the phase, and at its end."""
        return _per_minute(self.tables, self.samples[0][0]) if self.tables else []


def _write_latencies(
    path: Path, seen: list[str], produced: dict[str, float], verdicts: Verdicts
) -> None:
    """One row per withdrawal: when it was produced (s, Unix time) and both legs (ms), to
    see whether the slow ones cluster in time (commits, flushes, timers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write("produced,to_send_ms,to_read_ms\n")
        for w in seen:
            at, sent = produced[w], verdicts.sent[w]
            out.write(
                f"{at:.3f},{1000 * (sent - at):.1f},{1000 * (verdicts.first_seen[w] - sent):.1f}\n"
            )


def _per_minute(samples: list[tuple[float, int]], first: float) -> list[float]:
    marks: dict[int, int] = {}
    for at, value in samples:
        marks.setdefault(int((at - first) // 60), value)
    return [round(x / 2**20, 1) for x in [*marks.values(), samples[-1][1]]]


def phase(
    settings: Settings, running: d.Running, load: int, rate: float, args: argparse.Namespace
) -> dict[str, Any]:
    verdicts = Verdicts(settings)
    verdicts.start()
    rss = RssSampler(running)
    rss.start()
    started = time.perf_counter()
    produced = steady_load(settings, rate, args.duration, args.customers, f"L{load}")
    load_seconds = time.perf_counter() - started
    deadline = time.monotonic() + 60  # the last verdicts of the phase
    while time.monotonic() < deadline and len(set(produced) - set(verdicts.first_seen)) > 0:
        time.sleep(0.2)
    verdicts.close()
    samples = rss.close()
    seen = [w for w in produced if w in verdicts.first_seen]
    got = sorted(1000 * (verdicts.first_seen[w] - produced[w]) for w in seen)
    # the two legs: produced -> the worker sends the verdict; sent -> read here
    to_send = sorted(1000 * (verdicts.sent[w] - produced[w]) for w in seen)
    to_read = sorted(1000 * (verdicts.first_seen[w] - verdicts.sent[w]) for w in seen)
    if args.keep:
        _write_latencies(args.keep / f"latency-{load}.csv", seen, produced, verdicts)
    missing = len(produced) - len(got)
    mib = [x / 2**20 for x in samples]
    result = {
        "load_percent": load,
        "target_rate": round(rate),
        "achieved_rate": round(rate * args.duration / load_seconds),
        "seconds": round(load_seconds, 1),
        "withdrawals": len(produced),
        "missing_verdicts": missing,
        "p50_ms": round(percentile(got, 50), 1),
        "p95_ms": round(percentile(got, 95), 1),
        "p99_ms": round(percentile(got, 99), 1),
        "max_ms": round(got[-1], 1) if got else None,
        "to_send_p50_ms": round(percentile(to_send, 50), 1),
        "to_send_p99_ms": round(percentile(to_send, 99), 1),
        "to_read_p50_ms": round(percentile(to_read, 50), 1),
        "to_read_p99_ms": round(percentile(to_read, 99), 1),
        "rss_start_mib": round(mib[0], 1),
        "rss_end_mib": round(mib[-1], 1),
        "rss_min_mib": round(min(mib), 1),
        "rss_max_mib": round(max(mib), 1),
        "rss_change": round(mib[-1] / mib[0] - 1, 4),
        "rss_per_minute_mib": rss.per_minute(),
        "table_memory_per_minute_mib": rss.tables_per_minute(),
    }
    print(
        f"{load:>3}% load, {rate:,.0f} events/s for {load_seconds:.0f} s: "
        f"{len(got):,} verdicts ({missing} missing); latency p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms "
        f"(produced -> worker sends the verdict: p50 {result['to_send_p50_ms']} ms, "
        f"p99 {result['to_send_p99_ms']} ms; sent -> read: p50 {result['to_read_p50_ms']} "
        f"ms, p99 {result['to_read_p99_ms']} ms); "
        f"RSS {mib[0]:.0f} -> {mib[-1]:.0f} MiB (min {min(mib):.0f}, max {max(mib):.0f}; "
        f"each minute: {', '.join(f'{x:.0f}' for x in rss.per_minute())}); "
        f"of which tables' RocksDB memory each minute: "
        f"{', '.join(f'{x:.0f}' for x in rss.tables_per_minute()) or 'not reported'} MiB",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rate", type=float, help="events/s; default: measured first")
    parser.add_argument("--calibrate", type=int, default=30_000)
    parser.add_argument("--loads", default="50,80", help="percent of the maximum")
    parser.add_argument("--duration", type=float, default=120, help="seconds per load")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument(
        "--keep",
        type=Path,
        help="keep worker data and logs, and each phase's latencies (CSV), in DIR",
    )
    args = parser.parse_args()
    loads = [int(x) for x in args.loads.split(",") if x.strip()]
    work = d.workdir(args.keep)
    work.mkdir(parents=True, exist_ok=True)
    settings: Settings | None = None
    try:
        settings = d.fresh_deployment("lat", work)
        calibration: dict[str, Any] | None = None
        if args.max_rate is None:
            loaded = sum(d.preload(settings, args.calibrate, args.customers, 1).values())
        running = d.start_workers(settings, 1, work)
        try:
            rss_ready = running.rss_bytes()
            if args.max_rate is None:
                probe = d.LagProbe.of_worker(settings)
                ready_at = running.started + running.ready
                seconds = d.wait_lag_zero(probe, running.alive, ready_at, timeout=1800)
                probe.close()
                args.max_rate = loaded / seconds
                calibration = {"events": loaded, "seconds": round(seconds, 1)}
                rate = f"{args.max_rate:,.0f} events/s"
                print(f"maximum: {rate} ({loaded:,} events in {seconds:.0f} s after ready)")
            results = [phase(settings, running, n, args.max_rate * n / 100, args) for n in loads]
        finally:
            running.stop()
        figures = {
            "benchmark": "latency",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "max_rate": round(args.max_rate),
            "calibration": calibration,
            "rss_ready_mib": round(rss_ready / 2**20, 1),
            "phases": results,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        }
        print(json.dumps(figures))
    finally:
        d.cleanup(work, args.keep, settings)


if __name__ == "__main__":
    main()
