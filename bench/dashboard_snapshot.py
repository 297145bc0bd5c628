"""A picture of the Grafana dashboard without Grafana: run a worker, play customers
through it, scrape its /metrics every second and draw the dashboard's main panels with
the same arithmetic as its PromQL (rates over a window, histogram_quantile).

    .venv/bin/python bench/dashboard_snapshot.py [--seconds 30] [--out docs/img/dashboard.png]

Needs Kafka and Redis (`make up`) and matplotlib (`pip install --group docs`). The
worker runs as an isolated deployment (its own topics, group and port), whose topics
are deleted at the end.
"""

from __future__ import annotations

import argparse
import bisect
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from kafka import KafkaAdminClient, KafkaProducer
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from prometheus_client.parser import text_string_to_metric_families

from withdrawguard.adapters.topic_admin import create_topics
from withdrawguard.contract.topics import TopicNames
from withdrawguard.settings import Settings, setting_fields
from withdrawguard.sim import scenarios as s

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 10  # seconds: the range of rate() and of the quantiles
Sample = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
    for f in setting_fields(Settings):
        value = getattr(settings, f.name)
        if value is not None:
            env[f"WG_{f.name.upper()}"] = str(value)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "withdrawguard", "worker"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the worker exited; read {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/ready", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit(f"the worker was not ready within 120 s; read {log}")


def scrape(settings: Settings) -> Sample:
    with urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {
        (smp.name, tuple(sorted(smp.labels.items()))): smp.value
        for family in text_string_to_metric_families(text)
        for smp in family.samples
    }


def play(settings: Settings, stop: threading.Event) -> None:
    """Honest customers all the time, an SBI chain every few seconds, some bad input."""
    names = TopicNames(settings)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
    rng = random.Random(7)
    run = uuid.uuid4().hex[:6]
    pending: list[tuple[float, list[s.Message]]] = []
    tick = 0
    while not stop.is_set():
        now = datetime.now(UTC).replace(microsecond=0)
        batch: list[s.Message] = []
        for i in range(rng.randint(3, 8)):
            msgs = s.honest_withdrawal(f"honest-{run}-{tick}-{i}", now - timedelta(minutes=5))
            batch += msgs[:-1]
            pending.append((time.monotonic() + 2, msgs[-1:]))
        if tick % 4 == 0:
            mule = {"bank_code": "0009", "branch_code": "222", "account_number": f"9{tick:06d}"}
            ip = f"198.18.{tick % 250}.{rng.randint(1, 254)}"
            chain = s.sbi_chain(f"victim-{run}-{tick}", now - timedelta(minutes=30), mule, ip)
            batch += chain[:-1]
            pending.append((time.monotonic() + 2, chain[-1:]))
        due = [m for at, msgs in pending if at <= time.monotonic() for m in msgs]
        pending = [(at, msgs) for at, msgs in pending if at > time.monotonic()]
        for topic, body in batch + due:
            producer.send(
                names.name(topic), key=body["customer_id"].encode(), value=orjson.dumps(body)
            )
        if tick % 3 == 0:
            bad = b'{"type": "login"}' if tick % 2 else b"{not json"
            producer.send(names.name("logins"), key=b"bad", value=bad)
        producer.flush()
        tick += 1
        stop.wait(1.0)
    producer.close()


def series(samples: list[Sample], name: str, by: str) -> dict[str, list[float]]:
    """Per value of label `by`: the sum of `name`'s samples, at each scrape."""
    out: dict[str, list[float]] = defaultdict(lambda: [0.0] * len(samples))
    for i, sample in enumerate(samples):
        for (n, labels), value in sample.items():
            if n == name:
                out[dict(labels).get(by, "")][i] += value
    return dict(out)


def rate(values: list[float]) -> list[float]:
    return [(values[i] - values[max(0, i - WINDOW)]) / WINDOW for i in range(len(values))]


def quantile(samples: list[Sample], name: str, q: float) -> list[float]:
    """histogram_quantile(q, rate(name_bucket[WINDOW])) at each scrape, NaN when empty."""
    buckets = series(samples, f"{name}_bucket", "le")
    bounds = sorted(buckets, key=float)
    out = []
    for i in range(len(samples)):
        j = max(0, i - WINDOW)
        counts = [buckets[b][i] - buckets[b][j] for b in bounds]
        total = counts[-1] if counts else 0.0
        if total <= 0:
            out.append(float("nan"))
            continue
        k = bisect.bisect_left(counts, q * total)
        upper = float(bounds[k])
        lower = float(bounds[k - 1]) if k > 0 else 0.0
        below = counts[k - 1] if k > 0 else 0.0
        if upper == float("inf"):
            out.append(lower)
            continue
        inside = counts[k] - below
        out.append(lower + (upper - lower) * ((q * total - below) / inside if inside else 1.0))
    return out


def draw(samples: list[Sample], times: list[float], settings: Settings, out: Path) -> None:
    t = [x - times[0] for x in times]
    fig = Figure(figsize=(16, 8.5))
    axes = fig.subplots(2, 3)
    fig.suptitle(
        f"withdrawguard: {round(t[-1])} s of honest customers and SBI chains through one "
        "worker (the Grafana dashboard's queries, computed from /metrics)",
        fontsize=12,
    )

    def panel(ax: Axes, title: str, lines: dict[str, list[float]], unit: str) -> None:
        for label, values in sorted(lines.items()):
            ax.plot(t, values, label=short(label), linewidth=1.4)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("seconds", fontsize=8)
        ax.set_ylabel(unit, fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
        if lines:
            ax.legend(fontsize=7, loc="upper left")

    def short(topic: str) -> str:
        return topic.removeprefix(settings.topic_prefix).removeprefix(f"{settings.app_id}-")

    def rates(name: str, by: str) -> dict[str, list[float]]:
        return {k: rate(v) for k, v in series(samples, name, by).items()}

    panel(
        axes[0][0],
        "Events consumed by topic",
        rates("withdrawguard_events_consumed_total", "topic"),
        "events/s",
    )
    panel(
        axes[0][1],
        "Verdicts by decision",
        rates("withdrawguard_verdicts_total", "decision"),
        "verdicts/s",
    )
    holds = {r: v[-1] for r, v in series(samples, "withdrawguard_holds_total", "reason").items()}
    bars = axes[0][2]
    bars.barh(sorted(holds), [holds[r] for r in sorted(holds)], color="tab:orange")
    bars.set_title("Holds placed, by reason (whole run)", fontsize=10)
    bars.set_xlabel("holds", fontsize=8)
    bars.tick_params(labelsize=8)
    bars.grid(alpha=0.3, axis="x")
    arrival = "withdrawguard_decision_latency_from_arrival_seconds"
    latency = {
        f"p{round(q * 100)}": [v * 1000 for v in quantile(samples, arrival, q)]
        for q in (0.5, 0.95, 0.99)
    }
    panel(axes[1][0], "Decision latency from arrival", latency, "ms")
    lag = series(samples, "withdrawguard_consumer_lag_messages", "topic")
    panel(axes[1][1], "Consumer lag by topic (sum of partitions)", lag, "messages")
    panel(
        axes[1][2],
        "Dead letters by kind",
        rates("withdrawguard_dead_letters_total", "kind"),
        "messages/s",
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img/dashboard.png")
    args = parser.parse_args()

    run = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="wg-snapshot-") as tmp:
        settings = replace(
            Settings.from_env(),
            app_id=f"wg-snapshot-{run}",
            topic_prefix=f"snapshot-{run}.",
            data_dir=Path(tmp) / "worker",
            web_port=free_port(),
            web_host="127.0.0.1",
        )
        create_topics(settings, log=lambda _line: None)
        log = Path(tmp) / "worker.log"
        worker = start_worker(settings, log)
        stop = threading.Event()
        player = threading.Thread(target=play, args=(settings, stop), daemon=True)
        samples: list[Sample] = []
        times: list[float] = []
        try:
            player.start()
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                times.append(time.monotonic())
                samples.append(scrape(settings))
                time.sleep(1.0)
        finally:
            stop.set()
            player.join(timeout=10)
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
            delete_topics(settings)
    draw(samples, times, settings, args.out)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


def delete_topics(settings: Settings) -> None:
    """Remove the run's topics: inputs, outputs, internal and Faust's changelogs."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        ours = [
            t
            for t in admin.list_topics()
            if t.startswith((settings.topic_prefix, f"{settings.app_id}-"))
        ]
        if ours:
            admin.delete_topics(ours)
    finally:
        admin.close()


if __name__ == "__main__":
    sys.exit(main())
