"""The events of a case: the append-only record (topic `case-events`) every state is
folded from. Each names its case, its own id, who did it and when; times are
timezone-aware, money is Decimal. `codec.py` turns them into JSON and back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, TypedDict

Status = Literal["open", "investigating", "waiting_on_customer", "escalated", "closed"]
Outcome = Literal["confirmed_fraud", "false_positive", "customer_verified", "other"]
Fate = Literal["held", "released", "confirmed_fraud"]
TriggerKind = Literal["hold", "alert", "verdict"]
Severity = Literal["none", "low", "medium", "high", "critical"]

STATUSES: tuple[Status, ...] = (
    "open",
    "investigating",
    "waiting_on_customer",
    "escalated",
    "closed",
)
OUTCOMES: tuple[Outcome, ...] = ("confirmed_fraud", "false_positive", "customer_verified", "other")
FATES: tuple[Fate, ...] = ("held", "released", "confirmed_fraud")
SEVERITIES: tuple[Severity, ...] = ("none", "low", "medium", "high", "critical")
SYSTEM = "system"
"""The actor of events nobody in particular caused: intake, expiry, auto-assignment."""


@dataclass(frozen=True, slots=True)
class Trigger:
    """What the detector said that opened or joined a case: a hold (as it then stood),
    an alert, or a verdict. `ref_id` is the hold, alert or withdrawal id."""

    kind: TriggerKind
    ref_id: str
    severity: Severity
    reason_codes: tuple[str, ...]
    withdrawal_id: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    channel: str | None = None
    hold_status: Fate | None = None
    """For a hold: held, released or confirmed_fraud, as the detector last said."""

    @property
    def key(self) -> str:
        """Identity of this piece of news: the same hold in a new state, or a verdict
        re-issued with other reasons, is new news; the same message read twice is not."""
        return f"{self.kind}:{self.ref_id}:{self.hold_status or ''}:{'+'.join(self.reason_codes)}"


class Stamp(TypedDict):
    """The identity of an event being made: `Claimed(**stamp, at=now)`."""

    case_id: str
    event_id: str
    actor: str


@dataclass(frozen=True, slots=True, kw_only=True)
class _Base:
    """What every case event has: its case, its own id, who did it and when."""

    case_id: str
    event_id: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class Opened(_Base):
    """A new case for the customer, routed to `inbox`; `previous_case_id` is the
    customer's last case when that one was closed."""

    customer_id: str
    inbox: str
    sla_minutes: int
    due_at: datetime
    trigger: Trigger
    previous_case_id: str | None = None
    kind: Literal["opened"] = "opened"


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined(_Base):
    """More news for an open case. `resurfaced`: a new hold on a case that was waiting on
    the customer put it back to `open` with a fresh due time (`due_at`)."""

    trigger: Trigger
    resurfaced: bool = False
    due_at: datetime | None = None
    kind: Literal["joined"] = "joined"


@dataclass(frozen=True, slots=True, kw_only=True)
class Assigned(_Base):
    assignee: str
    note: str | None = None
    kind: Literal["assigned"] = "assigned"


@dataclass(frozen=True, slots=True, kw_only=True)
class Claimed(_Base):
    """The actor took the case for themselves (take next)."""

    kind: Literal["claimed"] = "claimed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Unassigned(_Base):
    note: str | None = None
    kind: Literal["unassigned"] = "unassigned"


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusChanged(_Base):
    status: Status
    note: str | None = None
    kind: Literal["status_changed"] = "status_changed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Commented(_Base):
    note: str
    kind: Literal["commented"] = "commented"


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldReleased(_Base):
    """A hold below the four-eyes threshold, released by one person."""

    hold_id: str
    note: str | None = None
    kind: Literal["hold_released"] = "hold_released"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseProposed(_Base):
    proposal_id: str
    hold_id: str
    note: str
    expires_at: datetime
    kind: Literal["release_proposed"] = "release_proposed"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReleaseApproved(_Base):
    """The second pair of eyes: the hold is released."""

    proposal_id: str
    hold_id: str
    note: str | None = None
    kind: Literal["release_approved"] = "release_approved"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalExpired(_Base):
    proposal_id: str
    kind: Literal["proposal_expired"] = "proposal_expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProposalWithdrawn(_Base):
    """Withdrawn by its proposer, or declined by a supervisor."""

    proposal_id: str
    note: str | None = None
    kind: Literal["proposal_withdrawn"] = "proposal_withdrawn"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReopenProposed(_Base):
    """First step of reopening a case closed as confirmed fraud."""

    proposal_id: str
    note: str
    expires_at: datetime
    kind: Literal["reopen_proposed"] = "reopen_proposed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reopened(_Base):
    """The case is open again; `proposal_id` names the approved proposal when it took
    two people (a confirmed-fraud case), else it is None."""

    note: str
    due_at: datetime
    proposal_id: str | None = None
    kind: Literal["reopened"] = "reopened"


@dataclass(frozen=True, slots=True, kw_only=True)
class Closed(_Base):
    outcome: Outcome
    note: str
    kind: Literal["closed"] = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class SuppressionAdded(_Base):
    """Mute `reason_codes` for the case's customer until `until`."""

    suppression_id: str
    reason_codes: tuple[str, ...]
    until: datetime
    note: str
    kind: Literal["suppression_added"] = "suppression_added"


@dataclass(frozen=True, slots=True, kw_only=True)
class SuppressionExpired(_Base):
    suppression_id: str
    kind: Literal["suppression_expired"] = "suppression_expired"


@dataclass(frozen=True, slots=True, kw_only=True)
class SlaBreached(_Base):
    """The case was still open at its due time: recorded by the worker's sweep once per
    due time (a case resurfaced or reopened has a new one), and paged."""

    customer_id: str
    inbox: str
    due_at: datetime
    kind: Literal["sla_breached"] = "sla_breached"


CaseEvent = (
    Opened
    | Joined
    | Assigned
    | Claimed
    | Unassigned
    | StatusChanged
    | Commented
    | HoldReleased
    | ReleaseProposed
    | ReleaseApproved
    | ProposalExpired
    | ProposalWithdrawn
    | ReopenProposed
    | Reopened
    | Closed
    | SuppressionAdded
    | SuppressionExpired
    | SlaBreached
)

EVENT_TYPES: dict[str, type[CaseEvent]] = {
    "opened": Opened,
    "joined": Joined,
    "assigned": Assigned,
    "claimed": Claimed,
    "unassigned": Unassigned,
    "status_changed": StatusChanged,
    "commented": Commented,
    "hold_released": HoldReleased,
    "release_proposed": ReleaseProposed,
    "release_approved": ReleaseApproved,
    "proposal_expired": ProposalExpired,
    "proposal_withdrawn": ProposalWithdrawn,
    "reopen_proposed": ReopenProposed,
    "reopened": Reopened,
    "closed": Closed,
    "suppression_added": SuppressionAdded,
    "suppression_expired": SuppressionExpired,
    "sla_breached": SlaBreached,
}
"""Event kind (the `kind` field on the wire) -> its class."""
