"""The cross-customer stages: destination, source-IP and device observations folded into
their tables, a batch at a time, and the notices they raise sent to the customers
concerned.

The customer agents pack the observations of a batch, one record per partition of the
stage's topic (`agents.Pipeline._pack`); a stage unpacks them in order, groups them by
destination, IP or device (one table read and one write per key per batch) and folds each in
with the engine's `CrossReference`. Each notice keeps the batch position of the
observation that raised it, so notices leave in the order handling each observation
alone would send them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from withdrawguard.contract import wire
from withdrawguard.engine.crossref import (
    CrossReference,
    DestinationState,
    DeviceState,
    IpState,
    decode_destination,
    decode_device,
    decode_ip,
    encode,
)
from withdrawguard.engine.events import Notice
from withdrawguard.engine.outputs import DestinationObservation, DeviceObservation, IpObservation
from withdrawguard.streaming.detect.batch import Batch, Observed, grouped

Reject = Callable[[int, wire.Received, Exception, Batch], None]
"""Dead-letters one message (or the failed part of one) at a position of the batch."""


class ConsumedMetrics(Protocol):
    def event_consumed(self, topic: str, event_type: str) -> None:
        """A message of `topic` decoded as `event_type` (before any decision)."""

    def batch(self, agent: str, events: int) -> None:
        """A batch of `events` the agent `agent` took, decided and had acknowledged."""


@dataclass
class Part:
    """The observations of one received record that failed, for their dead letter (a
    `wire.Received`: the record's place, the key and the failed observations)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class ObservationStages:
    crossref: CrossReference
    metrics: ConsumedMetrics
    notices: str
    """The topic notices go to (customer-events)."""
    reject: Reject

    def destinations(self, events: Sequence[Any], batch: Batch) -> None:
        observed = self._observations(events, wire.decode_destination_observations, batch)
        fold = self.crossref.destination
        for group in grouped(observed, _placed).values():
            self._fold(group, "destinations", DestinationState, decode_destination, fold, batch)

    def source_ips(self, events: Sequence[Any], batch: Batch) -> None:
        observed = self._observations(events, wire.decode_ip_observations, batch)
        for group in grouped(observed, _placed).values():
            self._fold(group, "source_ips", IpState, decode_ip, self.crossref.ip, batch)

    def devices(self, events: Sequence[Any], batch: Batch) -> None:
        observed = self._observations(events, wire.decode_device_observations, batch)
        fold = self.crossref.device
        for group in grouped(observed, _placed).values():
            self._fold(group, "devices", DeviceState, decode_device, fold, batch)

    def _observations(
        self, events: Sequence[Any], decode: Callable[[bytes], list[Any]], batch: Batch
    ) -> list[Observed]:
        """Every observation of the batch's records, in order, with its position."""
        out: list[Observed] = []
        for event in events:
            msg = event.message
            try:
                observations = decode(msg.value or b"")
            except Exception as exc:  # noqa: BLE001 - reject logs it and dead-letters the message
                self.reject(len(out), msg, exc, batch)
                continue
            for obs in observations:
                kind = (
                    f"destination_{obs.kind}"
                    if isinstance(obs, DestinationObservation)
                    else f"device_{obs.kind}"
                    if isinstance(obs, DeviceObservation)
                    else "login_attempt"
                )
                self.metrics.event_consumed(msg.topic, kind)
                out.append((len(out), event, obs))
        return out

    def _fold(
        self,
        group: list[Observed],
        table: str,
        empty: Callable[[], Any],
        decode: Callable[[bytes], Any],
        fold: Callable[[Any, Any], list[Notice]],
        batch: Batch,
    ) -> None:
        """One destination's, source IP's or device's observations folded into its state, in order;
        each notice keeps the position of the observation that raised it."""
        _, event, first = group[0]
        key = observed_key(first).encode()
        writes = batch.writes(table)
        try:
            raw = writes.get(event, key)
            st = decode(raw) if raw is not None else empty()
            notices = [(at, n) for at, _, obs in group for n in fold(st, obs)]
            writes.put(event, key, encode(st))
        except Exception as exc:  # noqa: BLE001 - reject logs it and dead-letters the message
            for ev in dict.fromkeys(e for _, e, _ in group):  # each record once, in order
                msg = ev.message
                value = wire.encode_observations([o for _, e, o in group if e is ev])
                self.reject(
                    group[0][0], Part(msg.topic, msg.partition, msg.offset, key, value), exc, batch
                )
            return
        for at, n in notices:
            batch.outbox.add(at, self.notices, n.customer_id.encode(), wire.encode_notice(n))


def observed_key(obs: DestinationObservation | IpObservation | DeviceObservation) -> str:
    """The key an observation is kept and partitioned under: its destination, IP or device."""
    if isinstance(obs, DestinationObservation):
        return obs.destination_key
    return obs.device if isinstance(obs, DeviceObservation) else obs.ip


def _placed(x: Observed) -> tuple[int, str]:
    """Where an observation's state is kept: its record's partition and its key."""
    return x[1].message.partition, observed_key(x[2])
