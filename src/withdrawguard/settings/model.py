"""`Settings`, built once at the entry point (`Settings.from_env`). Each
setting is a field: its annotated type says how its `WG_` variable is parsed, its help
text (`metadata=doc(...)`) is its row in the README's table. `environ` is no setting:
the environment the object was built from, for the secrets a notify routing file names."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from withdrawguard.secret import Secret
from withdrawguard.settings import checks
from withdrawguard.settings.checks import WILDCARD_HOSTS
from withdrawguard.settings.fields import Environment, doc, parsers, variable


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of a withdrawguard process. Each help text is a row of the README's table."""

    kafka_bootstrap: str = field(
        default="127.0.0.1:9092",
        metadata=doc("Kafka bootstrap servers, comma-separated host:port."),
    )
    kafka_security_protocol: str = field(
        default="PLAINTEXT",
        metadata=doc("`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (see docs/security.md)."),
    )
    kafka_sasl_mechanism: str = field(
        default="SCRAM-SHA-512",
        metadata=doc("SASL mechanism: `SCRAM-SHA-512`, `SCRAM-SHA-256` or `PLAIN`."),
    )
    kafka_sasl_username: str = field(
        default="", metadata=doc("SASL user name (SASL protocols only).")
    )
    kafka_sasl_password: Secret | None = field(
        default=None,
        metadata=doc("SASL password; prefer `WG_KAFKA_SASL_PASSWORD_FILE`. Never printed."),
    )
    kafka_sasl_password_file: Path | None = field(
        default=None, metadata=doc("File whose first line is the SASL password.")
    )
    kafka_ssl_cafile: Path | None = field(
        default=None,
        metadata=doc(
            "CA bundle (PEM) that signs the brokers' certificates; unset: the system's CAs."
        ),
    )
    redis_url: str = field(
        default="redis://127.0.0.1:6379/0",
        metadata=doc(
            "Redis URL for the hold registry and notification de-duplication (`rediss://` for TLS)."
        ),
    )
    redis_username: str = field(
        default="", metadata=doc("Redis ACL user name; unset: the default user.")
    )
    redis_password: Secret | None = field(
        default=None,
        metadata=doc("Redis password; prefer `WG_REDIS_PASSWORD_FILE`. Never printed."),
    )
    redis_password_file: Path | None = field(
        default=None, metadata=doc("File whose first line is the Redis password.")
    )
    redis_tls_cafile: Path | None = field(
        default=None,
        metadata=doc(
            "CA bundle (PEM) that signs the Redis server's certificate (`rediss://` only)."
        ),
    )
    redis_tls_certfile: Path | None = field(
        default=None,
        metadata=doc("Client certificate (PEM) when Redis asks for one (`rediss://` only)."),
    )
    redis_tls_keyfile: Path | None = field(
        default=None, metadata=doc("Private key (PEM) of the client certificate.")
    )
    redis_mode: str = field(
        default="standalone",
        metadata=doc(
            "`standalone`, `cluster` (WG_REDIS_URL names one node) or `sentinel` (docs/deploy.md)."
        ),
    )
    redis_sentinels: str = field(
        default="",
        metadata=doc("Sentinels, comma-separated host:port (WG_REDIS_MODE=sentinel only)."),
    )
    redis_sentinel_master: str = field(
        default="",
        metadata=doc(
            "Service name of the master the sentinels watch (WG_REDIS_MODE=sentinel only)."
        ),
    )
    redis_min_replicas: int = field(
        default=0,
        metadata=doc(
            "Replicas that confirm each registry write (Redis WAIT) before it counts; 1+ for "
            "sentinel."
        ),
    )
    app_id: str = field(
        default="withdrawguard",
        metadata=doc("Faust application id: the consumer group and the prefix of internal topics."),
    )
    topic_prefix: str = field(
        default="",
        metadata=doc("Prefix for every topic name (for example `staging.`); empty in production."),
    )
    partitions: int = field(
        default=6,
        metadata=doc(
            "Partitions of every topic `withdrawguard topics create` makes (inputs co-partitioned)."
        ),
    )
    replication_factor: int = field(
        default=1,
        metadata=doc("Replication factor of created topics (1 for the single local broker)."),
    )
    data_dir: Path = field(
        default=Path(".local/worker"), metadata=doc("Where the worker keeps its RocksDB tables.")
    )
    store: str = field(
        default="rocksdb",
        metadata=doc(
            "Table store: `rocksdb` (default) or `memory` (tests: state is rebuilt from "
            "changelogs)."
        ),
    )
    table_memory_mb: int = field(
        default=128,
        metadata=doc(
            "MiB the worker's RocksDB tables share: block cache and memtables, all partitions."
        ),
    )
    table_standby_replicas: int = field(
        default=1,
        metadata=doc(
            "Warm copies of each table partition kept on other workers, for faster takeovers (0 "
            "to 3)."
        ),
    )
    web_host: str = field(
        default="127.0.0.1", metadata=doc("Interface the worker's web server binds to.")
    )
    web_port: int = field(default=6066, metadata=doc("Port of the worker's web server."))
    canonical_url: str = field(
        default="",
        metadata=doc(
            "URL the other workers reach this one's web server at (the console forwards a "
            "customer's pages and actions to its owner); unset: "
            "`http://<WG_WEB_HOST>:<WG_WEB_PORT>`, with the host name for a wildcard WG_WEB_HOST."
        ),
    )
    policy_file: Path | None = field(
        default=None,
        metadata=doc("Detection policy (TOML); unset means the packaged default policy."),
    )
    inboxes_file: Path | None = field(
        default=None,
        metadata=doc(
            "Case inboxes and `[cases]` policy (TOML, docs/cases.md); unset: the packaged ones."
        ),
    )
    max_message_bytes: int = field(
        default=262_144,
        metadata=doc("Largest input payload accepted; larger ones go to dead-letters."),
    )
    max_clock_skew: int = field(
        default=3600,
        metadata=doc(
            "Seconds occurred_at may be ahead of the worker's clock; later events are "
            "dead-lettered."
        ),
    )
    batch_max: int = field(
        default=500,
        metadata=doc(
            "Most events a table-writing agent handles in one batch; 1 handles each on its own."
        ),
    )
    batch_within_ms: int = field(
        default=5,
        metadata=doc(
            "Most milliseconds a batch waits, from its first event, for the events behind it; "
            "it goes at once when none are waiting."
        ),
    )
    gc: str = field(
        default="freeze",
        metadata=doc(
            "`freeze`: the start-up heap is frozen out of garbage collections once the tables "
            "are ready; `python`: Python's collector as it is."
        ),
    )
    log_level: str = field(default="info", metadata=doc("Log level of the worker."))
    notify_config: Path | None = field(
        default=None,
        metadata=doc(
            "Notification routing file (TOML, see Notifications); unset means no notifications."
        ),
    )
    console_url: str = field(
        default="http://127.0.0.1:6066",
        metadata=doc(
            "Base URL of the ops console; notifications link to `<url>/customers/<customer id>`."
        ),
    )
    notify_backlog_max: int = field(
        default=1000,
        metadata=doc(
            "Most alerts the notifier holds in memory (retrying, queued, awaiting a digest); at "
            "the bound it stops reading fraud-alerts, which wait in Kafka, uncommitted."
        ),
    )
    service_tokens_file: Path | None = field(
        default=None,
        metadata=doc(
            "Service tokens for `/api/withdrawals/<id>/decision`, one a line; unset means refuse "
            "all."
        ),
    )
    users_file: Path | None = field(
        default=None,
        metadata=doc(
            "Console users and roles (JSON, made by `withdrawguard users add`); unset: nobody "
            "signs in."
        ),
    )
    admin_password_file: Path | None = field(
        default=None,
        metadata=doc(
            "Password of the `--user` admin of `withdrawguard policy` changes; unset: asked on a "
            "tty."
        ),
    )
    session_secret_file: Path | None = field(
        default=None,
        metadata=doc(
            "Secret that signs console sessions; unset means one generated in `WG_DATA_DIR` "
            "(logged)."
        ),
    )
    session_hours: int = field(default=8, metadata=doc("Hours a console sign-in lasts."))
    kafka_session_timeout: int = field(
        default=10,
        metadata=doc(
            "Seconds without a heartbeat before Kafka gives a worker's partitions to the others."
        ),
    )
    kafka_heartbeat_interval: int = field(
        default=3,
        metadata=doc(
            "Seconds between a worker's heartbeats; at most a third of WG_KAFKA_SESSION_TIMEOUT."
        ),
    )
    wedge_seconds: int = field(
        default=120,
        metadata=doc(
            "Seconds a worker may hold input without committing anything before `/health` "
            "answers 503 (wedged: the liveness probe restarts it); 10 to 3600."
        ),
    )
    stall_seconds: int = field(
        default=60,
        metadata=doc(
            "Seconds a partition may make no progress (an input behind its log end whose "
            "commit stands still, or a changelog a table restore still needs that delivers "
            "nothing) before the worker logs it, counts it and resumes it; 10 to 3600."
        ),
    )
    environ: Environment = field(
        default_factory=Environment, repr=False, compare=False, kw_only=True
    )
    """The environment `from_env` read (empty when built directly). Not a setting."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from `WG_*` variables (default: the process environment)."""
        env = Environment(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for name, parse in parsers(cls).items():
            raw = env.get(variable(name))
            if raw is None or raw == "":
                continue
            values[name] = parse(raw)
        settings = cls(**values, environ=env)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Raise `SettingsError` naming the first variable whose value cannot be used."""
        checks.validate(self)

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
