"""The detector against the real broker: a worker process, real topics, real outputs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.harness import Bus, collecting_bus, unique
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import response

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


def attacker() -> tuple[str, dict[str, str]]:
    """A fresh attacker IP and mule account, so tests never share cross-customer evidence."""
    ip = f"198.{random.randint(18, 19)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    dest = {
        "bank_code": "0009",
        "branch_code": "222",
        "account_number": str(random.randint(10**6, 10**7 - 1)),
    }
    return ip, dest


def verdicts(bus: Bus, wid: str) -> list[dict]:
    return bus.values("withdrawal-decisions", withdrawal_id=wid)


def codes(verdict: dict) -> set[str]:
    return {r["code"] for r in verdict["reasons"]}


def test_sbi_chain_is_held_with_a_critical_alert(bus: Bus) -> None:
    cid = unique("sbi")
    ip, dest = attacker()
    chain = s.sbi_chain(cid, NOW - timedelta(hours=1), dest, attacker_ip=ip)
    bus.send(chain[:-1])
    bus.wait_idle()
    bus.send(chain[-1:])
    wid = f"{cid}-wd-attack"
    [verdict] = bus.wait_for("the verdict", lambda: verdicts(bus, wid))
    assert verdict["decision"] == "hold"
    assert codes(verdict) == {
        "DEST_CHANGED_RECENTLY",
        "FAILED_LOGIN_BURST",
        "NEW_DEVICE",
        "CREDENTIAL_CHANGE_CHAIN",
        "DRAIN",
    }
    [hold] = bus.wait_for("the hold", lambda: bus.values("withdrawal-holds", withdrawal_id=wid))
    assert hold["status"] == "held"
    assert hold["hold_id"] == f"hold-{wid}"
    [alert] = bus.wait_for("the alert", lambda: bus.values("fraud-alerts", withdrawal_id=wid))
    assert alert["severity"] in ("high", "critical")
    assert dest["account_number"] not in str(alert)
    assert dest["account_number"][-4:] in alert["summary"]


def test_long_standing_customer_gets_allow_and_no_alert(bus: Bus) -> None:
    cid = unique("honest")
    msgs = s.honest_withdrawal(cid, NOW - timedelta(minutes=30))
    bus.send(msgs[:-1])
    bus.wait_idle()
    bus.send(msgs[-1:])
    wid = f"{cid}-wd-today"
    [verdict] = bus.wait_for("the verdict", lambda: verdicts(bus, wid))
    assert verdict["decision"] == "allow"
    assert verdict["reasons"] == []
    bus.wait_idle()
    assert bus.values("fraud-alerts", customer_id=cid) == []
    assert bus.values("withdrawal-holds", customer_id=cid) == []


def test_chain_with_the_withdrawal_first_ends_in_hold_with_late_evidence(bus: Bus) -> None:
    cid = unique("late")
    ip, dest = attacker()
    chain = s.sbi_chain(cid, NOW - timedelta(hours=2), dest, attacker_ip=ip)
    wid = f"{cid}-wd-attack"
    bus.send(chain[-1:])
    first = bus.wait_for("the first verdict", lambda: verdicts(bus, wid))[0]
    assert first["decision"] == "allow"
    bus.send(chain[:-1])
    bus.wait_for("a hold", lambda: [v for v in verdicts(bus, wid) if v["decision"] == "hold"])
    bus.wait_idle()
    last = verdicts(bus, wid)[-1]
    assert last["decision"] == "hold"
    assert {"LATE_EVIDENCE", "DEST_CHANGED_RECENTLY", "FAILED_LOGIN_BURST"} <= codes(last)
    assert bus.values("withdrawal-holds", withdrawal_id=wid)[-1]["status"] == "held"


def test_chain_delivered_twice_yields_one_verdict_and_one_alert(bus: Bus) -> None:
    cid = unique("twice")
    ip, dest = attacker()
    chain = s.sbi_chain(cid, NOW - timedelta(hours=3), dest, attacker_ip=ip)
    wid = f"{cid}-wd-attack"
    bus.send(chain[:-1])
    bus.wait_idle()
    bus.send(chain[-1:])
    bus.wait_for("the verdict", lambda: verdicts(bus, wid))
    bus.wait_idle()
    bus.send(chain)
    bus.wait_idle()
    records = verdicts(bus, wid)
    # The repeat re-sends the same verdict (so a crash can never lose one): identical.
    assert {repr(sorted(v.items())) for v in records} == {repr(sorted(records[0].items()))}
    assert records[0]["decision"] == "hold"
    assert len(bus.values("fraud-alerts", withdrawal_id=wid)) == 1


def test_two_customers_setting_one_destination_hold_every_withdrawal_to_it(bus: Bus) -> None:
    _, dest = attacker()
    customers = [unique("mule-a"), unique("mule-b")]
    for cid, channel in zip(customers, ("call_center", "branch"), strict=True):
        bus.send(s.honest_history(cid, NOW))
        bus.send(
            [
                s.change(
                    cid,
                    f"{cid}-d",
                    NOW - timedelta(days=4),
                    "withdrawal_destination",
                    channel,
                    destination=dest,
                )
            ]
        )
    bus.wait_idle()
    for cid in customers:
        bus.send([s.withdrawal(cid, f"{cid}-w", NOW, f"{cid}-wd", "50000", destination=dest)])
    for cid in customers:
        [verdict] = bus.wait_for("the verdict", lambda c=cid: verdicts(bus, f"{c}-wd"))
        assert verdict["decision"] == "hold"
        assert "DESTINATION_SHARED" in codes(verdict)
        assert verdict["severity"] == "critical"


def test_release_case_decision_turns_the_hold_released(bus: Bus) -> None:
    cid = unique("release")
    ip, dest = attacker()
    chain = s.sbi_chain(cid, NOW - timedelta(hours=4), dest, attacker_ip=ip)
    wid = f"{cid}-wd-attack"
    bus.send(chain)
    bus.wait_for("the hold", lambda: bus.values("withdrawal-holds", withdrawal_id=wid))
    bus.wait_idle()
    bus.send([s.case(cid, unique("dec"), NOW, "release", withdrawal_id=wid, actor="ops-7")])
    released = bus.wait_for(
        "the release",
        lambda: bus.values("withdrawal-holds", withdrawal_id=wid, status="released"),
    )
    assert released[-1]["actor"] == "ops-7"
    assert verdicts(bus, wid)[-1]["decision"] == "allow"


def changed_four_days_ago(bus: Bus, cid: str) -> dict[str, str]:
    """A long-standing customer whose destination changed four days ago (past the 72 h
    cooling-off); the new destination."""
    _ip, dest = attacker()
    msgs = s.honest_history(cid, NOW - timedelta(days=30))
    at = NOW - timedelta(days=4)
    msgs.append(s.change(cid, f"{cid}-d", at, "withdrawal_destination", destination=dest))
    bus.send(msgs)
    bus.wait_idle()
    return dest


def sold_off(bus: Bus, cid: str) -> dict[str, Any]:
    """All of `cid`'s holdings sold an hour ago; the alert of kind `liquidation` it raises."""
    bus.send([s.trade(cid, f"{cid}-t1", NOW - timedelta(hours=2), "9000000", holdings_after="1")])
    [alert] = bus.wait_for(
        "the sell-off's alert",
        lambda: [
            a for a in bus.values("fraud-alerts", customer_id=cid) if a["kind"] == "liquidation"
        ],
    )
    return dict(alert)


