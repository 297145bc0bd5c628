"""An open hold keeps its evidence, whatever its age and whatever arrives later.

Retention trims the rules' collections to their windows; a held withdrawal stays where it
is (so a release or a confirm still applies to it), and the events its verdict cites move
to `state.kept`, which the customer page reads and the rules never do. Both go at the
first prune after the hold is decided.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from tests.unit.player import Player
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.evidence import describe
from withdrawguard.engine.policy import policy_from
from withdrawguard.engine.state import CustomerState, Kept, decode_state, encode_state
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.sim import scenarios as s
from withdrawguard.web.console.timeline import timeline

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
HELD = "c1-wd-attack"
LATER = T0 + 400 * DAY


def held_chain(player: Player) -> list[str]:
    """c1 after the 2020 chain: the withdrawal held, and the event ids its verdict cites."""
    player.play(s.sbi_chain("c1", T0))
    rec = player.state("c1").withdrawals[HELD]
    assert rec.hold == "held"
    assert len(rec.evidence) >= 5
    return list(rec.evidence)


def later_logins(cid: str, at: datetime, n: int, tag: str = "later") -> list[s.Message]:
    return [s.login(cid, f"{cid}-{tag}{i}", at + i * MINUTE) for i in range(n)]


def test_a_hold_older_than_every_window_keeps_its_withdrawal_and_evidence(
    player: Player,
) -> None:
    cited = held_chain(player)
    player.play(later_logins("c1", T0 + 400 * DAY, 3))  # the horizon moves on 400 days
    state = player.state("c1")
    assert state.pruned >= to_ms(T0 + 400 * DAY)  # a prune ran, 400 days on
    assert HELD in state.withdrawals and state.withdrawals[HELD].hold == "held"
    # The rules' collections no longer hold the evidence; `kept` does.
    assert not set(cited) & (set(state.logins_ok) | set(state.logins_failed) | set(state.changes))
    assert set(state.kept.logins_failed) and set(state.kept.changes)
    for eid in cited:
        assert describe(state, eid) is not None, eid
    # The customer page shows every cited event, marked as evidence for the hold.
    entries = {e.event_id: e for e in timeline(state)}
    for eid in cited:
        assert entries[eid].evidence_for and entries[eid].evidence_for[0][0] == HELD
    # What no open hold cites is forgotten as before.
    assert "c1-l-home" not in entries or "c1-l-home" in cited


def test_evidence_is_kept_when_a_flood_of_later_events_overfills_the_caps() -> None:
    engine = Engine(policy_from({"limits": {"max_logins": 20}}, "test"))
    player = Player(engine, CrossReference(engine.policy))
    cited = held_chain(player)
    failed = [
        s.login("c1", f"c1-flood{i}", T0 + DAY + i * MINUTE, success=False, ip="10.0.0.9")
        for i in range(60)
    ]
    player.play(failed)  # within every window, but three times the cap
    state = player.state("c1")
    assert len(state.logins_failed) == 20
    for eid in cited:
        assert describe(state, eid) is not None, eid
    assert {e for e in cited if e.startswith("c1-f")} <= set(state.kept.logins_failed)


def test_the_rules_never_read_what_is_kept(player: Player) -> None:
    held_chain(player)
    player.play(
        [
            *later_logins("c1", T0 + 400 * DAY, 2),
            s.change("c1", "c1-d2", LATER, "withdrawal_destination", destination=s.MULE_DEST),
            s.withdrawal("c1", "c1-w2", LATER + MINUTE, "c1-wd2", "5000", destination=s.MULE_DEST),
        ]
    )
    state = player.state("c1")
    assert state.kept != Kept()
    blind = copy.deepcopy(state)
    blind.kept = Kept()
    for wid in (HELD, "c1-wd2"):
        assert player.engine.assess(state, wid) == player.engine.assess(blind, wid)


def test_a_release_of_an_old_hold_applies_and_its_evidence_then_goes(player: Player) -> None:
    held_chain(player)
    player.play(later_logins("c1", T0 + 400 * DAY, 2))
    released_at = T0 + 400 * DAY + 10 * MINUTE  # within the hour: no prune yet
    player.play([s.case("c1", "dec-1", released_at, "release", withdrawal_id=HELD)])
    assert player.latest(HELD).decision == "allow"
    assert "RELEASED" in player.latest(HELD).reason_codes
    assert player.holds[-1].withdrawal_id == HELD and player.holds[-1].status == "released"
    state = player.state("c1")
    assert state.withdrawals[HELD].hold == "released"  # shown until the next prune
    assert state.kept != Kept()
    player.play(later_logins("c1", released_at + 2 * DAY, 1, tag="after"))
    state = player.state("c1")
    assert HELD not in state.withdrawals
    assert state.kept == Kept()


def test_a_replay_of_an_old_held_withdrawal_gets_its_hold_again_not_a_new_decision(
    player: Player,
) -> None:
    chain = s.sbi_chain("c1", T0)
    player.play(chain)
    player.play(later_logins("c1", T0 + 400 * DAY, 2))
    before = len(player.verdicts)
    player.play([m for m in chain if m[1].get("withdrawal_id") == HELD])  # a replay
    again = player.verdicts[before:]
    assert [v.decision for v in again] == ["hold"]
    assert player.holds[-1].status == "held"


def test_kept_evidence_survives_the_table_encoding(player: Player) -> None:
    held_chain(player)
    player.play(later_logins("c1", T0 + 400 * DAY, 2))
    raw = player.states["c1"]
    state = decode_state(raw)
    assert state.kept != Kept()
    assert encode_state(state) == raw
    assert decode_state(encode_state(CustomerState("c9"))).kept == Kept()


def test_a_case_decision_dated_long_after_the_customers_last_event_forgets_nothing(
    player: Player,
) -> None:
    """The decision is dated by a person's clock: it does not move the horizon retention
    counts back from, so the page the person acts on keeps every row."""
    held_chain(player)
    before = {e.event_id for e in timeline(player.state("c1"))}
    horizon = player.state("c1").horizon
    player.play([s.case("c1", "dec-1", T0 + 300 * DAY, "confirm_fraud", withdrawal_id=HELD)])
    state = player.state("c1")
    assert state.withdrawals[HELD].hold == "confirmed_fraud"
    assert state.horizon == horizon
    assert before < {e.event_id for e in timeline(state)}  # and the decision itself
