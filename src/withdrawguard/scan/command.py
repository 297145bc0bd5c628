"""`withdrawguard scan`: arguments, their checks, and the closing summary.

With `--against SPEC` it is a backtest (`scan.backtest`): the same history decided under
`--policy` and under SPEC, and the withdrawals whose verdict differs.

Usage errors (a missing path, an unreadable mapping, policy or labels file, a bad date, a
policy catalog that cannot be read) exit with 2; an input that fails while being read
(no broker) exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from withdrawguard.engine.policy import PolicyError, load_policy
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.progress import Progress
from withdrawguard.scan import backtest
from withdrawguard.scan.csvmap import MappingError, load_mapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.policy_spec import CatalogOnce, SpecError, catalog_reader, choose
from withdrawguard.scan.quality_table import LabelsError, read_labels, table
from withdrawguard.scan.sources import FileSource, Source, SourceError, discover
from withdrawguard.settings import Settings

OUTPUT_FILES = (
    "report.html",
    "findings.jsonl",
    "findings.csv",
    "summary.json",
    "timelines.jsonl",
    "rejected.jsonl",
)


class UsageError(ValueError):
    """The command line cannot be run as given."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="JSON Lines or CSV files (plain or gzip), or folders to search for them",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--kafka", action="store_true", help="read the Kafka input topics")
    parser.add_argument("--since", metavar="ISO", help="with --kafka: first record time")
    parser.add_argument("--until", metavar="ISO", help="with --kafka: stop at this record time")
    parser.add_argument(
        "--policy",
        metavar="SPEC",
        help="policy: a TOML file, a published version id (8 hex digits), live or default "
        "(unset: WG_POLICY_FILE or the default); with --against, the candidate",
    )
    parser.add_argument(
        "--against",
        metavar="SPEC",
        help="backtest: decide the history under --policy and under SPEC (as for --policy), "
        "and list the withdrawals whose verdict differs",
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="FILE",
        help="with --against: the simulator's labels, for the quality table of both",
    )
    parser.add_argument(
        "--csv-mapping", type=Path, metavar="FILE", help="CSV column mapping (TOML)"
    )
    parser.add_argument(
        "--tmp-dir", type=Path, metavar="DIR", help="where to spill (default: under --out)"
    )


def run(args: argparse.Namespace, settings: Settings, err: TextIO | None = None) -> int:
    """Run the scan (or backtest) the arguments describe; print the summary on stdout."""
    err = err or sys.stderr
    try:
        catalog = CatalogOnce(catalog_reader(settings, lambda line: print(line, file=err)))
        source, options = _prepare(args, settings, catalog)
        policies, labels = _backtest_inputs(args, catalog)
    except (UsageError, PolicyError, MappingError, SourceError, SpecError, LabelsError) as exc:
        print(f"withdrawguard scan: {exc}", file=err)
        return 2
    try:
        if policies is None:
            print(report(scan(source, options, Progress(err)), options.out_dir))
        else:
            result = backtest.run(source, policies, options, labels, Progress(err))
            print(backtest_report(result, options.out_dir))
    except BrokenPipeError:
        raise  # our reader went away (`| head`): cli.main says nothing
    except (SourceError, OSError) as exc:
        print(f"withdrawguard scan: {exc}", file=err)
        return 1
    return 0


def _prepare(
    args: argparse.Namespace, settings: Settings, catalog: CatalogOnce
) -> tuple[Source, ScanOptions]:
    if args.kafka == bool(args.paths):
        raise UsageError("give the PATHs to scan, or --kafka (not both)")
    if not args.kafka and (args.since or args.until):
        raise UsageError("--since and --until apply to --kafka only")
    if args.kafka and args.csv_mapping:
        raise UsageError("--csv-mapping applies to files only")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    if args.tmp_dir is not None and args.tmp_dir.exists() and not args.tmp_dir.is_dir():
        raise UsageError(f"--tmp-dir {args.tmp_dir} exists and is not a folder")
    if args.against is not None and args.policy is None:
        raise UsageError("--against needs --policy: the candidate to compare with it")
    if args.labels is not None and args.against is None:
        raise UsageError("--labels applies to a backtest (--against) only")
    policy = load_policy(settings.policy_file) if args.policy is None else None
    options = ScanOptions(
        args.out,
        policy or choose(args.policy, catalog).policy,
        settings.max_message_bytes,
        tmp_dir=args.tmp_dir,
        max_clock_skew=settings.max_clock_skew,
    )
    if not args.kafka:
        mapping = load_mapping(args.csv_mapping)
        files = discover(args.paths, exclude=[args.out])
        return FileSource(files, mapping, settings.max_message_bytes), options
    since = parse_time(args.since, "--since")
    until = parse_time(args.until, "--until")
    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be before --until")
    from withdrawguard.scan.kafka_input import KafkaSource  # needs kafka-python only here

    return KafkaSource(settings, since, until), options


