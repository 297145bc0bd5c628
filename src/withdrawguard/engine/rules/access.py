"""Rules about who is acting: devices, networks, logins, credential changes."""

from __future__ import annotations

from typing import Any

from withdrawguard.engine.policy import DAY, HOUR, MINUTE
from withdrawguard.engine.rules.base import Action, Finding, Subject, hours
from withdrawguard.engine.state import CustomerState, FlagRec


class NewDevice:
    """The change or withdrawal came from a device or network first seen in a successful
    login less than `new_for_days` before it (or never). An attacker logs in before
    acting, so having been seen in a login proves nothing by itself."""

    code = "NEW_DEVICE"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.new_for = int(cfg["new_for_days"]) * DAY
        self.memory = int(cfg["memory_days"]) * DAY

    def __call__(self, s: Subject) -> Finding | None:
        notes: list[str] = []
        evidence: list[str] = []
        for act in s.actions():
            for label, key, table in (
                ("device", act.device, s.state.devices),
                ("network", act.net, s.state.networks),
            ):
                if key is None:
                    continue
                seen = table.get(key)
                if seen is not None and seen.last < act.ts - self.memory:
                    seen = None  # unseen for longer than we remember: as good as new
                if seen is None or seen.first > act.ts - self.new_for:
                    age = (
                        "never seen in a login"
                        if seen is None
                        else (f"first seen {hours(max(act.ts - seen.first, 0))} before")
                    )
                    notes.append(f"{act.what} came from a new {label} ({age})")
                    evidence.append(act.event_id)
                    if seen is not None:
                        evidence.append(seen.event_id)
        if not notes:
            return None
        return Finding(
            self.code,
            "; ".join(dict.fromkeys(notes)),
            self.weight,
            evidence=tuple(dict.fromkeys(evidence)),
        )


class FailedLoginBurst:
    """At least `min_failures` failed logins within `window_minutes` before the
    successful login that preceded the change (or the withdrawal)."""

    code = "FAILED_LOGIN_BURST"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.min_failures = int(cfg["min_failures"])
        self.window = int(cfg["window_minutes"]) * MINUTE
        self.session = int(cfg["session_hours"]) * HOUR

    def __call__(self, s: Subject) -> Finding | None:
        for act in s.actions():
            before = [
                (rec.ts, eid)
                for eid, rec in s.state.logins_ok.items()
                if rec.ts <= act.ts and act.ts - rec.ts <= self.session
            ]
            if not before:
                continue
            login_ts, login_id = max(before)
            failures = sorted(
                eid
                for eid, ts in s.state.logins_failed.items()
                if login_ts - self.window <= ts < login_ts
            )
            if len(failures) >= self.min_failures:
                return Finding(
                    self.code,
                    f"{len(failures)} failed logins in the {self.window // MINUTE} min before "
                    f"the successful login that preceded {act.what}",
                    self.weight,
                    evidence=(*failures, login_id),
                )
        return None


class CredentialChangeChain:
    """An email, phone, password or MFA change within `window_hours` before a
    destination change or the withdrawal."""

    code = "CREDENTIAL_CHANGE_CHAIN"

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.window = int(cfg["window_hours"]) * HOUR
        self.types = frozenset(cfg["change_types"])

    def __call__(self, s: Subject) -> Finding | None:
        anchors = s.actions()
        found = sorted(
            (c.ts, eid, c.change_type)
            for eid, c in s.state.changes.items()
            if c.change_type in self.types and any(0 <= a.ts - c.ts <= self.window for a in anchors)
        )
        if not found:
            return None
        kinds = ", ".join(dict.fromkeys(kind for _, _, kind in found))
        return Finding(
            self.code,
            f"{kinds} changed within {self.window // HOUR} h before",
            self.weight,
            evidence=tuple(eid for _, eid, _ in found),
        )


class _FlaggedSource:
    """An action came from a source (an IP, a device) that a cross-customer stage flagged
    in a wave of at least `min_customers` customers within `window_minutes`, at most
    `window_minutes` before the wave began or `lookahead_hours` after it ended."""

    code: str

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.weight = int(cfg["weight"])
        self.window = int(cfg["window_minutes"]) * MINUTE
        self.lookahead = int(cfg["lookahead_hours"]) * HOUR

    def source(self, act: Action) -> str | None:
        raise NotImplementedError

    def waves(self, state: CustomerState) -> dict[str, dict[str, FlagRec]]:
        raise NotImplementedError

    def detail(self, act: Action, source: str, wave: FlagRec) -> str:
        raise NotImplementedError

    def __call__(self, s: Subject) -> Finding | None:
        flagged = self.waves(s.state)
        for act in s.actions():
            source = self.source(act)
            if source is None:
                continue
            for wave in flagged.get(source, {}).values():
                if wave.start - self.window <= act.ts <= wave.end + self.lookahead:
                    return Finding(
                        self.code,
                        self.detail(act, source, wave),
                        self.weight,
                        evidence=(act.event_id, *wave.evidence[:20]),
                    )
        return None


class SourceIpShared(_FlaggedSource):
    """The IP behind the change (or withdrawal) attempted logins into at least
    `min_customers` customers within `window_minutes`: credential stuffing."""

    code = "SOURCE_IP_SHARED"

    def source(self, act: Action) -> str | None:
        return act.ip

    def waves(self, state: CustomerState) -> dict[str, dict[str, FlagRec]]:
        return state.flagged_ips

    def detail(self, act: Action, source: str, wave: FlagRec) -> str:
        return (
            f"{act.what} came from {source}, which tried {len(wave.customers)} "
            f"customers within {self.window // MINUTE} min"
        )


class DeviceShared(_FlaggedSource):
    """The device behind the change (or withdrawal) was seen on logins or online account
    changes of at least `min_customers` customers within `window_minutes`: a fraud farm's
    phone, an emulator image."""

    code = "DEVICE_SHARED"

    def source(self, act: Action) -> str | None:
        return act.device

    def waves(self, state: CustomerState) -> dict[str, dict[str, FlagRec]]:
        return state.flagged_devices

    def detail(self, act: Action, source: str, wave: FlagRec) -> str:
        return (
            f"{act.what} came from device {source}, which was seen on "
            f"{len(wave.customers)} customers within {hours(self.window)}"
        )
