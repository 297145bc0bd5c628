"""`/login` (GET shows the form, POST signs in) and `/logout` (POST, with the CSRF token)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from faust.web import View
from redis.exceptions import RedisError

from withdrawguard.auth.users import authenticate
from withdrawguard.web.console import pages
from withdrawguard.web.console.access import Refused, client_address, deny, read_form
from withdrawguard.web.console.html import html_response, see_other
from withdrawguard.web.console.sessions import COOKIE

if TYPE_CHECKING:
    from withdrawguard.web.console.wiring import Console

MAX_FIELD = 1024


FAVICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<rect width="16" height="16" rx="3" fill="#1f2937"/>'
    b'<path d="M3 4l2.5 8 2.5-6 2.5 6L13 4" fill="none" stroke="#f5b800" stroke-width="1.6"/>'
    b"</svg>"
)
"""The console's icon (a "w" on the header's colour), an SVG browsers take at this path."""


def register(console: Console) -> None:
    app = console.app

    @app.page("/favicon.ico")
    class Favicon(View):
        async def get(self, request: web.Request) -> web.Response:
            # Every page load asks for it: answered here, it is no refusal to log.
            return web.Response(
                body=FAVICON,
                content_type="image/svg+xml",
                headers={"Cache-Control": "public, max-age=86400"},
            )

    @app.page("/login")
    class Login(View):
        async def get(self, request: web.Request) -> web.Response:
            if await console.access.session(request) is not None:
                return see_other("/console")
            return html_response(pages.login_page())

        async def post(self, request: web.Request) -> web.Response:
            try:
                form = await read_form(request)
            except Refused as refused:
                return refused.response
            user = str(form.get("user", ""))[:MAX_FIELD]
            password = str(form.get("password", ""))[:MAX_FIELD]
            address, now = client_address(request), time.time()
            try:
                why = await console.limiter.blocked(user, address, now)
            except RedisError as exc:  # cannot count: refuse rather than allow unlimited tries
                return deny(request, 503, f"cannot check failed sign-ins ({exc})"[:200], "-")
            if why is not None:
                deny(request, 429, why, user or "-")
                return html_response(pages.login_page(why, user), status=429)
            found = await asyncio.to_thread(authenticate, console.users(), user, password)
            if found is None:
                await console.limiter.failed(user, address, now)
                deny(request, 401, "wrong user name or password", user or "-")
                return html_response(
                    pages.login_page("Wrong user name or password.", user), status=401
                )
            await console.limiter.succeeded(user)
            _, cookie = console.access.signer.issue(found.name, found.role, now)
            response = see_other("/console")
            response.set_cookie(
                COOKIE,
                cookie,
                max_age=console.settings.session_hours * 3600,
                path="/",
                httponly=True,
                samesite="Strict",
                secure=console.secure_cookies,
            )
            return response

    @app.page("/logout")
    class Logout(View):
        async def post(self, request: web.Request) -> web.Response:
            session = request.get("session")
            try:
                form = await read_form(request)
            except Refused as refused:
                return refused.response
            if session is None or not console.access.signer.csrf_ok(session, _field(form, "csrf")):
                return deny(request, 403, "sign-out without its CSRF token", _user(session))
            await console.access.revocations.revoke(session.sid, session.expires - int(time.time()))
            response = see_other("/login")
            response.del_cookie(COOKIE, path="/")
            return response


def _field(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _user(session: Any) -> str:
    return str(session.user) if session is not None else "-"
