"""Sign-in sessions in signed cookies, and CSRF tokens tied to them.

A cookie is `<payload>.<signature>`: the payload is base64url JSON {u, r, sid, exp}
(user, role, a random session id, expiry in epoch seconds), the signature HMAC-SHA256
over the payload with the console's secret. Nothing in it is secret; nothing in it can
be changed without the secret. The CSRF token is HMAC-SHA256 over the session id with
the same secret (a synchronizer token: every form carries it, and it is valid only for
the session it was issued to). Logout revokes the session id until it would expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

COOKIE = "wg_session"
SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class Session:
    user: str
    role: str
    sid: str
    expires: int
    """Epoch seconds."""


@dataclass(frozen=True, slots=True)
class Signer:
    secret: bytes
    hours: int

    def issue(self, user: str, role: str, now: float) -> tuple[Session, str]:
        """A new session and its cookie value."""
        s = Session(user, role, secrets.token_urlsafe(16), int(now) + self.hours * 3600)
        body = json.dumps({"u": s.user, "r": s.role, "sid": s.sid, "exp": s.expires})
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return s, f"{payload}.{self._sign(payload.encode())}"

    def read(self, cookie: str | None, now: float) -> Session | None:
        """The session a cookie carries; None if absent, tampered with or expired."""
        if not cookie or cookie.count(".") != 1:
            return None
        payload, signature = cookie.split(".")
        if not _same(signature, self._sign(payload.encode("utf-8", "surrogateescape"))):
            return None
        try:
            d = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            s = Session(str(d["u"]), str(d["r"]), str(d["sid"]), int(d["exp"]))
        except (ValueError, KeyError, TypeError):
            return None
        return s if now < s.expires else None

    def csrf_token(self, session: Session) -> str:
        return self._sign(b"csrf|" + session.sid.encode())

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and _same(str(token), self.csrf_token(session))

    def _sign(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that takes any text a client sends (hmac's refuses
    non-ASCII strings with a TypeError, which would be a 500)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def load_secret(path: Path | None, data_dir: Path, log: logging.Logger) -> bytes:
    """The secret from `path`; unset, one kept in the data dir (made on first start)."""
    if path is not None:
        raw = path.read_bytes().strip()
        if len(raw) < 16:
            raise ValueError(f"WG_SESSION_SECRET_FILE {path}: need at least 16 bytes")
        return raw
    own = data_dir / "console-session.secret"
    if not own.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(SECRET_BYTES))
        log.warning(
            "WG_SESSION_SECRET_FILE is unset: generated a session secret in %s; workers "
            "behind one console must share a secret (set WG_SESSION_SECRET_FILE)",
            own,
        )
    else:
        log.info("WG_SESSION_SECRET_FILE is unset: using the session secret in %s", own)
    return own.read_bytes().strip()
