"""Each rule at its threshold and just short of it, with the evidence it names; every rule
can be switched off by a policy file, and the policy's score thresholds are honoured."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.unit.player import Player
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import Policy, load_policy
from withdrawguard.engine.rules import REGISTRY, Finding
from withdrawguard.sim import scenarios as s

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
MULE = s.MULE_DEST
HOME = s.HOME_DEST
ATTACKER_IP = "198.51.100.7"
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


# ---------------------------------------------------------------- helpers


def player_for(policy: Policy) -> Player:
    return Player(Engine(policy), CrossReference(policy))


def policy_file(tmp_path: Path, text: str) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy(path)


def findings(player: Player, cid: str, wid: str) -> dict[str, Finding]:
    assessment = player.engine.assess(player.state(cid), wid)
    return {f.code: f for f in assessment.findings}


def dest_change(
    cid: str,
    eid: str,
    at: datetime,
    channel: str = "web",
    *,
    verified: bool = False,
    dest: dict[str, str] = MULE,
    ip: str | None = None,
    device: str | None = None,
) -> s.Message:
    return s.change(
        cid,
        eid,
        at,
        "withdrawal_destination",
        channel,
        destination=dest,
        verified=verified,
        ip=ip,
        device=device,
    )


def wd(
    cid: str,
    n: object,
    at: datetime,
    amount: str = "1000",
    *,
    dest: dict[str, str] = MULE,
    balance: str | None = None,
    ip: str | None = None,
    device: str | None = None,
    currency: str = "JPY",
) -> s.Message:
    """A withdrawal with event id `{cid}-w{n}` and withdrawal id `{cid}-wd{n}`."""
    return s.withdrawal(
        cid,
        f"{cid}-w{n}",
        at,
        f"{cid}-wd{n}",
        amount,
        destination=dest,
        balance=balance,
        ip=ip,
        device=device,
        currency=currency,
    )


def from_home(cid: str) -> dict[str, str]:
    """The ip and device of a customer's long-standing home set-up."""
    return {"ip": s.home_ip(cid), "device": s.home_device(cid)}


def known_customer(cid: str) -> list[s.Message]:
    """Two months of logins from home and no withdrawals at all."""
    return [s.login(cid, f"{cid}-l-old{i}", T0 - timedelta(days=60 - 20 * i)) for i in range(3)]


# ---------------------------------------------------------------- DEST_CHANGED_RECENTLY


@pytest.mark.parametrize(
    ("gap", "fires"),
    [(timedelta(hours=71, minutes=59), True), (timedelta(hours=72), False)],
    ids=["71h59m", "72h"],
)
def test_dest_changed_recently_fires_for_72_hours_after_the_change(
    player: Player, gap: timedelta, fires: bool
) -> None:
    player.play(s.honest_history("c1", T0))
    player.play([dest_change("c1", "c1-d", T0), wd("c1", 1, T0 + gap)])
    found = findings(player, "c1", "c1-wd1")
    verdict = player.latest("c1-wd1")
    if fires:
        assert found["DEST_CHANGED_RECENTLY"].evidence == ("c1-d",)
        assert verdict.decision == "hold"
        assert "DEST_CHANGED_RECENTLY" in verdict.reason_codes
    else:
        assert "DEST_CHANGED_RECENTLY" not in found
        assert verdict.decision == "allow"
        assert verdict.reason_codes == ()


@pytest.mark.parametrize("channel", ["web", "mobile", "api"])
def test_unverified_online_destination_change_holds_by_itself(player: Player, channel: str) -> None:
    player.play(s.honest_history("c1", T0))
    player.play([dest_change("c1", "c1-d", T0, channel), wd("c1", 1, T0 + HOUR)])
    finding = findings(player, "c1", "c1-wd1")["DEST_CHANGED_RECENTLY"]
    assert finding.holding
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold"
    assert verdict.reason_codes == ("DEST_CHANGED_RECENTLY",)
    assert verdict.payload["risk_score"] == 35  # below hold_score: the rule holds by itself
    assert player.hold("c1-wd1").status == "held"


