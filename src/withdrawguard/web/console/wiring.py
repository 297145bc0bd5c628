"""What the console's views share, built when the app is made and used on first request.

Nothing here touches a file, Redis or the network until a request comes: the session
secret is read (or made) on the first request, users are read at each sign-in (so
`withdrawguard users add` takes effect without a restart), Redis connects on first use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import faust
from aiohttp import web
from faust.types import TableT
from redis.asyncio import Redis

from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.auth.users import User, load_users
from withdrawguard.cases.policy import CasePolicy
from withdrawguard.casework.config import load_case_config
from withdrawguard.contract import topics as t
from withdrawguard.registry.keys import registry_prefix
from withdrawguard.settings import Settings
from withdrawguard.web.console.access import Access, Handler
from withdrawguard.web.console.headers import add_security_headers
from withdrawguard.web.console.ratelimit import RedisFailures, SignInLimiter
from withdrawguard.web.console.sessions import Signer, load_secret
from withdrawguard.web.console.store import RedisRevocations, RegistryReader

if TYPE_CHECKING:
    from withdrawguard.casework.service import CaseService
    from withdrawguard.web.console.policy_views import PolicyPage

log = logging.getLogger("withdrawguard.console")


@dataclass
class Console:
    app: faust.App
    settings: Settings
    customers: TableT[bytes, bytes]
    case_decisions: faust.TopicT
    release_policy: CasePolicy
    """Which releases take four eyes: the holds list and a customer's page release only
    below the threshold; a larger release is proposed and approved in its case."""
    _limiter: SignInLimiter | None = None
    _redis: Redis[bytes] | None = None
    _access: Access | None = None

    @property
    def prefix(self) -> str:
        return registry_prefix(self.settings.app_id)

    @property
    def redis(self) -> Redis[bytes]:
        if self._redis is None:
            self._redis = async_redis(self.settings, socket_timeout=5)
        return self._redis

    @property
    def registry(self) -> RegistryReader:
        return RegistryReader(self.redis, self.prefix)

    @property
    def limiter(self) -> SignInLimiter:
        """Failed sign-ins, counted in Redis by every worker of the deployment."""
        if self._limiter is None:
            self._limiter = SignInLimiter(RedisFailures(self.redis, self.prefix))
        return self._limiter

    @property
    def access(self) -> Access:
        if self._access is None:
            secret = load_secret(self.settings.session_secret_file, self.settings.data_dir, log)
            signer = Signer(secret, self.settings.session_hours)
            self._access = Access(signer, RedisRevocations(self.redis, self.prefix))
        return self._access

    @property
    def secure_cookies(self) -> bool:
        return self.settings.console_url.startswith("https://")

    def users(self) -> dict[str, User]:
        return load_users(self.settings.users_file)


def register_console(
    app: faust.App,
    settings: Settings,
    customers: TableT[bytes, bytes],
    policy: PolicyPage | None = None,
    cases: CaseService | None = None,
) -> Console:
    """Serve the console from `app`'s web server, behind the sign-in gate; with
    `policy`, its policy page too; with `cases`, the case pages (inboxes, cases,
    four eyes, export) on that case service."""
    from withdrawguard.web.console import auth_views, case_views, policy_views, views

    topic = app.topic(
        t.TopicNames(settings).name(t.CASE_DECISIONS),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    release = (
        cases.config.policy if cases is not None else load_case_config(settings.inboxes_file).policy
    )
    console = Console(app, settings, customers, topic, release)
    web_app: Any = app.web.web_app  # type: ignore[attr-defined]  # the aiohttp driver's app

    @web.middleware
    async def gate(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await console.access.middleware(request, handler)
        except web.HTTPException as exc:  # aiohttp's own 4xx (413, 405...) carry them too
            add_security_headers(exc)
            raise
        add_security_headers(response)
        return response

    web_app.middlewares.append(gate)
    auth_views.register(console)
    views.register(console)
    if policy is not None:
        policy_views.register(console, policy)
    if cases is not None:
        case_views.register(console, cases)
    if settings.users_file is None:
        log.warning("WG_USERS_FILE is unset: nobody can sign in to the console")
    return console
