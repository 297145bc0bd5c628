"""Suppressions in the engine: a reason a suppression mutes holds nothing for a withdrawal
made while it is in force, the verdict names the suppression, it ends at `until` by event
time, it is the customer's own, and some reasons can never be muted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.unit.player import Player
from withdrawguard.engine.decode import InvalidEvent, decode_object
from withdrawguard.engine.events import CaseDecision
from withdrawguard.engine.prune import prune
from withdrawguard.engine.suppressions import UNMUTABLE, mutable
from withdrawguard.sim import scenarios as s

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
PHONE_REASONS = ("DEST_CHANGED_RECENTLY", "NEW_DEVICE")


def new_dest(cid: str) -> dict[str, str]:
    """The customer's own new account (two customers sharing one would be a mule sign)."""
    return {"bank_code": "0033", "branch_code": "010", "account_number": f"555{cid[1:]:0>4}"}


def new_phone(cid: str, at: datetime = T0) -> list[s.Message]:
    """A long-standing customer with a new phone sets a new destination from it 5 minutes
    after `at` (unverified): a withdrawal to it from the phone is held for both reasons."""
    msgs = s.honest_history(cid, at)
    msgs += [
        s.login(cid, f"{cid}-l-phone", at, device="dev-phone"),
        s.change(
            cid,
            f"{cid}-d",
            at + 5 * MIN,
            "withdrawal_destination",
            "mobile",
            device="dev-phone",
            destination=new_dest(cid),
        ),
    ]
    return msgs


def withdraw(cid: str, n: int, at: datetime, amount: str = "30000") -> s.Message:
    return s.withdrawal(
        cid,
        f"{cid}-w{n}",
        at,
        f"{cid}-wd{n}",
        amount,
        destination=new_dest(cid),
        device="dev-phone",
    )


def mute(
    cid: str, codes: tuple[str, ...] = PHONE_REASONS, *, at: datetime, until: datetime
) -> s.Message:
    return s.suppress(cid, f"supp-{cid}", at, codes, until, case_id=f"case-{cid}")


