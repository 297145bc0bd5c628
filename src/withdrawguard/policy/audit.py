"""The policy trail: one `AuditEntry` per record of the `policy-audit` topic (schema:
docs/schemas/policy-action.schema.json), and its lines for people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

ACTIONS = ("publish", "shadow", "promote", "rollback", "shadow-off")


class AuditError(ValueError):
    """A record of the audit topic this reader cannot use; the message says why."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    action: str
    actor: str
    at: int
    """Epoch milliseconds."""
    note: str
    role: str
    version: str | None
    previous: str | None

    @classmethod
    def parse(cls, value: bytes | None) -> AuditEntry:
        if value is None:
            raise AuditError("no value")
        try:
            doc: Any = orjson.loads(value)
        except orjson.JSONDecodeError as exc:
            raise AuditError(f"not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise AuditError("not a JSON object")
        try:
            entry = cls(
                action=_text(doc, "action"),
                actor=_text(doc, "actor"),
                at=_int(doc, "at"),
                note=_text(doc, "note"),
                role=_text(doc, "role"),
                version=_optional(doc, "version"),
                previous=_optional(doc, "previous"),
            )
        except KeyError as exc:
            raise AuditError(f"no {exc.args[0]!r}") from None
        if entry.action not in ACTIONS:
            raise AuditError(f"unknown action {entry.action!r}")
        return entry

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.at / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")

    def line(self) -> str:
        """`2026-12-07 04:00:00Z  publish     live    none -> 6d36727c  ada: note`"""
        change = f"{self.previous or 'none'} -> {self.version or 'none'}"
        return (
            f"{self.when}  {self.action:<10}  {self.role:<6}  {change}  {self.actor}: {self.note}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "actor": self.actor,
            "at": self.at,
            "when": self.when,
            "note": self.note,
            "role": self.role,
            "version": self.version,
            "previous": self.previous,
        }


def _text(doc: dict[str, Any], key: str) -> str:
    value = doc[key]
    if not isinstance(value, str):
        raise AuditError(f"{key!r} is not a string")
    return value


def _int(doc: dict[str, Any], key: str) -> int:
    value = doc[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise AuditError(f"{key!r} is not an integer")
    return value


def _optional(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise AuditError(f"{key!r} is not a string or null")
    return value
