"""Decision latency under a steady load, and the worker's memory over time.

    .venv/bin/python bench/latency.py [--max-rate N] [--loads 50,80] [--duration S]
                                      [--calibrate N] [--customers N] [--keep DIR]
    .venv/bin/python bench/latency.py --search [--p99-ms 50] [--low N | --low-percent 20]
                                      [--high N] [--steps 6] [--step-seconds 60]

One `withdrawguard worker` process on a fresh deployment (the real broker and Redis of
WG_KAFKA_BOOTSTRAP and WG_REDIS_URL). The maximum rate is `--max-rate` (events/s, for
example `workers_1_events_per_second` of a bench/throughput.py run) or, by default,
measured first: `--calibrate` events (default 30,000) are preloaded and the worker's rate
from ready to lag zero is taken; this also warms its state and caches. That maximum is
a burst figure (a backlog makes large batches), more than one worker sustains under a
steady load.

Then, for each load (percent of the maximum, default 50 and 80), events of the generated
history (bench/history.py, same population) are produced at that steady rate for
`--duration` seconds (default 120). Decision latency is, for every withdrawal, from just
before it is handed to the producer until its first verdict is read from
`withdrawal-decisions` by a consumer in this process: p50, p95, p99, max. The worker's
RSS is sampled every 5 s: at the start and end of each phase, with its spread; beside
it, what the worker's `/metrics` says its tables' RocksDB memory is; its lag (every
topic its consumer groups read) every 2 s; and its full garbage collections in the
phase, with their time (`worker/heap.py`), when it reports them.
`--loads 50 --duration 600` is the 10-minute flatness check.

`--search` replaces the loads: it finds the highest steady rate one worker sustains with
decision p99 <= `--p99-ms` (bench/rate_search.py). Each step is a phase at one rate for
`--step-seconds` on the same worker; a step fails when its p99 is over the target, a
verdict is missing, the worker falls behind (its lag grows over the step) or the
benchmark could not produce at the rate. The first step is `--low` (default
`--low-percent` of the maximum); then bisection between the highest rate that passed and
the lowest that failed (from `--high`, default the maximum, or from the first step down
if it failed), at most `--steps` steps. Progress is printed step by step; the maximum
found is reported with its p50, p95 and p99. Ends with one JSON line.
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
import rate_search  # bench/rate_search.py
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
    settings: Settings,
    running: d.Running,
    tag: str,
    rate: float,
    seconds: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """`rate` events/s for `seconds`: the latencies of its withdrawals, the worker's RSS,
    its lag over the phase and its full collections (events tagged `tag`)."""
    verdicts = Verdicts(settings)
    verdicts.start()
    rss = RssSampler(running)
    rss.start()
    lag = LagSampler(d.LagProbe.of_worker(settings))
    lag.start()
    collections_before = full_collections(running)
    started = time.perf_counter()
    produced = steady_load(settings, rate, seconds, args.customers, tag)
    load_seconds = time.perf_counter() - started
    lags = lag.close()
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
        _write_latencies(args.keep / f"latency-{tag}.csv", seen, produced, verdicts)
    missing = len(produced) - len(got)
    mib = [x / 2**20 for x in samples]
    gc_count, gc_seconds = _minus(full_collections(running), collections_before)
    result = {
        "tag": tag,
        "target_rate": round(rate),
        "achieved_rate": round(rate * seconds / load_seconds),
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
        "lag_samples": lags,
        "lag_grew": rate_search.lag_grew(lags),
        "gc_full_collections": gc_count,
        "gc_full_collection_ms": None if gc_seconds is None else round(1000 * gc_seconds, 1),
    }
    print(
        f"{tag}, {rate:,.0f} events/s for {load_seconds:.0f} s: "
        f"{len(got):,} verdicts ({missing} missing); latency p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms "
        f"(produced -> worker sends the verdict: p50 {result['to_send_p50_ms']} ms, "
        f"p99 {result['to_send_p99_ms']} ms; sent -> read: p50 {result['to_read_p50_ms']} "
        f"ms, p99 {result['to_read_p99_ms']} ms); "
        f"RSS {mib[0]:.0f} -> {mib[-1]:.0f} MiB (min {min(mib):.0f}, max {max(mib):.0f}; "
        f"each minute: {', '.join(f'{x:.0f}' for x in rss.per_minute())}); "
        f"of which tables' RocksDB memory each minute: "
        f"{', '.join(f'{x:.0f}' for x in rss.tables_per_minute()) or 'not reported'} MiB; "
        f"lag at most {max(lags, default=0):,} messages"
        f"{' and growing' if result['lag_grew'] else ''}; "
        f"full collections: {_collections(gc_count, gc_seconds)}",
        flush=True,
    )
    return result


@dataclass
class LagSampler:
    """The worker's unprocessed messages (every topic its groups read) every `every`
    seconds while a phase produces: a worker falling behind shows as a growing lag."""

    probe: d.LagProbe
    every: float = 2.0
    samples: list[int] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            self.samples.append(self.probe.lag())

    def close(self) -> list[int]:
        self.stop.set()
        self.thread.join(timeout=10)
        self.probe.close()
        return self.samples


def full_collections(running: d.Running) -> tuple[int, float] | None:
    """The worker's full (generation 2) collections so far and their time in seconds, from
    its `/metrics` (`worker/heap.py`); None if it does not report them."""
    found = running.metric_samples(
        (
            "withdrawguard_gc_full_collection_seconds_count",
            "withdrawguard_gc_full_collection_seconds_sum",
        )
    )
    if len(found) < 2:
        return None
    return int(found["withdrawguard_gc_full_collection_seconds_count"]), found[
        "withdrawguard_gc_full_collection_seconds_sum"
    ]


def _minus(
    after: tuple[int, float] | None, before: tuple[int, float] | None
) -> tuple[int | None, float | None]:
    if after is None or before is None:
        return None, None
    return after[0] - before[0], after[1] - before[1]


def _collections(count: int | None, seconds: float | None) -> str:
    if count is None or seconds is None:
        return "not reported"
    mean = f", {1000 * seconds / count:.1f} ms each" if count else ""
    return f"{count} taking {1000 * seconds:.0f} ms{mean}"


def run_search(
    settings: Settings, running: d.Running, high: float, args: argparse.Namespace
) -> dict[str, Any]:
    """Bisect for the highest steady rate with decision p99 <= `--p99-ms` (bench/rate_search.py)."""
    low = args.low if args.low is not None else high * args.low_percent / 100
    count = 0

    def step(rate: float) -> rate_search.Step:
        nonlocal count
        count += 1
        print(f"step {count}/{args.steps}: {rate:,.0f} events/s for {args.step_seconds:g} s ...")
        figures = phase(settings, running, f"S{count}", rate, args.step_seconds, args)
        passed, why = rate_search.verdict(
            figures["p99_ms"],
            args.p99_ms,
            figures["missing_verdicts"],
            figures["lag_grew"],
            rate * args.step_seconds / figures["seconds"],  # unrounded: a low rate's 9.4 is 9.4
            rate,
        )
        print(f"step {count}: {rate:,.0f} events/s {'passed' if passed else 'failed'}: {why}")
        time.sleep(args.settle)  # the worker's last commits and flushes of the step
        return rate_search.Step(rate, passed, why, figures)

    found = rate_search.search(step, low, high, args.steps)
    best, failed = found.best, found.lowest_failed
    if best is None:
        print(
            f"no steady rate passed: the lowest tried, {failed.rate:,.0f} events/s, "
            f"failed ({failed.why})"
        )
    else:
        f = best.figures
        above = f"; {failed.rate:,.0f} events/s failed ({failed.why})" if failed else ""
        print(
            f"steady-state maximum: {best.rate:,.0f} events/s with p99 <= {args.p99_ms:g} ms "
            f"(p50 {f['p50_ms']} ms, p95 {f['p95_ms']} ms, p99 {f['p99_ms']} ms){above}",
            flush=True,
        )
    return {
        "p99_target_ms": args.p99_ms,
        "low": round(low),
        "high": round(high),
        "step_seconds": args.step_seconds,
        "maximum": round(best.rate) if best else None,
        "at_maximum": best.figures if best else None,
        "steps": [
            {"rate": round(s.rate), "passed": s.passed, "why": s.why, **s.figures}
            for s in found.steps
        ],
    }


def _load(average: tuple[float, float, float]) -> str:
    return ", ".join(f"{x:.1f}" for x in average) + f" (1, 5, 15 min) on {os.cpu_count()} CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-rate", type=float, help="events/s; default: measured first")
    parser.add_argument("--calibrate", type=int, default=30_000)
    parser.add_argument("--loads", default="50,80", help="percent of the maximum")
    parser.add_argument("--duration", type=float, default=120, help="seconds per load")
    parser.add_argument("--customers", type=int, default=100_000)
    search = parser.add_argument_group("rate search (--search)")
    search.add_argument(
        "--search",
        action="store_true",
        help="find the highest steady rate with p99 <= --p99-ms instead of --loads",
    )
    search.add_argument("--p99-ms", type=float, default=50, help="the p99 a step must keep")
    search.add_argument(
        "--low", type=float, help="events/s of the first step (default: --low-percent)"
    )
    search.add_argument(
        "--low-percent", type=float, default=20, help="first step, percent of the maximum"
    )
    search.add_argument(
        "--high",
        type=float,
        help="events/s the bisection starts below (default: the maximum); with --low, the "
        "same bracket for runs to compare (the maximum is still measured: it warms the worker)",
    )
    search.add_argument("--steps", type=int, default=6, help="at most this many steps")
    search.add_argument("--step-seconds", type=float, default=60, help="seconds per step")
    search.add_argument("--settle", type=float, default=5, help="seconds between steps (default 5)")
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
            load_average = os.getloadavg()
            print(f"load average before the phases: {_load(load_average)}", flush=True)
            results: list[dict[str, Any]] = []
            found: dict[str, Any] | None = None
            if args.search:
                found = run_search(settings, running, args.high or args.max_rate, args)
            else:
                for n in loads:
                    rate = args.max_rate * n / 100
                    figures = phase(settings, running, f"L{n}", rate, args.duration, args)
                    results.append({"load_percent": n, **figures})
        finally:
            running.stop()
        figures = {
            "benchmark": "latency",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "max_rate": round(args.max_rate),
            "calibration": calibration,
            "rss_ready_mib": round(rss_ready / 2**20, 1),
            "phases": results,
            "search": found,
            "cpus": os.cpu_count(),
            "load_average_before": load_average,
            "load_average": os.getloadavg(),
            "python": platform.python_version(),
        }
        print(f"load average at the end: {_load(os.getloadavg())}")
        print(json.dumps(figures))
    finally:
        d.cleanup(work, args.keep, settings)


if __name__ == "__main__":
    main()
