"""The notification routing file (TOML): channels, who gets what severity, and limits.

Secrets (webhook signing secrets, the PagerDuty routing key, the Slack webhook URL, the
SMTP password) are never written in the file: a channel names an environment variable
(`secret_env`) or a file (`secret_file`) that holds it. They are read once, when the worker
builds the notifier, and kept in a `Secret` whose repr never shows the value.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from withdrawguard.cases.events import EVENT_TYPES
from withdrawguard.engine.policy import SEVERITIES
from withdrawguard.secret import Secret as Secret  # the channels import it from here

CHANNEL_TYPES = ("webhook", "slack", "pagerduty", "email")
PAGERDUTY_URL = "https://events.pagerduty.com/v2/enqueue"
_NEEDS_SECRET = {"webhook": "signing secret", "slack": "webhook URL", "pagerduty": "routing key"}


class NotifyConfigError(ValueError):
    """The notification config cannot be used; the message names the key (never a secret)."""


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    name: str
    type: str
    min_severity: str = "high"
    rate_per_minute: int = 0
    """At most this many messages a minute (0: unlimited); the rest go in a digest."""
    url: str = ""
    secret: Secret | None = None
    host: str = ""
    port: int = 587
    starttls: bool = True
    username: str = ""
    sender: str = ""
    recipients: tuple[str, ...] = ()
    cafile: Path | None = None
    """CA bundle to trust for STARTTLS instead of the system's (a private CA)."""


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    channels: tuple[ChannelConfig, ...]
    dedup_window_seconds: int = 1800
    attempts: int = 4
    """Tries per notification before it goes to dead-letters; 0: until delivered (only a
    refusal of the message itself, a 4xx other than 408/429, dead-letters it)."""
    base_delay_seconds: float = 0.5
    max_delay_seconds: float = 30.0
    timeout_seconds: float = 5.0
    queue_size: int = 1000
    workers_per_channel: int = 4
    case_events: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Case event kind -> the channels it goes to (`[case_events]`; `sla_breached`, when
    not named, goes where a high-severity alert goes)."""


_GLOBAL_KEYS = {
    "dedup_window_seconds": int,
    "attempts": int,
    "base_delay_seconds": float,
    "max_delay_seconds": float,
    "timeout_seconds": float,
    "queue_size": int,
    "workers_per_channel": int,
}
_CHANNEL_KEYS = {
    "type",
    "min_severity",
    "rate_per_minute",
    "url",
    "secret_env",
    "secret_file",
    "host",
    "port",
    "starttls",
    "username",
    "from",
    "to",
    "cafile",
}


def load_notify_config(path: Path, environ: Mapping[str, str]) -> NotifyConfig:
    """Read and check the routing file; secrets come from `environ` or secret files."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # unreadable, not UTF-8, not TOML
        raise NotifyConfigError(f"{path}: {exc}") from None
    except RecursionError:
        raise NotifyConfigError(f"{path}: nests too deeply") from None
    return parse_notify_config(raw, environ, base=path.parent)


def parse_notify_config(
    raw: dict[str, Any], environ: Mapping[str, str], base: Path = Path()
) -> NotifyConfig:
    unknown = set(raw) - {"notify", "channels", "case_events"}
    if unknown:
        raise NotifyConfigError(f"unknown section(s): {', '.join(sorted(unknown))}")
    general = _table(raw.get("notify", {}), "notify")
    values: dict[str, Any] = {}
    for key, value in general.items():
        kind = _GLOBAL_KEYS.get(key)
        if kind is None:
            raise NotifyConfigError(f"unknown key 'notify.{key}'")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
            raise NotifyConfigError(f"'notify.{key}' must be a number from 0 to 1e9")
        values[key] = kind(value)
    channels = tuple(
        _channel(str(name), _table(table, f"channels.{name}"), environ, base)
        for name, table in _table(raw.get("channels", {}), "channels").items()
    )
    if not channels:
        raise NotifyConfigError("no [channels.<name>] table: nothing to notify")
    routed = _case_events(_table(raw.get("case_events", {}), "case_events"), channels)
    return NotifyConfig(channels=channels, case_events=routed, **values)


def _case_events(
    table: dict[str, Any], channels: tuple[ChannelConfig, ...]
) -> dict[str, tuple[str, ...]]:
    """`[case_events]`: kind = ["channel", ...]; kinds and channel names checked."""
    names = [c.name for c in channels]
    routed: dict[str, tuple[str, ...]] = {}
    for kind, chosen in table.items():
        where = f"case_events.{kind}"
        if kind not in EVENT_TYPES:
            raise NotifyConfigError(
                f"'{where}': no case event is called {kind!r}; kinds: {', '.join(EVENT_TYPES)}"
            )
        if not isinstance(chosen, list) or not all(isinstance(c, str) for c in chosen):
            raise NotifyConfigError(f"'{where}' must be a list of channel names")
        for name in chosen:
            if name not in names:
                raise NotifyConfigError(f"'{where}': no channel {name!r} (see [channels.*])")
        routed[kind] = tuple(dict.fromkeys(chosen))
    if "sla_breached" not in routed:  # a breach pages where a high-severity alert would
        routed["sla_breached"] = tuple(c.name for c in routes_of(channels, "high"))
    return routed


