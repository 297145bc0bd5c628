"""Memory of a worker whose webhooks fail for ten minutes of alerts, then every alert
delivered once they are back (issue 18, "bounded memory under failing channels").

    .venv/bin/python bench/notify_soak.py [--minutes 10] [--rate 5] [--backlog N]
                                          [--sample 5] [--keep DIR]

One `withdrawguard worker` process on a fresh deployment (the real broker and Redis of
WG_KAFKA_BOOTSTRAP and WG_REDIS_URL) with two webhook channels on a local receiver:
`hook` (no rate limit) and `digest` (60 a minute, the rest in one digest a minute), both
retrying until delivered (`attempts = 0`, backoff up to 5 s). The receiver answers 503 to
everything while alerts are produced straight onto `fraud-alerts`, `--rate` a second
(each its own customer, so none is a duplicate of another) for `--minutes`; the worker's
RSS and its `/metrics` backlog gauge are sampled every `--sample` seconds. Then the
receiver answers 200, and the run waits until every alert reached each channel (alone or
in a digest), checks that none arrived twice, and that the notify group committed to the
end of the topic.

RSS is judged from the first sample with the backlog at its bound (until then it grows
with the alerts the backlog takes in, by design; the JSON gives the growth over the very
first sample too). Exits non-zero when RSS at a later sample is more than 10% above
that one, when the backlog ever exceeds WG_NOTIFY_BACKLOG_MAX, or when an alert is
missing or repeated. Ends with one
JSON line (also written to .local/bench/notify_soak.json). Not part of `make test`:
`make bench-notify-soak`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

import deployment as d  # bench/deployment.py (puts the repository on sys.path)
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings

OUT = d.ROOT / ".local" / "bench" / "notify_soak.json"
CHANNELS = ("hook", "digest")


@dataclass
class Receiver:
    """503 until `up`, then 200; counts, per channel, every alert id a 200 carried."""

    port: int = 0
    up: threading.Event = field(default_factory=threading.Event)
    refused: int = 0
    delivered: dict[str, Counter[str]] = field(
        default_factory=lambda: {c: Counter() for c in CHANNELS}
    )
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        with self.lock:
            if not self.up.is_set():
                self.refused += 1
                return web.Response(status=503)
            got = self.delivered[request.match_info["name"]]
            for a in body.get("alerts", [body.get("alert")]):
                got[a["alert_id"]] += 1
        return web.Response(status=200)


def notify_config(work: Path, port: int) -> Path:
    (work / "secret").write_text("whsec-notify-soak")
    path = work / "notify.toml"
    path.write_text(
        f"""
[notify]
attempts = 0
base_delay_seconds = 0.5
max_delay_seconds = 5
timeout_seconds = 5
workers_per_channel = 4

[channels.hook]
type = "webhook"
secret_file = "secret"
min_severity = "low"
url = "http://127.0.0.1:{port}/soak/hook"

[channels.digest]
type = "webhook"
secret_file = "secret"
min_severity = "low"
rate_per_minute = 60
url = "http://127.0.0.1:{port}/soak/digest"
"""
    )
    return path


def backlog_metrics(settings: Settings) -> tuple[float, float]:
    """(backlog, back-pressure seconds so far) from the worker's /metrics."""
    url = f"http://127.0.0.1:{settings.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("withdrawguard_notification_back")
    }
    return (
        values.get("withdrawguard_notification_backlog", 0.0),
        values.get("withdrawguard_notification_backpressure_seconds_total", 0.0),
    )


def produce(settings: Settings, rate: float, seconds: float, ids: list[str]) -> None:
    from tests.unit.notify_fakes import alert  # a fraud-alert payload in the contract's shape

    topic = t.TopicNames(settings).name(t.FRAUD_ALERTS)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
    start = time.monotonic()
    n = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate) + 1
        while n < due:
            cid = f"soak-{uuid.uuid4().hex[:10]}"
            payload = alert(customer_id=cid, alert_id=f"{cid}-a", severity="high")
            producer.send(topic, key=cid.encode(), value=orjson.dumps(payload))
            ids.append(payload["alert_id"])
            n += 1
        time.sleep(0.02)
    producer.flush(60)
    producer.close()


