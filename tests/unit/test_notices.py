"""Customer notices out, customer responses in (engine/notices.py, docs/contract.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.player import Player
from tests.unit.test_cases_builders import INBOXES, Desk
from withdrawguard.cases.intake import alert_news, intake
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, decode_object
from withdrawguard.engine.policy import fingerprint, load_policy, parse_policy
from withdrawguard.scan.timeline import summary
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import response

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def customer(player: Player, cid: str = "c1") -> None:
    player.play(s.honest_history(cid, T0 - 30 * DAY))


def dest_change(cid: str, at: datetime, eid: str = "") -> s.Message:
    return s.change(cid, eid or f"{cid}-d", at, "withdrawal_destination", destination=s.MULE_DEST)


def withdraw(cid: str, n: int, at: datetime, amount: str = "100000") -> s.Message:
    return s.withdrawal(
        cid,
        f"{cid}-w{n}",
        at,
        f"{cid}-wd{n}",
        amount,
        destination=s.MULE_DEST,
        balance="10000000",
        ip=s.home_ip(cid),
        device=s.home_device(cid),
    )


def notices(player: Player, kind: str | None = None) -> list[dict[str, Any]]:
    return [n.to_wire() for n in player.notices if kind in (None, n.to_wire()["kind"])]


def codes(player: Player, wid: str) -> list[str]:
    return [r["code"] for r in player.latest(wid).payload["reasons"]]


def reason(player: Player, wid: str, code: str) -> dict[str, Any]:
    [found] = [r for r in player.latest(wid).payload["reasons"] if r["code"] == code]
    return found


# ------------------------------------------------------------------ notices out


def test_a_destination_change_sends_one_notice_to_the_current_contact(player: Player) -> None:
    customer(player)
    player.play([dest_change("c1", T0)])
    [notice] = notices(player)
    assert notice["kind"] == "destination_change"
    assert notice["event_id"] == "c1-d"
    assert notice["contact"] == "current"
    assert notice["contact_as_of"] is None
    assert notice["destination"] == "bank 0009 branch 222 acct ****4321"
    assert "7654321" not in str(notice)
    assert notice["occurred_at"] == "2024-05-01T09:00:00+00:00"
    assert notice["channel"] == "web"


def test_a_repeated_event_sends_nothing_and_a_replay_gives_the_same_notice_id(
    player: Player, engine: Engine
) -> None:
    customer(player)
    player.play([dest_change("c1", T0), dest_change("c1", T0)])
    [first] = notices(player)
    again = Player(engine, CrossReference(engine.policy))
    customer(again)
    again.play([dest_change("c1", T0)])
    assert [n["notice_id"] for n in notices(again)] == [first["notice_id"]]


def test_an_email_change_within_the_window_names_the_contact_before_it(player: Player) -> None:
    """The email changed 2 days before the destination change: both notices go to the
    contact registered just before the email change."""
    customer(player)
    player.play(
        [
            s.change("c1", "c1-e", T0 - 2 * DAY, "email"),
            dest_change("c1", T0),
        ]
    )
    email, dest = notices(player)
    assert email["kind"] == "credential_change" and email["change_type"] == "email"
    for notice in (email, dest):
        assert notice["contact"] == "as_of"
        assert notice["contact_as_of"] == "2024-04-29T08:59:59.999000+00:00"


def test_a_contact_change_older_than_the_window_leaves_the_current_contact(
    player: Player,
) -> None:
    customer(player)
    player.play([s.change("c1", "c1-e", T0 - 8 * DAY, "phone"), dest_change("c1", T0)])
    assert notices(player, "destination_change")[0]["contact"] == "current"


def test_several_contact_changes_in_the_window_name_the_contact_before_the_first(
    player: Player,
) -> None:
    customer(player)
    player.play(
        [
            s.change("c1", "c1-e", T0 - 3 * DAY, "email"),
            s.change("c1", "c1-p", T0 - DAY, "phone"),
            dest_change("c1", T0),
        ]
    )
    dest = notices(player, "destination_change")[0]
    assert dest["contact_as_of"] == "2024-04-28T08:59:59.999000+00:00"


def test_a_hold_sends_one_notice_however_often_its_verdict_is_reissued(player: Player) -> None:
    customer(player)
    player.play([dest_change("c1", T0), withdraw("c1", 1, T0 + HOUR)])
    [hold] = notices(player, "hold")
    assert hold["withdrawal_id"] == "c1-wd1"
    assert hold["event_id"] == "c1-w1"
    assert hold["destination"].endswith("****4321")
    player.play([s.change("c1", "c1-p", T0 + 2 * HOUR, "password")])  # re-issues the verdict
    assert len(notices(player, "hold")) == 1


def test_an_address_change_sends_no_notice_and_the_policy_can_switch_notices_off(
    player: Player,
) -> None:
    customer(player)
    player.play([s.change("c1", "c1-a", T0, "address")])
    assert notices(player) == []
    off = Engine(parse_policy("[notices]\nenabled = false\n", "x"))
    quiet = Player(off, CrossReference(off.policy))
    customer(quiet)
    quiet.play([dest_change("c1", T0)])
    assert quiet.notices == []


def test_the_notices_table_changes_no_published_policy_fingerprint() -> None:
    assert fingerprint(load_policy()) == "6d36727c"
    assert fingerprint(parse_policy("[notices]\nkeep_days = 30\n", "x")) == "6d36727c"
    assert fingerprint(parse_policy("[notices]\nkeep_days = 10\n", "x")) != "6d36727c"


# ------------------------------------------------------------------ responses in


def notice_id(player: Player, kind: str) -> str:
    return str(notices(player, kind)[-1]["notice_id"])


def test_a_denied_destination_change_holds_pending_and_later_withdrawals_to_it(
    player: Player,
) -> None:
    """Four days after the change (past the cooling-off) a small withdrawal is allowed;
    the customer's denial holds it and the next one, as confirm_fraud would."""
    customer(player)
    player.play([dest_change("c1", T0), withdraw("c1", 1, T0 + 4 * DAY)])
    assert player.latest("c1-wd1").decision == "allow"
    nid = notice_id(player, "destination_change")
    player.play([response("c1", "r1", T0 + 4 * DAY + HOUR, nid, "deny")])
    assert player.latest("c1-wd1").decision == "hold"
    detail = reason(player, "c1-wd1", "CONFIRMED_FRAUD_DESTINATION")["detail"]
    assert detail == f"destination confirmed fraudulent by the customer's denial r1 of notice {nid}"
    assert "LATE_EVIDENCE" in codes(player, "c1-wd1")
    [alert] = [a.to_wire() for a in player.alerts if a.kind == "customer_denial"]
    assert alert["severity"] == "critical"
    assert alert["rule_codes"] == ["CONFIRMED_FRAUD_DESTINATION"]
    assert alert["withdrawal_id"] is None
    assert [e["event_id"] for e in alert["evidence"]] == ["c1-d"]
    assert "r1" in alert["summary"] and nid in alert["summary"]
    player.play([withdraw("c1", 2, T0 + 5 * DAY)])
    assert player.latest("c1-wd2").decision == "hold"
    assert "CONFIRMED_FRAUD_DESTINATION" in codes(player, "c1-wd2")


