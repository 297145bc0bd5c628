"""The scan's files: findings.jsonl, findings.csv, summary.json, timelines.jsonl and
rejected.jsonl. Their formats are an interface (the report and the benchmark read them).

- findings.jsonl: one held withdrawal per line, by `occurred_at` then `withdrawal_id`:
  customer_id, withdrawal_id, event_id, occurred_at, amount, currency, destination
  (masked), risk_score, severity, reasons [{code, detail, weight}], evidence_event_ids.
- findings.csv: the same columns; reasons as codes and evidence ids joined by ";".
- summary.json: see `write_outputs`.
- timelines.jsonl: see `withdrawguard.scan.timeline`.
- rejected.jsonl: {source, line, error, raw (the first KiB)} per record not accepted.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from withdrawguard.engine.timeutil import iso
from withdrawguard.scan.report import write_report
from withdrawguard.scan.spill import Spill
from withdrawguard.scan.timeline import write_timelines

RAW_LIMIT = 1024
CSV_COLUMNS = (
    "customer_id",
    "withdrawal_id",
    "event_id",
    "occurred_at",
    "amount",
    "currency",
    "destination",
    "risk_score",
    "severity",
    "reasons",
    "evidence_event_ids",
)


class RejectLog:
    """rejected.jsonl, written as the records are read (`append`: after what is there)."""

    def __init__(self, path: Path, *, append: bool = False) -> None:
        self.path = path
        self.mode = "ab" if append else "wb"
        self._fh: IO[bytes] | None = None

    def __enter__(self) -> RejectLog:
        self._fh = self.path.open(self.mode)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def add(self, source: str, line: int, error: str, raw: bytes) -> None:
        assert self._fh is not None
        text = raw[:RAW_LIMIT].decode("utf-8", "replace")
        record = {"source": source, "line": line, "error": error, "raw": text}
        self._fh.write(orjson.dumps(record) + b"\n")


class _Money:
    """Amounts per currency, summed exactly."""

    def __init__(self) -> None:
        self.count = 0
        self.amount: dict[str, Decimal] = {}

    def add(self, currency: str, amount: str) -> None:
        self.count += 1
        self.amount[currency] = self.amount.get(currency, Decimal(0)) + Decimal(amount)

    def by_currency(self) -> dict[str, str]:
        return {c: format(a, "f") for c, a in sorted(self.amount.items())}

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "amount": self.by_currency()}


def write_outputs(
    spill: Spill,
    out_dir: Path,
    header: dict[str, Any],
    span: tuple[int | None, int | None],
    elapsed: Callable[[], float],
) -> dict[str, Any]:
    """Write every output file but rejected.jsonl; return the summary.

    summary.json: policy {source, version}, inputs, events {read, valid, rejected,
    by_type}, customers, withdrawals, held, first_event_at, last_event_at,
    amount_at_risk {currency: decimal string}, by_reason {code: {count, amount}},
    by_month {YYYY-MM: {count, amount}}, flagged_customers, elapsed_seconds,
    events_per_second.
    """
    total = _Money()
    by_reason: dict[str, _Money] = {}
    by_month: dict[str, _Money] = {}
    with (
        (out_dir / "findings.jsonl").open("wb") as jsonl,
        (out_dir / "findings.csv").open("w", encoding="utf-8", newline="") as csv_file,
    ):
        rows = csv.writer(csv_file)
        rows.writerow(CSV_COLUMNS)
        for body in spill.findings():
            jsonl.write(body + b"\n")
            f = orjson.loads(body)
            rows.writerow(_csv_row(f))
            currency, amount = f["currency"], f["amount"]
            total.add(currency, amount)
            for code in dict.fromkeys(r["code"] for r in f["reasons"]):
                by_reason.setdefault(code, _Money()).add(currency, amount)
            by_month.setdefault(f["occurred_at"][:7], _Money()).add(currency, amount)
    flagged = write_timelines(spill, out_dir / "timelines.jsonl")
    first, last = span
    seconds = elapsed()
    summary = {
        **header,
        "withdrawals": spill.withdrawal_count(),
        "held": total.count,
        "first_event_at": None if first is None else iso(first),
        "last_event_at": None if last is None else iso(last),
        "amount_at_risk": total.by_currency(),
        "by_reason": {code: m.as_dict() for code, m in sorted(by_reason.items())},
        "by_month": {month: m.as_dict() for month, m in sorted(by_month.items())},
        "flagged_customers": flagged,
        "elapsed_seconds": round(seconds, 3),
        "events_per_second": round(header["events"]["read"] / seconds, 1) if seconds > 0 else 0.0,
    }
    (out_dir / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    write_report(out_dir, summary)
    return summary


def _csv_row(f: dict[str, Any]) -> list[Any]:
    row = dict(f)
    row["reasons"] = ";".join(r["code"] for r in f["reasons"])
    row["evidence_event_ids"] = ";".join(f["evidence_event_ids"])
    return [row[c] for c in CSV_COLUMNS]