def committed_to_end(settings: Settings) -> bool:
    topic = t.TopicNames(settings).name(t.FRAUD_ALERTS)
    group = t.TopicNames(settings).sink_group("notify")
    parts = [TopicPartition(topic, p) for p in range(settings.partitions)]
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    probe = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers)
    try:
        ends = probe.end_offsets(parts)
        done = admin.list_group_offsets(group).get(group, {})
        return all(ends[tp] == 0 or (tp in done and done[tp].offset == ends[tp]) for tp in parts)
    finally:
        admin.close()
        probe.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the webhooks fail")
    ap.add_argument("--rate", type=float, default=5.0, help="alerts a second meanwhile")
    ap.add_argument("--backlog", type=int, default=None, help="WG_NOTIFY_BACKLOG_MAX")
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between RSS samples")
    ap.add_argument("--recovery-timeout", type=float, default=900.0)
    ap.add_argument("--keep", type=Path, default=None, help="keep the run's files and topics")
    args = ap.parse_args()
    from tests.integration.local_http import serving  # the tests' webhook receiver

    work = d.workdir(args.keep)
    receiver = Receiver()
    settings: Settings | None = None
    passed = False
    with serving(receiver.handle) as port:
        receiver.port = port
        extra: dict[str, Any] = {"notify_config": notify_config(work, port)}
        if args.backlog is not None:
            extra["notify_backlog_max"] = args.backlog
        settings = d.harness.isolated_settings(d.services(), "soak", work / "worker", **extra)
        limit = settings.notify_backlog_max
        running = d.start_workers(settings, 1, work)
        web = running.workers[0].settings  # start_workers gives each worker its own port
        try:
            ids: list[str] = []
            seconds = args.minutes * 60
            producing = threading.Thread(
                target=produce, args=(settings, args.rate, seconds, ids), daemon=True
            )
            samples: list[dict[str, float]] = []
            began = time.monotonic()
            producing.start()
            while producing.is_alive():
                backlog, paused = backlog_metrics(web)
                rss = running.rss_bytes() / 2**20
                at = time.monotonic() - began
                samples.append({"t": round(at, 1), "rss_mib": round(rss, 1),
                                "backlog": backlog, "paused_s": round(paused, 1)})  # fmt: skip
                print(f"{at:6.0f} s  RSS {rss:6.1f} MiB  backlog {backlog:5.0f}  "
                      f"paused {paused:6.1f} s  produced {len(ids)}", flush=True)  # fmt: skip
                producing.join(args.sample)
            rss_at_end = running.rss_bytes() / 2**20
            refused = receiver.refused
            print(f"webhooks up after {len(ids)} alerts; {refused} attempts refused", flush=True)
            receiver.up.set()
            recovered_at = time.monotonic()
            wanted = set(ids)
            while time.monotonic() - recovered_at < args.recovery_timeout:
                with receiver.lock:
                    if all(set(receiver.delivered[c]) >= wanted for c in CHANNELS):
                        break
                time.sleep(1)
            recovery = time.monotonic() - recovered_at
            time.sleep(10)  # a repeat would have arrived by now
            deadline = time.monotonic() + 30
            while not committed_to_end(settings) and time.monotonic() < deadline:
                time.sleep(1)
            committed = committed_to_end(settings)
            rss_after = running.rss_bytes() / 2**20
        finally:
            running.stop()
    with receiver.lock:
        missing = {c: len(wanted - set(receiver.delivered[c])) for c in CHANNELS}
        repeated = {c: sum(1 for n in receiver.delivered[c].values() if n > 1) for c in CHANNELS}
        extra_ids = {c: len(set(receiver.delivered[c]) - wanted) for c in CHANNELS}
    mib = [s["rss_mib"] for s in samples]
    growth = max(mib) / mib[0] - 1
    # From the first sample with the backlog at its bound: what the outage's length adds.
    full = next((i for i, s in enumerate(samples) if s["backlog"] >= limit), 0)
    plateau = max(mib[full:]) / mib[full] - 1
    result = {
        "bench": "notify_soak",
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "failing_minutes": args.minutes,
        "alerts": len(ids),
        "alerts_per_second": args.rate,
        "backlog_max": limit,
        "backlog_peak": max(s["backlog"] for s in samples),
        "backpressure_seconds": samples[-1]["paused_s"],
        "attempts_refused": refused,
        "rss_first_mib": mib[0],
        "rss_last_mib": mib[-1],
        "rss_max_mib": max(mib),
        "rss_min_mib": min(mib),
        "rss_at_recovery_mib": round(rss_at_end, 1),
        "rss_after_delivery_mib": round(rss_after, 1),
        "rss_growth_max_over_first": round(growth, 4),
        "backlog_full_at_seconds": samples[full]["t"],
        "rss_at_backlog_full_mib": mib[full],
        "rss_growth_max_over_backlog_full": round(plateau, 4),
        "recovery_seconds": round(recovery, 1),
        "missing": missing,
        "repeated": repeated,
        "unexpected": extra_ids,
        "committed_to_end": committed,
        "samples": samples,
    }
    passed = (
        plateau <= 0.10
        and result["backlog_peak"] <= limit
        and not any(missing.values())
        and not any(repeated.values())
        and committed
    )
    result["passed"] = passed
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary))
    d.cleanup(work, args.keep if args.keep is not None else (None if passed else work), settings)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