def _channel(name: str, t: dict[str, Any], environ: Mapping[str, str], base: Path) -> ChannelConfig:
    where = f"channels.{name}"
    unknown = set(t) - _CHANNEL_KEYS
    if unknown:
        raise NotifyConfigError(f"unknown key(s) in '{where}': {', '.join(sorted(unknown))}")
    kind = t.get("type")
    if kind not in CHANNEL_TYPES:
        raise NotifyConfigError(f"'{where}.type' must be one of {', '.join(CHANNEL_TYPES)}")
    severity = t.get("min_severity", "high")
    if severity not in SEVERITIES:
        raise NotifyConfigError(f"'{where}.min_severity' must be one of {', '.join(SEVERITIES)}")
    rate = t.get("rate_per_minute", 0)
    if isinstance(rate, bool) or not isinstance(rate, int) or rate < 0:
        raise NotifyConfigError(f"'{where}.rate_per_minute' must be a non-negative integer")
    for key in ("url", "host", "username", "from", "cafile", "secret_env", "secret_file"):
        if key in t and not isinstance(t[key], str):
            raise NotifyConfigError(f"'{where}.{key}' must be a string")
    secret = _secret(where, t, environ, base)
    if kind in _NEEDS_SECRET and secret is None:
        raise NotifyConfigError(
            f"'{where}' needs its {_NEEDS_SECRET[kind]} in secret_env or secret_file"
        )
    url = str(t.get("url", PAGERDUTY_URL if kind == "pagerduty" else ""))
    if kind == "webhook" and not url.startswith(("http://", "https://")):
        raise NotifyConfigError(f"'{where}.url' must be an http(s) URL")
    recipients = t.get("to", [])
    if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
        raise NotifyConfigError(f"'{where}.to' must be a list of addresses")
    if kind == "email" and (not t.get("host") or not t.get("from") or not recipients):
        raise NotifyConfigError(f"'{where}' needs host, from and to")
    port = t.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise NotifyConfigError(f"'{where}.port' must be a TCP port number")
    if not isinstance(t.get("starttls", True), bool):
        raise NotifyConfigError(f"'{where}.starttls' must be true or false")
    cafile = t.get("cafile")
    return ChannelConfig(
        name=name,
        type=kind,
        min_severity=severity,
        rate_per_minute=rate,
        url=url,
        secret=secret,
        host=str(t.get("host", "")),
        port=port,
        starttls=bool(t.get("starttls", True)),
        username=str(t.get("username", "")),
        sender=str(t.get("from", "")),
        recipients=tuple(recipients),
        cafile=None if cafile is None else base / Path(cafile).expanduser(),
    )


def _secret(where: str, t: dict[str, Any], environ: Mapping[str, str], base: Path) -> Secret | None:
    env, file = t.get("secret_env"), t.get("secret_file")
    if env is not None and file is not None:
        raise NotifyConfigError(f"'{where}': give secret_env or secret_file, not both")
    if env is not None:
        value = environ.get(str(env), "")
        if not value:
            raise NotifyConfigError(f"'{where}.secret_env': variable {env} is unset or empty")
        return Secret(value)
    if file is not None:
        path = base / Path(str(file)).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise NotifyConfigError(
                f"'{where}.secret_file': cannot read {path} ({exc.strerror})"
            ) from None
        except ValueError:  # not UTF-8, or a NUL in the name
            raise NotifyConfigError(
                f"'{where}.secret_file': {path!r} is not a UTF-8 text file"
            ) from None
        if not value:
            raise NotifyConfigError(f"'{where}.secret_file': {path} is empty")
        return Secret(value)
    return None


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NotifyConfigError(f"'{where}' must be a table")
    return value


def routes(config: NotifyConfig, severity: str) -> list[ChannelConfig]:
    """The channels an alert of this severity goes to (each channel's minimum applies).
    An unknown severity counts as the highest: better a page too many than one lost."""
    return routes_of(config.channels, severity)


def routes_of(channels: tuple[ChannelConfig, ...], severity: str) -> list[ChannelConfig]:
    rank = SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES) - 1
    return [c for c in channels if rank >= SEVERITIES.index(c.min_severity)]
