"""Detection quality from the labels and what a detector did with each withdrawal.

An attack counts as held when every one of its withdrawals was held (a withdrawal let
through is money gone). Of the attacks that sold the victim's holdings, how many raised a
sell-off alert (`fraud-alerts` kind `liquidation`) before their first withdrawal
(`SellOffAlerts`). Honest withdrawals held are split by the honest changes of habit the
labels say preceded them. The two baselines are computed on the same events:

- `online_freeze`: what brokers did in 2020, suspend every online (web, mobile, api)
  change of withdrawal destination. A withdrawal is stopped when the change that set its
  destination was online; the honest changes so refused are counted.
- `hold_after_change`: hold every withdrawal within 72 h after any account change.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.engine.events import ONLINE_CHANNELS, Destination
from withdrawguard.sim import scenarios as s

MUST_HOLD = ("chain_2020", "mule", "stuffing")
"""Playbooks whose every attack the targets say must be held."""
HELD_AT_LEAST = {"patient": 0.95, "call_center": 0.90}
"""Playbooks with a share of attacks the targets (issue 28) say must be held."""
EARLY_AT_LEAST = 0.90
"""The share of the attacks that sell holdings whose sell-off must be alerted on before
their first withdrawal."""
AFTER_CHANGE_BEFORE = 0.34
"""Honest withdrawals held after an honest destination change before issue 28 (docs/
quality.md of 2026-12): the figure must be no worse."""


@dataclass(frozen=True, slots=True)
class SellOffAlerts:
    """What a detector said about sell-offs: the customers with a `liquidation` alert, and
    those alerted before the first withdrawal of the attack on them was decided."""

    alerted: frozenset[str] = frozenset()
    early: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Outcome:
    held: bool
    reasons: tuple[str, ...] = ()
    latency_ms: float | None = None
    """From the withdrawal being produced to its first hold verdict (live runs only)."""


def assess(
    labels: Iterable[Mapping[str, Any]],
    outcomes: Mapping[str, Outcome],
    sell_offs: SellOffAlerts | None = None,
) -> dict[str, Any]:
    """Per-playbook and honest figures of one detector; with `sell_offs`, its alerts."""
    attacks: dict[str, dict[str, list[Outcome | None]]] = defaultdict(lambda: defaultdict(list))
    sold: dict[str, dict[str, bool]] = defaultdict(dict)
    """playbook -> attack id -> alerted early, of the attacks that sold holdings"""
    attacked: set[str] = set()
    honest = {"withdrawals": 0, "held": 0, "missing": 0}
    split = {k: {"withdrawals": 0, "held": 0} for k in ("after_destination_change", "other")}
    no_sell_off = {"withdrawals": 0, "held": 0}
    """After an honest destination change, without an honest sell-off before (as before
    the simulator's customers sold holdings)."""
    unexplained: list[str] = []
    reasons: dict[str, int] = defaultdict(int)
    for label in labels:
        if label["record"] != "withdrawal":
            continue
        o = outcomes.get(label["withdrawal_id"])
        if label["truth"] == "attack":
            attacks[label["playbook"]][label["attack_id"]].append(o)
            attacked.add(label["customer_id"])
            if label.get("sold_holdings"):
                early = sell_offs is not None and label["customer_id"] in sell_offs.early
                sold[label["playbook"]][label["attack_id"]] = early
            continue
        honest["withdrawals"] += 1
        honest["missing"] += o is None
        after = label["preceded_by"]
        part = split["after_destination_change" if after["destination_change"] else "other"]
        part["withdrawals"] += 1
        plain = after["destination_change"] and not label.get("sold_holdings")
        no_sell_off["withdrawals"] += plain
        if o is not None and o.held:
            honest["held"] += 1
            part["held"] += 1
            no_sell_off["held"] += plain
            for code in o.reasons:
                reasons[code] += 1
            if not any(after.values()):
                unexplained.append(label["withdrawal_id"])
    playbooks: dict[str, Any] = {}
    for playbook, by_attack in sorted(attacks.items()):
        done = [o for os in by_attack.values() for o in os]
        latencies = [o.latency_ms for o in done if o is not None and o.latency_ms is not None]
        playbooks[playbook] = {
            "attacks": len(by_attack),
            "held": sum(all(o is not None and o.held for o in os) for os in by_attack.values()),
            "withdrawals": len(done),
            "withdrawals_held": sum(1 for o in done if o is not None and o.held),
            "missing": sum(1 for o in done if o is None),
            "median_ms_to_hold": round(statistics.median(latencies), 1) if latencies else None,
            "escaped": sorted(
                a for a, os in by_attack.items() if not all(o is not None and o.held for o in os)
            ),
            "sold_holdings": len(sold[playbook]),
            "early_alerts": None if sell_offs is None else sum(sold[playbook].values()),
            "not_alerted_early": sorted(a for a, early in sold[playbook].items() if not early),
        }
    return {
        "playbooks": playbooks,
        "honest": {
            **honest,
            **split,
            "after_destination_change_without_sell_off": no_sell_off,
            "held_without_any_change": len(unexplained),
            "unexplained": unexplained[:20],
            "reasons": dict(sorted(reasons.items())),
            "customers_alerted_on_sell_off": None
            if sell_offs is None
            else len(sell_offs.alerted - attacked),
        },
    }


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "0/0"


def rate_targets(figures: Mapping[str, Any]) -> list[tuple[str, str, str, bool | None]]:
    """The issue's targets as (what, measured, target, met; None: nothing to measure)."""
    pb = figures["playbooks"]
    rows: list[tuple[str, str, str, bool | None]] = []
    for playbook, least in HELD_AT_LEAST.items():
        f = pb.get(playbook)
        if f is not None:
            met = f["held"] >= least * f["attacks"] if f["attacks"] else None
            rows.append(
                (
                    f"`{playbook}` attacks held",
                    _share(f["held"], f["attacks"]),
                    f">= {least:.0%}",
                    met,
                )
            )
    for playbook in MUST_HOLD:
        f = pb.get(playbook)
        if f is not None:
            met = f["held"] == f["attacks"] if f["attacks"] else None
            rows.append((f"`{playbook}` attacks held", _share(f["held"], f["attacks"]), "all", met))
    selling = sum(f["sold_holdings"] for f in pb.values())
    if all(f["early_alerts"] is not None for f in pb.values()):
        early = sum(f["early_alerts"] for f in pb.values())
        met = early >= EARLY_AT_LEAST * selling if selling else None
        rows.append(
            (
                "sell-off alert before the first withdrawal, of the attacks that sold",
                _share(early, selling),
                f">= {EARLY_AT_LEAST:.0%}",
                met,
            )
        )
    h = figures["honest"]
    rows.append(
        (
            "honest withdrawals held without any change or new device before them",
            str(h["held_without_any_change"]),
            "0",
            h["held_without_any_change"] == 0,
        )
    )
    after = h["after_destination_change"]
    met = (
        after["held"] <= AFTER_CHANGE_BEFORE * after["withdrawals"]
        if after["withdrawals"]
        else None
    )
    rows.append(
        (
            "honest withdrawals held after an honest destination change",
            _share(after["held"], after["withdrawals"]),
            f"<= {AFTER_CHANGE_BEFORE:.0%} (before issue 28)",
            met,
        )
    )
    plain = h["after_destination_change_without_sell_off"]
    rows.append(
        (
            "the same, without an honest sell-off before them (the population before issue 28)",
            _share(plain["held"], plain["withdrawals"]),
            f"<= {AFTER_CHANGE_BEFORE:.0%} (before issue 28)",
            plain["held"] <= AFTER_CHANGE_BEFORE * plain["withdrawals"]
            if plain["withdrawals"]
            else None,
        )
    )
    return rows


def targets_missed(figures: Mapping[str, Any]) -> list[str]:
    """What the issue's targets say must not happen, in words; empty when all are met."""
    out = []
    for playbook in MUST_HOLD:
        f = figures["playbooks"].get(playbook)
        if f is not None and f["held"] < f["attacks"]:
            out.append(f"{playbook}: {f['held']} of {f['attacks']} attacks held ({f['escaped']})")
    if figures["honest"]["held_without_any_change"]:
        out.append(
            f"{figures['honest']['held_without_any_change']} honest withdrawals held without a"
            f" destination change, credential change or new device before them:"
            f" {figures['honest']['unexplained']}"
        )
    return out


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
