"""The Prometheus and Grafana files in deploy/ are consistent with each other and with
the metrics the code defines (the integration tests check a running worker too)."""

from __future__ import annotations

import json
import re

from prometheus_client import CollectorRegistry, generate_latest

from tests.monitoring_refs import (
    DASHBOARDS,
    ROOT,
    dashboard_exprs,
    exposed_names,
    referenced_metrics,
)
from withdrawguard.adapters.metrics import PrometheusMetrics
from withdrawguard.adapters.policy_metrics import PrometheusPolicyMetrics

PROMETHEUS = ROOT / "deploy/prometheus"
GRAFANA = ROOT / "deploy/grafana"


def test_compose_scrape_config_differs_from_the_local_one_only_in_the_worker_address() -> None:
    local = (PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8")
    compose = (PROMETHEUS / "prometheus.compose.yml").read_text(encoding="utf-8")
    assert '"127.0.0.1:6066"' in local
    assert compose == local.replace('"127.0.0.1:6066"', '"worker:6066"')


def test_every_dashboard_panel_uses_the_provisioned_datasource() -> None:
    provisioned = (GRAFANA / "provisioning/datasources/prometheus.yml").read_text(encoding="utf-8")
    [uid] = re.findall(r"^\s+uid: (\S+)$", provisioned, flags=re.MULTILINE)
    assert DASHBOARDS
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == uid, panel["title"]
            assert panel["targets"], f"{panel['title']} has no query"


def test_the_dashboard_shows_what_the_issue_asks_for() -> None:
    exprs = "\n".join(dashboard_exprs())
    for metric in (
        "withdrawguard_events_consumed_total",
        "withdrawguard_verdicts_total",
        "withdrawguard_holds_total",
        "withdrawguard_decision_latency_from_arrival_seconds_bucket",
        "withdrawguard_consumer_lag_messages",
        "withdrawguard_dead_letters_total",
        "withdrawguard_notifications_sent_total",
        "withdrawguard_notifications_failed_total",
        # case work (issue 26): per inbox and status, age, proposals, times, SLA
        "withdrawguard_cases_open_by_status",
        "withdrawguard_cases_oldest_open_age_seconds",
        "withdrawguard_case_proposals_waiting",
        "withdrawguard_case_proposal_oldest_age_seconds",
        "withdrawguard_case_first_action_seconds_bucket",
        "withdrawguard_case_close_seconds_bucket",
        "withdrawguard_cases_past_due",
    ):
        assert metric in exprs
    assert "histogram_quantile(0.99" in exprs


def test_every_withdrawguard_metric_the_dashboard_and_rules_use_is_defined() -> None:
    registry = CollectorRegistry()
    PrometheusMetrics(registry)
    PrometheusPolicyMetrics(registry)  # the worker registers both on its registry
    defined = exposed_names(generate_latest(registry).decode())
    ours = {n: where for n, where in referenced_metrics().items() if n.startswith("withdrawguard_")}
    assert ours
    missing = {n: where for n, where in ours.items() if n not in defined}
    assert missing == {}
