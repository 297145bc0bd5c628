"""`withdrawguard policy ...`: publish, list, show, diff, audit, shadow, promote, roll back.

Reading (list, show, diff, audit) needs only the broker. Changing (publish, shadow, promote,
rollback) needs an admin of the console's users file (WG_USERS_FILE): `--user NAME`,
with the password read from WG_ADMIN_PASSWORD_FILE, else asked on the terminal.
Exit codes: 0 done, 1 the broker or topic failed, 2 refused (bad input, wrong
credentials, an action that does not apply).
"""

from __future__ import annotations

import argparse
import difflib
import getpass
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import orjson

from withdrawguard.adapters.failures import explain_failure, report_defect
from withdrawguard.auth.roles import may
from withdrawguard.auth.users import UsersFileError, authenticate, load_users
from withdrawguard.engine.policy import PolicyError, default_text
from withdrawguard.policy import actions
from withdrawguard.policy.audit import AuditEntry
from withdrawguard.policy.diff import changed_values
from withdrawguard.policy.log import PolicyLogError, append, read_audit, read_catalog
from withdrawguard.policy.versions import Catalog, make_version
from withdrawguard.secret import SecretFileError, read_secret_file
from withdrawguard.settings import Settings

CHANGES = ("publish", "shadow", "promote", "rollback")


class Refused(ValueError):
    """The command is refused; the message says why (exit 2)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    sub.add_parser("list", help="every published version; which runs live and in shadow")
    show = sub.add_parser("show", help="a version's TOML text and who published it")
    show.add_argument("version", metavar="ID|live|shadow|default")
    diff = sub.add_parser("diff", help="what differs between two versions (or files)")
    diff.add_argument("a", metavar="A", help="version id, live, shadow, default or a TOML file")
    diff.add_argument("b", metavar="B", help="version id, live, shadow, default or a TOML file")
    diff.add_argument(
        "--text", action="store_true", help="also the line diff of the two TOML texts"
    )
    audit = sub.add_parser("audit", help="every policy action: who, when, why, which versions")
    audit.add_argument("--last", type=_positive, metavar="N", help="only the N latest actions")
    audit.add_argument("--json", action="store_true", help="one JSON object a line")
    publish = sub.add_parser("publish", help="validate FILE and make it live (or shadow)")
    publish.add_argument("file", type=Path, metavar="FILE")
    publish.add_argument("--shadow", action="store_true", help="run it in shadow, not live")
    shadow = sub.add_parser("shadow", help="run a published version in shadow (or stop it)")
    target = shadow.add_mutually_exclusive_group(required=True)
    target.add_argument("version", nargs="?", metavar="ID")
    target.add_argument("--off", action="store_true", help="stop the shadow")
    sub.add_parser("promote", help="make the shadow version live")
    rollback = sub.add_parser("rollback", help="make an earlier published version live again")
    rollback.add_argument("version", metavar="ID")
    for name in CHANGES:
        p = sub.choices[name]
        p.add_argument("--note", required=True, help="why (recorded on the audit topic)")
        p.add_argument("--user", required=True, help="an admin of WG_USERS_FILE")


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        if args.policy_command in CHANGES:
            actor = _admin(args.user, settings)
            catalog = read_catalog(settings, warn=_warn)
            plan = _plan(args, catalog, actor)
            append(settings, plan)
            print(f"{plan.action}: {plan.summary}", file=out)
            return 0
        if args.policy_command == "show" and args.version == "default":
            print("# the packaged default (what `scan --against default` reads)", file=out)
            print(default_text(), file=out, end="")  # no broker needed
            return 0
        if args.policy_command == "diff" and not any(map(_names_version, (args.a, args.b))):
            _diff(Catalog(), args.a, args.b, args.text, out)  # files, default: no broker
            return 0
        if args.policy_command == "audit":
            _audit(read_audit(settings, warn=_warn), args.last, args.json, out)
            return 0
        catalog = read_catalog(settings, warn=_warn)
        if args.policy_command == "list":
            _list(catalog, out)
        elif args.policy_command == "show":
            _show(catalog, args.version, out)
        else:
            _diff(catalog, args.a, args.b, args.text, out)
        return 0
    except (Refused, actions.ActionError, PolicyError, UsersFileError, SecretFileError) as exc:
        print(f"withdrawguard policy: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise  # our reader went away (`| head`): cli.main says nothing
    except (PolicyLogError, OSError) as exc:
        print(f"withdrawguard policy: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - Kafka's errors, or a defect: one line, exit 1
        line = explain_failure(exc, settings) or report_defect(exc, settings.data_dir)
        print(f"withdrawguard policy: {line}", file=sys.stderr)
        return 1


def _plan(args: argparse.Namespace, catalog: Catalog, actor: str) -> actions.Plan:
    now = int(time.time() * 1000)
    note = args.note
    if args.policy_command == "publish":
        text = _read(args.file)
        role = "shadow" if args.shadow else "live"
        return actions.publish(catalog, text, actor, note, now, role)
    if args.policy_command == "shadow":
        return actions.set_shadow(catalog, None if args.off else args.version, actor, note, now)
    if args.policy_command == "promote":
        return actions.promote(catalog, actor, note, now)
    return actions.rollback(catalog, args.version, actor, note, now)


def _admin(name: str, settings: Settings) -> str:
    """The user's name if `name` is an admin whose password is given; Refused otherwise."""
    users = load_users(settings.users_file)
    if not users:
        raise Refused("no users: set WG_USERS_FILE and add an admin (`withdrawguard users add`)")
    if settings.admin_password_file is not None:
        password = read_secret_file(settings.admin_password_file, "WG_ADMIN_PASSWORD_FILE")
        given = password.reveal()
    elif sys.stdin.isatty():
        given = getpass.getpass(f"password for {name}: ")
    else:
        raise Refused("no password: set WG_ADMIN_PASSWORD_FILE (or run on a terminal)")
    user = authenticate(users, name, given)
    if user is None:
        raise Refused(f"wrong user name or password for {name!r}")
    if not may(user.role, actions.ADMIN_ROLE):
        raise Refused(f"user {name!r} is {user.role}: changing the policy needs admin")
    return user.name


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise Refused(f"cannot read policy file {path}: {exc.strerror}") from None
    except ValueError:
        raise Refused(f"policy file {path} is not readable UTF-8 text") from None


