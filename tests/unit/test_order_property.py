"""Arrival order and repeats: the engine's judgement depends on what happened, not on the
order in which it was heard about, nor on how often.

Histories are small (one to three customers, a few devices, IPs and destinations, some
shared between customers) so that the rules' windows overlap often. Every event has its
own timestamp (no ties), so "event-time order" is one order. All withdrawals are within
the last five days, well inside the re-evaluation window; a few background logins up to
three days earlier give devices that are old enough not to count as new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.player import Player
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import LATE_EVIDENCE, RELEASED, Engine
from withdrawguard.engine.outputs import Verdict
from withdrawguard.engine.policy import load_policy
from withdrawguard.engine.rules import RULE_CODES
from withdrawguard.engine.suppressions import UNMUTABLE
from withdrawguard.sim import scenarios as s

Message = s.Message
T0 = datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
ENGINE = Engine(load_policy())

CUSTOMERS = ("a", "b", "c")
DEVICES = ("dev-1", "dev-2", "dev-3", None)
IPS = ("192.0.2.10", "192.0.2.77", "198.51.100.7", "2001:db8::1", "2001:db8:0:1::1")
DESTINATIONS = (
    s.HOME_DEST,
    s.MULE_DEST,
    {"bank_code": "0033", "account_number": "5550001"},
)
CHANGE_TYPES = (
    "withdrawal_destination",
    "withdrawal_destination",
    "withdrawal_destination",
    "email",
    "phone",
    "password",
    "mfa",
    "address",
)
CHANNELS = ("web", "mobile", "api", "call_center", "mail", "branch")
MUTABLE = sorted(RULE_CODES - UNMUTABLE)
AMOUNTS = ("1000", "50000", "100000", "300000", "900000")
BALANCES = (None, None, "1000000", "950000", "120000", "0")

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Minutes from T0: mostly in a few busy stretches, so that windows overlap.
_minutes = st.one_of(
    st.builds(
        lambda day, minute: day * 1440 + minute,
        st.sampled_from([0, 1, 2, 4]),
        st.integers(0, 240),
    ),
    st.integers(0, 5 * 1440),
)


@st.composite
def histories(draw: st.DrawFn) -> list[Message]:
    """A history as wire messages, in event-time order, with unique event ids and times."""
    cids = CUSTOMERS[: draw(st.integers(1, 3))]
    msgs: list[tuple[int, Message]] = []
    n = 0

    def at(minute: int) -> datetime:
        # Seconds carry the message number: no two events share a timestamp.
        return T0 + timedelta(minutes=minute, seconds=len(msgs))

    def add(minute: int, message: Message) -> None:
        msgs.append((minute, message))

    for cid in cids:  # background logins, 2-3 days before: devices old enough to know
        for device in draw(st.lists(st.sampled_from(DEVICES[:-1]), max_size=2, unique=True)):
            minute = -draw(st.integers(2 * 1440, 3 * 1440))
            ip = draw(st.sampled_from(IPS))
            add(minute, s.login(cid, f"e{len(msgs)}", at(minute), ip=ip, device=device))

    target = draw(st.integers(5, 25))
    while n < target:
        n += 1
        cid = draw(st.sampled_from(cids))
        minute = draw(_minutes)
        ip = draw(st.sampled_from((*IPS, None)))
        device = draw(st.sampled_from(DEVICES))
        kind = draw(
            st.sampled_from(["login", "login", "burst", "change", "change", "w", "w", "mute"])
        )
        if kind == "login":
            success = draw(st.booleans())
            add(
                minute,
                s.login(
                    cid,
                    f"e{len(msgs)}",
                    at(minute),
                    success=success,
                    ip=ip or IPS[0],
                    device=device,
                ),
            )
        elif kind == "burst":  # failed logins a minute apart, then (maybe) a successful one
            failures = draw(st.integers(3, 6))
            for k in range(failures):
                add(
                    minute + k,
                    s.login(
                        cid,
                        f"e{len(msgs)}",
                        at(minute + k),
                        success=False,
                        ip=ip or IPS[2],
                        device=device,
                    ),
                )
            if draw(st.booleans()):
                m = minute + failures
                add(m, s.login(cid, f"e{len(msgs)}", at(m), ip=ip or IPS[2], device=device))
        elif kind == "change":
            change_type = draw(st.sampled_from(CHANGE_TYPES))
            destination = (
                draw(st.sampled_from(DESTINATIONS))
                if change_type == "withdrawal_destination"
                else None
            )
            add(
                minute,
                s.change(
                    cid,
                    f"e{len(msgs)}",
                    at(minute),
                    change_type,
                    draw(st.sampled_from(CHANNELS)),
                    ip=ip,
                    device=device,
                    destination=destination,
                    verified=draw(st.integers(0, 4)) == 0,
                ),
            )
        elif kind == "mute":  # a suppression from a case, for a few hours or days
            codes = draw(st.lists(st.sampled_from(MUTABLE), min_size=1, max_size=4, unique=True))
            minute -= draw(st.integers(0, 1440))  # often before the withdrawals it may cover
            until = at(minute) + timedelta(minutes=draw(st.integers(30, 5 * 1440)))
            add(minute, s.suppress(cid, f"e{len(msgs)}", at(minute), tuple(codes), until))
        else:
            add(minute, _withdrawal(draw, cid, f"e{len(msgs)}", at(minute), ip, device))
    if not any(topic == "withdrawals" for _, (topic, _) in msgs):
        minute = draw(st.integers(0, 5 * 1440))
        add(minute, _withdrawal(draw, cids[0], f"e{len(msgs)}", at(minute), None, None))
    return [m for _, m in sorted(msgs, key=lambda item: item[1][1]["occurred_at"])]


def _withdrawal(
    draw: st.DrawFn, cid: str, eid: str, when: datetime, ip: str | None, device: str | None
) -> Message:
    return s.withdrawal(
        cid,
        eid,
        when,
        f"wd-{eid}",
        draw(st.sampled_from(AMOUNTS)),
        destination=draw(st.sampled_from(DESTINATIONS)),
        balance=draw(st.sampled_from(BALANCES)),
        ip=ip,
        device=device,
        currency=draw(st.sampled_from(["JPY", "JPY", "JPY", "USD"])),
    )


@st.composite
def with_repeats(draw: st.DrawFn, msgs: Sequence[Message]) -> list[Message]:
    """`msgs` with some of them repeated, each repeat anywhere after its first occurrence."""
    out = list(msgs)
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(msgs) - 1))
        first = out.index(msgs[i])
        out.insert(draw(st.integers(first + 1, len(out))), msgs[i])
    return out


# ---------------------------------------------------------------- helpers


def play(msgs: Sequence[Message]) -> Player:
    return Player(ENGINE, CrossReference(ENGINE.policy)).play(msgs)


def withdrawal_ids(msgs: Sequence[Message]) -> dict[str, str]:
    """withdrawal id -> customer id."""
    return {p["withdrawal_id"]: p["customer_id"] for t, p in msgs if t == "withdrawals"}


Judgement = tuple[str, int, frozenset[str]]


def assessments(player: Player, msgs: Sequence[Message]) -> dict[str, Judgement]:
    """The engine's final assessment of every withdrawal: decision, score, finding codes."""
    out: dict[str, Judgement] = {}
    for wid, cid in withdrawal_ids(msgs).items():
        state = player.state(cid)
        assert wid in state.withdrawals, f"{wid} was pruned"
        a = ENGINE.assess(state, wid)
        out[wid] = (a.decision, a.risk_score, frozenset(f.code for f in a.findings))
    return out


