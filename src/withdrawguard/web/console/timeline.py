"""A customer's recent history from the detector's state, for people to read.

Pure: `timeline(state)` lists logins, account changes, trades, withdrawals (with their
verdicts and holds), case decisions, the notices sent to the customer and the customer's
answers, newest first: those in the rules' windows and those kept past them because an
open hold cites them (`state.kept`). A notice says what it was about and which contact
it named; an answer says what the customer answered and whether it counted (a
confirmation counts only through the contact the notice named; the state keeps why one
did not, not the contact a denial came through: a denial counts through any). An event
cited as evidence by a verdict is marked with the withdrawal and the reason codes it
supports. The state keeps evidence per verdict, not per reason, so which of a verdict's
reasons an event supports is inferred from the kind of event (a failed login supports
FAILED_LOGIN_BURST, and so on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from withdrawguard.engine.events import mask_key
from withdrawguard.engine.state import CustomerState, NoticeRec
from withdrawguard.engine.timeutil import iso

LIMIT = 200

_SUPPORTS: dict[str, frozenset[str]] = {
    "failed_login": frozenset({"FAILED_LOGIN_BURST", "SOURCE_IP_SHARED", "DEVICE_SHARED"}),
    "login": frozenset(
        {"NEW_DEVICE", "FAILED_LOGIN_BURST", "SOURCE_IP_SHARED", "DEVICE_SHARED", "LIQUIDATION"}
    ),
    "destination_change": frozenset(
        {
            "DEST_CHANGED_RECENTLY",
            "DESTINATION_SHARED",
            "CONFIRMED_FRAUD_DESTINATION",
            "NEW_DEVICE",
            "DEVICE_SHARED",
            "LIQUIDATION",
        }
    ),
    "change": frozenset({"CREDENTIAL_CHANGE_CHAIN", "NEW_DEVICE", "DEVICE_SHARED", "LIQUIDATION"}),
    "withdrawal": frozenset(
        {"DRAIN", "WITHDRAWAL_BURST", "NEW_DEVICE", "DEST_CHANGED_RECENTLY", "DEVICE_SHARED"}
    ),
    "trade": frozenset({"LIQUIDATION"}),
}


@dataclass
class Entry:
    ts: int
    kind: str
    """failed_login, login, destination_change, change, trade, withdrawal, case_decision,
    notice or customer_response."""
    event_id: str
    summary: str
    evidence_for: list[tuple[str, list[str]]] = field(default_factory=list)
    """(withdrawal id, reason codes) of the verdicts citing this event."""
    withdrawal: dict[str, Any] | None = None
    destination_key: str | None = None
    """For a destination change: the identity a verify action names (never shown)."""
    answer: str = ""
    """For a customer's response: `counted`, `not counted` or `denied`."""

    @property
    def at(self) -> str:
        return iso(self.ts)


def timeline(state: CustomerState) -> list[Entry]:
    entries: list[Entry] = []
    kept = state.kept
    for eid, ts in chain(state.logins_failed.items(), kept.logins_failed.items()):
        entries.append(Entry(ts, "failed_login", eid, "failed login"))
    for eid, rec in chain(state.logins_ok.items(), kept.logins_ok.items()):
        device = f" on device {rec.device}" if rec.device else ""
        entries.append(Entry(rec.ts, "login", eid, f"login from {rec.ip}{device}"))
    for eid, c in chain(state.changes.items(), kept.changes.items()):
        how = f"via {c.channel}" + (" (verified)" if c.verified else "")
        if c.dest is not None and c.change_type == "withdrawal_destination":
            verified = " — verified by a case decision" if c.dest in state.verified_dest else ""
            text = f"withdrawal destination set to {mask_key(c.dest)} {how}{verified}"
            entries.append(Entry(c.ts, "destination_change", eid, text, destination_key=c.dest))
        else:
            entries.append(Entry(c.ts, "change", eid, f"{c.change_type} changed {how}"))
    for eid, x in chain(state.trades.items(), kept.trades.items()):
        left = f", holdings then {x.holdings_after} {x.currency}" if x.holdings_after else ""
        text = f"{x.side} for {x.proceeds} {x.currency}{left}"
        entries.append(Entry(x.ts, "trade", eid, text))
    for wid, w in chain(state.withdrawals.items(), kept.withdrawals.items()):
        text = f"withdrawal {wid} of {w.amount} {w.currency} to {mask_key(w.dest)}"
        info = {
            "withdrawal_id": wid,
            "decision": w.decision,
            "risk_score": w.risk_score,
            "severity": w.severity,
            "reasons": [{"code": c, "detail": d, "weight": wt} for c, d, wt in w.reasons],
            "hold": w.hold or "",
            "actor": w.actor or "",
            "note": w.note or "",
        }
        entries.append(Entry(w.ts, "withdrawal", w.event_id, text, withdrawal=info))
    for wid, case in state.cases.items():
        text = f"case decision {case.action} on {wid} by {case.actor}"
        if case.note:
            text += f": {case.note}"
        entries.append(Entry(case.ts, "case_decision", case.decision_id, text))
    for nid, n in state.notices.items():
        entries.append(Entry(n.ts, "notice", nid, _notice_text(n)))
        if n.response_id is not None:
            at = n.answered_at if n.answered_at is not None else n.ts
            answer = _answer(n)
            text = f"customer answered {n.answer} to notice {nid} ({_about(n)}): {_why(n)}"
            entries.append(Entry(at, "customer_response", n.response_id, text, answer=answer))
    _mark_evidence(state, entries)
    entries.sort(key=lambda e: (e.ts, e.event_id), reverse=True)
    return entries[:LIMIT]


def _about(n: NoticeRec) -> str:
    if n.kind == "hold":
        return f"the hold of withdrawal {n.withdrawal_id}"
    if n.kind == "credential_change":
        return f"the {n.change_type} change {n.event_id}"
    return f"the destination change {n.event_id}"


def _contact(n: NoticeRec) -> str:
    if n.as_of is None:
        return "the current contact"
    return f"the contact registered as of {iso(n.as_of)}, before a recent email or phone change"


def _notice_text(n: NoticeRec) -> str:
    dest = f", destination {mask_key(n.dest)}" if n.dest is not None else ""
    answered = f"answered {n.answer} by {n.response_id}" if n.response_id else "unanswered"
    return f"notice sent about {_about(n)} of {iso(n.at)}{dest}, to {_contact(n)}; {answered}"


def _answer(n: NoticeRec) -> str:
    if n.answer == "deny":
        return "denied"
    return "counted" if n.counted else "not counted"


def _why(n: NoticeRec) -> str:
    if n.answer == "deny":
        return "a denial counts through any contact"
    if n.counted:
        return f"counted, through the contact the notice named ({_contact(n)})"
    return f"not counted: {n.why_not}"


def _mark_evidence(state: CustomerState, entries: list[Entry]) -> None:
    by_id = {e.event_id: e for e in entries}
    for wid, w in chain(state.withdrawals.items(), state.kept.withdrawals.items()):
        codes = [c for c, _, _ in w.reasons]
        for eid in w.evidence:
            entry = by_id.get(eid)
            if entry is None:
                continue
            supported = [c for c in codes if c in _SUPPORTS.get(entry.kind, frozenset())]
            entry.evidence_for.append((wid, supported))
