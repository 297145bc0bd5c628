"""The oracle: what must come out, from the pure engine run over the same input.

`withdrawguard scan` (scan/driver.py) runs `Engine` and `CrossReference` exactly as the
worker's agents do, over the load given as a `Source`; its findings are the withdrawals
whose last verdict is hold, with their reasons. Every other withdrawal of the load is
allowed. The scan also validates each message as the worker's ingest does, so a message
the worker dead-letters is one the oracle leaves out (the test says which).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from tests.faults.load import Load
from withdrawguard.contract.topics import INPUT_EVENT_TYPES
from withdrawguard.engine.policy import load_policy
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.sources import Record
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s


@dataclass(frozen=True)
class Expected:
    decision: str
    codes: frozenset[str]
    """Reason codes of a hold (LATE_EVIDENCE and RELEASED aside); empty for an allow."""


class MessageSource:
    """The load's messages as a scan source (the Source protocol of scan/sources.py)."""

    def __init__(self, messages: list[s.Message]) -> None:
        self.messages = messages
        self.names = ["fault-load"]
        self.total: int | None = len(messages)
        self._at = 0

    def open(self) -> None:
        """Nothing to open: the messages are in memory."""

    def position(self) -> int:
        return self._at

    def __iter__(self) -> Iterator[Record]:
        for i, (topic, body) in enumerate(self.messages):
            self._at = i + 1
            yield Record(topic, i + 1, INPUT_EVENT_TYPES[topic], orjson.dumps(body))


def expected_verdicts(
    load: Load, settings: Settings, work_dir: Path, now: datetime, leave_out: frozenset[str]
) -> dict[str, Expected]:
    """withdrawal id -> the oracle's final verdict; messages whose event id is in
    `leave_out` are not part of the input (the worker dead-letters them)."""
    messages = [m for m in load.messages if m[1].get("event_id") not in leave_out]
    options = ScanOptions(
        out_dir=work_dir,
        policy=load_policy(settings.policy_file),
        max_message_bytes=settings.max_message_bytes,
        max_clock_skew=settings.max_clock_skew,
        now=now,
    )
    summary = scan(MessageSource(messages), options)
    assert summary["events"]["rejected"] == 0, f"the oracle refused input: {work_dir}"
    held: dict[str, Expected] = {}
    for line in (work_dir / "findings.jsonl").read_bytes().splitlines():
        f = orjson.loads(line)
        held[f["withdrawal_id"]] = Expected("hold", rule_codes(f["reasons"]))
    wanted = {b["withdrawal_id"] for _, b in messages if "withdrawal_id" in b and "amount" in b}
    return {wid: held.get(wid, Expected("allow", frozenset())) for wid in wanted}


def rule_codes(reasons: list[dict[str, object]]) -> frozenset[str]:
    """A verdict's reason codes without the two that record history, not evidence."""
    return frozenset(str(r["code"]) for r in reasons) - {"LATE_EVIDENCE", "RELEASED"}
