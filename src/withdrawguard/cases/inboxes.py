"""Inboxes as data: which cases land where, their SLA, and who may work them.

An inbox file (TOML, packaged default: cases/inboxes.toml) lists `[[inbox]]` tables in
order; a case goes to the first whose filters all match what opened it, else to the
inbox named by `default` (a catch-all without filters). It is validated as the policy
is: an unknown key, a wrong type or a value out of range is an error naming the key.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from withdrawguard.cases.events import SEVERITIES, Trigger
from withdrawguard.cases.people import ROLES, Actor
from withdrawguard.cases.policy import decimal_at
from withdrawguard.engine.events import CHANNELS
from withdrawguard.engine.policy import PolicyError
from withdrawguard.engine.rules import REGISTRY

MAX_SLA_MINUTES = 366 * 24 * 60
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_CURRENCY = re.compile(r"[A-Z]{3}")
_KEYS = frozenset(
    {"name", "description", "sla_hours", "sla_minutes", "reasons", "severities", "amount"}
    | {"channels", "roles", "users", "auto_assign"}
)
_FILTERS = ("reasons", "severities", "amount", "channels")


class InboxError(PolicyError):
    """The inbox file cannot be used; the message names the key and the problem."""


def reason_codes() -> frozenset[str]:
    """Every reason code the detector's rules give."""
    return frozenset(str(getattr(rule, "code", name.upper())) for name, rule in REGISTRY.items())


@dataclass(frozen=True, slots=True)
class Band:
    """Amounts from `low` (inclusive) to `high` (exclusive); None is unbounded."""

    low: Decimal | None = None
    high: Decimal | None = None

    def holds(self, amount: Decimal) -> bool:
        return (self.low is None or amount >= self.low) and (
            self.high is None or amount < self.high
        )


@dataclass(frozen=True, slots=True)
class Inbox:
    """A filter (None matches anything), an SLA and who may work it. Supervisors may work
    every inbox; viewers none."""

    name: str
    sla_minutes: int
    description: str = ""
    reasons: frozenset[str] | None = None
    severities: frozenset[str] | None = None
    amounts: Mapping[str, Band] | None = None
    channels: frozenset[str] | None = None
    roles: frozenset[str] = frozenset(("analyst", "supervisor"))
    users: frozenset[str] = frozenset()
    auto_assign: bool = False
    """Whether the worker gives its new cases round-robin to the people available."""

    def matches(self, t: Trigger) -> bool:
        if self.reasons is not None and not self.reasons.intersection(t.reason_codes):
            return False
        if self.severities is not None and t.severity not in self.severities:
            return False
        if self.channels is not None and t.channel not in self.channels:
            return False
        if self.amounts is not None:
            band = self.amounts.get(t.currency or "")
            return band is not None and t.amount is not None and band.holds(t.amount)
        return True

    def may_work(self, actor: Actor) -> bool:
        if not actor.may("work"):
            return False
        if actor.may("assign"):
            return True
        return actor.role in self.roles or any(actor.is_user(u) for u in self.users)


@dataclass(frozen=True, slots=True)
class InboxBook:
    inboxes: tuple[Inbox, ...]
    default: str
    source: str
    raw: dict[str, Any] = field(compare=False, repr=False)

    def get(self, name: str) -> Inbox | None:
        return next((i for i in self.inboxes if i.name == name), None)

    def route(self, trigger: Trigger) -> Inbox:
        """The first inbox (other than the default) whose filters match, else the default."""
        for inbox in self.inboxes:
            if inbox.name != self.default and inbox.matches(trigger):
                return inbox
        found = self.get(self.default)
        assert found is not None  # checked when the book was built
        return found

    def workable_by(self, actor: Actor) -> frozenset[str]:
        return frozenset(i.name for i in self.inboxes if i.may_work(actor))

    @property
    def fingerprint(self) -> str:
        """8 hex digits naming what the file says (key order and spelling aside)."""
        text = orjson.dumps(self.raw, default=str, option=orjson.OPT_SORT_KEYS)
        return hashlib.blake2b(text, digest_size=12).hexdigest()[:8]


def default_inboxes_text() -> str:
    return resources.files("withdrawguard.cases").joinpath("inboxes.toml").read_text("utf-8")


def load_inboxes(path: Path | None = None) -> InboxBook:
    """The inbox file at `path`, or the packaged default."""
    if path is None:
        return parse_inboxes(default_inboxes_text(), "default")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InboxError(f"cannot read inbox file {path}: {exc.strerror}") from None
    except ValueError:
        raise InboxError(f"inbox file {path} is not readable UTF-8 text") from None
    return parse_inboxes(text, str(path))


def parse_inboxes(text: str, source: str) -> InboxBook:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InboxError(f"{source} is not valid TOML: {exc}") from None
    return inboxes_from(raw, source)


