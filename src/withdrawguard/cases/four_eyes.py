"""Four eyes: releasing a large hold, and reopening a case closed as confirmed fraud,
take two different people. One proposes with a note; a second, a supervisor, approves.

The proposer can never approve: the check is on the person (names compared trimmed and
case-folded), so no role, admin included, gets around it. A proposal expires after the
policy's time (24 h by default); an expired one cannot be approved, and `expire` gives
the events that record its expiry."""

from __future__ import annotations

from datetime import datetime

from withdrawguard.cases import events as ev
from withdrawguard.cases.case import Case
from withdrawguard.cases.errors import Forbidden, Invalid, NotFound, note, required_note
from withdrawguard.cases.events import SYSTEM, CaseEvent, Stamp
from withdrawguard.cases.people import Actor
from withdrawguard.cases.policy import CasePolicy


def release(
    case: Case,
    hold_id: str,
    text: str | None,
    *,
    now: datetime,
    policy: CasePolicy,
    base: Stamp,
) -> CaseEvent:
    """Release at once below the threshold of the hold's currency; at or above it (or in
    a currency without one), propose the release instead."""
    hold = case.hold(hold_id)
    if hold is None:
        raise NotFound(f"case {case.case_id} has no hold {hold_id}")
    if hold.fate != "held":
        raise Invalid("hold_id", f"hold {hold_id} is already {hold.fate.replace('_', ' ')}")
    pending = next((p for p in case.proposals if p.hold_id == hold_id), None)
    if pending is not None and not pending.expired_at(now):
        raise Invalid("hold_id", f"{pending.proposer} already proposed releasing {hold_id}")
    if not policy.needs_four_eyes(hold.amount, hold.currency):
        return ev.HoldReleased(**base, at=now, hold_id=hold_id, note=note(text))
    return ev.ReleaseProposed(
        **base,
        at=now,
        proposal_id=base["event_id"],
        hold_id=hold_id,
        note=required_note(text),
        expires_at=now + policy.proposal_ttl,
    )


def reopen(
    case: Case,
    text: str | None,
    *,
    now: datetime,
    policy: CasePolicy,
    base: Stamp,
    due: datetime,
) -> CaseEvent:
    """Reopen at once, unless the case was closed as confirmed fraud: then propose it."""
    checked = required_note(text)
    if not case.closed:
        raise Invalid("case", f"case {case.case_id} is not closed")
    if case.outcome != "confirmed_fraud":
        return ev.Reopened(**base, at=now, note=checked, due_at=due)
    if any(p.action == "reopen" and not p.expired_at(now) for p in case.proposals):
        raise Invalid("case", "reopening this case is already proposed")
    return ev.ReopenProposed(
        **base,
        at=now,
        proposal_id=base["event_id"],
        note=checked,
        expires_at=now + policy.proposal_ttl,
    )


def approve(
    case: Case,
    actor: Actor,
    proposal_id: str,
    text: str | None,
    *,
    now: datetime,
    base: Stamp,
    due: datetime,
) -> CaseEvent:
    """The second pair of eyes. Refused to anyone but a supervisor, always to the
    proposer, and once the proposal has expired."""
    proposal = case.proposal(proposal_id)
    if not actor.may("approve"):
        own = proposal is not None and actor.is_user(proposal.proposer)
        also = "; and you made this proposal: a second person must approve it" if own else ""
        raise Forbidden(f"approving takes a supervisor; {actor.user} is {actor.role}{also}")
    if proposal is None:
        raise NotFound(f"no pending proposal {proposal_id} on case {case.case_id}")
    if actor.is_user(proposal.proposer):
        raise Forbidden("you made this proposal: a second person must approve it")
    if proposal.expired_at(now):
        raise Invalid(
            "proposal_id",
            f"proposal {proposal_id} expired at {proposal.expires_at.isoformat()}; propose again",
        )
    checked = note(text)
    if proposal.action == "reopen":
        return ev.Reopened(
            **base, at=now, note=checked or proposal.note, due_at=due, proposal_id=proposal_id
        )
    assert proposal.hold_id is not None  # a release proposal always names its hold
    hold = case.hold(proposal.hold_id)
    if hold is None or hold.fate != "held":
        fate = hold.fate.replace("_", " ") if hold else "gone"
        raise Invalid("proposal_id", f"hold {proposal.hold_id} is already {fate}; withdraw this")
    return ev.ReleaseApproved(
        **base, at=now, proposal_id=proposal_id, hold_id=proposal.hold_id, note=checked
    )


def expire(case: Case, now: datetime) -> list[CaseEvent]:
    """`proposal_expired` for each pending proposal whose time is up at `now`."""
    return [
        ev.ProposalExpired(
            case_id=case.case_id,
            event_id=f"{p.proposal_id}:expired",
            actor=SYSTEM,
            at=now,
            proposal_id=p.proposal_id,
        )
        for p in case.proposals
        if p.expired_at(now)
    ]