def _resolve(catalog: Catalog, spec: str) -> tuple[str, str]:
    """(label, TOML text) of a version id, `live`, `shadow`, `default` (the packaged
    default, as `scan --against default` reads it), or a file."""
    if spec == "default":
        return "default (packaged)", default_text()
    if spec in ("live", "shadow"):
        found = catalog.live if spec == "live" else catalog.shadow
        if found is None:
            raise Refused(f"no version runs {spec}")
        spec = found
    if spec in catalog.versions:
        return spec, catalog.versions[spec].text
    path = Path(spec)
    if path.exists():
        return str(path), _read(path)
    known = ", ".join(sorted(catalog.versions)) or "none yet"
    raise Refused(
        f"{spec!r} is neither live, shadow, default, a published version ({known}) nor a file"
    )


def _audit(entries: list[AuditEntry], last: int | None, as_json: bool, out: TextIO) -> None:
    shown = entries[-last:] if last else entries
    if not shown and not as_json:
        print("no policy action recorded yet", file=out)
    for entry in shown:
        print(orjson.dumps(entry.to_json()).decode() if as_json else entry.line(), file=out)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _names_version(spec: str) -> bool:
    """Whether `spec` may name something on the policies topic (not `default`, not a file)."""
    return spec != "default" and not Path(spec).is_file()


def _list(catalog: Catalog, out: TextIO) -> None:
    if not catalog.versions:
        print("no policy version published yet (workers run WG_POLICY_FILE)", file=out)
        return
    marks = {catalog.live: "live", catalog.shadow: "shadow"}
    ordered = sorted(catalog.versions.values(), key=lambda v: (v.published_at, v.id))
    for v in ordered:
        role = marks.get(v.id, "")
        print(f"{v.id}  {_when(v.published_at)}  {role:<6}  {v.author}: {v.note}", file=out)


def _show(catalog: Catalog, spec: str, out: TextIO) -> None:
    label, _ = _resolve(catalog, spec)
    v = catalog.version(label) if label in catalog.versions else None
    if v is None:
        raise Refused(f"{spec!r} is not a published version")
    print(f"# version {v.id}, published {_when(v.published_at)} by {v.author}: {v.note}", file=out)
    print(v.text, file=out, end="" if v.text.endswith("\n") else "\n")


def _diff(catalog: Catalog, a: str, b: str, text_too: bool, out: TextIO) -> None:
    """The effective values that differ (what decides); with `text_too` the line diff of
    the texts as well, which shows the whole file when one side is a full policy and the
    other an override of two keys."""
    (la, ta), (lb, tb) = _resolve(catalog, a), _resolve(catalog, b)
    pa = make_version(ta, "", "", 0)
    pb = make_version(tb, "", "", 0)
    print(f"effective values, {la} ({pa.id}) -> {lb} ({pb.id}):", file=out)
    changes = changed_values(pa.policy(), pb.policy())
    for key, before, after in changes:
        print(f"  {key}: {before} -> {after}", file=out)
    if not changes:
        print("  (none: the two decide alike)", file=out)
    if not text_too:
        return
    text = difflib.unified_diff(ta.splitlines(keepends=True), tb.splitlines(keepends=True), la, lb)
    print("".join(text), file=out, end="")


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _warn(message: str) -> None:
    print(f"withdrawguard policy: warning: {message}", file=sys.stderr)
