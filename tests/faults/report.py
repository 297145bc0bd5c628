"""The fault suite's figures as the table of docs/reliability.md.

    python -m tests.faults.report [results.jsonl]

Reads what the fault tests appended to `.local/faults/results.jsonl` (one line per run)
and prints one row per fault, load size and standby replica count (WG_TABLE_STANDBY_REPLICAS,
named when not 0): runs, events, withdrawals and holds, verdicts lost, repeated records
(identical; conflicting), recovery times (fault to lag zero), and the longest gap between
two verdicts a client saw during a fault.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.faults.invariants import RESULTS


def table(rows: list[dict[str, Any]]) -> str:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        standbys = row.get("standby_replicas", 0)  # rows before the setting: none
        fault = row["fault"] + (f" (standby {standbys})" if standbys else "")
        groups[(fault, row["events"])].append(row)
    lines = [
        "| fault | runs | events | withdrawals (held) | verdicts lost "
        "| repeats identical / conflicting | escalations | dead letters | recovery (s) "
        "| verdict gap (s) | invariants |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (fault, events), runs in groups.items():
        recovery = _span([r for run in runs for r in run["recovery_seconds"]])
        gap = _span([g for run in runs for g in run.get("verdict_gap_seconds", [])])
        lines.append(
            f"| {fault} | {len(runs)} | {events:,} "
            f"| {runs[-1]['withdrawals']:,} ({runs[-1]['holds']:,}) "
            f"| {sum(r['verdicts_lost'] for r in runs)} "
            f"| {sum(r['duplicates_identical'] for r in runs)} / "
            f"{sum(r['duplicates_conflicting'] for r in runs)} "
            f"| {sum(r['escalations'] for r in runs)} "
            f"| {sum(r['dead_letters'] for r in runs)} | {recovery} | {gap} "
            f"| {'; '.join(dict.fromkeys(r.get('result', '?') for r in runs))} |"
        )
    return "\n".join(lines)


def _span(values: list[float]) -> str:
    """`-` for none, the value for one, `min to max` for more."""
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{min(values):.1f} to {max(values):.1f}"


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else RESULTS
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
