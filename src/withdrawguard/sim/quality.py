"""Detection quality from the labels and what a detector did with each withdrawal.

An attack counts as held when every one of its withdrawals was held (a withdrawal let
through is money gone). Of the attacks that sold the victim's holdings, how many raised a
sell-off alert (`fraud-alerts` kind `liquidation`) before their first withdrawal
(`SellOffAlerts`). Honest withdrawals held are split by the honest changes of habit the
labels say preceded them. The two baselines are in `sim/baselines.py`.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MUST_HOLD = ("chain_2020", "mule", "stuffing")
"""Playbooks whose every attack the targets say must be held."""
HELD_AT_LEAST = {"patient": 0.95, "call_center": 0.90}
"""Playbooks with a share of attacks the targets (issue 28) say must be held."""
EARLY_AT_LEAST = 0.90
"""The share of the attacks that sell holdings whose sell-off must be alerted on before
their first withdrawal."""
AFTER_CHANGE_BEFORE = 0.34
"""Honest withdrawals held after an honest destination change before issue 28 (docs/
quality.md of 2026-12): the figure at 0 % answering must be no worse, and at most half of
it when honest customers answer their notices (`AFTER_CHANGE_ANSWERED`)."""
AFTER_CHANGE_ANSWERED = AFTER_CHANGE_BEFORE / 2


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
    denied: dict[str, Counter[str]] = defaultdict(Counter)
    """playbook -> the victims' denials, `deny_before` or `deny_after` the first withdrawal"""
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
    by_answer: dict[str, dict[str, int]] = defaultdict(lambda: {"withdrawals": 0, "held": 0})
    """After an honest destination change, by the customer's answer to its notice."""
    confirmed_liquidation = 0
    """Of those confirmed before the withdrawal and held, the ones `LIQUIDATION` held."""
    for label in labels:
        if label["record"] != "withdrawal":
            continue
        o = outcomes.get(label["withdrawal_id"])
        if label["truth"] == "attack":
            first = not attacks[label["playbook"]][label["attack_id"]]
            attacks[label["playbook"]][label["attack_id"]].append(o)
            if first and label.get("notice_answer") in ("deny_before", "deny_after"):
                denied[label["playbook"]][label["notice_answer"]] += 1
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
        answer = str(label.get("notice_answer")) if after["destination_change"] else None
        if answer is not None:
            by_answer[answer]["withdrawals"] += 1
        if o is not None and o.held:
            honest["held"] += 1
            part["held"] += 1
            no_sell_off["held"] += plain
            if answer is not None:
                by_answer[answer]["held"] += 1
                confirmed_liquidation += answer == "confirm_before" and "LIQUIDATION" in o.reasons
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
            "denied_before": denied[playbook]["deny_before"],
            "denied_after": denied[playbook]["deny_after"],
            "early_alerts": None if sell_offs is None else sum(sold[playbook].values()),
            "not_alerted_early": sorted(a for a, early in sold[playbook].items() if not early),
            "codes": dict(
                sorted(
                    Counter(c for o in done if o is not None and o.held for c in o.reasons).items()
                )
            ),
        }
    return {
        "playbooks": playbooks,
        "honest": {
            **honest,
            **split,
            "after_destination_change_without_sell_off": no_sell_off,
            "after_destination_change_by_answer": dict(sorted(by_answer.items())),
            "confirmed_but_liquidation": confirmed_liquidation,
            "held_without_any_change": len(unexplained),
            "unexplained": unexplained[:20],
            "reasons": dict(sorted(reasons.items())),
            "customers_alerted_on_sell_off": None
            if sell_offs is None
            else len(sell_offs.alerted - attacked),
        },
    }


def before_money_leaves(
    labels: Iterable[Mapping[str, Any]],
    answered: Mapping[str, Outcome],
    unanswered: Mapping[str, Outcome],
) -> dict[str, Outcome]:
    """The verdicts with customers answering (`answered`), as the customer and the money
    live them, given the same history's verdicts without answers (`unanswered`): an
    attack's withdrawal the victim's denial held only after it was allowed (denied after
    the withdrawal, and not held without answers) counts as let through (paid out before
    the denial, unless the broker pays late); an honest withdrawal held, then released by
    the customer's confirmation after it, counts as held (the customer waited)."""
    out = dict(answered)
    for label in labels:
        if label["record"] != "withdrawal":
            continue
        wid: str = label["withdrawal_id"]
        o, before = answered.get(wid), unanswered.get(wid)
        if o is None or before is None:
            continue
        answer = label.get("notice_answer")
        if label["truth"] == "attack" and answer == "deny_after" and o.held and not before.held:
            out[wid] = Outcome(False, o.reasons, o.latency_ms)
        elif label["truth"] == "honest" and answer == "confirm_after" and before.held:
            out[wid] = Outcome(True, before.reasons, before.latency_ms)
    return out


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "0/0"


def rate_targets(
    figures: Mapping[str, Any],
    unanswered: Mapping[str, Any] | None = None,
    answering: str = "",
) -> list[tuple[str, str, str, bool | None]]:
    """The issue's targets as (what, measured, target, met; None: nothing to measure);
    with `unanswered` (the same histories without customers' answers), the honest target
    with customers `answering` (words) and at 0 % answering."""
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
    cases = [("", h, AFTER_CHANGE_BEFORE)]
    if unanswered is not None:
        cases = [(f", {answering}", h, AFTER_CHANGE_ANSWERED)]
        cases.append((", nobody answering notices", unanswered["honest"], AFTER_CHANGE_BEFORE))
    for words, honest, most in cases:
        for key, what in (
            (
                "after_destination_change",
                f"honest withdrawals held after an honest destination change{words}",
            ),
            (
                "after_destination_change_without_sell_off",
                "the same, without an honest sell-off before them (the population before issue 28)",
            ),
        ):
            part = honest[key]
            rows.append(
                (
                    what,
                    _share(part["held"], part["withdrawals"]),
                    f"<= {most:.0%} (34 % before issue 28{', halved' if most < 0.34 else ''})",
                    part["held"] <= most * part["withdrawals"] if part["withdrawals"] else None,
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
