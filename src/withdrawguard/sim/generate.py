"""A whole simulation from its options: population, attacks, delivery, the customers'
answers to the detector's notices, labels.

Pure and deterministic: one `random.Random(seed)` draws everything, in a fixed order,
so the same options give the same events, deliveries and labels. The answers come
last: the deliveries go through the pure engine (`engine_pass`), the notices it sends
are answered (`answers`), and the answers delivered like the rest; so the same options
without answers (`NO_ANSWERS`) give the same history, only unanswered.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from withdrawguard.engine.policy import Policy, load_policy
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import NO_ANSWERS, Answer, AnswerRates, answers
from withdrawguard.sim.customers import Customer, make_customers
from withdrawguard.sim.delivery import Delivery, Rates, deliver
from withdrawguard.sim.engine_pass import through_engine
from withdrawguard.sim.identities import Identities
from withdrawguard.sim.labels import withdrawal_labels
from withdrawguard.sim.playbooks import (
    CAMPAIGN_SIZE,
    DURATION,
    FARM_TARGETS,
    PLAYBOOKS,
    PLAYS,
    Attack,
    Kit,
    farm_wave,
    stuffing_wave,
)
from withdrawguard.sim.population import WARMUP, Habit, honest_history

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
"""Where the timeline starts when written to files (fixed, so output is reproducible)."""
WAVE_TARGETS = (20, 40)
"""A credential-stuffing wave tries this many customers besides the ones it cracks."""


@dataclass(frozen=True, slots=True)
class SimConfig:
    seed: int = 7
    customers: int = 1000
    days: int = 30
    attacks: int = 12
    """Victims, spread evenly over `playbooks` (in their order)."""
    playbooks: tuple[str, ...] = PLAYBOOKS
    start: datetime = DEFAULT_START
    id_prefix: str = ""
    rates: Rates = field(default_factory=Rates)
    answers: AnswerRates = field(default_factory=AnswerRates)
    """Who answers the detector's notices, and how soon (`sim/answers.py`)."""
    change_scale: float = 1.0
    """Multiplies the chance of every honest change of habit."""
    shift: timedelta = timedelta(0)
    """Added to every time the simulation writes, after the history is drawn from `start`:
    the same history, moved. The customers keep to their times of day as of `start`'s
    clock, so a history drawn from a midnight and shifted is the one drawn for that
    midnight whatever the shift (the demo ends now that way)."""

    def check(self) -> None:
        """Raise ValueError naming the option that cannot be simulated."""
        if self.customers < 1:
            raise ValueError(f"--customers must be at least 1, got {self.customers}")
        if self.attacks < 0:
            raise ValueError(f"--attacks must not be negative, got {self.attacks}")
        unknown = [p for p in self.playbooks if p not in PLAYS]
        if unknown or not self.playbooks:
            raise ValueError(f"--playbooks: unknown {unknown}; choose from {', '.join(PLAYBOOKS)}")
        longest = max(DURATION[p] for p in self.playbooks)
        if timedelta(days=self.days) < WARMUP + longest + timedelta(days=1):
            need = (WARMUP + longest).days + 1
            raise ValueError(
                f"--days must be at least {need} for the playbooks {', '.join(self.playbooks)}"
                f" (a warm-up of {WARMUP.days} days, then the longest playbook)"
            )
        wave = WAVE_TARGETS[1] if "stuffing" in self.playbooks else 0
        wave = max(wave, FARM_TARGETS[1] if "device_farm" in self.playbooks else 0)
        if self.attacks and self.customers < self.attacks + wave:
            raise ValueError(
                f"--customers must be at least {self.attacks + wave} for {self.attacks} attacks"
            )
        if self.change_scale < 0:
            raise ValueError(f"--change-scale must not be negative, got {self.change_scale}")
        self.rates.check()
        self.answers.check()


@dataclass(slots=True)
class Simulation:
    config: SimConfig
    customers: list[Customer]
    attacks: list[Attack]
    habits: list[Habit]
    events: list[tuple[datetime, s.Message]]
    """The clean history, in event-time order."""
    deliveries: list[Delivery]
    labels: list[dict[str, Any]]
    """A label per withdrawal (event-time order), then one per malformed message."""
    answers: list[Answer] = field(default_factory=list)
    """The customers' (and attackers') answers to the detector's notices."""

    @property
    def start(self) -> datetime:
        """Where the written timeline starts (`config.start`, shifted)."""
        return self.config.start + self.config.shift

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.config.days)