@pytest.mark.parametrize(
    ("channel", "verified"),
    [("call_center", False), ("mail", False), ("branch", False), ("web", True), ("api", True)],
)
def test_offline_or_verified_destination_change_adds_weight_without_holding(
    player: Player, channel: str, verified: bool
) -> None:
    player.play(s.honest_history("c1", T0))
    player.play([dest_change("c1", "c1-d", T0, channel, verified=verified), wd("c1", 1, T0 + HOUR)])
    finding = findings(player, "c1", "c1-wd1")["DEST_CHANGED_RECENTLY"]
    assert not finding.holding
    assert finding.weight == 35
    assert finding.evidence == ("c1-d",)
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "allow"
    assert verdict.reason_codes == ("DEST_CHANGED_RECENTLY",)
    assert verdict.payload["risk_score"] == 35
    assert [h for h in player.holds if h.withdrawal_id == "c1-wd1"] == []


def test_verify_destination_releases_the_held_withdrawal_and_later_ones_are_not_held(
    player: Player,
) -> None:
    player.play(s.honest_history("c1", T0))
    player.play([dest_change("c1", "c1-d", T0), wd("c1", 1, T0 + HOUR)])
    assert player.hold("c1-wd1").status == "held"

    player.play([s.case("c1", "dec-verify", T0 + 2 * HOUR, "verify_destination", destination=MULE)])
    hold = player.hold("c1-wd1")
    assert hold.status == "released"
    assert hold.payload["actor"] == "analyst-1"
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "allow"
    assert verdict.reason_codes[-1] == "RELEASED"
    assert not findings(player, "c1", "c1-wd1")["DEST_CHANGED_RECENTLY"].holding

    player.play([wd("c1", 2, T0 + 3 * HOUR)])
    later = findings(player, "c1", "c1-wd2")["DEST_CHANGED_RECENTLY"]
    assert not later.holding
    assert later.evidence == ("c1-d",)
    assert player.latest("c1-wd2").decision == "allow"


def test_a_destination_verified_after_its_change_weighs_nothing(player: Player) -> None:
    """Most of the balance to a new destination an hour after the change scores 35 + 25
    (DRAIN) = hold_score. A later verification asked someone the attacker does not
    control: the change then weighs 0 and the verification releases the hold. The flag a
    change carries itself (`verified: true`) still weighs its 35: it names a call-back to
    a contact that may have just changed."""
    player.play(s.honest_history("c1", T0))
    drain = {"amount": "900000", "balance": "1000000", **from_home("c1")}
    player.play([dest_change("c1", "c1-d", T0, "call_center"), wd("c1", 1, T0 + HOUR, **drain)])
    assert player.latest("c1-wd1").decision == "hold"
    assert set(player.latest("c1-wd1").reason_codes) == {"DEST_CHANGED_RECENTLY", "DRAIN"}
    player.play([s.case("c1", "dec-verify", T0 + 2 * HOUR, "verify_destination", destination=MULE)])
    assert player.hold("c1-wd1").status == "released"
    finding = findings(player, "c1", "c1-wd1")["DEST_CHANGED_RECENTLY"]
    assert (finding.weight, finding.detail) == (
        0,
        "destination set 1 h before the withdrawal (verified)",
    )
    player.play([wd("c1", 2, T0 + 3 * HOUR, **drain)])
    assert player.latest("c1-wd2").decision == "allow"
    assert player.latest("c1-wd2").payload["risk_score"] == 25

    player.play(s.honest_history("c2", T0))
    player.play(
        [
            dest_change("c2", "c2-d", T0, verified=True),
            wd("c2", 1, T0 + HOUR, **{**drain, **from_home("c2")}),
        ]
    )
    assert findings(player, "c2", "c2-wd1")["DEST_CHANGED_RECENTLY"].weight == 35
    assert player.latest("c2-wd1").decision == "hold"


