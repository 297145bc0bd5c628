"""A case as it stands, and `apply`, the pure fold of one event into it.

The state is what the console queries (through a projection) and what commands decide
on; it is never written anywhere as the truth: folding a case's events in order gives
it back, whoever folds them and however often."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from withdrawguard.cases import events as ev
from withdrawguard.cases.events import (
    SEVERITIES,
    SYSTEM,
    CaseEvent,
    Fate,
    Outcome,
    Severity,
    Status,
)
from withdrawguard.cases.suppressions import Suppression

RECENT = 16
"""How many of the latest changes a case keeps, to tell a stale actor what changed."""


class CaseFoldError(ValueError):
    """An event that cannot follow the case as it stands (a broken or mixed-up log)."""


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: str
    withdrawal_id: str | None
    amount: Decimal
    currency: str
    fate: Fate


@dataclass(frozen=True, slots=True)
class Proposal:
    """The first of the four eyes: release a hold, or reopen a confirmed-fraud case."""

    proposal_id: str
    action: Literal["release", "reopen"]
    proposer: str
    note: str
    at: datetime
    expires_at: datetime
    hold_id: str | None = None

    def expired_at(self, now: datetime) -> bool:
        return now >= self.expires_at


@dataclass(frozen=True, slots=True)
class Change:
    """One past event in brief, for "what changed since you looked"."""

    version: int
    kind: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Case:
    case_id: str
    customer_id: str
    inbox: str
    sla_minutes: int
    opened_at: datetime
    due_at: datetime
    updated_at: datetime
    status: Status = "open"
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    assignee: str | None = None
    severity: Severity = "none"
    reason_codes: tuple[str, ...] = ()
    holds: tuple[Hold, ...] = ()
    proposals: tuple[Proposal, ...] = ()
    suppressions: tuple[Suppression, ...] = ()
    comments: int = 0
    version: int = 1
    """The number of events folded in: a command carries the version its actor saw."""
    seen: frozenset[str] = frozenset()
    """Trigger keys already joined, so the same news read twice joins once."""
    previous_case_id: str | None = None
    first_action_at: datetime | None = None
    """When a person first acted on it (for "time to first action")."""
    breach_noticed: datetime | None = None
    """The due time whose breach `sla_breached` recorded (one page per due time)."""
    recent: tuple[Change, ...] = ()

    @property
    def closed(self) -> bool:
        return self.status == "closed"

    def hold(self, hold_id: str) -> Hold | None:
        return next((h for h in self.holds if h.hold_id == hold_id), None)

    def proposal(self, proposal_id: str) -> Proposal | None:
        return next((p for p in self.proposals if p.proposal_id == proposal_id), None)

    def changes_since(self, version: int) -> tuple[Change, ...]:
        return tuple(c for c in self.recent if c.version > version)


def rebuild(events: Iterable[CaseEvent]) -> Case:
    """The case its events describe (the first must be `opened`)."""
    case: Case | None = None
    for event in events:
        case = apply(case, event)
    if case is None:
        raise CaseFoldError("a case needs at least its opened event")
    return case


def apply(case: Case | None, event: CaseEvent) -> Case:
    """The case after `event`. Pure: the same case and event always give the same case."""
    if isinstance(event, ev.Opened):
        if case is not None:
            raise CaseFoldError(f"case {event.case_id} is already open")
        return _opened(event)
    if case is None:
        raise CaseFoldError(f"{event.kind} for case {event.case_id}, which was never opened")
    if event.case_id != case.case_id:
        raise CaseFoldError(f"{event.kind} of case {event.case_id} applied to {case.case_id}")
    return _stamp(_change(case, event), event)


def _opened(e: ev.Opened) -> Case:
    case = Case(
        case_id=e.case_id,
        customer_id=e.customer_id,
        inbox=e.inbox,
        sla_minutes=e.sla_minutes,
        opened_at=e.at,
        due_at=e.due_at,
        updated_at=e.at,
        previous_case_id=e.previous_case_id,
        version=0,
    )
    return _stamp(_joined(case, e.trigger), e)


def _stamp(case: Case, e: CaseEvent) -> Case:
    version = case.version + 1
    recent = (*case.recent, Change(version, e.kind, e.actor, e.at))[-RECENT:]
    first = case.first_action_at or (e.at if e.actor != SYSTEM else None)
    return replace(case, version=version, updated_at=e.at, recent=recent, first_action_at=first)


def _change(case: Case, e: CaseEvent) -> Case:
    match e:
        case ev.Joined():
            joined = _joined(case, e.trigger)
            if e.resurfaced:
                return replace(joined, status="open", due_at=e.due_at or case.due_at)
            return joined
        case ev.Assigned():
            return replace(case, assignee=e.assignee)
        case ev.Claimed():
            return replace(case, assignee=e.actor)
        case ev.Unassigned():
            return replace(case, assignee=None)
        case ev.StatusChanged():
            return replace(case, status=e.status)
        case ev.Commented():
            return replace(case, comments=case.comments + 1)
        case ev.HoldReleased():
            return _fate(case, e.hold_id, "released")
        case ev.ReleaseProposed():
            p = Proposal(e.proposal_id, "release", e.actor, e.note, e.at, e.expires_at, e.hold_id)
            return replace(case, proposals=(*case.proposals, p))
        case ev.ReopenProposed():
            p = Proposal(e.proposal_id, "reopen", e.actor, e.note, e.at, e.expires_at)
            return replace(case, proposals=(*case.proposals, p))
        case ev.ReleaseApproved():
            return _fate(_settle(case, e.proposal_id), e.hold_id, "released")
        case ev.ProposalExpired() | ev.ProposalWithdrawn():
            return _settle(case, e.proposal_id)
        case ev.Reopened():
            settled = _settle(case, e.proposal_id) if e.proposal_id else case
            return replace(settled, status="open", outcome=None, closed_at=None, due_at=e.due_at)
        case ev.Closed():
            held = tuple(
                replace(h, fate="confirmed_fraud")
                if e.outcome == "confirmed_fraud" and h.fate == "held"
                else h
                for h in case.holds
            )
            return replace(case, status="closed", outcome=e.outcome, closed_at=e.at, holds=held)
        case ev.SuppressionAdded():
            s = Suppression(
                e.suppression_id,
                case.customer_id,
                e.reason_codes,
                e.until,
                e.note,
                e.actor,
                e.at,
                case.case_id,
            )
            return replace(case, suppressions=(*case.suppressions, s))
        case ev.SuppressionExpired():
            kept = tuple(s for s in case.suppressions if s.suppression_id != e.suppression_id)
            return replace(case, suppressions=kept)
        case ev.SlaBreached():
            return replace(case, breach_noticed=e.due_at)
    raise CaseFoldError(f"cannot apply {e.kind} to an open case")


def _joined(case: Case, t: ev.Trigger) -> Case:
    severity = max(case.severity, t.severity, key=SEVERITIES.index)
    reasons = tuple(sorted({*case.reason_codes, *t.reason_codes}))
    case = replace(case, severity=severity, reason_codes=reasons, seen=case.seen | {t.key})
    if t.kind != "hold":
        return case
    if t.amount is None or t.currency is None:
        raise CaseFoldError(f"hold {t.ref_id} joined case {case.case_id} without its amount")
    fate: Fate = t.hold_status or "held"
    if case.hold(t.ref_id) is not None:
        return _fate(case, t.ref_id, fate)
    hold = Hold(t.ref_id, t.withdrawal_id, t.amount, t.currency, fate)
    return replace(case, holds=(*case.holds, hold))


def _fate(case: Case, hold_id: str, fate: Fate) -> Case:
    if case.hold(hold_id) is None:
        raise CaseFoldError(f"case {case.case_id} has no hold {hold_id}")
    holds = tuple(replace(h, fate=fate) if h.hold_id == hold_id else h for h in case.holds)
    return replace(case, holds=holds)


def _settle(case: Case, proposal_id: str) -> Case:
    if case.proposal(proposal_id) is None:
        raise CaseFoldError(f"case {case.case_id} has no pending proposal {proposal_id}")
    return replace(case, proposals=tuple(p for p in case.proposals if p.proposal_id != proposal_id))
