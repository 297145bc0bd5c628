"""A case form as a case command: pure, the posted fields in, a `cases.commands`
command out, or the domain's `Invalid` (400) naming the field at fault. The checks of
what the command asks (who may, the version, the note's length, the outcome) are the
domain's own (`cases.commands.decide`), as for the CLI: nothing is checked twice here.

Every action carries `seen`, the case version its page showed; a page that is older
than the case gets 409 with what changed (docs/cases.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from withdrawguard.cases import commands as cmd
from withdrawguard.cases.errors import Forbidden, Invalid, required_note
from withdrawguard.cases.errors import note as checked_note
from withdrawguard.cases.events import OUTCOMES
from withdrawguard.cases.people import ROLES, Actor

ACTIONS = (
    "claim", "assign", "unassign", "status", "comment", "release", "approve", "withdraw",
    "close", "reopen", "suppress",
)  # fmt: skip
BULK = ("assign", "close")
MAX_BULK = 200


@dataclass(frozen=True, slots=True)
class Typed:
    """What the person typed into the form that was refused, to show it again."""

    action: str = ""
    key: str = ""
    """The hold or proposal the form was about, when the page has one form per item."""
    note: str = ""


def typed(form: Mapping[str, Any]) -> Typed:
    return Typed(_text(form, "action"), _text(form, "key"), _text(form, "note"))


def actor_of(user: str, role: str) -> Actor:
    found = next((r for r in ROLES if r == role), None)
    if found is None:
        raise Forbidden(f"the {role} role works no cases")
    return Actor(user, found)


def seen_version(value: Any) -> int:
    try:
        seen = int(str(value))
    except ValueError:
        raise Invalid("seen", "the case version the page showed is missing") from None
    if seen < 1:
        raise Invalid("seen", f"a case version starts at 1, not {seen}")
    return seen


def command_from(
    form: Mapping[str, Any],
    case_id: str,
    command_id: str,
    people: Mapping[str, str],
    now: datetime,
) -> cmd.Command:
    """The command the form asks for. `people`: user name -> role (the users file)."""
    action = _text(form, "action")
    base: dict[str, Any] = {
        "case_id": case_id,
        "command_id": command_id,
        "seen_version": seen_version(form.get("seen")),
    }
    note = _text(form, "note") or None
    match action:
        case "claim":
            return cmd.Claim(**base)
        case "assign":
            return cmd.Assign(**base, assignee=person(_text(form, "assignee"), people), note=note)
        case "unassign":
            return cmd.Unassign(**base, note=note)
        case "status":
            return cmd.ChangeStatus(**base, status=_text(form, "status"), note=note)
        case "comment":
            return cmd.Comment(**base, note=note or "")
        case "release":
            return cmd.Release(**base, hold_id=_required(form, "hold_id"), note=note)
        case "approve":
            return cmd.Approve(**base, proposal_id=_required(form, "proposal_id"), note=note)
        case "withdraw":
            return cmd.Withdraw(**base, proposal_id=_required(form, "proposal_id"), note=note)
        case "close":
            return cmd.Close(**base, outcome=_text(form, "outcome"), note=note)
        case "reopen":
            return cmd.Reopen(**base, note=note)
        case "suppress":
            codes = _reasons(form)
            return cmd.Suppress(**base, reason_codes=codes, until=until(form, now), note=note)
    raise Invalid("action", f"must be one of {', '.join(ACTIONS)}")


def person(name: str, people: Mapping[str, str]) -> Actor:
    if not name:
        raise Invalid("assignee", "name the person to assign the case to")
    if name not in people:
        raise Invalid("assignee", f"no user {name!r} in the users file")
    role = people[name]
    found = next((r for r in ROLES if r == role), None)
    if found is None:
        raise Invalid("assignee", f"{name} has the role {role!r}, which works no cases")
    return Actor(name, found)


def until(form: Mapping[str, Any], now: datetime) -> datetime:
    """The suppression's end: RFC 3339, or a browser's `datetime-local` (read as UTC)."""
    text = _text(form, "until")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid("until", f"not a time: {text[:40]!r}") from None
    return when if when.utcoffset() is not None else when.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Bulk:
    """One action for many cases: (case id, the version its row showed) each."""

    op: str
    cases: tuple[tuple[str, int], ...]
    assignee: Actor | None
    outcome: str
    note: str | None


def bulk_from(form: Any, actor: Actor, people: Mapping[str, str]) -> Bulk:
    """The bulk action, refused before any case is touched: the form (400), and bulk
    assignment taking a supervisor (403). Each checkbox's value is `<case id>@<version>`."""
    op = _text(form, "op")
    if op not in BULK:
        raise Invalid("op", f"must be one of {', '.join(BULK)}")
    picked = [str(v) for v in form.getall("case", [])]
    if not picked:
        raise Invalid("case", "select one or more cases")
    if len(picked) > MAX_BULK:
        raise Invalid("case", f"select at most {MAX_BULK} cases at once")
    cases = []
    for value in picked:
        case_id, _, version = value.rpartition("@")
        if not case_id:
            raise Invalid("case", f"{value[:60]!r} is not <case id>@<version>")
        cases.append((case_id, seen_version(version)))
    note = checked_note(_text(form, "note"))  # 400 before any case, not once per case
    if op == "assign":
        if not actor.may("assign"):
            why = f"assigning cases in bulk takes a supervisor; {actor.user} is {actor.role}"
            raise Forbidden(why)
        return Bulk(op, tuple(cases), person(_text(form, "assignee"), people), "", note)
    outcome = _text(form, "outcome")
    if outcome not in OUTCOMES:
        raise Invalid("outcome", f"must be one of {', '.join(OUTCOMES)}")
    return Bulk(op, tuple(cases), None, outcome, required_note(note))


def bulk_command(bulk: Bulk, case_id: str, seen: int, command_id: str) -> cmd.Command:
    base: dict[str, Any] = {"case_id": case_id, "command_id": command_id, "seen_version": seen}
    if bulk.assignee is not None:
        return cmd.Assign(**base, assignee=bulk.assignee, note=bulk.note)
    return cmd.Close(**base, outcome=bulk.outcome, note=bulk.note)


def _reasons(form: Any) -> tuple[str, ...]:
    picked = [str(v) for v in form.getall("reason", [])] if hasattr(form, "getall") else []
    typed_in = _text(form, "reasons")
    return tuple(c.strip() for c in [*picked, *typed_in.split(",")] if c.strip())


def _required(form: Mapping[str, Any], name: str) -> str:
    value = _text(form, name)
    if not value:
        raise Invalid(name, "is missing")
    return value


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""
