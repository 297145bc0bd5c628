"""The `withdrawguard` command. Settings are read here, once, and passed down."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Sequence

from withdrawguard.auth import cli as users_cli
from withdrawguard.scan import command as scan_command
from withdrawguard.settings import Settings, SettingsError
from withdrawguard.settings.fields import setting_fields, variable
from withdrawguard.sim import command as simulate_command


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="withdrawguard",
        description="Streaming fraud detector for unauthorized withdrawals.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("worker", help="run the Faust worker (detector, web server)")
    topics = sub.add_parser("topics", help="manage Kafka topics")
    topics_sub = topics.add_subparsers(dest="topics_command", required=True, metavar="ACTION")
    topics_sub.add_parser("create", help="create every topic that is missing (idempotent)")
    sub.add_parser("settings", help="print the effective settings")
    registry = sub.add_parser("registry", help="manage the hold registry in Redis")
    registry_sub = registry.add_subparsers(dest="registry_command", required=True, metavar="ACTION")
    registry_sub.add_parser(
        "rebuild", help="delete this deployment's registry keys and replay the compacted topics"
    )
    scan = sub.add_parser(
        "scan",
        help="scan history for withdrawals that would have been held",
        description="Run the detector over past events, from files or the Kafka input topics.",
    )
    scan_command.add_arguments(scan)
    simulate = sub.add_parser(
        "simulate", help="generate a labeled history of customers and attacks (files or Kafka)"
    )
    simulate_command.add_arguments(simulate)
    demo = sub.add_parser(
        "demo", help="simulate customers and attacks through the running worker; show verdicts"
    )
    from withdrawguard.sim import demo as demo_command

    demo_command.add_arguments(demo)
    policy = sub.add_parser(
        "policy",
        help="policy versions: publish, list, show, diff, audit, shadow, promote, roll back",
        description="Policy versions on the policies topic (docs/policy.md).",
    )
    from withdrawguard.policy import cli as policy_cli

    policy_cli.add_arguments(policy)
    cases = sub.add_parser(
        "cases",
        help="case work: list, show, take, assign, comment, release, approve, close, export",
        description="Cases of the case store, acted on as a console user (docs/cases.md).",
    )
    from withdrawguard.casework import cli as cases_cli

    cases_cli.add_arguments(cases)
    users = sub.add_parser("users", help="manage ops console users (WG_USERS_FILE)")
    users_cli.add_arguments(users)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"withdrawguard: {exc}", file=sys.stderr)
        return 2
    if args.command != "worker":
        # The client libraries log each failed connection attempt; a command reports what
        # failed in its own last line (adapters.failures), so their lines would only repeat it.
        for library in ("aiokafka", "kafka"):
            logging.getLogger(library).setLevel(logging.CRITICAL)
    try:
        status = _dispatch(args, settings)
        sys.stdout.flush()  # here, where a reader gone away is caught, not at exit
        return status
    except BrokenPipeError:
        # The reader of our output went away (`withdrawguard cases show ... | head`): no
        # failure of ours, nothing to report. Exit as a tool killed by SIGPIPE does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        print(f"withdrawguard {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every command ends with one line, never a traceback
        from withdrawguard.adapters.failures import explain_failure, report_defect

        line = explain_failure(exc, settings) or report_defect(exc, settings.data_dir)
        print(f"withdrawguard {args.command}: {line}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "settings":
        for f in sorted(setting_fields(Settings), key=lambda f: f.name):
            print(f"{variable(f.name)}={getattr(settings, f.name)}")
        return 0
    if args.command == "topics":
        from withdrawguard.adapters.topic_admin import TopicMismatch, create_topics

        try:
            create_topics(settings)
        except TopicMismatch as exc:
            print(f"withdrawguard: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "registry":
        from redis.exceptions import RedisError

        from withdrawguard.adapters.redis_connection import explain
        from withdrawguard.streaming.sinks.registry_rebuild import rebuild

        try:
            rebuild(settings)
        except BrokenPipeError:
            raise  # our reader went away, not Redis (main)
        except (RedisError, OSError) as exc:
            print(f"withdrawguard: {explain(exc, settings)}", file=sys.stderr)
            return 1
        return 0
    if args.command == "scan":
        return scan_command.run(args, settings)
    if args.command == "simulate":
        return simulate_command.run(args, settings)
    if args.command == "demo":
        from withdrawguard.sim import demo as demo_command

        return demo_command.run(args, settings)
    if args.command == "policy":
        from withdrawguard.policy import cli as policy_cli

        return policy_cli.run(args, settings)
    if args.command == "cases":
        from withdrawguard.casework import cli as cases_cli

        return cases_cli.run(args, settings)
    if args.command == "users":
        return users_cli.run(args, settings)
    if args.command == "worker":
        from withdrawguard.worker.run import run_worker

        return run_worker(settings)
    raise AssertionError(f"unhandled command {args.command}")  # argparse guards this