def verdicts_by_withdrawal(player: Player) -> dict[str, list[Verdict]]:
    out: dict[str, list[Verdict]] = {}
    for v in player.verdicts:
        out.setdefault(v.withdrawal_id, []).append(v)
    return out


def rules_of(v: Verdict) -> frozenset[str]:
    return frozenset(v.reason_codes) - {LATE_EVIDENCE, RELEASED}


def summary(v: Verdict) -> tuple[str, frozenset[str]]:
    return v.decision, frozenset(v.reason_codes)


def dump(msgs: Sequence[Message]) -> str:
    """A compact listing for failure reports."""

    def one(p: dict[str, Any]) -> str:
        keys = ("occurred_at", "customer_id", "event_id", "withdrawal_id", "success")
        keys += ("change_type", "channel", "verified", "amount", "currency", "available_balance")
        keys += ("ip", "device_id", "reason_codes", "until")
        fields = {k: p[k] for k in keys if k in p}
        if "destination" in p:
            fields["dest"] = p["destination"]["account_number"][-4:]
        return orjson.dumps(fields).decode()

    return "\n".join(one(p) for _, p in msgs)


# ---------------------------------------------------------------- properties


@SETTINGS
@given(history=histories(), data=st.data())
def test_final_assessment_does_not_depend_on_arrival_order_or_repeats(
    history: list[Message], data: st.DataObject
) -> None:
    expected = assessments(play(history), history)
    shuffled = data.draw(st.permutations(history), label="arrival order")
    arrived = data.draw(with_repeats(shuffled), label="with repeats")
    assert assessments(play(arrived), history) == expected, dump(history)


