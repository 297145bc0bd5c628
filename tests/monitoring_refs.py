"""The metric names the Grafana dashboards and the Prometheus alert rules use, and the
names a `/metrics` page exposes: shared by the unit and the integration tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
ALERT_RULES = ROOT / "deploy/prometheus/alerts.yml"
_METRIC = re.compile(r"\b(?:withdrawguard|faust)_\w+")
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count"),
}


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in DASHBOARDS:
        panels = json.loads(path.read_text(encoding="utf-8"))["panels"]
        for panel in panels:
            exprs += [t["expr"] for t in panel.get("targets", [])]
    return exprs


def referenced_metrics() -> dict[str, str]:
    """Metric name (as PromQL spells it, suffix included) -> the first file naming it."""
    found: dict[str, str] = {}
    for expr in dashboard_exprs():
        for name in _METRIC.findall(expr):
            found.setdefault(name, "the dashboards")
    # The rule file is read as text: every metric it names, in expressions or words.
    for name in _METRIC.findall(ALERT_RULES.read_text(encoding="utf-8")):
        found.setdefault(name, ALERT_RULES.name)
    return found


def exposed_names(text: str) -> set[str]:
    """Every name PromQL can select from a scrape of `text`: sample names, and the
    names of declared families that have no samples yet (a labelled counter before
    its first increment)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + s for s in _SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names