def test_a_denied_hold_marks_its_destination_fraudulent(player: Player) -> None:
    customer(player)
    player.play([dest_change("c1", T0), withdraw("c1", 1, T0 + HOUR)])
    nid = notice_id(player, "hold")
    player.play([response("c1", "r1", T0 + 2 * HOUR, nid, "deny")])
    assert "CONFIRMED_FRAUD_DESTINATION" in codes(player, "c1-wd1")
    [alert] = [a for a in player.alerts if a.kind == "customer_denial"]
    assert alert.withdrawal_id == "c1-wd1"
    assert player.state("c1").fraud_dest


def test_a_denied_credential_change_holds_the_withdrawals_within_the_window_after_it(
    player: Player,
) -> None:
    customer(player)
    player.play(
        [
            s.change("c1", "c1-p", T0, "password"),
            s.withdrawal(
                "c1",
                "c1-w1",
                T0 + HOUR,
                "c1-wd1",
                "1000",
                destination=s.HOME_DEST,
                balance="10000000",
                ip=s.home_ip("c1"),
                device=s.home_device("c1"),
            ),
        ]
    )
    assert player.latest("c1-wd1").decision == "allow"
    nid = notice_id(player, "credential_change")
    player.play([response("c1", "r1", T0 + 2 * HOUR, nid, "deny")])
    assert player.latest("c1-wd1").decision == "hold"
    denied = reason(player, "c1-wd1", "CUSTOMER_DENIED")
    assert denied["weight"] == 100
    assert denied["detail"].startswith("the customer denied the password change of 2024-05-01")
    assert f"(response r1 to notice {nid})" in denied["detail"]
    [alert] = [a for a in player.alerts if a.kind == "customer_denial"]
    assert (alert.severity, alert.rule_codes) == ("critical", ("CUSTOMER_DENIED",))


