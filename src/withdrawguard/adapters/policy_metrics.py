"""Metrics of policy versions: which one each worker runs, switches, versions that failed
to load, and how the shadow version's verdicts compare with the live one's.

Kept apart from `PrometheusMetrics` (the stream's own metrics) so that each module
stays small: the same base, the same registry, the same `withdrawguard_` names. The
calls are those `policy.engines.SelectionMetrics` and
`streaming.detect.shadow_run.ShadowMetrics` ask for; `metrics.NullMetrics` has them too.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry

from withdrawguard.adapters.metrics import PrometheusBase


class PrometheusPolicyMetrics(PrometheusBase):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        counter, gauge = self._counter, self._gauge
        self._info = gauge(
            "policy_version",
            "1 for the policy version this worker runs, by role (live, shadow).",
            "role",
            "version",
        )
        self._switches = counter(
            "policy_switches", "Times this worker switched the version it runs, by role.", "role"
        )
        self._failed = counter(
            "policy_load_failures",
            "Published versions this worker could not load (it kept the one it had).",
            "role",
            "version",
        )
        self._failing = gauge(
            "policy_load_failing",
            "1 while the version named for a role failed to load on this worker.",
            "role",
        )
        self._shadow = counter(
            "shadow_verdicts",
            "Withdrawals the shadow version decided, by outcome against live.",
            "outcome",
        )
        self._differ = counter(
            "shadow_disagreements",
            "Shadow disagreements by outcome, once per reason code of the side that holds.",
            "outcome",
            "reason",
        )
        self._shadow_failed = counter(
            "shadow_failures", "Events the shadow version failed on (live verdicts unaffected)."
        )
        self._current: dict[str, str] = {}
        for role in ("live", "shadow"):
            self._switches.labels(role)
            self._failing.labels(role).set(0)

    def running(self, role: str, version: str | None) -> None:
        shown = version or "none"
        self._failing.labels(role).set(0)
        before = self._current.get(role)
        if before == shown:
            return
        if before is not None:
            self._info.remove(role, before)
            self._switches.labels(role).inc()
        self._info.labels(role, shown).set(1)
        self._current[role] = shown

    def load_failed(self, role: str, version: str) -> None:
        self._failed.labels(role, version).inc()
        self._failing.labels(role).set(1)

    def shadow_verdict(self, outcome: str, reasons: Iterable[str]) -> None:
        self._shadow.labels(outcome).inc()
        for code in reasons:
            self._differ.labels(outcome, code).inc()

    def shadow_failed(self) -> None:
        self._shadow_failed.inc()
