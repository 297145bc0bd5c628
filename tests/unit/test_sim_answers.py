"""The simulator's customers answer the engine's notices (sim/answers.py), and the device
farm (sim/playbooks.py): determinism, what each answer is, that the engine takes every
one, the labels, and the farm's one device over many customers."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from withdrawguard.contract.topics import INPUT_EVENT_TYPES
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, decode_input, decode_object
from withdrawguard.engine.notices import CONFIRMATION_NOT_COUNTED, DENIAL_ALERT
from withdrawguard.engine.policy import load_policy
from withdrawguard.engine.state import CustomerState
from withdrawguard.sim.answers import MIN_DELAY, NO_ANSWERS, AnswerRates
from withdrawguard.sim.generate import SimConfig, Simulation, generate

MAX_BYTES = 262_144
CONFIG = SimConfig(seed=21, customers=400, days=30, attacks=21)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return generate(CONFIG)


def responses(sim: Simulation) -> list[dict[str, Any]]:
    return [b for _, (t, b) in sim.events if t == "customer-responses"]


def test_the_same_options_give_the_same_answers_and_another_seed_others(sim: Simulation) -> None:
    again = generate(CONFIG)
    assert again.answers == sim.answers and responses(again) == responses(sim)
    assert [d.value for d in again.deliveries] == [d.value for d in sim.deliveries]
    other = generate(replace(CONFIG, seed=22))
    assert responses(other) != responses(sim)


def test_every_answer_is_a_valid_response_after_its_notice_and_before_the_end(
    sim: Simulation,
) -> None:
    bodies = responses(sim)
    assert len(bodies) == len(sim.answers) > 20
    for body in bodies:
        event = decode_object(body, "customer_response")
        assert sim.start < event.occurred_at <= sim.end
    notices = notices_sent(sim)
    for a in sim.answers:
        created = datetime.fromisoformat(notices[a.notice_id]["created_at"])
        assert a.at - created >= (MIN_DELAY if a.by != "attacker" else timedelta(minutes=2))


def notices_sent(sim: Simulation) -> dict[str, dict[str, Any]]:
    """Every notice the pure engine sends over the deliveries, by id."""
    engine, states = Engine(load_policy()), {}
    sent: dict[str, dict[str, Any]] = {}
    for d in sim.deliveries:
        try:
            event = decode_input(d.value, INPUT_EVENT_TYPES[d.topic], MAX_BYTES)
        except InvalidEvent:
            continue
        state = states.setdefault(event.customer_id, CustomerState(event.customer_id))
        for n in engine.apply(state, event).notices:
            sent[n.notice_id] = n.payload
    return sent


def test_the_engine_takes_every_answer_and_each_does_what_it_says(sim: Simulation) -> None:
    """In arrival order through the engine: no response is refused (each follows its
    notice, once); a victim's denial raises a `customer_denial` alert; a confirmation
    through a contact the notice did not name puts CONFIRMATION_NOT_COUNTED on verdicts."""
    engine, states = Engine(load_policy()), {}
    refused: list[str] = []
    denied: set[str] = set()
    not_counted: set[str] = set()
    malformed = {x["raw"].encode() for x in sim.labels if x["record"] == "malformed"}
    for d in sim.deliveries:
        try:
            event = decode_input(d.value, INPUT_EVENT_TYPES[d.topic], MAX_BYTES)
        except InvalidEvent:
            assert d.value in malformed
            continue
        state = states.setdefault(event.customer_id, CustomerState(event.customer_id))
        try:
            out = engine.apply(state, event)
        except InvalidEvent as exc:
            refused.append(str(exc))
            continue
        denied |= {a.customer_id for a in out.alerts if a.kind == DENIAL_ALERT}
        for v in out.verdicts:
            if CONFIRMATION_NOT_COUNTED in v.reason_codes:
                not_counted.add(v.customer_id)
    assert refused == []
    victims = {a.customer_id for a in sim.answers if a.by == "victim"}
    assert victims and victims <= denied
    uncounted = {a.customer_id for a in sim.answers if not a.counted}
    assert not_counted <= uncounted


def test_victims_deny_the_attackers_changes_and_honest_customers_confirm_their_own(
    sim: Simulation,
) -> None:
    changes = {
        b["event_id"]: a.customer_id
        for a in sim.attacks
        for _, (t, b) in a.events
        if t == "account-changes"
    }
    by = defaultdict(list)
    for a in sim.answers:
        by[a.by].append(a)
        if a.by in ("victim", "attacker"):
            assert changes[a.event_id] == a.customer_id
        else:
            assert a.event_id not in changes
    assert {a.answer for a in by["victim"]} == {"deny"}
    assert all(a.counted for a in by["victim"])
    assert {a.answer for a in by["honest"]} == {"confirm"}
    assert all(not a.counted for a in by["attacker"])
    assert any(a.counted for a in by["honest"])
    # a denial and a counted confirmation pass the notice's contact back; an uncounted
    # one comes through the current contact where the notice named an earlier one
    notices = notices_sent(sim)
    body = {b["notice_id"]: b for b in responses(sim)}
    for a in sim.answers:
        named = notices[a.notice_id]["contact_as_of"]
        through = body[a.notice_id].get("contact_as_of")
        if a.answer == "deny" or a.counted:
            assert through == named, a
        else:
            assert named is not None and through is None, a
    assert any(not a.counted for a in sim.answers)


def test_the_rates_decide_who_answers_and_nobody_answering_leaves_the_history_as_it_was(
    sim: Simulation,
) -> None:
    quiet = generate(replace(CONFIG, answers=NO_ANSWERS))
    assert quiet.answers == [] and responses(quiet) == []
    inputs = [d.value for d in sim.deliveries if d.topic != "customer-responses"]
    assert inputs == [d.value for d in quiet.deliveries]
    everyone = generate(replace(CONFIG, answers=AnswerRates(1, 1, 0, 0)))
    assert {a.by for a in everyone.answers} == {"victim", "honest"}
    assert len(everyone.answers) > len(sim.answers)
    assert all(a.counted for a in everyone.answers)


@pytest.mark.parametrize(
    ("rates", "named"),
    [
        (AnswerRates(victim_denies=1.5), "--victim-denies"),
        (AnswerRates(honest_confirms=-0.1), "--honest-confirms"),
        (AnswerRates(median_hours=0), "median_hours"),
    ],
)
def test_answer_rates_out_of_range_are_refused_naming_the_rate(
    rates: AnswerRates, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        replace(CONFIG, answers=rates).check()


def test_labels_say_whether_the_victim_denied_before_the_withdrawal(sim: Simulation) -> None:
    denials: dict[str, list[datetime]] = defaultdict(list)
    for a in sim.answers:
        if a.answer == "deny":
            denials[a.customer_id].append(a.at)
    seen = set()
    for x in sim.labels:
        if x["record"] != "withdrawal":
            continue
        answer = x["notice_answer"]
        seen.add(answer)
        if x["truth"] == "honest":
            assert answer in (None, "confirm_before", "confirm_after", "confirm_not_counted")
            continue
        first = min(denials.get(x["customer_id"], []), default=None)
        when = datetime.fromisoformat(x["occurred_at"])
        if first is None:
            assert answer in (None, "attacker_confirmed")
        else:
            assert answer == ("deny_before" if first <= when else "deny_after")
    assert {"deny_before", "confirm_before"} <= seen


def test_the_device_farm_signs_in_to_many_customers_from_one_device_within_a_day(
    sim: Simulation,
) -> None:
    farms = [a for a in sim.attacks if a.playbook == "device_farm"]
    assert len(farms) == 3
    min_customers = int(load_policy().rules["device_shared"]["min_customers"])
    for a in farms:
        logins = [
            (datetime.fromisoformat(b["occurred_at"]), b) for _, (t, b) in a.events if t == "logins"
        ]
        devices = {b["device_id"] for _, b in logins}
        assert len(devices) == 1
        first = min(at for at, _ in logins)
        within = {b["customer_id"] for at, b in logins if at - first <= timedelta(hours=24)}
        assert len(within) > min_customers and a.customer_id in within
        addresses = [b["ip"] for _, (_, b) in a.events if "ip" in b]
        assert len(set(addresses)) >= len(addresses) - 1  # a proxy per request
        assert a.withdrawal_ids
    labelled = {x["withdrawal_id"]: x for x in sim.labels if x["record"] == "withdrawal"}
    for a in farms:
        for wid in a.withdrawal_ids:
            assert labelled[wid]["playbook"] == "device_farm"
            assert labelled[wid]["attack_id"] == a.attack_id


def test_simulation_json_counts_the_responses(sim: Simulation) -> None:
    from withdrawguard.sim.sinks import summary

    facts = summary(sim)
    assert facts["responses"] == len(sim.answers)
    assert facts["denials"] == sum(1 for a in sim.answers if a.answer == "deny")
    assert orjson.dumps(facts)


def test_an_answer_waits_for_its_notice_and_is_never_dated_before_it(sim: Simulation) -> None:
    from withdrawguard.sim.live import after_notice

    [d] = [d for d in sim.deliveries if d.topic == "customer-responses"][:1]
    body = orjson.loads(d.value)
    notice, answered = body["notice_id"], datetime.fromisoformat(body["occurred_at"])
    assert after_notice(d, {}) is None  # the worker has not sent the notice yet
    sent_before = (answered - timedelta(hours=1)).isoformat()
    assert after_notice(d, {notice: sent_before}) is d
    # the worker dated its notice after the answer (it read a later event first)
    sent_after = answered + timedelta(hours=3, microseconds=250)
    moved = after_notice(d, {notice: sent_after.isoformat()})
    assert moved is not None and moved.key == d.key and moved.at == d.at
    event = decode_object(orjson.loads(moved.value), "customer_response")
    assert event.occurred_at == sent_after.replace(microsecond=0) + timedelta(seconds=1)
    assert {**orjson.loads(moved.value), "occurred_at": None} == {**body, "occurred_at": None}
    login = next(d for d in sim.deliveries if d.topic == "logins")
    assert after_notice(login, {}) is login
    broken = replace(d, value=b'{"notice_id": ')
    assert after_notice(broken, {}) is broken  # malformed: refused whenever it comes


def _label(wid: str, truth: str, answer: str | None, after_change: bool = True) -> dict[str, Any]:
    return {
        "record": "withdrawal",
        "withdrawal_id": wid,
        "customer_id": f"c-{wid}",
        "truth": truth,
        "playbook": "call_center" if truth == "attack" else None,
        "attack_id": f"a-{wid}" if truth == "attack" else None,
        "sold_holdings": False,
        "preceded_by": {
            "destination_change": after_change,
            "credential_change": False,
            "new_device": False,
        },
        "notice_answer": answer,
    }


def test_a_hold_only_a_later_denial_placed_is_let_through_and_a_released_one_still_held() -> None:
    from withdrawguard.sim.quality import Outcome, assess, before_money_leaves, rate_targets

    labels = [
        _label("late", "attack", "deny_after"),  # held only because the victim denied later
        _label("anyway", "attack", "deny_after"),  # held without the answer too
        _label("released", "honest", "confirm_after"),  # held, then the customer confirmed
        _label("verified", "honest", "confirm_before"),  # confirmed first: never held
    ]
    answered = {
        w: Outcome(w in ("late", "anyway")) for w in ("late", "anyway", "released", "verified")
    }
    unanswered = {"late": Outcome(False), "anyway": Outcome(True), "released": Outcome(True)}
    unanswered["verified"] = Outcome(True)
    strict = before_money_leaves(labels, answered, unanswered)
    assert {w: o.held for w, o in strict.items()} == {
        "late": False,
        "anyway": True,
        "released": True,
        "verified": False,
    }
    rows = {
        what: (measured, target, met)
        for what, measured, target, met in rate_targets(
            assess(labels, strict), assess(labels, unanswered), "customers answering"
        )
    }
    answering = "honest withdrawals held after an honest destination change, customers answering"
    assert rows[answering] == ("1/2 (50%)", "<= 17% (34 % before issue 28, halved)", False)
    nobody = "honest withdrawals held after an honest destination change, nobody answering notices"
    assert rows[nobody] == ("2/2 (100%)", "<= 34% (34 % before issue 28)", False)
    assert rows["`call_center` attacks held"][0] == "1/2 (50%)"
