"""Webhook signatures: `X-Withdrawguard-Signature: t=<unix seconds>,v1=<hex>`.

`v1` is the hex HMAC-SHA256, keyed with the channel's secret, of `f"{t}.".encode() + body`
(the raw request body, byte for byte). A receiver recomputes it, compares in constant time,
and refuses a timestamp more than `tolerance` seconds (default 300, five minutes) away from
its own clock, so a captured request cannot be replayed later. Several `v1=` entries may
appear (during a secret rotation); one match is enough.
"""

from __future__ import annotations

import hashlib
import hmac

HEADER = "X-Withdrawguard-Signature"
TOLERANCE_SECONDS = 300


def _mac(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: bytes, now: float) -> str:
    """The header value for `body` sent at `now` (unix seconds)."""
    t = int(now)
    return f"t={t},v1={_mac(secret, t, body)}"


def verify_signature(
    secret: str | bytes,
    header: str,
    body: bytes,
    now: float,
    tolerance: float = TOLERANCE_SECONDS,
) -> bool:
    """True when `header` signs `body` with `secret` and its time is within `tolerance`."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            timestamp = int(value)
        elif name == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)
