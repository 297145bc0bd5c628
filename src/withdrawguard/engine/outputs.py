"""What the engine gives back: verdicts, hold updates, alerts, and observations for the
cross-customer stages. Each output has `to_wire()`, the JSON object of the contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from withdrawguard.engine.events import mask_key
from withdrawguard.engine.state import WithdrawalRec
from withdrawguard.engine.timeutil import iso


def _reasons(rec: WithdrawalRec) -> list[dict[str, Any]]:
    return [{"code": c, "detail": d, "weight": w} for c, d, w in rec.reasons]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The verdict on one withdrawal as it stood when made (topic withdrawal-decisions)."""

    withdrawal_id: str
    customer_id: str
    decision: str
    reason_codes: tuple[str, ...]
    payload: dict[str, Any]

    @classmethod
    def of(cls, customer_id: str, withdrawal_id: str, r: WithdrawalRec, version: str) -> Verdict:
        payload = {
            "withdrawal_id": withdrawal_id,
            "customer_id": customer_id,
            "decision": r.decision,
            "risk_score": r.risk_score,
            "severity": r.severity,
            "reasons": _reasons(r),
            "evidence_event_ids": list(r.evidence),
            "withdrawal_occurred_at": iso(r.ts),
            "decided_at": iso(r.decided_at),
            "detector_version": version,
            "amount": r.amount,
            "currency": r.currency,
            "destination": mask_key(r.dest),
            "suppressed": [
                {"reason": c, "suppression_id": sid, "case_id": case, "until": iso(until)}
                for c, sid, case, until in r.suppressed
            ],
        }
        codes = tuple(c for c, _, _ in r.reasons)
        return cls(withdrawal_id, customer_id, r.decision, codes, payload)

    def to_wire(self) -> dict[str, Any]:
        return self.payload


@dataclass(frozen=True, slots=True)
class HoldUpdate:
    """The hold on one withdrawal as it then stood (topic withdrawal-holds)."""

    withdrawal_id: str
    customer_id: str
    status: str
    payload: dict[str, Any]
    placed: bool = False
    """True on the update that first put the withdrawal on hold (for counting holds)."""

    @classmethod
    def of(
        cls, customer_id: str, withdrawal_id: str, r: WithdrawalRec, *, placed: bool = False
    ) -> HoldUpdate:
        assert r.hold is not None and r.hold_created is not None
        payload = {
            "hold_id": f"hold-{withdrawal_id}",
            "withdrawal_id": withdrawal_id,
            "customer_id": customer_id,
            "status": r.hold,
            "reasons": _reasons(r),
            "risk_score": r.risk_score,
            "created_at": iso(r.hold_created),
            "updated_at": iso(r.hold_updated or r.hold_created),
            "amount": r.amount,
            "currency": r.currency,
            "destination": mask_key(r.dest),
            "actor": r.actor,
            "note": r.note,
        }
        return cls(withdrawal_id, customer_id, r.hold, payload, placed)

    @property
    def placed_reasons(self) -> tuple[str, ...]:
        """The reason codes of a newly placed hold; empty for any later update."""
        return tuple(r["code"] for r in self.payload["reasons"]) if self.placed else ()

    def to_wire(self) -> dict[str, Any]:
        return self.payload


@dataclass(frozen=True, slots=True)
class Alert:
    """Something a person should look at (topic fraud-alerts)."""

    alert_id: str
    customer_id: str
    severity: str
    risk_score: int
    rule_codes: tuple[str, ...]
    summary: str
    evidence: tuple[dict[str, Any], ...]
    withdrawal_id: str | None
    created_at: int
    kind: str = "withdrawal"
    """`withdrawal`: a withdrawal's verdict; `liquidation`: a sell-off, before any
    withdrawal (engine/holdings.py); `customer_denial`: the customer denied what a notice
    was about (engine/notices.py)."""

    def to_wire(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "customer_id": self.customer_id,
            "severity": self.severity,
            "risk_score": self.risk_score,
            "rule_codes": list(self.rule_codes),
            "summary": self.summary,
            "evidence": list(self.evidence),
            "withdrawal_id": self.withdrawal_id,
            "created_at": iso(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class CustomerNotice:
    """What to tell the customer, and through which contact (topic customer-notices;
    engine/notices.py)."""

    notice_id: str
    customer_id: str
    payload: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return self.payload


@dataclass(frozen=True, slots=True)
class DestinationObservation:
    """For the destination stage (keyed by destination): set, used or confirmed fraud."""

    kind: str  # "set" | "used" | "fraud"
    destination_key: str
    customer_id: str
    ts: int
    ref_id: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "destination_key": self.destination_key,
            "customer_id": self.customer_id,
            "ts": self.ts,
            "ref_id": self.ref_id,
        }


@dataclass(frozen=True, slots=True)
class IpObservation:
    """For the IP stage (keyed by source IP): one login attempt, with the device it named
    (the IP stage ignores it; the case links follow it, `cases.links`)."""

    ip: str
    customer_id: str
    ts: int
    event_id: str
    success: bool
    device: str | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "ip": self.ip,
            "customer_id": self.customer_id,
            "ts": self.ts,
            "event_id": self.event_id,
            "success": self.success,
        }
        if self.device is not None:
            wire["device"] = self.device  # left out when absent, as records before it were
        return wire


@dataclass(frozen=True, slots=True)
class DeviceObservation:
    """For the device stage (keyed by device id): one login attempt or account change
    that named the device. `success` is False for a failed login only."""

    device: str
    customer_id: str
    ts: int
    event_id: str
    success: bool
    kind: str  # "login" | "change"

    def to_wire(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "customer_id": self.customer_id,
            "ts": self.ts,
            "event_id": self.event_id,
            "success": self.success,
            "kind": self.kind,
        }


@dataclass(slots=True)
class Outcome:
    """Everything one applied event produced, in the order it should be sent."""

    verdicts: list[Verdict] = field(default_factory=list)
    holds: list[HoldUpdate] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    notices: list[CustomerNotice] = field(default_factory=list)
    destinations: list[DestinationObservation] = field(default_factory=list)
    ips: list[IpObservation] = field(default_factory=list)
    devices: list[DeviceObservation] = field(default_factory=list)
    duplicate: bool = False
