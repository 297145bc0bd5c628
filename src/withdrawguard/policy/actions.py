"""What each policy action writes: publish, shadow, promote, roll back.

An action is planned against the catalog as it stands, and gives the records to append
to the `policies` topic and one record for the `policy-audit` topic (actor, time, note,
the versions involved). The CLI and the console both plan here and write through their
own producer. Only admins may act (`ADMIN_ROLE`); the caller checks who is asking.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import orjson

from withdrawguard.engine.policy import PolicyError
from withdrawguard.policy.versions import (
    Catalog,
    Pointer,
    PolicyVersion,
    make_version,
    pointer_record,
    version_record,
)

ADMIN_ROLE = "admin"
ACTIONS = ("publish", "shadow", "promote", "rollback", "shadow-off")


class ActionError(ValueError):
    """The action cannot be taken as asked; the message says why."""

    status = 400
    """The HTTP status the console answers with: what was asked is wrong."""


class UnknownVersion(ActionError):
    """The action names a version the catalog does not hold."""

    status = 404


@dataclass(frozen=True, slots=True)
class Plan:
    action: str
    policies: list[tuple[bytes, bytes]] = field(default_factory=list)
    """Records for the `policies` topic, in order."""
    audit: bytes = b""
    """The record for the `policy-audit` topic."""
    summary: str = ""
    version: str | None = None
    """The version the action points a role at (None: the shadow is stopped)."""


def publish(catalog: Catalog, text: str, actor: str, note: str, now: int, role: str) -> Plan:
    """Publish `text` as a version and point `role` ("live" or "shadow") at it."""
    _need_note(note)
    try:
        v = make_version(text, actor, note, now)
    except PolicyError as exc:
        raise ActionError(f"refused: {exc}") from None
    records = [] if v.id in catalog.versions else [version_record(v)]
    plan = _point(catalog, role, v.id, actor, note, now, "publish", records)
    if v.id in catalog.versions:
        return replace(plan, summary=plan.summary + " (already published)")
    return plan


def set_shadow(catalog: Catalog, version_id: str | None, actor: str, note: str, now: int) -> Plan:
    """Run a published version in shadow (None: stop the shadow)."""
    _need_note(note)
    if version_id is None:
        if catalog.shadow is None:
            raise ActionError("no version runs in shadow")
        return _point(catalog, "shadow", None, actor, note, now, "shadow-off", [])
    _published(catalog, version_id)
    return _point(catalog, "shadow", version_id, actor, note, now, "shadow", [])


def promote(catalog: Catalog, actor: str, note: str, now: int) -> Plan:
    """Make the shadow version live, and stop the shadow."""
    _need_note(note)
    shadow = catalog.shadow
    if shadow is None:
        raise ActionError("no version runs in shadow: nothing to promote")
    live = _point(catalog, "live", shadow, actor, note, now, "promote", [])
    off = pointer_record(Pointer("shadow", None, actor, note, now))
    return replace(live, policies=[*live.policies, off], summary=live.summary + "; shadow stopped")


def rollback(catalog: Catalog, version_id: str, actor: str, note: str, now: int) -> Plan:
    """Make an earlier published version live again."""
    _need_note(note)
    _published(catalog, version_id)
    return _point(catalog, "live", version_id, actor, note, now, "rollback", [])


def _point(
    catalog: Catalog,
    role: str,
    version_id: str | None,
    actor: str,
    note: str,
    now: int,
    action: str,
    records: list[tuple[bytes, bytes]],
) -> Plan:
    if role not in ("live", "shadow"):
        raise ActionError(f"role must be live or shadow, not {role!r}")
    previous = catalog.live if role == "live" else catalog.shadow
    if previous == version_id and action != "publish":
        raise ActionError(f"version {version_id} already runs {role}")
    if role == "shadow" and version_id is not None and version_id == catalog.live:
        raise ActionError(f"version {version_id} is live; a shadow must differ from it")
    records = [*records, pointer_record(Pointer(role, version_id, actor, note, now))]
    audit = {
        "action": action,
        "actor": actor,
        "at": now,
        "note": note,
        "role": role,
        "version": version_id,
        "previous": previous,
    }
    shown = version_id or "none"
    summary = f"{role}: {previous or 'none'} -> {shown}"
    return Plan(action, records, orjson.dumps(audit), summary, version_id)


def _published(catalog: Catalog, version_id: str) -> PolicyVersion:
    try:
        return catalog.version(version_id)
    except KeyError as exc:
        raise UnknownVersion(str(exc.args[0])) from None


def _need_note(note: str) -> None:
    if not note.strip():
        raise ActionError("a note is required: say why (it goes on the audit record)")
