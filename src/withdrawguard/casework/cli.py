"""`withdrawguard cases ...`: list, show, take, assign, comment, status, release,
approve, withdraw, close, reopen, suppress, export, rebuild, rebuild-links, away,
back.

Every action is taken as a console user (WG_USERS_FILE): `--user NAME`, the password
read from `--password-file`, else asked on the terminal; the same refusals as the
console, from the same domain (`cases.commands`). A command acts on the version of the
case it reads, unless `--seen N` names the version you looked at (then a case changed
since is refused with 409 and what changed). Exit codes: 0 done, 1 Kafka or Redis
failed, 2 refused (the message says why and the HTTP status the console would give).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson
from redis.exceptions import RedisError

from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.failures import explain_failure, report_defect
from withdrawguard.adapters.kafka_io import kafka_produce, read_topic
from withdrawguard.adapters.link_store import RedisLinkStore, links_prefix
from withdrawguard.adapters.redis_connection import async_redis, explain
from withdrawguard.auth.users import UsersFileError, authenticate, load_users
from withdrawguard.cases import codec
from withdrawguard.cases import commands as cmd
from withdrawguard.cases.case import CaseFoldError
from withdrawguard.cases.errors import CaseError
from withdrawguard.cases.links import LinkWindows
from withdrawguard.cases.people import ROLES, Actor
from withdrawguard.casework import availability
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.export import export_html, export_json
from withdrawguard.casework.links import LinkReader, rebuild_links
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.casework.show import print_case, print_links, print_summaries
from withdrawguard.contract import topics as t
from withdrawguard.contract.records import Record
from withdrawguard.engine.policy import PolicyError, load_policy
from withdrawguard.secret import SecretFileError, read_secret_file
from withdrawguard.settings import Settings

READS = ("list", "show", "export")


class Refused(ValueError):
    """Refused before the case is asked (who you are, what you typed): exit 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="cases_command", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="open cases of an inbox (due first), yours, or all")
    p.add_argument("--inbox")
    p.add_argument("--mine", action="store_true", help="the cases assigned to you")
    p.add_argument("--limit", type=int, default=100)
    sub.add_parser("show", help="a case: holds, proposals, suppressions, events").add_argument(
        "case"
    )
    sub.add_parser("take", help="claim the case due first").add_argument("--inbox")
    p = sub.add_parser("assign", help="assign a case (to someone else: a supervisor)")
    p.add_argument("case")
    p.add_argument("assignee", help="a user of WG_USERS_FILE")
    sub.add_parser("unassign", help="give a case back to its inbox").add_argument("case")
    sub.add_parser("comment", help="add a comment (--note)").add_argument("case")
    p = sub.add_parser("status", help="open, investigating, waiting_on_customer, escalated")
    p.add_argument("case")
    p.add_argument("status")
    p = sub.add_parser("release", help="release a hold (at or above the threshold: propose)")
    p.add_argument("case")
    p.add_argument("hold")
    for name, what in (("approve", "approve"), ("withdraw", "withdraw")):
        p = sub.add_parser(name, help=f"{what} a four-eyes proposal")
        p.add_argument("case")
        p.add_argument("proposal")
    p = sub.add_parser("close", help="close with an outcome and a note")
    p.add_argument("case")
    p.add_argument("outcome", help="confirmed_fraud, false_positive, customer_verified, other")
    sub.add_parser("reopen", help="reopen (confirmed fraud: propose)").add_argument("case")
    p = sub.add_parser("suppress", help="mute reasons for the customer until a time")
    p.add_argument("case")
    p.add_argument("--reasons", required=True, help="reason codes, comma-separated")
    p.add_argument("--until", required=True, help="RFC 3339 time with an offset")
    p = sub.add_parser("export", help="the case as JSON and a printable HTML page")
    p.add_argument("case")
    p.add_argument("--json", type=Path, dest="json_file", metavar="FILE")
    p.add_argument("--html", type=Path, dest="html_file", metavar="FILE")
    sub.add_parser("rebuild", help="delete the case store and fold case-events again")
    p = sub.add_parser("away", help="mark a person unavailable until a time (auto-assignment)")
    p.add_argument("person", help="a user of WG_USERS_FILE (someone else: a supervisor)")
    p.add_argument("--until", required=True, help="RFC 3339 time with an offset")
    sub.add_parser("back", help="mark a person available again").add_argument("person")
    sub.add_parser("rebuild-links", help="delete the links and fold the observation topics again")
    for name, p in sub.choices.items():
        p.add_argument("--user", required=True, help="a user of WG_USERS_FILE")
        p.add_argument("--password-file", type=Path, help="its password (first line)")
        if name not in (*READS, "take", "rebuild", "rebuild-links", "away", "back"):
            p.add_argument("--note", help="why (required to comment, close, reopen, suppress)")
            p.add_argument("--seen", type=int, help="the case version you looked at")


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        actor = _person(args.user, args.password_file, settings)
        return asyncio.run(_run(args, settings, actor, out))
    except CaseError as exc:
        print(f"withdrawguard cases: {exc.status} {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except (Refused, UsersFileError, PolicyError, SecretFileError) as exc:
        print(f"withdrawguard cases: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # our reader went away (`| head`), not Redis: cli.main says nothing
    except (RedisError, OSError) as exc:
        print(f"withdrawguard cases: {explain(exc, settings)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - Kafka's errors, or a defect: one line, exit 1
        line = explain_failure(exc, settings) or report_defect(exc, settings.data_dir)
        print(f"withdrawguard cases: {line}", file=sys.stderr)
        return 1


def _person(name: str, password_file: Path | None, settings: Settings) -> Actor:
    users = load_users(settings.users_file)
    if not users:
        raise Refused("no users: set WG_USERS_FILE and add one (`withdrawguard users add`)")
    if password_file is not None:
        given = read_secret_file(password_file, "--password-file").reveal()
    elif sys.stdin.isatty():
        given = getpass.getpass(f"password for {name}: ")
    else:
        raise Refused("no password: pass --password-file (or run on a terminal)")
    user = authenticate(users, name, given)
    if user is None:
        raise Refused(f"wrong user name or password for {name!r}")
    return _actor(user.name, user.role)


def _actor(name: str, role: str) -> Actor:
    found = next((r for r in ROLES if r == role), None)
    if found is None:
        raise Refused(f"user {name!r} has role {role!r}, which works no cases")
    return Actor(name, found)


async def _run(args: argparse.Namespace, settings: Settings, actor: Actor, out: TextIO) -> int:
    config = load_case_config(settings.inboxes_file)
    redis = async_redis(settings)
    store = RedisCaseStore(redis, case_prefix(settings.app_id))
    names = t.TopicNames(settings)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))
    windows = LinkWindows.of(load_policy(settings.policy_file), config.policy.link_device_window)
    link_store = RedisLinkStore(redis, links_prefix(settings.app_id))
    try:
        if args.cases_command == "rebuild":
            return await _rebuild(store, settings, topics.events, actor, out)
        if args.cases_command == "rebuild-links":
            _supervisor(actor, "rebuilding the links")
            deleted, records, skipped = await rebuild_links(settings, link_store, windows)
            print(f"deleted {deleted} keys; folded {records} records, skipped {skipped}", file=out)
            return 0
        if args.cases_command in ("away", "back"):
            users = load_users(settings.users_file)
            if args.cases_command == "back":
                print(await availability.back(store, actor, args.person, users), file=out)
                return 0
            until = availability.until_of(args.until, _now())
            print(await availability.away(store, actor, args.person, until, users), file=out)
            return 0
        if args.cases_command in READS:
            links = LinkReader(link_store, store, lambda: windows)
            service = CaseService(store, _no_produce, topics, config, clock=_now, links=links)
            return await _read(service, args, actor, out)
        async with kafka_produce(settings) as produce:
            service = CaseService(store, produce, topics, config, clock=_now)
            return await _act(service, args, actor, settings, out)
    finally:
        await redis.aclose()  # type: ignore[attr-defined]  # stubs predate aclose


async def _read(service: CaseService, args: argparse.Namespace, actor: Actor, out: TextIO) -> int:
    if args.cases_command == "list":
        if args.mine:
            found = await service.mine(actor, args.limit)
        else:
            found = await service.listing(args.inbox, args.limit)
        print_summaries(found, _now(), out)
        return 0
    case = await service.case(args.case)
    events = await service.events(args.case)
    now = _now()
    links = await service.links_of(case.customer_id, now)
    if args.cases_command == "show":
        print_case(case, events, now, out)
        print_links(links, out)
        return 0
    if args.json_file is None and args.html_file is None:
        raise Refused("say where: --json FILE and/or --html FILE")
    if args.json_file is not None:
        body = orjson.dumps(export_json(case, events, links), option=orjson.OPT_INDENT_2)
        args.json_file.write_bytes(body + b"\n")
        print(f"wrote {args.json_file}", file=out)
    if args.html_file is not None:
        args.html_file.write_text(export_html(case, events, links), encoding="utf-8")
        print(f"wrote {args.html_file}", file=out)
    return 0


async def _act(
    service: CaseService, args: argparse.Namespace, actor: Actor, settings: Settings, out: TextIO
) -> int:
    if args.cases_command == "take":
        taken = await service.take_next(actor, args.inbox)
        if taken is None:
            print("nothing to take", file=out)
            return 0
        print(f"took {taken.case_id} ({taken.inbox}, due {taken.due_at.isoformat()})", file=out)
        return 0
    seen = args.seen if args.seen is not None else (await service.case(args.case)).version
    done = await service.execute(actor, _command(args, seen, service.new_command_id(), settings))
    for event in done.events:
        extra = getattr(event, "proposal_id", None)
        shown = f" (proposal {extra})" if event.kind.endswith("_proposed") and extra else ""
        print(f"{done.case.case_id}: {event.kind}{shown}", file=out)
    if done.decisions:
        print(f"{done.decisions} case decision(s) sent to the detector", file=out)
    print(f"{done.case.case_id} is now at version {done.case.version}", file=out)
    return 0


def _command(args: argparse.Namespace, seen: int, command_id: str, settings: Settings) -> Any:
    base: dict[str, Any] = {"case_id": args.case, "command_id": command_id, "seen_version": seen}
    note = args.note
    match args.cases_command:
        case "assign":
            users = load_users(settings.users_file)
            if args.assignee not in users:
                raise Refused(f"no user {args.assignee!r} in WG_USERS_FILE")
            who = _actor(args.assignee, users[args.assignee].role)
            return cmd.Assign(**base, assignee=who, note=note)
        case "unassign":
            return cmd.Unassign(**base, note=note)
        case "comment":
            return cmd.Comment(**base, note=note or "")
        case "status":
            return cmd.ChangeStatus(**base, status=args.status, note=note)
        case "release":
            return cmd.Release(**base, hold_id=args.hold, note=note)
        case "approve":
            return cmd.Approve(**base, proposal_id=args.proposal, note=note)
        case "withdraw":
            return cmd.Withdraw(**base, proposal_id=args.proposal, note=note)
        case "close":
            return cmd.Close(**base, outcome=args.outcome, note=note)
        case "reopen":
            return cmd.Reopen(**base, note=note)
    try:
        until = datetime.fromisoformat(args.until)
    except ValueError:
        raise Refused(f"--until: not an RFC 3339 time: {args.until!r}") from None
    codes = tuple(c.strip() for c in args.reasons.split(",") if c.strip())
    return cmd.Suppress(**base, reason_codes=codes, until=until, note=note)


async def _rebuild(
    store: RedisCaseStore, settings: Settings, topic: str, actor: Actor, out: TextIO
) -> int:
    _supervisor(actor, "rebuilding the case store")
    deleted = await store.clear()
    applied, skipped = 0, 0
    async for raw in read_topic(settings, topic):
        try:
            result = await store.apply([codec.decode_bytes(raw)])
        except (codec.CaseEventError, CaseFoldError) as exc:
            print(f"withdrawguard cases: skipped: {exc}", file=sys.stderr)
            skipped += 1
            continue
        applied += len(result.new)
    print(
        f"deleted {deleted} keys; applied {applied} case events from {topic}; skipped {skipped}",
        file=out,
    )
    return 0


def _supervisor(actor: Actor, what: str) -> None:
    if not actor.may("see_all"):
        raise Refused(f"{what} takes a supervisor or admin; {actor.user} is {actor.role}")


async def _no_produce(record: Record) -> Any:
    raise RuntimeError("a read-only command wrote to Kafka")


def _now() -> datetime:
    return datetime.now(UTC)
