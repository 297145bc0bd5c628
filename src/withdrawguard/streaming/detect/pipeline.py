"""The agents: decode, load, decide, write back, send, a batch at a time; no business.

Each agent takes its events in batches (`faust_internals/batches.py`: what is waiting, at
most `WG_BATCH_MAX`, within `WG_BATCH_WITHIN_MS` of its first; `WG_BATCH_MAX=1` handles
each event on its own). Per batch the events are grouped by their key in arrival order; each key's
state is read once, the key's events are applied in order, and the state is written
once (`streaming/detect/writes.py`: one changelog record per key per batch). Observations
for the cross-customer stages are packed, one record per partition of the stage's topic
per batch. The batch's outputs go to the producer, then once acknowledged its changelog
records (writes.flush says why), each sent without the producer's linger, and its events
are acknowledged only after the broker has acknowledged all of them: at-least-once.

Every table-writing agent runs at concurrency 1 (faust-streaming #606: offsets can be
committed past in-flight events otherwise), and every event is handled inside its own
guard: a failure sends that message to dead-letters and the rest of the batch goes on
(#315). An event whose engine step fails leaves its customer's state as if it had never
come: the key's state is read again and the events before it applied again.

An input keyed by its customer id that already sits on the partition the re-key would
choose is detected in place, by the ingest agent, with the same detect step; any other
input takes the hop through `customer-events` (`streaming/detect/placement.py` says when the
two are the same).

The cross-customer stages (destination, source-IP and device observations) are in
`streaming/detect/observation_stages.py`; this module registers them beside the customer agents.

Metrics: each decoded message is counted, each output as it is made, each batch's size
once it is acknowledged, and each event that produced verdicts gives two latencies, then:
from the event's `occurred_at`, and from its arrival, the Kafka timestamp of the input
record (ingest copies it onto the re-keyed customer-events record; for a verdict a
cross-customer notice triggered, it is when the notice was sent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import faust
from faust.types import TableT

from withdrawguard.adapters.metrics import NullMetrics
from withdrawguard.contract import wire
from withdrawguard.contract.records import Produce, ProduceMany
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, check_not_ahead, decode_input
from withdrawguard.engine.state import CustomerState, decode_state, encode_state
from withdrawguard.settings import Settings
from withdrawguard.streaming.detect.batch import Applied, Batch, Item, Waits, grouped
from withdrawguard.streaming.detect.observation_stages import ConsumedMetrics, ObservationStages
from withdrawguard.streaming.detect.outputs import OutputMetrics, Outputs
from withdrawguard.streaming.detect.placement import Placement
from withdrawguard.streaming.detect.shadow_run import ShadowMetrics, ShadowRun
from withdrawguard.streaming.detect.writes import Unstored, flush
from withdrawguard.streaming.faust_internals.batches import ready_batches

Handler = Callable[[faust.StreamT[bytes]], AsyncIterator[None]]
Step = Callable[[Sequence[Any], Batch], None]
"""What an agent does with one batch: decide, and put what it writes and sends in it."""


class DetectorMetrics(OutputMetrics, ConsumedMetrics, Protocol):
    def decision_latency(self, seconds_since_occurred: float, seconds_since_arrival: float) -> None:
        """Time from the deciding event's `occurred_at`, and from its arrival in Kafka."""


