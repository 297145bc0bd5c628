"""`GET /api/withdrawals/{withdrawal_id}/decision`: the client's answer over HTTP.

Callers send `Authorization: Bearer <token>`, a token from WG_SERVICE_TOKENS_FILE (one a
line; blank lines and `#` comments ignored), compared in constant time against every
token. No or a wrong token: 401 with a JSON reason, logged without the token. An unknown
withdrawal is `pending` (200), never 404, so ids cannot be probed. When Redis cannot be
reached the answer is `hold` with `fail_closed: true`, status 503.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faust

from withdrawguard.adapters.redis_connection import redis_options, topology
from withdrawguard.client import AsyncDecisionClient
from withdrawguard.settings import Settings

log = logging.getLogger(__name__)
PATH = "/api/withdrawals/{withdrawal_id}/decision"


class ServiceTokensError(ValueError):
    """WG_SERVICE_TOKENS_FILE cannot be read; the message names the file."""


def load_tokens(path: Path | None) -> tuple[bytes, ...]:
    """SHA-256 digests of the tokens in `path` (none when unset: every call is refused)."""
    if path is None:
        return ()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ServiceTokensError(f"cannot read {path}: {exc.strerror}") from None
    tokens = [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]
    return tuple(_digest(t) for t in tokens)


def refusal(authorization: str | None, tokens: Sequence[bytes]) -> str | None:
    """Why the request is refused, or None when its bearer token is one of `tokens`."""
    if not tokens:
        return "no service tokens are configured"
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return "missing bearer token"
    given = _digest(token.strip())
    match = False
    for known in tokens:  # every token is compared: the time does not depend on which
        match |= hmac.compare_digest(given, known)
    return None if match else "invalid token"


def register_decision_api(app: faust.App, settings: Settings) -> AsyncDecisionClient:
    """Serve the decision API from `app`'s web server, reading the registry with a Redis
    connection pool of its own (closed when the app stops); returns that client."""
    where = topology(settings)
    client = AsyncDecisionClient(
        settings.redis_url,
        settings.app_id,
        mode=where.mode,
        sentinels=[f"{host}:{port}" for host, port in where.sentinels],
        sentinel_master=where.sentinel_master,
        **redis_options(settings),
    )
    tokens = load_tokens(settings.service_tokens_file)

    async def close(app: Any, **kwargs: Any) -> None:
        await client.aclose()

    app.on_before_shutdown.connect(close)  # type: ignore[arg-type]  # async receivers are awaited
    serve_decisions(app, client, tokens)
    return client


def serve_decisions(app: faust.App, client: AsyncDecisionClient, tokens: Sequence[bytes]) -> None:
    """`GET PATH` answered from `client`, for callers holding one of `tokens`."""

    @app.page(PATH)
    async def withdrawal_decision(view: Any, request: Any, withdrawal_id: str) -> Any:
        denied = refusal(request.headers.get("Authorization"), tokens)
        if denied is not None:
            log.warning("decision API refused (%s) from %s", denied, request.remote)
            return view.json(
                {"error": "unauthorized", "reason": denied},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="withdrawguard"'},
            )
        answer = await client.decision(withdrawal_id)
        return view.json(answer.to_json(), status=503 if answer.fail_closed else 200)


def _digest(token: str) -> bytes:
    # Header text may hold bytes that are not UTF-8 (kept as surrogates): never a 500.
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
