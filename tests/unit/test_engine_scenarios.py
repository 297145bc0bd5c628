"""The detector's verdicts on the scenarios the product exists for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.player import Player
from withdrawguard.sim import scenarios as s

T0 = datetime(2020, 9, 1, 1, 0, tzinfo=UTC)


def test_sbi_chain_is_held_with_every_reason_and_a_critical_alert(player: Player) -> None:
    player.play(s.sbi_chain("c1", T0))
    verdict = player.latest("c1-wd-attack")
    assert verdict.decision == "hold"
    assert set(verdict.reason_codes) == {
        "DEST_CHANGED_RECENTLY",
        "FAILED_LOGIN_BURST",
        "NEW_DEVICE",
        "CREDENTIAL_CHANGE_CHAIN",
        "DRAIN",
    }
    assert verdict.payload["risk_score"] == 100
    assert player.hold("c1-wd-attack").status == "held"
    [alert] = [a for a in player.alerts if a.withdrawal_id == "c1-wd-attack"]
    assert alert.severity == "critical"
    assert "****4321" in alert.summary
    assert "7654321" not in str(alert.to_wire())


def test_long_standing_customer_withdrawing_home_from_home_is_allowed_without_alert(
    player: Player,
) -> None:
    player.play(s.honest_withdrawal("c2", T0))
    verdict = player.latest("c2-wd-today")
    assert verdict.decision == "allow"
    assert verdict.reason_codes == ()
    assert player.alerts == []
    assert player.holds == []


def test_chain_delivered_withdrawal_first_ends_in_hold_with_late_evidence(player: Player) -> None:
    msgs = s.sbi_chain("c3", T0)
    attack = msgs[-1]
    player.play([attack, *msgs[:-1]])
    first = next(v for v in player.verdicts if v.withdrawal_id == "c3-wd-attack")
    last = player.latest("c3-wd-attack")
    assert first.decision == "allow"
    assert last.decision == "hold"
    assert "LATE_EVIDENCE" in last.reason_codes
    assert "DEST_CHANGED_RECENTLY" in last.reason_codes


def test_chain_delivered_twice_yields_one_verdict_and_one_alert(player: Player) -> None:
    msgs = s.sbi_chain("c4", T0)
    player.play(msgs + msgs)
    attack = [v for v in player.verdicts if v.withdrawal_id == "c4-wd-attack"]
    assert {v.decision for v in attack} == {"hold"}
    assert len({repr(v.payload) for v in attack}) == 1  # repeats are identical
    assert len([a for a in player.alerts if a.withdrawal_id == "c4-wd-attack"]) == 1


def test_two_customers_setting_one_destination_hold_every_withdrawal_to_it(
    player: Player,
) -> None:
    shared = {"bank_code": "0033", "account_number": "5550001"}
    for cid, channel in (("c5", "call_center"), ("c6", "branch")):
        player.play(s.honest_history(cid, T0))
        player.play(
            [
                s.change(
                    cid,
                    f"{cid}-d",
                    T0 - timedelta(days=5),
                    "withdrawal_destination",
                    channel,
                    destination=shared,
                ),
            ]
        )
    player.play(
        [
            s.withdrawal("c5", "c5-w", T0, "c5-wd", "1000", destination=shared),
            s.withdrawal(
                "c6", "c6-w", T0 + timedelta(hours=1), "c6-wd", "1000", destination=shared
            ),
        ]
    )
    for wid in ("c5-wd", "c6-wd"):
        verdict = player.latest(wid)
        assert verdict.decision == "hold"
        assert "DESTINATION_SHARED" in verdict.reason_codes
        assert verdict.payload["severity"] == "critical"


def test_release_case_decision_turns_the_hold_released_and_the_verdict_allow(
    player: Player,
) -> None:
    player.play(s.sbi_chain("c7", T0))
    player.play(
        [s.case("c7", "dec-1", T0 + timedelta(hours=1), "release", withdrawal_id="c7-wd-attack")]
    )
    hold = player.hold("c7-wd-attack")
    assert hold.status == "released"
    assert hold.payload["actor"] == "analyst-1"
    verdict = player.latest("c7-wd-attack")
    assert verdict.decision == "allow"
    assert verdict.reason_codes[-1] == "RELEASED"
