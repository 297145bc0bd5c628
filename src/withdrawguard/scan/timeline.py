"""timelines.jsonl: what each flagged customer did in the days before a held withdrawal.

One line per flagged customer, customers by id: {"customer_id", "events": [{"event_id",
"type", "occurred_at", "summary", "evidence"}]}, the customer's own input events within
`WINDOW` before (and at) each of their held withdrawals, in event-time order, at most
`LIMIT` of them: when there are more, the events cited as evidence are kept first, then
the latest others. `summary` is a short text with account numbers masked; `evidence`
says whether a finding cites the event.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from withdrawguard.contract import wire
from withdrawguard.engine.events import (
    AccountChange,
    CaseDecision,
    CustomerEvent,
    CustomerResponse,
    Login,
    Trade,
    Withdrawal,
)
from withdrawguard.engine.policy import DAY
from withdrawguard.engine.timeutil import iso, to_ms
from withdrawguard.scan.spill import Spill

WINDOW = 7 * DAY
LIMIT = 200
_NO_LIMIT = 1 << 62  # the spill holds only validated events: no size check needed


def write_timelines(spill: Spill, path: Path) -> int:
    """Write the file; return the number of flagged customers."""
    customers = 0
    with path.open("wb") as fh:
        for customer_id, held in spill.held_by_customer():
            times: list[int] = []
            evidence: set[str] = set()
            for ts, body in held:
                times.append(ts)
                evidence.update(orjson.loads(body)["evidence_event_ids"])
            events = _select(_events(spill, customer_id, times), evidence)
            fh.write(orjson.dumps({"customer_id": customer_id, "events": events}) + b"\n")
            customers += 1
    return customers


def _windows(times: list[int]) -> Iterator[tuple[int, int]]:
    """[t - WINDOW, t] for every held withdrawal time, overlapping ones merged."""
    lo: int | None = None
    hi = 0
    for t in sorted(times):
        if lo is not None and t - WINDOW <= hi:
            hi = t
            continue
        if lo is not None:
            yield lo, hi
        lo, hi = t - WINDOW, t
    if lo is not None:
        yield lo, hi


def _events(spill: Spill, customer_id: str, times: list[int]) -> Iterator[CustomerEvent]:
    for lo, hi in _windows(times):
        for _ts, value in spill.inputs_between(customer_id, lo, hi):
            yield wire.decode_customer_event(value, _NO_LIMIT)


def _select(events: Iterator[CustomerEvent], evidence: set[str]) -> list[dict[str, Any]]:
    cited: list[tuple[int, dict[str, Any]]] = []
    others: deque[tuple[int, dict[str, Any]]] = deque(maxlen=LIMIT)
    for n, event in enumerate(events):
        is_evidence = event.event_id in evidence
        entry = {
            "event_id": event.event_id,
            "type": event.type,
            "occurred_at": iso(to_ms(event.occurred_at)),
            "summary": summary(event),
            "evidence": is_evidence,
        }
        if is_evidence and len(cited) < LIMIT:
            cited.append((n, entry))
        else:
            others.append((n, entry))
    room = LIMIT - len(cited)
    kept = cited + (list(others)[-room:] if room else [])
    return [entry for _, entry in sorted(kept, key=lambda item: item[0])]


def summary(event: CustomerEvent) -> str:
    """One line for people; account numbers cut to their last four characters."""
    if isinstance(event, Login):
        outcome = "login" if event.success else "failed login"
        device = f" on device {event.device_id}" if event.device_id else ""
        return f"{outcome} from {event.ip}{device}"
    if isinstance(event, AccountChange):
        how = f"via {event.channel}" + (" (verified)" if event.verified else "")
        if event.destination is not None and event.change_type == "withdrawal_destination":
            return f"withdrawal destination set to {event.destination.masked} {how}"
        return f"{event.change_type} changed {how}"
    if isinstance(event, CaseDecision):
        subject = event.withdrawal_id or (event.destination.masked if event.destination else "")
        return f"case decision {event.action} on {subject} by {event.actor}"
    if isinstance(event, Withdrawal):
        return (
            f"withdrawal {event.withdrawal_id} of {event.amount} {event.currency} "
            f"to {event.destination.masked}"
        )
    if isinstance(event, Trade):
        left = ""
        if event.holdings_value_after is not None:
            left = f", holdings then {event.holdings_value_after} {event.currency}"
        what = f"{event.side} {event.quantity} {event.instrument}"
        return f"{what} for {event.proceeds} {event.currency}{left}"
    if isinstance(event, CustomerResponse):
        through = "the current contact" if event.contact_as_of is None else "an earlier contact"
        return f"customer answered {event.answer} to notice {event.notice_id} via {through}"
    return event.type.replace("_", " ")
