"""Who may see what: the console's gate in front of every path of the web server.

Open without signing in: `/health` and `/ready` (load balancers), `/metrics` (Prometheus
scrapes it; counters only, no customer data), the sign-in page and the icon browsers ask
for on every page (`/favicon.ico`). Paths under `/api/`
pass to their own handlers, which authenticate callers with a service token. Faust's
`/table` and `/router` views (raw table values, cluster topology) are refused to all.
Everything else needs a signed, unexpired, unrevoked session; acting needs the
`analyst` role and the session's CSRF token. Every refusal is logged with the method,
path, reason, user and address: never a password, token or cookie.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from aiohttp import web

from withdrawguard.auth.roles import may
from withdrawguard.web.console.html import html_response
from withdrawguard.web.console.sessions import COOKIE, Session, Signer

log = logging.getLogger("withdrawguard.console.access")

PUBLIC = frozenset({"/health", "/ready", "/metrics", "/login", "/favicon.ico"})
SERVICE_PREFIX = "/api/"
REFUSED_PREFIXES = ("/table", "/router")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Revocations(Protocol):
    async def revoke(self, sid: str, seconds: int) -> None: ...

    async def is_revoked(self, sid: str) -> bool: ...


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def log_refusal(request: web.Request, status: int, reason: str, user: str = "-") -> None:
    log.warning(
        "console: denied %s %s with %d: %s (user %s, address %s)",
        request.method,
        request.path,
        status,
        reason,
        user,
        client_address(request),
    )


def wants_json(request: web.Request) -> bool:
    """A caller of the API rather than a browser: a path under `/console/api` or `/api/`,
    or an `Accept` header that names `application/json` and not `text/html`."""
    if request.path.startswith(("/console/api", SERVICE_PREFIX)):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def refusal_page(
    request: web.Request, status: int, reason: str, user: str, page: Callable[[], str]
) -> web.Response:
    """A refusal, logged: the page `page` renders (with the reason and what was typed)
    for a browser, the JSON of `deny` for a caller that asked for JSON."""
    if wants_json(request):
        return deny(request, status, reason, user)
    log_refusal(request, status, reason, user)
    return html_response(page(), status)


def deny(request: web.Request, status: int, reason: str, user: str = "-") -> web.Response:
    log_refusal(request, status, reason, user)
    if status == 401 and request.method == "GET" and not request.path.startswith("/console/api"):
        return web.Response(status=303, headers={"Location": "/login"})
    return web.json_response({"error": reason}, status=status)


@dataclass
class Access:
    signer: Signer
    revocations: Revocations

    async def session(self, request: web.Request) -> Session | None:
        s = self.signer.read(request.cookies.get(COOKIE), time.time())
        if s is None or await self.revocations.is_revoked(s.sid):
            return None
        return s

    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith(REFUSED_PREFIXES):
            return deny(request, 404, "Faust's built-in table and router views are off")
        if path in PUBLIC or path.startswith(SERVICE_PREFIX):
            return await handler(request)
        session = await self.session(request)
        if session is None:
            return deny(request, 401, "not signed in")
        request["session"] = session
        return await handler(request)

    def check_action(
        self, request: web.Request, form: Mapping[str, Any], need: str = "analyst"
    ) -> Session:
        """The acting session; raises a refusal unless it has the role `need` (or one
        above it) and the CSRF token."""
        session: Session | None = request.get("session")
        if session is None:
            raise _refusal(request, 401, "not signed in")
        if not may(session.role, need):
            why = f"the {session.role} role cannot do this (it needs {need})"
            raise _refusal(request, 403, why, session.user)
        if not self.signer.csrf_ok(session, form.get("csrf")):
            raise _refusal(request, 403, "missing or wrong CSRF token", session.user)
        return session


async def read_form(request: web.Request) -> Mapping[str, Any]:
    """The posted form; a body that is not one (a multipart without its boundary, an
    unknown charset) is refused with 400 instead of failing the request."""
    try:
        return await request.post()
    except (ValueError, LookupError) as exc:
        raise _refusal(request, 400, f"the form cannot be read ({exc})"[:200]) from None


class Refused(Exception):
    """A refusal, carrying its status and reason. Logged once, when answered: with the
    JSON `response` that says so, or with a page instead (`refusal_page`)."""

    def __init__(self, request: web.Request, status: int, reason: str, user: str) -> None:
        super().__init__(status)
        self._request, self._user = request, user
        self.status, self.reason = status, reason

    @cached_property
    def response(self) -> web.Response:
        return deny(self._request, self.status, self.reason, self._user)


def _refusal(request: web.Request, status: int, reason: str, user: str = "-") -> Refused:
    return Refused(request, status, reason, user)