def test_a_confirmation_through_the_contact_before_the_change_releases_the_hold(
    player: Player,
) -> None:
    customer(player)
    player.play(
        [
            s.change("c1", "c1-e", T0 - DAY, "email"),
            dest_change("c1", T0),
            withdraw("c1", 1, T0 + HOUR),
        ]
    )
    assert player.latest("c1-wd1").decision == "hold"
    notice = notices(player, "destination_change")[0]
    assert notice["contact"] == "as_of"
    player.play(
        [
            response(
                "c1",
                "r1",
                T0 + 2 * HOUR,
                notice["notice_id"],
                "confirm",
                contact_as_of=notice["contact_as_of"],
            )
        ]
    )
    assert player.latest("c1-wd1").decision == "allow"
    assert reason(player, "c1-wd1", "RELEASED")["detail"] == "hold released by customer"
    hold = player.hold("c1-wd1").to_wire()
    assert hold["status"] == "released" and hold["actor"] == "customer"
    assert "r1" in hold["note"]


def test_a_confirmation_through_a_contact_changed_within_the_window_counts_for_nothing(
    player: Player,
) -> None:
    customer(player)
    player.play(
        [
            s.change("c1", "c1-e", T0 - DAY, "email"),
            dest_change("c1", T0),
            withdraw("c1", 1, T0 + HOUR),
        ]
    )
    nid = notice_id(player, "destination_change")
    player.play([response("c1", "r1", T0 + 2 * HOUR, nid, "confirm")])
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold"
    not_counted = reason(player, "c1-wd1", "CONFIRMATION_NOT_COUNTED")
    assert not_counted["weight"] == 0
    assert (
        "came through the current contact, changed at 2024-04-30T09:00:00"
        in (not_counted["detail"])
    )
    assert not_counted["detail"].endswith("it counts for nothing")
    assert player.hold("c1-wd1").status == "held"
    assert not player.state("c1").verified_dest


def test_an_unanswered_notice_changes_nothing(player: Player) -> None:
    customer(player)
    player.play([dest_change("c1", T0), withdraw("c1", 1, T0 + 4 * DAY)])
    before = player.latest("c1-wd1")
    player.play([withdraw("c1", 2, T0 + 4 * DAY + HOUR)])
    assert player.latest("c1-wd1") == before
    assert "CONFIRMATION_NOT_COUNTED" not in codes(player, "c1-wd2")


# ------------------------------------------------------------------ bad responses