def test_a_web_change_after_the_verification_holds_again(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            dest_change("c1", "c1-d1", T0),
            s.case("c1", "dec-verify", T0 + HOUR, "verify_destination", destination=MULE),
            dest_change("c1", "c1-d2", T0 + 2 * HOUR),
            wd("c1", 1, T0 + 3 * HOUR),
        ]
    )
    finding = findings(player, "c1", "c1-wd1")["DEST_CHANGED_RECENTLY"]
    assert finding.holding
    assert finding.evidence == ("c1-d1", "c1-d2")
    assert player.latest("c1-wd1").decision == "hold"


def test_verifying_another_destination_releases_nothing(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            dest_change("c1", "c1-d", T0),
            wd("c1", 1, T0 + HOUR),
            s.case("c1", "dec-verify", T0 + 2 * HOUR, "verify_destination", destination=HOME),
        ]
    )
    assert player.hold("c1-wd1").status == "held"
    assert player.latest("c1-wd1").decision == "hold"


# ---------------------------------------------------------------- NEW_DEVICE


@pytest.mark.parametrize(
    ("first_seen", "new"),
    [(timedelta(days=6), True), (timedelta(days=7), False), (timedelta(days=8), False)],
    ids=["6d", "7d", "8d"],
)
def test_device_first_seen_less_than_7_days_before_is_new(
    player: Player, first_seen: timedelta, new: bool
) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            s.login("c1", "c1-l-new", T0 - first_seen, device="dev-new"),
            wd("c1", 1, T0, dest=HOME, ip=s.home_ip("c1"), device="dev-new"),
        ]
    )
    found = findings(player, "c1", "c1-wd1")
    if new:
        assert found["NEW_DEVICE"].evidence == ("c1-w1", "c1-l-new")
        assert found["NEW_DEVICE"].weight == 20
        assert player.latest("c1-wd1").reason_codes == ("NEW_DEVICE",)
    else:
        assert "NEW_DEVICE" not in found
        assert player.latest("c1-wd1").reason_codes == ()


def test_device_never_seen_in_a_login_is_new(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play([wd("c1", 1, T0, dest=HOME, ip=s.home_ip("c1"), device="dev-ghost")])
    finding = findings(player, "c1", "c1-wd1")["NEW_DEVICE"]
    assert finding.evidence == ("c1-w1",)
    assert "never seen" in finding.detail


def test_device_seen_only_in_failed_logins_is_still_new(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            s.login("c1", "c1-f", T0 - 30 * DAY, success=False, device="dev-x"),
            wd("c1", 1, T0, dest=HOME, ip=s.home_ip("c1"), device="dev-x"),
        ]
    )
    assert findings(player, "c1", "c1-wd1")["NEW_DEVICE"].evidence == ("c1-w1",)


def test_destination_change_from_a_new_device_is_cited(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            dest_change("c1", "c1-d", T0, "call_center", ip=s.home_ip("c1"), device="dev-x"),
            wd("c1", 1, T0 + HOUR, **from_home("c1")),
        ]
    )
    assert findings(player, "c1", "c1-wd1")["NEW_DEVICE"].evidence == ("c1-d",)


@pytest.mark.parametrize(
    ("history_ip", "action_ip", "new"),
    [
        ("100.80.246.50", "100.80.246.200", False),  # same /24
        ("100.80.246.50", "100.80.247.50", True),  # next /24
        ("2001:db8:1:2::10", "2001:db8:1:2:ffff:ffff:ffff:1", False),  # same /64
        ("2001:db8:1:2::10", "2001:db8:1:3::10", True),  # next /64
    ],
    ids=["v4-same-24", "v4-other-24", "v6-same-64", "v6-other-64"],
)
def test_network_is_the_24_for_ipv4_and_the_64_for_ipv6(
    player: Player, history_ip: str, action_ip: str, new: bool
) -> None:
    player.play(
        [
            s.login("c1", f"c1-l{i}", T0 - timedelta(days=40 - 10 * i), ip=history_ip)
            for i in range(3)
        ]
    )
    player.play([wd("c1", 1, T0, dest=HOME, ip=action_ip, device=s.home_device("c1"))])
    found = findings(player, "c1", "c1-wd1")
    if new:
        assert found["NEW_DEVICE"].evidence == ("c1-w1",)
        assert "network" in found["NEW_DEVICE"].detail
    else:
        assert "NEW_DEVICE" not in found


