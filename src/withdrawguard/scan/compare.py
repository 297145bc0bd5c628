"""The withdrawals whose verdict two policies disagree on, from the two runs'
`verdicts.jsonl` (each sorted by customer id then withdrawal id), merged line by line so
memory stays bounded whatever the history's size.

A withdrawal differs when its final decision differs (hold under one policy, allow under
the other). Held under both with different reason codes is not a difference: it is
counted (`reasons_changed`), not listed.

- differences.jsonl: one line per withdrawal that differs, by customer id then
  withdrawal id: customer_id, withdrawal_id, occurred_at, amount, currency, change
  (`newly_held`: the candidate holds it and the baseline does not; `newly_allowed`: the
  other way round; `decided_once`: allowed by the one run that decided it, the engine
  having failed on it under the other policy), candidate and baseline {decision,
  risk_score, reasons [codes]} (decision null for a run that did not decide it).
- differences.csv: the same, one column per field (`candidate_reasons` joined by ";").
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

SIDES = ("candidate", "baseline")
CSV_COLUMNS = (
    "customer_id",
    "withdrawal_id",
    "occurred_at",
    "amount",
    "currency",
    "change",
    "candidate_decision",
    "candidate_risk_score",
    "candidate_reasons",
    "baseline_decision",
    "baseline_risk_score",
    "baseline_reasons",
)


@dataclass
class Tally:
    """What the comparison counted (for backtest.json)."""

    withdrawals: int = 0
    differ: int = 0
    reasons_changed: int = 0
    held: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIDES, 0))
    changes: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    """change -> currency -> amount."""
    counts: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, change: str, line: dict[str, Any], reasons: list[str]) -> None:
        self.differ += 1
        self.counts[change] = self.counts.get(change, 0) + 1
        money = self.changes.setdefault(change, {})
        money[line["currency"]] = money.get(line["currency"], Decimal(0)) + Decimal(line["amount"])
        for code in dict.fromkeys(reasons):
            per = self.by_reason.setdefault(code, {"newly_held": 0, "newly_allowed": 0})
            per[change] = per.get(change, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        def change(name: str) -> dict[str, Any]:
            money = self.changes.get(name, {})
            amounts = {c: format(a, "f") for c, a in sorted(money.items())}
            return {"count": self.counts.get(name, 0), "amount": amounts}

        return {
            "withdrawals": self.withdrawals,
            "held": dict(self.held),
            "differ": self.differ,
            "newly_held": change("newly_held"),
            "newly_allowed": change("newly_allowed"),
            "decided_once": self.counts.get("decided_once", 0),
            "reasons_changed": self.reasons_changed,
            "by_reason": dict(sorted(self.by_reason.items())),
        }


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as fh:
        for raw in fh:
            yield orjson.loads(raw)


def _key(line: dict[str, Any] | None) -> tuple[str, str] | None:
    return None if line is None else (line["customer_id"], line["withdrawal_id"])


def pairs(
    candidate: Path, baseline: Path
) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """(candidate line, baseline line) per withdrawal; None where a run lacks it."""
    a, b = _lines(candidate), _lines(baseline)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:
        kx, ky = _key(x), _key(y)
        if ky is None or (kx is not None and kx < ky):
            yield x, None
            x = next(a, None)
        elif kx is None or ky < kx:
            yield None, y
            y = next(b, None)
        else:
            yield x, y
            x, y = next(a, None), next(b, None)


def compare(candidate: Path, baseline: Path, out_dir: Path) -> Tally:
    """Write differences.jsonl and differences.csv into `out_dir`; return the counts."""
    tally = Tally()
    with (
        (out_dir / "differences.jsonl").open("wb") as jsonl,
        (out_dir / "differences.csv").open("w", encoding="utf-8", newline="") as csv_file,
    ):
        rows = csv.writer(csv_file)
        rows.writerow(CSV_COLUMNS)
        for c, b in pairs(candidate, baseline):
            tally.withdrawals += 1
            c_hold = c is not None and c["decision"] == "hold"
            b_hold = b is not None and b["decision"] == "hold"
            tally.held["candidate"] += c_hold
            tally.held["baseline"] += b_hold
            if c_hold and b_hold:
                assert c is not None and b is not None
                tally.reasons_changed += set(c["reasons"]) != set(b["reasons"])
                continue
            if c is not None and b is not None and c_hold == b_hold:
                continue
            line = c if c is not None else b
            assert line is not None
            if c_hold:
                change, reasons = "newly_held", line["reasons"]
            elif b_hold:
                assert b is not None
                change, reasons = "newly_allowed", b["reasons"]
            else:  # allowed by the one run that decided it
                change, reasons = "decided_once", []
            tally.add(change, line, reasons)
            record = _difference(line, change, c, b)
            jsonl.write(orjson.dumps(record) + b"\n")
            rows.writerow(_csv_row(record))
    return tally


def _side(line: dict[str, Any] | None) -> dict[str, Any]:
    if line is None:
        return {"decision": None, "risk_score": None, "reasons": []}
    return {k: line[k] for k in ("decision", "risk_score", "reasons")}


def _difference(
    line: dict[str, Any], change: str, c: dict[str, Any] | None, b: dict[str, Any] | None
) -> dict[str, Any]:
    record = {k: line[k] for k in ("customer_id", "withdrawal_id", "occurred_at", "amount")}
    return {**record, "currency": line["currency"], "change": change} | {
        "candidate": _side(c),
        "baseline": _side(b),
    }


def _csv_row(d: dict[str, Any]) -> list[Any]:
    row = {k: d[k] for k in CSV_COLUMNS[:6]}
    for side in SIDES:
        row[f"{side}_decision"] = d[side]["decision"] or ""
        score = d[side]["risk_score"]
        row[f"{side}_risk_score"] = "" if score is None else score
        row[f"{side}_reasons"] = ";".join(d[side]["reasons"])
    return [row[c] for c in CSV_COLUMNS]
