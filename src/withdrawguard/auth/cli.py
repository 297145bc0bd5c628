"""`withdrawguard users add NAME --role ROLE`: add or replace a console user.

The password is asked for twice with getpass, or read from the first line of stdin with
`--password-stdin` (for scripts). It is stored only as a salted scrypt hash, in the file
WG_USERS_FILE names.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from withdrawguard.auth.roles import ROLES
from withdrawguard.auth.users import UsersFileError, add_user, name_problem
from withdrawguard.settings import Settings

MIN_PASSWORD = 8


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="add a user, or replace one's role and password")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")


def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.users_file is None:
        print("withdrawguard: set WG_USERS_FILE to the users file", file=sys.stderr)
        return 2
    problem = name_problem(args.name)
    if problem is not None:
        print(f"withdrawguard users: {problem}", file=sys.stderr)
        return 2
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            print(
                "withdrawguard users: --password-stdin read nothing: pipe the password in "
                "(its first line is used)",
                file=sys.stderr,
            )
            return 2
        password = line.rstrip("\r\n")
    elif not sys.stdin.isatty():
        print(
            "withdrawguard users: no terminal to ask for the password on: "
            "pipe it in with --password-stdin",
            file=sys.stderr,
        )
        return 2
    else:
        try:
            password = getpass.getpass(f"Password for {args.name}: ")
            again = getpass.getpass("Again: ")
        except EOFError:
            print("withdrawguard users: no password given (end of input)", file=sys.stderr)
            return 2
        if again != password:
            print("withdrawguard: the passwords differ", file=sys.stderr)
            return 1
    if len(password) < MIN_PASSWORD:
        print(f"withdrawguard: a password has at least {MIN_PASSWORD} characters", file=sys.stderr)
        return 1
    try:
        add_user(settings.users_file, args.name, args.role, password)
    except UsersFileError as exc:
        print(f"withdrawguard: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name} ({args.role}) saved in {settings.users_file}")
    return 0