# ---------------------------------------------------------------- FAILED_LOGIN_BURST


@pytest.mark.parametrize(("failures", "fires"), [(5, True), (4, False)])
def test_five_failed_logins_within_15_minutes_before_the_login_are_a_burst(
    player: Player, failures: int, fires: bool
) -> None:
    player.play(s.honest_history("c1", T0))
    fails = [
        s.login("c1", f"c1-f{i}", T0 - (1 + 3 * i) * MINUTE, success=False, ip=ATTACKER_IP)
        for i in range(failures)
    ]
    player.play(
        [
            *fails,
            s.login("c1", "c1-l", T0),
            wd("c1", 1, T0 + 10 * MINUTE, dest=HOME, **from_home("c1")),
        ]
    )
    found = findings(player, "c1", "c1-wd1")
    if fires:
        ids = sorted(f"c1-f{i}" for i in range(failures))
        assert found["FAILED_LOGIN_BURST"].evidence == (*ids, "c1-l")
        assert player.latest("c1-wd1").reason_codes == ("FAILED_LOGIN_BURST",)
    else:
        assert "FAILED_LOGIN_BURST" not in found
        assert player.latest("c1-wd1").reason_codes == ()


def test_failures_spread_over_more_than_15_minutes_are_no_burst(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    fails = [
        s.login("c1", f"c1-f{i}", T0 - (1 + 4 * i) * MINUTE, success=False) for i in range(5)
    ]  # the oldest 17 min before the login
    player.play([*fails, s.login("c1", "c1-l", T0), wd("c1", 1, T0 + MINUTE, dest=HOME)])
    assert "FAILED_LOGIN_BURST" not in findings(player, "c1", "c1-wd1")


def test_only_the_login_just_before_the_action_counts(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    fails = [s.login("c1", f"c1-f{i}", T0 - (1 + i) * MINUTE, success=False) for i in range(6)]
    player.play(
        [
            *fails,
            s.login("c1", "c1-l1", T0),
            s.login("c1", "c1-l2", T0 + 2 * HOUR),  # a fresh session, no failures before it
            wd("c1", 1, T0 + 3 * HOUR, dest=HOME),
        ]
    )
    assert "FAILED_LOGIN_BURST" not in findings(player, "c1", "c1-wd1")


# ---------------------------------------------------------------- CREDENTIAL_CHANGE_CHAIN


@pytest.mark.parametrize("change_type", ["email", "phone", "password", "mfa"])
def test_credential_change_within_24_hours_before_the_withdrawal_is_a_chain(
    player: Player, change_type: str
) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            s.change("c1", "c1-c", T0 - timedelta(hours=23, minutes=59), change_type),
            wd("c1", 1, T0, dest=HOME),
        ]
    )
    finding = findings(player, "c1", "c1-wd1")["CREDENTIAL_CHANGE_CHAIN"]
    assert finding.evidence == ("c1-c",)
    assert change_type in finding.detail


@pytest.mark.parametrize("change_type", ["email", "phone", "password", "mfa"])
def test_credential_change_more_than_24_hours_before_is_no_chain(
    player: Player, change_type: str
) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            s.change("c1", "c1-c", T0 - timedelta(hours=24, minutes=1), change_type),
            wd("c1", 1, T0, dest=HOME),
        ]
    )
    assert "CREDENTIAL_CHANGE_CHAIN" not in findings(player, "c1", "c1-wd1")


def test_address_change_is_no_credential_change(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play([s.change("c1", "c1-c", T0 - HOUR, "address"), wd("c1", 1, T0, dest=HOME)])
    assert "CREDENTIAL_CHANGE_CHAIN" not in findings(player, "c1", "c1-wd1")
    assert player.latest("c1-wd1").reason_codes == ()


def test_credential_change_before_the_destination_change_is_a_chain(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            s.change("c1", "c1-c", T0 - 30 * HOUR, "email"),
            dest_change("c1", "c1-d", T0 - 20 * HOUR, "call_center"),
            wd("c1", 1, T0),
        ]
    )
    assert findings(player, "c1", "c1-wd1")["CREDENTIAL_CHANGE_CHAIN"].evidence == ("c1-c",)


