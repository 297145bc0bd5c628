"""The case export (JSON and printable HTML) and the detector's records read as news."""

from __future__ import annotations

import json

from tests.unit.test_cases_builders import Desk, news
from withdrawguard.cases import codec
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.case import rebuild
from withdrawguard.cases.people import Actor
from withdrawguard.casework.export import export_html, export_json
from withdrawguard.casework.news import alert_trigger, hold_trigger, verdict_trigger

MALLORY = Actor("<script>alert(1)</script>", "supervisor")


def _desk() -> Desk:
    desk = Desk.open(news(amount="50000"))
    desk.do(MALLORY, cmd.Comment, note="<img src=x onerror=alert(1)> & more")
    desk.do(MALLORY, cmd.Release, hold_id="hold-w1")
    desk.do(MALLORY, cmd.Close, outcome="false_positive", note="verified")
    return desk


def test_the_json_export_holds_the_case_its_holds_and_every_event_as_written() -> None:
    desk = _desk()
    data = export_json(desk.case, desk.log)
    assert data["status"] == "closed" and data["holds"][0]["fate"] == "released"
    assert [codec.decode(e) for e in data["events"]] == desk.log
    assert rebuild(codec.decode(e) for e in json.loads(json.dumps(data))["events"]) == desk.case


def test_the_html_export_escapes_what_people_wrote_and_lists_every_action() -> None:
    desk = _desk()
    page = export_html(desk.case, desk.log)
    assert "<script>" not in page and "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; more" in page
    for kind in ("opened", "commented", "hold_released", "closed"):
        assert f"<td>{kind}</td>" in page
    assert "hold-w1" in page and "released" in page and "the detector" in page


def test_a_hold_verdict_opens_a_holds_fate_joins_and_junk_is_no_news() -> None:
    verdict = {
        "withdrawal_id": "W-1", "customer_id": "C-1", "decision": "hold", "severity": "critical",
        "reasons": [{"code": "DRAIN", "detail": "", "weight": 25}], "amount": "5000000",
        "currency": "JPY",
    }  # fmt: skip
    customer, trigger = verdict_trigger(verdict) or ("", None)
    assert customer == "C-1" and trigger is not None
    assert (trigger.kind, trigger.ref_id, trigger.severity) == ("hold", "hold-W-1", "critical")
    assert (trigger.amount, trigger.hold_status, trigger.reason_codes) == (
        5_000_000,
        "held",
        ("DRAIN",),
    )
    assert verdict_trigger({**verdict, "decision": "allow"}) is None
    assert verdict_trigger({**verdict, "amount": "NaN"}) is None
    hold = {
        "hold_id": "hold-W-1", "withdrawal_id": "W-1", "customer_id": "C-1", "status": "held",
        "reasons": [], "amount": "5000000", "currency": "JPY",
    }  # fmt: skip
    assert hold_trigger(hold) is None  # its verdict brought it
    _, fate = hold_trigger({**hold, "status": "released"}) or ("", None)
    assert fate is not None and (fate.hold_status, fate.severity) == ("released", "none")
    alert = {"alert_id": "a1", "customer_id": "C-1", "severity": "critical", "rule_codes": ["X"]}
    assert alert_trigger(alert) is not None and alert_trigger({**alert, "severity": "?"}) is None
