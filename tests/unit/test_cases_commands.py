"""Case commands: who may do what (403), stale versions (409 with what changed), bad
input (400 naming the field), unknown things (404), and that a refusal writes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.test_cases_builders import (
    ADA,
    ADMINS_TOO,
    ALICE,
    BOB,
    INBOXES,
    SUE,
    T0,
    VIC,
    Desk,
    news,
    refused,
)
from withdrawguard.cases import commands as cmd
from withdrawguard.cases import events as ev
from withdrawguard.cases.errors import Conflict, Forbidden, Invalid, NotFound
from withdrawguard.cases.people import Actor


def small() -> Desk:
    """A case opened by a ¥300,000 hold: below the four-eyes threshold."""
    return Desk.open(news(amount="300000"))


@pytest.mark.parametrize(
    ("kind", "kw"),
    [
        (cmd.Claim, {}),
        (cmd.Comment, {"note": "looks fine"}),
        (cmd.ChangeStatus, {"status": "investigating"}),
        (cmd.Release, {"hold_id": "hold-w1", "note": "ok"}),
        (cmd.Close, {"outcome": "other", "note": "n"}),
    ],
)
def test_a_viewer_may_do_nothing(kind: type[Any], kw: dict[str, Any]) -> None:
    error = refused(small(), VIC, kind, **kw)
    assert isinstance(error, Forbidden) and error.status == 403
    assert "viewer may read" in error.reason


def test_claiming_assigns_the_case_to_the_claimer() -> None:
    desk = small()
    event = desk.do(ALICE, cmd.Claim)
    assert isinstance(event, ev.Claimed) and event.actor == "alice"
    assert desk.case.assignee == "alice"


def test_a_case_claimed_by_someone_else_cannot_be_claimed() -> None:
    desk = small()
    desk.do(ALICE, cmd.Claim)
    error = refused(desk, BOB, cmd.Claim)
    assert isinstance(error, Forbidden) and "claimed by alice" in error.reason
    assert isinstance(refused(desk, ALICE, cmd.Claim), Invalid)


def test_a_stale_command_gets_409_saying_what_changed_and_writes_nothing() -> None:
    desk = small()
    seen = desk.case.version
    desk.do(ALICE, cmd.Claim)
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule")
    error = refused(desk, BOB, cmd.Claim, seen=seen)
    assert isinstance(error, Conflict) and error.status == 409
    assert (error.seen, error.current) == (1, 3)
    assert [(c.kind, c.actor) for c in error.changes] == [
        ("claimed", "alice"),
        ("closed", "alice"),
    ]
    assert "claimed by alice" in error.reason and "closed by alice" in error.reason


@pytest.mark.parametrize(
    ("kind", "kw"),
    [
        (cmd.ChangeStatus, {"status": "escalated"}),
        (cmd.Close, {"outcome": "confirmed_fraud", "note": "n"}),
        (cmd.Release, {"hold_id": "hold-w1"}),
    ],
)
def test_acting_on_a_case_someone_claimed_meanwhile_is_409_not_403(
    kind: type[Any], kw: dict[str, Any]
) -> None:
    desk = small()
    seen = desk.case.version
    desk.do(ALICE, cmd.Claim)
    error = refused(desk, BOB, kind, seen=seen, **kw)
    assert isinstance(error, Conflict) and "claimed by alice" in error.reason


def test_an_analyst_cannot_take_a_claimed_case_by_assigning_it_to_themselves() -> None:
    desk = small()
    desk.do(ALICE, cmd.Claim)
    error = refused(desk, BOB, cmd.Assign, assignee=BOB)
    assert isinstance(error, Forbidden) and "claimed by alice" in error.reason
    desk.do(SUE, cmd.Assign, assignee=BOB)
    assert desk.case.assignee == "bob"


def test_an_analyst_may_assign_an_unclaimed_case_to_themselves() -> None:
    desk = small()
    desk.do(BOB, cmd.Assign, assignee=Actor("Bob", "analyst"))
    assert desk.case.assignee == "Bob"


def test_a_version_from_the_future_is_a_conflict_too() -> None:
    desk = small()
    assert isinstance(refused(desk, ALICE, cmd.Claim, seen=5), Conflict)


def test_the_assignee_or_a_supervisor_may_act_on_an_assigned_case_nobody_else() -> None:
    desk = small()
    desk.do(ALICE, cmd.Claim)
    error = refused(desk, BOB, cmd.ChangeStatus, status="escalated")
    assert isinstance(error, Forbidden) and "assigned to alice" in error.reason
    desk.do(ALICE, cmd.ChangeStatus, status="escalated")
    desk.do(SUE, cmd.ChangeStatus, status="investigating")
    assert desk.case.status == "investigating"


def test_anyone_who_may_work_the_inbox_may_comment_on_an_assigned_case() -> None:
    desk = small()
    desk.do(ALICE, cmd.Claim)
    desk.do(BOB, cmd.Comment, note="I saw this customer last week")
    assert desk.case.comments == 1


def test_an_analyst_cannot_assign_a_case_to_someone_else_but_a_supervisor_can() -> None:
    desk = small()
    assert isinstance(refused(desk, ALICE, cmd.Assign, assignee=BOB), Forbidden)
    desk.do(SUE, cmd.Assign, assignee=BOB, note="bob knows this customer")
    assert desk.case.assignee == "bob"
    assert isinstance(refused(desk, SUE, cmd.Assign, assignee=BOB), Invalid)


def test_nobody_is_assigned_a_case_of_an_inbox_they_may_not_work() -> None:
    desk = Desk.open(news(severity="critical"))
    assert desk.case.inbox == "critical"  # supervisors only
    error = refused(desk, SUE, cmd.Assign, assignee=ALICE)
    assert isinstance(error, Invalid) and error.field == "assignee"
    assert isinstance(refused(desk, ALICE, cmd.Claim), Forbidden)
    assert isinstance(refused(desk, VIC, cmd.Assign, assignee=SUE), Forbidden)
    desk.do(SUE, cmd.Claim)


def test_unassigning_frees_the_case() -> None:
    desk = small()
    assert isinstance(refused(desk, ALICE, cmd.Unassign), Invalid)
    desk.do(ALICE, cmd.Claim)
    assert isinstance(refused(desk, BOB, cmd.Unassign), Forbidden)
    desk.do(ALICE, cmd.Unassign, note="on leave")
    assert desk.case.assignee is None


@pytest.mark.parametrize("status", ["closed", "resolved", ""])
def test_status_must_be_an_open_status(status: str) -> None:
    error = refused(small(), ALICE, cmd.ChangeStatus, status=status)
    assert isinstance(error, Invalid) and error.field == "status"


def test_changing_to_the_same_status_is_refused() -> None:
    error = refused(small(), ALICE, cmd.ChangeStatus, status="open")
    assert isinstance(error, Invalid) and "already open" in error.reason


@pytest.mark.parametrize(
    ("kind", "kw"),
    [
        (cmd.Comment, {}),
        (cmd.Close, {"outcome": "other"}),
        (cmd.ChangeStatus, {"status": "escalated"}),
        (cmd.Assign, {"assignee": ALICE}),
        (cmd.Unassign, {}),
    ],
)
def test_a_note_over_2048_characters_is_refused(kind: type[Any], kw: dict[str, Any]) -> None:
    desk = small()
    if kind is cmd.Unassign:
        desk.do(ALICE, cmd.Claim)
    error = refused(desk, SUE, kind, note="n" * 2049, **kw)
    assert isinstance(error, Invalid) and error.status == 400
    assert error.field == "note" and "2049 characters" in error.reason


def test_a_note_of_exactly_2048_characters_is_taken() -> None:
    event = small().do(ALICE, cmd.Comment, note="n" * 2048)
    assert isinstance(event, ev.Commented) and len(event.note) == 2048


@pytest.mark.parametrize("note", ["", "   ", None])
def test_a_comment_needs_text(note: str | None) -> None:
    error = refused(small(), ALICE, cmd.Comment, note=note)
    assert isinstance(error, Invalid) and error.field == "note"


def test_closing_needs_an_outcome_from_the_list_and_a_note() -> None:
    desk = small()
    desk.do(ALICE, cmd.Release, hold_id="hold-w1", note="customer confirmed")
    error = refused(desk, ALICE, cmd.Close, outcome="fraud", note="n")
    assert isinstance(error, Invalid) and error.field == "outcome"
    error = refused(desk, ALICE, cmd.Close, outcome="false_positive")
    assert isinstance(error, Invalid) and error.field == "note"
    desk.do(ALICE, cmd.Close, outcome="false_positive", note="customer travelling")
    assert (desk.case.status, desk.case.outcome) == ("closed", "false_positive")


def test_closing_with_a_hold_still_held_takes_confirmed_fraud() -> None:
    desk = small()
    error = refused(desk, ALICE, cmd.Close, outcome="customer_verified", note="n")
    assert isinstance(error, Invalid) and "hold-w1 is still held" in error.reason
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule account")


def test_closing_with_a_proposal_waiting_is_refused() -> None:
    desk = Desk.open()  # ¥5,000,000: the release is a proposal
    desk.do(ALICE, cmd.Release, hold_id="hold-w1", note="verified")
    error = refused(desk, ALICE, cmd.Close, outcome="confirmed_fraud", note="n")
    assert isinstance(error, Invalid) and "waiting" in error.reason


def test_a_closed_case_takes_comments_but_no_work() -> None:
    desk = small()
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule")
    desk.do(BOB, cmd.Comment, note="for the record")
    for kind, kw in ((cmd.Claim, {}), (cmd.ChangeStatus, {"status": "open"})):
        error = refused(desk, ALICE, kind, **kw)
        assert isinstance(error, Invalid) and "closed" in error.reason


def test_a_small_hold_is_released_by_one_person() -> None:
    desk = small()
    event = desk.do(ALICE, cmd.Release, hold_id="hold-w1")
    assert isinstance(event, ev.HoldReleased)
    assert desk.case.holds[0].fate == "released"
    assert isinstance(refused(desk, ALICE, cmd.Release, hold_id="hold-w1"), Invalid)


def test_releasing_an_unknown_hold_is_404() -> None:
    error = refused(small(), ALICE, cmd.Release, hold_id="hold-nope")
    assert isinstance(error, NotFound) and error.status == 404


def test_a_command_for_another_case_is_404() -> None:
    desk = small()
    command = cmd.Claim(case_id="case-x", command_id="c", seen_version=1)
    with pytest.raises(NotFound):
        cmd.decide(desk.case, ALICE, command, now=T0, policy=desk.policy, inboxes=desk.inboxes)


def test_an_admin_works_only_inboxes_that_list_admins_and_assigns_nobody_else() -> None:
    desk = small()
    assert isinstance(refused(desk, ADA, cmd.Comment, note="n"), Forbidden)
    desk.inboxes = ADMINS_TOO
    assert isinstance(refused(desk, ADA, cmd.Assign, assignee=BOB), Forbidden)
    desk.do(ADA, cmd.Claim)
    assert desk.case.assignee == "ada"


def test_a_case_of_an_inbox_since_removed_is_left_to_supervisors() -> None:
    desk = small()
    desk.inboxes = replace(
        INBOXES, inboxes=tuple(i for i in INBOXES.inboxes if i.name != "general")
    )
    assert isinstance(refused(desk, ALICE, cmd.Comment, note="n"), Forbidden)
    desk.do(SUE, cmd.Comment, note="moving it")


def test_reopening_an_ordinary_closed_case_takes_one_person_and_a_note() -> None:
    desk = small()
    desk.do(ALICE, cmd.Release, hold_id="hold-w1")
    desk.do(ALICE, cmd.Close, outcome="false_positive", note="travel")
    assert isinstance(refused(desk, ALICE, cmd.Reopen), Invalid)
    desk.now += timedelta(hours=30)
    event = desk.do(ALICE, cmd.Reopen, note="customer called back")
    assert isinstance(event, ev.Reopened) and event.proposal_id is None
    assert (desk.case.status, desk.case.outcome, desk.case.closed_at) == ("open", None, None)
    assert desk.case.due_at == desk.now + timedelta(minutes=desk.case.sla_minutes)


def test_reopening_an_open_case_is_refused() -> None:
    error = refused(small(), ALICE, cmd.Reopen, note="why")
    assert isinstance(error, Invalid) and "not closed" in error.reason
