"""Hand-written scenarios in the wire contract: the 2020 chain, and an honest customer.

Each scenario is a list of `(topic, payload)` in event-time order; the payloads are
exactly what a producer would send. Tests, the demo and the docs use them.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

Message = tuple[str, dict[str, Any]]

HOME_DEST = {"bank_code": "0005", "branch_code": "101", "account_number": "1234567"}
MULE_DEST = {
    "bank_code": "0009",
    "branch_code": "222",
    "account_number": "7654321",
    "holder_name": "YAMADA TARO",
}


def _t(at: datetime) -> str:
    return at.isoformat()


HOME_DEVICE = "home"
"""`login(device=HOME_DEVICE)` (the default): the customer's own device, `home_device`."""


def home_device(cid: str) -> str:
    """A customer's long-standing device: one per customer, as a device id names one
    device (one id on many customers' logins is a device farm: DEVICE_SHARED)."""
    return f"dev-home-{cid}"


def attacker_device(cid: str) -> str:
    """The device the 2020 chain against `cid` comes from: one per attack, so attacks in
    one test run share no device unless a test makes them."""
    return f"dev-x-{cid}"


def home_ip(cid: str) -> str:
    """A stable per-customer home address (documentation range 203.0.113.0/24 is too
    small: customers sharing it would look like one credential-stuffing source)."""
    h = hashlib.sha256(cid.encode()).digest()
    return f"100.{64 + h[0] % 64}.{h[1]}.{1 + h[2] % 254}"


def login(
    cid: str,
    eid: str,
    at: datetime,
    *,
    success: bool = True,
    ip: str | None = None,
    device: str | None = HOME_DEVICE,
    country: str | None = None,
) -> Message:
    ip = ip or home_ip(cid)
    device = home_device(cid) if device == HOME_DEVICE else device
    body: dict[str, Any] = {
        "event_id": eid,
        "type": "login",
        "customer_id": cid,
        "occurred_at": _t(at),
        "success": success,
        "ip": ip,
    }
    if device is not None:
        body["device_id"] = device
    if country is not None:
        body["country"] = country
    return "logins", body


def change(
    cid: str,
    eid: str,
    at: datetime,
    change_type: str,
    channel: str = "web",
    *,
    ip: str | None = None,
    device: str | None = None,
    destination: dict[str, str] | None = None,
    verified: bool = False,
) -> Message:
    body: dict[str, Any] = {
        "event_id": eid,
        "type": "account_change",
        "customer_id": cid,
        "occurred_at": _t(at),
        "change_type": change_type,
        "channel": channel,
        "verified": verified,
    }
    if ip is not None:
        body["ip"] = ip
    if device is not None:
        body["device_id"] = device
    if destination is not None:
        body["destination"] = destination
    return "account-changes", body


def withdrawal(
    cid: str,
    eid: str,
    at: datetime,
    wid: str,
    amount: str,
    *,
    destination: dict[str, str],
    balance: str | None = None,
    ip: str | None = None,
    device: str | None = None,
    currency: str = "JPY",
) -> Message:
    body: dict[str, Any] = {
        "event_id": eid,
        "type": "withdrawal",
        "customer_id": cid,
        "occurred_at": _t(at),
        "withdrawal_id": wid,
        "amount": amount,
        "currency": currency,
        "destination": destination,
        "channel": "web",
    }
    if balance is not None:
        body["available_balance"] = balance
    if ip is not None:
        body["ip"] = ip
    if device is not None:
        body["device_id"] = device
    return "withdrawals", body


def trade(
    cid: str,
    eid: str,
    at: datetime,
    proceeds: str,
    *,
    side: str = "sell",
    quantity: str = "100",
    price: str | None = None,
    holdings_after: str | None = None,
    instrument: str = "JP3633400001",
    channel: str | None = "web",
    ip: str | None = None,
    device: str | None = None,
) -> Message:
    """An execution: `proceeds` for `quantity` units at `price` (default: proceeds over
    quantity) each."""
    body: dict[str, Any] = {
        "type": "trade",
        "event_id": eid,
        "customer_id": cid,
        "occurred_at": _t(at),
        "side": side,
        "instrument": instrument,
        "quantity": quantity,
        "price": price or str(Decimal(proceeds) / Decimal(quantity)),
        "proceeds": proceeds,
        "currency": "JPY",
    }
    for name, value in (
        ("holdings_value_after", holdings_after),
        ("channel", channel),
        ("ip", ip),
        ("device_id", device),
    ):
        if value is not None:
            body[name] = value
    return "trades", body


