"""Metrics: the one Prometheus implementation of what withdrawguard counts, and the one
that counts nothing.

There is no interface here: each part of the worker declares the few calls it makes as a
narrow `Protocol` of its own, in its own module (`streaming.detect.pipeline.DetectorMetrics`,
`notify.channel.NotifyMetrics`, `policy.engines.SelectionMetrics`, ...), and
`withdrawguard.worker.app.WorkerMetrics` is all of them together. `PrometheusMetrics`
(with `policy_metrics.PrometheusPolicyMetrics`, on the same registry) and `NullMetrics`
satisfy every one of them.

The Prometheus implementation registers its metrics on the `CollectorRegistry` it is
given, never on prometheus-client's global default registry, so a test can build as
many as it likes. Every name starts with `withdrawguard_`; counters end in `_total`
and durations are in seconds. The worker serves them, together with the `faust_*`
metrics of its lean Faust monitor (from the same registry), on `/metrics`. Implementations must
never raise into the stream.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from withdrawguard.adapters.case_metrics import PrometheusCaseMetrics
from withdrawguard.adapters.prometheus_base import PREFIX, PrometheusBase

__all__ = ["PREFIX", "NullMetrics", "PrometheusBase", "PrometheusMetrics"]

ARRIVAL_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds from a record reaching Kafka to its verdict: milliseconds when healthy."""

EVENT_TIME_BUCKETS = (
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    1800.0, 3600.0,
)  # fmt: skip
"""Seconds from `occurred_at` to the verdict: includes producer delay, so up to minutes."""

BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)
"""Events a batch took: one at a time when idle, up to WG_BATCH_MAX under load."""


class NullMetrics:
    """Counts nothing: for tools and tests that do not care. It has every call any part
    of withdrawguard makes (the stream's, the notifier's, the policy versions')."""

    def event_consumed(self, topic: str, event_type: str) -> None:
        pass

    def batch(self, agent: str, events: int) -> None:
        pass

    def dead_letter(self, kind: str) -> None:
        pass

    def verdict(self, decision: str) -> None:
        pass

    def hold(self, reason_code: str) -> None:
        pass

    def alert(self, severity: str) -> None:
        pass

    def notice(self, kind: str) -> None:
        pass

    def decision_latency(self, seconds_since_occurred: float, seconds_since_arrival: float) -> None:
        pass

    def consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        pass

    def table_size(self, table: str, n: int) -> None:
        pass

    def table_memory(self, table: str, kind: str, n_bytes: int) -> None:
        pass

    def notification_sent(self, channel: str) -> None:
        pass

    def notification_failed(self, channel: str) -> None:
        pass

    def notification_deduplicated(self, channel: str) -> None:
        pass

    def notification_backlog(self, n: int) -> None:
        pass

    def notification_backpressure(self, seconds: float) -> None:
        pass

    def registry_write(self, topic: str) -> None:
        pass

    def registry_retry(self) -> None:
        pass

    def registry_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        pass

    def partition_stall(self, topic: str) -> None:
        pass

    def worker_wedged(self, wedged: bool) -> None:
        pass

    def cases_due(self, inbox: str, open_cases: int, past_due: int) -> None:
        pass

    def cases_by_status(self, inbox: str, counts: Mapping[str, int]) -> None:
        pass

    def cases_oldest_open(self, inbox: str, seconds: float) -> None:
        pass

    def case_proposals_waiting(self, inbox: str, waiting: int, oldest_seconds: float) -> None:
        pass

    def case_first_action(self, inbox: str, seconds: float) -> None:
        pass

    def case_closed(self, inbox: str, outcome: str, seconds: float) -> None:
        pass

    def running(self, role: str, version: str | None) -> None:
        pass

    def load_failed(self, role: str, version: str) -> None:
        pass

    def shadow_verdict(self, outcome: str, reasons: Iterable[str]) -> None:
        pass

    def shadow_failed(self) -> None:
        pass


