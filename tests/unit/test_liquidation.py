"""LIQUIDATION: most of the holdings sold soon after a destination or credential change or
a new device's first login; the withdrawal after it held, and an early alert raised by
the sell-off itself, before any withdrawal exists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.player import Player
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, decode_object
from withdrawguard.engine.policy import fingerprint, load_policy, parse_policy
from withdrawguard.sim import scenarios as s

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def customer(player: Player, cid: str = "c1") -> None:
    """Sixty days of honest history: home device, home network, one withdrawal."""
    player.play(s.honest_history(cid, T0 - 30 * DAY))


def dest_change(cid: str, at: datetime) -> s.Message:
    return s.change(cid, f"{cid}-d", at, "withdrawal_destination", destination=s.MULE_DEST)


def withdraw(cid: str, n: int, at: datetime, amount: str = "900000") -> s.Message:
    return s.withdrawal(cid, f"{cid}-w{n}", at, f"{cid}-wd{n}", amount, destination=s.MULE_DEST)


def liquidation_alerts(player: Player) -> list[dict[str, object]]:
    return [a.to_wire() for a in player.alerts if a.kind == "liquidation"]


def test_a_patient_sell_off_after_the_cooling_off_is_held_and_alerted_before_the_withdrawal(
    player: Player,
) -> None:
    """The destination changed four days ago (past the 72 h cooling-off): the sells of
    90% of the holdings alert at once, and the withdrawal a day later is held."""
    customer(player)
    sold_at = T0 + 4 * DAY
    player.play(
        [
            dest_change("c1", T0),
            s.trade("c1", "c1-t1", sold_at, "5000000", holdings_after="5000000"),
        ]
    )
    assert liquidation_alerts(player) == []  # half sold: not yet
    player.play([s.trade("c1", "c1-t2", sold_at + HOUR, "4000000", holdings_after="1000000")])
    [alert] = liquidation_alerts(player)
    assert alert["withdrawal_id"] is None
    assert alert["rule_codes"] == ["LIQUIDATION"]
    assert alert["severity"] == "high"
    assert "90% of the holdings (9000000 JPY) sold within 4 days after the web withdrawal" in str(
        alert["summary"]
    )
    evidence = alert["evidence"]
    assert isinstance(evidence, list)
    assert [e["event_id"] for e in evidence] == ["c1-d", "c1-t1", "c1-t2"]
    assert "****" in evidence[0]["destination"]

    player.play([withdraw("c1", 1, sold_at + DAY, "8900000")])
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold"
    assert "DEST_CHANGED_RECENTLY" not in verdict.reason_codes  # waited it out
    [finding] = [r for r in verdict.payload["reasons"] if r["code"] == "LIQUIDATION"]
    assert finding["detail"].endswith("; the withdrawal 23 h later")
    held = player.engine.assess(player.state("c1"), "c1-wd1")
    [f] = [f for f in held.findings if f.code == "LIQUIDATION"]
    assert f.holding and f.evidence == ("c1-d", "c1-t1", "c1-t2")


def test_the_early_alert_is_raised_once_per_sell_off(player: Player) -> None:
    customer(player)
    sells = [
        s.trade("c1", f"c1-t{i}", T0 + i * HOUR, "3000000", holdings_after=f"{10 - 3 * i}000000")
        for i in range(1, 4)
    ]
    player.play([dest_change("c1", T0), *sells])
    player.play(sells)  # replayed
    assert len(liquidation_alerts(player)) == 1


@pytest.mark.parametrize(
    ("case", "messages"),
    [
        (
            "half of the holdings",
            [s.trade("c1", "c1-t1", T0 + HOUR, "5000000", holdings_after="5000000")],
        ),
        (
            "the holdings' value unknown",
            [s.trade("c1", "c1-t1", T0 + HOUR, "9000000")],
        ),
        (
            "sold before the change",
            [s.trade("c1", "c1-t1", T0 - HOUR, "9000000", holdings_after="100000")],
        ),
        (
            "sold after the window",
            [s.trade("c1", "c1-t1", T0 + 8 * DAY, "9000000", holdings_after="100000")],
        ),
        (
            "bought, not sold",
            [s.trade("c1", "c1-t1", T0 + HOUR, "9000000", side="buy", holdings_after="100")],
        ),
    ],
)
def test_no_sell_off_no_finding_and_no_alert(
    player: Player, case: str, messages: list[s.Message]
) -> None:
    customer(player)
    player.play([dest_change("c1", T0), *messages])
    assert liquidation_alerts(player) == [], case
    sold = max(datetime.fromisoformat(m[1]["occurred_at"]) for m in messages)
    player.play([withdraw("c1", 1, max(sold, T0) + HOUR)])  # soon after: only the sells differ
    assert "LIQUIDATION" not in player.latest("c1-wd1").reason_codes, case


def test_a_withdrawal_long_after_the_sell_off_is_not_held_for_it(player: Player) -> None:
    customer(player)
    player.play(
        [
            dest_change("c1", T0),
            s.trade("c1", "c1-t1", T0 + HOUR, "9000000", holdings_after="100000"),
            withdraw("c1", 1, T0 + HOUR + 73 * HOUR),
        ]
    )
    assert len(liquidation_alerts(player)) == 1
    assert "LIQUIDATION" not in player.latest("c1-wd1").reason_codes


def test_a_new_devices_first_login_begins_a_sell_off_a_known_one_does_not(
    player: Player,
) -> None:
    customer(player, "c1")
    customer(player, "c2")
    player.play(
        [
            s.login("c1", "c1-l-new", T0, device="dev-new"),
            s.trade("c1", "c1-t1", T0 + HOUR, "9000000", holdings_after="100000"),
            s.login("c2", "c2-l-home", T0),  # its home device, used for sixty days
            s.trade("c2", "c2-t1", T0 + HOUR, "9000000", holdings_after="100000"),
        ]
    )
    [alert] = liquidation_alerts(player)
    assert alert["customer_id"] == "c1"
    assert "after the first login from device dev-new" in str(alert["summary"])


def test_a_late_sell_re_judges_the_withdrawal_after_it(player: Player) -> None:
    customer(player)
    player.play([dest_change("c1", T0 - 4 * DAY), withdraw("c1", 1, T0)])
    assert "LIQUIDATION" not in player.latest("c1-wd1").reason_codes
    player.play([s.trade("c1", "c1-t1", T0 - HOUR, "9000000", holdings_after="100000")])
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold"
    assert {"LIQUIDATION", "LATE_EVIDENCE"} <= set(verdict.reason_codes)


def test_switched_off_the_rule_neither_holds_nor_alerts(tmp_path: Path) -> None:
    policy = parse_policy("[rules.liquidation]\nenabled = false\n", "test")
    engine = Engine(policy)
    player = Player(engine, CrossReference(policy))
    customer(player)
    player.play(
        [
            dest_change("c1", T0 - 4 * DAY),
            s.trade("c1", "c1-t1", T0 - HOUR, "9000000", holdings_after="100000"),
            withdraw("c1", 1, T0),
        ]
    )
    assert liquidation_alerts(player) == []
    assert "LIQUIDATION" not in player.latest("c1-wd1").reason_codes
    assert engine.keep_ms["trades"] == policy.reevaluate_ms


def test_the_new_rule_changes_no_published_policy_fingerprint() -> None:
    """Versions published before the rule existed keep their ids (a worker checks a
    version's text against its id); setting one of its keys gives a new one."""
    assert fingerprint(load_policy()) == "6d36727c"
    assert fingerprint(parse_policy("[rules.drain]\nweight = 25\n", "x")) == "6d36727c"
    changed = parse_policy('[rules.liquidation]\nshare = "0.9"\n', "x")
    assert fingerprint(changed) != "6d36727c"
    assert fingerprint(parse_policy("[limits]\nmax_trades = 10\n", "x")) != "6d36727c"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("side", "short", "side: must be one of buy, sell; got 'short'"),
        ("proceeds", 0, "proceeds: must be positive, got 0"),
        ("proceeds", "1100", "proceeds: is 1100, not within 5% of quantity x price (1000)"),
        ("quantity", "-1", "quantity: must be positive, got -1"),
        ("holdings_value_after", "-5", "holdings_value_after: must not be negative, got -5"),
        ("channel", "fax", "channel: must be one of api, branch, call_center, mail, mobile, web"),
        ("currency", "yen", "currency: must be an ISO 4217 code such as 'JPY'"),
        ("instrument", None, "instrument: is required"),
    ],
)
def test_a_bad_trade_is_refused_naming_the_field(field: str, value: object, error: str) -> None:
    _, body = s.trade("c1", "c1-t1", T0, "1000", holdings_after="10")
    body = {**body, field: value}
    if value is None:
        del body[field]
    with pytest.raises(InvalidEvent) as raised:
        decode_object(body, "trade")
    assert str(raised.value).startswith(error), str(raised.value)


