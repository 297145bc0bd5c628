"""The metrics adapter: names and labels Prometheus sees, the no-op, bounded labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.unit.player import Player
from withdrawguard.adapters.metrics import (
    ARRIVAL_BUCKETS,
    EVENT_TIME_BUCKETS,
    NullMetrics,
    PrometheusMetrics,
)
from withdrawguard.engine.decode import InvalidEvent
from withdrawguard.sim import scenarios as s
from withdrawguard.worker.app import WorkerMetrics

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> PrometheusMetrics:
    return PrometheusMetrics(registry)


def exposed(registry: CollectorRegistry) -> dict[str, str]:
    """Family name -> type, as a scraper parses the text format (without the `_created`
    timestamps prometheus-client adds, which the parser reads as families of their own)."""
    text = generate_latest(registry).decode()
    families = text_string_to_metric_families(text)
    return {f.name: f.type for f in families if not f.name.endswith("_created")}


def test_every_metric_is_named_withdrawguard_with_the_expected_type(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    assert exposed(registry) == {
        "withdrawguard_events_consumed": "counter",
        "withdrawguard_dead_letters": "counter",
        "withdrawguard_verdicts": "counter",
        "withdrawguard_holds": "counter",
        "withdrawguard_alerts": "counter",
        "withdrawguard_customer_notices": "counter",
        "withdrawguard_notifications_sent": "counter",
        "withdrawguard_notifications_failed": "counter",
        "withdrawguard_notifications_deduplicated": "counter",
        "withdrawguard_notification_backlog": "gauge",
        "withdrawguard_notification_backpressure_seconds": "counter",
        "withdrawguard_registry_writes": "counter",
        "withdrawguard_registry_retries": "counter",
        "withdrawguard_registry_lag_messages": "gauge",
        "withdrawguard_partition_stalls": "counter",
        "withdrawguard_worker_wedged": "gauge",
        "withdrawguard_cases_open": "gauge",
        "withdrawguard_cases_past_due": "gauge",
        "withdrawguard_cases_open_by_status": "gauge",
        "withdrawguard_cases_oldest_open_age_seconds": "gauge",
        "withdrawguard_case_proposals_waiting": "gauge",
        "withdrawguard_case_proposal_oldest_age_seconds": "gauge",
        "withdrawguard_case_first_action_seconds": "histogram",
        "withdrawguard_case_close_seconds": "histogram",
        "withdrawguard_decision_latency_from_arrival_seconds": "histogram",
        "withdrawguard_decision_latency_from_occurred_seconds": "histogram",
        "withdrawguard_batch_events": "histogram",
        "withdrawguard_consumer_lag_messages": "gauge",
        "withdrawguard_table_keys": "gauge",
        "withdrawguard_table_memory_bytes": "gauge",
    }


def test_counters_count_by_their_labels(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.event_consumed("withdrawals", "withdrawal")
    metrics.event_consumed("withdrawals", "withdrawal")
    metrics.dead_letter("must be a string")
    metrics.verdict("hold")
    metrics.hold("DRAIN")
    metrics.alert("critical")
    metrics.notice("hold")
    metrics.notification_sent("slack")
    metrics.notification_failed("webhook")
    metrics.notification_deduplicated("pagerduty")
    value = registry.get_sample_value
    consumed = {"topic": "withdrawals", "type": "withdrawal"}
    assert value("withdrawguard_events_consumed_total", consumed) == 2.0
    assert value("withdrawguard_dead_letters_total", {"kind": "must be a string"}) == 1.0
    assert value("withdrawguard_verdicts_total", {"decision": "hold"}) == 1.0
    assert value("withdrawguard_holds_total", {"reason": "DRAIN"}) == 1.0
    assert value("withdrawguard_alerts_total", {"severity": "critical"}) == 1.0
    assert value("withdrawguard_customer_notices_total", {"kind": "hold"}) == 1.0
    assert value("withdrawguard_notifications_sent_total", {"channel": "slack"}) == 1.0
    assert value("withdrawguard_notifications_failed_total", {"channel": "webhook"}) == 1.0
    assert value("withdrawguard_notifications_deduplicated_total", {"channel": "pagerduty"}) == 1.0


def test_the_notification_backlog_is_a_level_and_back_pressure_adds_up_seconds(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.notification_backlog(7)
    metrics.notification_backlog(3)
    metrics.notification_backpressure(0.2)
    metrics.notification_backpressure(0.3)
    value = registry.get_sample_value
    assert value("withdrawguard_notification_backlog") == 3.0
    assert value("withdrawguard_notification_backpressure_seconds_total") == pytest.approx(0.5)


def test_decision_latency_fills_both_histograms_in_seconds(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.decision_latency(seconds_since_occurred=90.0, seconds_since_arrival=0.004)
    value = registry.get_sample_value
    arrival = "withdrawguard_decision_latency_from_arrival_seconds"
    occurred = "withdrawguard_decision_latency_from_occurred_seconds"
    assert value(f"{arrival}_count") == 1.0
    assert value(f"{arrival}_bucket", {"le": "0.0025"}) == 0.0
    assert value(f"{arrival}_bucket", {"le": "0.005"}) == 1.0
    assert value(f"{occurred}_bucket", {"le": "60.0"}) == 0.0
    assert value(f"{occurred}_bucket", {"le": "120.0"}) == 1.0


def test_latency_buckets_span_milliseconds_and_minutes() -> None:
    assert ARRIVAL_BUCKETS[0] == 0.001 and ARRIVAL_BUCKETS[-1] == 10.0
    assert EVENT_TIME_BUCKETS[-1] >= 3600.0
    assert list(ARRIVAL_BUCKETS) == sorted(ARRIVAL_BUCKETS)
    assert list(EVENT_TIME_BUCKETS) == sorted(EVENT_TIME_BUCKETS)


def test_a_latency_from_a_clock_ahead_of_ours_counts_as_zero(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.decision_latency(seconds_since_occurred=-3.0, seconds_since_arrival=-0.5)
    sums = [
        registry.get_sample_value(f"withdrawguard_decision_latency_from_{k}_seconds_sum")
        for k in ("arrival", "occurred")
    ]
    assert sums == [0.0, 0.0]


def test_consumer_lag_replaces_the_partitions_reported_before(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.consumer_lag({("withdrawals", 0): 5, ("withdrawals", 1): 7})
    metrics.consumer_lag({("withdrawals", 1): 2})
    lag = "withdrawguard_consumer_lag_messages"
    assert registry.get_sample_value(lag, {"topic": "withdrawals", "partition": "0"}) is None
    assert registry.get_sample_value(lag, {"topic": "withdrawals", "partition": "1"}) == 2.0


def test_table_size_is_a_gauge_per_table(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.table_size("customers", 10)
    metrics.table_size("customers", 12)
    assert registry.get_sample_value("withdrawguard_table_keys", {"table": "customers"}) == 12.0


def test_table_memory_is_a_gauge_per_table_and_kind(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.table_memory("customers", "block_cache", 100)
    metrics.table_memory("customers", "memtables", 7)
    metrics.table_memory("customers", "block_cache", 300)
    sample = registry.get_sample_value
    name = "withdrawguard_table_memory_bytes"
    assert sample(name, {"table": "customers", "kind": "block_cache"}) == 300.0
    assert sample(name, {"table": "customers", "kind": "memtables"}) == 7.0


def test_many_instances_live_side_by_side_and_never_touch_the_global_registry() -> None:
    before = set(REGISTRY._names_to_collectors)  # what prometheus-client exposes by default  # noqa: SLF001 - prometheus_client has no public map of registered names
    first, second = CollectorRegistry(), CollectorRegistry()
    PrometheusMetrics(first).verdict("allow")
    PrometheusMetrics(second).verdict("hold")
    assert first.get_sample_value("withdrawguard_verdicts_total", {"decision": "hold"}) is None
    assert second.get_sample_value("withdrawguard_verdicts_total", {"decision": "hold"}) == 1.0
    assert set(REGISTRY._names_to_collectors) == before  # noqa: SLF001 - prometheus_client has no public map of registered names


def test_no_metrics_accepts_every_call_and_registers_nothing() -> None:
    before = set(REGISTRY._names_to_collectors)  # noqa: SLF001 - prometheus_client has no public map of registered names
    m: WorkerMetrics = NullMetrics()
    m.event_consumed("t", "login")
    m.dead_letter("k")
    m.verdict("allow")
    m.hold("DRAIN")
    m.alert("low")
    m.decision_latency(1.0, 0.1)
    m.consumer_lag({("t", 0): 1})
    m.table_size("customers", 3)
    m.table_memory("customers", "memtables", 3)
    m.notification_sent("slack")
    m.notification_failed("slack")
    m.notification_deduplicated("slack")
    m.registry_write("withdrawal-holds")
    m.registry_retry()
    assert set(REGISTRY._names_to_collectors) == before  # noqa: SLF001 - prometheus_client has no public map of registered names


KINDS = [
    (
        "payload is 300000 bytes, over the limit of 262144",
        "payload is N bytes, over the limit of N",
    ),
    ("not valid UTF-8 JSON (unexpected character: line 1 column 2)", "not valid UTF-8 JSON"),
    ("must be a string, got number", "must be a string"),
    (
        "is 'login' but this topic carries 'withdrawal' events",
        "is X but this topic carries X events",
    ),
    ("must be positive, got -5", "must be positive"),
    ("is not a valid date and time: '2026-13-01'", "is not a valid date and time"),
    (
        "is 2.5 h ahead of the detector's clock (at most 1 h is accepted)",
        "is N h ahead of the detector's clock",
    ),
    (
        "must be an RFC 3339 timestamp with a UTC offset, got 'x'",
        "must be an RFC 3339 timestamp with a UTC offset",
    ),
    ("no event type is expected on topic 'it-1.logins'", "no event type is expected on topic X"),
]


@pytest.mark.parametrize(("problem", "kind"), KINDS)
def test_dead_letter_kinds_drop_the_values_so_labels_stay_few(problem: str, kind: str) -> None:
    assert InvalidEvent("field", problem).kind == kind


def test_a_hold_is_counted_by_its_reasons_only_when_placed(player: Player) -> None:
    dest = {"bank_code": "0009", "branch_code": "222", "account_number": "7654321"}
    player.play(s.sbi_chain("c1", NOW - timedelta(hours=1), dest))
    wid = "c1-wd-attack"
    [placed] = [h for h in player.holds if h.withdrawal_id == wid]
    assert placed.placed
    assert set(placed.placed_reasons) == {r["code"] for r in placed.to_wire()["reasons"]}
    player.play([s.case("c1", "d1", NOW, "release", withdrawal_id=wid)])
    released = player.hold(wid)
    assert released.status == "released"
    assert released.placed_reasons == ()


def test_the_wedged_gauge_is_one_while_wedged_and_zero_after(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.worker_wedged(True)
    assert registry.get_sample_value("withdrawguard_worker_wedged") == 1.0
    metrics.worker_wedged(False)
    assert registry.get_sample_value("withdrawguard_worker_wedged") == 0.0


def test_case_gauges_are_per_inbox(registry: CollectorRegistry, metrics: PrometheusMetrics) -> None:
    metrics.cases_due("critical", 5, 2)
    metrics.cases_due("general", 1, 0)
    sample = registry.get_sample_value
    assert sample("withdrawguard_cases_open", {"inbox": "critical"}) == 5.0
    assert sample("withdrawguard_cases_past_due", {"inbox": "critical"}) == 2.0
    assert sample("withdrawguard_cases_past_due", {"inbox": "general"}) == 0.0


def test_case_work_gauges_and_histograms_carry_inbox_status_and_outcome(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    metrics.cases_by_status("general", {"open": 3, "investigating": 1})
    metrics.cases_oldest_open("general", 5400.0)
    metrics.case_proposals_waiting("large-withdrawals", 2, 3600.0)
    metrics.case_first_action("general", 120.0)
    metrics.case_closed("general", "false_positive", 7200.0)
    sample = registry.get_sample_value
    assert sample("withdrawguard_cases_open_by_status", {"inbox": "general", "status": "open"}) == 3
    assert sample("withdrawguard_cases_oldest_open_age_seconds", {"inbox": "general"}) == 5400
    assert sample("withdrawguard_case_proposals_waiting", {"inbox": "large-withdrawals"}) == 2
    assert (
        sample("withdrawguard_case_proposal_oldest_age_seconds", {"inbox": "large-withdrawals"})
        == 3600
    )
    first = {"inbox": "general", "le": "300.0"}
    assert sample("withdrawguard_case_first_action_seconds_bucket", first) == 1
    closed = {"inbox": "general", "outcome": "false_positive"}
    assert sample("withdrawguard_case_close_seconds_count", closed) == 1
    assert sample("withdrawguard_case_close_seconds_sum", closed) == 7200


def test_batch_sizes_are_observed_per_agent(
    registry: CollectorRegistry, metrics: PrometheusMetrics
) -> None:
    for events in (1, 1, 180):
        metrics.batch("detect", events)
    metrics.batch("ingest", 500)
    value = registry.get_sample_value
    assert value("withdrawguard_batch_events_count", {"agent": "detect"}) == 3
    assert value("withdrawguard_batch_events_sum", {"agent": "detect"}) == 182
    assert value("withdrawguard_batch_events_bucket", {"agent": "detect", "le": "1.0"}) == 2
    assert value("withdrawguard_batch_events_bucket", {"agent": "detect", "le": "100.0"}) == 2
    assert value("withdrawguard_batch_events_bucket", {"agent": "ingest", "le": "500.0"}) == 1
