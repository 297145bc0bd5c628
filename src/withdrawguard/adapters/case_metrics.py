"""Metrics of case work (the calls `streaming.sinks.cases.CaseMetrics` makes; the base of
`metrics.PrometheusMetrics`, so the worker's one metrics object has them).

Two kinds:
- **Gauges counted from the case store** every 30 s by each worker (every worker counts
  the same Redis, so a dashboard takes `max by (inbox)`): open cases per inbox and per
  inbox and status, past due, the age of the oldest open case, proposals waiting and the
  age of the oldest.
- **Histograms observed when events are applied** to the store: time from opening to a
  person's first action, and to closing. The store applies each event once across all
  workers, so each case is observed once (by the worker that applied it: sum across
  workers).
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Histogram

from withdrawguard.adapters.prometheus_base import PREFIX, PrometheusBase

CASE_TIME_BUCKETS = (
    60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 172800.0,
    604800.0,
)  # fmt: skip
"""Seconds from a case's opening: a minute to a week (SLAs are hours)."""


class PrometheusCaseMetrics(PrometheusBase):
    def __init__(self, registry: CollectorRegistry) -> None:
        super().__init__(registry)
        gauge = self._gauge
        self._open = gauge("cases_open", "Cases not closed, per inbox.", "inbox")
        self._late = gauge(
            "cases_past_due", "Cases not closed past their inbox's SLA, per inbox.", "inbox"
        )
        self._by_status = gauge(
            "cases_open_by_status", "Cases not closed, per inbox and status.", "inbox", "status"
        )
        self._oldest = gauge(
            "cases_oldest_open_age_seconds",
            "Seconds since the oldest case of the inbox still open was opened (0: none).",
            "inbox",
        )
        self._waiting = gauge(
            "case_proposals_waiting",
            "Four-eyes proposals (release, reopen) waiting for a second person, per inbox.",
            "inbox",
        )
        self._waited = gauge(
            "case_proposal_oldest_age_seconds",
            "Seconds the oldest proposal waiting in the inbox has waited (0: none).",
            "inbox",
        )
        self._first_action = Histogram(
            f"{PREFIX}_case_first_action_seconds",
            "Seconds from a case's opening to the first action of a person on it.",
            ["inbox"],
            buckets=CASE_TIME_BUCKETS,
            registry=registry,
        )
        self._to_close = Histogram(
            f"{PREFIX}_case_close_seconds",
            "Seconds from a case's opening to its closing, by inbox and outcome.",
            ["inbox", "outcome"],
            buckets=CASE_TIME_BUCKETS,
            registry=registry,
        )

    def cases_due(self, inbox: str, open_cases: int, past_due: int) -> None:
        self._open.labels(inbox).set(open_cases)
        self._late.labels(inbox).set(past_due)

    def cases_by_status(self, inbox: str, counts: Mapping[str, int]) -> None:
        for status, n in counts.items():
            self._by_status.labels(inbox, status).set(n)

    def cases_oldest_open(self, inbox: str, seconds: float) -> None:
        self._oldest.labels(inbox).set(max(0.0, seconds))

    def case_proposals_waiting(self, inbox: str, waiting: int, oldest_seconds: float) -> None:
        self._waiting.labels(inbox).set(waiting)
        self._waited.labels(inbox).set(max(0.0, oldest_seconds))

    def case_first_action(self, inbox: str, seconds: float) -> None:
        self._first_action.labels(inbox).observe(max(0.0, seconds))

    def case_closed(self, inbox: str, outcome: str, seconds: float) -> None:
        self._to_close.labels(inbox, outcome).observe(max(0.0, seconds))
