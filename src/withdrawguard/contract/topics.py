"""Every topic withdrawguard reads or writes: names, roles, keys and settings.

This module is the one place that knows topic names. Payload schemas are in
`docs/schemas/` (tested against the decoders) and described in `docs/contract.md`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from withdrawguard.settings import Settings


class Role(Enum):
    INPUT = "input"
    OUTPUT = "output"
    INTERNAL = "internal"
    CONTROL = "control"
    """Written by operators through the product (policy versions, their audit trail) and
    read by every worker in full, outside the consumer group."""


@dataclass(frozen=True, slots=True)
class TopicSpec:
    logical: str
    """Name without prefix, as the contract spells it."""
    role: Role
    key: str
    """What the message key is (documentation and contract tests)."""
    compacted: bool = False
    config: dict[str, str] = field(default_factory=dict)
    partitions: int | None = None
    """A fixed partition count; None: WG_PARTITIONS."""


LOGINS = "logins"
ACCOUNT_CHANGES = "account-changes"
WITHDRAWALS = "withdrawals"
TRADES = "trades"
"""Executions in the customers' securities accounts (a sell-off before a withdrawal)."""
CUSTOMER_RESPONSES = "customer-responses"
"""Customers' answers to the notices (confirm or deny, through which contact)."""
CASE_DECISIONS = "case-decisions"
"""People's decisions for the detector (`release`, `confirm_fraud`, `verify_destination`,
`suppress`; engine/events.py `CASE_ACTIONS`), written by the case service and the console."""
WITHDRAWAL_DECISIONS = "withdrawal-decisions"
WITHDRAWAL_HOLDS = "withdrawal-holds"
FRAUD_ALERTS = "fraud-alerts"
CUSTOMER_NOTICES = "customer-notices"
"""What to tell the customer and through which contact, for the broker's mailer or CRM."""
DEAD_LETTERS = "dead-letters"
# Internal: inputs re-keyed by customer id with our own partitioner, and the
# cross-customer observations keyed by destination, by source IP and by device id.
CUSTOMER_EVENTS = "customer-events"
DESTINATION_OBSERVATIONS = "destination-observations"
IP_OBSERVATIONS = "ip-observations"
DEVICE_OBSERVATIONS = "device-observations"
# Policy as data (docs/policy.md): versions and the live/shadow pointers, their audit
# trail, and the shadow version's verdicts.
POLICIES = "policies"
POLICY_AUDIT = "policy-audit"
SHADOW_DECISIONS = "shadow-decisions"
# Case work (docs/cases.md): every event of every case, the truth the case store is
# folded from.
CASE_EVENTS = "case-events"

# Faust tables; each has a compacted changelog topic `<app id>-<table>-changelog`.
TABLES = ("customers", "destinations", "source-ips", "devices")

# The event `type` each input topic carries (a mismatch is a dead letter).
INPUT_EVENT_TYPES: dict[str, str] = {
    LOGINS: "login",
    ACCOUNT_CHANGES: "account_change",
    WITHDRAWALS: "withdrawal",
    CASE_DECISIONS: "case_decision",
    TRADES: "trade",
    CUSTOMER_RESPONSES: "customer_response",
}

_FOREVER = {"cleanup.policy": "delete", "retention.ms": "-1"}
_COMPACT = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}

SPECS: tuple[TopicSpec, ...] = (
    TopicSpec(LOGINS, Role.INPUT, "customer_id"),
    TopicSpec(ACCOUNT_CHANGES, Role.INPUT, "customer_id"),
    TopicSpec(WITHDRAWALS, Role.INPUT, "customer_id"),
    TopicSpec(CASE_DECISIONS, Role.INPUT, "customer_id"),
    TopicSpec(TRADES, Role.INPUT, "customer_id"),
    TopicSpec(CUSTOMER_RESPONSES, Role.INPUT, "customer_id"),
    TopicSpec(WITHDRAWAL_DECISIONS, Role.OUTPUT, "withdrawal_id", True, dict(_COMPACT)),
    TopicSpec(WITHDRAWAL_HOLDS, Role.OUTPUT, "withdrawal_id", True, dict(_COMPACT)),
    TopicSpec(FRAUD_ALERTS, Role.OUTPUT, "customer_id"),
    TopicSpec(CUSTOMER_NOTICES, Role.OUTPUT, "customer_id"),
    TopicSpec(DEAD_LETTERS, Role.OUTPUT, "source key (as received)"),
    TopicSpec(CUSTOMER_EVENTS, Role.INTERNAL, "customer_id"),
    TopicSpec(DESTINATION_OBSERVATIONS, Role.INTERNAL, "destination identity"),
    TopicSpec(IP_OBSERVATIONS, Role.INTERNAL, "source IP"),
    TopicSpec(DEVICE_OBSERVATIONS, Role.INTERNAL, "device id"),
    TopicSpec(SHADOW_DECISIONS, Role.OUTPUT, "withdrawal_id"),
    # Append-only, kept for ever: the case store is a projection rebuilt from it, and a
    # case's history is what a firm hands a regulator. Never compacted (every event of a
    # case shares its key).
    TopicSpec(CASE_EVENTS, Role.OUTPUT, "case_id", False, dict(_FOREVER)),
    # One partition: a pointer never overtakes the version record it names.
    TopicSpec(POLICIES, Role.CONTROL, "version:<id>, live or shadow", True, dict(_COMPACT), 1),
    # Kept for ever and never compacted: the product only appends to it.
    TopicSpec(POLICY_AUDIT, Role.CONTROL, "version id", False, {"retention.ms": "-1"}, 1),
)


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Concrete topic names for one deployment (prefix applied)."""

    settings: Settings

    def name(self, logical: str) -> str:
        spec = _BY_NAME[logical]
        if spec.role is Role.INTERNAL:
            return f"{self.settings.topic_prefix}{self.settings.app_id}-{logical}"
        return f"{self.settings.topic_prefix}{logical}"

    def all(self) -> list[tuple[str, TopicSpec]]:
        return [(self.name(s.logical), s) for s in SPECS]

    def inputs(self) -> list[str]:
        return [self.name(s.logical) for s in SPECS if s.role is Role.INPUT]

    def sink_group(self, sink: str) -> str:
        """The consumer group of a sink (`registry`, `notify`); the detector's is the app id."""
        return f"{self.settings.app_id}-{sink}"

    def changelogs(self) -> list[str]:
        """The tables' changelog topics, named as Faust names them (no topic prefix)."""
        return [f"{self.settings.app_id}-{table}-changelog" for table in TABLES]


_BY_NAME = {s.logical: s for s in SPECS}
