"""Per-customer state: it survives the table's encoding unchanged, stays bounded however
busy the customer, and pruning keeps exactly what the rules' windows still reach."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tests.unit.player import Player
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.events import Login
from withdrawguard.engine.policy import DAY as DAY_MS
from withdrawguard.engine.state import (
    STATE_VERSION,
    CaseRec,
    ChangeRec,
    CustomerState,
    FlagRec,
    Kept,
    LoginRec,
    NoticeRec,
    SharedRec,
    Sighting,
    SuppressionRec,
    TradeRec,
    WithdrawalRec,
    decode_state,
    encode_state,
)
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.sim import scenarios as s

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
ATTACKER_IP = "198.51.100.7"
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
RECORDS = (
    LoginRec,
    Sighting,
    ChangeRec,
    CaseRec,
    WithdrawalRec,
    SharedRec,
    FlagRec,
    SuppressionRec,
    TradeRec,
    NoticeRec,
)


def rich_state(player: Player) -> CustomerState:
    """c1 after the 2020 chain, from an IP and a device that tried four more customers, to a
    destination
    another customer set, with a confirmed fraud, a verified destination, a release, a
    suppression muting NEW_DEVICE for a later withdrawal from a new device, and a sell-off
    of the holdings."""
    msgs = s.honest_history("c2", T0)
    msgs.append(
        s.change(
            "c2", "c2-d", T0 - DAY, "withdrawal_destination", "branch", destination=s.MULE_DEST
        )
    )
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
    msgs += s.sbi_chain("c1", T0, attacker_ip=ATTACKER_IP)
    msgs += [
        s.withdrawal("c1", "c1-w2", T0 + HOUR, "c1-wd2", "5000", destination=s.HOME_DEST),
        s.case("c1", "dec-1", T0 + 2 * HOUR, "confirm_fraud", withdrawal_id="c1-wd-attack"),
        s.case("c1", "dec-2", T0 + 3 * HOUR, "verify_destination", destination=s.HOME_DEST),
        s.case("c1", "dec-3", T0 + 4 * HOUR, "release", withdrawal_id="c1-wd2"),
        s.suppress("c1", "supp-1", T0 + 5 * HOUR, ("NEW_DEVICE",), T0 + 5 * DAY),
        s.withdrawal(
            "c1", "c1-w3", T0 + 6 * HOUR, "c1-wd3", "3000", destination=s.HOME_DEST, device="d-9"
        ),
        s.trade("c1", "c1-t1", T0 + 7 * HOUR, "8000000", holdings_after="500000"),
    ]
    player.play(sorted(msgs, key=lambda m: m[1]["occurred_at"]))
    return player.state("c1")


def test_encoding_round_trip_gives_back_an_equal_state(player: Player) -> None:
    state = rich_state(player)
    for name in CustomerState.__slots__:
        if name not in ("customer_id", "horizon"):
            assert getattr(state, name), f"the scenario leaves {name} empty"
    assert state.withdrawals["c1-wd-attack"].hold == "confirmed_fraud"
    assert state.withdrawals["c1-wd-attack"].alerts
    assert state.withdrawals["c1-wd3"].suppressed == [
        ["NEW_DEVICE", "supp-1", "case-1", to_ms(T0 + 5 * DAY)]
    ]
    raw = encode_state(state)
    again = decode_state(raw)
    assert again == state
    assert encode_state(again) == raw
    assert decode_state(player.states["c1"]) == state


def test_a_version_1_state_written_by_an_older_worker_is_still_read(player: Player) -> None:
    state = rich_state(player)
    state.trades, state.sell_offs, state.flagged_devices, state.notices = {}, {}, {}, {}
    version_1 = orjson.dumps(state)  # an object per record: what version 1 wrote
    assert version_1.startswith(b'{"customer_id"')
    assert decode_state(version_1) == state
    assert len(encode_state(state)) < len(version_1) * 0.8  # and version 4 is smaller


def test_a_version_2_state_written_before_suppressions_is_read_without_them(
    player: Player,
) -> None:
    state = rich_state(player)
    state.suppressions, state.trades, state.sell_offs = {}, {}, {}
    state.flagged_devices, state.notices = {}, {}
    for w in state.withdrawals.values():
        w.suppressed, w.lifted = [], False
    # What version 2 wrote: no suppressions after `seen`, no `suppressed` or `lifted` per
    # withdrawal.
    version, *fields = orjson.loads(encode_state(state))
    assert version == 4
    fields[8] = {k: v[:-2] for k, v in fields[8].items()}  # the withdrawals' records
    version_2 = orjson.dumps([2, *fields[:-5]])
    assert decode_state(version_2) == state


def test_a_version_3_state_written_before_kept_evidence_is_read_with_nothing_kept(
    player: Player,
) -> None:
    state = rich_state(player)
    _version, *fields = orjson.loads(encode_state(state))
    state.trades, state.sell_offs, state.flagged_devices, state.notices = {}, {}, {}, {}
    _version, *fields = orjson.loads(encode_state(state))
    assert fields[-5] == [{}, {}, {}, {}, {}]  # nothing kept: no hold is older than a window
    assert decode_state(orjson.dumps([3, *fields[:-5]])) == state


def test_a_version_4_state_written_before_shared_devices_and_notices_reads_with_none(
    player: Player,
) -> None:
    state = rich_state(player)
    assert state.flagged_devices
    state.flagged_devices, state.notices = {}, {}
    version, *fields = orjson.loads(encode_state(state))
    assert decode_state(orjson.dumps([version, *fields[:-2]])) == state


def test_the_version_4_layout_is_pinned_so_a_field_change_needs_a_new_version() -> None:
    # Version 4 writes each record's fields by position, in declaration order: adding,
    # removing or moving a field would make stored states decode wrongly. Change these
    # only together with STATE_VERSION (and a reader for the old version).
    assert STATE_VERSION == 4
    assert {cls.__name__: cls.__slots__ for cls in RECORDS} == {
        "LoginRec": ("ts", "ip", "device", "net"),
        "Sighting": ("first", "last", "event_id"),
        "ChangeRec": ("ts", "change_type", "channel", "ip", "device", "net", "verified", "dest"),
        "CaseRec": ("decision_id", "action", "ts", "actor", "note"),
        "WithdrawalRec": (
            "event_id",
            "ts",
            "amount",
            "currency",
            "dest",
            "channel",
            "ip",
            "device",
            "net",
            "balance",
            "decision",
            "risk_score",
            "severity",
            "reasons",
            "evidence",
            "decided_at",
            "hold",
            "hold_created",
            "hold_updated",
            "actor",
            "note",
            "alerts",
            "late_note",
            "suppressed",
            "lifted",
        ),
        "SharedRec": ("first_ts", "customers", "evidence"),
        "FlagRec": ("start", "end", "customers", "evidence"),
        "SuppressionRec": ("decision_id", "start", "until", "codes", "case_id", "actor", "note"),
        "TradeRec": (
            "ts",
            "side",
            "proceeds",
            "currency",
            "holdings_after",
            "channel",
            "ip",
            "device",
        ),
        "NoticeRec": (
            "ts",
            "kind",
            "event_id",
            "at",
            "withdrawal_id",
            "change_type",
            "dest",
            "channel",
            "contact",
            "as_of",
            "response_id",
            "answer",
            "answered_at",
            "counted",
            "why_not",
        ),
    }
    assert CustomerState.__slots__ == (
        "customer_id", "horizon", "logins_ok", "logins_failed", "devices", "networks",
        "changes", "withdrawals", "cases", "shared", "fraud_dest", "verified_dest",
        "flagged_ips", "seen", "suppressions", "pruned", "kept", "trades", "sell_offs",
        "flagged_devices", "notices",
    )  # fmt: skip
    assert Kept.__slots__ == ("logins_ok", "logins_failed", "changes", "withdrawals", "trades")


def test_a_state_of_an_unknown_version_is_refused_with_its_version() -> None:
    raw = encode_state(CustomerState("c-future")).replace(b"[4,", b"[5,", 1)
    with pytest.raises(ValueError, match="version 5"):
        decode_state(raw)


def test_empty_state_round_trips() -> None:
    state = CustomerState("c-empty")
    assert decode_state(encode_state(state)) == state


# ---------------------------------------------------------------- bounded state

# Streaming the full 100,000 logins through Engine.apply takes about a minute, because
# prune() walks the whole state after every event (~0.6 ms once the caps are full). The
# test keeps the 200-day shape, with a long sparse stretch that exercises the time windows
# and a dense last ten days that overfills every cap; raise these to run the 100,000 case.
SPARSE_LOGINS = 3_000  # spread over the first 190 days
DENSE_LOGINS = 4_500  # in the last 10 days, half of them failed: both login caps overflow
DEVICES = 1_500


def busy_logins(cid: str) -> list[Login]:
    rng = random.Random(20240501)
    start = T0 - 200 * DAY
    events: list[Login] = []
    for i in range(SPARSE_LOGINS + DENSE_LOGINS):
        if i < SPARSE_LOGINS:
            at = start + timedelta(seconds=rng.uniform(0, 190 * 86400))
        else:
            at = start + timedelta(seconds=rng.uniform(190 * 86400, 200 * 86400))
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        if rng.random() < 0.1:
            ip = f"2001:db8:{rng.randrange(65536):x}:{rng.randrange(65536):x}::1"
        success = rng.random() < (0.8 if i < SPARSE_LOGINS else 0.5)
        device = f"dev-{rng.randrange(DEVICES)}" if rng.random() < 0.95 else None
        events.append(Login(f"{cid}-l{i}", cid, at, success, ip, device_id=device))
    events.sort(key=lambda e: e.occurred_at)
    return events


@dataclass(frozen=True)
class Busy:
    events: list[Login]
    state: bytes
    over_limits: list[int]
    """Event numbers after which some count was over its limit."""


@pytest.fixture(scope="module")
def busy(engine: Engine) -> Busy:
    limits = engine.policy.limits
    events = busy_logins("busy")
    state = CustomerState("busy")
    over: list[int] = []
    for n, event in enumerate(events, 1):
        engine.apply(state, event)
        if (
            max(len(state.logins_ok), len(state.logins_failed)) > limits["max_logins"]
            or max(len(state.devices), len(state.networks)) > limits["max_known_devices"]
        ):
            over.append(n)
    return Busy(events, encode_state(state), over)


def test_busy_customer_over_200_days_stays_within_the_policy_limits(
    engine: Engine, busy: Busy
) -> None:
    limits = engine.policy.limits
    assert busy.over_limits == []
    state = decode_state(busy.state)
    # Every cap was reached: the bound is the limit, not the input.
    assert len(state.logins_ok) == limits["max_logins"]
    assert len(state.logins_failed) == limits["max_logins"]
    assert len(state.devices) == limits["max_known_devices"]
    assert len(state.networks) == limits["max_known_devices"]
    # Nothing older than the windows survives, and the newest are what is kept.
    memory = engine.policy.rule("new_device")["memory_days"] * DAY_MS
    assert all(sight.last >= state.horizon - memory for sight in state.devices.values())
    keep = engine.keep_ms["logins"]
    assert all(rec.ts >= state.horizon - keep for rec in state.logins_ok.values())
    newest_ok = max(to_ms(e.occurred_at) for e in busy.events if e.success)
    assert max(rec.ts for rec in state.logins_ok.values()) == newest_ok
    assert len(busy.state) < 1_000_000


def test_busy_customer_is_still_judged_after_the_flood(player: Player, busy: Busy) -> None:
    """After the flood, a withdrawal is still assessed against the (pruned) history."""
    player.states["busy"] = busy.state
    player.play(
        [
            s.change("busy", "busy-d", T0, "withdrawal_destination", destination=s.MULE_DEST),
            s.withdrawal("busy", "busy-w", T0 + HOUR, "busy-wd", "1000", destination=s.MULE_DEST),
        ]
    )
    assert player.latest("busy-wd").decision == "hold"
    assert len(player.states["busy"]) < 1_000_000


# ---------------------------------------------------------------- pruning


@pytest.mark.parametrize(
    ("age", "kept"), [(179 * DAY, True), (181 * DAY, False)], ids=["179d", "181d"]
)
def test_withdrawal_stays_for_the_180_days_of_drain_history(
    player: Player, age: timedelta, kept: bool
) -> None:
    player.play(
        [
            s.withdrawal(
                "c1", "c1-w-old", T0 - age, "c1-wd-old", "100000", destination=s.HOME_DEST
            ),
            s.login("c1", "c1-l", T0 - HOUR),
            s.withdrawal("c1", "c1-w-new", T0, "c1-wd-new", "300000", destination=s.HOME_DEST),
        ]
    )
    state = player.state("c1")
    found = {f.code: f for f in player.engine.assess(state, "c1-wd-new").findings}
    assert ("c1-wd-old" in state.withdrawals) is kept
    if kept:
        assert found["DRAIN"].evidence == ("c1-w-new", "c1-w-old")
        assert "DRAIN" in player.latest("c1-wd-new").reason_codes
    else:
        assert "DRAIN" not in found
        assert "DRAIN" not in player.latest("c1-wd-new").reason_codes


@pytest.mark.parametrize(
    ("age", "known"), [(89 * DAY, True), (91 * DAY, False)], ids=["89d", "91d"]
)
def test_device_is_remembered_for_90_days_unseen(
    player: Player, age: timedelta, known: bool
) -> None:
    ip = "192.0.2.10"
    player.play(
        [
            s.login("c1", "c1-l-old", T0 - age, ip=ip, device="dev-old"),
            s.login("c1", "c1-l", T0 - HOUR, ip="203.0.113.5", device="dev-other"),
            s.withdrawal(
                "c1", "c1-w", T0, "c1-wd", "1000", destination=s.HOME_DEST, ip=ip, device="dev-old"
            ),
        ]
    )
    state = player.state("c1")
    assert ("dev-old" in state.devices) is known
    found = {f.code: f for f in player.engine.assess(state, "c1-wd").findings}
    if known:
        assert "NEW_DEVICE" not in found
        assert player.latest("c1-wd").reason_codes == ()
    else:
        assert "never seen" in found["NEW_DEVICE"].detail
        assert player.latest("c1-wd").reason_codes == ("NEW_DEVICE",)


def test_device_unseen_for_91_days_is_new_even_if_nothing_came_in_between(
    player: Player,
) -> None:
    """The memory window must not depend on whether another event moved the horizon
    (and so pruned) before the withdrawal arrived."""
    ip = "192.0.2.10"
    player.play(
        [
            s.login("c1", "c1-l-old", T0 - 91 * DAY, ip=ip, device="dev-old"),
            s.withdrawal(
                "c1", "c1-w", T0, "c1-wd", "1000", destination=s.HOME_DEST, ip=ip, device="dev-old"
            ),
        ]
    )
    assert "dev-old" not in player.state("c1").devices
    assert player.latest("c1-wd").reason_codes == ("NEW_DEVICE",)


def test_logins_stay_while_late_evidence_can_still_reopen_a_verdict(player: Player) -> None:
    """A withdrawal six days back is re-judged when its destination change arrives late;
    the failed-login burst before it must still be in the state."""
    w_at = T0 - 6 * DAY
    fails = [
        s.login("c1", f"c1-f{i}", w_at - (20 - i) * MINUTE, success=False, ip=ATTACKER_IP)
        for i in range(5)
    ]
    player.play(s.honest_history("c1", w_at))
    player.play(
        [
            *fails,
            s.login("c1", "c1-l", w_at - 10 * MINUTE),
            s.withdrawal("c1", "c1-w", w_at, "c1-wd", "1000", destination=s.MULE_DEST),
            s.login("c1", "c1-l-now", T0),  # the horizon moves on six days
            s.change(
                "c1", "c1-d", w_at - 5 * MINUTE, "withdrawal_destination", destination=s.MULE_DEST
            ),
        ]
    )
    verdict = player.latest("c1-wd")
    assert verdict.decision == "hold"
    assert {"DEST_CHANGED_RECENTLY", "FAILED_LOGIN_BURST", "LATE_EVIDENCE"} <= set(
        verdict.reason_codes
    )
