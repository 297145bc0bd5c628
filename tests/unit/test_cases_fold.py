"""The case fold: each event's effect, and rebuilding from the log equals the live state."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given, settings

from tests.unit.test_cases_builders import ALICE, SUE, T0, Desk, news, run_session, sessions
from withdrawguard.cases import codec
from withdrawguard.cases import commands as cmd
from withdrawguard.cases import events as ev
from withdrawguard.cases.case import CaseFoldError, apply, rebuild
from withdrawguard.cases.events import SEVERITIES


@settings(max_examples=300, deadline=None)
@given(sessions)
def test_rebuilding_from_the_log_equals_the_live_case(session: list[tuple[str, object]]) -> None:
    desk = run_session(session)
    assert rebuild(desk.log) == desk.case
    assert rebuild(list(desk.log)) == rebuild(desk.log)  # the fold is deterministic
    assert desk.case.version == len(desk.log)


@settings(max_examples=200, deadline=None)
@given(sessions)
def test_the_log_read_back_through_the_codec_rebuilds_the_same_case(
    session: list[tuple[str, object]],
) -> None:
    desk = run_session(session)
    wire = [codec.decode_bytes(codec.encode_bytes(e)) for e in desk.log]
    assert wire == desk.log
    assert rebuild(wire) == desk.case


@settings(max_examples=200, deadline=None)
@given(sessions)
def test_a_closed_case_has_no_hold_left_held(session: list[tuple[str, object]]) -> None:
    desk = run_session(session)
    case = None
    for event in desk.log:
        case = apply(case, event)
        if isinstance(event, ev.Closed):
            assert all(h.fate != "held" for h in case.holds)
            assert not case.proposals


def test_opening_records_customer_inbox_due_time_and_the_hold() -> None:
    desk = Desk.open(news(amount="5000000"))
    case = desk.case
    assert (case.customer_id, case.status, case.version) == ("cust-1", "open", 1)
    assert case.inbox == "large-withdrawals"
    assert case.due_at == T0 + timedelta(hours=2)
    [hold] = case.holds
    assert (hold.hold_id, hold.amount, hold.currency, hold.fate) == (
        "hold-w1",
        5_000_000,
        "JPY",
        "held",
    )


def test_joined_news_raises_severity_and_collects_reasons_but_never_lowers_severity() -> None:
    desk = Desk.open(news(severity="high", reasons=("DRAIN",)))
    desk.news(news("alert-1", kind="alert", severity="critical", reasons=("NEW_DEVICE",)))
    desk.news(news("w9", kind="verdict", severity="low", reasons=("WITHDRAWAL_BURST",)))
    assert desk.case.severity == "critical"
    assert desk.case.reason_codes == ("DRAIN", "NEW_DEVICE", "WITHDRAWAL_BURST")
    assert SEVERITIES.index(desk.case.severity) == len(SEVERITIES) - 1


def test_the_hold_fate_follows_the_detector() -> None:
    desk = Desk.open()
    desk.news(news(status="released"))
    assert desk.case.hold("hold-w1") is not None
    assert desk.case.hold("hold-w1").fate == "released"  # type: ignore[union-attr]
    assert len(desk.case.holds) == 1


def test_closing_as_confirmed_fraud_confirms_every_held_hold() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Claim)
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule account")
    assert desk.case.status == "closed"
    assert desk.case.outcome == "confirmed_fraud"
    assert desk.case.closed_at == T0
    assert [h.fate for h in desk.case.holds] == ["confirmed_fraud"]


def test_changes_since_tells_a_stale_reader_what_happened() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Claim)
    desk.do(ALICE, cmd.Comment, note="called the customer")
    assert [(c.kind, c.actor) for c in desk.case.changes_since(1)] == [
        ("claimed", "alice"),
        ("commented", "alice"),
    ]


def test_an_event_of_another_case_is_refused() -> None:
    desk = Desk.open()
    other = ev.Claimed(case_id="case-other", event_id="e", actor="alice", at=T0)
    with pytest.raises(CaseFoldError, match="case-other"):
        apply(desk.case, other)


def test_an_event_before_opened_is_refused() -> None:
    with pytest.raises(CaseFoldError, match="never opened"):
        apply(None, ev.Claimed(case_id="c", event_id="e", actor="alice", at=T0))
    with pytest.raises(CaseFoldError):
        rebuild([])


def test_opening_twice_is_refused() -> None:
    desk = Desk.open()
    with pytest.raises(CaseFoldError, match="already open"):
        apply(desk.case, desk.log[0])


def test_a_hold_without_its_amount_cannot_join() -> None:
    desk = Desk.open()
    bad = ev.Joined(
        case_id=desk.case.case_id, event_id="e", actor="system", at=T0, trigger=news(amount=None)
    )
    with pytest.raises(CaseFoldError, match="amount"):
        apply(desk.case, bad)


def test_approving_an_unknown_proposal_breaks_the_fold() -> None:
    desk = Desk.open()
    bad = ev.ReleaseApproved(
        case_id=desk.case.case_id,
        event_id="e",
        actor=SUE.user,
        at=T0,
        proposal_id="nope",
        hold_id="hold-w1",
    )
    with pytest.raises(CaseFoldError, match="nope"):
        apply(desk.case, bad)


def test_the_case_keeps_only_the_latest_changes_but_counts_them_all() -> None:
    desk = Desk.open()
    for i in range(40):
        desk.do(ALICE, cmd.Comment, note=f"note {i}")
    assert desk.case.comments == 40
    assert desk.case.version == 41
    assert len(desk.case.recent) == 16
    assert desk.case.recent[-1].version == 41


def test_replace_keeps_cases_comparable() -> None:
    """Cases are values: equal when every field is, so a projection can be checked."""
    desk = Desk.open()
    assert replace(desk.case) == desk.case
    assert replace(desk.case, comments=1) != desk.case


def test_the_first_action_by_a_person_is_remembered() -> None:
    desk = Desk.open()
    desk.news(news("hold-w2"))
    assert desk.case.first_action_at is None  # the system's news is no action
    desk.now = T0 + timedelta(minutes=7)
    desk.do(ALICE, cmd.Claim)
    desk.now = T0 + timedelta(minutes=9)
    desk.do(ALICE, cmd.Comment, note="n")
    assert desk.case.first_action_at == T0 + timedelta(minutes=7)
