"""What people do to a case, as pure decisions: `decide(case, actor, command, ...)`
gives the events to write, or raises why not. Nothing is written here; a refused
command writes nothing.

Checks run in one order, so a refusal says the most useful thing first: who you are
(403), whether the case changed since you looked (409), then what you asked (400/404).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from withdrawguard.cases import events as ev
from withdrawguard.cases import four_eyes
from withdrawguard.cases.case import Case, apply
from withdrawguard.cases.errors import Conflict, Forbidden, Invalid, NotFound, note, required_note
from withdrawguard.cases.events import OUTCOMES, STATUSES, CaseEvent, Stamp
from withdrawguard.cases.inboxes import InboxBook, reason_codes
from withdrawguard.cases.people import Actor
from withdrawguard.cases.policy import CasePolicy
from withdrawguard.cases.suppressions import UNMUTABLE, duration_problem


@dataclass(frozen=True, slots=True, kw_only=True)
class _Command:
    case_id: str
    command_id: str
    """Unique per request (an idempotency key): event and proposal ids derive from it."""
    seen_version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim(_Command):
    pass


@dataclass(frozen=True, slots=True, kw_only=True)
class Assign(_Command):
    assignee: Actor
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Unassign(_Command):
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeStatus(_Command):
    status: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Comment(_Command):
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Release(_Command):
    """Release a hold: at once below the four-eyes threshold, else as a proposal."""

    hold_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Approve(_Command):
    proposal_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdraw(_Command):
    proposal_id: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Close(_Command):
    outcome: str
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopen(_Command):
    """At once, unless the case was closed as confirmed fraud: then a proposal."""

    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Suppress(_Command):
    reason_codes: tuple[str, ...]
    until: datetime
    note: str | None = None


Command = (
    Claim
    | Assign
    | Unassign
    | ChangeStatus
    | Comment
    | Release
    | Approve
    | Withdraw
    | Close
    | Reopen
    | Suppress
)
_ON_CLOSED = (Comment, Approve, Withdraw, Reopen, Suppress)
_OWNERS_ONLY = (Unassign, ChangeStatus, Release, Close, Reopen, Suppress)


def decide(
    case: Case,
    actor: Actor,
    command: Command,
    *,
    now: datetime,
    policy: CasePolicy,
    inboxes: InboxBook,
) -> list[CaseEvent]:
    """The events `command` by `actor` at `now` writes to `case`; CaseError if refused."""
    if command.case_id != case.case_id:
        raise NotFound(f"case {command.case_id} is not case {case.case_id}")
    _may_act(case, actor, inboxes)
    if command.seen_version != case.version:
        raise Conflict(case, command.seen_version)
    owner = case.assignee
    if isinstance(command, _OWNERS_ONLY) and owner and not (actor.is_user(owner) or _boss(actor)):
        raise Forbidden(f"case {case.case_id} is assigned to {owner}; ask them or a supervisor")
    if case.closed and not isinstance(command, _ON_CLOSED):
        raise Invalid("case", f"case {case.case_id} is closed; reopen it first")
    base = Stamp(case_id=case.case_id, event_id=command.command_id, actor=actor.user)
    swept: list[CaseEvent] = []
    if isinstance(command, Close):  # an expired proposal must not keep a case open
        swept = four_eyes.expire(case, now)
        for event in swept:
            case = apply(case, event)
    return [*swept, _event(case, actor, command, now, policy, inboxes, base)]


def _may_act(case: Case, actor: Actor, inboxes: InboxBook) -> None:
    """Who may act at all: checked before the version, since it does not change with it."""
    if not actor.may("work"):
        raise Forbidden(f"a {actor.role} may read cases, not act on them")
    inbox = inboxes.get(case.inbox)  # an inbox since removed from the file: supervisors only
    if not (inbox.may_work(actor) if inbox is not None else actor.may("assign")):
        raise Forbidden(f"inbox {case.inbox} is not one {actor.user} may work")


def _boss(actor: Actor) -> bool:
    return actor.may("assign")


def _event(
    case: Case,
    actor: Actor,
    c: Command,
    now: datetime,
    policy: CasePolicy,
    inboxes: InboxBook,
    base: Stamp,
) -> CaseEvent:
    due = now + timedelta(minutes=case.sla_minutes)
    match c:
        case Claim():
            if case.assignee is not None:
                if actor.is_user(case.assignee):
                    raise Invalid("case", "the case is already yours")
                raise Forbidden(f"case {case.case_id} is already claimed by {case.assignee}")
            return ev.Claimed(**base, at=now)
        case Assign():
            if not (_boss(actor) or actor.is_user(c.assignee.user)):
                raise Forbidden("assigning a case to someone else takes a supervisor")
            if not _boss(actor) and case.assignee and not actor.is_user(case.assignee):
                raise Forbidden(f"case {case.case_id} is already claimed by {case.assignee}")
            inbox = inboxes.get(case.inbox)
            if inbox is None or not inbox.may_work(c.assignee):
                raise Invalid("assignee", f"{c.assignee.user} may not work inbox {case.inbox}")
            if c.assignee.is_user(case.assignee):
                raise Invalid("assignee", f"the case is already assigned to {case.assignee}")
            return ev.Assigned(**base, at=now, assignee=c.assignee.user, note=note(c.note))
        case Unassign():
            if case.assignee is None:
                raise Invalid("case", "the case is not assigned")
            return ev.Unassigned(**base, at=now, note=note(c.note))
        case ChangeStatus():
            status = next((s for s in STATUSES if s == c.status and s != "closed"), None)
            if status is None:
                allowed = ", ".join(s for s in STATUSES if s != "closed")
                raise Invalid("status", f"must be one of {allowed} (close a case with close)")
            if status == case.status:
                raise Invalid("status", f"the case is already {case.status}")
            return ev.StatusChanged(**base, at=now, status=status, note=note(c.note))
        case Comment():
            return ev.Commented(**base, at=now, note=required_note(c.note))
        case Release():
            return four_eyes.release(case, c.hold_id, c.note, now=now, policy=policy, base=base)
        case Approve():
            return four_eyes.approve(
                case, actor, c.proposal_id, c.note, now=now, base=base, due=due
            )
        case Withdraw():
            proposal = case.proposal(c.proposal_id)
            if proposal is None:
                raise NotFound(f"no pending proposal {c.proposal_id} on case {case.case_id}")
            if not (actor.is_user(proposal.proposer) or _boss(actor)):
                raise Forbidden("only its proposer or a supervisor may withdraw a proposal")
            return ev.ProposalWithdrawn(
                **base, at=now, proposal_id=c.proposal_id, note=note(c.note)
            )
        case Close():
            return _close(case, c, now, base)
        case Reopen():
            return four_eyes.reopen(case, c.note, now=now, policy=policy, base=base, due=due)
        case Suppress():
            known = reason_codes() - UNMUTABLE
            if not c.reason_codes or any(r not in known for r in c.reason_codes):
                never = sorted(UNMUTABLE.intersection(c.reason_codes))
                raise Invalid(
                    "reason_codes",
                    f"{', '.join(never)} may never be suppressed"
                    if never
                    else f"must name one or more of {', '.join(sorted(known))}",
                )
            if c.until.utcoffset() is None:
                raise Invalid("until", "must carry its time zone (an offset)")
            problem = duration_problem(now, c.until, policy.max_suppression)
            if problem:
                raise Invalid("until", problem)
            codes = tuple(dict.fromkeys(c.reason_codes))
            return ev.SuppressionAdded(
                **base,
                at=now,
                suppression_id=c.command_id,
                reason_codes=codes,
                until=c.until,
                note=required_note(c.note),
            )
    raise Invalid("command", f"unknown command {type(c).__name__}")


def _close(case: Case, c: Close, now: datetime, base: Stamp) -> CaseEvent:
    """Closing needs an outcome and a note, no proposal waiting, and no hold left held
    unless the outcome is confirmed fraud (which confirms them)."""
    outcome = next((o for o in OUTCOMES if o == c.outcome), None)
    if outcome is None:
        raise Invalid("outcome", f"must be one of {', '.join(OUTCOMES)}")
    text = required_note(c.note)
    if case.proposals:
        waiting = case.proposals[0]
        raise Invalid(
            "case", f"proposal {waiting.proposal_id} is waiting: approve or withdraw it first"
        )
    held = [h.hold_id for h in case.holds if h.fate == "held"]
    if held and c.outcome != "confirmed_fraud":
        raise Invalid(
            "outcome", f"hold {held[0]} is still held: release it, or close as confirmed_fraud"
        )
    return ev.Closed(**base, at=now, outcome=outcome, note=text)
