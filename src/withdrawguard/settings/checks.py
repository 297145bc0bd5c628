"""The checks a `Settings` passes before anything uses it: ranges, the Kafka and Redis
security options together, the Redis topology. Each error names the variable(s)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from withdrawguard.settings.fields import SettingsError
from withdrawguard.settings.redis import Topology, TopologyError

if TYPE_CHECKING:
    from withdrawguard.settings.model import Settings


def validate(s: Settings) -> None:
    """Raise `SettingsError` naming the first variable whose value cannot be used."""
    if s.partitions < 1:
        raise SettingsError(f"WG_PARTITIONS must be at least 1, got {s.partitions}")
    if s.replication_factor < 1:
        raise SettingsError("WG_REPLICATION_FACTOR must be at least 1")
    if s.store not in ("rocksdb", "memory"):
        raise SettingsError(f"WG_STORE must be 'rocksdb' or 'memory', got {s.store!r}")
    if s.gc not in ("freeze", "python"):
        raise SettingsError(f"WG_GC must be 'freeze' or 'python', got {s.gc!r}")
    if s.table_memory_mb < 16:
        raise SettingsError(f"WG_TABLE_MEMORY_MB must be at least 16, got {s.table_memory_mb}")
    if not 0 <= s.table_standby_replicas <= 3:
        raise SettingsError(
            f"WG_TABLE_STANDBY_REPLICAS must be between 0 and 3, got {s.table_standby_replicas}"
        )
    if not 0 < s.web_port < 65536:
        raise SettingsError(f"WG_WEB_PORT must be a TCP port, got {s.web_port}")
    if s.max_message_bytes < 1024:
        raise SettingsError("WG_MAX_MESSAGE_BYTES must be at least 1024")
    if not 1 <= s.batch_max <= 10_000:
        raise SettingsError(f"WG_BATCH_MAX must be between 1 and 10000, got {s.batch_max}")
    if not 1 <= s.batch_within_ms <= 1000:
        raise SettingsError(
            f"WG_BATCH_WITHIN_MS must be between 1 and 1000, got {s.batch_within_ms}"
        )
    _validate_canonical_url(s.canonical_url)
    if not s.console_url.startswith(("http://", "https://")):
        raise SettingsError(f"WG_CONSOLE_URL must be an http(s) URL, got {s.console_url!r}")
    if not 1 <= s.notify_backlog_max <= 1_000_000:
        raise SettingsError(
            f"WG_NOTIFY_BACKLOG_MAX must be between 1 and 1000000, got {s.notify_backlog_max}"
        )
    if not 1 <= s.session_hours <= 24 * 30:
        raise SettingsError("WG_SESSION_HOURS must be between 1 and 720")
    if not 6 <= s.kafka_session_timeout <= 300:
        raise SettingsError(
            "WG_KAFKA_SESSION_TIMEOUT must be between 6 and 300 seconds (the broker's "
            f"group.min/max.session.timeout.ms), got {s.kafka_session_timeout}"
        )
    if not 1 <= s.kafka_heartbeat_interval * 3 <= s.kafka_session_timeout:
        raise SettingsError(
            "WG_KAFKA_HEARTBEAT_INTERVAL must be at least 1 and at most a third of "
            f"WG_KAFKA_SESSION_TIMEOUT, got {s.kafka_heartbeat_interval}"
        )
    if not 10 <= s.wedge_seconds <= 3600:
        raise SettingsError(f"WG_WEDGE_SECONDS must be between 10 and 3600, got {s.wedge_seconds}")
    if not 10 <= s.stall_seconds <= 3600:
        raise SettingsError(f"WG_STALL_SECONDS must be between 10 and 3600, got {s.stall_seconds}")
    if not s.kafka_bootstrap.strip():
        raise SettingsError("WG_KAFKA_BOOTSTRAP must name at least one host:port")
    _validate_kafka_security(s)
    _validate_redis_security(s)


WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")  # noqa: S104 - names of the wildcards, bound nowhere


def _validate_canonical_url(url: str) -> None:
    if not url:
        return
    problem = ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        problem = str(exc)
    else:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            problem = "it must be an http(s) URL with a host"
        elif parts.hostname in WILDCARD_HOSTS:
            problem = "a wildcard address is where a server listens, not where others reach it"
        elif parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            problem = "it must be scheme://host[:port] only (no path, query or user)"
        elif port == 0:
            problem = "the port must not be 0"
    if problem:
        raise SettingsError(f"WG_CANONICAL_URL: {problem}, got {url!r}")


KAFKA_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


def _validate_kafka_security(s: Settings) -> None:
    protocol = s.kafka_security_protocol
    if protocol not in KAFKA_PROTOCOLS:
        raise SettingsError(
            f"WG_KAFKA_SECURITY_PROTOCOL must be one of {', '.join(KAFKA_PROTOCOLS)}, "
            f"got {protocol!r}"
        )
    if s.kafka_sasl_mechanism not in SASL_MECHANISMS:
        raise SettingsError(
            f"WG_KAFKA_SASL_MECHANISM must be one of {', '.join(SASL_MECHANISMS)}, "
            f"got {s.kafka_sasl_mechanism!r}"
        )
    sasl = protocol.startswith("SASL_")
    password_given = s.kafka_sasl_password is not None or s.kafka_sasl_password_file is not None
    if sasl and not s.kafka_sasl_username:
        raise SettingsError(f"WG_KAFKA_SECURITY_PROTOCOL={protocol} needs WG_KAFKA_SASL_USERNAME")
    if sasl and not password_given:
        raise SettingsError(
            f"WG_KAFKA_SECURITY_PROTOCOL={protocol} needs WG_KAFKA_SASL_PASSWORD_FILE "
            "(or WG_KAFKA_SASL_PASSWORD)"
        )
    if not sasl and (s.kafka_sasl_username or password_given):
        raise SettingsError(
            f"WG_KAFKA_SASL_USERNAME/PASSWORD are set but WG_KAFKA_SECURITY_PROTOCOL is {protocol}"
        )
    if s.kafka_sasl_password is not None and s.kafka_sasl_password_file is not None:
        raise SettingsError("set WG_KAFKA_SASL_PASSWORD or WG_KAFKA_SASL_PASSWORD_FILE, not both")
    if s.kafka_ssl_cafile is not None and not protocol.endswith("SSL"):
        raise SettingsError(
            f"WG_KAFKA_SSL_CAFILE is set but WG_KAFKA_SECURITY_PROTOCOL is {protocol}"
        )
    _readable(s.kafka_ssl_cafile, "WG_KAFKA_SSL_CAFILE")
    _readable(s.kafka_sasl_password_file, "WG_KAFKA_SASL_PASSWORD_FILE")


def _validate_redis_security(s: Settings) -> None:
    if not s.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError("WG_REDIS_URL must be a redis://, rediss:// or unix:// URL")
    if s.redis_password is not None and s.redis_password_file is not None:
        raise SettingsError("set WG_REDIS_PASSWORD or WG_REDIS_PASSWORD_FILE, not both")
    tls = {
        "WG_REDIS_TLS_CAFILE": s.redis_tls_cafile,
        "WG_REDIS_TLS_CERTFILE": s.redis_tls_certfile,
        "WG_REDIS_TLS_KEYFILE": s.redis_tls_keyfile,
    }
    for name, path in tls.items():
        if path is not None and not s.redis_url.startswith("rediss://"):
            raise SettingsError(f"{name} is set but WG_REDIS_URL is not a rediss:// (TLS) URL")
        _readable(path, name)
    if (s.redis_tls_certfile is None) != (s.redis_tls_keyfile is None):
        raise SettingsError("WG_REDIS_TLS_CERTFILE and WG_REDIS_TLS_KEYFILE go together")
    _readable(s.redis_password_file, "WG_REDIS_PASSWORD_FILE")
    _validate_redis_topology(s)


def _validate_redis_topology(s: Settings) -> None:
    if not s.app_id or "{" in s.app_id or "}" in s.app_id:
        raise SettingsError(f"WG_APP_ID must be non-empty and without braces, got {s.app_id!r}")
    try:
        Topology.of(s.redis_mode, s.redis_url, s.redis_sentinels, s.redis_sentinel_master)
    except TopologyError as exc:
        names = "WG_REDIS_URL, WG_REDIS_SENTINELS, WG_REDIS_SENTINEL_MASTER"
        raise SettingsError(f"WG_REDIS_MODE={s.redis_mode}: {exc} ({names})") from None
    if not 0 <= s.redis_min_replicas <= 5:
        raise SettingsError(f"WG_REDIS_MIN_REPLICAS must be 0 to 5, got {s.redis_min_replicas}")
    if s.redis_mode == "sentinel" and s.redis_min_replicas < 1:
        raise SettingsError(
            "WG_REDIS_MODE=sentinel needs WG_REDIS_MIN_REPLICAS of at least 1: without it a "
            "failover can lose registry writes the old master acknowledged"
        )
    if s.redis_mode == "cluster" and s.redis_min_replicas:
        raise SettingsError(
            "WG_REDIS_MIN_REPLICAS is not supported with WG_REDIS_MODE=cluster (docs/deploy.md)"
        )


def _readable(path: Path | None, name: str) -> None:
    if path is not None and not path.is_file():
        raise SettingsError(f"{name}: {path} is not a readable file")
