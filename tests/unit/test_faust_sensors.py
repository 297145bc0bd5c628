"""The worker's lean Faust monitor (streaming/faust_internals/sensors.py) counts what the
dashboard reads under Faust's metric names, in plain numbers exported at scrape time,
and keeps what Faust itself reads of its monitor."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import TP
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.monitoring_refs import referenced_metrics
from withdrawguard.streaming.faust_internals.sensors import FaustCounts, LeanMonitor, lean_monitor

TOPIC = TP("wg.logins", 3)


def scraped(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_messages_in_are_counted_in_all_and_by_topic() -> None:
    counts = FaustCounts()
    monitor = LeanMonitor(counts)
    for _ in range(3):
        monitor.on_message_in(TOPIC, 1, None)
    monitor.on_message_in(TP("wg.withdrawals", 0), 1, None)
    assert counts.received == 4
    assert counts.received_by_topic == {"wg.logins": 3, "wg.withdrawals": 1}


def test_the_exported_histograms_put_each_duration_in_its_bucket() -> None:
    registry = CollectorRegistry()
    app = faust.App("wg-sensor-test")
    counts = lean_monitor(app, registry)
    monitor = app.monitor
    assert isinstance(monitor, LeanMonitor)
    monitor.on_message_in(TOPIC, 7, None)
    state = monitor.on_stream_event_in(TOPIC, 7, None, None)
    monitor.on_stream_event_out(TOPIC, 7, None, None, state - 0.007)  # held 7 ms
    counts.send_latency.observe(30.0)
    counts.send_latency.observe(5.0)  # on a bound: counted in it (le)
    found = scraped(registry)
    assert found["faust_messages_received_total", ()] == 1
    assert found["faust_messages_received_per_topic_total", (("topic", "wg.logins"),)] == 1
    runtime = "faust_events_runtime_ms_bucket"
    assert found[runtime, (("le", "5.0"),)] == 0
    assert found[runtime, (("le", "10.0"),)] == 1
    assert found[runtime, (("le", "+Inf"),)] == 1
    assert 7 <= found["faust_events_runtime_ms_sum", ()] < 50
    send = "faust_producer_send_latency_bucket"
    assert found[send, (("le", "5.0"),)] == 1
    assert found[send, (("le", "25.0"),)] == 1
    assert found[send, (("le", "50.0"),)] == 2
    assert found["faust_producer_send_latency_count", ()] == 2


def test_the_rebalance_gauges_follow_a_rebalance_through_recovery() -> None:
    registry = CollectorRegistry()
    app = faust.App("wg-sensor-test")
    lean_monitor(app, registry)
    monitor: Any = app.monitor
    state = monitor.on_rebalance_start(app)
    assert scraped(registry)["faust_total_rebalances", ()] == 1
    monitor.on_rebalance_return(app, state)
    found = scraped(registry)
    assert found["faust_total_rebalances", ()] == 0
    assert found["faust_total_rebalances_recovering", ()] == 1
    monitor.on_rebalance_end(app, state)
    assert scraped(registry)["faust_total_rebalances_recovering", ()] == 0


def test_every_faust_metric_the_dashboard_and_alerts_use_is_exported() -> None:
    registry = CollectorRegistry()
    app = faust.App("wg-sensor-test")
    lean_monitor(app, registry)
    app.monitor.on_message_in(TOPIC, 1, None)  # a labelled family has samples once counted
    exported = {name for name, _ in scraped(registry)}
    used = {name for name in referenced_metrics() if name.startswith("faust_")}
    assert used and used <= exported


def test_the_stream_inbound_time_faust_checks_for_slow_processing_is_kept() -> None:
    monitor = LeanMonitor(FaustCounts())
    monitor.on_stream_event_in(TOPIC, 1, None, None)
    assert TOPIC in monitor.stream_inbound_time