def test_every_credential_change_in_the_chain_is_cited_oldest_first(player: Player) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            s.change("c1", "c1-c2", T0 - 2 * HOUR, "mfa"),
            s.change("c1", "c1-c1", T0 - 3 * HOUR, "password"),
            s.change("c1", "c1-c3", T0 - HOUR, "address"),
            wd("c1", 1, T0, dest=HOME),
        ]
    )
    assert findings(player, "c1", "c1-wd1")["CREDENTIAL_CHANGE_CHAIN"].evidence == (
        "c1-c1",
        "c1-c2",
    )


# ---------------------------------------------------------------- DESTINATION_SHARED


@pytest.mark.parametrize(
    ("apart", "shared"), [(30 * DAY, True), (31 * DAY, False)], ids=["30d", "31d"]
)
def test_destination_set_by_two_customers_within_30_days_is_shared(
    player: Player, apart: timedelta, shared: bool
) -> None:
    for cid in ("a", "b"):
        player.play(s.honest_history(cid, T0))
    player.play(
        [
            dest_change("a", "a-d", T0 - apart, "call_center"),
            dest_change("b", "b-d", T0, "call_center"),
            wd("b", 1, T0 + HOUR),
            wd("a", 1, T0 + 2 * HOUR),
        ]
    )
    for cid in ("a", "b"):
        found = findings(player, cid, f"{cid}-wd1")
        verdict = player.latest(f"{cid}-wd1")
        if shared:
            assert found["DESTINATION_SHARED"].evidence == ("a-d", "b-d")
            assert found["DESTINATION_SHARED"].holding
            assert verdict.decision == "hold"
            assert "DESTINATION_SHARED" in verdict.reason_codes
            assert verdict.payload["severity"] == "critical"
        else:
            assert "DESTINATION_SHARED" not in found
            assert verdict.decision == "allow"


def test_shared_destination_escalates_an_earlier_withdrawal_with_late_evidence(
    player: Player,
) -> None:
    for cid in ("a", "b"):
        player.play(s.honest_history(cid, T0))
    player.play(
        [
            dest_change("a", "a-d", T0, "call_center"),
            wd("a", 1, T0 + HOUR),
            dest_change("b", "b-d", T0 + 2 * HOUR, "call_center"),
        ]
    )
    verdicts = [v for v in player.verdicts if v.withdrawal_id == "a-wd1"]
    assert verdicts[0].decision == "allow"
    assert verdicts[-1].decision == "hold"
    assert {"DESTINATION_SHARED", "LATE_EVIDENCE"} <= set(verdicts[-1].reason_codes)


# ---------------------------------------------------------------- SOURCE_IP_SHARED


@pytest.mark.parametrize(
    ("customers", "spacing", "fires"),
    [(5, 10 * MINUTE, True), (4, 10 * MINUTE, False), (5, 16 * MINUTE, False)],
    ids=["5-in-40min", "4-in-30min", "5-in-64min"],
)
def test_ip_trying_five_customers_within_an_hour_is_shared(
    player: Player, customers: int, spacing: timedelta, fires: bool
) -> None:
    player.play(s.honest_history("c0", T0))
    attempts = [s.login("c0", "c0-l-ip", T0, ip=ATTACKER_IP)]
    attempts += [
        s.login(f"c{i}", f"c{i}-f-ip", T0 + i * spacing, success=False, ip=ATTACKER_IP)
        for i in range(1, customers)
    ]
    player.play(attempts)
    player.play(
        [wd("c0", 1, T0 + 70 * MINUTE, dest=HOME, ip=ATTACKER_IP, device=s.home_device("c0"))]
    )
    found = findings(player, "c0", "c0-wd1")
    if fires:
        logins = sorted(["c0-l-ip", *(f"c{i}-f-ip" for i in range(1, customers))])
        assert found["SOURCE_IP_SHARED"].evidence == ("c0-w1", *logins)
        assert "SOURCE_IP_SHARED" in player.latest("c0-wd1").reason_codes
    else:
        assert "SOURCE_IP_SHARED" not in found