class PrometheusMetrics(PrometheusCaseMetrics):
    """What the stream counts, as prometheus-client objects registered on `registry`
    (the case work's metrics come from `case_metrics.PrometheusCaseMetrics`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        counter, gauge = self._counter, self._gauge
        self._consumed = counter(
            "events_consumed", "Messages decoded, by topic and event type.", "topic", "type"
        )
        # Every message counts here: keep each label pair's child instead of looking it up.
        self._consumed_by: dict[tuple[str, str], Counter] = {}
        self._dead = counter("dead_letters", "Messages sent to dead-letters, by error.", "kind")
        self._verdicts = counter("verdicts", "Verdicts sent, by decision.", "decision")
        self._holds = counter("holds", "Holds placed, once per reason code.", "reason")
        self._alerts = counter("alerts", "Alerts sent, by severity.", "severity")
        self._notices = counter("customer_notices", "Customer notices sent, by kind.", "kind")
        self._sent = counter("notifications_sent", "Notifications delivered.", "channel")
        self._failed = counter(
            "notifications_failed", "Notifications failed after the last retry.", "channel"
        )
        self._dedup = counter(
            "notifications_deduplicated", "Notifications suppressed as repeats.", "channel"
        )
        self._backlog = gauge(
            "notification_backlog",
            "Alerts the notifier holds in memory: retrying, queued, or awaiting a digest.",
        )
        self._backpressure = counter(
            "notification_backpressure_seconds",
            "Seconds the notify feed spent paused because its backlog was full.",
        )
        self._registry_writes = counter(
            "registry_writes", "Records projected into the Redis hold registry.", "topic"
        )
        self._registry_retries = counter("registry_retries", "Registry writes retried.")
        self._stalls = counter(
            "partition_stalls",
            "Partitions found behind with no progress for WG_STALL_SECONDS (changelog "
            "partitions: a table restore that received nothing from them that long), resumed.",
            "topic",
        )
        self._wedged = gauge(
            "worker_wedged",
            "1 while this worker holds input and has committed nothing for WG_WEDGE_SECONDS "
            "(its /health answers 503 so that the liveness probe restarts it), else 0.",
        )
        self._from_arrival = Histogram(
            f"{PREFIX}_decision_latency_from_arrival_seconds",
            "Seconds from the deciding event's Kafka record timestamp to its verdicts.",
            buckets=ARRIVAL_BUCKETS,
            registry=registry,
        )
        self._from_occurred = Histogram(
            f"{PREFIX}_decision_latency_from_occurred_seconds",
            "Seconds from the deciding event's occurred_at to its verdicts.",
            buckets=EVENT_TIME_BUCKETS,
            registry=registry,
        )
        self._batch = Histogram(
            f"{PREFIX}_batch_events",
            "Events in each batch a table-writing agent took (WG_BATCH_MAX at most), by agent.",
            ["agent"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self._batch_by: dict[str, Histogram] = {}
        self._lag = gauge(
            "consumer_lag_messages",
            "Log end offset minus committed offset, per partition this worker consumes.",
            "topic",
            "partition",
        )
        self._lag_labels: set[tuple[str, str]] = set()
        self._registry_lag = gauge(
            "registry_lag_messages",
            "Records of an output partition the registry feed has not yet applied to Redis.",
            "topic",
            "partition",
        )
        self._registry_lag_labels: set[tuple[str, str]] = set()
        self._tables = gauge(
            "table_keys", "Keys in the table's partitions held by this worker.", "table"
        )
        self._table_memory = gauge(
            "table_memory_bytes",
            "Memory of the RocksDB partitions held by this worker: memtables and "
            "table_readers per table, block_cache once for the cache they share (table=all).",
            "table",
            "kind",
        )

    def event_consumed(self, topic: str, event_type: str) -> None:
        child = self._consumed_by.get((topic, event_type))
        if child is None:
            child = self._consumed_by[(topic, event_type)] = self._consumed.labels(
                topic, event_type
            )
        child.inc()

    def batch(self, agent: str, events: int) -> None:
        child = self._batch_by.get(agent)
        if child is None:
            child = self._batch_by[agent] = self._batch.labels(agent)
        child.observe(events)

    def dead_letter(self, kind: str) -> None:
        self._dead.labels(kind).inc()

    def verdict(self, decision: str) -> None:
        self._verdicts.labels(decision).inc()

    def hold(self, reason_code: str) -> None:
        self._holds.labels(reason_code).inc()

    def alert(self, severity: str) -> None:
        self._alerts.labels(severity).inc()

    def notice(self, kind: str) -> None:
        self._notices.labels(kind).inc()

    def decision_latency(self, seconds_since_occurred: float, seconds_since_arrival: float) -> None:
        # A producer clock slightly ahead of ours gives a negative age: count it as zero.
        self._from_occurred.observe(max(0.0, seconds_since_occurred))
        self._from_arrival.observe(max(0.0, seconds_since_arrival))

    def consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        self._lag_labels = _set_per_partition(self._lag, self._lag_labels, lags)

    def partition_stall(self, topic: str) -> None:
        self._stalls.labels(topic).inc()

    def worker_wedged(self, wedged: bool) -> None:
        self._wedged.set(1 if wedged else 0)

    def registry_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        self._registry_lag_labels = _set_per_partition(
            self._registry_lag, self._registry_lag_labels, lags
        )

    def table_size(self, table: str, n: int) -> None:
        self._tables.labels(table).set(n)

    def table_memory(self, table: str, kind: str, n_bytes: int) -> None:
        self._table_memory.labels(table, kind).set(n_bytes)

    def notification_sent(self, channel: str) -> None:
        self._sent.labels(channel).inc()

    def notification_failed(self, channel: str) -> None:
        self._failed.labels(channel).inc()

    def notification_deduplicated(self, channel: str) -> None:
        self._dedup.labels(channel).inc()

    def notification_backlog(self, n: int) -> None:
        self._backlog.set(n)

    def notification_backpressure(self, seconds: float) -> None:
        self._backpressure.inc(seconds)

    def registry_write(self, topic: str) -> None:
        self._registry_writes.labels(topic).inc()

    def registry_retry(self) -> None:
        self._registry_retries.inc()


def _set_per_partition(
    gauge: Gauge, shown: set[tuple[str, str]], values: Mapping[tuple[str, int], int]
) -> set[tuple[str, str]]:
    """Set a (topic, partition) gauge to `values`, dropping partitions no longer held."""
    current = {(topic, str(partition)) for topic, partition in values}
    for gone in shown - current:
        gauge.remove(*gone)
    for (topic, partition), value in values.items():
        gauge.labels(topic, str(partition)).set(value)
    return current
