"""Why a case command is refused, each with the HTTP status the console and the CLI
answer with: Forbidden 403 (who you are), Conflict 409 (the case changed since you
looked; says what changed), Invalid 400 (what you asked; names the field), NotFound 404."""

from __future__ import annotations

from typing import ClassVar

from withdrawguard.cases.case import Case, Change

MAX_NOTE = 2048


class CaseError(Exception):
    """A refused command. `status` is the HTTP status the console and CLI answer with."""

    status: ClassVar[int] = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Forbidden(CaseError):
    status = 403


class NotFound(CaseError):
    status = 404


class Invalid(CaseError):
    """`field` names the part of the command at fault."""

    status = 400

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


class Conflict(CaseError):
    """The case changed since the actor saw it; `changes` says how."""

    status = 409

    def __init__(self, case: Case, seen: int) -> None:
        self.seen, self.current = seen, case.version
        self.changes: tuple[Change, ...] = case.changes_since(seen)
        told = ", ".join(f"{c.kind} by {c.actor} at {c.at.isoformat()}" for c in self.changes)
        untold = case.version - seen - len(self.changes)
        more = f" and {untold} earlier" if untold > 0 else ""
        super().__init__(
            f"case {case.case_id} changed since you saw version {seen} "
            f"(now {case.version}): {told or 'older changes'}{more}"
        )


def note(text: str | None, field: str = "note") -> str | None:
    """An optional note: blank counts as absent; longer than MAX_NOTE is refused."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_NOTE:
        raise Invalid(field, f"is {len(text)} characters, over the limit of {MAX_NOTE}")
    return text


def required_note(text: str | None, field: str = "note") -> str:
    checked = note(text, field)
    if checked is None:
        raise Invalid(field, "is required: say why")
    return checked
