"""What a batch sends: verdicts, holds, alerts and customer notices as the engine made
them, observations packed for the cross-customer stages, and dead letters for what could
not be handled.

Every record goes into the batch's `Outbox` with the position of the event that made
it, so the batch's records leave in the order handling each event alone would send them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from withdrawguard.contract import wire
from withdrawguard.engine.decode import InvalidEvent
from withdrawguard.engine.outputs import Outcome
from withdrawguard.streaming.detect.batch import Batch, grouped
from withdrawguard.streaming.detect.observation_stages import observed_key
from withdrawguard.streaming.detect.placement import partition_for
from withdrawguard.streaming.detect.writes import Outbox

log = logging.getLogger(__name__)

PACK_MAX = 500
"""Most observations in one packed record (about 70 KiB, far below Kafka's 1 MiB)."""


class OutputMetrics(Protocol):
    def verdict(self, decision: str) -> None:
        """A verdict sent to withdrawal-decisions (`allow` or `hold`)."""

    def hold(self, reason_code: str) -> None:
        """A hold placed on a withdrawal, once per reason code it carries."""

    def alert(self, severity: str) -> None:
        """An alert sent to fraud-alerts."""

    def notice(self, kind: str) -> None:
        """A notice sent to customer-notices (`destination_change`, `credential_change`,
        `hold`)."""

    def dead_letter(self, kind: str) -> None:
        """A message sent to dead-letters; `kind` is a short, bounded error label."""


@dataclass
class Outputs:
    """The output topics of the detector, by name, and the metrics each record counts."""

    decisions: str
    holds: str
    alerts: str
    notices: str
    dead_letters: str
    metrics: OutputMetrics
    partitions: Callable[[str], int]
    """Partitions of a topic by name (where packed observations go)."""

    def send(self, at: int, out: Outcome, batch: Batch) -> None:
        box = batch.outbox
        for v in out.verdicts:
            box.add(at, self.decisions, v.withdrawal_id.encode(), _json(v.to_wire()))
            self.metrics.verdict(v.decision)
        for h in out.holds:
            box.add(at, self.holds, h.withdrawal_id.encode(), _json(h.to_wire()))
            for code in h.placed_reasons:
                self.metrics.hold(code)
        for a in out.alerts:
            box.add(at, self.alerts, a.customer_id.encode(), _json(a.to_wire()))
            self.metrics.alert(a.severity)
        for n in out.notices:
            box.add(at, self.notices, n.customer_id.encode(), _json(n.to_wire()))
            self.metrics.notice(n.payload["kind"])
        batch.destinations.extend((at, d) for d in out.destinations)
        batch.ips.extend((at, i) for i in out.ips)
        batch.devices.extend((at, d) for d in out.devices)

    def pack(self, name: str, observations: list[tuple[int, Any]], box: Outbox) -> None:
        """The batch's observations, one record per partition of topic `name` (the partition
        Faust's default partitioner gives each observation's key), in the order of the
        events that made them."""
        if not observations:
            return
        count = self.partitions(name)
        observations.sort(key=lambda x: x[0])  # stable: one event's keep their order
        by_partition = grouped(
            observations, lambda x: partition_for(observed_key(x[1]).encode(), count)
        )
        for partition, listed in by_partition.items():
            for start in range(0, len(listed), PACK_MAX):
                chunk = [obs for _, obs in listed[start : start + PACK_MAX]]
                record = wire.encode_observations(chunk)
                box.add(listed[start][0], name, observed_key(chunk[0]).encode(), record, partition)

    def reject(self, at: int, msg: wire.Received, exc: Exception, batch: Batch) -> None:
        """Dead-letter one message (or the failed part of one) and say why."""
        if isinstance(exc, InvalidEvent):
            error, where, kind = str(exc), exc.field, exc.kind
        else:
            log.exception("processing failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset)
            error, where = f"processing failed: {type(exc).__name__}: {exc}", ""
            kind = f"processing failed ({type(exc).__name__})"
        record = wire.dead_letter_of(msg, error, where)
        batch.outbox.add(at, self.dead_letters, msg.key, _json(record))
        self.metrics.dead_letter(kind)


def _json(obj: Any) -> bytes:
    return orjson.dumps(obj)
