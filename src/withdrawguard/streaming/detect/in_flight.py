"""An agent's batches with the wait for the broker overlapped: while one batch's records
await the broker's acknowledgement, the agent already takes its next batch.

Before, an agent's cycle was serial: `take_events` waited its `within` window (5 ms)
for the batch to fill, the agent decided it and handed its records to the producer, then
waited for the broker (the producer's linger and a round trip) before asking for the
next batch, whose window only then began. Here the window runs while the broker
acknowledges: the agent hands a batch's records over and asks for the next batch at
once; the acknowledgement is awaited by a task of its own.

Batches do not shrink (the pipelined attempt of 5 December did: docs/performance.md):
the next batch still gathers for its whole `within` window, as before, and is decided
only once the previous batch is acknowledged, so at most one batch per agent is with the
broker. That keeps everything the serial cycle guaranteed:

- a batch's records are handed over only after the previous batch's are acknowledged
  and its table values stored, so a customer's state, outputs and changelog records
  follow each other in the order of events as before (and `writes.Unstored` sees the
  same order);
- an event is acknowledged to Faust only once its batch's records are acknowledged, so
  Faust never commits past an event whose outputs could still be lost (faust-streaming
  #606). `take_events` acknowledges a batch's events when the agent asks for the next
  batch, which is now before the broker has answered: each event's message is held
  (`Message.incref`, Faust's reference count of the streams still using a message) for
  the batch, and released (`Event.ack`) once the batch is acknowledged. Until then
  Faust's commit cannot pass it, and a rebalance's wait for unacknowledged messages
  waits for it.

A batch that fails (the producer refused a record, the broker never acknowledged) keeps
its events held, so their offsets are never committed: the failure is raised in the
agent when it next awaits the batch, and a restart replays them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

Send = Callable[[Sequence[Any]], Awaitable[Awaitable[None]]]
"""Decide a batch and hand its records over; the awaitable it returns waits for the
broker's acknowledgement of them (`Pipeline.send`)."""


async def overlapped(batches: AsyncIterator[Sequence[Any]], send: Send) -> AsyncIterator[None]:
    """Run `send` on each batch of `batches` (Faust events), with at most one batch
    awaiting the broker while the next is taken; yields once per batch (for the agent)."""
    in_flight: asyncio.Future[None] | None = None
    async for events in batches:
        for event in events:
            event.message.incref()  # released by _acked once the batch is acknowledged
        if in_flight is not None:
            await in_flight  # the previous batch acknowledged and stored; raises its failure
        acknowledged = await send(events)
        in_flight = asyncio.ensure_future(_acked(acknowledged, events))
        yield None
    if in_flight is not None:
        await in_flight


async def _acked(acknowledged: Awaitable[None], events: Sequence[Any]) -> None:
    await acknowledged
    for event in events:
        event.ack()  # the last reference: Faust may now commit past it
