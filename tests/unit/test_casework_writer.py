"""A case writer that dies between the broker's acknowledgement and the store write
(casework/writer.py): the next writer of the customer settles its pending write before
it reads, so the store follows the topic's order and news read again writes nothing new.
The faults were found by tests/faults/test_case_faults.py on the real services."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from tests.unit.case_fakes import TOPICS, Applied, FakeCaseStore, service
from tests.unit.test_cases_builders import ALICE, BOB, T0, news
from withdrawguard.cases import codec
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.events import CaseEvent
from withdrawguard.casework.config import load_case_config

CONFIG = load_case_config(None)


class Killed(BaseException):
    """The writer's process dying (not an error anyone handles)."""


class DyingStore(FakeCaseStore):
    """A store whose next writer's apply never happens: the process dies after the ack."""

    dies: bool = False

    async def apply(self, events: Sequence[CaseEvent], *, settles: str | None = None) -> Applied:
        if self.dies and settles is not None:
            self.dies = False
            raise Killed
        return await super().apply(events, settles=settles)


def _comment(case_id: str, command_id: str, seen: int) -> cmd.Comment:
    return cmd.Comment(case_id=case_id, command_id=command_id, seen_version=seen, note="a note")


def _topic_fold(records: list[bytes]) -> dict[str, list[bytes]]:
    """Each case's records as a fold of the topic has them (first of each event id)."""
    seen: set[str] = set()
    out: dict[str, list[bytes]] = {}
    for raw in records:
        event = codec.decode_bytes(raw)
        if event.event_id not in seen:
            seen.add(event.event_id)
            out.setdefault(event.case_id, []).append(raw)
    return out


async def test_a_command_after_a_writer_died_past_the_ack_follows_its_events_as_in_the_topic() -> (
    None
):
    store = DyingStore()
    svc, _, producer, clock = service(CONFIG, T0, store)
    [opened] = await svc.intake("cust-1", news())
    store.dies = True
    with pytest.raises(Killed):
        await svc.execute(ALICE, _comment(opened.case_id, "c1", 1))
    store.locks.clear()  # the dead writer's lock expires
    clock.advance(seconds=30)
    done = await svc.execute(BOB, _comment(opened.case_id, "c2", 2))
    assert done.case.version == 3 and done.case.comments == 2
    events = [r[2] for r in producer.records if r[0] == TOPICS.events]
    ids = [codec.decode_bytes(r).event_id for r in events]
    assert ids == [opened.event_id, "c1", "c1", "c2"]  # the dead write again, identical
    assert events[1] == events[2]
    assert _topic_fold(events) == {opened.case_id: store.logs[opened.case_id]}
    assert store.pendings == {}


async def test_news_read_again_after_the_intake_died_past_the_ack_writes_nothing_new() -> None:
    store = DyingStore()
    svc, _, producer, clock = service(CONFIG, T0, store)
    store.dies = True
    with pytest.raises(Killed):
        await svc.intake("cust-1", news())
    store.locks.clear()
    clock.advance(minutes=1)  # the restarted worker reads the same hold again, later
    assert await svc.intake("cust-1", news()) == []
    first, again = [r[2] for r in producer.records if r[0] == TOPICS.events]
    assert first == again  # not a second `opened` with another time in it
    [case_id] = store.logs
    assert store.logs[case_id] == [first]


async def test_a_pending_write_the_projection_already_applied_is_not_written_again() -> None:
    store = DyingStore()
    svc, _, producer, _ = service(CONFIG, T0, store)
    [opened] = await svc.intake("cust-1", news())
    store.dies = True
    with pytest.raises(Killed):
        await svc.execute(ALICE, _comment(opened.case_id, "c1", 1))
    store.locks.clear()
    [record] = [r for r in producer.records if r[2] and b'"c1"' in r[2]]
    assert await svc.project(codec.decode_bytes(record[2])) is True  # the projection sink
    await svc.execute(BOB, _comment(opened.case_id, "c2", 2))
    ids = [codec.decode_bytes(r[2]).event_id for r in producer.records if r[0] == TOPICS.events]
    assert ids == [opened.event_id, "c1", "c2"] and store.pendings == {}
