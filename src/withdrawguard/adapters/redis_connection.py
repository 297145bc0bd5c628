"""How every Redis client of withdrawguard connects: where, password and TLS from the
settings.

The registry writer, the notifier's de-duplication, the console and the decision API
all build their clients here, for the topology of WG_REDIS_MODE (`redis_topology`). TLS
is chosen by the URL (`rediss://`); the CA, client certificate and key come from
WG_REDIS_TLS_*; the password from WG_REDIS_PASSWORD_FILE (or WG_REDIS_PASSWORD), never
from the URL, so it is never in a log line or a repr.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio
from redis.exceptions import AuthenticationError

from withdrawguard.adapters.redis_topology import async_client, sync_client
from withdrawguard.secret import read_secret_file
from withdrawguard.settings import Settings
from withdrawguard.settings.redis import Topology


def topology(settings: Settings) -> Topology:
    """Where the settings' Redis is (checked when the settings were built)."""
    return Topology.of(
        settings.redis_mode,
        settings.redis_url,
        settings.redis_sentinels,
        settings.redis_sentinel_master,
    )


def redis_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Redis.from_url` (sync and asyncio alike)."""
    options: dict[str, Any] = {}
    if settings.redis_password_file is not None:
        secret = read_secret_file(settings.redis_password_file, "WG_REDIS_PASSWORD_FILE")
        options["password"] = secret.reveal()
    elif settings.redis_password is not None:
        options["password"] = settings.redis_password.reveal()
    if settings.redis_username:
        options["username"] = settings.redis_username
    if settings.redis_tls_cafile is not None:
        options["ssl_ca_certs"] = str(settings.redis_tls_cafile)
    if settings.redis_tls_certfile is not None and settings.redis_tls_keyfile is not None:
        options["ssl_certfile"] = str(settings.redis_tls_certfile)
        options["ssl_keyfile"] = str(settings.redis_tls_keyfile)
    return options


def async_redis(settings: Settings, **extra: Any) -> redis.asyncio.Redis[bytes]:
    """An asyncio client (connects on first use)."""
    return async_client(topology(settings), **redis_options(settings), **extra)


def sync_redis(settings: Settings, **extra: Any) -> redis.Redis[bytes]:
    """A blocking client (connects on first use)."""
    return sync_client(topology(settings), **redis_options(settings), **extra)


def shown_url(url: str) -> str:
    """The URL with any password in it replaced by `***` (safe to log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def explain(exc: BaseException, settings: Settings) -> str:
    """A one-line, secret-free account of why Redis could not be used, naming the
    setting to look at."""
    where = f"Redis at {shown_url(settings.redis_url)}"
    if settings.redis_mode == "sentinel":
        where = f"Redis master {settings.redis_sentinel_master!r} of {settings.redis_sentinels}"
    text = str(exc)
    auth = ("NOAUTH", "WRONGPASS", "Authentication required", "already authenticated")
    if isinstance(exc, AuthenticationError) or any(a in text for a in auth):
        if settings.redis_password is None and settings.redis_password_file is None:
            return f"{where} asks for a password: set WG_REDIS_PASSWORD_FILE"
        return f"{where} refused the password of WG_REDIS_PASSWORD_FILE/WG_REDIS_USERNAME"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return f"{where} has a certificate this client does not trust: set WG_REDIS_TLS_CAFILE"
    return f"{where}: {type(exc).__name__}: {text}"
