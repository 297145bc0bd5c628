"""Two simple rules a broker could apply instead of the detector, on the same events:

- `online_freeze`: what brokers did in 2020, suspend every online (web, mobile, api)
  change of withdrawal destination. A withdrawal is stopped when the change that set its
  destination was online; the honest changes so refused are counted.
- `hold_after_change`: hold every withdrawal within 72 h after any account change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.engine.events import ONLINE_CHANNELS, Destination
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.quality import Outcome


def _changes(events: Iterable[tuple[datetime, s.Message]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for at, (topic, body) in events:
        if topic == "account-changes":
            out[body["customer_id"]].append({"at": at, **body})
    return out


def _key(dest: Mapping[str, str]) -> str:
    return Destination(dest["bank_code"], dest["account_number"], dest.get("branch_code")).key


def online_freeze(
    events: list[tuple[datetime, s.Message]], attack_event_ids: set[str]
) -> tuple[dict[str, Outcome], dict[str, int]]:
    """Outcomes under "suspend every online destination change", and the changes refused
    (honest and the attackers')."""
    changes = _changes(events)
    refused = {"honest_changes_refused": 0, "attack_changes_refused": 0}
    outcomes: dict[str, Outcome] = {}
    for items in changes.values():
        for c in items:
            if c["change_type"] == "withdrawal_destination" and c["channel"] in ONLINE_CHANNELS:
                honest = c["event_id"] not in attack_event_ids
                refused["honest_changes_refused" if honest else "attack_changes_refused"] += 1
    for at, (topic, body) in events:
        if topic != "withdrawals":
            continue
        key = _key(body["destination"])
        setting = [
            c
            for c in changes.get(body["customer_id"], ())
            if c["change_type"] == "withdrawal_destination"
            and c["at"] <= at
            and _key(c["destination"]) == key
        ]
        stopped = bool(setting) and setting[-1]["channel"] in ONLINE_CHANNELS
        outcomes[body["withdrawal_id"]] = Outcome(stopped, ("ONLINE_CHANGE_SUSPENDED",) * stopped)
    return outcomes, refused


def hold_after_change(
    events: list[tuple[datetime, s.Message]], hours: float = 72
) -> dict[str, Outcome]:
    """Outcomes under "hold every withdrawal within `hours` after any account change"."""
    changes = _changes(events)
    window = timedelta(hours=hours)
    outcomes: dict[str, Outcome] = {}
    for at, (topic, body) in events:
        if topic != "withdrawals":
            continue
        recent = any(at - window <= c["at"] <= at for c in changes.get(body["customer_id"], ()))
        outcomes[body["withdrawal_id"]] = Outcome(recent, ("CHANGE_WITHIN_72H",) * recent)
    return outcomes