def suppressed(player: Player, wid: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = player.latest(wid).payload["suppressed"]
    return found


def test_without_a_suppression_the_new_phone_withdrawal_is_held_for_both_reasons(
    player: Player,
) -> None:
    player.play([*new_phone("c1"), withdraw("c1", 1, T0 + HOUR)])
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold" and set(verdict.reason_codes) == set(PHONE_REASONS)
    assert suppressed(player, "c1-wd1") == []


def test_muted_reasons_no_longer_hold_and_the_verdict_names_the_suppression(
    player: Player,
) -> None:
    until = T0 + 2 * DAY
    player.play(
        [*new_phone("c1"), mute("c1", at=T0 + 10 * MIN, until=until), withdraw("c1", 1, T0 + HOUR)]
    )
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "allow" and verdict.reason_codes == ()
    assert verdict.payload["risk_score"] == 0
    assert suppressed(player, "c1-wd1") == [
        {
            "reason": code,
            "suppression_id": "supp-c1",
            "case_id": "case-c1",
            "until": until.isoformat(),
        }
        for code in PHONE_REASONS
    ]
    assert [h for h in player.holds if h.withdrawal_id == "c1-wd1"] == []
    assert [a for a in player.alerts if a.withdrawal_id == "c1-wd1"] == []


def test_a_reason_not_muted_still_holds(player: Player) -> None:
    player.play(
        [
            *new_phone("c1"),
            mute("c1", ("NEW_DEVICE",), at=T0 + 10 * MIN, until=T0 + DAY),
            withdraw("c1", 1, T0 + HOUR),
        ]
    )
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold" and verdict.reason_codes == ("DEST_CHANGED_RECENTLY",)
    assert [m["reason"] for m in suppressed(player, "c1-wd1")] == ["NEW_DEVICE"]


def test_a_suppression_ends_at_until_by_event_time_without_anything_run(
    player: Player,
) -> None:
    until = T0 + 3 * HOUR
    player.play(
        [
            *new_phone("c1"),
            mute("c1", at=T0 + 10 * MIN, until=until),
            withdraw("c1", 1, until - timedelta(milliseconds=1)),
            withdraw("c1", 2, until),
            withdraw("c1", 3, until + HOUR),
        ]
    )
    assert player.latest("c1-wd1").decision == "allow"
    for wid in ("c1-wd2", "c1-wd3"):
        verdict = player.latest(wid)
        assert verdict.decision == "hold" and set(PHONE_REASONS) <= set(verdict.reason_codes)
        assert suppressed(player, wid) == []


def test_a_suppression_is_not_in_force_before_it_was_made(player: Player) -> None:
    player.play(
        [
            *new_phone("c1"),
            withdraw("c1", 1, T0 + HOUR),
            mute("c1", at=T0 + 2 * HOUR, until=T0 + DAY),
        ]
    )
    verdicts = [v for v in player.verdicts if v.withdrawal_id == "c1-wd1"]
    assert [v.decision for v in verdicts] == ["hold"]  # never released by it
    hold = player.hold("c1-wd1")
    assert hold.status == "held" and hold.payload["actor"] is None


def test_another_customer_is_not_affected(player: Player) -> None:
    player.play(
        [
            *new_phone("c1"),
            *new_phone("c2"),
            mute("c1", at=T0 + 10 * MIN, until=T0 + DAY),
            withdraw("c1", 1, T0 + HOUR),
            withdraw("c2", 1, T0 + HOUR),
        ]
    )
    assert player.latest("c1-wd1").decision == "allow"
    assert player.latest("c2-wd1").decision == "hold"
    assert suppressed(player, "c2-wd1") == []


def test_a_suppression_heard_of_after_a_withdrawal_it_covers_releases_its_hold(
    player: Player,
) -> None:
    """The same verdict whichever came first: the hold it would never have had is
    released, naming the suppression's maker and the suppression."""
    player.play([*new_phone("c1"), withdraw("c1", 1, T0 + HOUR)])
    assert player.latest("c1-wd1").decision == "hold"
    player.play([mute("c1", at=T0 + 10 * MIN, until=T0 + DAY)])
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "allow" and verdict.reason_codes[-1] == "RELEASED"
    assert {m["reason"] for m in suppressed(player, "c1-wd1")} == set(PHONE_REASONS)
    hold = player.hold("c1-wd1")
    assert hold.status == "released" and hold.payload["actor"] == "analyst-1"


def test_late_evidence_of_a_muted_reason_escalates_nothing(player: Player) -> None:
    history = new_phone("c1")
    change = history.pop()  # the destination change, heard of after the withdrawal
    player.play([*history, mute("c1", at=T0, until=T0 + DAY), withdraw("c1", 1, T0 + HOUR), change])
    assert {v.decision for v in player.verdicts if v.withdrawal_id == "c1-wd1"} == {"allow"}


def test_a_confirmed_fraud_destination_is_never_muted(player: Player) -> None:
    """Refused at the edge, and an engine handed one anyway still holds."""
    player.play([*new_phone("c9"), withdraw("c9", 1, T0 + HOUR)])
    player.play([s.case("c9", "fraud-1", T0 + 2 * HOUR, "confirm_fraud", withdrawal_id="c9-wd1")])
    _, body = mute("c1", ("CONFIRMED_FRAUD_DESTINATION",), at=T0, until=T0 + DAY)
    with pytest.raises(InvalidEvent, match="may never be suppressed") as caught:
        decode_object(body, "case_decision")
    assert caught.value.field == "reason_codes.0"
    every = (
        "CONFIRMED_FRAUD_DESTINATION",
        "SOURCE_IP_SHARED",
        *PHONE_REASONS,
        "DESTINATION_SHARED",
    )
    c1 = new_phone("c1")
    c1[-1][1]["destination"] = new_dest("c9")  # c1 sets the account confirmed as a thief's
    player.play(c1)
    player.event(
        CaseDecision(
            "supp-all",
            "c1",
            T0 + 3 * HOUR,
            "suppress",
            "analyst-1",
            suppression_id="supp-all",
            case_id="case-c1",
            reason_codes=every,
            until=T0 + DAY,
        )
    )
    player.play(
        [s.withdrawal("c1", "c1-w1", T0 + 4 * HOUR, "c1-wd1", "3000", destination=new_dest("c9"))]
    )
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold" and verdict.reason_codes == ("CONFIRMED_FRAUD_DESTINATION",)
    assert {m["reason"] for m in suppressed(player, "c1-wd1")} == set(mutable(every))
    assert mutable(every) == (*PHONE_REASONS, "DESTINATION_SHARED") and set(every) >= UNMUTABLE


def test_a_repeated_suppress_decision_changes_nothing(player: Player) -> None:
    decision = mute("c1", at=T0 + 10 * MIN, until=T0 + DAY)
    player.play([*new_phone("c1"), decision])
    before = player.states["c1"]
    player.play([decision])
    assert player.states["c1"] == before


def test_a_suppression_is_kept_while_a_late_withdrawal_can_come_then_pruned(
    player: Player,
) -> None:
    player.play([*new_phone("c1"), mute("c1", at=T0 + 10 * MIN, until=T0 + DAY)])
    state = player.state("c1")
    keep, limits = player.engine.keep_ms, player.engine.policy.limits
    state.horizon = int((T0 + 2 * DAY).timestamp() * 1000)
    prune(state, keep_ms=keep, limits=limits)
    assert "supp-c1" in state.suppressions  # a withdrawal from before `until` may still come
    state.horizon = int((T0 + DAY).timestamp() * 1000) + keep["withdrawals"] + 1
    prune(state, keep_ms=keep, limits=limits)
    assert state.suppressions == {}


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"until": "2024-05-01T09:00:00Z"}, "until", "later than occurred_at"),
        ({"until": "2025-05-03T09:00:00Z"}, "until", "more than 366 days"),
        ({"until": None}, "until", "is required"),
        ({"reason_codes": []}, "reason_codes", "at least one"),
        ({"reason_codes": ["DRAIN", "DRAIN"]}, "reason_codes", "more than once"),
        ({"reason_codes": ["RELEASED"]}, "reason_codes.0", "not a reason code one may mute"),
        ({"reason_codes": ["DRAIN", "SOURCE_IP_SHARED"]}, "reason_codes.1", "never"),
        ({"reason_codes": "DRAIN"}, "reason_codes", "must be an array"),
        ({"suppression_id": None}, "suppression_id", "is required"),
        ({"case_id": " "}, "case_id", "must not be empty"),
    ],
)
def test_a_bad_suppress_decision_is_refused_naming_the_field(
    change: dict[str, Any], field: str, problem: str
) -> None:
    _, body = mute("c1", at=T0, until=T0 + DAY)
    body.update(change)
    with pytest.raises(InvalidEvent, match=problem) as caught:
        decode_object(body, "case_decision")
    assert caught.value.field == field


