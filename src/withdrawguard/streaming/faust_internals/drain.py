"""The consumer's drain loop, paying for interruptibility only when a message could wait.

Faust's `Consumer._drain_messages` hands each fetched message to the conductor with
`await self.wait_first(callback(message), self.suspend_flow.wait())`, so that a rebalance
(which sets `suspend_flow`) or a stop can interrupt a callback that waits. mode's
`wait_first` wraps the callback and the consumer's `stopped` and `crashed` events in
three more futures, runs `asyncio.wait` and cancels what is left: tens of µs for every
message (issue 29: the trivial agent did 5,463 events/s with it, 7,994/s without, same
run), while almost every callback finishes without waiting at all.

The conductor's callback (`Conductor.on_message` and the `ConductorHandler` it calls)
waits in exactly these places, each of which can be read beforehand:

- the conductor's `_tp_to_callback_lock`, held while the subscriptions are rebuilt;
- `app.flow_control.acquire()`, held while a rebalance has suspended the streams;
- `app.producer.buffer.wait_until_ebb()`, when the producer's buffer is over its limit;
- a channel's `put` when its queue (the agent's stream buffer) is full.

`could_wait` reads them all (a few attribute reads and a `full()` per channel of the
partition). When none holds, `drain` awaits the callback plainly (the partition's
conductor handler itself, which the callback would look up under the free lock): it then finishes
without giving the loop up, so nothing (no rebalance, no stop) can run while it does,
and there is nothing to interrupt. When one holds, or the consumer's flow is already
suspended, it takes Faust's interruptible `wait_first`, exactly as Faust does, including
what Faust does when the wait is interrupted (the message is not delivered; the
partition's read offset moves on, and the seek back to the committed offsets that
follows a rebalance fetches it again).

What guards a revoked partition is unchanged: Faust's `getmany` checks, before it hands
over each message, that the flow is active, that the generation has not changed and that
the partition is still active (or buffered), and between two messages of this loop only
the callback runs; the loop still gives the event loop up every 100 messages, as Faust's
does, which is where a rebalance's callbacks run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP, Message
from mode import Service, ServiceT

YIELD_EVERY = 100
"""Messages handed over between two yields to the event loop (Faust's own figure)."""
NONE, FULL, OTHER = 0, 1, 2
"""`WaitWatch.reason`: nothing could wait; only a full stream buffer; something else."""


class WaitWatch:
    """Whether the conductor's callback for a message of a partition could wait (the
    module's doc): `suspend_flow` the consumer's, `flow_control` the app's, `buffer` the
    producer's, `lock` the conductor's, `channels_of` the channels a partition feeds."""

    def __init__(
        self,
        suspend_flow: asyncio.Event,
        flow_control: Any,
        buffer: Any,
        lock: asyncio.Lock,
        channels_of: Callable[[TP], Iterable[Any]],
    ) -> None:
        self.suspend_flow, self.flow_control, self.buffer = suspend_flow, flow_control, buffer
        self.lock, self.channels_of = lock, channels_of
        # `buffer.size` reads a Faust setting per call (a descriptor: µs); without the
        # threaded producer it is the pending queue's size, read directly
        threaded = buffer.app is None or buffer.app.conf.producer_threaded
        self.buffered: Callable[[], int] = (
            (lambda: buffer.size) if threaded else buffer.pending.qsize
        )

    @classmethod
    def of(cls, app: Any, consumer: Any) -> WaitWatch:
        """The watch over `consumer`'s hand-overs to `app`'s conductor."""
        conductor = app.topics
        index = conductor._tp_index  # a defaultdict: .get, so reading adds no entry
        return cls(
            consumer.suspend_flow,
            app.flow_control,
            app.producer.buffer,
            conductor._tp_to_callback_lock,
            lambda tp: index.get(tp, ()),
        )

    def reason(self, tp: TP) -> int:
        """Why a hand-over for `tp` could wait: NONE, FULL (only a full stream buffer)
        or OTHER."""
        if self.suspend_flow.is_set() or not self.flow_control.is_active():
            return OTHER
        if self.buffered() > self.buffer.max_messages or self.lock.locked():
            return OTHER
        return FULL if any(ch.queue.full() for ch in self.channels_of(tp)) else NONE

    def could_wait(self, tp: TP) -> bool:
        return self.reason(tp) != NONE


async def drain(consumer: Any, fetcher: ServiceT) -> None:
    """Faust's `Consumer._drain_messages` (faust-streaming 0.15), with the per-message
    `wait_first` taken only when `WaitWatch.reason` says the callback could wait, and
    a full stream buffer waited for once until the agents have taken it down to its
    low mark (`Consumer.buffer_room`), not once per message."""
    callback = consumer.callback
    getmany = consumer.getmany
    consumer_should_stop = cast(Service, consumer)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
    get_read_offset = consumer._read_offset.__getitem__
    set_read_offset = consumer._read_offset.__setitem__
    set_flag, unset_flag = consumer.diag.set_flag, consumer.diag.unset_flag
    commit_every = consumer._commit_every
    acks_enabled_for = consumer.app.topics.acks_enabled_for
    reason: Callable[[TP], int] = WaitWatch.of(consumer.app, consumer).reason
    room: asyncio.Event = consumer.buffer_room
    room_wait = room.wait
    suspend_flow_wait = consumer.suspend_flow.wait
    wait_first = consumer.wait_first
    # The conductor's callback takes its lock to look up the partition's handler; with
    # the lock free (`reason` checked it) the same lookup without it is the same call.
    handler_of = consumer.app.topics._tp_to_callback.get
    if consumer.app.client_only:  # the conductor looks up (topic, 0) then: leave it to it
        handler_of = {}.get
    num_since_yield = 0
    sleep = asyncio.sleep
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            ait = cast(AsyncIterator[tuple[TP, Message]], getmany(timeout=1.0))
            # Faust's: getmany can return at once in a loop that never yields otherwise
            await consumer.sleep(0)
            if not consumer.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > YIELD_EVERY:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await consumer._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and consumer._n_acked >= commit_every:
                            consumer._n_acked = 0
                            await consumer.commit()
                        why = reason(tp)
                        if why == FULL:  # one wait until the agents have made room
                            room.clear()
                            # (at most a second: then Faust's way, message by message)
                            await wait_first(room_wait(), suspend_flow_wait(), timeout=1.0)
                            why = reason(tp)  # OTHER if a rebalance or stop came
                        if why:
                            await wait_first(callback(message), suspend_flow_wait())
                        else:
                            await (handler_of(tp) or callback)(message)
                        set_read_offset(tp, offset)
                unset_flag(CONSUMER_FETCHING)
    except consumer.consumer_stopped_errors:
        if consumer.transport.app.should_stop:
            consumer.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if consumer.transport.app.should_stop:
            consumer.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        consumer.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)