@dataclass
class Pipeline:
    engine: Engine
    crossref: CrossReference
    settings: Settings
    input_types: dict[str, str]
    inputs: faust.TopicT
    customer_events: faust.TopicT
    destination_observations: faust.TopicT
    ip_observations: faust.TopicT
    device_observations: faust.TopicT
    decisions: faust.TopicT
    holds: faust.TopicT
    alerts: faust.TopicT
    notices: faust.TopicT
    dead_letters: faust.TopicT
    shadow_decisions: faust.TopicT
    customers: TableT[bytes, bytes]
    destinations: TableT[bytes, bytes]
    source_ips: TableT[bytes, bytes]
    devices: TableT[bytes, bytes]
    metrics: DetectorMetrics
    placement: Placement | None
    """None: every input takes the hop (the producer has a partitioner of its own)."""
    produce: Produce
    """Hands a record to the worker's producer (`contract.records.Produce`)."""
    partitions: Callable[[str], int]
    """Partitions of a topic by name (where packed observations go)."""
    produce_many: ProduceMany | None = None
    """Hands a table partition's changelog records to the producer together; None: one by one."""
    send_now: Callable[[], None] | None = None
    """Sends what the producer holds without its linger (before a batch awaits the broker)."""
    policy_metrics: ShadowMetrics = field(default_factory=NullMetrics)
    shadow: Engine | None = None
    """The shadow version's engine (docs/policy.md); None: no shadow runs."""
    policy_ready: asyncio.Event | None = None
    """Set once the worker knows which version is live (`streaming/control/engine_feed.py`);
    None: the engine given is the one to run (the agent tests)."""
    out: Outputs = field(init=False)
    """Where verdicts, holds, alerts, observations and dead letters go (`outputs.py`)."""
    stages: ObservationStages = field(init=False)
    shadow_run: ShadowRun = field(init=False)
    """The cross-customer stages (`streaming/detect/observation_stages.py`)."""
    unstored: dict[str, Unstored] = field(default_factory=dict)
    """Table values sent and awaiting the broker, by table (`writes.TableWrites`)."""
    waits: Waits = field(default_factory=lambda: Waits(time.monotonic))
    """What each agent awaits now (said when the worker is wedged)."""
    tables: dict[str, TableT[bytes, bytes]] = field(init=False)
    """The tables a batch may write, by the name its handlers use."""

    def __post_init__(self) -> None:
        self.out = Outputs(
            decisions=_name(self.decisions),
            holds=_name(self.holds),
            alerts=_name(self.alerts),
            notices=_name(self.notices),
            dead_letters=_name(self.dead_letters),
            metrics=self.metrics,
            partitions=self.partitions,
        )
        notices = _name(self.customer_events)
        self.stages = ObservationStages(self.crossref, self.metrics, notices, self.out.reject)
        self.shadow_run = ShadowRun(_name(self.shadow_decisions), self.policy_metrics)
        self.tables = {
            "customers": self.customers,
            "destinations": self.destinations,
            "source_ips": self.source_ips,
            "devices": self.devices,
        }

    def switch(self, live: Engine, shadow: Engine | None) -> None:
        """Run these engines from the next batch on (a batch runs without awaiting
        between its first decision and its last, so it is decided by one version)."""
        if live is not self.engine:
            self.engine = live
            self.crossref = CrossReference(live.policy)
            self.stages.crossref = self.crossref
        self.shadow = shadow

    def register(self, app: faust.App) -> None:
        for topic, name, handler in (
            (self.inputs, "ingest", self._ingest),
            (self.customer_events, "detect", self._detect),
            (self.destination_observations, "destinations", self.stages.destinations),
            (self.ip_observations, "source-ips", self.stages.source_ips),
            (self.device_observations, "devices", self.stages.devices),
        ):
            app.agent(topic, name=name, concurrency=1)(self._batches(handler, name))

    def _batches(self, handler: Step, name: str) -> Handler:
        """An agent that runs `handler` on each batch of events and sends what it made."""
        most, within = self.settings.batch_max, self.settings.batch_within_ms / 1000

        async def agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
            if most == 1:
                async for event in stream.events():
                    await self.handle(handler, [event], name)
                    yield None
            else:
                async for events in ready_batches(stream, most, within):
                    await self.handle(handler, events, name)
                    yield None

        return agent

    async def handle(
        self,
        handler: Callable[[Sequence[Any], Batch], None],
        events: Sequence[Any],
        agent: str = "",
    ) -> None:
        """One batch: decide, then send everything and wait until it is acknowledged."""
        if self.policy_ready is not None and not self.policy_ready.is_set():
            self.waits.begin(agent, "the live policy version")
            await self.policy_ready.wait()  # the live version is not known yet
        batch = Batch(self.tables, self.unstored)
        handler(events, batch)
        for topic, observed in (
            (self.ip_observations, batch.ips),
            (self.destination_observations, batch.destinations),
            (self.device_observations, batch.devices),
        ):
            self.out.pack(_name(topic), observed, batch.outbox)
        writes = list(batch.written.values())
        sent = len(batch.outbox.records) + sum(len(w.pending) for w in writes)
        self.waits.begin(agent, f"the broker's acknowledgement of {sent} records")
        await flush(self.produce, batch.outbox, writes, self.produce_many, self.send_now)
        self.waits.end(agent)
        self.metrics.batch(agent, len(events))
        now = time.time()
        for occurred, arrived in batch.timed:
            self.metrics.decision_latency(now - occurred, now - arrived)

    def source_topics(self) -> set[str]:
        """Names of every topic an agent reads."""
        read = [self.inputs, self.customer_events, self.destination_observations]
        read += [self.ip_observations, self.device_observations]
        return {name for topic in read for name in topic.topics}

    # ------------------------------------------------------------ customer events

    def _ingest(self, events: Sequence[Any], batch: Batch) -> None:
        """Validate input messages; detect those that sit where re-keying them by
        customer id would put them, re-key the others onto customer-events."""
        here: list[Item] = []
        for at, event in enumerate(events):
            msg = event.message
            try:
                event_type = self.input_types.get(msg.topic)
                if event_type is None:
                    raise InvalidEvent("", f"no event type is expected on topic {msg.topic!r}")
                value = msg.value or b""
                decoded = decode_input(value, event_type, self.settings.max_message_bytes)
                self.metrics.event_consumed(msg.topic, event_type)
                check_not_ahead(decoded, datetime.now(UTC), self.settings.max_clock_skew)
            except Exception as exc:  # noqa: BLE001 - _reject logs it and dead-letters the message
                self.out.reject(at, msg, exc, batch)
                continue
            key = decoded.customer_id.encode()
            if (
                msg.key == key
                and self.placement is not None
                and self.placement.in_place(msg.topic, msg.partition, key)
            ):
                here.append(Item(event, at, key, decoded, msg.timestamp))
                continue
            batch.outbox.add(
                at,
                _name(self.customer_events),
                key,
                wire.forward(event_type, value),
                timestamp=msg.timestamp,  # the arrival time, for the latency metric
            )
        self._decide(here, batch)

    def _detect(self, events: Sequence[Any], batch: Batch) -> None:
        """Re-keyed inputs and notices from the cross-customer stages: the detect step."""
        items: list[Item] = []
        for at, event in enumerate(events):
            msg = event.message
            try:
                ev = wire.decode_customer_event(msg.value, self.settings.max_message_bytes)
                self.metrics.event_consumed(msg.topic, ev.type)
            except Exception as exc:  # noqa: BLE001 - _reject logs it and dead-letters the message
                self.out.reject(at, msg, exc, batch)
                continue
            items.append(Item(event, at, msg.key, ev, msg.timestamp))
        self._decide(items, batch)

    def _decide(self, items: list[Item], batch: Batch) -> None:
        """Apply each customer's events to its state in order; one write per customer.

        Partition p of an input or of customer-events: the same store and changelog
        partition (see placement.py). Nothing awaits between reading and writing a state,
        nor before the written values are what the other agent reads (`writes.flush`).
        """
        customers = batch.writes("customers")
        engine, shadow = self.engine, self.shadow
        for group in grouped(items, lambda i: (i.event.message.partition, i.key)).values():
            first = group[0]
            failed: set[int] = set()
            try:
                raw = customers.get(first.event, first.key)
                applied = self._apply(engine, raw, group, failed, batch)
                if any(not outcome.duplicate for _, outcome in applied):
                    customers.put(first.event, first.key, encode_state(applied.state))
                elif raw is not None:
                    # A repeat is mostly a replay after a crash, and the local store may
                    # already hold this event while its changelog record died with the
                    # process (RocksDB is written at once, the changelog when the producer
                    # delivers). Writing the state again puts it on the changelog, which
                    # recovery and takeovers restore from (docs/reliability.md).
                    customers.put(first.event, first.key, raw)
            except Exception as exc:  # noqa: BLE001 - _reject logs it and dead-letters the message
                for i, item in enumerate(group):
                    if i not in failed:
                        self.out.reject(item.position, item.event.message, exc, batch)
                continue
            for item, outcome in applied:
                self.out.send(item.position, outcome, batch)
                if outcome.verdicts and not outcome.duplicate:
                    batch.timed.append((item.ev.occurred_at.timestamp(), item.arrived))
            if shadow is not None:
                done = [(item.position, item.ev, out) for item, out in applied]
                self.shadow_run(shadow, engine.version, first.ev.customer_id, raw, done, batch)

    def _apply(
        self, engine: Engine, raw: bytes | None, group: list[Item], failed: set[int], batch: Batch
    ) -> Applied:
        """The group's events applied in order to the state `raw` holds; an event whose
        step fails is dead-lettered and the others applied again without it."""
        while True:
            state = decode_state(raw) if raw is not None else CustomerState(group[0].ev.customer_id)
            applied = Applied(state)
            at = -1
            try:
                for at, item in enumerate(group):
                    if at not in failed:
                        applied.append((item, engine.apply(state, item.ev)))
                return applied
            except Exception as exc:  # noqa: BLE001 - _reject logs it and dead-letters the message
                failed.add(at)
                item = group[at]
                self.out.reject(item.position, item.event.message, exc, batch)


def _name(topic: faust.TopicT) -> str:
    return topic.get_topic_name()