def test_withdrawal_from_another_ip_is_not_tied_to_the_wave(player: Player) -> None:
    player.play(s.honest_history("c0", T0))
    player.play(
        [
            s.login(f"c{i}", f"c{i}-f-ip", T0 + i * MINUTE, success=False, ip=ATTACKER_IP)
            for i in range(5)
        ]
    )
    player.play([wd("c0", 1, T0 + HOUR, dest=HOME, **from_home("c0"))])
    assert "SOURCE_IP_SHARED" not in findings(player, "c0", "c0-wd1")


def test_customer_in_a_five_customer_wave_is_flagged_whatever_order_the_logins_arrive_in() -> None:
    """Two five-customer waves from one IP overlap: c1 with c3..c6 (minutes 0 to 2.6) and
    c3..c6 with c0 (minutes 2 to 61). Heard in event-time order, c0 is told about its
    wave. When c6's attempt, which belongs to both, arrives last, only one wave (the
    earlier) is reported, and c0 is never told."""

    def attempt(cid: str, minutes: float) -> s.Message:
        at = T0 + timedelta(minutes=minutes)
        return s.login(cid, f"{cid}-f", at, success=False, ip=ATTACKER_IP)

    c1, c3, c4, c5, c6, c0 = (
        attempt("c1", 0),
        attempt("c3", 2),
        attempt("c4", 2.2),
        attempt("c5", 2.4),
        attempt("c6", 2.6),
        attempt("c0", 61),
    )
    change = dest_change("c0", "c0-d", T0 + MINUTE / 2, "call_center")
    withdrawal = wd("c0", 1, T0 + MINUTE, ip=ATTACKER_IP)
    for order in (
        [c1, change, withdrawal, c3, c4, c5, c6, c0],
        [c1, change, withdrawal, c3, c4, c5, c0, c6],
    ):
        player = player_for(load_policy())
        player.play(order)
        assert "SOURCE_IP_SHARED" in findings(player, "c0", "c0-wd1"), [
            m[1]["event_id"] for m in order
        ]
        assert player.latest("c0-wd1").decision == "hold"  # 35 + 30 + 20 for NEW_DEVICE


# ---------------------------------------------------------------- DRAIN


@pytest.mark.parametrize(("amount", "fires"), [("800000", True), ("790000", False)])
def test_withdrawing_80_percent_of_the_balance_is_a_drain(
    player: Player, amount: str, fires: bool
) -> None:
    player.play(known_customer("c1"))
    player.play([wd("c1", 1, T0, amount, dest=HOME, balance="1000000", **from_home("c1"))])
    found = findings(player, "c1", "c1-wd1")
    if fires:
        assert found["DRAIN"].evidence == ("c1-w1",)
        assert player.latest("c1-wd1").reason_codes == ("DRAIN",)
    else:
        assert "DRAIN" not in found
        assert player.latest("c1-wd1").reason_codes == ()


@pytest.mark.parametrize(("amount", "fires"), [("300000", True), ("299999", False)])
def test_three_times_the_largest_earlier_withdrawal_in_that_currency_is_a_drain(
    player: Player, amount: str, fires: bool
) -> None:
    player.play(s.honest_history("c1", T0))  # 100000 JPY 20 days ago
    player.play(
        [
            wd("c1", "usd", T0 - 10 * DAY, "500000", dest=HOME, currency="USD"),
            wd("c1", 1, T0, amount, dest=HOME, **from_home("c1")),
        ]
    )
    found = findings(player, "c1", "c1-wd1")
    if fires:
        assert found["DRAIN"].evidence == ("c1-w1", "c1-w0")
    else:
        assert "DRAIN" not in found


