"""Customers' confirmations on the real broker: counted only through the contact the
notice named (docs/contract.md, `customer_response`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.integration.harness import Bus, unique
from tests.integration.test_detector import attacker, codes, verdicts
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import response

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
HOUR = timedelta(hours=1)


def email_then_destination(bus: Bus, cid: str, dest: dict[str, str]) -> dict[str, Any]:
    """The customer's email changed a day ago and the withdrawal destination 3 h ago
    (online, unverified): the destination notice, naming the contact registered before
    the email change."""
    msgs = s.honest_history(cid, NOW - timedelta(days=30))
    msgs.append(s.change(cid, f"{cid}-e", NOW - timedelta(days=1), "email"))
    at = NOW - 3 * HOUR
    msgs.append(s.change(cid, f"{cid}-d", at, "withdrawal_destination", destination=dest))
    bus.send(msgs)
    [notice] = bus.wait_for(
        "the notice",
        lambda: bus.values("customer-notices", customer_id=cid, kind="destination_change"),
    )
    assert notice["contact"] == "as_of"
    return dict(notice)


def withdraw_after_answer(bus: Bus, cid: str, dest: dict[str, str]) -> dict[str, Any]:
    """A withdrawal to the new destination an hour after the answer; its verdict."""
    wid = f"{cid}-wd1"
    home = {"ip": s.home_ip(cid), "device": s.home_device(cid), "balance": "10000000"}
    bus.send([s.withdrawal(cid, f"{cid}-w1", NOW - HOUR, wid, "100000", destination=dest, **home)])
    [verdict] = bus.wait_for("the verdict", lambda: verdicts(bus, wid))
    return dict(verdict)


def test_a_confirmation_through_the_contact_the_notice_named_verifies_the_destination(
    bus: Bus,
) -> None:
    """Confirmed through the contact registered before the email change: the destination
    counts as verified, and a withdrawal to it two hours after the change is allowed."""
    cid = unique("counted")
    _ip, dest = attacker()
    notice = email_then_destination(bus, cid, dest)
    nid, as_of = notice["notice_id"], notice["contact_as_of"]
    bus.send([response(cid, f"{cid}-r1", NOW - 2 * HOUR, nid, "confirm", contact_as_of=as_of)])
    bus.wait_idle()
    verdict = withdraw_after_answer(bus, cid, dest)
    assert verdict["decision"] == "allow"
    [recent] = [r for r in verdict["reasons"] if r["code"] == "DEST_CHANGED_RECENTLY"]
    assert recent["detail"] == "destination set 2 h before the withdrawal (verified)"
    assert "CONFIRMATION_NOT_COUNTED" not in codes(verdict)
    assert bus.values("withdrawal-holds", withdrawal_id=verdict["withdrawal_id"]) == []


def test_a_confirmation_through_the_changed_contact_counts_for_nothing(bus: Bus) -> None:
    """The same history, confirmed through the current contact (the email changed a day
    ago, after the contact the notice named): nothing is verified, the withdrawal is held
    for DEST_CHANGED_RECENTLY and its verdict says the confirmation did not count."""
    cid = unique("uncounted")
    _ip, dest = attacker()
    notice = email_then_destination(bus, cid, dest)
    bus.send([response(cid, f"{cid}-r1", NOW - 2 * HOUR, notice["notice_id"], "confirm")])
    bus.wait_idle()
    verdict = withdraw_after_answer(bus, cid, dest)
    assert verdict["decision"] == "hold"
    [recent] = [r for r in verdict["reasons"] if r["code"] == "DEST_CHANGED_RECENTLY"]
    assert recent["detail"] == "destination set via web 2 h before the withdrawal, not verified"
    [ignored] = [r for r in verdict["reasons"] if r["code"] == "CONFIRMATION_NOT_COUNTED"]
    assert ignored["weight"] == 0
    assert ignored["detail"].startswith(
        f"the customer's confirmation {cid}-r1 of the destination change came through the "
        "current contact, changed at "
    )
    assert ignored["detail"].endswith("not the contact the notice named: it counts for nothing")
    [hold] = bus.wait_for(
        "the hold",
        lambda: bus.values("withdrawal-holds", withdrawal_id=verdict["withdrawal_id"]),
    )
    assert hold["status"] == "held"
