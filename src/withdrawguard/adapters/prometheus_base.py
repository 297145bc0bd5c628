"""The base of the Prometheus metrics classes: metrics registered on the registry it is
given, under `withdrawguard_` names (`metrics.py` says why there is no default registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

PREFIX = "withdrawguard"


class PrometheusBase:
    """Metrics registered on `registry` under `withdrawguard_` names: the base of
    `PrometheusMetrics` and `policy_metrics.PrometheusPolicyMetrics`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def _counter(self, name: str, doc: str, *labels: str) -> Counter:
        return Counter(f"{PREFIX}_{name}", doc, labels, registry=self.registry)

    def _gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(f"{PREFIX}_{name}", doc, labels, registry=self.registry)
