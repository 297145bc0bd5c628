"""Bytes on internal topics, and dead-letter records.

Internal `customer-events` messages are `<type>\\0<json>`: an input payload exactly as
received (validated once, by the ingest agent; the detector only rebuilds the event, see
`engine/validated.py`) or a notice from a cross-customer stage. Observations for those
stages are JSON objects `{"observations": [...]}`: every observation one batch of the
detector made for the keys (destinations, source IPs, devices) of one partition of the stage's
topic, in the order they were made. A single observation object (what workers before
the batch agents sent) is read as a list of one.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from withdrawguard.engine.decode import InvalidEvent, parse_json
from withdrawguard.engine.events import (
    CustomerEvent,
    DestinationFraud,
    DestinationShared,
    DeviceFlagged,
    IpFlagged,
    Notice,
)
from withdrawguard.engine.outputs import DestinationObservation, DeviceObservation, IpObservation
from withdrawguard.engine.timeutil import from_ms, to_ms
from withdrawguard.engine.validated import revive

SEP = b"\0"
DEAD_LETTER_MAX = 64 * 1024
_NOTICE_TYPES = ("destination_shared", "destination_fraud", "ip_flagged", "device_flagged")


def forward(event_type: str, raw: bytes) -> bytes:
    return event_type.encode() + SEP + raw


def encode_notice(n: Notice) -> bytes:
    body: dict[str, Any] = {
        "event_id": n.event_id,
        "customer_id": n.customer_id,
        "ts": to_ms(n.occurred_at),
    }
    if isinstance(n, DestinationShared):
        body.update(dest=n.destination_key, customers=n.customers, evidence=n.evidence_event_ids)
    elif isinstance(n, DestinationFraud):
        body.update(dest=n.destination_key, decision_id=n.decision_id)
    else:
        body.update({"ip": n.ip} if isinstance(n, IpFlagged) else {"device": n.device})
        body.update(
            start=to_ms(n.window_start),
            end=to_ms(n.window_end),
            customers=n.customers,
            evidence=n.evidence_event_ids,
        )
    return forward(n.type, orjson.dumps(body))


def decode_customer_event(value: bytes, max_bytes: int) -> CustomerEvent:
    tag, sep, raw = value.partition(SEP)
    if not sep:
        raise InvalidEvent("", "internal message without a type tag")
    event_type = tag.decode()
    if event_type not in _NOTICE_TYPES:
        return revive(parse_json(raw, max_bytes), event_type)
    b = orjson.loads(raw)
    at = from_ms(b["ts"])
    if event_type == "destination_shared":
        return DestinationShared(
            b["event_id"],
            b["customer_id"],
            at,
            b["dest"],
            tuple(b["customers"]),
            tuple(b["evidence"]),
        )
    if event_type == "destination_fraud":
        return DestinationFraud(b["event_id"], b["customer_id"], at, b["dest"], b["decision_id"])
    if event_type == "device_flagged":
        return DeviceFlagged(
            b["event_id"],
            b["customer_id"],
            at,
            b["device"],
            from_ms(b["start"]),
            from_ms(b["end"]),
            tuple(b["customers"]),
            tuple(b["evidence"]),
        )
    return IpFlagged(
        b["event_id"],
        b["customer_id"],
        at,
        b["ip"],
        from_ms(b["start"]),
        from_ms(b["end"]),
        tuple(b["customers"]),
        tuple(b["evidence"]),
    )


Observations = list[DestinationObservation] | list[IpObservation] | list[DeviceObservation]


def encode_observations(observations: Observations) -> bytes:
    return orjson.dumps({"observations": [o.to_wire() for o in observations]})


def decode_destination_observations(value: bytes) -> list[DestinationObservation]:
    return [DestinationObservation(**b) for b in _observations(value)]


def decode_ip_observations(value: bytes) -> list[IpObservation]:
    return [IpObservation(**b) for b in _observations(value)]


def decode_device_observations(value: bytes) -> list[DeviceObservation]:
    return [DeviceObservation(**b) for b in _observations(value)]


def _observations(value: bytes) -> list[dict[str, Any]]:
    body = orjson.loads(value)
    if not isinstance(body, dict):
        raise ValueError("an observation record must be a JSON object")
    listed = body.get("observations")
    if listed is None:
        return [body]  # one observation, as sent before the batch agents
    if not isinstance(listed, list) or not all(isinstance(b, dict) for b in listed):
        raise ValueError("observations must be a list of JSON objects")
    return listed


def _text(raw: bytes | None) -> tuple[str | None, str | None, bool]:
    if raw is None:
        return None, None, False
    cut = raw[:DEAD_LETTER_MAX]
    try:
        return cut.decode("utf-8"), "utf-8", len(raw) > DEAD_LETTER_MAX
    except UnicodeDecodeError:
        return base64.b64encode(cut).decode(), "base64", len(raw) > DEAD_LETTER_MAX


class Received(Protocol):
    """Where a message came from and what it held (a Faust message, an aiokafka record,
    a notification's source)."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


def dead_letter_of(msg: Received, error: str, error_field: str = "") -> dict[str, Any]:
    """The dead-letter record for `msg`, received now."""
    return dead_letter(
        topic=msg.topic,
        partition=msg.partition,
        offset=msg.offset,
        key=msg.key,
        value=msg.value,
        error=error,
        error_field=error_field,
        received_at=datetime.now(UTC),
    )


def dead_letter(
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
    error_field: str,
    received_at: datetime,
) -> dict[str, Any]:
    """The dead-letter record for a message that could not be processed."""
    key_text, key_encoding, _ = _text(key)
    payload, encoding, truncated = _text(value if value is not None else b"")
    return {
        "source_topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key_text,
        "key_encoding": key_encoding,
        "payload": payload,
        "payload_encoding": encoding,
        "truncated": truncated,
        "error": error,
        "error_field": error_field,
        "received_at": received_at.isoformat(),
    }
