"""The detection policy: thresholds and switches, loaded from TOML and validated.

A user file is laid over the packaged defaults, so it may give only what it changes.
Unknown sections or keys, and values of the wrong type, are errors that name the key.
"""

from __future__ import annotations

import functools
import hashlib
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

SEVERITIES = ("low", "medium", "high", "critical")
_DEFAULT = ("withdrawguard.policy", "default.toml")


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the key and the problem."""


@dataclass(frozen=True, slots=True)
class Policy:
    """All thresholds. `rules[name]` is the merged table for one rule."""

    hold_score: int
    alert_score: int
    reevaluate_ms: int
    bands: tuple[tuple[str, int], ...]
    limits: dict[str, int]
    rules: dict[str, dict[str, Any]]
    source: str
    raw: dict[str, Any] = field(compare=False, repr=False)
    """The merged policy as loaded (for its fingerprint)."""
    notices: dict[str, Any] = field(default_factory=dict)
    """The `[notices]` table (engine/notices.py)."""

    def rule(self, name: str) -> dict[str, Any]:
        return self.rules[name]

    def enabled(self, name: str) -> bool:
        return bool(self.rules[name]["enabled"])

    def severity_for(self, score: int) -> str:
        """The band a score falls in; `low` below the first band."""
        found = "low"
        for name, floor in self.bands:
            if score >= floor:
                found = name
        return found

    @property
    def longest_window_ms(self) -> int:
        """The longest look-back any rule needs: how long state must be kept."""
        r = self.rules
        days = max(
            r["drain"]["history_days"],
            r["new_device"]["memory_days"],
            r["destination_shared"]["window_days"],
        )
        return int(days) * DAY


MAX_INT = 1_000_000
"""Largest count, window or ratio a policy may set: beyond it, arithmetic on event times
and amounts would overflow instead of deciding."""
HOUR = 3_600_000
DAY = 24 * HOUR
MINUTE = 60_000


ADDED_LATER: tuple[tuple[str, ...], ...] = (
    ("limits", "max_trades"),
    ("rules", "liquidation"),
    ("rules", "device_shared"),
    ("notices",),
)
"""Keys (paths) the packaged defaults gained after policy versions were first published: left
out of the fingerprint while they hold their default, so a version published before
keeps its id (a worker checks a version's text against it) and a fingerprint changes only
when a version sets one of them to something else."""


def fingerprint(policy: Policy) -> str:
    """The policy's id: 8 hex digits of a digest of the merged policy, so two files that
    say the same thing (in any order, with or without defaults spelled out) share it.
    Verdicts carry it (`detector_version`), and a published version is named by it."""
    raw = {table: dict(values) for table, values in policy.raw.items()}
    defaults = _default_raw()
    for *tables, key in ADDED_LATER:
        where, default = raw, defaults
        for table in tables:
            where, default = where[table], default[table]
        if where.get(key) == default[key]:
            del where[key]
    merged = orjson.dumps(raw, default=str).decode()
    return hashlib.blake2b(merged.encode(), digest_size=12).hexdigest()[:8]


@functools.cache
def _default_raw() -> dict[str, Any]:
    return policy_from({}, "default").raw


def parse_policy(text: str, source: str) -> Policy:
    """A policy from TOML text (laid over the defaults); PolicyError names the problem."""
    try:
        override = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source} is not valid TOML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"{source} nests too deeply") from None
    return policy_from(override, source)


def default_text() -> str:
    return resources.files(_DEFAULT[0]).joinpath(_DEFAULT[1]).read_text(encoding="utf-8")


def load_policy(path: Path | None = None) -> Policy:
    """The default policy, with `path` (if given) laid over it."""
    if path is None:
        return policy_from({}, "default")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc.strerror}") from None
    except ValueError:  # not UTF-8, or a NUL in the path
        raise PolicyError(f"policy file {path} is not readable UTF-8 text") from None
    try:
        override = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"policy file {path} is not valid TOML: {exc}") from None
    except RecursionError:
        raise PolicyError(f"policy file {path} nests too deeply") from None
    return policy_from(override, str(path))


def policy_from(override: dict[str, Any], source: str) -> Policy:
    """The default policy with `override` (a parsed policy file) laid over it."""
    base = tomllib.loads(default_text())
    _merge(base, override, "")
    return _build(base, source)


def _merge(base: dict[str, Any], override: dict[str, Any], where: str) -> None:
    for key, value in override.items():
        path = f"{where}{key}"
        if key not in base:
            raise PolicyError(f"unknown policy key '{path}'")
        current = base[key]
        if isinstance(current, dict):
            if not isinstance(value, dict):
                raise PolicyError(f"'{path}' must be a table")
            _merge(current, value, path + ".")
            continue
        if isinstance(current, bool) != isinstance(value, bool) or type(current) is not type(value):
            raise PolicyError(
                f"'{path}' must be of type {type(current).__name__}, got {type(value).__name__}"
            )
        base[key] = value


_CHANNELS = {"web", "mobile", "api", "call_center", "mail", "branch"}
_CHANGE_TYPES = {"withdrawal_destination", "email", "phone", "password", "mfa", "address"}


def _check_lists(rules: dict[str, Any]) -> None:
    for key, allowed in (
        (("dest_changed_recently", "holding_channels"), _CHANNELS),
        (("credential_change_chain", "change_types"), _CHANGE_TYPES),
    ):
        values = rules[key[0]][key[1]]
        unknown = sorted(str(v) for v in values if not isinstance(v, str) or v not in allowed)
        if unknown:
            raise PolicyError(
                f"'rules.{key[0]}.{key[1]}' has unknown entries {unknown}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )


def _check_ranges(raw: dict[str, Any]) -> None:
    nd = raw["rules"]["new_device"]
    if not 0 <= nd["ipv4_prefix"] <= 32:
        raise PolicyError("'rules.new_device.ipv4_prefix' must be between 0 and 32")
    if not 0 <= nd["ipv6_prefix"] <= 128:
        raise PolicyError("'rules.new_device.ipv6_prefix' must be between 0 and 128")
    if raw["decision"]["reevaluate_hours"] < 0:
        raise PolicyError("'decision.reevaluate_hours' must not be negative")
    for name, floor in raw["severity"].items():
        if not 0 <= floor <= 100:
            raise PolicyError(f"'severity.{name}' must be between 0 and 100")
    for name, value in raw["limits"].items():
        if not 1 <= value <= MAX_INT:
            raise PolicyError(f"'limits.{name}' must be from 1 to {MAX_INT}")
    if not 0 <= raw["decision"]["reevaluate_hours"] <= MAX_INT:
        raise PolicyError(f"'decision.reevaluate_hours' must be from 0 to {MAX_INT}")


def _build(raw: dict[str, Any], source: str) -> Policy:
    decision = raw["decision"]
    for key in ("hold_score", "alert_score"):
        if not 0 <= decision[key] <= 100:
            raise PolicyError(f"'decision.{key}' must be between 0 and 100")
    bands = tuple(sorted(raw["severity"].items(), key=lambda kv: kv[1]))
    rules = raw["rules"]
    for name, table in rules.items():
        if not 0 <= table["weight"] <= 100:
            raise PolicyError(f"'rules.{name}.weight' must be between 0 and 100")
        if "severity" in table and table["severity"] not in SEVERITIES:
            raise PolicyError(f"'rules.{name}.severity' must be one of {', '.join(SEVERITIES)}")
        for key, value in table.items():
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise PolicyError(f"'rules.{name}.{key}' must not be negative")
            if isinstance(value, int) and value > MAX_INT:
                raise PolicyError(f"'rules.{name}.{key}' must be at most {MAX_INT}")
    drain = rules["drain"]
    for key in ("balance_ratio", "history_multiple"):
        try:
            drain[key] = Decimal(drain[key])
        except InvalidOperation:
            raise PolicyError(f"'rules.drain.{key}' must be a decimal in a string") from None
        if not drain[key].is_finite() or not 0 < drain[key] <= MAX_INT:
            raise PolicyError(f"'rules.drain.{key}' must be a positive decimal up to {MAX_INT}")
    liq = rules["liquidation"]
    try:
        liq["share"] = Decimal(liq["share"])
    except InvalidOperation:
        raise PolicyError("'rules.liquidation.share' must be a decimal in a string") from None
    if not liq["share"].is_finite() or not 0 < liq["share"] <= 1:
        raise PolicyError("'rules.liquidation.share' must be a decimal above 0, at most 1")
    _check_lists(rules)
    _check_ranges(raw)
    for key, value in raw["notices"].items():
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_INT:
            raise PolicyError(f"'notices.{key}' must be from 0 to {MAX_INT}")
    return Policy(
        hold_score=decision["hold_score"],
        alert_score=decision["alert_score"],
        reevaluate_ms=decision["reevaluate_hours"] * HOUR,
        bands=tuple((n, int(v)) for n, v in bands),
        limits=dict(raw["limits"]),
        rules=rules,
        source=source,
        raw=raw,
        notices=raw["notices"],
    )
