"""Typed input events. Times are timezone-aware UTC; money is Decimal, never float."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

ChangeType = Literal["withdrawal_destination", "email", "phone", "password", "mfa", "address"]
Channel = Literal["web", "mobile", "api", "call_center", "mail", "branch"]
CaseAction = Literal["release", "confirm_fraud", "verify_destination", "suppress"]

CHANGE_TYPES: frozenset[str] = frozenset(
    ("withdrawal_destination", "email", "phone", "password", "mfa", "address")
)
CREDENTIAL_CHANGES: frozenset[str] = frozenset(("email", "phone", "password", "mfa"))
CHANNELS: frozenset[str] = frozenset(("web", "mobile", "api", "call_center", "mail", "branch"))
ONLINE_CHANNELS: frozenset[str] = frozenset(("web", "mobile", "api"))
CASE_ACTIONS: frozenset[str] = frozenset(
    ("release", "confirm_fraud", "verify_destination", "suppress")
)
SIDES: frozenset[str] = frozenset(("buy", "sell"))
ANSWERS: frozenset[str] = frozenset(("confirm", "deny"))
CONTACTS: frozenset[str] = frozenset(("current", "as_of"))

_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")


def _norm(part: str | None) -> str:
    return _NOT_ALNUM.sub("", part or "").upper()


@dataclass(frozen=True, slots=True)
class Destination:
    """A bank account money can be sent to. Identity: normalized bank, branch, account."""

    bank_code: str
    account_number: str
    branch_code: str | None = None
    holder_name: str | None = None

    @property
    def key(self) -> str:
        """Identity of the account: bank, branch and number without spaces or dashes."""
        return f"{_norm(self.bank_code)}/{_norm(self.branch_code)}/{_norm(self.account_number)}"

    @property
    def masked(self) -> str:
        """Printable form with the account number cut to its last 4 characters."""
        return mask_key(self.key)


def mask_key(key: str) -> str:
    """`0005/123/1234567` -> `bank 0005 branch 123 acct ****4567`."""
    bank, branch, account = key.split("/", 2)
    shown = f"bank {bank}"
    if branch:
        shown += f" branch {branch}"
    return f"{shown} acct ****{account[-4:]}"


@dataclass(frozen=True, slots=True)
class Login:
    event_id: str
    customer_id: str
    occurred_at: datetime
    success: bool
    ip: str
    device_id: str | None = None
    user_agent: str | None = None
    country: str | None = None
    auth_method: str | None = None
    type: Literal["login"] = "login"


@dataclass(frozen=True, slots=True)
class AccountChange:
    event_id: str
    customer_id: str
    occurred_at: datetime
    change_type: ChangeType
    channel: Channel
    ip: str | None = None
    device_id: str | None = None
    verified: bool = False
    destination: Destination | None = None
    type: Literal["account_change"] = "account_change"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    event_id: str
    customer_id: str
    occurred_at: datetime
    withdrawal_id: str
    amount: Decimal
    currency: str
    destination: Destination
    channel: str | None = None
    ip: str | None = None
    device_id: str | None = None
    available_balance: Decimal | None = None
    type: Literal["withdrawal"] = "withdrawal"


@dataclass(frozen=True, slots=True)
class Trade:
    """An execution in the customer's securities account: money between holdings and
    cash, which a withdrawal can then send out."""

    event_id: str
    customer_id: str
    occurred_at: datetime
    side: Literal["buy", "sell"]
    instrument: str
    quantity: Decimal
    price: Decimal
    proceeds: Decimal
    """The trade's cash value: received on a sell, paid on a buy."""
    currency: str
    holdings_value_after: Decimal | None = None
    """What the customer's holdings are worth after the trade, in `currency`, when the
    broker knows it."""
    channel: Channel | None = None
    ip: str | None = None
    device_id: str | None = None
    type: Literal["trade"] = "trade"


@dataclass(frozen=True, slots=True)
class CustomerResponse:
    """The customer's answer to a notice (engine/notices.py). Its `response_id` doubles as
    the event id."""

    response_id: str
    customer_id: str
    occurred_at: datetime
    notice_id: str
    answer: Literal["confirm", "deny"]
    contact: Literal["current", "as_of"]
    """Through which contact the answer came: the current one, or the one registered at
    `contact_as_of`."""
    contact_as_of: datetime | None
    channel: Channel
    type: Literal["customer_response"] = "customer_response"

    @property
    def event_id(self) -> str:
        return self.response_id


@dataclass(frozen=True, slots=True)
class CaseDecision:
    """An operations decision. Its `decision_id` doubles as the event id."""

    decision_id: str
    customer_id: str
    occurred_at: datetime
    action: CaseAction
    actor: str
    withdrawal_id: str | None = None
    destination: Destination | None = None
    note: str | None = None
    # `suppress` (engine/suppressions.py): mute `reason_codes` for the customer from
    # `occurred_at` until `until`, made from case `case_id` by `actor`.
    suppression_id: str | None = None
    case_id: str | None = None
    reason_codes: tuple[str, ...] = ()
    until: datetime | None = None
    type: Literal["case_decision"] = "case_decision"

    @property
    def event_id(self) -> str:
        return self.decision_id


# Notices derived by the cross-customer stages and delivered to one customer's state.


@dataclass(frozen=True, slots=True)
class DestinationShared:
    """`destination_key` was set by several customers within the sharing window."""

    event_id: str
    customer_id: str
    occurred_at: datetime
    destination_key: str
    customers: tuple[str, ...]
    evidence_event_ids: tuple[str, ...]
    type: Literal["destination_shared"] = "destination_shared"


@dataclass(frozen=True, slots=True)
class DestinationFraud:
    """`destination_key` was confirmed fraudulent by a case decision (any customer)."""

    event_id: str
    customer_id: str
    occurred_at: datetime
    destination_key: str
    decision_id: str
    type: Literal["destination_fraud"] = "destination_fraud"


@dataclass(frozen=True, slots=True)
class IpFlagged:
    """`ip` attempted logins into `customers` (at least the threshold) within one window."""

    event_id: str
    customer_id: str
    occurred_at: datetime
    ip: str
    window_start: datetime
    window_end: datetime
    customers: tuple[str, ...]
    evidence_event_ids: tuple[str, ...]
    type: Literal["ip_flagged"] = "ip_flagged"


@dataclass(frozen=True, slots=True)
class DeviceFlagged:
    """`device` was seen on logins or account changes of `customers` (at least the
    threshold) within one window."""

    event_id: str
    customer_id: str
    occurred_at: datetime
    device: str
    window_start: datetime
    window_end: datetime
    customers: tuple[str, ...]
    evidence_event_ids: tuple[str, ...]
    type: Literal["device_flagged"] = "device_flagged"


InputEvent = Login | AccountChange | Withdrawal | CaseDecision | Trade | CustomerResponse
Notice = DestinationShared | DestinationFraud | IpFlagged | DeviceFlagged
CustomerEvent = InputEvent | Notice
