"""Detection quality through the real pipeline: a simulated population with attacks of
every playbook, produced to a real broker, judged by a real worker process; the figures
go to docs/quality.md and docs/img/quality.png, with two baselines on the same data.
Then more seeds through the pure engine (`--engine-seeds`, each with its own population
of `--engine-customers` and `--engine-attacks`): the scan decides their withdrawals, as
the live run's are decided, and `sim/early.py` finds their sell-off alerts; the many
seeds give the rate targets (patient, call-center, early alerts) enough attacks.

    python bench/quality.py                       # 10,000 customers, 30 days, 50 attacks
    python bench/quality.py --customers 2000 --replay-minutes 2 --engine-seeds 2   # quicker

Needs Kafka and Redis (`make up`; WG_KAFKA_BOOTSTRAP / WG_REDIS_URL) and matplotlib
(`pip install --group docs`). It makes its own deployment (topics, consumer group, data
dir, web port), so it does not disturb a running worker. The timeline ends at today's
00:00 UTC, so the same seed gives the same events and figures on any day; the days are
replayed in `--replay-minutes` (15: about 260 messages/s for the default population).
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from withdrawguard.engine.policy import load_policy
from withdrawguard.progress import Progress, duration
from withdrawguard.scan.csvmap import load_mapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.sources import FileSource, discover
from withdrawguard.sim.answers import NO_ANSWERS, AnswerRates
from withdrawguard.sim.baselines import hold_after_change, online_freeze
from withdrawguard.sim.early import sell_off_alerts
from withdrawguard.sim.generate import SimConfig, Simulation, generate
from withdrawguard.sim.live import play
from withdrawguard.sim.quality import (
    MUST_HOLD,
    Outcome,
    SellOffAlerts,
    assess,
    before_money_leaves,
    rate_targets,
    targets_missed,
)
from withdrawguard.sim.sinks import EVENTS, write_files

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 262_144
RATES = AnswerRates()
ANSWERING = (
    f"honest customers confirming {RATES.honest_confirms:.0%} of their notices"
    f" (median {RATES.median_hours:g} h after)"
)
SYSTEMS = {
    "withdrawguard": "withdrawguard (default policy)",
    "online_freeze": "suspend every online destination change (2020)",
    "hold_72h": "hold every withdrawal within 72 h of any change",
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=10_000)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--attacks", type=int, default=50)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--replay-minutes", type=float, default=15)
    p.add_argument("--engine-seeds", type=int, default=10, help="seeds after --seed (10)")
    p.add_argument("--engine-customers", type=int, default=3000)
    p.add_argument("--engine-attacks", type=int, default=70)
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "quality.md")
    p.add_argument("--chart", type=Path, default=ROOT / "docs" / "img" / "quality.png")
    p.add_argument(
        "--engine-only",
        action="store_true",
        help="only the seeds through the engine: replace that section of --doc",
    )
    args = p.parse_args()
    if args.engine_only:
        return engine_only(args)
    sys.path.insert(0, str(ROOT))  # the integration harness: isolated deployment, worker
    from tests.integration.harness import Worker, isolated_settings

    began = time.monotonic()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    config = SimConfig(
        seed=args.seed,
        customers=args.customers,
        days=args.days,
        attacks=args.attacks,
        start=today - timedelta(days=args.days),
    )
    sim = generate(config)
    generated = time.monotonic() - began
    print(f"generated {len(sim.deliveries):,} messages in {generated:.1f} s", file=sys.stderr)
    services = (
        os.environ.get("WG_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        os.environ.get("WG_REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    with tempfile.TemporaryDirectory(prefix="wg-quality-") as tmp:
        settings = isolated_settings(services, "quality", Path(tmp) / "data")
        worker = Worker(settings, Path(tmp) / "worker.log")
        worker.start()
        try:
            speed = args.days * 86400 / (args.replay_minutes * 60)
            played = play(sim, settings, speed, Progress(sys.stderr), timeout=900, settle=10)
        finally:
            worker.stop()
    load = os.getloadavg()[1]  # the 5-minute load average as the replay ends
    agree, compared = oracle_agreement(sim, played.outcomes)
    attack_events = {b["event_id"] for a in sim.attacks for _, (_, b) in a.events}
    freeze, refused = online_freeze(sim.events, attack_events)
    figures = {
        "withdrawguard": assess(sim.labels, played.outcomes, played.sell_offs),
        "online_freeze": assess(sim.labels, freeze),
        "hold_72h": assess(sim.labels, hold_after_change(sim.events)),
    }
    engine_began = time.monotonic()
    seeds = list(range(args.seed + 1, args.seed + 1 + args.engine_seeds))
    many = engine_seeds(seeds, args.engine_customers, args.days, args.engine_attacks, today)
    engine_seconds = time.monotonic() - engine_began
    runtime = time.monotonic() - began
    conditions = {
        "customers": args.customers,
        "days": args.days,
        "attacks": len(sim.attacks),
        "seed": args.seed,
        "playbooks": len({a.playbook for a in sim.attacks}),
        "responses": len(sim.answers),
        "denials": sum(1 for x in sim.answers if x.answer == "deny"),
        "messages": len(sim.deliveries),
        "withdrawals": figures["withdrawguard"]["honest"]["withdrawals"]
        + sum(f["withdrawals"] for f in figures["withdrawguard"]["playbooks"].values()),
        "replay_seconds": round(played.produce_seconds, 1),
        "messages_per_second": round(len(sim.deliveries) / played.produce_seconds),
        "runtime_seconds": round(runtime),
        "missing_verdicts": len(played.missing),
        "dead_letters": len(played.dead_letters),
        "malformed": sum(1 for x in sim.labels if x["record"] == "malformed"),
        "load_average": round(load, 1),
        "scan_agrees": agree,
        "scan_compared": compared,
        "engine_seeds": f"{seeds[0]}-{seeds[-1]}" if seeds else "none",
        "engine_customers": args.engine_customers,
        "engine_attacks": args.engine_attacks,
        "engine_seconds": round(engine_seconds),
        "engine_load_average": round(os.getloadavg()[1], 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs,"
        f" Python {platform.python_version()}",
    }
    draw(figures, args.chart)
    doc = document(figures, refused, conditions, args.chart) + engine_section(many, conditions)
    args.doc.write_text(doc, encoding="utf-8")
    print(f"wrote {args.doc} and {args.chart} in {duration(runtime)}", file=sys.stderr)
    print(orjson.dumps(headline(figures, refused, conditions, many)).decode())
    missed = targets_missed(figures["withdrawguard"])
    missed += targets_missed(many["strict"]) if seeds else []
    return 1 if missed or played.missing else 0


def engine_only(args: argparse.Namespace) -> int:
    """The seeds through the engine alone; their section of `--doc` replaced, the live
    run's part kept (`--engine-only`: the engine's figures again without the replay)."""
    began = time.monotonic()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    seeds = list(range(args.seed + 1, args.seed + 1 + args.engine_seeds))
    many = engine_seeds(seeds, args.engine_customers, args.days, args.engine_attacks, today)
    conditions = {
        "days": args.days,
        "engine_seeds": f"{seeds[0]}-{seeds[-1]}",
        "engine_customers": args.engine_customers,
        "engine_attacks": args.engine_attacks,
        "engine_seconds": round(time.monotonic() - began),
        "engine_load_average": round(os.getloadavg()[1], 1),
    }
    text = args.doc.read_text(encoding="utf-8")
    live = text[: text.index("\n\n## Over many seeds, through the engine")]
    args.doc.write_text(live + engine_section(many, conditions), encoding="utf-8")
    targets = rate_targets(many["strict"], many["unanswered"], ANSWERING)
    print(orjson.dumps([{"what": w, "measured": m, "met": ok} for w, m, _, ok in targets]).decode())
    return 1 if targets_missed(many["strict"]) else 0


def scan_outcomes(sim: Simulation) -> dict[str, Outcome]:
    """The last verdict of `withdrawguard scan` (the pure engine with the cross-customer
    stages) on every withdrawal of `sim`."""
    with tempfile.TemporaryDirectory(prefix="wg-quality-scan-") as tmp:
        write_files(sim, Path(tmp) / "sim")
        source = FileSource(discover([Path(tmp) / "sim" / EVENTS]), load_mapping(None), MAX_BYTES)
        options = ScanOptions(Path(tmp) / "scan", load_policy(), MAX_BYTES)
        scan(source, options, Progress(sys.stderr))
        held = {}
        for line in (Path(tmp) / "scan" / "findings.jsonl").read_bytes().splitlines():
            f = orjson.loads(line)
            held[f["withdrawal_id"]] = Outcome(True, tuple(r["code"] for r in f["reasons"]))
    return {
        x["withdrawal_id"]: held.get(x["withdrawal_id"], Outcome(False))
        for x in sim.labels
        if x["record"] == "withdrawal"
    }


def engine_seeds(
    seeds: list[int], customers: int, days: int, attacks: int, today: datetime
) -> dict[str, dict[str, Any]]:
    """The figures of `seeds` simulations (ids prefixed by their seed) through the pure
    engine, assessed together: `answered` (customers answering notices at the
    simulator's rates), `unanswered` (the same histories, nobody answering) and
    `strict` (`before_money_leaves`: an attack held only by a denial after its withdrawal
    counts as let through, an honest withdrawal released by a later confirmation as held)."""
    labels: list[dict[str, Any]] = []
    answered: dict[str, Outcome] = {}
    unanswered: dict[str, Outcome] = {}
    alerted: set[str] = set()
    early: set[str] = set()
    for seed in seeds:
        config = SimConfig(
            seed=seed,
            customers=customers,
            days=days,
            attacks=attacks,
            start=today - timedelta(days=days),
            id_prefix=f"s{seed}-",
        )
        sim = generate(config)
        print(f"seed {seed}: {len(sim.deliveries):,} messages", file=sys.stderr)
        labels += sim.labels
        answered.update(scan_outcomes(sim))
        found = sell_off_alerts(sim, load_policy(), MAX_BYTES)
        alerted |= found.alerted
        early |= found.early
        unanswered.update(scan_outcomes(generate(replace(config, answers=NO_ANSWERS))))
    alerts = SellOffAlerts(frozenset(alerted), frozenset(early))
    strict = before_money_leaves(labels, answered, unanswered)
    return {
        "answered": assess(labels, answered, alerts),
        "unanswered": assess(labels, unanswered, alerts),
        "strict": assess(labels, strict, alerts),
    }


def oracle_agreement(sim: Simulation, live: dict[str, Outcome]) -> tuple[int, int]:
    """On how many withdrawals `withdrawguard scan` (the pure engine over the same events)
    and the live pipeline agree about holding, of how many."""
    scanned = scan_outcomes(sim)
    agree = sum(scanned[wid].held == o.held for wid, o in live.items() if wid in scanned)
    return agree, len(live)


def headline(
    figures: dict[str, Any],
    refused: dict[str, int],
    cond: dict[str, Any],
    many: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    wg = figures["withdrawguard"]
    return {
        "engine_seeds_targets": [
            {"what": w, "measured": m, "target": t, "met": ok}
            for w, m, t, ok in rate_targets(many["strict"], many["unanswered"], ANSWERING)
        ],
        "attacks_held": {p: f"{f['held']}/{f['attacks']}" for p, f in wg["playbooks"].items()},
        "median_ms_to_hold": {p: f["median_ms_to_hold"] for p, f in wg["playbooks"].items()},
        "honest_held": wg["honest"]["held"],
        "honest_withdrawals": wg["honest"]["withdrawals"],
        "honest_held_without_any_change": wg["honest"]["held_without_any_change"],
        "targets_missed": targets_missed(wg),
        "online_freeze_attacks_stopped": sum(
            f["held"] for f in figures["online_freeze"]["playbooks"].values()
        ),
        "online_freeze_honest_changes_refused": refused["honest_changes_refused"],
        "hold_72h_attacks_held": sum(f["held"] for f in figures["hold_72h"]["playbooks"].values()),
        "hold_72h_honest_held": figures["hold_72h"]["honest"]["held"],
        "runtime_seconds": cond["runtime_seconds"],
    }


def _pct(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.0%})" if whole else "0/0"


def document(
    figures: dict[str, Any], refused: dict[str, int], c: dict[str, Any], chart: Path
) -> str:
    wg = figures["withdrawguard"]
    playbooks = list(wg["playbooks"])
    lines = [
        "# Detection quality",
        "",
        "What withdrawguard holds, how fast, and how many honest customers it delays, on a",
        "simulated population run through the real pipeline (a Kafka broker and a worker",
        "process with the default policy), next to two simple rules a broker could apply",
        "instead. Written by `bench/quality.py`; every figure below is from its last run.",
        "",
        "## The run",
        "",
        f"- {c['customers']:,} customers over {c['days']} days (`withdrawguard simulate`, seed"
        f" {c['seed']}), {c['attacks']} attacks over all {c['playbooks']} playbooks;"
        f" {c['messages']:,} messages"
        f" ({c['malformed']} malformed; {c['dead_letters']} dead letters),"
        f" {c['withdrawals']:,}"
        " withdrawals.",
        f"- Customers answer the worker's notices at the simulator's rates (below, \"Over many"
        f" seeds\"): {c['responses']:,} responses, {c['denials']} of them victims' denials;"
        " each is produced once the worker has sent the notice it answers (the contract: a"
        " response follows its notice). The withdrawguard figures are the latest verdicts"
        " with those answers.",
        f"- Replayed in {c['replay_seconds']:.0f} s ({c['messages_per_second']} messages/s) to a"
        f" single-node Kafka 4.1 and one worker on {c['machine']}, shared with other work"
        f" (load average {c['load_average']} over the last 5 minutes of the replay)."
        f" Whole benchmark: {duration(c['runtime_seconds'])}.",
        f"- The live verdicts agree with `withdrawguard scan` (the pure engine over the same"
        f" events) on {c['scan_agrees']:,} of {c['scan_compared']:,} withdrawals"
        " (hold or not).",
        "- Verdict: the latest on `withdrawal-decisions` 10 s after the last message (late"
        " evidence can turn an `allow` into a `hold`). Time to hold: from the withdrawal handed"
        " to the producer to the first `hold` verdict read back, on the same clock. It"
        " includes whatever backlog the worker has at that moment, so on a machine shared"
        " with other work it measures mostly queueing; the engine's own cost per event is"
        " measured by `bench/engine_hot_path.py`.",
        "- An attack is held when every one of its withdrawals is held. The playbooks are"
        " described in `src/withdrawguard/sim/playbooks.py`, honest habits in"
        " `src/withdrawguard/sim/population.py`.",
        "",
        "![Attacks held per playbook and honest withdrawals held, withdrawguard and the two"
        f" baselines](img/{chart.name})",
        "",
        "## Attacks held",
        "",
        "| Playbook | withdrawguard | median ms to hold | sold holdings | sell-off alert"
        " before the first withdrawal | suspend online changes | hold 72 h after any change |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in playbooks:
        f = wg["playbooks"][p]
        fz = figures["online_freeze"]["playbooks"][p]
        h = figures["hold_72h"]["playbooks"][p]
        ms = "-" if f["median_ms_to_hold"] is None else f"{f['median_ms_to_hold']:.0f}"
        early = _pct(f["early_alerts"], f["sold_holdings"]) if f["sold_holdings"] else "-"
        lines.append(
            f"| `{p}` | {_pct(f['held'], f['attacks'])} | {ms} | {f['sold_holdings']} | {early}"
            f" | {_pct(fz['held'], fz['attacks'])} | {_pct(h['held'], h['attacks'])} |"
        )
    lines += [
        "",
        "## Honest withdrawals held",
        "",
        "| | withdrawguard | suspend online changes | hold 72 h after any change |",
        "|---|---|---|---|",
    ]
    for key, label in (
        ("after_destination_change", "after an honest destination change (10 days)"),
        ("other", "without one"),
    ):
        cells = [
            _pct(figures[s]["honest"][key]["held"], figures[s]["honest"][key]["withdrawals"])
            for s in SYSTEMS
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = [str(figures[s]["honest"]["held_without_any_change"]) for s in SYSTEMS]
    lines.append(
        "| without any destination, credential or device change before | "
        + " | ".join(cells)
        + " |"
    )
    reasons = ", ".join(f"`{k}` {v}" for k, v in wg["honest"]["reasons"].items()) or "none"
    lines += [
        "",
        f"Reasons on the honest withdrawals withdrawguard held: {reasons}. Honest customers"
        " whose sell-off raised a `liquidation` alert:"
        f" {wg['honest']['customers_alerted_on_sell_off']}"
        " (the simulator's honest sell-offs after a new bank account, a new device or a"
        " credential change: the pattern, docs/policy.md).",
        "",
        f"Suspending online destination changes refuses {refused['honest_changes_refused']} honest"
        f" changes (customers who must then write or call) and {refused['attack_changes_refused']}"
        " of the attackers'. It counts as held every later withdrawal to a destination set"
        " online, however long ago (the change never happened), hence its honest withdrawals"
        " held without a recent change. Holding 72 h after any change also delays customers"
        " who only changed their email, password or address.",
        "",
        "## Targets",
        "",
    ]
    missed = targets_missed(wg)
    lines.append(
        "Met: every " + ", ".join(f"`{p}`" for p in MUST_HOLD) + " attack held, and no honest"
        " withdrawal held without a destination change, credential change or new device before it."
        if not missed
        else "Missed: " + "; ".join(missed)
    )
    lines += ["", "Issue 28's targets on this run (the seeds below have more attacks):", ""]
    lines += targets_table(wg)
    lines += [
        "",
        "Live, a sell-off counts as alerted before the first withdrawal when the first"
        " verdict on that withdrawal names `LIQUIDATION` (the engine raises the alert when the"
        " event completing the sell-off arrives, and decides a withdrawal with the sell-offs"
        " it knows). The replay puts a sell minutes before a withdrawal within a fraction of a"
        " second of it, and the worker reads `trades` and `withdrawals` as two topics, so"
        " some withdrawals are decided before the sells they followed (held later, with"
        " `LATE_EVIDENCE`): the live share measures the replay's compression as much as the"
        " detector. The seeds below take each customer's messages in arrival order.",
    ]
    lines += ["", "## What escapes, and why", ""]
    for p in playbooks:
        escaped = wg["playbooks"][p]["escaped"]
        if escaped:
            lines.append(f"- `{p}`: {', '.join(escaped)}. {WHY.get(p, '')}")
    if not any(wg["playbooks"][p]["escaped"] for p in playbooks):
        lines.append("- Nothing escaped in this run.")
    return "\n".join(lines)


WHY = {
    "patient": "The victim held no securities (one customer in seven holds cash only), so"
    " nothing was sold and `LIQUIDATION` has nothing to see; the attacker waited 72 h or"
    " more between the destination change and the withdrawal: the change is out of"
    " `dest_changed_recently`'s window and the access rules lose their anchor (docs/policy.md,"
    " worked example; the example override closes it).",
    "call_center": "A call-center change only weighs (35); with a new device (20) a"
    " withdrawal below 80 % of the balance scores 55, under `hold_score` 60. The playbook"
    " sells nothing (the attacker withdraws the cash), so `LIQUIDATION` does not help it.",
    "small": "Small withdrawals carry no amount evidence; only the destination change holds them.",
    "device_farm": "The device's wave was counted too late or too small for this victim.",
}


def targets_table(figures: dict[str, Any], unanswered: dict[str, Any] | None = None) -> list[str]:
    rows = ["| Target | measured | target | met |", "|---|---|---|---|"]
    for what, measured, target, met in rate_targets(figures, unanswered, ANSWERING):
        rows.append(f"| {what} | {measured} | {target} | {_met(met)} |")
    return rows


def _met(met: bool | None) -> str:
    return "-" if met is None else ("yes" if met else "**no**")


def engine_section(many: dict[str, dict[str, Any]], c: dict[str, Any]) -> str:
    """docs/quality.md's part on the seeds through the pure engine."""
    strict, answered, none = many["strict"], many["answered"], many["unanswered"]
    lines = [
        "",
        "",
        "## Over many seeds, through the engine",
        "",
        f"Seeds {c['engine_seeds']}: each {c['engine_customers']:,} customers over {c['days']}"
        f" days with {c['engine_attacks']} attacks, through `withdrawguard scan` (the pure"
        " engine with the cross-customer stages; it agrees with the live worker above) and,"
        " for the sell-off alerts, each customer's messages through the engine in arrival"
        " order (`src/withdrawguard/sim/early.py`). Each seed twice: with the customers"
        " answering the engine's notices at the simulator's rates, and the same history with"
        f" nobody answering. {duration(c['engine_seconds'])} on the same machine (load"
        f" average {c['engine_load_average']} at the end).",
        "",
        "Who answers (`AnswerRates`, `src/withdrawguard/sim/answers.py`): a victim denies a"
        f" notice of the attacker's change {RATES.victim_denies:.0%} of the time, through the"
        " contact it names; when the victim does not and the notice names the contact before"
        " the attacker's email change, the attacker confirms it through the current one (its"
        f" own) {RATES.attacker_confirms:.0%} of the time (`CONFIRMATION_NOT_COUNTED`); an"
        f" honest customer confirms {RATES.honest_confirms:.0%} of their notices (the others"
        " ignore theirs), through the current contact instead of the named earlier one"
        f" {RATES.wrong_contact:.0%} of the time (not counted). Answers come a log-normal"
        f" delay after the notice: median {RATES.median_hours:g} h (nine in ten within"
        " about 7 h), at least 20 minutes; the attacker's within 30 minutes. Hold notices"
        " are not answered.",
        "",
        "| Playbook | nobody answering | answering: held at the end | answering: held before"
        " the money leaves | victims' denials (before / after the first withdrawal) | sold"
        " holdings | sell-off alert before the first withdrawal |",
        "|---|---|---|---|---|---|---|",
    ]
    for p, f in strict["playbooks"].items():
        early = _pct(f["early_alerts"], f["sold_holdings"]) if f["sold_holdings"] else "-"
        a, n = answered["playbooks"][p], none["playbooks"][p]
        lines.append(
            f"| `{p}` | {_pct(n['held'], n['attacks'])} | {_pct(a['held'], a['attacks'])}"
            f" | {_pct(f['held'], f['attacks'])} | {f['denied_before']} / {f['denied_after']}"
            f" | {f['sold_holdings']} | {early} |"
        )
    farm = strict["playbooks"].get("device_farm")
    if farm:
        lines += [
            "",
            f"`device_farm` withdrawals held naming `DEVICE_SHARED`:"
            f" {farm['codes'].get('DEVICE_SHARED', 0)} of {farm['withdrawals_held']} held"
            f" ({farm['withdrawals']} in all).",
        ]
    lines += ["", "Honest withdrawals held after an honest destination change (10 days):", ""]
    lines += [
        "| | withdrawals | held |",
        "|---|---|---|",
    ]
    for label, fig in (
        ("nobody answering", none),
        ("answering, held at the end (latest verdict)", answered),
        ("answering, held at any time (released by a later confirmation included)", strict),
    ):
        after = fig["honest"]["after_destination_change"]
        lines.append(
            f"| {label} | {after['withdrawals']} | {_pct(after['held'], after['withdrawals'])} |"
        )
    words = {
        "confirm_before": "confirmed (counted) before the withdrawal",
        "confirm_after": "confirmed (counted) after it: held, then released",
        "confirm_not_counted": "confirmed through a contact the notice did not name",
        "None": "not answered",
    }
    by = strict["honest"]["after_destination_change_by_answer"]
    lines += [
        "",
        "By the customer's answer to the change's notice (answering, held at any time):",
        "",
    ]
    lines += [f"- {words.get(k, k)}: {_pct(v['held'], v['withdrawals'])}" for k, v in by.items()]
    h = strict["honest"]
    lines += [
        "",
        f"Of the confirmed-before ones still held, {h['confirmed_but_liquidation']} name"
        " `LIQUIDATION`: the customer sold most holdings after another trigger (a new"
        " device's first login, a credential change they did not confirm) and withdrew the"
        " proceeds. A change the customer confirmed through the contact its notice named,"
        " or a destination verified at or after its change, is no trigger"
        " (engine/rules/holdings.py).",
        "",
        f"Without any change or new device before them: {h['held_without_any_change']} honest"
        f" withdrawals held; without a destination change:"
        f" {_pct(h['other']['held'], h['other']['withdrawals'])}. Honest customers alerted on"
        f" a sell-off: {h['customers_alerted_on_sell_off']}.",
        "",
        'Targets, on "answering, before the money leaves" for the attacks and "held at any'
        ' time" for the honest customers:',
        "",
    ]
    lines += targets_table(strict, none)
    not_early = [a for f in strict["playbooks"].values() for a in f["not_alerted_early"]]
    escaped = {p: f["escaped"] for p, f in strict["playbooks"].items() if f["escaped"]}
    lines += [
        "",
        "Escaped: "
        + ("; ".join(f"`{p}` {', '.join(a)}" for p, a in escaped.items()) or "none")
        + ". Sold, but not alerted before the first withdrawal: "
        + (", ".join(not_early) or "none")
        + ".",
        "",
        WHY_MANY,
        "",
        "Run it again: `python bench/quality.py` (with `make up` first).",
        "",
    ]
    return "\n".join(lines)


WHY_MANY = (
    "Why the misses: an attack held only when its victim denies is held at the rate the"
    " victims answer in time. `call_center` sells nothing and, unanswered, a withdrawal"
    " below 80 % of the balance scores 55 (a call-center change 35, a new device 20), under"
    " `hold_score` 60; answered, it is held when the victim's denial comes"
    " before the withdrawal (1-30 h after the change). The `patient` attacks that escape"
    " nobody answering are on victims who held no securities (one customer in seven holds"
    " cash only); their denial usually comes days before the withdrawal. A denial after"
    " the withdrawal holds it again in the verdicts (`LATE_EVIDENCE`), counted here as"
    " let through. The honest withdrawals still held after a destination change are the"
    " unanswered notices (four in ten ignore theirs: most of those held, above), the answers"
    " after the withdrawal, and a few sell-offs after another trigger (above). A change the"
    " customer confirmed through the contact its notice named is no `LIQUIDATION`"
    " trigger since 7 December (before, it held most of the confirmed ones still held);"
    " and a destination verified after its change weighs nothing in"
    " `DEST_CHANGED_RECENTLY` (before, 78 of 81 confirmed-before withdrawals were still held:"
    " a drain to the new account, 35 + `DRAIN` 25 = `hold_score`). The `patient` attack"
    " that escapes answering: the victim did not answer, the attacker confirmed the"
    " destination notice through the email it had set (not counted), and withdrew four"
    " days after the change with nothing to sell."
    " Nobody answering,"
    " the share is about the 39 % measured before the answers and the device farm (60"
    " attacks per seed then); the issue's 34 % was measured on a population that never"
    " sold holdings, hence the row without an honest sell-off."
)


def draw(figures: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=110)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.4]})
    playbooks = list(figures["withdrawguard"]["playbooks"])
    width = 0.27
    colors = {"withdrawguard": "#1f6feb", "online_freeze": "#9a6700", "hold_72h": "#8c959f"}
    for i, (key, label) in enumerate(SYSTEMS.items()):
        f = figures[key]["playbooks"]
        shares = [100 * f[p]["held"] / f[p]["attacks"] for p in playbooks]
        xs = [n + (i - 1) * width for n in range(len(playbooks))]
        left.bar(xs, shares, width, label=label, color=colors[key])
        h = figures[key]["honest"]
        right.bar(
            [0 + (i - 1) * width, 1 + (i - 1) * width],
            [h["after_destination_change"]["held"], h["other"]["held"]],
            width,
            color=colors[key],
        )
    left.set_xticks(range(len(playbooks)), playbooks)
    left.set_ylabel("attacks held, %")
    left.set_ylim(0, 130)
    left.set_yticks(range(0, 101, 20))
    left.set_title("Attacks held, by playbook")
    left.legend(loc="upper center", fontsize=8, ncol=2, frameon=False)
    right.set_xticks([0, 1], ["after an honest\ndestination change", "without one"])
    right.set_ylabel("honest withdrawals held")
    right.set_title("Honest customers delayed")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


if __name__ == "__main__":
    sys.exit(main())
