"""What the Kafka benchmarks share: a fresh deployment on the local broker, loading it
with the generated history, real worker processes, their lag, CPU time and memory, and
py-spy profiles of them.

Deployments and worker processes come from the integration harness
(`tests/integration/harness.py`), so the benchmarks run the worker exactly as the tests do.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Producer
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration import harness  # noqa: E402 - the tests' deployment and worker

import history  # noqa: E402 - bench/history.py, the generated events
from withdrawguard.adapters.topic_admin import create_topics  # noqa: E402
from withdrawguard.contract import topics as t  # noqa: E402
from withdrawguard.registry.projection import SOURCES  # noqa: E402
from withdrawguard.settings import Settings, setting_fields  # noqa: E402

TOPIC_OF = {
    "login": t.LOGINS,
    "account_change": t.ACCOUNT_CHANGES,
    "trade": t.TRADES,
    "withdrawal": t.WITHDRAWALS,
}
# The registry sink, in a consumer group of its own (`<app id>-registry`), reads these.
REGISTRY_READS = SOURCES


def services() -> tuple[str, str]:
    """(bootstrap, redis url) from WG_KAFKA_BOOTSTRAP / WG_REDIS_URL, as the tests read them."""
    bootstrap = os.environ.get("WG_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    redis_url = os.environ.get("WG_REDIS_URL", "redis://127.0.0.1:6379/0")
    if not harness._kafka_answers(bootstrap) or not harness._redis_answers(redis_url):  # noqa: SLF001 - the integration harness's own probe, shared with the benchmarks
        where = f"no Kafka broker at {bootstrap} or no Redis at {redis_url}"
        sys.exit(f"{where}: {harness.HOW_TO_START}")
    return bootstrap, redis_url


OWN = {"kafka_bootstrap", "redis_url", "app_id", "topic_prefix", "data_dir", "web_port"}
"""Settings every benchmark deployment chooses for itself."""


def fresh_deployment(name: str, work: Path) -> Settings:
    """A deployment with a topic prefix, consumer group and data dir of its own, and
    whatever other worker settings the environment gives (for example
    WG_TABLE_MEMORY_MB=512), as a worker started by hand would take them."""
    return harness.isolated_settings(services(), name, work / "worker-0", **tuning())


def tuning(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The `WG_` settings of `environ` (default: this process's) that differ from the
    defaults, except those each deployment chooses for itself (`OWN`)."""
    given, default = Settings.from_env(environ), Settings()
    return {
        f.name: getattr(given, f.name)
        for f in setting_fields(Settings)
        if f.name not in OWN and getattr(given, f.name) != getattr(default, f.name)
    }


def another_group(settings: Settings, work: Path, tag: str) -> Settings:
    """The same input topics, read by a new consumer group (fresh internal topics, tables)."""
    s = replace(settings, app_id=f"{settings.app_id}-{tag}", data_dir=work / f"worker-{tag}")
    create_topics(s, log=lambda _line: None)
    return s


def producer(settings: Settings, linger_ms: int = 20) -> Producer:
    """librdkafka's producer: batches for preloading, `linger_ms=0` for latency runs.
    Partitioned by murmur2 of the key, as docs/contract.md asks producers to (librdkafka's
    own default is CRC32), so inputs keyed by customer id take the detector's fast path."""
    return Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "partitioner": "murmur2_random",
            "linger.ms": linger_ms,
            "batch.num.messages": 10_000,
            "queue.buffering.max.messages": 200_000,
        }
    )


def send(p: Producer, topic: str, key: bytes, value: bytes) -> None:
    while True:
        try:
            p.produce(topic, value=value, key=key)
            return
        except BufferError:  # the local queue is full: let librdkafka deliver some
            p.poll(0.05)


def preload(settings: Settings, events: int, customers: int, seed: int) -> Counter[str]:
    """Produce the generated history into the input topics; the count per input topic."""
    names = t.TopicNames(settings)
    topic_names = {k: names.name(v) for k, v in TOPIC_OF.items()}
    p, counts = producer(settings), Counter[str]()

    def put(body: dict[str, Any]) -> None:
        topic = topic_names[body["type"]]
        send(p, topic, body["customer_id"].encode(), orjson.dumps(body))
        counts[topic] += 1
        if len(counts) and sum(counts.values()) % 20_000 == 0:
            p.poll(0)

    history.generate(put, events, customers, seed)
    if p.flush(120) != 0:
        sys.exit("the broker did not take every preloaded message within 120 s")
    return counts


# ---------------------------------------------------------------- lag


@dataclass
class LagProbe:
    """Unprocessed messages of consumer groups, each on every topic it reads."""

    settings: Settings
    groups: dict[str, list[str]]  # group id -> topic names
    admin: KafkaAdminClient = field(init=False)
    probe: KafkaConsumer = field(init=False)

    def __post_init__(self) -> None:
        servers = self.settings.bootstrap_servers
        self.admin = KafkaAdminClient(bootstrap_servers=servers)
        self.probe = KafkaConsumer(bootstrap_servers=servers)
        n = self.settings.partitions
        self.parts = {
            group: [TopicPartition(topic, p) for topic in topics for p in range(n)]
            for group, topics in self.groups.items()
        }

    @classmethod
    def of_worker(cls, settings: Settings) -> LagProbe:
        """The detector's group on the inputs and internal topics, and the registry
        feed's group on the outputs it projects into Redis."""
        names = t.TopicNames(settings)
        read = [s.logical for s in t.SPECS if s.role in (t.Role.INPUT, t.Role.INTERNAL)]
        return cls(
            settings,
            {
                settings.app_id: [names.name(n) for n in read],
                names.sink_group("registry"): [names.name(n) for n in REGISTRY_READS],
            },
        )

    def lag(self) -> int:
        every = sorted({tp for parts in self.parts.values() for tp in parts})
        ends = self.probe.end_offsets(every)
        total = 0
        for group, parts in self.parts.items():
            done = self.admin.list_group_offsets(group).get(group, {})
            total += sum(ends[tp] - (done[tp].offset if tp in done else 0) for tp in parts)
        return total

    def close(self) -> None:
        self.admin.close()
        self.probe.close()