def test_a_response_the_notice_cannot_take_is_refused_naming_the_field_and_changes_nothing(
    player: Player,
) -> None:
    customer(player)
    customer(player, "c2")
    player.play([dest_change("c1", T0), dest_change("c2", T0)])
    nid = notice_id(player, "destination_change")  # c2's
    before = player.states["c1"]
    cases = [
        (response("c1", "r1", T0 + HOUR, "ntc-unknown", "deny"), "notice_id", "names no notice"),
        (response("c1", "r2", T0 + HOUR, nid, "deny"), "notice_id", "another customer's"),
        (response("c2", "r3", T0 - HOUR, nid, "deny"), "occurred_at", "before its notice"),
    ]
    for msg, field, says in cases:
        with pytest.raises(InvalidEvent) as caught:
            player.play([msg])
        assert caught.value.field == field
        assert says in str(caught.value)
    assert player.states["c1"] == before

    player.play([response("c2", "r4", T0 + HOUR, nid, "confirm")])
    with pytest.raises(InvalidEvent) as caught:
        player.play([response("c2", "r5", T0 + 2 * HOUR, nid, "deny")])
    assert caught.value.field == "notice_id"
    assert "was already answered by response 'r4' (confirm)" in str(caught.value)

    answered = player.states["c2"]
    count = len(player.verdicts) + len(player.alerts)
    player.play([response("c2", "r4", T0 + HOUR, nid, "confirm")])  # the same one again
    assert player.states["c2"] == answered
    assert len(player.verdicts) + len(player.alerts) == count


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("answer", "maybe", "answer: must be one of confirm, deny; got 'maybe'"),
        ("contact", "old", "contact: must be one of as_of, current; got 'old'"),
        ("contact_as_of", "2024-05-01T08:00:00Z", "contact_as_of: must be absent when contact"),
        ("notice_id", None, "notice_id: is required"),
        ("channel", "fax", "channel: must be one of api, branch, call_center"),
    ],
)
def test_the_decoder_refuses_a_bad_response_naming_the_field(
    field: str, value: Any, error: str
) -> None:
    _topic, body = response("c1", "r1", T0, "ntc-1", "deny")
    with pytest.raises(InvalidEvent) as caught:
        decode_object({**body, field: value}, "customer_response")
    assert caught.value.field == field
    assert str(caught.value).startswith(error)


def test_an_as_of_response_needs_a_time_not_after_it() -> None:
    _topic, body = response(
        "c1", "r1", T0, "ntc-1", "confirm", contact_as_of="2024-04-30T00:00:00Z"
    )
    assert decode_object(body, "customer_response").contact_as_of == T0 - DAY - 9 * HOUR
    for as_of, error in ((None, "is required"), ("2024-05-02T00:00:00Z", "must not be later")):
        with pytest.raises(InvalidEvent) as caught:
            decode_object({**body, "contact_as_of": as_of}, "customer_response")
        assert caught.value.field == "contact_as_of" and error in str(caught.value)


def test_a_confirmation_counts_through_any_time_that_names_the_same_contact(
    player: Player,
) -> None:
    """The notice names the contact as of just before the email change; an answer naming
    a time two days earlier (no change between) is the same contact, and counts."""
    customer(player)
    player.play(
        [
            s.change("c1", "c1-e", T0 - DAY, "email"),
            dest_change("c1", T0),
            withdraw("c1", 1, T0 + HOUR),
        ]
    )
    nid = notice_id(player, "destination_change")
    earlier = (T0 - 3 * DAY).isoformat()
    player.play([response("c1", "r1", T0 + 2 * HOUR, nid, "confirm", contact_as_of=earlier)])
    assert player.latest("c1-wd1").decision == "allow"


def test_a_contact_changed_after_a_current_notice_makes_a_confirmation_through_it_count_for_nothing(
    player: Player,
) -> None:
    customer(player)
    player.play([dest_change("c1", T0), withdraw("c1", 1, T0 + HOUR)])
    notice = notices(player, "destination_change")[0]
    assert notice["contact"] == "current"
    player.play([s.change("c1", "c1-p", T0 + 90 * MINUTE, "phone")])
    player.play([response("c1", "r1", T0 + 2 * HOUR, notice["notice_id"], "confirm")])
    assert player.latest("c1-wd1").decision == "hold"
    detail = reason(player, "c1-wd1", "CONFIRMATION_NOT_COUNTED")["detail"]
    assert "came through the current contact, changed at 2024-05-01T10:30:00+00:00" in detail


def test_a_confirmation_naming_the_time_of_a_current_notice_counts(player: Player) -> None:
    customer(player)
    player.play([dest_change("c1", T0), withdraw("c1", 1, T0 + HOUR)])
    notice = notices(player, "destination_change")[0]
    player.play(
        [
            response(
                "c1", "r1", T0 + 2 * HOUR, notice["notice_id"], "confirm",
                contact_as_of=notice["created_at"],
            )
        ]
    )  # fmt: skip
    assert player.latest("c1-wd1").decision == "allow"


