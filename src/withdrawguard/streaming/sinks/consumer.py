"""A consumer for sinks: records handed to a handler, offsets committed only up to what
the handler has finished. The hold registry (Redis) and notifications use it.

Why not Faust agents. Faust commits a partition up to the first event its streams have
not acknowledged, but its bookkeeping has holes for a sink: an event in flight when an
agent is cancelled is acknowledged by the stream's `finally`; offsets that look like a
gap in the fetched records count as acknowledged; and a single unacknowledged event at
the head of a partition does not stop a commit (`Consumer._new_offset` tests
`min(acked) - committed > 1`). The full-size fault runs showed the result twice: a hold
record the registry never applied was committed past. An alert held for a digest while
the next one was acknowledged could be committed past the same way, and never sent.

So each sink is a plain aiokafka consumer in a group of its own (`TopicNames.sink_group`),
automatic commits off. A record is begun when handed to the handler and finished when
the handler calls `done` (at once, or later: notifications finish when every channel is
done); `offsets.OffsetTracker` gives the offset below which everything is finished, and
only that is committed, after every fetch, on a rebalance and on stop.

A sink whose handler is `Together` gets every record of a fetch in one call (the links
feed: one Redis round trip for the touches of up to FETCH_MAX_RECORDS records instead of
one per record; with its Redis sends it was about a fifth of the worker's profile at
200,000 events, docs/performance.md); each record still has its own `done`.

Back-pressure: a sink given `has_room` asks it before handing over each record; while it
says no, every assigned partition is paused and the consumer keeps polling (which hands
over nothing, keeps the group membership, whose `max_poll_interval_ms` a handler that
simply waited would exceed after five minutes, and commits what finishes meanwhile).
Fetching resumes where it stopped: records not yet handed over stay unread in Kafka.

Scaling is unchanged: every worker runs the same sinks in the same groups, so the
partitions of the topics they read split between workers as the detector's do. After a
rebalance the new owner starts from the last commit; records handled twice (by the old
owner finishing while the new one starts) must be harmless, which both sinks ensure (the
registry keeps the highest position per source; notifications are de-duplicated).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.settings import Settings
from withdrawguard.streaming.faust_internals.kafka_client import reset_safe_consumer
from withdrawguard.streaming.sinks.offsets import OffsetTracker

log = logging.getLogger(__name__)

FETCH_MAX_RECORDS = 500
LAG_INTERVAL = 5.0
RESTART_DELAY = 2.0
STOP_WAIT = 10.0
PAUSED_POLL_MS = 200

Record = Any  # aiokafka's ConsumerRecord: topic, partition, offset, key, value
Done = Callable[[], None]
Handler = Callable[[Record, Done], Awaitable[None]]
ManyHandler = Callable[[list[tuple[Record, Done]]], Awaitable[None]]
Consumer = Any  # AIOKafkaConsumer, or a test double with the same few methods


def make_consumer(
    settings: Settings, group: str, topics: list[str], listener: ConsumerRebalanceListener
) -> Consumer:
    """An aiokafka consumer in `group`, reading `topics` from the earliest offset on first
    use, with no automatic commits."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=FETCH_MAX_RECORDS,
        session_timeout_ms=int(settings.kafka_session_timeout * 1000),
        heartbeat_interval_ms=int(settings.kafka_heartbeat_interval * 1000),
        **kafka_python_options(settings),  # the same keyword names as kafka-python's
    )
    reset_safe_consumer(consumer)  # a broker reset must not end its metadata task (issue 25)
    consumer.subscribe(topics, listener=listener)
    return consumer


@dataclass(frozen=True)
class Together:
    """A handler given every record of a fetch at once, each with its `done`, in the
    order fetched (per partition in offset order)."""

    handle: ManyHandler


