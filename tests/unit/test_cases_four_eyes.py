"""Four eyes: a large release and the reopening of a confirmed-fraud case take a
proposal and an approval by a different person; nobody gets around it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_cases_builders import (
    ADA,
    ADMINS_TOO,
    ALICE,
    BOB,
    PEOPLE,
    SUE,
    TOM,
    Desk,
    news,
    refused,
    run_session,
    sessions,
)
from withdrawguard.cases import commands as cmd
from withdrawguard.cases import events as ev
from withdrawguard.cases.errors import CaseError, Forbidden, Invalid
from withdrawguard.cases.people import Actor, same_person
from withdrawguard.cases.policy import CasePolicy


def proposed(amount: str = "5000000", currency: str = "JPY") -> tuple[Desk, str]:
    desk = Desk.open(news(amount=amount, currency=currency))
    desk.do(ALICE, cmd.Claim)
    event = desk.do(ALICE, cmd.Release, hold_id="hold-w1", note="customer verified by phone")
    assert isinstance(event, ev.ReleaseProposed)
    return desk, event.proposal_id


@pytest.mark.parametrize(
    ("amount", "currency", "two_people"),
    [
        ("999999", "JPY", False),
        ("1000000", "JPY", True),  # at the threshold, not only above it
        ("98000000", "JPY", True),
        ("10", "USD", True),  # a currency without a threshold always takes two
    ],
)
def test_the_threshold_per_currency_decides_who_may_release(
    amount: str, currency: str, two_people: bool
) -> None:
    desk = Desk.open(news(amount=amount, currency=currency))
    event = desk.do(ALICE, cmd.Release, hold_id="hold-w1", note="verified")
    assert isinstance(event, ev.ReleaseProposed) is two_people
    assert isinstance(event, ev.HoldReleased) is not two_people


def test_a_proposal_needs_a_note() -> None:
    desk = Desk.open()
    error = refused(desk, ALICE, cmd.Release, hold_id="hold-w1")
    assert isinstance(error, Invalid) and error.field == "note"


def test_a_proposal_leaves_the_hold_held_until_a_supervisor_approves() -> None:
    desk, proposal = proposed()
    assert desk.case.holds[0].fate == "held"
    [pending] = desk.case.proposals
    assert (pending.proposer, pending.action, pending.hold_id) == ("alice", "release", "hold-w1")
    assert pending.expires_at == desk.now + timedelta(hours=24)
    event = desk.do(SUE, cmd.Approve, proposal_id=proposal, note="checked the call log")
    assert isinstance(event, ev.ReleaseApproved) and event.hold_id == "hold-w1"
    assert desk.case.holds[0].fate == "released"
    assert desk.case.proposals == ()


@pytest.mark.parametrize("me", [ALICE, Actor("alice", "supervisor"), Actor(" ALICE", "admin")])
def test_the_proposer_can_never_approve_whatever_the_role_or_spelling(me: Actor) -> None:
    desk, proposal = proposed()
    error = refused(desk, me, cmd.Approve, proposal_id=proposal)
    assert isinstance(error, Forbidden)


def test_a_supervisor_who_proposes_cannot_approve_their_own_proposal() -> None:
    desk = Desk.open()
    event = desk.do(SUE, cmd.Release, hold_id="hold-w1", note="verified")
    error = refused(desk, SUE, cmd.Approve, proposal_id=event.proposal_id)  # type: ignore[union-attr]
    assert isinstance(error, Forbidden) and "second person" in error.reason
    desk.do(TOM, cmd.Approve, proposal_id=event.proposal_id)  # type: ignore[union-attr]


@pytest.mark.parametrize("other", [BOB, ADA])
def test_only_a_supervisor_approves_an_admin_is_no_bypass(other: Actor) -> None:
    desk, proposal = proposed()
    desk.inboxes = ADMINS_TOO  # the admin may work the inbox, and still may not approve
    error = refused(desk, other, cmd.Approve, proposal_id=proposal)
    assert isinstance(error, Forbidden) and "takes a supervisor" in error.reason


def test_an_expired_proposal_cannot_be_approved_and_expires_by_itself() -> None:
    desk, proposal = proposed()
    desk.now += timedelta(hours=24)
    error = refused(desk, SUE, cmd.Approve, proposal_id=proposal)
    assert isinstance(error, Invalid) and "expired" in error.reason
    [expired] = desk.tick(timedelta(0))
    assert isinstance(expired, ev.ProposalExpired) and expired.actor == "system"
    assert desk.case.proposals == ()
    assert desk.tick(timedelta(hours=1)) == []


def test_a_proposal_just_before_expiry_can_still_be_approved() -> None:
    desk, proposal = proposed()
    desk.now += timedelta(hours=24) - timedelta(microseconds=1)
    assert isinstance(desk.do(SUE, cmd.Approve, proposal_id=proposal), ev.ReleaseApproved)


def test_the_expiry_comes_from_the_policy() -> None:
    desk = Desk.open()
    desk.policy = CasePolicy(proposal_ttl=timedelta(hours=2))
    event = desk.do(ALICE, cmd.Release, hold_id="hold-w1", note="v")
    assert isinstance(event, ev.ReleaseProposed)
    assert event.expires_at == desk.now + timedelta(hours=2)


def test_the_same_hold_cannot_be_proposed_twice_but_after_expiry_it_can() -> None:
    desk, _ = proposed()
    assert isinstance(
        refused(desk, BOB, cmd.Release, hold_id="hold-w1", note="n"), Forbidden
    )  # alice's
    assert isinstance(refused(desk, SUE, cmd.Release, hold_id="hold-w1", note="n"), Invalid)
    desk.tick(timedelta(hours=25))
    assert isinstance(
        desk.do(ALICE, cmd.Release, hold_id="hold-w1", note="again"), ev.ReleaseProposed
    )


def test_the_proposer_or_a_supervisor_may_withdraw_a_proposal() -> None:
    desk, proposal = proposed()
    assert isinstance(refused(desk, BOB, cmd.Withdraw, proposal_id=proposal), Forbidden)
    event = desk.do(ALICE, cmd.Withdraw, proposal_id=proposal, note="customer unreachable")
    assert isinstance(event, ev.ProposalWithdrawn)
    assert refused(desk, SUE, cmd.Approve, proposal_id=proposal).status == 404


def test_reopening_a_confirmed_fraud_case_takes_two_people() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule account")
    event = desk.do(ALICE, cmd.Reopen, note="the bank says the account is the customer's")
    assert isinstance(event, ev.ReopenProposed)
    assert desk.case.status == "closed"
    assert isinstance(
        refused(desk, Actor("Alice", "supervisor"), cmd.Approve, proposal_id=event.proposal_id),
        Forbidden,
    )
    assert isinstance(refused(desk, BOB, cmd.Reopen, note="me too"), Invalid)
    reopened = desk.do(SUE, cmd.Approve, proposal_id=event.proposal_id)
    assert isinstance(reopened, ev.Reopened) and reopened.proposal_id == event.proposal_id
    assert reopened.note == event.note  # the approval had no note of its own
    assert (desk.case.status, desk.case.outcome) == ("open", None)


@settings(max_examples=300, deadline=None)
@given(sessions)
def test_in_any_session_no_approval_is_by_its_proposer(session: list[tuple[str, object]]) -> None:
    desk = run_session(session)
    proposers: dict[str, str] = {}
    for event in desk.log:
        if isinstance(event, ev.ReleaseProposed | ev.ReopenProposed):
            proposers[event.proposal_id] = event.actor
        if isinstance(event, ev.ReleaseApproved) or (
            isinstance(event, ev.Reopened) and event.proposal_id is not None
        ):
            assert event.proposal_id is not None
            assert not same_person(event.actor, proposers[event.proposal_id])


@settings(max_examples=300, deadline=None)
@given(
    proposer=st.sampled_from(PEOPLE),
    approver=st.sampled_from(PEOPLE),
    amount=st.decimals(min_value=1, max_value=Decimal("1e9"), places=0),
    wait=st.integers(0, 48 * 60),
)
def test_an_approval_is_taken_only_from_another_supervisor_in_time(
    proposer: Actor, approver: Actor, amount: Decimal, wait: int
) -> None:
    desk = Desk.open(news(amount=str(amount)))
    desk.inboxes = ADMINS_TOO
    try:
        event = desk.do(proposer, cmd.Release, hold_id="hold-w1", note="n")
    except CaseError:
        assert proposer.role == "viewer"
        return
    if not isinstance(event, ev.ReleaseProposed):
        assert amount < 1_000_000
        return
    desk.now += timedelta(minutes=wait)
    allowed = (
        approver.role == "supervisor"
        and not same_person(approver.user, proposer.user)
        and wait < 24 * 60
    )
    try:
        desk.do(approver, cmd.Approve, proposal_id=event.proposal_id)
    except CaseError:
        assert not allowed
    else:
        assert allowed


def test_a_proposal_whose_hold_the_detector_settled_meanwhile_cannot_be_approved() -> None:
    desk, proposal = proposed()
    desk.news(news(status="confirmed_fraud"))
    error = refused(desk, SUE, cmd.Approve, proposal_id=proposal)
    assert isinstance(error, Invalid) and "already confirmed fraud" in error.reason
    desk.do(ALICE, cmd.Withdraw, proposal_id=proposal)


def test_closing_records_the_expiry_of_a_proposal_left_behind() -> None:
    desk, proposal = proposed()
    desk.now += timedelta(hours=25)
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule")
    expired, closed = desk.log[-2:]
    assert isinstance(expired, ev.ProposalExpired) and expired.proposal_id == proposal
    assert isinstance(closed, ev.Closed)
    assert desk.case.proposals == () and desk.case.status == "closed"