def test_the_scans_timeline_says_what_the_customer_answered() -> None:
    _topic, body = response("c1", "r1", T0, "ntc-1", "deny", contact_as_of="2024-04-30T00:00:00Z")
    event = decode_object(body, "customer_response")
    assert summary(event) == "customer answered deny to notice ntc-1 via an earlier contact"


def test_a_denial_escalates_the_customers_open_case_to_critical_or_opens_one(
    player: Player,
) -> None:
    """The customer's case, opened by a high hold, becomes critical when the customer
    denies the change; without a case, the denial's alert opens one."""
    desk = Desk.open(customer="c1")
    assert desk.case.severity == "high"
    customer(player)
    player.play([s.change("c1", "c1-p", T0, "password")])
    nid = notice_id(player, "credential_change")
    player.play([response("c1", "r1", T0 + HOUR, nid, "deny")])
    [alert] = [a for a in player.alerts if a.kind == "customer_denial"]
    [joined] = desk.news(alert_news(alert))
    assert joined.kind == "joined"
    assert desk.case.severity == "critical"
    assert "CUSTOMER_DENIED" in desk.case.reason_codes
    [opened] = intake([], "c1", alert_news(alert), now=T0, inboxes=INBOXES)
    assert opened.kind == "opened"


def test_an_unanswered_notice_keeps_the_contact_changes_its_answer_is_checked_against(
    player: Player,
) -> None:
    """Notices are answerable for `keep_days` (30), account changes are kept about 17
    days: a phone changed the day after a notice must still make a confirmation through
    the current contact count for nothing three weeks later."""
    customer(player)
    player.play([dest_change("c1", T0), withdraw("c1", 1, T0 + HOUR)])
    notice = notices(player, "destination_change")[0]
    player.play([s.change("c1", "c1-p", T0 + DAY, "phone")])
    later = [s.login("c1", f"c1-late-{d}", T0 + d * DAY) for d in range(2, 22)]
    player.play(later)
    assert "c1-p" not in player.state("c1").changes, "past the changes' window"
    assert "c1-p" in player.state("c1").kept.changes
    player.play([response("c1", "r1", T0 + 21 * DAY, notice["notice_id"], "confirm")])
    answered = player.state("c1").notices[notice["notice_id"]]
    assert not answered.counted
    assert "came through the current contact, changed at 2024-05-02T09:00:00+00:00" in (
        answered.why_not
    )


def test_a_confirmation_that_counted_for_nothing_leaves_the_notice_open_to_a_denial(
    player: Player,
) -> None:
    """The attacker changed the email, then the destination, and confirms the notice
    first through the email they set: it counts for nothing, and it must not shut out
    the victim's denial through the contact the notice named."""
    customer(player)
    player.play(
        [
            s.change("c1", "c1-e", T0 - DAY, "email"),
            dest_change("c1", T0),
            withdraw("c1", 1, T0 + HOUR),
        ]
    )
    notice = notices(player, "destination_change")[0]
    nid, as_of = notice["notice_id"], notice["contact_as_of"]
    attacker = response("c1", "r-attacker", T0 + 90 * MINUTE, nid, "confirm")
    player.play([attacker])
    assert "CONFIRMATION_NOT_COUNTED" in codes(player, "c1-wd1")
    player.play([response("c1", "r-victim", T0 + 3 * HOUR, nid, "deny", contact_as_of=as_of)])
    assert "CONFIRMED_FRAUD_DESTINATION" in codes(player, "c1-wd1")
    assert "CONFIRMATION_NOT_COUNTED" not in codes(player, "c1-wd1")
    assert [a.kind for a in player.alerts].count("customer_denial") == 1
    # a copy of the superseded confirmation, redelivered, is known as one: nothing changes
    before = player.latest("c1-wd1")
    player.play([attacker])
    assert player.latest("c1-wd1") == before
    # a denial is final: a confirmation after it is refused, naming the field
    with pytest.raises(InvalidEvent, match="notice_id: was already answered by response"):
        player.play([response("c1", "r-late", T0 + 4 * HOUR, nid, "confirm", contact_as_of=as_of)])


