"""Console users: salted scrypt password hashes, and the users file.

The users file is JSON (written by `withdrawguard users add`, read once when the worker
starts): `{"users": [{"name": ..., "role": "viewer" | "analyst" | "admin", "password": <hash>}]}`.
A hash carries its own parameters: `scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from withdrawguard.auth.roles import ROLES

N, R, P = 2**14, 8, 1
KEY_BYTES = 32
_MAXMEM = 64 * 1024 * 1024


class UsersFileError(ValueError):
    """The users file cannot be read or names an unknown role."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: str
    password: str
    """The scrypt hash, never the password."""


def hash_password(password: str, *, n: int = N, r: int = R, p: int = P) -> str:
    salt = secrets.token_bytes(16)
    key = hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=_MAXMEM
    )
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches `stored`; False for a malformed hash."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key)
        got = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# Checked when the user does not exist, so a sign-in takes as long either way.
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    user = users.get(name)
    ok = verify_password(password, user.password if user else _DUMMY)
    return user if ok and user is not None else None


def load_users(path: Path | None) -> dict[str, User]:
    """Users by name; none when `path` is None or the file does not exist yet."""
    if path is None or not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        users = [User(u["name"], u["role"], u["password"]) for u in doc["users"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsersFileError(f"{path}: not a users file ({type(exc).__name__})") from None
    for u in users:
        if u.role not in ROLES:
            raise UsersFileError(f"{path}: user {u.name!r} has unknown role {u.role!r}")
    return {u.name: u for u in users}


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
"""A user name: it is shown in pages, logs, case events and exports, and typed after
`--user`, so letters, digits and `._@-` only (no spaces, no markup), 1 to 64 of them."""


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a user's name, or None."""
    if NAME.fullmatch(name) is None:
        return (
            f"user name {name!r} is not allowed: 1 to 64 letters, digits or . _ @ -, "
            "starting with a letter or digit"
        )
    return None


def add_user(path: Path, name: str, role: str, password: str) -> None:
    """Add or replace `name`; the file is rewritten atomically, readable by its owner only."""
    if role not in ROLES:
        raise UsersFileError(f"role must be one of {', '.join(ROLES)}")
    problem = name_problem(name)
    if problem is not None:
        raise UsersFileError(problem)
    users = load_users(path)
    users[name] = User(name, role, hash_password(password))
    doc = {
        "users": [{"name": u.name, "role": u.role, "password": u.password} for u in users.values()]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    tmp.replace(path)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
