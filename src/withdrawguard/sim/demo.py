"""`withdrawguard demo`: a small simulated population, with two attacks of each playbook,
through the running worker at high speed (the customers answering the worker's notices,
`sim/answers.py`); then what it held, how fast and why, and which victims denied.

Every run draws a fresh seed and customer id prefix, so runs never see each other's
customers or accounts. Exits with 1 when an attack the targets say must be held
(`quality.MUST_HOLD`) was not held, or a withdrawal got no verdict.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from withdrawguard.auth.users import add_user
from withdrawguard.progress import Progress
from withdrawguard.settings import Settings
from withdrawguard.sim.answers import Answer
from withdrawguard.sim.demo_cases import (
    ANALYST,
    ensure_supervisor,
    password_file,
    render_cases,
    work_cases,
)
from withdrawguard.sim.generate import SimConfig, generate
from withdrawguard.sim.live import Played, play
from withdrawguard.sim.quality import MUST_HOLD, Outcome, assess, targets_missed

DEMO_USER = ANALYST.user


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--customers", type=int, default=300, help="default 300")
    parser.add_argument("--days", type=int, default=24, help="days of history (24)")
    parser.add_argument("--attacks", type=int, default=14, help="victims, over all playbooks (14)")
    parser.add_argument(
        "--seconds", type=float, default=40, help="replay the history in this long (40)"
    )
    parser.add_argument("--seed", type=int, help="default: a fresh one each run")


def ensure_user(settings: Settings) -> tuple[str, str] | None:
    """The demo console user (analyst), with a freshly generated password."""
    if settings.users_file is None:
        return None
    password = secrets.token_urlsafe(12)
    add_user(settings.users_file, DEMO_USER, "analyst", password)
    return DEMO_USER, password


def demo_config(args: argparse.Namespace, seed: int, run_id: str, now: datetime) -> SimConfig:
    """The demo's history ends at `now`: the console shows holds aged in minutes and
    hours, and the detector's retention (counted back from the newest event time it saw)
    keeps the whole history behind them, also after an analyst's action dated now.

    The history is the one drawn for the days up to the last midnight (UTC), moved to end
    at `now` (`SimConfig.shift`): the simulator's customers keep to their times of day, so
    a history drawn to end at 05:17 would be another history; moved, a seed gives the same
    history (the same verdicts) whatever the hour the demo runs."""
    now = now.astimezone(UTC).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    return SimConfig(
        seed=seed,
        customers=args.customers,
        days=args.days,
        attacks=args.attacks,
        id_prefix=f"d{run_id}-",
        start=midnight - timedelta(days=args.days),
        shift=now - midnight,
    )


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    run_id = secrets.token_hex(3)
    seed = args.seed if args.seed is not None else secrets.randbelow(10**6)
    config = demo_config(args, seed, run_id, datetime.now(UTC))
    try:
        sim = generate(config)
    except ValueError as exc:
        print(f"withdrawguard demo: {exc}", file=sys.stderr)
        return 2
    user = ensure_user(settings)
    speed = args.days * 86400 / args.seconds
    print(
        f"demo run {run_id} (seed {seed}): {args.customers} customers, {args.days} days of"
        f" history, {len(sim.attacks)} attacks, replayed in about {args.seconds:.0f} s"
        f" ({len(sim.deliveries):,} messages)",
        file=out,
    )
    played = play(sim, settings, speed, Progress(sys.stderr))
    figures = assess(sim.labels, played.outcomes, played.sell_offs)
    print(render(sim.labels, played, figures, config.id_prefix, sim.answers), file=out)
    lead = ensure_supervisor(settings)
    cases = work_cases(settings, held_holds(sim.labels, played))
    logins = {u[0]: password_file(settings, *u) for u in (user, lead) if u is not None}
    print(render_cases(cases, settings, logins), file=out)
    print(where_next(settings, user, lead), file=out)
    missed = targets_missed(figures)
    if played.missing:
        missed.append(f"{len(played.missing)} withdrawals got no verdict")
    if cases.missing:
        missed.append(f"{len(cases.missing)} holds opened no case")
    if missed:
        print("\ndemo FAILED: " + "; ".join(missed), file=out)
        return 1
    print(
        f"\ndemo OK: every {', '.join(MUST_HOLD)} attack held; no honest withdrawal held"
        " without a change before it.",
        file=out,
    )
    return 0


def held_holds(labels: list[dict[str, Any]], played: Played) -> dict[str, str]:
    """Hold id -> customer id of every withdrawal of the run that was held."""
    return {
        f"hold-{x['withdrawal_id']}": x["customer_id"]
        for x in labels
        if x["record"] == "withdrawal"
        and (o := played.outcomes.get(x["withdrawal_id"])) is not None
        and o.held
    }


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values):.0f}" if values else "-"


def _early(sold: bool, customer: str, played: Played) -> str:
    if not sold:
        return "-"
    if customer in played.sell_offs.early:
        return "before"
    return "after" if customer in played.sell_offs.alerted else "none"


ANSWER_COLUMN = {
    "deny_before": "denied",
    "deny_after": "denied late",
    "attacker_confirmed": "not counted",
}
"""The demo's `answer` column from the label's `notice_answer` of the attack's first
withdrawal."""


def render(
    labels: list[dict[str, Any]],
    played: Played,
    figures: dict[str, Any],
    prefix: str,
    answers: Sequence[Answer] = (),
) -> str:
    outcomes: Mapping[str, Outcome] = played.outcomes
    attacks: dict[str, list[dict[str, Any]]] = {}
    for x in labels:
        if x["record"] == "withdrawal" and x["truth"] == "attack":
            attacks.setdefault(x["attack_id"], []).append(x)
    lines = [
        "",
        f"{'attack':<16} {'customer':<16} {'held':>5}  {'ms':>6}  {'sell-off':<8}"
        f"  {'answer':<11}  reasons",
    ]
    for attack_id, items in sorted(attacks.items()):
        got = [outcomes.get(x["withdrawal_id"]) for x in items]
        held = sum(1 for o in got if o is not None and o.held)
        ms = [o.latency_ms for o in got if o is not None and o.latency_ms is not None]
        codes = sorted({c for o in got if o is not None for c in o.reasons})
        customer = items[0]["customer_id"]  # as the console and `cases list` show it
        early = _early(items[0]["sold_holdings"], customer, played)
        answer = ANSWER_COLUMN.get(items[0].get("notice_answer") or "", "-")
        lines.append(
            f"{attack_id.removeprefix(prefix):<16} {customer:<16}"
            f" {held:>2}/{len(items):<2}  {_ms(ms):>6}  {early:<8}  {answer:<11}"
            f"  {', '.join(codes) or '-'}"
        )
    lines.append(
        "(held: withdrawals held of the attack's; ms: median from produced to held;"
        "\n sell-off: the attack sold most holdings, and its `liquidation` alert on"
        " fraud-alerts came before its first withdrawal was decided, after it, or none;"
        "\n the replay puts a sell minutes before a withdrawal milliseconds before it, and"
        " the worker reads trades and withdrawals from two topics, so `after` can happen"
        " here;"
        "\n answer: the victim denied a notice of the attacker's change before the first"
        " withdrawal, after it (`denied late`: held then, as late evidence), or the"
        " attacker confirmed one through the email it had changed (`not counted`))"
    )
    denials = [x for x in answers if x.answer == "deny"]
    confirms = [x for x in answers if x.answer == "confirm"]
    lines.append(
        f"\nnotices answered: {len(denials)} denials by victims"
        f" ({len(played.denied & {x.customer_id for x in denials})} customers with a"
        f" `customer_denial` alert on fraud-alerts), {len(confirms)} confirmations"
        f" ({sum(1 for x in confirms if not x.counted)} not counted: through a contact the"
        " notice did not name)"
    )
    honest = figures["honest"]
    lines.append(
        f"\nhonest withdrawals: {honest['withdrawals']}, held {honest['held']}"
        f" ({honest['after_destination_change']['held']} after an honest destination change,"
        f" {honest['held_without_any_change']} without any change before them);"
        f" honest customers alerted on a sell-off: {honest['customers_alerted_on_sell_off']}"
    )
    for x in labels:
        o = outcomes.get(x["withdrawal_id"]) if x["record"] == "withdrawal" else None
        if x["truth"] == "honest" and o is not None and o.held:
            since = ", ".join(
                f"{k.replace('_', ' ')} {h:.0f} h before"
                for k, h in x["hours_since"].items()
                if h is not None and x["preceded_by"][k]
            )
            lines.append(
                f"  {x['withdrawal_id']:<24} {since or 'no change'}: {', '.join(o.reasons)}"
            )
    bad = sum(1 for x in labels if x["record"] == "malformed")
    dead = sum(1 for d in played.dead_letters if str(d.get("key", "")).startswith(prefix))
    lines.append(f"\nmalformed messages sent: {bad}; dead-lettered from this run: {dead}")
    return "\n".join(lines)


def where_next(
    settings: Settings, user: tuple[str, str] | None, lead: tuple[str, str] | None = None
) -> str:
    base = f"http://127.0.0.1:{settings.web_port}"
    sign_in = (
        f"user {user[0]}, password {user[1]}"
        if user
        else "set WG_USERS_FILE and add a user (README, Ops console)"
    )
    if lead:
        sign_in += f"; supervisor {lead[0]}, password {lead[1]}"
    return f"""
Where to look next:
  ops console   {base}/login   ({sign_in})
  cases         {base}/cases, or `withdrawguard cases list` (above)
  metrics       {base}/metrics   health {base}/health   ready {base}/ready
  Grafana       http://127.0.0.1:3000 when the stack runs in Docker (WG_STACK=docker)
  topics        withdrawal-decisions, withdrawal-holds, fraud-alerts, dead-letters
  worker log    .local/logs/worker.log
  more          docs/quality.md (detection quality), docs/policy.md, docs/contract.md
  stop          make down"""