def generate(config: SimConfig, policy: Policy | None = None) -> Simulation:
    """The simulation `config` describes; its notices are the ones the engine sends with
    `policy` (default: the default policy)."""
    config.check()
    rng = random.Random(config.seed)  # noqa: S311 - simulated data, not cryptography
    ids = Identities(rng)
    start, end = config.start, config.start + timedelta(days=config.days)
    customers = make_customers(ids, config.customers, config.id_prefix)
    attacks = _attacks(rng, ids, config, customers, start + WARMUP, end)
    begins = {a.customer_id: a.begins for a in attacks}
    scale = config.change_scale * config.days / 30
    events: list[tuple[datetime, s.Message]] = []
    habits: list[Habit] = []
    for c in customers:
        h = honest_history(c, ids, start, end, scale)
        stop = begins.get(c.id)
        if stop is None:
            events += h.events
            habits += h.habits
        else:  # the victim's own activity stops when the attacker takes over
            events += [(t, m) for t, m in h.events if t < stop]
            habits += [x for x in h.habits if x.at < stop]
    for a in attacks:
        events += a.events
    events.sort(key=lambda item: item[0])
    if config.shift:
        events = _moved(events, config.shift)
        habits = [replace(h, at=h.at + config.shift) for h in habits]
        for a in attacks:
            a.begins, a.events = a.begins + config.shift, _moved(a.events, config.shift)
    deliveries, malformed = deliver(rng, events, config.rates)
    given: list[Answer] = []
    if config.answers != NO_ANSWERS:  # answers draw last: the history is the same without
        notices = (
            n.payload
            for _, out in through_engine(deliveries, policy or load_policy())
            for n in out.notices
        )
        attackers = {
            b["event_id"] for a in attacks for _, (t, b) in a.events if t == "account-changes"
        }
        end = config.start + config.shift + timedelta(days=config.days)
        replies, given = answers(rng, notices, attackers, end, config.answers)
        late, broken = deliver(rng, replies, config.rates, first_malformed=len(malformed))
        deliveries = sorted(deliveries + late, key=lambda d: d.at)  # stable: inputs first
        events = sorted(events + replies, key=lambda item: item[0])
        malformed += broken
    labels = withdrawal_labels(events, attacks, habits, given) + malformed
    return Simulation(config, customers, attacks, habits, events, deliveries, labels, given)


_TIMES = ("occurred_at", "until")
"""The fields of a message that hold a time (scenarios.py writes no others)."""


def _moved(
    events: list[tuple[datetime, s.Message]], by: timedelta
) -> list[tuple[datetime, s.Message]]:
    """The events `by` later: their times and the times their messages carry."""
    out = []
    for at, (topic, body) in events:
        moved = dict(body)
        for name in _TIMES:
            if name in moved:
                moved[name] = (datetime.fromisoformat(moved[name]) + by).isoformat()
        out.append((at + by, (topic, moved)))
    return out


def _attacks(
    rng: random.Random,
    ids: Identities,
    config: SimConfig,
    customers: list[Customer],
    active: datetime,
    end: datetime,
) -> list[Attack]:
    counts = dict.fromkeys(config.playbooks, 0)
    for i in range(config.attacks):
        counts[config.playbooks[i % len(config.playbooks)]] += 1
    chosen = rng.sample(customers, config.attacks)
    victims = iter(chosen)
    attacked = {c.id for c in chosen}
    others = [c for c in customers if c.id not in attacked]  # a wave's other targets
    attacks: list[Attack] = []
    for playbook, count in counts.items():
        size = CAMPAIGN_SIZE.get(playbook, 1)
        for first in range(0, count, size):
            campaign = f"{config.id_prefix}{playbook}-{first // size + 1}"
            group = [next(victims) for _ in range(min(size, count - first))]
            latest = end - DURATION[playbook]
            base = active + timedelta(seconds=rng.randrange(int((latest - active).total_seconds())))
            holder = group[0].name if playbook == "chain_2020" else ids.holder()
            kit = Kit(campaign, ids.attacker_ip(), ids.device("x"), ids.destination(holder))
            for n, victim in enumerate(group):
                spread = {"mule": 48 * 3600, "stuffing": 1800}.get(playbook, 0)
                at = base + timedelta(seconds=rng.randrange(spread)) if n else base
                a = Attack(
                    f"{campaign}-{n + 1}" if size > 1 else campaign,
                    playbook,
                    campaign,
                    victim.id,
                    at.astimezone(victim.zone),
                )
                PLAYS[playbook](rng, a, kit, victim)
                attacks.append(a)
            if playbook == "stuffing":
                targets = rng.sample(others, rng.randrange(*WAVE_TARGETS))
                stuffing_wave(rng, attacks[-len(group)], kit, targets, base)
            elif playbook == "device_farm":
                targets = rng.sample(others, rng.randrange(*FARM_TARGETS))
                farm_wave(rng, attacks[-1], kit, targets, base)
    return attacks