def wait_lag_zero(
    probe: LagProbe, alive: Callable[[], bool], started: float, timeout: float
) -> float:
    """Seconds from `started` until the group has nothing left to process."""
    last_report = time.perf_counter()
    while True:
        lag = probe.lag()
        now = time.perf_counter()
        if lag <= 0:
            return now - started
        if not alive():
            sys.exit("a worker exited before catching up; see its log")
        if now - started > timeout:
            sys.exit(f"still {lag:,} messages behind after {timeout:.0f} s")
        if now - last_report > 15:
            print(f"  ... {now - started:5.0f} s, {lag:,} messages to go", flush=True)
            last_report = now
        time.sleep(0.25)


# ---------------------------------------------------------------- workers


@dataclass
class Running:
    """Worker processes of one deployment, started at `started` (perf_counter)."""

    workers: list[harness.Worker]
    started: float
    ready: float

    @property
    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc is not None]

    def alive(self) -> bool:
        return all(w.proc is not None and w.proc.poll() is None for w in self.workers)

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)

    def rss_bytes(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids)

    def table_memory_bytes(self) -> int | None:
        """What the workers' `/metrics` say their tables' RocksDB memory is (block caches,
        memtables, table readers; refreshed every 30 s), or None before the first report."""
        found = self.metric_samples(("withdrawguard_table_memory_bytes",))
        return int(found["withdrawguard_table_memory_bytes"]) if found else None

    def metric_samples(self, names: tuple[str, ...]) -> dict[str, float]:
        """The samples of these names on the workers' `/metrics`, summed over workers and
        labels; a name no worker reports is left out."""
        totals: dict[str, float] = {}
        for w in self.workers:
            url = f"http://127.0.0.1:{w.settings.web_port}/metrics"
            with urllib.request.urlopen(url, timeout=5) as resp:
                text = resp.read().decode()
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if sample.name in names:
                        totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
        return totals

    def stop(self) -> None:
        for w in self.workers:
            w.stop(signal.SIGTERM)


def start_workers(settings: Settings, count: int, work: Path) -> Running:
    """`count` worker processes in one consumer group, launched together."""
    workers = []
    for n in range(count):
        s = replace(settings, data_dir=settings.data_dir / f"w{n}", web_port=harness._free_port())  # noqa: SLF001 - the integration harness's own helper, shared with the benchmarks
        s.data_dir.mkdir(parents=True, exist_ok=True)
        workers.append(harness.Worker(s, work / f"{settings.app_id}-w{n}.log"))
    started = time.perf_counter()
    for w in workers:  # each start returns when that worker answers /ready
        w.start(timeout=180)
    return Running(workers, started, time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- profiles


@dataclass
class Profiler:
    """py-spy sampling one process into collapsed stacks."""

    pid: int
    out: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        cmd = [str(spy), "record", "--pid", str(self.pid), "--format", "raw", "--rate", "50"]
        cmd += ["--output", str(self.out), "--nonblocking"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes the profile and exits
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return
        if not self.out.exists():
            print(f"py-spy wrote no profile: {err.decode(errors='replace')[-300:]}")


def top_entries(collapsed: Path, n: int = 15) -> tuple[list[tuple[str, float]], int]:
    """The functions where the most samples were taken (self time), as (name, share)."""
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not frames or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        leaf = frames[-1]
        name, _, where = leaf.partition(" (")
        own[f"{name} ({where.split(':')[0].split('site-packages/')[-1]}"] += samples
    return [(k, v / total) for k, v in own.most_common(n)], total


def workdir(keep: Path | None) -> Path:
    return keep or Path(tempfile.mkdtemp(prefix="wg-bench-"))


def cleanup(work: Path, keep: Path | None, settings: Settings | None = None) -> None:
    """Remove the run's work directory and, given its settings, its topics and consumer
    groups from the broker; with `keep` (for a post-mortem) leave all of them."""
    if keep is not None:
        return
    shutil.rmtree(work, ignore_errors=True)
    if settings is not None:
        remove_from_broker(settings)


def remove_from_broker(settings: Settings) -> None:
    """Delete a deployment's topics (inputs, outputs, internal topics, Faust's changelogs)
    and consumer groups, so that the broker does not gather the partitions of every run
    (a broker holding thousands of partitions takes minutes to start)."""
    ours = (settings.topic_prefix, f"{settings.app_id}-")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        topics = [name for name in admin.list_topics() if name.startswith(ours)]
        if topics:
            admin.delete_topics(topics)
        groups = [
            g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(settings.app_id)
        ]
        if groups:
            admin.delete_groups(groups)
    finally:
        admin.close()