class SinkConsumer:
    def __init__(
        self,
        name: str,
        handle: Handler | Together,
        consumer_factory: Callable[[ConsumerRebalanceListener], Consumer],
        report_lag: Callable[[Mapping[tuple[str, int], int]], None] | None = None,
        has_room: Callable[[], bool] | None = None,
        waited: Callable[[float], None] | None = None,
    ) -> None:
        if isinstance(handle, Together) and has_room is not None:
            raise ValueError(f"{name}: a sink handling a fetch together has no has_room")
        self.name = name
        self._handle = handle
        self._factory = consumer_factory
        self._report_lag = report_lag
        self._has_room = has_room
        self._waited = waited
        self._consumer: Consumer | None = None
        self._tracked: dict[TopicPartition, OffsetTracker] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._stopping = False
        self._running = False
        self._done = asyncio.Event()
        self._lag_at = 0.0

    # ------------------------------------------------------------ running

    async def run(self) -> None:
        """Consume until `stop`; an unexpected failure restarts the consumer (logged)."""
        self._running = True
        try:
            while not self._stopping:
                consumer = self._factory(_Listener(self))
                self._consumer = consumer
                try:
                    await consumer.start()
                    await self._consume(consumer)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s failed; restarting its consumer", self.name)
                    await asyncio.sleep(RESTART_DELAY)
                finally:
                    await self._close(consumer)
        finally:
            self._running = False
            self._done.set()

    async def stop(self) -> None:
        """Leave the loop after the record in hand; what is finished is committed as the
        consumer closes. Waits up to STOP_WAIT s (a handler may be stuck on a dependency
        that is down: its record is then left uncommitted, and handled again by whoever
        reads the partition next)."""
        self._stopping = True
        if self._running:
            try:
                await asyncio.wait_for(self._done.wait(), STOP_WAIT)
            except TimeoutError:
                log.warning("%s did not stop within %.0f s", self.name, STOP_WAIT)

    async def _consume(self, consumer: Consumer) -> None:
        while not self._stopping:
            batch = await consumer.getmany(timeout_ms=500, max_records=FETCH_MAX_RECORDS)
            if isinstance(self._handle, Together):
                await self._together(consumer, batch, self._handle.handle)
                continue
            for tp, records in batch.items():
                for record in records:
                    if self._stopping or tp not in consumer.assignment():
                        break  # revoked meanwhile: the new owner starts from the commit
                    if self._has_room is not None and not self._has_room():
                        await self._wait_for_room(consumer)
                        if self._stopping or tp not in consumer.assignment():
                            break
                    tracker = self._tracked.setdefault(tp, OffsetTracker())
                    tracker.begin(record.offset)
                    await self._handle(record, _finisher(tracker, record.offset))
            await self.commit(consumer)
            self._lag(consumer)

    async def _together(
        self, consumer: Consumer, batch: Mapping[TopicPartition, list[Record]], handle: ManyHandler
    ) -> None:
        """Every record of a fetch on a partition still assigned, to `handle` in one call."""
        assigned = consumer.assignment()
        taken: list[tuple[Record, Done]] = []
        for tp, records in batch.items():
            if tp not in assigned:
                continue  # revoked meanwhile: the new owner starts from the commit
            tracker = self._tracked.setdefault(tp, OffsetTracker())
            for record in records:
                tracker.begin(record.offset)
                taken.append((record, _finisher(tracker, record.offset)))
        if taken:
            await handle(taken)
        await self.commit(consumer)
        self._lag(consumer)

    async def _wait_for_room(self, consumer: Consumer) -> None:
        """Poll with every partition paused until `has_room` (or stop); committing as
        handlers finish, and counting the time in `waited` every poll."""
        assert self._has_room is not None
        log.info("%s: handler full; pausing intake", self.name)
        try:
            while not self._stopping and not self._has_room():
                began = time.monotonic()
                consumer.pause(*consumer.assignment())  # again: a rebalance unpauses
                batch = await consumer.getmany(timeout_ms=PAUSED_POLL_MS, max_records=1)
                for tp, records in batch.items():
                    # Assigned mid-poll and fetched before the pause reached it: read
                    # again later, never skipped.
                    consumer.seek(tp, records[0].offset)
                await self.commit(consumer)
                self._lag(consumer)
                if self._waited is not None:
                    self._waited(time.monotonic() - began)
        finally:
            consumer.resume(*consumer.assignment())
        log.info("%s: room again; intake resumed", self.name)

    async def commit(self, consumer: Consumer, only: set[TopicPartition] | None = None) -> None:
        """Commit, per partition (all, or those of `only`), the offset below which every
        record is finished, when it moved."""
        assigned = consumer.assignment()
        for tp in [tp for tp in self._tracked if tp not in assigned]:
            # Left from an assignment that is over (records handled while a rebalance
            # was under way): whoever holds the partition now commits it.
            del self._tracked[tp]
            self._committed.pop(tp, None)
        offsets: dict[TopicPartition, int] = {}
        for tp, tracker in self._tracked.items():
            offset = tracker.committable()
            wanted = only is None or tp in only
            if wanted and offset is not None and self._committed.get(tp) != offset:
                offsets[tp] = offset
        if not offsets:
            return
        try:
            await consumer.commit(offsets)
        except KafkaError as exc:
            # Revoked, or the group moved on: the new owner replays from the last commit.
            log.info(
                "%s: commit not taken (%s); those records will be handled again", self.name, exc
            )
            return
        self._committed.update(offsets)

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        """Partitions leaving this worker: commit what is finished on them, forget them.
        Records still in flight there finish into trackers no longer consulted."""
        if self._consumer is not None and revoked:
            await self.commit(self._consumer, revoked)
        for tp in revoked:
            self._tracked.pop(tp, None)
            self._committed.pop(tp, None)

    async def _close(self, consumer: Consumer) -> None:
        try:
            await self.commit(consumer)
        except Exception:
            log.warning("%s: final commit failed", self.name, exc_info=True)
        try:
            await consumer.stop()
        except Exception:
            log.warning("%s: consumer did not stop cleanly", self.name, exc_info=True)
        self._tracked.clear()
        self._committed.clear()

    def _lag(self, consumer: Consumer) -> None:
        now = time.monotonic()
        if self._report_lag is None or now - self._lag_at < LAG_INTERVAL:
            return
        self._lag_at = now
        lags: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            tracker = self._tracked.get(tp)
            end = consumer.highwater(tp)
            done = tracker.committable() if tracker is not None else None
            if end is not None and done is not None:
                lags[(tp.topic, tp.partition)] = max(0, end - done)
        self._report_lag(lags)


def _finisher(tracker: OffsetTracker, offset: int) -> Done:
    def done() -> None:
        tracker.finish(offset)

    return done


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # untyped base
    def __init__(self, sink: SinkConsumer) -> None:
        self._sink = sink

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._sink.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s assigned %d partitions", self._sink.name, len(assigned))