def test_history_in_another_currency_is_no_yardstick(player: Player) -> None:
    player.play(known_customer("c1"))
    player.play(
        [
            wd("c1", "usd", T0 - 10 * DAY, "10", dest=HOME, currency="USD"),
            wd("c1", 1, T0, "5000000", dest=HOME, **from_home("c1")),
        ]
    )
    assert "DRAIN" not in findings(player, "c1", "c1-wd1")


# ---------------------------------------------------------------- WITHDRAWAL_BURST


@pytest.mark.parametrize(
    ("third_at", "fires"),
    [(timedelta(hours=23, minutes=59), True), (timedelta(hours=24, minutes=1), False)],
    ids=["23h59m", "24h01m"],
)
def test_third_withdrawal_within_24_hours_of_a_destination_change_is_a_burst(
    player: Player, third_at: timedelta, fires: bool
) -> None:
    player.play(s.honest_history("c1", T0))
    player.play(
        [
            dest_change("c1", "c1-d", T0, "call_center"),
            wd("c1", 1, T0 + HOUR),
            wd("c1", 2, T0 + 2 * HOUR),
            wd("c1", 3, T0 + third_at),
        ]
    )
    assert "WITHDRAWAL_BURST" not in findings(player, "c1", "c1-wd2")
    found = findings(player, "c1", "c1-wd3")
    if fires:
        assert found["WITHDRAWAL_BURST"].evidence == ("c1-d", "c1-w1", "c1-w2", "c1-w3")
        assert "WITHDRAWAL_BURST" in player.latest("c1-wd3").reason_codes
    else:
        assert "WITHDRAWAL_BURST" not in found


# ---------------------------------------------------------------- CONFIRMED_FRAUD_DESTINATION


@pytest.mark.parametrize("confirmed", [True, False])
def test_fraud_confirmed_on_one_customer_holds_another_customers_withdrawal_to_it(
    player: Player, confirmed: bool
) -> None:
    for cid in ("a", "b"):
        player.play(s.honest_history(cid, T0))
    player.play([dest_change("a", "a-d", T0), wd("a", 1, T0 + HOUR)])
    if confirmed:
        player.play(
            [s.case("a", "dec-fraud", T0 + 2 * HOUR, "confirm_fraud", withdrawal_id="a-wd1")]
        )
        assert player.hold("a-wd1").status == "confirmed_fraud"
    player.play([wd("b", 1, T0 + 3 * HOUR)])
    found = findings(player, "b", "b-wd1")
    verdict = player.latest("b-wd1")
    if confirmed:
        finding = found["CONFIRMED_FRAUD_DESTINATION"]
        assert finding.evidence == ("dec-fraud",)
        assert finding.holding
        assert verdict.decision == "hold"
        assert "CONFIRMED_FRAUD_DESTINATION" in verdict.reason_codes
        assert verdict.payload["severity"] == "critical"
        assert player.hold("b-wd1").status == "held"
    else:
        assert found == {}
        assert verdict.decision == "allow"


def test_fraud_confirmed_later_holds_an_earlier_withdrawal_of_another_customer(
    player: Player,
) -> None:
    for cid in ("a", "b"):
        player.play(s.honest_history(cid, T0))
    player.play(
        [
            dest_change("a", "a-d", T0),
            wd("a", 1, T0 + HOUR),
            wd("b", 1, T0 + 2 * HOUR),
            s.case("a", "dec-fraud", T0 + 3 * HOUR, "confirm_fraud", withdrawal_id="a-wd1"),
        ]
    )
    verdict = player.latest("b-wd1")
    assert verdict.decision == "hold"
    assert {"CONFIRMED_FRAUD_DESTINATION", "LATE_EVIDENCE"} <= set(verdict.reason_codes)


# ---------------------------------------------------------------- switching rules off

TARGET = "c1-wd3"
_CODES = {name: make(load_policy().rule(name)).code for name, make in REGISTRY.items()}


