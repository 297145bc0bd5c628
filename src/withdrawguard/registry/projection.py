"""Pure projection: an output record and the stored hash in, the new hash out.

A withdrawal's hash gathers two sources, each applied only when its record is newer
(a higher offset in the same partition) than the last one applied from that source,
so replaying a record, or an older one, changes nothing:

- `withdrawal-decisions` gives the verdict (`decision`, `severity`, `decided_at`,
  `withdrawal_occurred_at`) and the shared fields (customer, reasons, score, amount,
  currency, destination);
- `withdrawal-holds` gives `hold_status`, `hold_created_at`, `hold_updated_at`,
  `actor` and `note`; it fills the shared fields and `decision` only until a verdict has
  been applied (the detector re-issues both on every change, so they agree).

The result depends only on the latest record of each source, never on how records of
the two topics interleave: a live projection and a rebuild from the compacted topics
end equal. `updated_at` is the latest event time seen. Alerts go to their own keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from withdrawguard.contract import topics as t

DECISIONS = t.WITHDRAWAL_DECISIONS
HOLDS = t.WITHDRAWAL_HOLDS
ALERTS = t.FRAUD_ALERTS
SOURCES = (DECISIONS, HOLDS, ALERTS)
"""Logical names of the topics the registry reads."""

FIELDS = (
    "customer_id", "decision", "hold_status", "reasons", "risk_score", "severity", "amount",
    "currency", "destination", "withdrawal_occurred_at", "decided_at", "hold_created_at",
    "hold_updated_at", "actor", "note", "updated_at",
)  # fmt: skip
"""Every hash field besides `src_<topic>`; unknown values are empty strings."""

SHARED = ("customer_id", "reasons", "risk_score", "amount", "currency", "destination")
OPEN = "held"
"""The hold status that keeps a withdrawal in the open-holds indexes."""
ALERTS_KEPT = 1000
ALERT_TTL_SECONDS = 30 * 24 * 3600


class BadRecord(ValueError):
    """An output record the registry cannot read (logged and skipped, never retried)."""


@dataclass(frozen=True, slots=True)
class Position:
    partition: int
    offset: int

    def encode(self) -> str:
        return f"{self.partition}:{self.offset}"

    def newer_than(self, stored: str | None) -> bool:
        """True unless `stored` names this partition at this offset or later."""
        if not stored:
            return True
        partition, _, offset = stored.partition(":")
        return int(partition) != self.partition or self.offset > int(offset)


@dataclass(frozen=True, slots=True)
class Projection:
    """The new hash of a withdrawal and where it belongs in the open-holds indexes."""

    withdrawal_id: str
    customer_id: str
    fields: dict[str, str]
    open_since_ms: int | None
    """Score in `holds:open` when the hold is open, else None (not indexed)."""


@dataclass(frozen=True, slots=True)
class AlertEntry:
    alert_id: str
    created_ms: int
    json: bytes


def source_field(topic: str) -> str:
    return f"src_{topic}"


def decode(value: bytes | None) -> dict[str, Any]:
    try:
        payload = orjson.loads(value or b"")
    except orjson.JSONDecodeError as exc:
        raise BadRecord(f"not JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRecord("not a JSON object")
    return payload


def withdrawal_id_of(payload: Mapping[str, Any]) -> str:
    return _text(payload, "withdrawal_id")


def project(
    topic: str, pos: Position, payload: Mapping[str, Any], current: Mapping[str, str]
) -> Projection | None:
    """The withdrawal's hash after `payload` (read at `pos` of `topic`), or None when the
    hash already holds this record or a later one of the same source."""
    if topic not in (DECISIONS, HOLDS):
        raise BadRecord(f"the registry does not project {topic!r} into withdrawals")
    if not pos.newer_than(current.get(source_field(topic))):
        return None
    new = {f: current.get(f, "") for f in FIELDS}
    new.update({k: v for k, v in current.items() if k.startswith("src_")})
    has_verdict = bool(current.get(source_field(DECISIONS)))
    if topic == DECISIONS:
        new.update(_shared(payload))
        new["decision"] = _choice(payload, "decision", ("allow", "hold"))
        new["severity"] = _text(payload, "severity")
        new["decided_at"] = _time(payload, "decided_at")
        new["withdrawal_occurred_at"] = _time(payload, "withdrawal_occurred_at")
        moment = new["decided_at"]
    else:
        status = _choice(payload, "status", ("held", "released", "confirmed_fraud"))
        new["hold_status"] = status
        new["hold_created_at"] = _time(payload, "created_at")
        new["hold_updated_at"] = _time(payload, "updated_at")
        new["actor"] = _optional_text(payload, "actor")
        new["note"] = _optional_text(payload, "note")
        if not has_verdict:
            new.update(_shared(payload))
            new["decision"] = "allow" if status == "released" else "hold"
        moment = new["hold_updated_at"]
    new["updated_at"] = _later(new["updated_at"], moment)
    new[source_field(topic)] = pos.encode()
    is_open = new["hold_status"] == OPEN
    return Projection(
        withdrawal_id=withdrawal_id_of(payload),
        customer_id=new["customer_id"],
        fields=new,
        open_since_ms=epoch_ms(new["hold_created_at"]) if is_open else None,
    )


def alert_entry(payload: Mapping[str, Any], raw: bytes) -> AlertEntry:
    return AlertEntry(_text(payload, "alert_id"), epoch_ms(_text(payload, "created_at")), raw)


def epoch_ms(timestamp: str) -> int:
    return int(_parse_time(timestamp).timestamp() * 1000)


def _shared(payload: Mapping[str, Any]) -> dict[str, str]:
    reasons = payload.get("reasons")
    if not isinstance(reasons, list):
        raise BadRecord("reasons: must be a list")
    score = payload.get("risk_score")
    if not isinstance(score, int) or isinstance(score, bool):
        raise BadRecord("risk_score: must be an integer")
    try:
        kept = [{"code": r["code"], "detail": r["detail"], "weight": r["weight"]} for r in reasons]
    except (KeyError, TypeError):
        raise BadRecord("reasons: each must have code, detail and weight") from None
    return {
        "customer_id": _text(payload, "customer_id"),
        "reasons": orjson.dumps(kept).decode(),
        "risk_score": str(score),
        "amount": _text(payload, "amount"),
        "currency": _text(payload, "currency"),
        "destination": _text(payload, "destination"),
    }


def _text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value:
        raise BadRecord(f"{name}: must be a non-empty string")
    return value


def _time(payload: Mapping[str, Any], name: str) -> str:
    value = _text(payload, name)
    _parse_time(value)
    return value


def _optional_text(payload: Mapping[str, Any], name: str) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRecord(f"{name}: must be a string or null")
    return value


def _choice(payload: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = _text(payload, name)
    if value not in allowed:
        raise BadRecord(f"{name}: must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _parse_time(timestamp: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(timestamp)
    except ValueError:
        raise BadRecord(f"not a timestamp: {timestamp!r}") from None
    if parsed.tzinfo is None:
        raise BadRecord(f"timestamp without an offset: {timestamp!r}")
    return parsed


def _later(a: str, b: str) -> str:
    if not a:
        return b
    return b if _parse_time(b) > _parse_time(a) else a