def test_a_sell_off_alerts_before_any_withdrawal_and_its_proceeds_are_held(bus: Bus) -> None:
    """The destination changed four days ago (past the cooling-off); most of the holdings
    are sold: an alert of kind `liquidation` at once; the withdrawal that follows is held."""
    cid = unique("selloff")
    dest = changed_four_days_ago(bus, cid)
    alert = sold_off(bus, cid)
    assert alert["withdrawal_id"] is None
    assert alert["rule_codes"] == ["LIQUIDATION"]
    assert [e["event_id"] for e in alert["evidence"]] == [f"{cid}-d", f"{cid}-t1"]

    wid = f"{cid}-wd1"
    bus.send(
        [s.withdrawal(cid, f"{cid}-w1", NOW - timedelta(hours=1), wid, "8900000", destination=dest)]
    )
    [verdict] = bus.wait_for("the verdict", lambda: verdicts(bus, wid))
    assert verdict["decision"] == "hold"
    assert "LIQUIDATION" in codes(verdict)
    assert "DEST_CHANGED_RECENTLY" not in codes(verdict)


def test_a_malformed_trade_is_dead_lettered_naming_the_field(bus: Bus) -> None:
    cid = unique("badtrade")
    topic, body = s.trade(cid, f"{cid}-t1", NOW - timedelta(minutes=5), "1000")
    bus.send([(topic, {**body, "side": "short"})])
    [letter] = bus.wait_for(
        "the dead letter", lambda: [d for d in bus.values("dead-letters") if cid in str(d)]
    )
    assert letter["error_field"] == "side"
    assert "must be one of buy, sell" in letter["error"]
    assert letter["source_topic"].endswith("trades")


