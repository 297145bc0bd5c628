"""The worker's Faust monitor: what is read of Faust's sensors, and nothing else (issue 29).

Faust adds its `Monitor` to every app's sensors (`App.on_init_dependencies`) and calls it
for every message in, every stream event in and out, every acknowledgement, every table
read and write and every send: counters in dicts, deques of timings, a dict per event.
Faust's Prometheus sensor (`setup_prometheus_sensors`) is that Monitor again with two to
four prometheus-client calls (each taking a lock) per hook. Together 4.2% of the worker's
samples (docs/performance.md, 5 December), and what they count is mostly never read.

What is read, and so what `LeanMonitor` keeps:

- by the dashboard (deploy/grafana) and the metrics test: `faust_messages_received_total`,
  `faust_messages_received_per_topic_total{topic}`, `faust_events_runtime_ms` (how long an
  agent holds an event), `faust_producer_send_latency` (ms from a send to its
  acknowledgement), `faust_total_rebalances` and `faust_total_rebalances_recovering` (the
  rebalances under way and recovering), with Faust's names, buckets and help texts;
- by Faust itself: the aiokafka driver's slow-processing check (`verify_event_path`) reads
  `monitor.stream_inbound_time`, the last time a stream took an event of a partition, to
  log a stream that stopped; the consumer calls `track_tp_end_offset` and `on_tp_commit`
  (kept as Faust's: a dict assignment each).

Counting goes into plain ints and lists, read when Prometheus scrapes (`FaustCollector`):
a per-event hook is an integer addition and a bisect, not a locked metric update. The rest
of the Monitor's hooks that run per event or per write (acknowledgements, table reads and
writes) do nothing; the rare ones (commits, rebalances, assignments) stay Faust's.
Faust's other `faust_*` metrics are no longer exported: nothing reads them.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator
from time import monotonic
from typing import Any

import faust
from faust.sensors import Monitor
from faust.types import TP
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

MS_LATENCY_BUCKETS = (5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000)
"""Faust's Prometheus sensor's buckets (faust.sensors.prometheus), in milliseconds."""


class MsHistogram:
    """A histogram of milliseconds in plain numbers: `observe` is a bisect and two adds."""

    def __init__(self) -> None:
        self.counts = [0] * (len(MS_LATENCY_BUCKETS) + 1)  # the last: above every bound
        self.sum = 0.0

    def observe(self, ms: float) -> None:
        self.counts[bisect_left(MS_LATENCY_BUCKETS, ms)] += 1
        self.sum += ms

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        bounds = [str(float(bound)) for bound in MS_LATENCY_BUCKETS] + ["+Inf"]
        cumulative, buckets = 0, []
        for bound, count in zip(bounds, self.counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.sum)


class FaustCounts:
    """What `LeanMonitor` counts, in plain numbers."""

    def __init__(self) -> None:
        self.received = 0
        self.received_by_topic: Counter[str] = Counter()
        self.events_runtime = MsHistogram()
        self.send_latency = MsHistogram()
        self.rebalancing = 0
        self.recovering = 0


class FaustCollector(Collector):
    """`FaustCounts` as the `faust_*` metrics Faust's Prometheus sensor exported."""

    def __init__(self, counts: FaustCounts, prefix: str) -> None:
        self.counts, self.prefix = counts, prefix

    def collect(self) -> Iterator[Any]:
        c, p = self.counts, self.prefix
        yield CounterMetricFamily(
            f"{p}_messages_received", "Total messages received", value=c.received
        )
        per_topic = CounterMetricFamily(
            f"{p}_messages_received_per_topic", "Messages received per topic", labels=["topic"]
        )
        for topic, n in sorted(c.received_by_topic.items()):
            per_topic.add_metric([topic], n)
        yield per_topic
        yield c.events_runtime.family(f"{p}_events_runtime_ms", "Events runtime in ms")
        yield c.send_latency.family(f"{p}_producer_send_latency", "Producer send latency in ms")
        yield GaugeMetricFamily(f"{p}_total_rebalances", "Total rebalances", value=c.rebalancing)
        yield GaugeMetricFamily(
            f"{p}_total_rebalances_recovering", "Total rebalances recovering", value=c.recovering
        )


class LeanMonitor(Monitor):
    """Faust's Monitor keeping only what is read (the module's doc) in `counts`."""

    def __init__(self, counts: FaustCounts, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.counts = counts
        self._by_topic = counts.received_by_topic

    def on_message_in(self, tp: TP, offset: int, message: Any) -> None:
        self.counts.received += 1
        self._by_topic[tp.topic] += 1

    def on_stream_event_in(self, tp: TP, offset: int, stream: Any, event: Any) -> Any:
        now = monotonic()
        self.stream_inbound_time[tp] = now  # Faust's slow-processing check reads it
        return now

    def on_stream_event_out(
        self, tp: TP, offset: int, stream: Any, event: Any, state: Any = None
    ) -> None:
        if state is not None:
            self.counts.events_runtime.observe((monotonic() - state) * 1000.0)

    def on_message_out(self, tp: TP, offset: int, message: Any) -> None:
        pass

    def on_topic_buffer_full(self, tp: TP) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass

    def on_table_del(self, table: Any, key: Any) -> None:
        pass

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        return monotonic()

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self.counts.send_latency.observe((monotonic() - state) * 1000.0)

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        pass

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        self.counts.rebalancing += 1
        state: dict[str, Any] = super().on_rebalance_start(app)
        return state

    def on_rebalance_return(self, app: Any, state: dict[str, Any]) -> None:
        super().on_rebalance_return(app, state)
        self.counts.rebalancing -= 1
        self.counts.recovering += 1

    def on_rebalance_end(self, app: Any, state: dict[str, Any]) -> None:
        super().on_rebalance_end(app, state)
        self.counts.recovering -= 1


def lean_monitor(
    app: faust.App, registry: CollectorRegistry | None = None, prefix: str = "faust"
) -> FaustCounts:
    """Make `LeanMonitor` `app`'s monitor (before the app starts), its counts exported on
    `registry` as `<prefix>_*` if given. Returns the counts."""
    counts = FaustCounts()
    app.monitor = LeanMonitor(counts)
    if registry is not None:
        registry.register(FaustCollector(counts, prefix))
    return counts
