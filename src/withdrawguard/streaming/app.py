"""The Faust application: the app, its topics and tables, and the detector's agents.

Nothing happens at import. `build_detector(settings, engine)` makes the Faust app with
our extensions of Faust installed for it alone (`faust_internals`) and registers the
pipeline's agents; it registers nothing else. The worker's one wiring point,
`withdrawguard.worker.app.create_app`, adds health, the console, the decision API, the
sinks, the policy feed and the guards around it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import faust
from faust.types import TableT
from prometheus_client import CollectorRegistry

from withdrawguard.adapters.kafka_security import faust_credentials
from withdrawguard.adapters.metrics import NullMetrics, PrometheusMetrics
from withdrawguard.adapters.policy_metrics import PrometheusPolicyMetrics
from withdrawguard.contract import topics as t
from withdrawguard.contract.records import Produce, Record
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import Engine
from withdrawguard.policy.engines import SelectionMetrics
from withdrawguard.settings import Settings
from withdrawguard.streaming import faust_internals
from withdrawguard.streaming.detect.pipeline import DetectorMetrics, Pipeline
from withdrawguard.streaming.detect.placement import Placement
from withdrawguard.streaming.detect.shadow_run import ShadowMetrics
from withdrawguard.streaming.faust_internals.changelog import app_batches
from withdrawguard.streaming.faust_internals.introspect import partition_count
from withdrawguard.streaming.faust_internals.send_now import app_send_now
from withdrawguard.streaming.faust_internals.table_store import TableMemory


class PolicyMetrics(SelectionMetrics, ShadowMetrics, Protocol):
    """Policy versions: which one runs (`EngineSelection`), how the shadow compares."""


@dataclass
class Detector:
    """The app and handles the tests and the web layer need."""

    app: faust.App
    pipeline: Pipeline
    settings: Settings
    metrics: DetectorMetrics
    memory: TableMemory | None
    """The one memory budget of every RocksDB table partition (None: memory store)."""
    policy_metrics: PolicyMetrics
    """The pipeline's shadow counts, and the engine selection's (`worker.app`)."""


def build_detector(
    settings: Settings, engine: Engine, metrics: DetectorMetrics | None = None, **overrides: Any
) -> Detector:
    """The Faust app deciding with `engine`, with its topics, tables and agents."""
    names = t.TopicNames(settings)
    memory_store = settings.store == "memory"
    config: dict[str, Any] = {
        "broker": settings.broker_url,
        # our store, consumer transport and table manager (streaming/faust_internals/)
        **faust_internals.app_options(settings.broker_url, memory_store),
        "datadir": str(settings.data_dir.absolute()),
        "web_bind": settings.web_host,
        "web_host": settings.web_host,
        "web_port": settings.web_port,
        # Where the other workers forward the console's requests for a customer this one
        # owns (web/console/views.py). Faust's NODE_CANONICAL_URL, when set, wins over it.
        "canonical_url": settings.advertised_url,
        "web_enabled": True,
        "topic_partitions": settings.partitions,
        "topic_replication_factor": settings.replication_factor,
        "consumer_auto_offset_reset": "earliest",
        # Warm copies of other workers' table partitions (docs/reliability.md, Standby
        # replicas): a takeover restores only what the copy had not read yet.
        "table_standby_replicas": settings.table_standby_replicas,
        "autodiscover": False,
        "logging_config": None,
        # --- reliability (docs/reliability.md; tests/faults show each) ---
        # At-least-once: a crash replays from the last commit and the engine makes the
        # replay idempotent (repeats are dropped, a repeated withdrawal re-sends its
        # records unchanged). Faust's exactly_once would not cover Redis or webhooks.
        "processing_guarantee": "at_least_once",
        # Every output acknowledged by all in-sync replicas before the offset moves on.
        "producer_acks": -1,
        # A dead or paused worker loses its partitions in seconds, not Faust's 60 s, and
        # a restarted one is not kept waiting that long for the old member to expire.
        "broker_session_timeout": float(settings.kafka_session_timeout),
        "broker_heartbeat_interval": float(settings.kafka_heartbeat_interval),
        # Faust's defaults, pinned: a RocksDB store ahead of its changelog stops recovery
        # with ConsistencyError rather than serve state Kafka no longer has (#176/#596);
        # a rebalance or stop first finishes the events agents are processing (#517).
        "recovery_consistency_check": True,
        "stream_wait_empty": True,
        # --- end reliability ---
        # -- throughput and latency (bench/throughput.py, bench/latency.py, docs/performance.md)
        # Outputs must not wait long for a batch to fill (a payment system is waiting), but
        # a few milliseconds turn thousands of tiny produce requests into a few large ones.
        "producer_linger": 0.005,
        "producer_max_batch_size": 256 * 1024,
        "broker_commit_every": 10_000,
        # Faust's compiled fast paths (faust_internals.SPEED_OPTIONS, issue 29)
        **faust_internals.SPEED_OPTIONS,
        # -- end of throughput and latency
    }
    # RocksDB: every partition of every table draws on one memory budget (a block cache
    # with the memtables charged to it, faust_internals/table_store.py); small memtables,
    # so each flush is short. Faust's defaults (a 2 GiB cache and 3 x 64 MiB memtables per
    # partition) let the worker's memory grow with every key and partition it touches.
    memory = None if memory_store else TableMemory(settings.table_memory_mb * 1024**2)
    rocksdb_options = {
        "memory": memory,
        "write_buffer_size": 4 * 1024**2,
        "max_write_buffer_number": 2,
    }
    config.update(faust_credentials(settings))  # TLS and SASL: WG_KAFKA_SECURITY_PROTOCOL
    config.update(overrides)
    app = faust.App(settings.app_id, **config)

    def topic(logical: str, *extra: str) -> faust.TopicT:
        return app.topic(
            names.name(logical),
            *(names.name(x) for x in extra),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
        )

    def table(name: str) -> TableT[bytes, bytes]:
        # key_type/value_type bytes select the raw codec: we encode state ourselves.
        return app.Table(
            name,
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=settings.partitions,
            options=rocksdb_options if memory is not None else None,  # the store copies it
        )

    if metrics is None:
        metrics = PrometheusMetrics(CollectorRegistry())
    policy_metrics = _policy_metrics(metrics)
    pipeline = Pipeline(
        engine=engine,
        crossref=CrossReference(engine.policy),
        settings=settings,
        input_types={names.name(k): v for k, v in t.INPUT_EVENT_TYPES.items()},
        inputs=topic(
            t.LOGINS,
            t.ACCOUNT_CHANGES,
            t.WITHDRAWALS,
            t.CASE_DECISIONS,
            t.TRADES,
            t.CUSTOMER_RESPONSES,
        ),
        customer_events=topic(t.CUSTOMER_EVENTS),
        destination_observations=topic(t.DESTINATION_OBSERVATIONS),
        ip_observations=topic(t.IP_OBSERVATIONS),
        device_observations=topic(t.DEVICE_OBSERVATIONS),
        decisions=topic(t.WITHDRAWAL_DECISIONS),
        holds=topic(t.WITHDRAWAL_HOLDS),
        alerts=topic(t.FRAUD_ALERTS),
        notices=topic(t.CUSTOMER_NOTICES),
        dead_letters=topic(t.DEAD_LETTERS),
        shadow_decisions=topic(t.SHADOW_DECISIONS),
        customers=table("customers"),
        destinations=table("destinations"),
        source_ips=table("source-ips"),
        devices=table("devices"),
        metrics=metrics,
        policy_metrics=policy_metrics,
        placement=_placement(app, names),
        produce=producer_of(app),
        produce_many=app_batches(app),
        send_now=app_send_now(app),
        partitions=lambda topic: partition_count(app, topic) or settings.partitions,
    )
    pipeline.register(app)
    return Detector(app, pipeline, settings, metrics, memory, policy_metrics)


def _policy_metrics(metrics: DetectorMetrics) -> PolicyMetrics:
    """Prometheus policy metrics on the stream metrics' registry; else none."""
    if isinstance(metrics, PrometheusMetrics):
        return PrometheusPolicyMetrics(metrics.registry)
    return NullMetrics()


def producer_of(app: faust.App) -> Produce:
    """Records straight to the worker's producer (Faust's aiokafka producer): awaiting
    the result enqueues a record, awaiting what it returns waits for the broker."""

    async def produce(record: Record) -> Awaitable[Any]:
        topic, key, value, partition, timestamp = record
        return await app.producer.send(topic, key, value, partition, timestamp, None)

    return produce


def _placement(app: faust.App, names: t.TopicNames) -> Placement | None:
    """Where inputs may be detected in place: with Faust's default partitioner only (a
    partitioner of one's own may choose otherwise), by the partition counts in the
    worker's consumer's cluster metadata."""
    # Any: a Param descriptor whose value is a callable, which mypy binds as a method.
    if cast(Any, app.conf).producer_partitioner is not None:
        return None
    return Placement(
        customer_events=names.name(t.CUSTOMER_EVENTS),
        partition_count=lambda topic: partition_count(app, topic),
    )
