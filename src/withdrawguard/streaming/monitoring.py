"""Metrics on the worker: `/metrics`, Faust's own sensors, and the periodic gauges.

With Prometheus metrics, Faust's Prometheus sensor (`faust_*` metric names) is set up on
the same registry, and its `/metrics` page is the only one: it renders the whole
registry, ours and Faust's together.

Two gauges are refreshed by Faust timers on every worker:

- consumer lag, every `LAG_INTERVAL` seconds: for each partition assigned to this
  worker of a topic an agent reads, the log end offset (asked of the broker, the
  consumer's `highwaters()`) minus the offset this worker last committed for it (Faust's
  monitor records every commit). Before the worker's first commit on a partition the
  consumer's position stands in: after an assignment that is the committed offset it
  resumed from. This is Kafka's usual definition (what `kafka-consumer-groups`
  shows), so it includes up to one commit interval of processed-but-uncommitted work.
- table sizes, every `TABLE_INTERVAL` seconds: `len(table)`, the keys of the table's
  partitions this worker holds. On RocksDB that counts keys by iterating, hence the
  longer interval.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import TP

from withdrawguard.adapters.metrics import Metrics, PrometheusMetrics
from withdrawguard.streaming.stall_watch import StallGuard

log = logging.getLogger(__name__)

LAG_INTERVAL = 5.0
TABLE_INTERVAL = 30.0
FAUST_PREFIX = "faust"
"""Faust's sensor would name its metrics after the app id; a fixed prefix keeps the
dashboard and the alert rules the same for every deployment."""


def register_metrics(
    app: faust.App, metrics: Metrics, source_topics: Collection[str], tables: Iterable[Any]
) -> None:
    """Serve `/metrics` (for Prometheus metrics) and start the lag and table timers. The
    lag timer also watches for stalled partitions (`stall_watch`)."""
    if isinstance(metrics, PrometheusMetrics):
        setup_prometheus_sensors(
            app, pattern="/metrics", registry=metrics.registry, name_prefix=FAUST_PREFIX
        )
    watched = list(tables)
    guard = StallGuard(app, metrics)

    async def report_consumer_lag() -> None:
        try:
            ends, done = await progress(app, source_topics)
        except Exception:  # a failed probe (say, mid-rebalance) is tried again next tick
            log.warning("could not measure consumer lag", exc_info=True)
            return
        metrics.consumer_lag({(tp.topic, tp.partition): max(0, ends[tp] - done[tp]) for tp in done})
        await guard.check(done, ends)

    async def report_table_sizes() -> None:
        for table in watched:
            metrics.table_size(table.name, len(table))

    app.timer(LAG_INTERVAL, name="withdrawguard.consumer_lag")(report_consumer_lag)
    app.timer(TABLE_INTERVAL, name="withdrawguard.table_sizes")(report_table_sizes)


async def progress(app: faust.App, topics: Collection[str]) -> tuple[dict[TP, int], dict[TP, int]]:
    """For this worker's partitions of `topics`: (log end offsets, committed offsets)."""
    consumer = app.consumer
    tps = sorted(tp for tp in consumer.assignment() if tp.topic in topics)
    if not tps:
        return {}, {}
    highwaters = await consumer.highwaters(*tps)
    committed = app.monitor.tp_committed_offsets
    ends: dict[TP, int] = {}
    done: dict[TP, int] = {}
    for tp in tps:
        offset = committed.get(tp)
        if offset is None:
            offset = await consumer.position(tp)
        end = highwaters.get(tp)
        if end is not None and offset is not None:
            ends[tp], done[tp] = end, offset
    return ends, done
