"""Settings: one frozen object, built once at the entry point from `WG_` variables.

Nothing else in the package reads the environment. Faust reads some variables of its
own (BROKER_URL, APP_*), which is why ours all carry the `WG_` prefix.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from withdrawguard.secret import Secret

PREFIX = "WG_"


class SettingsError(ValueError):
    """A `WG_` variable holds a value that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of a withdrawguard process. Field docs are the README's table."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    """Kafka bootstrap servers, comma-separated host:port."""
    kafka_security_protocol: str = "PLAINTEXT"
    """`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (see docs/security.md)."""
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    """SASL mechanism: `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`."""
    kafka_sasl_username: str = ""
    """SASL user name (SASL protocols only)."""
    kafka_sasl_password: Secret | None = None
    """SASL password; prefer `WG_KAFKA_SASL_PASSWORD_FILE`. Never printed."""
    kafka_sasl_password_file: Path | None = None
    """File whose first line is the SASL password."""
    kafka_ssl_cafile: Path | None = None
    """CA bundle (PEM) that signs the brokers' certificates; unset: the system's CAs."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis URL for the hold registry and notification de-duplication (`rediss://` for TLS)."""
    redis_username: str = ""
    """Redis ACL user name; unset: the default user."""
    redis_password: Secret | None = None
    """Redis password; prefer `WG_REDIS_PASSWORD_FILE`. Never printed."""
    redis_password_file: Path | None = None
    """File whose first line is the Redis password."""
    redis_tls_cafile: Path | None = None
    """CA bundle (PEM) that signs the Redis server's certificate (`rediss://` only)."""
    redis_tls_certfile: Path | None = None
    """Client certificate (PEM) when Redis asks for one (`rediss://` only)."""
    redis_tls_keyfile: Path | None = None
    """Private key (PEM) of the client certificate."""
    redis_mode: str = "standalone"
    """`standalone`, `cluster` (WG_REDIS_URL names one node) or `sentinel` (docs/deploy.md)."""
    redis_sentinels: str = ""
    """Sentinels, comma-separated host:port (WG_REDIS_MODE=sentinel only)."""
    redis_sentinel_master: str = ""
    """Service name of the master the sentinels watch (WG_REDIS_MODE=sentinel only)."""
    redis_min_replicas: int = 0
    """Replicas that confirm each registry write (Redis WAIT) before it counts; 1+ for sentinel."""
    app_id: str = "withdrawguard"
    """Faust application id: the consumer group and the prefix of internal topics."""
    topic_prefix: str = ""
    """Prefix for every topic name (for example `staging.`); empty in production."""
    partitions: int = 6
    """Partitions of every topic `withdrawguard topics create` makes (inputs co-partitioned)."""
    replication_factor: int = 1
    """Replication factor of created topics (1 for the single local broker)."""
    data_dir: Path = Path(".local/worker")
    """Where the worker keeps its RocksDB tables."""
    store: str = "rocksdb"
    """Table store: `rocksdb` (default) or `memory` (tests: state is rebuilt from changelogs)."""
    table_memory_mb: int = 128
    """MiB the worker's RocksDB tables share: block cache and memtables, all partitions."""
    table_standby_replicas: int = 1
    """Warm copies of each table partition kept on other workers, for faster takeovers (0 to 3)."""
    web_host: str = "127.0.0.1"
    """Interface the worker's web server binds to."""
    web_port: int = 6066
    """Port of the worker's web server."""
    canonical_url: str = ""
    """URL the other workers reach this one's web server at (the console forwards a customer's
    pages and actions to its owner); unset: `http://<WG_WEB_HOST>:<WG_WEB_PORT>`, with the
    host name for a wildcard WG_WEB_HOST."""
    policy_file: Path | None = None
    """Detection policy (TOML); unset means the packaged default policy."""
    max_message_bytes: int = 262_144
    """Largest input payload accepted; larger ones go to dead-letters."""
    max_clock_skew: int = 3600
    """Seconds occurred_at may be ahead of the worker's clock; later events are dead-lettered."""
    batch_max: int = 500
    """Most events a table-writing agent handles in one batch; 1 handles each on its own."""
    batch_within_ms: int = 5
    """Milliseconds an agent waits for a batch to fill before it handles what it has."""
    log_level: str = "info"
    """Log level of the worker."""
    notify_config: Path | None = None
    """Notification routing file (TOML, see Notifications); unset means no notifications."""
    console_url: str = "http://127.0.0.1:6066"
    """Base URL of the ops console; notifications link to `<url>/customers/<customer id>`."""
    notify_backlog_max: int = 1000
    """Most alerts the notifier holds in memory (retrying, queued, awaiting a digest); at the
    bound it stops reading fraud-alerts, which wait in Kafka, uncommitted."""
    service_tokens_file: Path | None = None
    """Service tokens for `/api/withdrawals/<id>/decision`, one a line; unset means refuse all."""
    users_file: Path | None = None
    """Console users and roles (JSON, made by `withdrawguard users add`); unset: nobody signs in."""
    admin_password_file: Path | None = None
    """Password of the `--user` admin of `withdrawguard policy` changes; unset: asked on a tty."""
    session_secret_file: Path | None = None
    """Secret that signs console sessions; unset means one generated in `WG_DATA_DIR` (logged)."""
    session_hours: int = 8
    """Hours a console sign-in lasts."""
    kafka_session_timeout: int = 10
    """Seconds without a heartbeat before Kafka gives a worker's partitions to the others."""
    kafka_heartbeat_interval: int = 3
    """Seconds between a worker's heartbeats; at most a third of WG_KAFKA_SESSION_TIMEOUT."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `WG_*` variables (default: the process environment)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(PREFIX + field.name.upper())
            if raw is None or raw == "":
                continue
            values[field.name] = _convert(field.name, raw)
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.partitions < 1:
            raise SettingsError(f"WG_PARTITIONS must be at least 1, got {self.partitions}")
        if self.replication_factor < 1:
            raise SettingsError("WG_REPLICATION_FACTOR must be at least 1")
        if self.store not in ("rocksdb", "memory"):
            raise SettingsError(f"WG_STORE must be 'rocksdb' or 'memory', got {self.store!r}")
        if self.table_memory_mb < 16:
            raise SettingsError(
                f"WG_TABLE_MEMORY_MB must be at least 16, got {self.table_memory_mb}"
            )
        if not 0 <= self.table_standby_replicas <= 3:
            raise SettingsError(
                "WG_TABLE_STANDBY_REPLICAS must be between 0 and 3, "
                f"got {self.table_standby_replicas}"
            )
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"WG_WEB_PORT must be a TCP port, got {self.web_port}")
        if self.max_message_bytes < 1024:
            raise SettingsError("WG_MAX_MESSAGE_BYTES must be at least 1024")
        if not 1 <= self.batch_max <= 10_000:
            raise SettingsError(f"WG_BATCH_MAX must be between 1 and 10000, got {self.batch_max}")
        if not 1 <= self.batch_within_ms <= 1000:
            raise SettingsError(
                f"WG_BATCH_WITHIN_MS must be between 1 and 1000, got {self.batch_within_ms}"
            )
        _validate_canonical_url(self.canonical_url)
        if not self.console_url.startswith(("http://", "https://")):
            raise SettingsError(f"WG_CONSOLE_URL must be an http(s) URL, got {self.console_url!r}")
        if not 1 <= self.notify_backlog_max <= 1_000_000:
            raise SettingsError(
                "WG_NOTIFY_BACKLOG_MAX must be between 1 and 1000000, "
                f"got {self.notify_backlog_max}"
            )
        if not 1 <= self.session_hours <= 24 * 30:
            raise SettingsError("WG_SESSION_HOURS must be between 1 and 720")
        if not 6 <= self.kafka_session_timeout <= 300:
            raise SettingsError(
                "WG_KAFKA_SESSION_TIMEOUT must be between 6 and 300 seconds (the broker's "
                f"group.min/max.session.timeout.ms), got {self.kafka_session_timeout}"
            )
        if not 1 <= self.kafka_heartbeat_interval * 3 <= self.kafka_session_timeout:
            raise SettingsError(
                "WG_KAFKA_HEARTBEAT_INTERVAL must be at least 1 and at most a third of "
                f"WG_KAFKA_SESSION_TIMEOUT, got {self.kafka_heartbeat_interval}"
            )
        if not self.kafka_bootstrap.strip():
            raise SettingsError("WG_KAFKA_BOOTSTRAP must name at least one host:port")
        _validate_kafka_security(self)
        _validate_redis_security(self)

    @property
    def broker_url(self) -> str:
        """The bootstrap servers in the `kafka://` form Faust expects."""
        return ";".join("kafka://" + h.strip() for h in self.kafka_bootstrap.split(","))

    @property
    def bootstrap_servers(self) -> list[str]:
        return [h.strip() for h in self.kafka_bootstrap.split(",") if h.strip()]

    @property
    def advertised_url(self) -> str:
        """The URL this worker gives the group for its web server: WG_CANONICAL_URL, or
        `http://<WG_WEB_HOST>:<WG_WEB_PORT>` with the machine's host name in place of a
        wildcard address (other workers cannot reach a worker at 0.0.0.0)."""
        if self.canonical_url:
            return self.canonical_url
        host = socket.gethostname() if self.web_host in WILDCARD_HOSTS else self.web_host
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"http://{host}:{self.web_port}"


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
    from withdrawguard.adapters.redis_topology import Topology, TopologyError

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


_INTS = {
    "partitions",
    "replication_factor",
    "web_port",
    "max_message_bytes",
    "max_clock_skew",
    "session_hours",
    "kafka_session_timeout",
    "kafka_heartbeat_interval",
    "table_memory_mb",
    "table_standby_replicas",
    "batch_max",
    "batch_within_ms",
    "redis_min_replicas",
    "notify_backlog_max",
}
_PATHS = {
    "data_dir",
    "policy_file",
    "notify_config",
    "service_tokens_file",
    "users_file",
    "admin_password_file",
    "session_secret_file",
    "kafka_sasl_password_file",
    "kafka_ssl_cafile",
    "redis_password_file",
    "redis_tls_cafile",
    "redis_tls_certfile",
    "redis_tls_keyfile",
}
_SECRETS = {"kafka_sasl_password", "redis_password"}


def _convert(name: str, raw: str) -> Any:
    if name in _INTS:
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"{PREFIX}{name.upper()} must be an integer, got {raw!r}") from None
    if name in _PATHS:
        return Path(raw).expanduser()
    if name in _SECRETS:
        return Secret(raw.strip())
    return raw.strip()


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README's table."""
    import inspect
    import re

    source = inspect.getsource(Settings)
    docs = dict(re.findall(r"\n    (\w+): [^\n]*\n    \"\"\"(.*?)\"\"\"", source, re.S))
    rows = []
    for field in fields(Settings):
        default = field.default
        shown = "" if default is None else str(default)
        rows.append((PREFIX + field.name.upper(), shown, " ".join(docs[field.name].split())))
    return rows
