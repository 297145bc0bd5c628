"""Intake: the detector's holds, alerts and verdicts open and join a customer's cases;
the same news read twice writes nothing twice; a waiting case resurfaces on a new hold;
a closed case is never reopened by the detector."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.unit.test_cases_builders import ALICE, INBOXES, T0, Desk, news
from withdrawguard.cases import codec
from withdrawguard.cases import commands as cmd
from withdrawguard.cases import events as ev
from withdrawguard.cases.case import apply
from withdrawguard.cases.intake import alert_news, hold_news, intake, verdict_news
from withdrawguard.engine.outputs import Alert, HoldUpdate, Verdict


def test_a_hold_opens_a_case_routed_to_its_inbox() -> None:
    [opened] = intake([], "cust-1", news(), now=T0, inboxes=INBOXES)
    assert isinstance(opened, ev.Opened)
    assert (opened.actor, opened.customer_id, opened.inbox) == (
        "system",
        "cust-1",
        "large-withdrawals",
    )
    assert opened.due_at == T0 + timedelta(minutes=opened.sla_minutes)
    assert opened.previous_case_id is None


@pytest.mark.parametrize(
    ("trigger", "opens"),
    [
        (news(kind="alert", severity="critical", amount=None, currency=None), True),
        (news(kind="alert", severity="high", amount=None, currency=None), False),
        (news(kind="verdict", severity="critical"), False),
        (news(status="released"), False),
        (  # an early alert: a sell-off, about no withdrawal yet
            replace(
                news("alert-s", kind="alert", amount=None, currency=None, reasons=("LIQUIDATION",)),
                withdrawal_id=None,
            ),
            True,
        ),
    ],
)
def test_only_a_hold_a_critical_alert_or_an_early_alert_opens_a_case(
    trigger: ev.Trigger, opens: bool
) -> None:
    assert bool(intake([], "cust-1", trigger, now=T0, inboxes=INBOXES)) is opens


def test_the_same_news_gives_the_same_ids_and_joins_once() -> None:
    first = intake([], "cust-1", news(), now=T0, inboxes=INBOXES)
    again = intake([], "cust-1", news(), now=T0 + timedelta(seconds=5), inboxes=INBOXES)
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert first[0].case_id == again[0].case_id
    case = apply(None, first[0])
    alert = news("alert-1", kind="alert", amount=None, currency=None)
    [joined] = intake([case], "cust-1", alert, now=T0, inboxes=INBOXES)
    case = apply(case, joined)
    assert intake([case], "cust-1", alert, now=T0, inboxes=INBOXES) == []
    assert intake([case], "cust-1", news(), now=T0, inboxes=INBOXES) == []


def test_later_news_joins_the_open_case() -> None:
    desk = Desk.open()
    [joined] = desk.news(news("hold-w2", amount="20000"))
    assert isinstance(joined, ev.Joined) and not joined.resurfaced
    assert [h.hold_id for h in desk.case.holds] == ["hold-w1", "hold-w2"]
    [verdict] = desk.news(news("w3", kind="verdict", reasons=("DRAIN",)))
    assert isinstance(verdict, ev.Joined)
    assert len(desk.case.holds) == 2  # a verdict is no hold


def test_a_new_hold_resurfaces_a_case_waiting_on_the_customer() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Claim)
    desk.do(ALICE, cmd.ChangeStatus, status="waiting_on_customer")
    desk.now = T0 + timedelta(days=2)
    [joined] = desk.news(news("hold-w2"))
    assert isinstance(joined, ev.Joined) and joined.resurfaced
    assert desk.case.status == "open"
    assert desk.case.due_at == desk.now + timedelta(minutes=desk.case.sla_minutes)
    assert desk.case.assignee == "alice"
    [alert] = desk.news(news("alert-2", kind="alert", amount=None, currency=None))
    assert not alert.resurfaced  # type: ignore[union-attr]


def test_news_of_an_existing_hold_on_a_waiting_case_does_not_resurface_it() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.ChangeStatus, status="waiting_on_customer")
    [joined] = desk.news(news(status="released"))
    assert isinstance(joined, ev.Joined) and not joined.resurfaced
    assert desk.case.status == "waiting_on_customer"


def test_a_hold_after_the_case_closed_opens_a_new_case_linked_to_it() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule")
    [opened] = desk.news(news("hold-w2"))
    assert isinstance(opened, ev.Opened)
    assert opened.case_id != desk.case.case_id
    assert opened.previous_case_id == desk.case.case_id
    assert desk.case.status == "closed"  # the closed case stays closed


def test_news_of_a_closed_case_hold_still_updates_its_fate() -> None:
    desk = Desk.open(news(amount="300000"))
    desk.do(ALICE, cmd.Release, hold_id="hold-w1")
    desk.do(ALICE, cmd.Close, outcome="false_positive", note="travel")
    [joined] = desk.news(news(status="released", amount="300000"))
    assert isinstance(joined, ev.Joined) and joined.case_id == desk.case.case_id
    assert desk.case.status == "closed"


def test_a_verdict_or_lesser_alert_with_no_open_case_is_left_alone() -> None:
    desk = Desk.open()
    desk.do(ALICE, cmd.Close, outcome="confirmed_fraud", note="mule")
    assert desk.news(news("w2", kind="verdict")) == []


def test_news_about_someone_else_never_touches_this_customers_case() -> None:
    desk = Desk.open()
    [opened] = intake([desk.case], "cust-2", news("hold-x"), now=T0, inboxes=INBOXES)
    assert isinstance(opened, ev.Opened) and opened.customer_id == "cust-2"


def _payload(status: str) -> dict[str, object]:
    return {
        "hold_id": "hold-w1",
        "status": status,
        "reasons": [{"code": "DEST_CHANGED_RECENTLY", "detail": "", "weight": 35}],
        "amount": "5000000",
        "currency": "JPY",
    }


def test_the_engines_outputs_become_news() -> None:
    hold = hold_news(HoldUpdate("w1", "cust-1", "held", _payload("held")), "high", "web")
    assert (hold.kind, hold.ref_id, hold.amount, hold.hold_status, hold.channel) == (
        "hold",
        "hold-w1",
        Decimal(5_000_000),
        "held",
        "web",
    )
    alert = Alert("a-1", "cust-1", "critical", 90, ("DESTINATION_SHARED",), "s", (), "w1", 0)
    assert alert_news(alert).severity == "critical"
    verdict = Verdict(
        "w1",
        "cust-1",
        "hold",
        ("DRAIN",),
        {"severity": "high", "amount": "10", "currency": "JPY"},
    )
    v = verdict_news(verdict)
    assert (v.kind, v.ref_id, v.reason_codes, v.amount) == ("verdict", "w1", ("DRAIN",), 10)
    with pytest.raises(ValueError, match="unknown status"):
        hold_news(HoldUpdate("w1", "cust-1", "lost", _payload("lost")), "high")
    with pytest.raises(ValueError, match="unknown severity"):
        hold_news(HoldUpdate("w1", "cust-1", "held", _payload("held")), "severe")


def test_an_allow_verdict_without_reasons_joins_and_reads_back() -> None:
    desk = Desk.open()
    verdict = Verdict(
        "w2", "cust-1", "allow", (), {"severity": "none", "amount": "5", "currency": "JPY"}
    )
    [joined] = desk.news(verdict_news(verdict))
    assert codec.decode_bytes(codec.encode_bytes(joined)) == joined
