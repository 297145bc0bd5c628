"""A case in brief: what an inbox listing shows per case, kept beside the case's events
by the case store so a listing reads one small record per case, not a fold.

Pure, like the rest of the package: `summary_of(case)` and a round trip through the flat
string map a Redis hash holds (`to_fields` / `from_fields`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from withdrawguard.cases.case import Case

PARKED = frozenset(("waiting_on_customer", "closed"))
"""Statuses take-next never offers (as `assignment.PARKED`)."""


@dataclass(frozen=True, slots=True)
class Summary:
    case_id: str
    customer_id: str
    inbox: str
    status: str
    severity: str
    assignee: str | None
    due_at: datetime
    opened_at: datetime
    updated_at: datetime
    version: int
    held: int
    """Holds still held."""
    proposals: int
    """Four-eyes proposals waiting."""
    outcome: str | None = None
    reason_codes: tuple[str, ...] = ()
    held_amount: str = ""
    """What is still held, per currency: `5000000 JPY` (`, `-separated), or empty."""

    @property
    def closed(self) -> bool:
        return self.status == "closed"

    @property
    def takeable(self) -> bool:
        """Whether take-next may offer it: unassigned, neither waiting nor closed."""
        return self.assignee is None and self.status not in PARKED

    def to_fields(self) -> dict[str, str]:
        """The summary as a flat map of strings (a Redis hash); None as the empty string."""
        return {
            "case_id": self.case_id,
            "customer_id": self.customer_id,
            "inbox": self.inbox,
            "status": self.status,
            "severity": self.severity,
            "assignee": self.assignee or "",
            "due_at": self.due_at.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "version": str(self.version),
            "held": str(self.held),
            "proposals": str(self.proposals),
            "outcome": self.outcome or "",
            "reason_codes": " ".join(self.reason_codes),
            "held_amount": self.held_amount,
        }

    @classmethod
    def from_fields(cls, f: Mapping[str, str]) -> Summary:
        return cls(
            case_id=f["case_id"],
            customer_id=f["customer_id"],
            inbox=f["inbox"],
            status=f["status"],
            severity=f["severity"],
            assignee=f["assignee"] or None,
            due_at=datetime.fromisoformat(f["due_at"]),
            opened_at=datetime.fromisoformat(f["opened_at"]),
            updated_at=datetime.fromisoformat(f["updated_at"]),
            version=int(f["version"]),
            held=int(f["held"]),
            proposals=int(f["proposals"]),
            outcome=f["outcome"] or None,
            reason_codes=tuple(f["reason_codes"].split()),
            held_amount=f.get("held_amount", ""),  # absent in a store written before it
        )


def summary_of(case: Case) -> Summary:
    return Summary(
        case_id=case.case_id,
        customer_id=case.customer_id,
        inbox=case.inbox,
        status=case.status,
        severity=case.severity,
        assignee=case.assignee,
        due_at=case.due_at,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        version=case.version,
        held=sum(1 for h in case.holds if h.fate == "held"),
        proposals=len(case.proposals),
        outcome=case.outcome,
        reason_codes=case.reason_codes,
        held_amount=_held_amount(case),
    )


def _held_amount(case: Case) -> str:
    totals: dict[str, Decimal] = {}
    for h in case.holds:
        if h.fate == "held":
            totals[h.currency] = totals.get(h.currency, Decimal(0)) + h.amount
    return ", ".join(f"{format(amount, 'f')} {currency}" for currency, amount in totals.items())