def case(
    cid: str,
    decision_id: str,
    at: datetime,
    action: str,
    *,
    actor: str = "analyst-1",
    withdrawal_id: str | None = None,
    destination: dict[str, str] | None = None,
    note: str = "checked with the customer by phone",
) -> Message:
    body: dict[str, Any] = {
        "decision_id": decision_id,
        "customer_id": cid,
        "occurred_at": _t(at),
        "action": action,
        "actor": actor,
        "note": note,
    }
    if withdrawal_id is not None:
        body["withdrawal_id"] = withdrawal_id
    if destination is not None:
        body["destination"] = destination
    return "case-decisions", body


def suppress(
    cid: str,
    suppression_id: str,
    at: datetime,
    reason_codes: tuple[str, ...],
    until: datetime,
    *,
    case_id: str = "case-1",
    actor: str = "analyst-1",
    note: str = "new phone confirmed by call-back",
) -> Message:
    """A `suppress` case decision, as the case service sends it (docs/contract.md)."""
    body: dict[str, Any] = {
        "type": "case_decision",
        "decision_id": f"{suppression_id}:suppress",
        "customer_id": cid,
        "occurred_at": _t(at),
        "action": "suppress",
        "actor": actor,
        "suppression_id": suppression_id,
        "case_id": case_id,
        "reason_codes": list(reason_codes),
        "until": _t(until),
        "note": note,
    }
    return "case-decisions", body


def honest_history(cid: str, now: datetime, tag: str = "") -> list[Message]:
    """Sixty days of a long-standing customer: home device, home network, one withdrawal."""
    p = f"{cid}{tag}"
    msgs = [login(cid, f"{p}-l{i}", now - timedelta(days=60 - i * 10)) for i in range(6)]
    msgs.append(
        withdrawal(
            cid,
            f"{p}-w0",
            now - timedelta(days=20),
            f"{p}-wd0",
            "100000",
            destination=HOME_DEST,
            balance="10000000",
            ip=home_ip(cid),
            device=home_device(cid),
        )
    )
    return msgs


def sbi_chain(
    cid: str,
    at: datetime,
    destination: dict[str, str] | None = None,
    attacker_ip: str = "198.51.100.7",
) -> list[Message]:
    """The 2020 chain against a customer with an honest history: failed-login burst,
    login from a new device, email change, web change of destination, and a withdrawal
    of 95% of the balance."""
    dest = destination or MULE_DEST
    net: dict[str, Any] = {"ip": attacker_ip, "device": attacker_device(cid)}
    msgs = honest_history(cid, at)
    msgs += [
        login(cid, f"{cid}-f{i}", at + timedelta(minutes=i), success=False, **net) for i in range(6)
    ]
    msgs += [
        login(cid, f"{cid}-l-attack", at + timedelta(minutes=8), **net),
        change(cid, f"{cid}-c-email", at + timedelta(minutes=10), "email", **net),
        change(
            cid,
            f"{cid}-c-dest",
            at + timedelta(minutes=15),
            "withdrawal_destination",
            destination=dest,
            **net,
        ),
        withdrawal(
            cid,
            f"{cid}-w-attack",
            at + timedelta(minutes=25),
            f"{cid}-wd-attack",
            "9500000",
            destination=dest,
            balance="10000000",
            **net,
        ),
    ]
    return msgs


def honest_withdrawal(cid: str, at: datetime) -> list[Message]:
    """A long-standing customer withdrawing to the long-standing destination from home."""
    msgs = honest_history(cid, at)
    msgs += [
        login(cid, f"{cid}-l-today", at),
        withdrawal(
            cid,
            f"{cid}-w-today",
            at + timedelta(minutes=5),
            f"{cid}-wd-today",
            "120000",
            destination=HOME_DEST,
            balance="9900000",
            ip=home_ip(cid),
            device=home_device(cid),
        ),
    ]
    return msgs
