"""What a notification says: built from a fraud-alert payload (`Alert.to_wire`), for people.

What happened, to whom (customer id, masked destination), how much, why (reason codes in
words) and a link to the customer in the console. Channels turn a `Message` into their own
format (JSON, Block Kit, PagerDuty payload, e-mail parts); nothing here does I/O.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from withdrawguard.engine.policy import SEVERITIES

# The headings of docs/policy.md (tests/unit/test_notify_render.py keeps them in step).
REASON_WORDS: dict[str, str] = {
    "DEST_CHANGED_RECENTLY": "withdrawal to a freshly set destination",
    "NEW_DEVICE": "acting from a device or network new to the customer",
    "FAILED_LOGIN_BURST": "a guessing burst before the login that acted",
    "CREDENTIAL_CHANGE_CHAIN": "credentials changed just before",
    "DESTINATION_SHARED": "several customers set the same destination",
    "SOURCE_IP_SHARED": "acting from an IP that tried many customers",
    "DEVICE_SHARED": "acting from a device that signed in to many customers",
    "DRAIN": "emptying the account",
    "WITHDRAWAL_BURST": "many withdrawals right after a destination change",
    "LIQUIDATION": "most of the holdings sold soon after a takeover's first steps",
    "CONFIRMED_FRAUD_DESTINATION": "a destination confirmed fraudulent",
    "LATE_EVIDENCE": "escalated by evidence that came later",
    "RELEASED": "a person released the hold",
    "CUSTOMER_DENIED": "the customer denied a credential change",
    "CONFIRMATION_NOT_COUNTED": "a confirmation through the wrong contact",
}
_DIGITS = re.compile(r"\d{5,}")


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    severity: str
    headline: str
    """What happened, in one or two sentences."""
    fields: tuple[tuple[str, str], ...]
    reasons: tuple[tuple[str, str], ...]
    """(code, words) for every reason code."""
    link: str
    footer: str

    def text(self) -> str:
        lines = [self.title, "", self.headline, ""]
        lines += [f"{label}: {value}" for label, value in self.fields]
        if self.reasons:
            lines += ["", "Why:"] + [f"  - {words} ({code})" for code, words in self.reasons]
        if self.link:
            lines += ["", f"Open in the console: {self.link}"]
        lines += ["", self.footer]
        return "\n".join(lines) + "\n"

    def html(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><th align='left'>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in self.fields
        )
        why = "".join(f"<li>{e(w)} (<code>{e(c)}</code>)</li>" for c, w in self.reasons)
        return (
            f"<html><body><h2>{e(self.title)}</h2><p>{e(self.headline)}</p>"
            f"<table>{rows}</table>"
            + (f"<p>Why:</p><ul>{why}</ul>" if why else "")
            + (
                f"<p><a href='{e(self.link)}'>Open the customer in the console</a></p>"
                if self.link
                else ""
            )
            + f"<p><small>{e(self.footer)}</small></p></body></html>"
        )


def console_link(console_url: str, customer_id: str) -> str:
    return f"{console_url.rstrip('/')}/customers/{quote(customer_id, safe='')}"


def masked(destination: Any) -> str:
    """A destination as people may see it: the engine's masked form, or masked here when a
    payload ever carried more (only the last four characters of an account number)."""
    if isinstance(destination, dict):
        account = str(destination.get("account_number", ""))
        bank = destination.get("bank_code", "?")
        return f"bank {bank} acct ****{account[-4:]}"
    text = str(destination or "unknown")
    return _DIGITS.sub(lambda m: "****" + m.group()[-4:], text) if "****" not in text else text


def amount(value: Any, currency: str) -> str:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return f"{value} {currency}".strip()
    return f"{number:,f} {currency}".strip()


def reasons(codes: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple((c, REASON_WORDS.get(c, c.lower().replace("_", " "))) for c in codes)


def render_alert(alert: dict[str, Any], console_url: str) -> Message:
    cid = str(alert.get("customer_id", ""))
    severity = str(alert.get("severity", "unknown"))
    wd = _withdrawal_evidence(alert)
    money = amount(wd.get("amount"), str(wd.get("currency", ""))) if wd else "unknown"
    dest = masked(wd.get("destination")) if wd else "unknown"
    summary = str(alert.get("summary", ""))
    held = " was held" in summary
    what = "Withdrawal held" if held else "Suspicious withdrawal"
    fields = (
        ("Customer", cid),
        ("Amount", money),
        ("Destination", dest),
        ("Withdrawal", str(alert.get("withdrawal_id") or "-")),
        ("Risk score", str(alert.get("risk_score", "-"))),
        ("Severity", severity),
        ("When", str(alert.get("created_at", "-"))),
    )
    return Message(
        title=f"[{severity.upper()}] {what}: {money} by customer {cid}",
        severity=severity,
        headline=summary or what,
        fields=fields,
        reasons=reasons([str(c) for c in alert.get("rule_codes", [])]),
        link=console_link(console_url, cid),
        footer=f"withdrawguard alert {alert.get('alert_id', '?')}",
    )


def render_digest(alerts: Sequence[dict[str, Any]], channel: str, per_minute: int) -> Message:
    """The message standing in for alerts a channel's rate limit held back."""
    worst = max((str(a.get("severity", "low")) for a in alerts), key=_rank)
    customers = sorted({str(a.get("customer_id", "")) for a in alerts})
    shown = ", ".join(customers[:10]) + (
        f" and {len(customers) - 10} more" if len(customers) > 10 else ""
    )
    return Message(
        title=f"[{worst.upper()}] and {len(alerts)} more alerts",
        severity=worst,
        headline=(
            f"and {len(alerts)} more alerts: channel {channel} sends at most {per_minute} a "
            f"minute; these were held back. Customers: {shown}."
        ),
        fields=(("Alerts", str(len(alerts))), ("Most severe", worst)),
        reasons=(),
        link="",
        footer="withdrawguard digest: " + ", ".join(str(a.get("alert_id")) for a in alerts[:20]),
    )


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _withdrawal_evidence(alert: dict[str, Any]) -> dict[str, Any]:
    wid = alert.get("withdrawal_id")
    found: dict[str, Any] = {}
    for item in alert.get("evidence", []):
        if isinstance(item, dict) and item.get("type") == "withdrawal":
            found = item
            if item.get("withdrawal_id") == wid:
                break
    return found
