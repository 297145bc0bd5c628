"""What happens to cases without anyone acting: the detector's news (holds, alerts,
verdicts) opens or joins a customer's case, and time running out expires proposals and
suppressions. Event ids derive from the news itself, so reading the same message twice
(a worker killed and restarted) gives the same events, which the writer drops."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from withdrawguard.cases import events as ev
from withdrawguard.cases.case import Case
from withdrawguard.cases.events import FATES, SEVERITIES, SYSTEM, CaseEvent, Trigger
from withdrawguard.cases.four_eyes import expire
from withdrawguard.cases.inboxes import InboxBook
from withdrawguard.engine.outputs import Alert, HoldUpdate, Verdict
from withdrawguard.engine.timeutil import digest


def intake(
    cases: Iterable[Case], customer_id: str, news: Trigger, *, now: datetime, inboxes: InboxBook
) -> list[CaseEvent]:
    """The events `news` about `customer_id` writes, given the customer's cases.

    - It joins the open case, if there is one. A new hold on a case waiting on the
      customer resurfaces it: back to `open`, with a fresh due time.
    - News of a hold a case already has (released, confirmed) joins that case, even
      closed, so each hold's fate stays true.
    - Otherwise a hold, a critical alert, or an early alert (one about no withdrawal: a
      sell-off, while the money is still in the account) opens a new case (linked to
      the last, closed one): a closed case is never reopened by the detector, since
      reopening a confirmed-fraud case takes four eyes.
    - Anything else (a verdict, a lesser alert) with no open case is left alone.
    """
    mine = sorted(
        (c for c in cases if c.customer_id == customer_id), key=lambda c: (c.opened_at, c.case_id)
    )
    if news.kind == "hold":
        owner = next((c for c in mine if c.hold(news.ref_id) is not None), None)
        if owner is not None:
            return _join(owner, news, now)
    current = next((c for c in reversed(mine) if not c.closed), None)
    if current is not None:
        return _join(current, news, now)
    opens = (
        (news.kind == "hold" and news.hold_status in (None, "held"))
        or (news.kind == "alert" and news.severity == "critical")
        or (news.kind == "alert" and news.withdrawal_id is None)  # early: a sell-off
    )
    if not opens:
        return []
    inbox = inboxes.route(news)
    case_id = f"case-{digest(customer_id, news.key)[:16]}"
    return [
        ev.Opened(
            case_id=case_id,
            event_id=f"{case_id}:opened",
            actor=SYSTEM,
            at=now,
            customer_id=customer_id,
            inbox=inbox.name,
            sla_minutes=inbox.sla_minutes,
            due_at=now + timedelta(minutes=inbox.sla_minutes),
            trigger=news,
            previous_case_id=mine[-1].case_id if mine else None,
        )
    ]


def _join(case: Case, news: Trigger, now: datetime) -> list[CaseEvent]:
    if news.key in case.seen:
        return []
    new_hold = news.kind == "hold" and case.hold(news.ref_id) is None
    resurfaced = new_hold and case.status == "waiting_on_customer"
    return [
        ev.Joined(
            case_id=case.case_id,
            event_id=f"{case.case_id}:{digest(news.key)}",
            actor=SYSTEM,
            at=now,
            trigger=news,
            resurfaced=resurfaced,
            due_at=now + timedelta(minutes=case.sla_minutes) if resurfaced else None,
        )
    ]


def expire_due(case: Case, now: datetime) -> list[CaseEvent]:
    """Proposals and suppressions whose time is up at `now`, recorded as expired."""
    gone: list[CaseEvent] = list(expire(case, now))
    gone.extend(
        ev.SuppressionExpired(
            case_id=case.case_id,
            event_id=f"{s.suppression_id}:expired",
            actor=SYSTEM,
            at=now,
            suppression_id=s.suppression_id,
        )
        for s in case.suppressions
        if s.expired_at(now)
    )
    return gone


# ------------------------------------------------------------ from the engine's outputs


def hold_news(update: HoldUpdate, severity: str, channel: str | None = None) -> Trigger:
    """A hold update as case news; `severity` is its verdict's (a hold update has none)."""
    p = update.payload
    status = next((f for f in FATES if f == update.status), None)
    if status is None:
        raise ValueError(f"hold {p['hold_id']} has an unknown status {update.status!r}")
    return Trigger(
        kind="hold",
        ref_id=p["hold_id"],
        severity=_severity(severity),
        reason_codes=tuple(r["code"] for r in p["reasons"]),
        withdrawal_id=update.withdrawal_id,
        amount=Decimal(str(p["amount"])),
        currency=p["currency"],
        channel=channel,
        hold_status=status,
    )


def alert_news(alert: Alert, channel: str | None = None) -> Trigger:
    return Trigger(
        kind="alert",
        ref_id=alert.alert_id,
        severity=_severity(alert.severity),
        reason_codes=alert.rule_codes,
        withdrawal_id=alert.withdrawal_id,
        channel=channel,
    )


def verdict_news(verdict: Verdict, channel: str | None = None) -> Trigger:
    p = verdict.payload
    return Trigger(
        kind="verdict",
        ref_id=verdict.withdrawal_id,
        severity=_severity(p["severity"]),
        reason_codes=verdict.reason_codes,
        withdrawal_id=verdict.withdrawal_id,
        amount=Decimal(str(p["amount"])),
        currency=p["currency"],
        channel=channel,
    )


def _severity(text: str) -> ev.Severity:
    found = next((s for s in SEVERITIES if s == text), None)
    if found is None:
        raise ValueError(f"unknown severity {text!r}")
    return found
