"""Who may see what: the console's gate in front of every path of the web server.

Open without signing in: `/health` and `/ready` (load balancers), `/metrics` (Prometheus
scrapes it; counters only, no customer data), the sign-in page and the icon browsers ask
for on every page (`/favicon.ico`). Paths under `/api/`
pass to their own handlers, which authenticate callers with a service token. Faust's
`/table` and `/router` views (raw table values, cluster topology) are refused to all.
Everything else needs a signed, unexpired, unrevoked session; acting needs the
`analyst` role (or the one a page asks) and the session's CSRF token (`Access.acting`).

A refused action is answered one way on every page (`Refused.answer`): a browser gets
the page the form came from again, with the refusal's status, the reason and what was
typed; a caller that asks for JSON (`wants_json`) gets `{"error": reason}`. Every
refusal is logged once, with the method, path, reason, user and address: never a
password, token or cookie.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from types import MappingProxyType
from typing import Any, Protocol

from aiohttp import web

from withdrawguard.auth.roles import may
from withdrawguard.web.console.html import html_response
from withdrawguard.web.console.sessions import COOKIE, Session, Signer

log = logging.getLogger("withdrawguard.console.access")

PUBLIC = frozenset({"/health", "/ready", "/metrics", "/login", "/favicon.ico"})
SERVICE_PREFIX = "/api/"
REFUSED_PREFIXES = ("/table", "/router")
EMPTY: Mapping[str, Any] = MappingProxyType({})

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

    async def acting(
        self, request: web.Request, need: str = "analyst"
    ) -> tuple[Session, Mapping[str, Any]]:
        """Who acts, and what they posted: the session and its form. Refused (with the
        form as read, to show it again) unless the form can be read, the session has the
        role `need` (or one above it) and the form carries its CSRF token."""
        form = await read_form(request)
        session: Session | None = request.get("session")
        if session is None:
            raise Refused(request, 401, "not signed in", form)
        if not may(session.role, need):
            why = f"the {session.role} role cannot do this (it needs {need})"
            raise Refused(request, 403, why, form)
        if not self.signer.csrf_ok(session, form.get("csrf")):
            raise Refused(request, 403, "missing or wrong CSRF token", form)
        return session, form


async def read_form(request: web.Request) -> Mapping[str, Any]:
    """The posted form; a body that is not one (a multipart without its boundary, an
    unknown charset) is refused with 400 instead of failing the request."""
    try:
        return await request.post()
    except (ValueError, LookupError) as exc:
        raise Refused(request, 400, f"the form cannot be read ({exc})"[:200]) from None


Page = Callable[[Session], str | Awaitable[str]]
"""The page a refused action came from, rendered again for the session: with the reason
and what was typed (`Refused.form`)."""


class Refused(Exception):
    """A refusal of a request: its status, its reason, and the form as posted (empty when
    it could not be read). Answered, and logged, once (`answer`, or `response`)."""

    def __init__(
        self, request: web.Request, status: int, reason: str, form: Mapping[str, Any] = EMPTY
    ) -> None:
        super().__init__(status)
        self.request, self.status, self.reason, self.form = request, status, reason, form
        self.session: Session | None = request.get("session")

    @property
    def user(self) -> str:
        return self.session.user if self.session is not None else "-"

    @cached_property
    def response(self) -> web.Response:
        """The refusal as JSON, `{"error": reason}` (or 303 to sign in, for a page)."""
        return deny(self.request, self.status, self.reason, self.user)

    async def answer(self, page: Page) -> web.Response:
        """The refusal as the caller wants it: JSON for a caller that asked for it
        (`wants_json`) or one not signed in; for a browser, `page` again, with the
        refusal's status, so what was typed is not lost."""
        if self.session is None or wants_json(self.request):
            return self.response
        log_refusal(self.request, self.status, self.reason, self.user)
        text = page(self.session)
        return html_response(await text if inspect.isawaitable(text) else text, self.status)
