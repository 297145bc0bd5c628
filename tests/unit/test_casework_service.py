"""The case service over an in-memory store and producer: what it writes where, in what
order, and what it refuses (tests/unit/case_fakes.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from tests.unit.case_fakes import TOPICS, FakeCaseStore, service
from tests.unit.player import Player
from tests.unit.test_cases_builders import ALICE, BOB, SUE, T0, TOM, VIC, news
from tests.unit.test_engine_suppressions import new_phone, withdraw
from withdrawguard.cases import codec
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.errors import Conflict, Forbidden, Invalid, NotFound
from withdrawguard.cases.inboxes import InboxError
from withdrawguard.cases.policy import CasePolicy
from withdrawguard.casework.config import CaseConfig, load_case_config
from withdrawguard.casework.locks import Busy
from withdrawguard.casework.service import CaseService
from withdrawguard.engine.decode import decode_input
from withdrawguard.engine.events import CaseDecision
from withdrawguard.engine.policy import PolicyError
from withdrawguard.settings import Settings

CONFIG = load_case_config(None)


async def _opened(svc: CaseService, customer: str = "cust-1", **kw: object) -> str:
    [opened] = await svc.intake(customer, news(**kw))  # type: ignore[arg-type]
    return opened.case_id


async def test_a_large_hold_opens_a_case_in_the_large_inbox_written_then_stored() -> None:
    svc, store, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    [record] = producer.records
    assert record[0] == TOPICS.events and record[1] == case_id.encode()
    assert codec.decode_bytes(record[2]).kind == "opened"
    case = await svc.case(case_id)
    assert case.inbox == "large-withdrawals" and case.holds[0].amount == 5_000_000
    assert [s.case_id for s in await svc.listing("large-withdrawals")] == [case_id]
    assert store.locks == {}


async def test_the_same_news_twice_writes_nothing_the_second_time() -> None:
    svc, _, producer, _ = service(CONFIG, T0)
    await _opened(svc)
    assert await svc.intake("cust-1", news()) == []
    assert len(producer.records) == 1


async def test_a_hold_re_issued_as_held_changes_no_case_but_its_release_joins() -> None:
    svc, _, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    assert await svc.intake("cust-1", news(reasons=("DRAIN", "NEW_DEVICE"))) == []
    [joined] = await svc.intake("cust-1", news(status="released"))
    assert joined.case_id == case_id and (await svc.case(case_id)).holds[0].fate == "released"
    assert len(producer.records) == 2


async def test_a_stale_version_is_409_with_what_changed_and_writes_nothing() -> None:
    svc, _, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    await svc.execute(ALICE, cmd.Claim(case_id=case_id, command_id="c1", seen_version=1))
    with pytest.raises(Conflict) as caught:
        await svc.execute(
            BOB, cmd.Comment(case_id=case_id, command_id="c2", seen_version=1, note="x")
        )
    assert caught.value.status == 409 and "claimed by alice" in str(caught.value)
    assert len(producer.records) == 2


async def test_four_eyes_proposer_refused_second_supervisor_releases_detector_told() -> None:
    svc, _, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    done = await svc.execute(
        SUE,
        cmd.Release(
            case_id=case_id, command_id="p1", seen_version=1, hold_id="hold-w1", note="called back"
        ),
    )
    assert [e.kind for e in done.events] == ["release_proposed"] and done.decisions == 0
    with pytest.raises(Forbidden, match="second person"):
        await svc.execute(
            SUE, cmd.Approve(case_id=case_id, command_id="a1", seen_version=2, proposal_id="p1")
        )
    with pytest.raises(Forbidden, match="supervisor"):
        await svc.execute(
            ALICE, cmd.Approve(case_id=case_id, command_id="a2", seen_version=2, proposal_id="p1")
        )
    done = await svc.execute(
        TOM, cmd.Approve(case_id=case_id, command_id="a3", seen_version=2, proposal_id="p1")
    )
    assert done.case.holds[0].fate == "released" and done.decisions == 1
    [decision] = producer.values(TOPICS.decisions)
    assert decision["action"] == "release" and decision["withdrawal_id"] == "w1"
    assert decision["customer_id"] == "cust-1" and decision["decision_id"] == "a3:hold-w1"
    assert decision["actor"] == "tom"
    kinds = [r[0] for r in producer.records]
    assert kinds[-2:] == [TOPICS.events, TOPICS.decisions]  # the case event first


async def test_a_release_below_the_threshold_is_one_step_and_one_decision() -> None:
    svc, _, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc, amount="50000")
    done = await svc.execute(
        ALICE, cmd.Release(case_id=case_id, command_id="r1", seen_version=1, hold_id="hold-w1")
    )
    assert [e.kind for e in done.events] == ["hold_released"]
    assert [d["action"] for d in producer.values(TOPICS.decisions)] == ["release"]


async def test_closing_as_confirmed_fraud_confirms_every_held_hold_to_the_detector() -> None:
    svc, _, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    await svc.intake("cust-1", news("hold-w2", amount="70000"))
    done = await svc.execute(
        ALICE,
        cmd.Close(
            case_id=case_id, command_id="x1", seen_version=2, outcome="confirmed_fraud", note="mule"
        ),
    )
    assert done.case.closed
    decisions = producer.values(TOPICS.decisions)
    assert {(d["action"], d["withdrawal_id"]) for d in decisions} == {
        ("confirm_fraud", "w1"),
        ("confirm_fraud", "w2"),
    }


async def test_refusals_keep_their_status_unknown_case_404_viewer_403_long_note_400() -> None:
    svc, _, _, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    with pytest.raises(NotFound):
        await svc.execute(ALICE, cmd.Claim(case_id="case-nope", command_id="c", seen_version=1))
    with pytest.raises(Forbidden):
        await svc.execute(VIC, cmd.Claim(case_id=case_id, command_id="c", seen_version=1))
    with pytest.raises(Invalid) as caught:
        await svc.execute(
            ALICE, cmd.Comment(case_id=case_id, command_id="c", seen_version=1, note="x" * 2049)
        )
    assert caught.value.status == 400 and caught.value.field == "note"


async def test_when_the_broker_fails_nothing_reaches_the_store_and_the_lock_is_released() -> None:
    svc, store, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    producer.fail_on = TOPICS.events
    with pytest.raises(RuntimeError, match="broker down"):
        await svc.execute(ALICE, cmd.Claim(case_id=case_id, command_id="c1", seen_version=1))
    assert (await svc.case(case_id)).version == 1 and store.locks == {}


async def test_a_customer_locked_by_another_writer_is_busy_409() -> None:
    svc, store, _, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    await store.lock("customer:cust-1", 10_000)
    with pytest.raises(Busy) as caught:
        await svc.execute(ALICE, cmd.Claim(case_id=case_id, command_id="c1", seen_version=1))
    assert caught.value.status == 409


async def test_take_next_gives_the_case_due_first_and_two_takers_at_once_never_the_same() -> None:
    svc, store, _, clock = service(CONFIG, T0)
    first = await _opened(svc, "cust-1")
    clock.advance(minutes=1)
    second = await _opened(svc, "cust-2", ref="hold-w9")
    other, _, _, _ = service(CONFIG, T0, store)  # a second worker on the same store
    taken = await asyncio.gather(svc.take_next(ALICE), other.take_next(BOB), svc.take_next(ALICE))
    got = [c.case_id for c in taken if c is not None]
    assert sorted(got) == sorted([first, second]) and len(set(got)) == 2
    assert taken.count(None) == 1


async def test_take_next_of_an_inbox_refuses_who_may_not_work_it_and_names_an_unknown_one() -> None:
    svc, _, _, _ = service(CONFIG, T0)
    await _opened(svc, severity="critical")
    with pytest.raises(Forbidden):
        await svc.take_next(ALICE, "critical")
    with pytest.raises(NotFound):
        await svc.take_next(ALICE, "nowhere")
    assert await svc.take_next(ALICE) is None  # critical is supervisors' only
    taken = await svc.take_next(SUE, "critical")
    assert taken is not None and taken.assignee == "sue"


async def test_the_projection_applies_what_a_dead_writer_left_and_tells_the_detector_again() -> (
    None
):
    svc, store, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc, amount="50000")
    live = FakeCaseStore(dict(store.logs))
    written = await svc.execute(
        ALICE, cmd.Release(case_id=case_id, command_id="r1", seen_version=1, hold_id="hold-w1")
    )
    # another worker's store missed the event (its writer died after the broker's ack)
    behind, _, replay, _ = service(CONFIG, T0, live)
    [event] = written.events
    assert await behind.project(event) is True
    assert await behind.project(event) is False  # applied once
    assert replay.values(TOPICS.decisions) == producer.values(TOPICS.decisions)
    assert (await behind.case(case_id)) == (await svc.case(case_id))


def test_the_inboxes_file_carries_the_case_policy_and_its_errors_name_the_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "inboxes.toml"
    path.write_text(
        'default = "general"\n[cases]\nproposal_expiry_hours = 2\n'
        '[[inbox]]\nname = "general"\nsla_hours = 8\n',
        encoding="utf-8",
    )
    assert load_case_config(path).policy.proposal_ttl.total_seconds() == 7200
    path.write_text(path.read_text().replace("proposal_expiry_hours", "expiry"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"cases\.expiry"):
        load_case_config(path)
    path.write_text('default = "general"\n[[inbox]]\nname = "general"\nsla = 8\n', encoding="utf-8")
    with pytest.raises(InboxError, match=str(path)):
        load_case_config(path)
    assert load_case_config(None) == CaseConfig(CONFIG.inboxes, CasePolicy())


async def test_a_suppression_is_written_then_sent_to_the_detector_which_honours_it(
    player: Player,
) -> None:
    """Suppress through the service: the case event first, then a `suppress` decision the
    detector's own decoder accepts; played through the engine, a withdrawal from the new
    phone is allowed naming the suppression while it lasts, and held again after."""
    svc, _, producer, _ = service(CONFIG, T0)
    case_id = await _opened(svc)
    until = T0 + timedelta(days=1)
    done = await svc.execute(
        SUE,
        cmd.Suppress(
            case_id=case_id,
            command_id="s1",
            seen_version=1,
            reason_codes=("DEST_CHANGED_RECENTLY", "NEW_DEVICE"),
            until=until,
            note="new phone confirmed by call-back",
        ),
    )
    assert [e.kind for e in done.events] == ["suppression_added"] and done.decisions == 1
    assert [r[0] for r in producer.records][-2:] == [TOPICS.events, TOPICS.decisions]
    [raw] = [r[2] for r in producer.records if r[0] == TOPICS.decisions]
    decision = decode_input(raw, "case_decision", Settings().max_message_bytes)
    assert isinstance(decision, CaseDecision)
    assert (decision.decision_id, decision.action, decision.actor) == (
        "s1:suppress",
        "suppress",
        "sue",
    )
    assert (decision.suppression_id, decision.case_id, decision.until) == ("s1", case_id, until)
    assert decision.occurred_at == T0 and decision.customer_id == "cust-1"

    player.play(new_phone("cust-1", T0 - timedelta(hours=1)))
    player.event(decision)
    player.play([withdraw("cust-1", 1, T0 + timedelta(hours=1))])
    player.play([withdraw("cust-1", 2, until + timedelta(hours=1))])
    during, after = player.latest("cust-1-wd1"), player.latest("cust-1-wd2")
    assert during.decision == "allow"
    assert {
        (m["reason"], m["suppression_id"], m["case_id"]) for m in during.payload["suppressed"]
    } == {
        ("DEST_CHANGED_RECENTLY", "s1", case_id),
        ("NEW_DEVICE", "s1", case_id),
    }
    assert after.decision == "hold" and after.payload["suppressed"] == []
    assert {"DEST_CHANGED_RECENTLY", "NEW_DEVICE"} <= set(after.reason_codes)