def inboxes_from(raw: dict[str, Any], source: str) -> InboxBook:
    unknown = sorted(set(raw) - {"default", "inbox"})
    if unknown:
        raise InboxError(f"unknown key '{unknown[0]}'")
    default = raw.get("default")
    if not isinstance(default, str):
        raise InboxError("'default' must name the catch-all inbox (a string)")
    tables = raw.get("inbox")
    if not isinstance(tables, list) or not tables:
        raise InboxError("'inbox' must be a list of [[inbox]] tables, at least one")
    inboxes: list[Inbox] = []
    for i, table in enumerate(tables):
        inbox = _inbox(table, f"inbox[{i}]")
        if any(other.name == inbox.name for other in inboxes):
            raise InboxError(f"'inbox[{i}].name': {inbox.name!r} is used twice")
        inboxes.append(inbox)
    found = next((i for i in inboxes if i.name == default), None)
    if found is None:
        raise InboxError(f"'default': no inbox is named {default!r}")
    index = inboxes.index(found)
    for key in _FILTERS:
        if getattr(found, "amounts" if key == "amount" else key) is not None:
            raise InboxError(f"'inbox[{index}].{key}': the default inbox takes every case")
    return InboxBook(tuple(inboxes), default, source, raw)


def _inbox(table: Any, where: str) -> Inbox:
    if not isinstance(table, dict):
        raise InboxError(f"'{where}' must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise InboxError(f"unknown key '{where}.{unknown[0]}'")
    name = _string(table.get("name"), f"{where}.name")
    if not _NAME.fullmatch(name):
        raise InboxError(f"'{where}.name' must be lower-case letters, digits, - or _")
    description = table.get("description", "")
    if not isinstance(description, str):
        raise InboxError(f"'{where}.description' must be a string")
    return Inbox(
        name=name,
        sla_minutes=_sla(table, where),
        description=description,
        reasons=_names(table, "reasons", where, reason_codes()),
        severities=_names(table, "severities", where, frozenset(SEVERITIES)),
        amounts=_amounts(table.get("amount"), f"{where}.amount"),
        channels=_names(table, "channels", where, CHANNELS),
        roles=_names(table, "roles", where, frozenset(ROLES) - {"viewer"})
        or frozenset(("analyst", "supervisor")),
        users=_names(table, "users", where, None) or frozenset(),
        auto_assign=_flag(table, "auto_assign", where),
    )


def _flag(table: dict[str, Any], key: str, where: str) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise InboxError(f"'{where}.{key}' must be true or false, got {type(value).__name__}")
    return value


def _sla(table: dict[str, Any], where: str) -> int:
    given = [k for k in ("sla_hours", "sla_minutes") if k in table]
    if len(given) != 1:
        raise InboxError(f"'{where}' needs exactly one of sla_hours and sla_minutes")
    key = given[0]
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise InboxError(f"'{where}.{key}' must be of type int, got {type(value).__name__}")
    minutes = value * 60 if key == "sla_hours" else value
    if not 1 <= minutes <= MAX_SLA_MINUTES:
        raise InboxError(f"'{where}.{key}' must be from 1 minute to 366 days")
    return minutes


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InboxError(f"'{path}' must be a non-empty string")
    return value


def _names(
    table: dict[str, Any], key: str, where: str, allowed: frozenset[str] | None
) -> frozenset[str] | None:
    if key not in table:
        return None
    path, values = f"{where}.{key}", table[key]
    if not isinstance(values, list) or not values:
        raise InboxError(f"'{path}' must be a non-empty list of strings")
    for i, value in enumerate(values):
        _string(value, f"{path}[{i}]")
        if allowed is not None and value not in allowed:
            raise InboxError(
                f"'{path}[{i}]': unknown {value!r}; allowed: {', '.join(sorted(allowed))}"
            )
    return frozenset(values)


def _amounts(value: Any, path: str) -> Mapping[str, Band] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not value:
        raise InboxError(
            f"'{path}' must be a table of currencies, e.g. {{ JPY = {{ min = \"1000000\" }} }}"
        )
    bands: dict[str, Band] = {}
    for currency, band in value.items():
        where = f"{path}.{currency}"
        if not _CURRENCY.fullmatch(currency):
            raise InboxError(f"'{where}': the key must be an ISO 4217 code in upper case")
        if not isinstance(band, dict):
            raise InboxError(f"'{where}' must be a table with min and/or max")
        unknown = sorted(set(band) - {"min", "max"})
        if unknown or not band:
            raise InboxError(
                f"'{where}.{unknown[0]}' is unknown" if unknown else f"'{where}' is empty"
            )
        low, high = (
            None
            if band.get(k) is None
            else decimal_at(band[k], f"{where}.{k}", zero=True, error=InboxError)
            for k in ("min", "max")
        )
        if low is not None and high is not None and low >= high:
            raise InboxError(f"'{where}.max' must be greater than min")
        bands[currency] = Band(low, high)
    return bands
