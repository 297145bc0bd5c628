"""Metrics on the worker: `/metrics`, Faust's own sensors, and the periodic gauges.

Faust's own Monitor is replaced by the lean one of `faust_internals.sensors`, which keeps
only what is read of it: with Prometheus metrics, the `faust_*` metrics the dashboard uses
(`messages_received`, per topic, `events_runtime_ms`, `producer_send_latency`, the
rebalance gauges), exported from the same registry. The `/metrics` page is the only one:
it renders the whole registry, ours and Faust's together.

Two gauges are refreshed by Faust timers on every worker:

- consumer lag, every `LAG_INTERVAL` seconds: for each partition assigned to this
  worker of a topic an agent reads, the log end offset minus the group's committed
  offset, both asked of the broker by `adapters.group_offsets` on connections of its own
  (through the worker's consumer, a stuck consumer would stop its own lag from being
  reported: this was seen). This is Kafka's usual definition (what
  `kafka-consumer-groups` shows), so it includes up to one commit interval of
  processed-but-uncommitted work. The same offsets are handed to `on_offsets` (the
  stall guard, `streaming/guards/`).
- table sizes, every `TABLE_INTERVAL` seconds: the keys of the table's partitions this
  worker holds (RocksDB's estimate, `table_store.table_keys`), and the memory those
  RocksDB partitions hold: each table's memtables and table readers, and the block cache
  they all share (`table="all"`). The worker's RSS grows as they fill, up to the budget
  `WG_TABLE_MEMORY_MB`, and this says how much of it they are.

"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, Protocol

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from withdrawguard.adapters.group_offsets import GroupOffsets
from withdrawguard.adapters.metrics import PrometheusMetrics
from withdrawguard.streaming.faust_internals.sensors import lean_monitor
from withdrawguard.streaming.faust_internals.table_store import (
    TableMemory,
    rocksdb_memory,
    table_keys,
)

log = logging.getLogger(__name__)

LAG_INTERVAL = 5.0
PROBE_TIMEOUT = 15.0
TABLE_INTERVAL = 30.0
SHARED_CACHE = "all"
"""The `table` label of the block cache every table shares."""
OffsetsReader = Callable[
    [Mapping[tuple[str, int], int], Mapping[tuple[str, int], int]], Awaitable[Any]
]
"""Called with each round's committed offsets and log ends, by (topic, partition)."""
FAUST_PREFIX = "faust"
"""Faust's sensor would name its metrics after the app id; a fixed prefix keeps the
dashboard and the alert rules the same for every deployment."""


class TimerMetrics(Protocol):
    """What the lag and table timers report."""

    def consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Messages not yet committed, per (topic, partition) this worker is assigned.
        Replaces the previous report: partitions absent from `lags` are forgotten."""

    def table_size(self, table: str, n: int) -> None:
        """Number of keys in a table's local partitions."""

    def table_memory(self, table: str, kind: str, n_bytes: int) -> None:
        """Memory a table's local RocksDB partitions use, by `kind`: `memtables`,
        `table_readers` (indexes and filters outside the block cache); and `block_cache`
        for the cache every table shares, under the table name `all`."""


def register_metrics(
    app: faust.App,
    metrics: TimerMetrics,
    source_topics: Collection[str],
    tables: Iterable[Any],
    offsets: GroupOffsets | None = None,
    memory: TableMemory | None = None,
    on_offsets: OffsetsReader | None = None,
) -> None:
    """Serve `/metrics` (for Prometheus metrics) and start the lag and table timers. The
    lag timer reads offsets with `offsets` (the broker, on connections of its own), not
    through the worker's consumer, and hands each round to `on_offsets`."""
    if isinstance(metrics, PrometheusMetrics):
        registry = metrics.registry
        lean_monitor(app, registry, FAUST_PREFIX)

        @app.page("/metrics")
        async def metrics_page(view: View, request: Request) -> Response:
            body = generate_latest(registry)
            # the header, not content_type=: aiohttp refuses a charset in content_type
            return view.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    else:
        lean_monitor(app)
    watched = list(tables)
    busy = asyncio.Lock()

    async def report_consumer_lag() -> None:
        if offsets is None or busy.locked():
            return  # the last probe is still waiting for the broker: skip this tick
        parts = sorted(
            (tp.topic, tp.partition)
            for tp in app.consumer.assignment()
            if tp.topic in source_topics
        )
        async with busy:
            try:
                ends, done = await asyncio.wait_for(offsets.read(parts), PROBE_TIMEOUT)
            except Exception:  # the broker slow or away (a rebalance, an outage): next tick
                log.warning("could not measure consumer lag", exc_info=True)
                return
        done = {k: v for k, v in done.items() if k in ends}
        metrics.consumer_lag({k: max(0, ends[k] - v) for k, v in done.items()})
        if on_offsets is not None:
            await on_offsets(done, ends)

    async def report_table_sizes() -> None:
        for table in watched:
            metrics.table_size(table.name, table_keys(table))
            for kind, n_bytes in rocksdb_memory(table.data).items():
                metrics.table_memory(table.name, kind, n_bytes)
        if memory is not None:  # one cache for every table
            metrics.table_memory(SHARED_CACHE, "block_cache", memory.cached_blocks())

    async def close(app: Any, **kwargs: Any) -> None:
        if offsets is not None:
            await offsets.close()

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # async receivers are awaited
    app.timer(LAG_INTERVAL, name="withdrawguard.consumer_lag")(report_consumer_lag)
    app.timer(TABLE_INTERVAL, name="withdrawguard.table_sizes")(report_table_sizes)
