"""What rules take and give: the withdrawal under assessment, and a finding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from withdrawguard.engine.policy import HOUR
from withdrawguard.engine.state import ChangeRec, CustomerState, WithdrawalRec
from withdrawguard.engine.suppressions import Applied


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    detail: str
    weight: int
    holding: bool = False
    severity: str | None = None
    """A floor for the alert's severity, whatever the score."""
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the rules say about one withdrawal, less the reasons suppressions mute
    (`suppressed` names them)."""

    decision: str
    risk_score: int
    severity: str
    findings: tuple[Finding, ...]
    suppressed: tuple[Applied, ...] = ()

    @property
    def evidence(self) -> list[str]:
        return list(dict.fromkeys(e for f in self.findings for e in f.evidence))


@dataclass(frozen=True, slots=True)
class Action:
    """Something the customer (or an attacker) did: a change or the withdrawal."""

    event_id: str
    ts: int
    what: str
    ip: str | None
    device: str | None
    net: str | None


@dataclass(slots=True)
class Subject:
    """A withdrawal seen against its customer's state."""

    withdrawal_id: str
    w: WithdrawalRec
    state: CustomerState
    dest_window_ms: int
    _dest_changes: list[tuple[str, ChangeRec]] | None = field(default=None)

    @property
    def dest_changes(self) -> list[tuple[str, ChangeRec]]:
        """Changes that set this withdrawal's destination within the window before it."""
        if self._dest_changes is None:
            w = self.w
            self._dest_changes = sorted(
                (
                    (eid, c)
                    for eid, c in self.state.changes.items()
                    if c.change_type == "withdrawal_destination"
                    and c.dest == w.dest
                    and 0 <= w.ts - c.ts < self.dest_window_ms
                ),
                key=lambda item: (item[1].ts, item[0]),
            )
        return self._dest_changes

    def actions(self) -> list[Action]:
        """The destination changes behind this withdrawal, then the withdrawal itself."""
        acts = [
            Action(eid, c.ts, f"the {c.channel} destination change", c.ip, c.device, c.net)
            for eid, c in self.dest_changes
        ]
        w = self.w
        acts.append(Action(w.event_id, w.ts, "the withdrawal", w.ip, w.device, w.net))
        return acts


class Rule(Protocol):
    code: str

    def __call__(self, subject: Subject, /) -> Finding | None: ...


def hours(ms: int) -> str:
    """A duration for people: '3 h', '45 min', '2 days'."""
    if ms >= 48 * HOUR:
        return f"{ms // (24 * HOUR)} days"
    if ms >= HOUR:
        return f"{ms // HOUR} h"
    return f"{max(ms // 60_000, 0)} min"
