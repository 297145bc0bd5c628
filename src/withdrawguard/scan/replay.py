"""One customer's history through the engine, the way the worker's `detect` agent does
it: decode the `customer-events` message, `Engine.apply` it to the customer's state,
take what comes out. Only the last verdict on each withdrawal is kept: the finding when
it is a hold, and with `every_verdict` (a backtest) a verdict line for every withdrawal.

An event the engine fails on is reported (once, in the observing pass) and skipped, as
the worker dead-letters it; the state goes on from wherever the engine left it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from withdrawguard.contract import wire
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.outputs import Verdict
from withdrawguard.engine.state import CustomerState
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.scan.spill import Spill

SETTLE_AT = 4096
"""Verdicts kept in memory per customer before the settled ones are written out."""

Failure = Callable[[str, bytes, Exception], None]


@dataclass
class Replayer:
    engine: Engine
    spill: Spill
    max_bytes: int
    on_failure: Failure
    every_verdict: bool = False

    def run(self, customer_id: str, values: Iterable[bytes], *, observe: bool) -> None:
        """Apply every event in order. With `observe`, the destination, IP and device
        observations go to the spill for the cross-customer pass."""
        state = CustomerState(customer_id)
        last: dict[str, tuple[Verdict, int, str]] = {}
        settle_at = SETTLE_AT
        engine, spill = self.engine, self.spill
        for value in values:
            try:
                event = wire.decode_customer_event(value, self.max_bytes)
                out = engine.apply(state, event)
            except Exception as exc:  # noqa: BLE001 - as the worker: one event's failure is reported, the rest go on
                if observe:
                    self.on_failure(customer_id, value, exc)
                continue
            for v in out.verdicts:
                known = last.get(v.withdrawal_id)
                if known is not None:
                    last[v.withdrawal_id] = (v, known[1], known[2])
                else:
                    last[v.withdrawal_id] = (v, *_where(state, v))
            if observe:
                for d in out.destinations:
                    spill.add_destination(d)
                for i in out.ips:
                    spill.add_ip(i)
                for dev in out.devices:
                    spill.add_device(dev)
            if len(last) >= settle_at:
                # A withdrawal the state no longer holds can get no further verdict.
                settled = [wid for wid in last if wid not in state.withdrawals]
                self._write(customer_id, {wid: last.pop(wid) for wid in settled})
                settle_at = max(SETTLE_AT, 2 * len(last))
        self._write(customer_id, last)

    def _write(self, customer_id: str, verdicts: dict[str, tuple[Verdict, int, str]]) -> None:
        for wid, (v, ts, event_id) in verdicts.items():
            held = v.decision == "hold"
            body = orjson.dumps(finding(v.payload, event_id)) if held else None
            line = orjson.dumps(verdict_line(v.payload)) if self.every_verdict else None
            self.spill.put_verdict(customer_id, wid, ts, held, body, line)


def _where(state: CustomerState, v: Verdict) -> tuple[int, str]:
    """(event time, event id) of the withdrawal a verdict is about."""
    rec = state.withdrawals.get(v.withdrawal_id)
    if rec is not None:
        return rec.ts, rec.event_id
    return to_ms(datetime.fromisoformat(v.payload["withdrawal_occurred_at"])), ""


def finding(payload: dict[str, Any], event_id: str) -> dict[str, Any]:
    """A held withdrawal as `findings.jsonl` gives it: the verdict payload's fields."""
    return {
        "customer_id": payload["customer_id"],
        "withdrawal_id": payload["withdrawal_id"],
        "event_id": event_id,
        "occurred_at": payload["withdrawal_occurred_at"],
        "amount": payload["amount"],
        "currency": payload["currency"],
        "destination": payload["destination"],
        "risk_score": payload["risk_score"],
        "severity": payload["severity"],
        "reasons": payload["reasons"],
        "evidence_event_ids": payload["evidence_event_ids"],
    }


def verdict_line(payload: dict[str, Any]) -> dict[str, Any]:
    """A withdrawal's last verdict as a backtest's `verdicts.jsonl` gives it."""
    return {
        "customer_id": payload["customer_id"],
        "withdrawal_id": payload["withdrawal_id"],
        "occurred_at": payload["withdrawal_occurred_at"],
        "amount": payload["amount"],
        "currency": payload["currency"],
        "decision": payload["decision"],
        "risk_score": payload["risk_score"],
        "reasons": [r["code"] for r in payload["reasons"]],
    }
