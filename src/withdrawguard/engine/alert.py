"""The alert a withdrawal's verdict raises, and how severities rank."""

from __future__ import annotations

from withdrawguard.engine.events import mask_key
from withdrawguard.engine.evidence import describe
from withdrawguard.engine.outputs import Alert
from withdrawguard.engine.state import CustomerState, WithdrawalRec
from withdrawguard.engine.timeutil import digest

SEVERITY_RANK = {"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
"""Severities, lowest first: a verdict's severity only goes up."""


def alert_for(state: CustomerState, wid: str, rec: WithdrawalRec) -> Alert:
    """One alert per withdrawal, decision and severity: a replay repeats its id."""
    codes = tuple(c for c, _, _ in rec.reasons)
    why = "; ".join(d for _, d, _ in rec.reasons[:3])
    verb = "was held" if rec.decision == "hold" else f"was allowed but scores {rec.risk_score}"
    summary = (
        f"Withdrawal {wid} of {rec.amount} {rec.currency} by customer "
        f"{state.customer_id} to {mask_key(rec.dest)} {verb}: {why}."
    )
    severity = rec.severity if rec.severity != "none" else "low"
    return Alert(
        alert_id=digest(state.customer_id, wid, rec.decision, severity),
        customer_id=state.customer_id,
        severity=severity,
        risk_score=rec.risk_score,
        rule_codes=codes,
        summary=summary,
        evidence=tuple(d for eid in rec.evidence if (d := describe(state, eid)) is not None),
        withdrawal_id=wid,
        created_at=rec.decided_at,
    )
