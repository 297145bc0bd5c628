"""A backtest: one history decided by the same engine under two policies, the candidate
(`--policy`) and the baseline (`--against`), and every withdrawal whose verdict differs.

The history is read and validated once, into one spill; each policy then runs the
scan's detect, cross-reference and re-check passes over it (`driver.detect`), so both
see exactly the same events, even on Kafka topics still being written to. Output:

- `candidate/`, `baseline/`: each run's usual scan files, plus `verdicts.jsonl`: every
  withdrawal's last verdict (customer_id, withdrawal_id, occurred_at, amount, currency,
  decision, risk_score, reasons [codes]), by customer id then withdrawal id;
- `differences.jsonl`, `differences.csv`: see `scan.compare`;
- `backtest.json`: see `run`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import orjson

from withdrawguard.scan.compare import SIDES, compare
from withdrawguard.scan.driver import Counts, ScanOptions, detect, ingest, summarize
from withdrawguard.scan.output import RejectLog
from withdrawguard.scan.policy_spec import ChosenPolicy

__all__ = ["OUTPUT_FILES", "ChosenPolicy", "run"]
from withdrawguard.progress import Progress
from withdrawguard.scan.quality_table import assess_runs
from withdrawguard.scan.sources import Source
from withdrawguard.scan.spill import Spill

OUTPUT_FILES = ("differences.jsonl", "differences.csv", "backtest.json")
VERDICTS = "verdicts.jsonl"


def run(
    source: Source,
    policies: dict[str, ChosenPolicy],
    options: ScanOptions,
    labels: list[dict[str, Any]] | None = None,
    progress: Progress | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Run the backtest; write its files; return backtest.json's content:

    candidate, baseline {spec, policy (in words), id, detector_version, held, summary
    (the run's summary.json)}, inputs, withdrawals, differ, newly_held and newly_allowed
    {count, amount {currency: decimal string}}, decided_once, reasons_changed, by_reason
    {code: {newly_held, newly_allowed}} (the candidate's reasons for a newly held
    withdrawal, the baseline's for a newly allowed one), quality {candidate, baseline}
    (with labels; else null), elapsed_seconds.
    """
    started = clock()
    show = progress or Progress(None)
    source.open()
    out = options.out_dir
    for side in SIDES:
        (out / side).mkdir(parents=True, exist_ok=True)
    spill = Spill(options.tmp_dir or out)
    runs: dict[str, dict[str, Any]] = {}
    try:
        first = out / SIDES[0] / "rejected.jsonl"
        with RejectLog(first) as rejects:
            counts = ingest(source, spill, rejects, options, show)
        for side in SIDES[1:]:
            shutil.copyfile(first, out / side / "rejected.jsonl")
        read_for = clock() - started
        for side in SIDES:
            began = clock()

            def elapsed(began: float = began) -> float:
                return read_for + clock() - began  # each run: the shared read, then its own

            chosen = policies[side]
            runs[side] = _decide(spill, side, chosen, counts, source, options, show, elapsed)
    finally:
        spill.close()
    tally = compare(out / "candidate" / VERDICTS, out / "baseline" / VERDICTS, out)
    result: dict[str, Any] = {}
    for side in SIDES:
        chosen, summary = policies[side], runs[side]["summary"]
        result[side] = {
            "spec": chosen.spec,
            "policy": chosen.described,
            "id": chosen.id,
            "detector_version": summary["policy"]["version"],
            "held": summary["held"],
            "summary": summary,
        }
    result["inputs"] = list(source.names)
    result |= tally.as_dict()
    runs_verdicts = {side: out / side / VERDICTS for side in SIDES}
    result["quality"] = None if labels is None else assess_runs(labels, runs_verdicts)
    result["elapsed_seconds"] = round(clock() - started, 3)
    (out / "backtest.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


def _decide(
    spill: Spill,
    side: str,
    chosen: ChosenPolicy,
    counts: Counts,
    source: Source,
    options: ScanOptions,
    show: Progress,
    elapsed: Callable[[], float],
) -> dict[str, Any]:
    """One policy's run over the spilled history: its scan files and verdicts.jsonl."""
    if show.stream is not None:
        show.stream.write(f"{side}: {chosen.described} (policy {chosen.id})\n")
    mine = replace(counts, by_type=dict(counts.by_type))
    side_dir = options.out_dir / side
    with RejectLog(side_dir / "rejected.jsonl", append=True) as rejects:
        engine = detect(spill, mine, chosen.policy, options, rejects, show, every_verdict=True)
    summary = summarize(spill, engine, source, mine, side_dir, elapsed)
    with (side_dir / VERDICTS).open("wb") as fh:
        for line in spill.verdict_lines():
            fh.write(line + b"\n")
    spill.reset_detection()
    return {"summary": summary}
