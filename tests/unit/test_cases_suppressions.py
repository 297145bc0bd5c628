"""Suppressions: at most the policy's longest, muting named reasons for one customer
until a time, expiring by themselves; the engine's helper says which one applied."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_cases_builders import ALICE, T0, VIC, Desk, refused
from withdrawguard.cases import commands as cmd
from withdrawguard.cases import events as ev
from withdrawguard.cases.errors import Forbidden, Invalid
from withdrawguard.cases.suppressions import UNMUTABLE, Suppression, applying, expired, unmuted
from withdrawguard.engine import suppressions as engine_side


def mute(sid: str, codes: tuple[str, ...], days: int, customer: str = "cust-1") -> Suppression:
    return Suppression(sid, customer, codes, T0 + timedelta(days=days), "n", "alice", T0, "case-1")


def test_a_suppression_from_a_case_is_recorded_on_it() -> None:
    desk = Desk.open()
    until = T0 + timedelta(days=14)
    event = desk.do(
        ALICE,
        cmd.Suppress,
        reason_codes=("NEW_DEVICE", "NEW_DEVICE"),
        until=until,
        note="new phone",
    )
    assert isinstance(event, ev.SuppressionAdded) and event.reason_codes == ("NEW_DEVICE",)
    [s] = desk.case.suppressions
    assert (s.customer_id, s.created_by, s.case_id, s.until) == (
        "cust-1",
        "alice",
        desk.case.case_id,
        until,
    )


def test_a_suppression_longer_than_the_policy_maximum_is_refused() -> None:
    desk = Desk.open()
    longest = desk.policy.max_suppression
    error = refused(
        desk,
        ALICE,
        cmd.Suppress,
        reason_codes=("NEW_DEVICE",),
        until=T0 + longest + timedelta(seconds=1),
        note="n",
    )
    assert (
        isinstance(error, Invalid) and error.field == "until" and "at most 30 days" in error.reason
    )
    desk.do(ALICE, cmd.Suppress, reason_codes=("NEW_DEVICE",), until=T0 + longest, note="n")


def test_a_suppression_needs_known_reasons_a_future_end_and_a_note() -> None:
    desk = Desk.open()
    week = T0 + timedelta(days=7)
    for kw, field in (
        ({"reason_codes": ("NOPE",), "until": week, "note": "n"}, "reason_codes"),
        ({"reason_codes": (), "until": week, "note": "n"}, "reason_codes"),
        ({"reason_codes": ("DRAIN",), "until": T0, "note": "n"}, "until"),
        ({"reason_codes": ("DRAIN",), "until": week, "note": " "}, "note"),
        ({"reason_codes": ("DRAIN",), "until": week.replace(tzinfo=None), "note": "n"}, "until"),
    ):
        error = refused(desk, ALICE, cmd.Suppress, **kw)
        assert isinstance(error, Invalid) and error.field == field
    assert isinstance(
        refused(desk, VIC, cmd.Suppress, reason_codes=("DRAIN",), until=week, note="n"), Forbidden
    )


def test_a_suppression_may_be_made_from_a_closed_case() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="n")
    desk.do(ALICE, cmd.Suppress, reason_codes=("DRAIN",), until=T0 + timedelta(days=1), note="n")


def test_suppressions_expire_by_themselves() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Suppress, reason_codes=("DRAIN",), until=T0 + timedelta(days=2), note="n")
    assert desk.tick(timedelta(days=1, hours=23)) == []
    [gone] = desk.tick(timedelta(hours=1))
    assert isinstance(gone, ev.SuppressionExpired) and gone.actor == "system"
    assert desk.case.suppressions == ()


def test_active_from_creation_until_the_end_exclusive() -> None:
    s = mute("s1", ("DRAIN",), 2)
    assert not s.active_at(T0 - timedelta(seconds=1))
    assert s.active_at(T0) and s.active_at(s.until - timedelta(microseconds=1))
    assert not s.active_at(s.until) and s.expired_at(s.until)
    assert expired([s], s.until) == (s,)


def test_the_engine_learns_which_suppression_mutes_which_reason() -> None:
    short, long_, other = (
        mute("s1", ("DRAIN", "NEW_DEVICE"), 2),
        mute("s2", ("DRAIN",), 9),
        mute("s3", ("DRAIN",), 9, "cust-2"),
    )
    found = applying(
        [short, long_, other], "cust-1", ("DRAIN", "NEW_DEVICE", "WITHDRAWAL_BURST"), T0
    )
    assert [(a.reason_code, a.suppression.suppression_id) for a in found] == [
        ("DRAIN", "s2"),
        ("NEW_DEVICE", "s1"),
    ]
    assert unmuted([short, long_], "cust-1", ("DRAIN", "WITHDRAWAL_BURST"), T0) == (
        "WITHDRAWAL_BURST",
    )
    assert applying([short], "cust-1", ("NEW_DEVICE",), T0 + timedelta(days=3)) == ()


@given(
    st.permutations([mute("a", ("DRAIN",), 3), mute("b", ("DRAIN",), 3), mute("c", ("DRAIN",), 1)])
)
def test_which_suppression_applies_does_not_depend_on_their_order(order: list[Suppression]) -> None:
    [applied] = applying(order, "cust-1", ("DRAIN",), T0)
    assert applied.suppression.suppression_id == "a"


def test_a_reason_that_may_never_be_muted_is_refused_by_name() -> None:
    desk = Desk.open()
    for code in sorted(UNMUTABLE):
        error = refused(
            desk,
            ALICE,
            cmd.Suppress,
            reason_codes=("NEW_DEVICE", code),
            until=T0 + timedelta(days=1),
            note="n",
        )
        assert isinstance(error, Invalid) and error.field == "reason_codes"
        assert f"{code} may never be suppressed" in error.reason
    assert desk.case.suppressions == ()


def test_the_case_side_and_the_engine_share_one_suppression_and_one_applying() -> None:
    assert Suppression is engine_side.Suppression and applying is engine_side.applying


def test_applying_never_mutes_a_reason_that_may_never_be_muted() -> None:
    codes = ("CONFIRMED_FRAUD_DESTINATION", "SOURCE_IP_SHARED", "DRAIN")
    found = applying([mute("s1", codes, 3)], "cust-1", codes, T0)
    assert [a.reason_code for a in found] == ["DRAIN"]
