"""Policy versions as data: the records of the compacted `policies` topic, and what they
add up to (the catalog: every published version, which one is live, which is shadow).

Records (key -> JSON value), all on one partition so a pointer never overtakes the
version it names:

- `version:<id>` `{"kind": "version", "id", "text", "author", "note", "published_at"}`:
  the TOML text as published; `id` is the policy's fingerprint (`engine.policy.fingerprint`),
  the same 8 hex digits a verdict's `detector_version` ends with.
- `live` / `shadow` `{"kind": "pointer", "role", "id", "actor", "note", "at"}`: which
  version runs live, and which in shadow (`id` null: no shadow).

Times are epoch milliseconds. Nothing here does I/O; `policy/log.py` reads and writes
the topic, `streaming/control/engine_feed.py` follows it in a worker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

from withdrawguard.engine.policy import Policy, PolicyError, fingerprint, parse_policy

ROLES = ("live", "shadow")
_ID = re.compile(r"^[0-9a-f]{8}$")
MAX_TEXT = 256 * 1024
"""Largest policy text accepted (the default policy is about 4 KiB)."""


class RecordError(ValueError):
    """A record of the policies topic that cannot be read; the message says why."""


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    id: str
    text: str
    author: str
    note: str
    published_at: int

    def policy(self) -> Policy:
        """The policy this version's text gives; PolicyError if this software cannot use
        it (a key it does not know, a value out of range)."""
        policy = parse_policy(self.text, f"policy version {self.id}")
        found = fingerprint(policy)
        if found != self.id:
            raise PolicyError(
                f"policy version {self.id}: its text has fingerprint {found}, "
                "not the id it was published under"
            )
        return policy


@dataclass(frozen=True, slots=True)
class Pointer:
    role: str
    id: str | None
    actor: str
    note: str
    at: int


def make_version(text: str, author: str, note: str, now_ms: int) -> PolicyVersion:
    """A version of `text`, validated as a worker will load it; PolicyError if unusable."""
    if len(text.encode()) > MAX_TEXT:
        raise PolicyError(f"the policy text is larger than {MAX_TEXT // 1024} KiB")
    policy = parse_policy(text, "the policy")
    return PolicyVersion(fingerprint(policy), text, author, note, now_ms)


def version_record(v: PolicyVersion) -> tuple[bytes, bytes]:
    value = {
        "kind": "version",
        "id": v.id,
        "text": v.text,
        "author": v.author,
        "note": v.note,
        "published_at": v.published_at,
    }
    return f"version:{v.id}".encode(), orjson.dumps(value)


def pointer_record(p: Pointer) -> tuple[bytes, bytes]:
    value: dict[str, object] = {"kind": "pointer", "role": p.role, "id": p.id}
    value |= {"actor": p.actor, "note": p.note, "at": p.at}
    return p.role.encode(), orjson.dumps(value)


@dataclass
class Catalog:
    """Every version published, and the live and shadow pointers, as the topic says now."""

    versions: dict[str, PolicyVersion] = field(default_factory=dict)
    pointers: dict[str, Pointer] = field(default_factory=dict)

    @property
    def live(self) -> str | None:
        p = self.pointers.get("live")
        return p.id if p else None

    @property
    def shadow(self) -> str | None:
        p = self.pointers.get("shadow")
        return p.id if p else None

    def version(self, version_id: str) -> PolicyVersion:
        found = self.versions.get(version_id)
        if found is None:
            known = ", ".join(sorted(self.versions)) or "none yet"
            raise KeyError(f"no published policy version {version_id!r} (published: {known})")
        return found

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """Fold one record in; returns the role whose pointer it set, else None.
        RecordError (the catalog unchanged) if the record cannot be read."""
        if value is None:
            return None  # a tombstone: nothing the product writes; ignored
        doc = _doc(value)
        kind = doc.get("kind")
        if kind == "version":
            v = PolicyVersion(
                _str(doc, "id", _ID),
                _str(doc, "text"),
                _str(doc, "author"),
                _str(doc, "note"),
                _int(doc, "published_at"),
            )
            if key != f"version:{v.id}".encode():
                raise RecordError(f"version {v.id} is under key {key!r}")
            self.versions[v.id] = v
            return None
        if kind == "pointer":
            role = _str(doc, "role")
            if role not in ROLES or key != role.encode():
                raise RecordError(f"pointer {role!r} is under key {key!r}")
            target = doc.get("id")
            if target is not None and not (isinstance(target, str) and _ID.match(target)):
                raise RecordError(f"pointer {role}: 'id' must be 8 hex digits or null")
            p = Pointer(role, target, _str(doc, "actor"), _str(doc, "note"), _int(doc, "at"))
            self.pointers[role] = p
            return role
        raise RecordError(f"unknown record kind {kind!r}")


def _doc(value: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RecordError("not a JSON object")
    return doc


def _str(doc: dict[str, Any], name: str, pattern: re.Pattern[str] | None = None) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or (pattern is not None and not pattern.match(value)):
        raise RecordError(f"'{name}' is missing or not a valid string")
    return value


def _int(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordError(f"'{name}' is missing or not an integer")
    return value
