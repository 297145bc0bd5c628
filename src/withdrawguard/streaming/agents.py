"""The agents: decode, load, decide, write back, send. No business branching here.

Every table-writing agent runs at concurrency 1 (faust-streaming #606: offsets can be
committed past in-flight events otherwise), and every event is handled inside its own
try: a failure sends the message to dead-letters and the stream goes on (#315).

An input keyed by its customer id that already sits on the partition the re-key would
choose is detected in place, by the ingest agent, with the same detect step; any other
input takes the hop through `customer-events` (`streaming/placement.py` says when the
two are the same).

Metrics: each decoded message is counted, each output as it is sent, and each event
that produced verdicts gives two latencies, measured once its outputs are handed to the
producer: from the event's `occurred_at`, and from its arrival, the Kafka timestamp of
the input record (ingest copies it onto the re-keyed customer-events record; for a
verdict a cross-customer notice triggered, it is when the notice was sent).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from faust.types import TableT

from withdrawguard.adapters.metrics import Metrics
from withdrawguard.engine.crossref import (
    CrossReference,
    DestinationState,
    IpState,
    decode_destination,
    decode_ip,
    encode,
)
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, check_not_ahead, decode_input
from withdrawguard.engine.events import CustomerEvent, Notice
from withdrawguard.engine.outputs import Outcome
from withdrawguard.engine.state import CustomerState, decode_state, encode_state
from withdrawguard.settings import Settings
from withdrawguard.streaming import wire
from withdrawguard.streaming.placement import Placement

log = logging.getLogger(__name__)

Handler = Callable[[faust.StreamT[bytes]], AsyncIterator[None]]


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
    decisions: faust.TopicT
    holds: faust.TopicT
    alerts: faust.TopicT
    dead_letters: faust.TopicT
    customers: TableT[bytes, bytes]
    destinations: TableT[bytes, bytes]
    source_ips: TableT[bytes, bytes]
    metrics: Metrics
    placement: Placement | None
    """None: every input takes the hop (the producer has a partitioner of its own)."""

    def register(self, app: faust.App) -> None:
        for topic, name, handler in (
            (self.inputs, "ingest", self._ingest_one),
            (self.customer_events, "detect", self._detect_one),
            (self.destination_observations, "destinations", self._destination_one),
            (self.ip_observations, "source-ips", self._ip_one),
        ):
            app.agent(topic, name=name, concurrency=1)(self._each(handler))

    def _each(self, handler: Callable[[Any], Awaitable[None]]) -> Handler:
        """An agent that runs `handler` on every message, each inside its own guard."""

        async def agent(stream: faust.StreamT[bytes]) -> AsyncIterator[None]:
            async for event in stream.events():
                await self._guard(event, handler(event.message))
                yield None

        return agent

    def source_topics(self) -> set[str]:
        """Names of every topic an agent reads."""
        read = [self.inputs, self.customer_events]
        read += [self.destination_observations, self.ip_observations]
        return {name for topic in read for name in topic.topics}

    # ------------------------------------------------------------ agents

    async def _ingest_one(self, msg: Any) -> None:  # a faust Message
        """Validate an input message; detect it here if it sits where re-keying it by
        customer id would put it, else re-key it onto customer-events."""
        event_type = self.input_types.get(msg.topic)
        if event_type is None:
            raise InvalidEvent("", f"no event type is expected on topic {msg.topic!r}")
        value = msg.value or b""
        decoded = decode_input(value, event_type, self.settings.max_message_bytes)
        self.metrics.event_consumed(msg.topic, event_type)
        check_not_ahead(decoded, datetime.now(UTC), self.settings.max_clock_skew)
        key = decoded.customer_id.encode()
        if (
            msg.key == key
            and self.placement is not None
            and self.placement.in_place(msg.topic, msg.partition, key)
        ):
            await self._detect(key, decoded, msg.timestamp)
            return
        await self.customer_events.send(
            key=key,
            value=wire.forward(event_type, value),
            timestamp=msg.timestamp,  # the arrival time, for the latency metric
        )

    async def _detect_one(self, msg: Any) -> None:  # a faust Message
        """A re-keyed input or a notice from a cross-customer stage: the detect step."""
        ev = wire.decode_customer_event(msg.value, self.settings.max_message_bytes)
        self.metrics.event_consumed(msg.topic, ev.type)
        await self._detect(msg.key, ev, msg.timestamp)

    async def _detect(self, key: bytes, ev: CustomerEvent, arrived: float) -> None:
        """Apply a customer event to the customer's state and send what follows.

        Runs inside the ingest or the detect agent, on partition p of an input or of
        customer-events (the same store and changelog partition, see placement.py); no
        await between reading the state and writing it back, so the two never interleave
        on one customer. `arrived`: the input record's Kafka timestamp.
        """
        raw = self.customers.get(key)
        state = decode_state(raw) if raw is not None else CustomerState(ev.customer_id)
        outcome = self.engine.apply(state, ev)
        if not outcome.duplicate:
            self.customers[key] = encode_state(state)  # reassigned: reaches the changelog
        elif raw is not None:
            # A repeat is mostly a replay after a crash, and the local store may already
            # hold this event while its changelog record died with the process (RocksDB
            # is written at once, the changelog when the producer flushes). Writing the
            # state again puts it on the changelog, which recovery and takeovers restore
            # from; otherwise a later restore would lose the event (docs/reliability.md).
            self.customers[key] = raw
        await self._send(outcome)
        if outcome.verdicts and not outcome.duplicate:
            now = time.time()
            self.metrics.decision_latency(now - ev.occurred_at.timestamp(), now - arrived)

    async def _destination_one(self, msg: Any) -> None:  # a faust Message
        key = msg.key
        obs = wire.decode_destination_observation(msg.value)
        self.metrics.event_consumed(msg.topic, f"destination_{obs.kind}")
        raw = self.destinations.get(key)
        st = decode_destination(raw) if raw is not None else DestinationState()
        notices = self.crossref.destination(st, obs)
        self.destinations[key] = encode(st)
        await self._notify(notices)

    async def _ip_one(self, msg: Any) -> None:  # a faust Message
        key = msg.key
        obs = wire.decode_ip_observation(msg.value)
        self.metrics.event_consumed(msg.topic, "login_attempt")
        raw = self.source_ips.get(key)
        st = decode_ip(raw) if raw is not None else IpState()
        notices = self.crossref.ip(st, obs)
        self.source_ips[key] = encode(st)
        await self._notify(notices)

    # ------------------------------------------------------------ sending

    async def _send(self, out: Outcome) -> None:
        for v in out.verdicts:
            await self.decisions.send(key=v.withdrawal_id.encode(), value=_json(v.to_wire()))
            self.metrics.verdict(v.decision)
        for h in out.holds:
            await self.holds.send(key=h.withdrawal_id.encode(), value=_json(h.to_wire()))
            for code in h.placed_reasons:
                self.metrics.hold(code)
        for a in out.alerts:
            await self.alerts.send(key=a.customer_id.encode(), value=_json(a.to_wire()))
            self.metrics.alert(a.severity)
        for d in out.destinations:
            await self.destination_observations.send(
                key=d.destination_key.encode(), value=_json(d.to_wire())
            )
        for i in out.ips:
            await self.ip_observations.send(key=i.ip.encode(), value=_json(i.to_wire()))

    async def _notify(self, notices: list[Notice]) -> None:
        for n in notices:
            await self.customer_events.send(key=n.customer_id.encode(), value=wire.encode_notice(n))

    async def _guard(self, event: Any, work: Awaitable[None]) -> None:
        """Run one event's work; on any failure, dead-letter the message and go on."""
        try:
            await work
        except InvalidEvent as exc:
            await self._dead_letter(event, str(exc), exc.field)
            self.metrics.dead_letter(exc.kind)
        except Exception as exc:
            log.exception(
                "processing failed for %s[%s]@%s",
                event.message.topic,
                event.message.partition,
                event.message.offset,
            )
            await self._dead_letter(event, f"processing failed: {type(exc).__name__}: {exc}", "")
            self.metrics.dead_letter(f"processing failed ({type(exc).__name__})")

    async def _dead_letter(self, event: Any, error: str, field: str) -> None:
        msg = event.message
        record = wire.dead_letter_of(msg, error, field)
        await self.dead_letters.send(key=msg.key, value=_json(record))


def _json(obj: Any) -> bytes:
    return orjson.dumps(obj)