@SETTINGS
@given(history=histories(), data=st.data())
def test_repeated_messages_change_no_verdict_and_raise_no_alert(
    history: list[Message], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(history), label="arrival order")
    once = play(order)
    arrived = data.draw(with_repeats(order), label="with repeats")

    twice = Player(ENGINE, CrossReference(ENGINE.policy))
    played: set[str] = set()
    for message in arrived:
        topic, payload = message
        key = payload.get("withdrawal_id") or payload.get("event_id") or payload["decision_id"]
        before = len(twice.verdicts), len(twice.holds), len(twice.alerts)
        twice.play([message])
        if key not in played:
            played.add(key)
            continue
        # A repeat: nothing new, and a repeated withdrawal re-sends its records unchanged.
        assert len(twice.alerts) == before[2], "a repeat raised an alert"
        new = twice.verdicts[before[0] :]
        if topic != "withdrawals":
            assert new == []
            assert len(twice.holds) == before[1]
            continue
        earlier = [v for v in twice.verdicts[: before[0]] if v.withdrawal_id == key]
        assert [v.withdrawal_id for v in new] == [key]
        assert orjson.dumps(new[0].payload) == orjson.dumps(earlier[-1].payload)

    by_once, by_twice = verdicts_by_withdrawal(once), verdicts_by_withdrawal(twice)
    assert set(by_once) == set(by_twice) == set(withdrawal_ids(history))
    for wid in by_once:
        assert summary(by_twice[wid][-1]) == summary(by_once[wid][-1]), wid
        records = by_twice[wid]
        for previous, current in pairwise(records):
            if summary(previous) == summary(current):
                assert orjson.dumps(current.payload) == orjson.dumps(previous.payload), wid
    assert {a.alert_id for a in twice.alerts} == {a.alert_id for a in once.alerts}


@SETTINGS
@given(history=histories(), data=st.data())
def test_no_arrival_order_leaves_allowed_a_withdrawal_the_evidence_holds(
    history: list[Message], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(history), label="arrival order")
    player = play(order)
    final = assessments(player, history)
    verdicts = verdicts_by_withdrawal(player)
    for wid, (decision, _score, _codes) in final.items():
        assert wid in verdicts, f"{wid} got no verdict"
        if decision == "hold":
            assert verdicts[wid][-1].decision == "hold", (wid, dump(order))


@SETTINGS
@given(history=histories())
def test_in_order_delivery_ends_in_exactly_the_final_assessment(history: list[Message]) -> None:
    player = play(history)
    final = assessments(player, history)
    verdicts = verdicts_by_withdrawal(player)
    for wid, (decision, _score, codes) in final.items():
        last = verdicts[wid][-1]
        assert (last.decision, rules_of(last)) == (decision, codes), (wid, dump(history))


@SETTINGS
@given(history=histories(), data=st.data())
def test_verdict_raised_to_hold_after_an_allow_says_late_evidence(
    history: list[Message], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(history), label="arrival order")
    player = play(order)
    for wid, records in verdicts_by_withdrawal(player).items():
        if records[0].decision == "allow" and records[-1].decision == "hold":
            assert LATE_EVIDENCE in records[-1].reason_codes, (wid, dump(order))
