"""`withdrawguard simulate`: arguments, their checks, and the closing lines."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from withdrawguard.progress import Progress, duration
from withdrawguard.settings import Settings
from withdrawguard.sim.delivery import Rates
from withdrawguard.sim.generate import DEFAULT_START, SimConfig, generate
from withdrawguard.sim.playbooks import PLAYBOOKS
from withdrawguard.sim.sinks import (
    EVENTS,
    LABELS,
    MANIFEST,
    KafkaSink,
    summary,
    write_files,
    write_labels,
)

DESCRIPTION = f"""\
Generate a seeded, labeled history of honest customers and attacks, and write it to
JSON Lines files (for `withdrawguard scan`) or produce it to the Kafka input topics.

Time: with --out the timeline starts at --start (default {DEFAULT_START.date()}, fixed so
that the same options give byte-identical files). With --kafka it ends now (the worker
refuses events more than WG_MAX_CLOCK_SKEW ahead of its clock), and --speed compresses
the replay: simulated seconds per real second, or `max`. The first 9 days only establish
each customer's devices. Files: <out>/events/*.jsonl (`withdrawguard scan <out>/events`);
the labels (one per withdrawal and per malformed message) go to <out>/labels.jsonl or
--labels."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = DESCRIPTION
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, metavar="DIR", help="write JSON Lines files here")
    where.add_argument("--kafka", action="store_true", help="produce to the input topics")
    parser.add_argument("--labels", type=Path, metavar="FILE", help="labels file (--kafka)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--customers", type=int, default=1000, help="default 1000")
    parser.add_argument("--days", type=int, default=30, help="length of the timeline (30)")
    parser.add_argument(
        "--attacks", type=int, default=12, help="victims, spread over the playbooks (12)"
    )
    parser.add_argument(
        "--playbooks",
        default=",".join(PLAYBOOKS),
        help=f"comma-separated, from {', '.join(PLAYBOOKS)} (default: all)",
    )
    parser.add_argument("--start", metavar="ISO", help="with --out: start of the timeline")
    parser.add_argument("--id-prefix", default="", help="prefix of customer and attack ids")
    parser.add_argument("--out-of-order", type=float, default=0.02, help="share late (0.02)")
    parser.add_argument("--duplicates", type=float, default=0.01, help="share sent twice (0.01)")
    parser.add_argument("--malformed", type=float, default=0.001, help="share broken (0.001)")
    parser.add_argument(
        "--change-scale", type=float, default=1.0, help="multiplies honest changes of habit"
    )
    parser.add_argument(
        "--speed", default="max", help="with --kafka: simulated seconds per second, or max"
    )


def config_of(args: argparse.Namespace, now: datetime) -> SimConfig:
    """The simulation the arguments describe; ValueError names a bad argument."""
    playbooks = tuple(p.strip() for p in args.playbooks.split(",") if p.strip())
    config = SimConfig(
        seed=args.seed,
        customers=args.customers,
        days=args.days,
        attacks=args.attacks,
        playbooks=playbooks,
        id_prefix=args.id_prefix,
        rates=Rates(args.out_of_order, args.duplicates, args.malformed),
        change_scale=args.change_scale,
    )
    if args.kafka:
        if args.start:
            raise ValueError("--start applies to --out only (with --kafka the timeline ends now)")
        if args.labels is None:
            raise ValueError("--kafka needs --labels FILE for the ground truth")
        start = now.astimezone(UTC).replace(microsecond=0) - timedelta(days=args.days)
        return replace(config, start=start)
    if args.labels is not None:
        raise ValueError("--labels applies to --kafka only (files get <out>/labels.jsonl)")
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            raise ValueError(f"--start: not an ISO 8601 date or time: {args.start!r}") from None
        return replace(config, start=start if start.tzinfo else start.replace(tzinfo=UTC))
    return config


def speed_of(text: str) -> float | None:
    if text == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"--speed must be a number or max, got {text!r}") from None
    if not speed > 0:
        raise ValueError(f"--speed must be above 0, got {text}")
    return speed


def run(args: argparse.Namespace, settings: Settings, err: TextIO | None = None) -> int:
    err = err or sys.stderr
    began = time.monotonic()
    try:
        config = config_of(args, datetime.now(UTC))
        speed = speed_of(args.speed)
        sim = generate(config)
    except ValueError as exc:
        print(f"withdrawguard simulate: {exc}", file=err)
        return 2
    made = time.monotonic() - began
    facts = summary(sim)
    if args.kafka:
        write_labels(sim.labels, args.labels)
        from withdrawguard.sim.live import VerdictCollector  # Kafka's client, only here

        # The customers' answers wait for the notices a running worker sends (a response
        # before its notice is dead-lettered); without a worker they go after 10 s.
        with VerdictCollector(settings) as notices:
            KafkaSink(settings, speed, Progress(err)).send(sim.deliveries, notices.noticed)
        where = f"topics of {settings.kafka_bootstrap}; labels in {args.labels}"
    else:
        write_files(sim, args.out)
        where = f"{args.out}: {EVENTS}/*.jsonl (scan them), {LABELS}, {MANIFEST}"
    attacks = ", ".join(f"{p} {n}" for p, n in facts["attacks"].items()) or "none"
    print(
        f"simulated {facts['customers']:,} customers over {facts['days']} days"
        f" ({facts['start']} to {facts['end']}) in {made:.1f} s\n"
        f"events: {facts['events']:,}; messages sent: {facts['messages']:,}"
        f" ({facts['malformed']:,} malformed)\n"
        f"withdrawals: {facts['withdrawals']:,}"
        f" (the attackers': {facts['attack_withdrawals']}); trades: {facts['trades']:,}\n"
        f"attacks: {attacks} ({facts['attacks_that_sold']} sold holdings)\n"
        f"answers to the detector's notices: {facts['responses']:,}"
        f" ({facts['denials']} victims' denials)\n"
        f"written to {where} in {duration(time.monotonic() - began)}"
    )
    return 0
