"""DEVICE_SHARED: one device id seen on logins or online changes of many customers.

The rule at its threshold and window and just past them, the failed-login switch, which
changes count, what counts as one device, the notices each customer gets (once per wave),
and how the finding weighs with NEW_DEVICE."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.unit.player import Player
from tests.unit.test_rules import HOME, T0, findings, from_home, player_for, policy_file, wd
from withdrawguard.contract import wire
from withdrawguard.engine.crossref import CrossReference, DeviceState
from withdrawguard.engine.events import DeviceFlagged
from withdrawguard.engine.outputs import DeviceObservation
from withdrawguard.engine.policy import fingerprint, load_policy, parse_policy
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.sim import scenarios as s

FARM = "dev-farm-01"
HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)


def farm_logins(
    customers: range, spacing: timedelta, *, success: bool = True, device: str | None = FARM
) -> list[s.Message]:
    """One login from the farm's device into each of `customers` ("v1", "v2", ...),
    `spacing` apart, from a different IP each (the farm rotates addresses)."""
    return [
        s.login(
            f"v{i}",
            f"v{i}-l-farm",
            T0 + (i - 1) * spacing,
            success=success,
            ip=f"203.0.113.{i}",
            device=device,
        )
        for i in customers
    ]


def victim_withdraws(player: Player, at: timedelta, device: str = FARM) -> list[str]:
    """v1, a long-standing customer, withdraws to home from `device`; its reason codes."""
    player.play([wd("v1", 1, T0 + at, dest=HOME, ip="203.0.113.99", device=device)])
    return list(findings(player, "v1", "v1-wd1"))


@pytest.mark.parametrize(
    ("customers", "spacing", "fires"),
    [(4, 7 * HOUR, True), (3, 7 * HOUR, False), (4, 8 * HOUR + MINUTE, False)],
    ids=["4-in-21h", "3-in-14h", "4-in-24h03m"],
)
def test_device_seen_on_four_customers_within_a_day_is_shared(
    player: Player, customers: int, spacing: timedelta, fires: bool
) -> None:
    player.play(s.honest_history("v1", T0))
    player.play(farm_logins(range(1, customers + 1), spacing))
    found = victim_withdraws(player, 3 * spacing + HOUR)
    if fires:
        logins = tuple(f"v{i}-l-farm" for i in range(1, customers + 1))
        finding = findings(player, "v1", "v1-wd1")["DEVICE_SHARED"]
        assert finding.evidence == ("v1-w1", *logins)
        assert finding.weight == 40
        assert f"device {FARM}, which was seen on 4 customers within 24 h" in finding.detail
        assert "DEVICE_SHARED" in player.latest("v1-wd1").reason_codes
    else:
        assert "DEVICE_SHARED" not in found


def test_the_farm_device_new_to_the_victim_holds_with_new_device(player: Player) -> None:
    player.play(s.honest_history("v1", T0))
    player.play(farm_logins(range(1, 5), 10 * MINUTE))
    victim_withdraws(player, HOUR)
    verdict = player.latest("v1-wd1")
    assert verdict.decision == "hold"
    assert set(verdict.reason_codes) >= {"DEVICE_SHARED", "NEW_DEVICE"}
    assert verdict.payload["risk_score"] == 60


def test_a_device_the_customer_has_long_used_alerts_without_holding(player: Player) -> None:
    """A household's tablet: four family members, each signing in to their own account,
    on a device each has used for months. Shared, but not new to anyone."""
    tablet = "tablet-family"
    for i in range(1, 5):
        player.play([s.login(f"v{i}", f"v{i}-l-old", T0 - 30 * timedelta(days=1), device=tablet)])
    player.play(farm_logins(range(1, 5), 10 * MINUTE, device=tablet))
    player.play([wd("v1", 1, T0 + HOUR, dest=HOME, **{**from_home("v1"), "device": tablet})])
    verdict = player.latest("v1-wd1")
    assert verdict.reason_codes == ("DEVICE_SHARED",)
    assert verdict.decision == "allow"
    assert player.alerts and player.alerts[-1].rule_codes == ("DEVICE_SHARED",)


def test_a_withdrawal_from_another_device_is_not_tied_to_the_wave(player: Player) -> None:
    player.play(s.honest_history("v1", T0))
    player.play(farm_logins(range(1, 6), 10 * MINUTE))
    assert "DEVICE_SHARED" not in victim_withdraws(player, HOUR, device=s.home_device("v1"))


@pytest.mark.parametrize(
    ("after_wave", "fires"), [(24 * HOUR, True), (24 * HOUR + MINUTE, False)], ids=str
)
def test_an_action_counts_up_to_lookahead_hours_after_the_wave(
    player: Player, after_wave: timedelta, fires: bool
) -> None:
    player.play(s.honest_history("v1", T0))
    player.play(farm_logins(range(1, 5), 10 * MINUTE))  # the wave ends at T0 + 30 min
    found = victim_withdraws(player, 30 * MINUTE + after_wave)
    assert ("DEVICE_SHARED" in found) is fires


@pytest.mark.parametrize("count_failed", [True, False])
def test_failed_logins_count_only_with_the_switch(tmp_path: Path, count_failed: bool) -> None:
    policy = policy_file(
        tmp_path, f"[rules.device_shared]\ncount_failed = {str(count_failed).lower()}\n"
    )
    player = player_for(policy)
    player.play(s.honest_history("v1", T0))
    player.play(farm_logins(range(1, 2), MINUTE))  # v1's own login succeeds
    player.play(farm_logins(range(2, 5), 10 * MINUTE, success=False))
    assert ("DEVICE_SHARED" in victim_withdraws(player, HOUR)) is count_failed


@pytest.mark.parametrize(("channel", "counts"), [("mobile", True), ("call_center", False)])
def test_online_account_changes_count_and_a_call_centers_terminal_does_not(
    player: Player, channel: str, counts: bool
) -> None:
    player.play(s.honest_history("v1", T0))
    player.play(farm_logins(range(1, 4), 10 * MINUTE))
    player.play(
        [s.change("v4", "v4-c-farm", T0 + HOUR, "email", channel, ip="203.0.113.4", device=FARM)]
    )
    assert ("DEVICE_SHARED" in victim_withdraws(player, 2 * HOUR)) is counts


def test_a_device_id_is_compared_exactly_and_an_absent_one_counts_for_nothing(
    player: Player,
) -> None:
    """`dev-farm-01`, `DEV-FARM-01` and `dev-farm-01 ` are three devices; logins without a
    device id make no wave however many customers they cover."""
    player.play(s.honest_history("v1", T0))
    player.play(farm_logins(range(1, 3), 10 * MINUTE))
    player.play(farm_logins(range(3, 4), 10 * MINUTE, device=FARM.upper()))
    player.play(farm_logins(range(4, 5), 10 * MINUTE, device=FARM + " "))
    player.play(farm_logins(range(5, 12), MINUTE, device=None))
    assert "DEVICE_SHARED" not in victim_withdraws(player, HOUR)
    assert player.state("v1").flagged_devices == {}


def observation(cid: str, minutes: int, eid: str | None = None) -> DeviceObservation:
    ts = to_ms(T0 + minutes * MINUTE)
    return DeviceObservation(FARM, cid, ts, eid or f"{cid}-{minutes}", True, "login")


def test_each_customer_of_a_wave_is_told_once_and_again_only_of_a_later_wave() -> None:
    crossref = CrossReference(load_policy())
    st = DeviceState()
    told: list[DeviceFlagged] = []
    for cid, minutes in (("a", 0), ("b", 5), ("c", 10), ("d", 15)):
        told += [
            n
            for n in crossref.device(st, observation(cid, minutes))
            if isinstance(n, DeviceFlagged)
        ]
    assert sorted(n.customer_id for n in told) == ["a", "b", "c", "d"]
    assert {n.customers for n in told} == {("a", "b", "c", "d")}
    assert {(n.window_start, n.window_end) for n in told} == {(T0, T0 + 15 * MINUTE)}
    # The same observation again (a replay) and a fifth customer in the same wave: only
    # the newcomer is told; the four already told are not told again.
    assert crossref.device(st, observation("d", 15)) == []
    fifth = crossref.device(st, observation("e", 20))
    assert [n.customer_id for n in fifth] == ["e"]
    # A wave ending more than one window later is news to everyone in it.
    later = [observation(c, 26 * 60 + m) for m, c in enumerate("abcd")]
    again = [n.customer_id for o in later for n in crossref.device(st, o)]
    assert sorted(again) == ["a", "b", "c", "d"]


def test_a_notice_is_recorded_once_and_survives_the_wire(player: Player) -> None:
    notice = DeviceFlagged(
        "n-1", "v1", T0, FARM, T0, T0 + HOUR, ("v1", "v2", "v3", "v4"), ("e1", "e2")
    )
    raw = wire.encode_notice(notice)
    assert raw.startswith(b"device_flagged\0")
    assert wire.decode_customer_event(raw, 10_000) == notice
    observations = [observation("v1", 0), DeviceObservation(FARM, "v2", 5, "c", True, "change")]
    assert wire.decode_device_observations(wire.encode_observations(observations)) == observations
    player.event(notice)
    player.event(notice)
    assert list(player.state("v1").flagged_devices[FARM]) == ["n-1"]


def test_switched_off_the_device_stage_sends_no_notices(tmp_path: Path) -> None:
    policy = policy_file(tmp_path, "[rules.device_shared]\nenabled = false\n")
    crossref, st = CrossReference(policy), DeviceState()
    assert [crossref.device(st, observation(c, i)) for i, c in enumerate("abcde")] == [[]] * 5


def test_the_new_rule_changes_no_published_policy_fingerprint() -> None:
    published = fingerprint(load_policy())
    assert fingerprint(parse_policy("[rules.device_shared]\nweight = 40\n", "x")) == published
    changed = parse_policy("[rules.device_shared]\nmin_customers = 3\n", "x")
    assert fingerprint(changed) != published
