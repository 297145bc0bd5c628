"""A running worker serves /metrics in the Prometheus text format, with every metric the
Grafana dashboard and the alert rules use, next to /health and /ready."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import Bus, Worker, unique
from tests.monitoring_refs import exposed_names, referenced_metrics
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def get(worker: Worker, path: str) -> tuple[int, str, str]:
    url = f"http://127.0.0.1:{worker.settings.web_port}{path}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read().decode()


def samples(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets it has, from a scrape."""
    found: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append(dict(sample.labels))
    return found


def scrape_until(worker: Worker, what: str, names: list[str], timeout: float = 45) -> str:
    """Scrape until every one of `names` has a sample (gauges set by timers need a tick)."""
    deadline = time.monotonic() + timeout
    while True:
        _, _, text = get(worker, "/metrics")
        missing = [n for n in names if n not in samples(text)]
        if not missing:
            return text
        if time.monotonic() > deadline:
            pytest.fail(f"no samples of {missing} after {timeout}s ({what})")
        time.sleep(1)


@pytest.fixture(scope="module")
def scraped(bus: Bus, worker: Worker) -> str:
    """/metrics after an SBI chain and an honest customer went through the worker, and one
    unkeyed login that takes the hop through customer-events (the others are decided in
    place), so that every topic the agents read has a committed offset to report lag of."""
    cid = unique("metrics-sbi")
    dest = {"bank_code": "0009", "branch_code": "222", "account_number": "5550123"}
    chain = s.sbi_chain(cid, NOW - timedelta(hours=1), dest, attacker_ip="198.18.77.9")
    bus.send(chain[:-1])
    bus.send(s.honest_withdrawal(unique("metrics-honest"), NOW - timedelta(minutes=30)))
    bus.send_raw("withdrawals", b"broken", b"{not json")
    cid_unkeyed = unique("metrics-unkeyed")
    topic, login = s.login(cid_unkeyed, f"{cid_unkeyed}-l1", NOW - timedelta(minutes=20))
    bus.send_raw(topic, None, orjson.dumps(login))
    bus.wait_idle()  # the chain's evidence first, so the hold is placed with all of it
    bus.send(chain[-1:])
    wid = f"{cid}-wd-attack"
    bus.wait_for("the verdict", lambda: bus.values("withdrawal-decisions", withdrawal_id=wid))
    bus.wait_idle()
    return scrape_until(
        worker,
        "the lag and table timers",
        ["withdrawguard_consumer_lag_messages", "withdrawguard_table_keys"],
    )


def test_metrics_page_is_prometheus_text_format(worker: Worker, scraped: str) -> None:
    status, content_type, _ = get(worker, "/metrics")
    assert status == 200
    assert content_type == CONTENT_TYPE_LATEST  # text/plain with the format's version
    assert list(text_string_to_metric_families(scraped))


def test_every_metric_the_dashboard_and_alert_rules_use_is_exported(scraped: str) -> None:
    exposed = exposed_names(scraped)
    referenced = referenced_metrics()
    assert any(n.startswith("faust_") for n in referenced)
    missing = {name: where for name, where in referenced.items() if name not in exposed}
    assert missing == {}


def test_the_sbi_chain_left_verdicts_holds_alerts_and_latencies(scraped: str) -> None:
    found = samples(scraped)
    decisions = {labels["decision"] for labels in found["withdrawguard_verdicts_total"]}
    assert {"allow", "hold"} <= decisions
    reasons = {labels["reason"] for labels in found["withdrawguard_holds_total"]}
    assert {"DEST_CHANGED_RECENTLY", "CREDENTIAL_CHANGE_CHAIN", "DRAIN"} <= reasons
    assert found["withdrawguard_alerts_total"]
    assert {"not valid UTF-8 JSON"} <= {
        labels["kind"] for labels in found["withdrawguard_dead_letters_total"]
    }
    types = {labels["type"] for labels in found["withdrawguard_events_consumed_total"]}
    assert {"login", "account_change", "withdrawal"} <= types
    assert "withdrawguard_decision_latency_from_arrival_seconds_bucket" in found
    batched = {labels["agent"] for labels in found["withdrawguard_batch_events_count"]}
    assert "ingest" in batched  # every input is taken by ingest (then detect, unless in place)
    assert "faust_messages_received_total" in found


def test_lag_and_table_gauges_report_the_worker_partitions_and_tables(scraped: str) -> None:
    found = samples(scraped)
    lag_topics = {labels["topic"] for labels in found["withdrawguard_consumer_lag_messages"]}
    assert any(topic.endswith(".withdrawals") for topic in lag_topics)
    assert any(topic.endswith("-customer-events") for topic in lag_topics)
    tables = {labels["table"] for labels in found["withdrawguard_table_keys"]}
    assert tables == {"customers", "destinations", "source-ips", "devices"}
    memory = {
        (sample.labels["table"], sample.labels["kind"]): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "withdrawguard_table_memory_bytes"
    }
    # the worker's tables are on RocksDB, and share one block cache
    assert {table for table, _ in memory} == tables | {"all"}
    assert {kind for table, kind in memory if table == "all"} == {"block_cache"}
    assert memory["customers", "memtables"] > 0  # the chain's customer was written


def test_health_and_ready_still_answer(worker: Worker) -> None:
    assert get(worker, "/health")[0] == 200
    assert get(worker, "/ready")[0] == 200


def test_the_lag_gauge_reads_the_broker_and_returns_to_zero_when_idle(
    scraped: str, worker: Worker
) -> None:
    """The gauge is the broker's log end minus the group's committed offset (asked on the
    worker's own probe connections), so an idle worker reports zero everywhere."""
    deadline = time.monotonic() + 30
    while True:
        _, _, text = get(worker, "/metrics")
        lags = [
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "withdrawguard_consumer_lag_messages"
        ]
        if lags and all(v == 0 for v in lags):
            return
        assert time.monotonic() < deadline, f"lag still {sorted(lags)[-3:]} after 30 s idle"
        time.sleep(1)