@pytest.mark.parametrize("bad", ["abc", "0", "1.5"])
def test_a_liquidation_share_outside_0_to_1_is_refused(bad: str) -> None:
    from withdrawguard.engine.policy import PolicyError

    with pytest.raises(PolicyError, match=r"rules\.liquidation\.share"):
        parse_policy(f'[rules.liquidation]\nshare = "{bad}"\n', "x")


def test_a_trigger_arriving_after_the_sells_still_raises_the_early_alert(player: Player) -> None:
    customer(player)
    player.play([s.trade("c1", "c1-t1", T0 + HOUR, "9000000", holdings_after="100000")])
    assert liquidation_alerts(player) == []
    player.play([dest_change("c1", T0)])  # delivered late, from another topic
    [alert] = liquidation_alerts(player)
    assert [e["event_id"] for e in alert["evidence"]] == ["c1-d", "c1-t1"]  # type: ignore[index]


def test_a_second_sell_off_after_another_change_alerts_again(player: Player) -> None:
    customer(player)
    player.play(
        [
            dest_change("c1", T0),
            s.trade("c1", "c1-t1", T0 + HOUR, "9000000", holdings_after="1000000"),
            s.change("c1", "c1-e", T0 + 2 * DAY, "email"),
            s.trade("c1", "c1-t2", T0 + 2 * DAY + HOUR, "900000", holdings_after="100000"),
        ]
    )
    first, second = liquidation_alerts(player)
    assert [e["event_id"] for e in second["evidence"]] == ["c1-e", "c1-t2"]  # type: ignore[index]
    assert first["alert_id"] != second["alert_id"]