def test_a_suppress_decision_lasting_exactly_366_days_is_accepted() -> None:
    _, body = mute("c1", at=T0, until=T0 + 366 * DAY)
    decision = decode_object(body, "case_decision")
    assert isinstance(decision, CaseDecision) and decision.until == T0 + 366 * DAY
    assert decision.reason_codes == PHONE_REASONS and decision.case_id == "case-c1"


def _mule_sets(cid: str, dest_of: str, at: datetime) -> s.Message:
    """Another customer sets `dest_of`'s new destination: DESTINATION_SHARED for both."""
    return s.change(
        cid,
        f"{cid}-d-shared",
        at,
        "withdrawal_destination",
        "branch",
        destination=new_dest(dest_of),
    )


@pytest.mark.parametrize("suppression_first", [True, False])
def test_later_evidence_of_a_reason_not_muted_holds_again_whatever_came_first(
    player: Player, suppression_first: bool
) -> None:
    """Muted first or released on the suppression's arrival, a withdrawal that later
    evidence (another customer setting its destination) holds ends held, for that."""
    made = mute("c1", at=T0 + 10 * MIN, until=T0 + DAY)
    w = withdraw("c1", 1, T0 + HOUR)
    player.play([*new_phone("c1"), *s.honest_history("c2", T0)])
    player.play([made, w] if suppression_first else [w, made])
    assert player.latest("c1-wd1").decision == "allow"
    player.play([_mule_sets("c2", "c1", T0 + 2 * HOUR)])
    verdict = player.latest("c1-wd1")
    assert verdict.decision == "hold"
    assert set(verdict.reason_codes) == {"DESTINATION_SHARED", "LATE_EVIDENCE"}
    hold = player.hold("c1-wd1")
    assert hold.status == "held" and hold.payload["actor"] is None
