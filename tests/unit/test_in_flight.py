"""An agent's batches with the broker's acknowledgement overlapped (`in_flight.py`): the
next batch is taken meanwhile, but decided only after the previous one is acknowledged,
and no event is released to Faust's commit before its batch is acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from withdrawguard.streaming.detect.in_flight import overlapped


@dataclass
class Message:
    refcount: int = 1  # the stream's own reference, as Faust's conductor gives it
    committable: bool = False

    def incref(self) -> None:
        self.refcount += 1


@dataclass
class Event:
    n: int
    message: Message = field(default_factory=Message)

    def ack(self) -> None:  # faust's Event.ack: the last reference lets Faust commit past it
        self.message.refcount -= 1
        if self.message.refcount == 0:
            self.message.committable = True


async def take_events(batches: list[list[Event]], log: list[str]) -> AsyncIterator[list[Event]]:
    """As Faust's take_events: a batch's events acknowledged when the next is asked for."""
    for events in batches:
        log.append(f"took {[e.n for e in events]}")
        yield events
        for e in events:
            e.ack()


@dataclass
class Broker:
    """Hands each batch's acknowledgement out as a future the test completes."""

    log: list[str]
    pending: list[asyncio.Future[None]] = field(default_factory=list)

    async def send(self, events: Sequence[Any]) -> Awaitable[None]:
        self.log.append(f"decided {[e.n for e in events]}")
        ack = asyncio.get_running_loop().create_future()
        self.pending.append(ack)
        return ack


async def test_the_next_batch_is_taken_before_the_broker_answers_but_decided_after() -> None:
    log: list[str] = []
    broker = Broker(log)
    first, second = [Event(1), Event(2)], [Event(3)]
    agent = overlapped(take_events([first, second], log), broker.send)
    await agent.__anext__()  # the first batch decided and handed over
    consumer = asyncio.ensure_future(agent.__anext__())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert log == ["took [1, 2]", "decided [1, 2]", "took [3]"]  # taken, not decided
    assert not any(e.message.committable for e in first)  # Faust's ack was not the last
    broker.pending[0].set_result(None)
    await consumer
    assert log[-1] == "decided [3]"
    assert all(e.message.committable for e in first)
    assert not second[0].message.committable
    broker.pending[1].set_result(None)
    with pytest.raises(StopAsyncIteration):
        await agent.__anext__()  # the stream ended: the last batch is awaited
    assert second[0].message.committable


async def test_a_batch_the_broker_fails_keeps_its_events_and_fails_the_agent() -> None:
    log: list[str] = []
    broker = Broker(log)
    first, second = [Event(1)], [Event(2)]
    agent = overlapped(take_events([first, second], log), broker.send)
    await agent.__anext__()
    broker.pending[0].set_exception(TimeoutError("no acknowledgement"))
    with pytest.raises(TimeoutError, match="no acknowledgement"):
        await agent.__anext__()
    assert log == ["took [1]", "decided [1]", "took [2]"]  # the next batch never decided
    assert not first[0].message.committable  # never committed: a restart replays it
    assert not second[0].message.committable
