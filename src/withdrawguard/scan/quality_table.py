"""The simulator's quality table for a backtest's two runs: attacks held per playbook and
honest withdrawals held, from the labels `withdrawguard simulate` writes
(`<out>/labels.jsonl`, or `--labels` with `--kafka`) and each run's `verdicts.jsonl`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from withdrawguard.sim.quality import Outcome, assess

_NEEDED = ("withdrawal_id", "truth", "playbook", "attack_id", "preceded_by")


class LabelsError(ValueError):
    """A labels file that cannot be read; the message names the file and the line."""


def read_labels(path: Path) -> list[dict[str, Any]]:
    """The withdrawal labels of a simulator's labels file (malformed-message ones are
    skipped); LabelsError if it is not one."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise LabelsError(f"cannot read labels file {path}: {exc.strerror}") from None
    labels = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            label = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise LabelsError(f"labels file {path}, line {n}: not JSON") from None
        if not isinstance(label, dict) or "record" not in label:
            raise LabelsError(f"labels file {path}, line {n}: not a simulator label")
        if label["record"] != "withdrawal":
            continue
        missing = [k for k in _NEEDED if k not in label]
        if missing:
            raise LabelsError(f"labels file {path}, line {n}: no {', '.join(missing)}")
        labels.append(label)
    if not labels:
        raise LabelsError(f"labels file {path} labels no withdrawal")
    return labels


def outcomes(verdicts: Path, wanted: set[str]) -> dict[str, Outcome]:
    """The outcome of each labelled withdrawal a run decided."""
    found: dict[str, Outcome] = {}
    with verdicts.open("rb") as fh:
        for raw in fh:
            v = orjson.loads(raw)
            if v["withdrawal_id"] in wanted:
                found[v["withdrawal_id"]] = Outcome(v["decision"] == "hold", tuple(v["reasons"]))
    return found


def assess_runs(labels: list[dict[str, Any]], runs: dict[str, Path]) -> dict[str, Any]:
    """{run name: the quality figures of `sim.quality.assess`} for each run's verdicts."""
    wanted = {x["withdrawal_id"] for x in labels}
    return {name: assess(labels, outcomes(path, wanted)) for name, path in runs.items()}


def table(figures: dict[str, Any]) -> list[str]:
    """The figures of two or more runs side by side, as printed."""
    names = list(figures)
    playbooks = sorted({p for f in figures.values() for p in f["playbooks"]})
    width = max([len("honest withdrawals held"), *(len(p) + 2 for p in playbooks)])
    lines = [f"{'attacks held':<{width}}" + "".join(f"  {n:>12}" for n in names)]
    for p in playbooks:
        cells = []
        for n in names:
            f = figures[n]["playbooks"].get(p)
            cells.append("-" if f is None else f"{f['held']}/{f['attacks']}")
        lines.append(f"  {p:<{width - 2}}" + "".join(f"  {c:>12}" for c in cells))
    honest = [figures[n]["honest"] for n in names]
    lines.append(
        f"{'honest withdrawals held':<{width}}"
        + "".join(f"  {h['held']:,}/{h['withdrawals']:,}".rjust(14) for h in honest)
    )
    lines.append(
        f"{'  without any change':<{width}}"
        + "".join(f"  {h['held_without_any_change']:>12,}" for h in honest)
    )
    missing = _missing(figures.values())
    if missing:
        lines.append(f"(labelled withdrawals not in the history: {missing})")
    return lines


def _missing(figures: Iterable[dict[str, Any]]) -> int:
    worst = 0
    for f in figures:
        n = f["honest"]["missing"] + sum(p["missing"] for p in f["playbooks"].values())
        worst = max(worst, n)
    return worst
