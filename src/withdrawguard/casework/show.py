"""Cases as text for the terminal (`withdrawguard cases list|show`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TextIO

from withdrawguard.cases import codec
from withdrawguard.cases.assignment import sla
from withdrawguard.cases.case import Case
from withdrawguard.cases.events import CaseEvent
from withdrawguard.cases.links import Link
from withdrawguard.cases.summary import Summary


def print_summaries(found: Sequence[Summary], now: datetime, out: TextIO) -> None:
    if not found:
        print("no cases", file=out)
        return
    for s in found:
        left = _left(s.due_at - now) if not s.closed else (s.outcome or "closed")
        print(
            f"{s.case_id}  {s.inbox:<18} {s.status:<20} {s.severity:<8} "
            f"{s.assignee or '-':<12} held {s.held}  proposals {s.proposals}  "
            f"{left}  customer {s.customer_id}",
            file=out,
        )


def print_case(case: Case, events: Sequence[CaseEvent], now: datetime, out: TextIO) -> None:
    due = sla(case, now)
    print(f"case {case.case_id} (version {case.version}), customer {case.customer_id}", file=out)
    print(f"  inbox {case.inbox}, status {case.status}, severity {case.severity}", file=out)
    print(f"  assignee {case.assignee or '-'}, outcome {case.outcome or '-'}", file=out)
    breached = " (SLA breached)" if due.breached else ""
    left = "closed" if case.closed else _left(due.left)
    print(f"  due {case.due_at.isoformat()}: {left}{breached}", file=out)
    print(f"  reasons {', '.join(case.reason_codes) or '-'}", file=out)
    for h in case.holds:
        print(
            f"  hold {h.hold_id}: {h.amount} {h.currency}, {h.fate} "
            f"(withdrawal {h.withdrawal_id or '-'})",
            file=out,
        )
    for p in case.proposals:
        what = f"release {p.hold_id}" if p.action == "release" else "reopen"
        print(
            f"  proposal {p.proposal_id}: {what} by {p.proposer}, expires "
            f"{p.expires_at.isoformat()}: {p.note}",
            file=out,
        )
    for s in case.suppressions:
        print(
            f"  suppression {s.suppression_id}: {', '.join(s.reason_codes)} until {s.until}",
            file=out,
        )
    print("events:", file=out)
    for e in events:
        body = codec.encode(e)
        note = f": {body['note']}" if body.get("note") else ""
        print(f"  {body['at']}  {e.actor:<12} {e.kind}{note}", file=out)


def print_links(links: Sequence[Link], out: TextIO) -> None:
    """Other customers sharing a destination, an IP or a device, with their case."""
    print("links:" if links else "links: none within the windows", file=out)
    for x in links:
        case = f"{x.case_id} {x.case_status}" if x.case_id else "no case"
        seen = x.last_seen.isoformat().replace("+00:00", "Z")
        print(f"  {x.kind:<11} {x.shown}  {x.customer_id}  last seen {seen}  {case}", file=out)


def _left(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    return f"{sign}{seconds // 3600}h{seconds % 3600 // 60:02d}m left"
