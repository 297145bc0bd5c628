"""What a payment system is told about a withdrawal: allow, hold or pending.

Read from the registry hash of `projection`:

- `hold` while the hold is `held` or `confirmed_fraud`, whatever the verdict says;
- `allow` once the hold was `released`, unless a later verdict holds it again;
- otherwise the detector's verdict, and `pending` when there is none yet.

When the registry cannot answer (Redis unreachable) or a caller's wait runs out, the
answer is `hold` with `fail_closed` set and the cause in `error`: never pay out on
missing information.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import orjson

Verdict = Literal["allow", "hold", "pending"]
HOLDING = frozenset({"held", "confirmed_fraud"})


@dataclass(frozen=True, slots=True)
class Decision:
    withdrawal_id: str
    decision: Verdict
    """What to do: pay out only on `allow`."""
    verdict: str | None = None
    """The detector's latest verdict (`allow` or `hold`), None before one arrived."""
    hold_status: str | None = None
    """`held`, `released`, `confirmed_fraud`, or None when never held."""
    customer_id: str | None = None
    risk_score: int | None = None
    severity: str | None = None
    reasons: list[dict[str, Any]] = field(default_factory=list)
    decided_at: str | None = None
    hold_updated_at: str | None = None
    fail_closed: bool = False
    """True when `hold` stands for "no answer" (timeout or registry unreachable)."""
    error: str | None = None

    @property
    def may_pay_out(self) -> bool:
        return self.decision == "allow"

    def to_json(self) -> dict[str, Any]:
        return {
            "withdrawal_id": self.withdrawal_id,
            "decision": self.decision,
            "verdict": self.verdict,
            "hold_status": self.hold_status,
            "customer_id": self.customer_id,
            "risk_score": self.risk_score,
            "severity": self.severity,
            "reasons": self.reasons,
            "decided_at": self.decided_at,
            "hold_updated_at": self.hold_updated_at,
            "fail_closed": self.fail_closed,
            "error": self.error,
        }


def read_decision(withdrawal_id: str, fields: Mapping[str, str]) -> Decision:
    """The answer for a withdrawal whose registry hash is `fields` (empty when unknown)."""
    verdict = fields.get("decision") or None
    status = fields.get("hold_status") or None
    decided_at = fields.get("decided_at") or None
    hold_updated_at = fields.get("hold_updated_at") or None
    answer: Verdict
    if status in HOLDING:
        answer = "hold"
    elif status == "released":
        rehold = verdict == "hold" and _after(decided_at, hold_updated_at)
        answer = "hold" if rehold else "allow"
    elif verdict in ("allow", "hold"):
        answer = "allow" if verdict == "allow" else "hold"
    else:
        answer = "pending"
    score = fields.get("risk_score")
    reasons = orjson.loads(fields["reasons"]) if fields.get("reasons") else []
    return Decision(
        withdrawal_id=withdrawal_id,
        decision=answer,
        verdict=verdict,
        hold_status=status,
        customer_id=fields.get("customer_id") or None,
        risk_score=int(score) if score else None,
        severity=fields.get("severity") or None,
        reasons=reasons,
        decided_at=decided_at,
        hold_updated_at=hold_updated_at,
    )


def fail_closed(withdrawal_id: str, error: str, last: Decision | None = None) -> Decision:
    """`hold` standing for "no answer", keeping what was known (`last`)."""
    base = last if last is not None else Decision(withdrawal_id, "pending")
    return replace(base, decision="hold", fail_closed=True, error=error)


def _after(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    return datetime.fromisoformat(a) > datetime.fromisoformat(b)