def test_a_sell_off_after_a_destination_change_the_customer_confirmed_is_no_liquidation(
    player: Player,
) -> None:
    """The customer confirmed the destination change through the contact the notice
    named; selling most holdings and withdrawing the proceeds afterwards is theirs."""
    customer(player)
    player.play([dest_change("c1", T0)])
    nid = notice_id(player, "destination_change")
    player.play([response("c1", "r1", T0 + HOUR, nid, "confirm")])
    player.play(
        [
            s.trade("c1", "c1-t1", T0 + 2 * HOUR, "9000000", holdings_after="500000"),
            withdraw("c1", 1, T0 + 2 * DAY, amount="9000000"),
        ]
    )
    assert "LIQUIDATION" not in codes(player, "c1-wd1")
    assert not [a for a in player.alerts if a.kind == "liquidation"]


def test_a_sell_off_after_an_unanswered_destination_change_is_liquidation(player: Player) -> None:
    customer(player)
    player.play([dest_change("c1", T0)])
    player.play(
        [
            s.trade("c1", "c1-t1", T0 + 2 * HOUR, "9000000", holdings_after="500000"),
            withdraw("c1", 1, T0 + 2 * DAY, amount="9000000"),
        ]
    )
    assert "LIQUIDATION" in codes(player, "c1-wd1")


@pytest.mark.parametrize("denied_first", [True, False], ids=["denial first", "change first"])
def test_a_denied_credential_change_marks_the_destinations_set_after_it_fraudulent(
    player: Player, denied_first: bool
) -> None:
    """The patient attacker: a password change, a destination change two days later, the
    withdrawal eight days after the password change (past `denied_change_hold_hours` and
    the destination's cooling-off). The victim's denial of the password change holds it,
    whichever of the denial and the destination change the detector reads first."""
    customer(player)
    player.play([s.change("c1", "c1-p", T0, "password")])
    nid = notice_id(player, "credential_change")
    denial = response("c1", "r1", T0 + 3 * HOUR, nid, "deny")
    later = dest_change("c1", T0 + 2 * DAY)
    player.play([denial, later] if denied_first else [later, denial])
    player.play([withdraw("c1", 1, T0 + 8 * DAY)])
    assert player.latest("c1-wd1").decision == "hold"
    assert "CUSTOMER_DENIED" not in codes(player, "c1-wd1")  # past its 168 h
    detail = reason(player, "c1-wd1", "CONFIRMED_FRAUD_DESTINATION")["detail"]
    assert detail == (
        f"destination confirmed fraudulent by the customer's denial r1 of notice {nid} "
        "(the password change of 2024-05-01T09:00:00+00:00, before it was set)"
    )
    [(key, (_at, ref))] = player.state("c1").fraud_dest.items()
    assert ref == "r1"
    assert player.dests[key].fraud is not None  # the destination stage: other customers


def test_a_destination_set_past_the_denied_changes_window_is_not_marked(player: Player) -> None:
    customer(player)
    player.play([s.change("c1", "c1-p", T0, "password")])
    nid = notice_id(player, "credential_change")
    player.play(
        [
            response("c1", "r1", T0 + 3 * HOUR, nid, "deny"),
            dest_change("c1", T0 + 8 * DAY),
            withdraw("c1", 1, T0 + 12 * DAY),
        ]
    )
    assert player.latest("c1-wd1").decision == "allow"
    assert not player.state("c1").fraud_dest


def test_without_the_denial_the_patient_withdrawal_is_allowed(player: Player) -> None:
    """The counterpart of the two tests above: the same history, unanswered."""
    customer(player)
    player.play(
        [
            s.change("c1", "c1-p", T0, "password"),
            dest_change("c1", T0 + 2 * DAY),
            withdraw("c1", 1, T0 + 8 * DAY),
        ]
    )
    assert player.latest("c1-wd1").decision == "allow"
