"""`withdrawguard scan`: arguments, their checks, and the closing summary.

Usage errors (a missing path, an unreadable mapping or policy, a bad date) exit with 2;
an input that fails while being read (no broker) exits with 1.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from withdrawguard.engine.policy import PolicyError, load_policy
from withdrawguard.engine.timeutil import to_ms
from withdrawguard.scan.csvmap import MappingError, load_mapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.progress import Progress
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
    parser.add_argument("--policy", type=Path, metavar="FILE", help="policy file (TOML)")
    parser.add_argument(
        "--csv-mapping", type=Path, metavar="FILE", help="CSV column mapping (TOML)"
    )
    parser.add_argument(
        "--tmp-dir", type=Path, metavar="DIR", help="where to spill (default: under --out)"
    )


def run(args: argparse.Namespace, settings: Settings, err: TextIO | None = None) -> int:
    """Run the scan the arguments describe; print the summary on stdout."""
    err = err or sys.stderr
    try:
        source, options = _prepare(args, settings)
    except (UsageError, PolicyError, MappingError, SourceError) as exc:
        print(f"withdrawguard scan: {exc}", file=err)
        return 2
    try:
        summary = scan(source, options, Progress(err))
    except (SourceError, OSError) as exc:
        print(f"withdrawguard scan: {exc}", file=err)
        return 1
    print(report(summary, options.out_dir))
    return 0


def _prepare(args: argparse.Namespace, settings: Settings) -> tuple[Source, ScanOptions]:
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
    policy = load_policy(args.policy or settings.policy_file)
    options = ScanOptions(
        args.out,
        policy,
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