def everything() -> list[s.Message]:
    """A scenario in which every rule fires on c1's third withdrawal: the 2020 chain from
    an IP and a device that tried four more customers, to a destination another customer set and on
    which fraud was confirmed for a third customer, then a sell-off of the holdings."""
    msgs: list[s.Message] = []
    for cid in ("c2", "c6"):
        msgs += s.honest_history(cid, T0)
    msgs += [
        wd("c6", 1, T0 - 2 * DAY, "5000"),
        s.case("c6", "dec-fraud", T0 - DAY, "confirm_fraud", withdrawal_id="c6-wd1"),
        dest_change("c2", "c2-d", T0 - DAY, "call_center"),
    ]
    msgs += [
        s.login(
            f"c{i}",
            f"c{i}-f-ip",
            T0 + i * MINUTE,
            success=False,
            ip=ATTACKER_IP,
            device=s.attacker_device("c1"),
        )
        for i in range(2, 6)
    ]
    msgs += s.sbi_chain("c1", T0, attacker_ip=ATTACKER_IP)  # its withdrawal at T0 + 25 min
    net = {"ip": ATTACKER_IP, "device": s.attacker_device("c1")}
    msgs += [
        s.trade("c1", "c1-t1", T0 + 27 * MINUTE, "9000000", holdings_after="600000", **net),
        wd("c1", 2, T0 + 30 * MINUTE, "10000", **net),
        wd("c1", 3, T0 + 35 * MINUTE, "400000", balance="450000", **net),
    ]
    return sorted(msgs, key=lambda m: m[1]["occurred_at"])


def test_everything_scenario_fires_every_rule(player: Player) -> None:
    player.play(everything())
    assert set(findings(player, "c1", TARGET)) == set(_CODES.values())
    verdict = player.latest(TARGET)
    assert verdict.decision == "hold"
    assert set(verdict.reason_codes) >= set(_CODES.values())


@pytest.mark.parametrize("rule", sorted(REGISTRY))
def test_rule_switched_off_in_the_policy_file_never_appears(tmp_path: Path, rule: str) -> None:
    policy = policy_file(tmp_path, f"[rules.{rule}]\nenabled = false\n")
    assert not policy.enabled(rule)
    player = player_for(policy)
    player.play(everything())
    code = _CODES[rule]
    for verdict in player.verdicts:
        assert code not in verdict.reason_codes
    for hold in player.holds:
        assert code not in {r["code"] for r in hold.payload["reasons"]}
    for alert in player.alerts:
        assert code not in alert.rule_codes
    for cid in ("c1", "c2", "c6"):
        state = player.state(cid)
        for wid in state.withdrawals:
            assert code not in {f.code for f in player.engine.assess(state, wid).findings}
    # Every other rule still fires.
    assert set(findings(player, "c1", TARGET)) == set(_CODES.values()) - {code}


# ---------------------------------------------------------------- score thresholds


@pytest.mark.parametrize(
    ("hold_score", "alert_score", "decision", "alerted"),
    [
        (35, 30, "hold", True),
        (35, 100, "hold", True),  # every hold alerts
        (36, 30, "allow", True),
        (60, 35, "allow", True),
        (60, 36, "allow", False),
    ],
)
def test_hold_and_alert_scores_come_from_the_policy(
    tmp_path: Path, hold_score: int, alert_score: int, decision: str, alerted: bool
) -> None:
    policy = policy_file(
        tmp_path, f"[decision]\nhold_score = {hold_score}\nalert_score = {alert_score}\n"
    )
    player = player_for(policy)
    player.play(s.honest_history("c1", T0))
    player.play([dest_change("c1", "c1-d", T0, "call_center"), wd("c1", 1, T0 + HOUR)])
    verdict = player.latest("c1-wd1")
    assert verdict.payload["risk_score"] == 35  # DEST_CHANGED_RECENTLY alone, not holding
    assert verdict.decision == decision
    assert player.engine.assess(player.state("c1"), "c1-wd1").decision == decision
    assert bool([a for a in player.alerts if a.withdrawal_id == "c1-wd1"]) is alerted
    assert bool([h for h in player.holds if h.withdrawal_id == "c1-wd1"]) is (decision == "hold")