def _backtest_inputs(
    args: argparse.Namespace, catalog: CatalogOnce
) -> tuple[dict[str, backtest.ChosenPolicy] | None, list[dict[str, Any]] | None]:
    """(candidate and baseline, the labels) of a backtest; (None, None) for a scan."""
    if args.against is None:
        return None, None
    candidate = choose(args.policy, catalog)
    baseline = choose(args.against, catalog, "--against")
    if candidate.id == baseline.id:
        raise UsageError(
            f"--policy {args.policy} and --against {args.against} are the same policy "
            f"({candidate.id}): nothing can differ"
        )
    labels = None if args.labels is None else read_labels(args.labels)
    return {"candidate": candidate, "baseline": baseline}, labels


def parse_time(text: str | None, flag: str) -> int | None:
    """An ISO 8601 date or date-time (UTC when it has no offset) as epoch ms."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag}: not an ISO 8601 date or time: {text!r}") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return to_ms(at)


def report(summary: dict[str, Any], out_dir: Path) -> str:
    """The few lines printed at the end."""
    events = summary["events"]
    risk = ", ".join(f"{a} {c}" for c, a in summary["amount_at_risk"].items()) or "nothing"
    reasons = ", ".join(f"{code} {r['count']}" for code, r in summary["by_reason"].items())
    lines = [
        f"held {summary['held']:,} of {summary['withdrawals']:,} withdrawals "
        f"({summary['flagged_customers']:,} of {summary['customers']:,} customers)",
        f"amount at risk: {risk}",
        f"events: {events['valid']:,} valid, {events['rejected']:,} rejected, "
        f"{summary['events_per_second']:,.0f}/s",
    ]
    if reasons:
        lines.append(f"reasons: {reasons}")
    lines.append(f"files in {out_dir}: {', '.join(OUTPUT_FILES)}")
    return "\n".join(lines)


def backtest_report(result: dict[str, Any], out_dir: Path) -> str:
    """The few lines a backtest prints at the end."""
    lines = []
    for side in ("candidate", "baseline"):
        r = result[side]
        lines.append(
            f"{side:<9}  {r['policy']} (policy {r['id']}): held {r['held']:,} "
            f"of {result['withdrawals']:,} withdrawals"
        )
    parts = []
    for change in ("newly_held", "newly_allowed"):
        c = result[change]
        money = ", ".join(f"{a} {cur}" for cur, a in c["amount"].items())
        parts.append(
            f"{c['count']:,} {change.replace('_', ' ')}" + (f" ({money})" if money else "")
        )
    lines.append(
        f"verdicts differ on {result['differ']:,} of {result['withdrawals']:,} withdrawals: "
        + "; ".join(parts)
    )
    if result["decided_once"]:
        lines.append(f"decided under one policy only: {result['decided_once']:,}")
    lines.append(f"held under both, with other reasons: {result['reasons_changed']:,}")
    reasons = ", ".join(
        f"{code} +{n['newly_held']}/-{n['newly_allowed']}"
        for code, n in result["by_reason"].items()
    )
    if reasons:
        lines.append(f"reasons (+newly held/-newly allowed): {reasons}")
    if result["quality"] is not None:
        lines += table(result["quality"])
    files = ", ".join(["candidate/", "baseline/", *backtest.OUTPUT_FILES])
    lines.append(f"files in {out_dir}: {files}")
    return "\n".join(lines)
