"""Metrics of policy versions: which one each worker runs, switches, versions that failed
to load, and how the shadow version's verdicts compare with the live one's.

Kept apart from `adapters/metrics.py` (the stream's own metrics): the same registry, the
same `withdrawguard_` names, a small interface of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

from withdrawguard.adapters.metrics import PREFIX


class PolicyMetrics(Protocol):
    """Implementations must never raise into the stream."""

    def running(self, role: str, version: str | None) -> None:
        """The version this worker now runs as `role` (None: no shadow)."""

    def load_failed(self, role: str, version: str) -> None:
        """A version named `role` failed to load; the worker kept the one it had."""

    def shadow_verdict(self, outcome: str, reasons: Iterable[str]) -> None:
        """One withdrawal compared: `agree`, `would_hold` or `would_allow`, with the
        reason codes of the side that holds (for a disagreement)."""

    def shadow_failed(self) -> None:
        """The shadow version failed on an event (the live verdict is unaffected)."""


class NoPolicyMetrics:
    def running(self, role: str, version: str | None) -> None:
        pass

    def load_failed(self, role: str, version: str) -> None:
        pass

    def shadow_verdict(self, outcome: str, reasons: Iterable[str]) -> None:
        pass

    def shadow_failed(self) -> None:
        pass


class PrometheusPolicyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=registry)

        def gauge(name: str, doc: str, *labels: str) -> Gauge:
            return Gauge(f"{PREFIX}_{name}", doc, labels, registry=registry)

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