def test_a_device_signing_in_to_four_customers_holds_a_withdrawal_from_it(
    bus: Bus, settings: Settings
) -> None:
    """A device farm: one device id on four customers' logins within minutes, each from an
    IP of its own. The device stage (topic device-observations, table devices) tells all
    four; a withdrawal from that device is held with DEVICE_SHARED and NEW_DEVICE, and a
    withdrawal from the victim's own device is not tied to it."""
    farm = unique("dev-farm")
    victims = [unique("farm") for _ in range(4)]
    for i, cid in enumerate(victims):
        ip, _dest = attacker()
        bus.send(s.honest_history(cid, NOW))
        at = NOW - timedelta(minutes=30 - i)
        bus.send([s.login(cid, f"{cid}-l-farm", at, ip=ip, device=farm)])
    bus.wait_idle()
    cid, other = victims[0], victims[1]
    ip, _dest = attacker()
    home = {"ip": s.home_ip(other), "device": s.home_device(other)}
    dest = s.HOME_DEST
    bus.send(
        [
            s.withdrawal(
                cid, f"{cid}-w", NOW, f"{cid}-wd", "50000", destination=dest, ip=ip, device=farm
            ),
            s.withdrawal(
                other, f"{other}-w", NOW, f"{other}-wd", "50000", destination=dest, **home
            ),
        ]
    )
    [verdict] = bus.wait_for("the verdict", lambda: verdicts(bus, f"{cid}-wd"))
    assert verdict["decision"] == "hold"
    assert {"DEVICE_SHARED", "NEW_DEVICE"} <= codes(verdict)
    [finding] = [r for r in verdict["reasons"] if r["code"] == "DEVICE_SHARED"]
    assert f"device {farm}, which was seen on 4 customers" in finding["detail"]
    assert {f"{c}-l-farm" for c in victims} <= set(verdict["evidence_event_ids"])
    [own] = bus.wait_for("the other verdict", lambda: verdicts(bus, f"{other}-wd"))
    assert own["decision"] == "allow"
    assert own["reasons"] == []
    with collecting_bus(settings, [t.DEVICE_OBSERVATIONS]) as internal:
        seen = internal.wait_for(
            "the farm's observations",
            lambda: [
                o
                for v in internal.values(t.DEVICE_OBSERVATIONS)
                for o in v["observations"]
                if o["device"] == farm
            ],
        )
    assert sorted(o["customer_id"] for o in seen if o["kind"] == "login") == sorted(victims)


def test_a_destination_change_sends_a_notice_and_the_customers_denial_holds(bus: Bus) -> None:
    """Four days after the change (past the cooling-off) a small withdrawal to the new
    destination is allowed; the notice of the change names the current contact, and the
    customer's denial holds the withdrawal with a critical alert of kind customer_denial."""
    cid = unique("notice")
    _ip, dest = attacker()
    msgs = s.honest_history(cid, NOW - timedelta(days=30))
    change_at = NOW - timedelta(days=4)
    msgs.append(s.change(cid, f"{cid}-d", change_at, "withdrawal_destination", destination=dest))
    wid = f"{cid}-wd1"
    msgs.append(
        s.withdrawal(
            cid,
            f"{cid}-w1",
            NOW - timedelta(hours=2),
            wid,
            "100000",
            destination=dest,
            balance="10000000",
            ip=s.home_ip(cid),
            device=s.home_device(cid),
        )
    )
    bus.send(msgs)
    [notice] = bus.wait_for(
        "the notice",
        lambda: bus.values("customer-notices", customer_id=cid, kind="destination_change"),
    )
    assert notice["event_id"] == f"{cid}-d"
    assert (notice["contact"], notice["contact_as_of"]) == ("current", None)
    assert dest["account_number"] not in str(notice)
    assert notice["destination"].endswith(dest["account_number"][-4:])
    [allowed] = bus.wait_for("the verdict", lambda: verdicts(bus, wid))
    assert allowed["decision"] == "allow"

    bus.send([response(cid, f"{cid}-r1", NOW - timedelta(hours=1), notice["notice_id"], "deny")])
    held = bus.wait_for(
        "the re-issued verdict", lambda: [v for v in verdicts(bus, wid) if v["decision"] == "hold"]
    )
    [fraud] = [r for r in held[-1]["reasons"] if r["code"] == "CONFIRMED_FRAUD_DESTINATION"]
    assert fraud["detail"] == (
        f"destination confirmed fraudulent by the customer's denial {cid}-r1 "
        f"of notice {notice['notice_id']}"
    )
    [alert] = bus.wait_for(
        "the denial's alert",
        lambda: [
            a for a in bus.values("fraud-alerts", customer_id=cid) if a["kind"] == "customer_denial"
        ],
    )
    assert alert["severity"] == "critical"
    assert alert["rule_codes"] == ["CONFIRMED_FRAUD_DESTINATION"]


def test_a_response_to_a_notice_the_customer_was_never_sent_is_dead_lettered(bus: Bus) -> None:
    cid = unique("badresponse")
    bus.send([response(cid, f"{cid}-r1", NOW - timedelta(minutes=5), "ntc-nothing", "deny")])
    [letter] = bus.wait_for(
        "the dead letter", lambda: [d for d in bus.values("dead-letters") if cid in str(d)]
    )
    assert letter["error_field"] == "notice_id"
    assert letter["error"].startswith("notice_id: names no notice sent to customer")
    assert letter["source_topic"].endswith("customer-responses")
