"""Customers' answers to the notices the detector sends (topic `customer-responses`).

The notices are the engine's own: the simulation's deliveries go through the pure engine
(`sim/engine_pass.py`) and each `destination_change` and `credential_change` notice it
sends (which depend on the customer's own events only, so the worker sends the same ones,
with the same ids) may be answered, at the `AnswerRates`:

- the victim of an attack denies a notice of the attacker's change (`victim_denies`),
  through the contact the notice names (the one before the attacker's email change);
- when the victim leaves it unanswered and the notice names an earlier contact (the
  attacker changed the email), the attacker confirms it through the current contact,
  theirs (`attacker_confirms`): it counts for nothing (`CONFIRMATION_NOT_COUNTED`);
- an honest customer confirms a notice of their own change (`honest_confirms`; the others
  ignore theirs), through the contact it names, or, when it names an earlier contact
  (their own email change), through the current one (`wrong_contact`): not counted.

An answer comes `delay` after the notice: a log-normal draw around `median_hours`, at
least `MIN_DELAY` (more than the delivery's lateness, so no answer is dated before its
notice's `created_at`), the attacker's within minutes. An answer dated after the end of
the simulation is not given (not yet). Hold notices are not answered: every hold the
simulation's changes explain follows a change notice, answered or not. Each notice draws
the same numbers whoever answers, in the order the engine sends them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from withdrawguard.sim.scenarios import Message

ANSWERED_KINDS = ("destination_change", "credential_change")
MIN_DELAY = timedelta(minutes=20)
ATTACKER_DELAY = (timedelta(minutes=2), timedelta(minutes=30))


@dataclass(frozen=True, slots=True)
class AnswerRates:
    """Who answers the notices, and how soon (docs/quality.md states the figures these
    give; `NO_ANSWERS` is the detector without customers' answers)."""

    victim_denies: float = 0.7
    honest_confirms: float = 0.6
    wrong_contact: float = 0.2
    attacker_confirms: float = 0.5
    median_hours: float = 2.0
    spread: float = 1.0
    """The log-normal's sigma: with 2 h, half answer within 2 h, nine in ten within 7 h."""

    def check(self) -> None:
        for name in ("victim_denies", "honest_confirms", "wrong_contact", "attacker_confirms"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"--{name.replace('_', '-')} must be between 0 and 1, got {value}")
        if not self.median_hours > 0 or self.spread < 0:
            raise ValueError("the answers' median_hours must be above 0 and spread not negative")


NO_ANSWERS = AnswerRates(0, 0, 0, 0)


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer given, for the labels."""

    customer_id: str
    notice_id: str
    event_id: str
    """The change the notice was about."""
    kind: str
    answer: str
    by: str
    """`victim`, `attacker` or `honest`."""
    counted: bool
    """A denial always counts; a confirmation through the contact the notice named."""
    at: datetime


def answers(
    rng: random.Random,
    notices: Iterable[dict[str, Any]],
    attackers: set[str],
    end: datetime,
    rates: AnswerRates,
) -> tuple[list[tuple[datetime, Message]], list[Answer]]:
    """The responses to `notices` (payloads, in the order sent) and what each was;
    `attackers`: the event ids of the attackers' changes."""
    out: list[tuple[datetime, Message]] = []
    given: list[Answer] = []
    for n in notices:
        if n["kind"] not in ANSWERED_KINDS:
            continue
        first, second = rng.random(), rng.random()
        hours = rates.median_hours * math.exp(rates.spread * rng.gauss(0, 1))
        delay = max(MIN_DELAY, timedelta(hours=hours))
        quick = ATTACKER_DELAY[0] + (ATTACKER_DELAY[1] - ATTACKER_DELAY[0]) * second
        named = n["contact_as_of"]
        if n["event_id"] in attackers:
            if first < rates.victim_denies:
                by, what, through, after = "victim", "deny", named, delay
            elif named is not None and second < rates.attacker_confirms:
                by, what, through, after = "attacker", "confirm", None, quick
            else:
                continue
        elif first < rates.honest_confirms:
            wrong = named is not None and second < rates.wrong_contact
            by, what, through, after = "honest", "confirm", None if wrong else named, delay
        else:
            continue
        at = datetime.fromisoformat(n["created_at"]).astimezone(end.tzinfo) + after
        at = at.replace(microsecond=0) + timedelta(seconds=1)  # after created_at's fraction
        if at > end:
            continue
        counted = what == "deny" or through == named
        channel = "call_center" if through is None and named is not None else "mail"
        rid = "rsp-" + n["notice_id"].removeprefix("ntc-")
        msg = response(n["customer_id"], rid, at, n["notice_id"], what, contact_as_of=through)
        out.append((at, (msg[0], {**msg[1], "channel": channel})))
        given.append(
            Answer(
                n["customer_id"], n["notice_id"], n["event_id"], n["kind"], what, by, counted, at
            )
        )
    return out, given


def response(
    cid: str,
    response_id: str,
    at: datetime,
    notice_id: str,
    answer: str,
    *,
    contact_as_of: str | None = None,
    channel: str = "mail",
) -> Message:
    """`answer` (`confirm` or `deny`) to `notice_id`, through the contact registered at
    `contact_as_of` (the notice's own `contact_as_of`, as written) or, when None, the
    current one."""
    body: dict[str, Any] = {
        "type": "customer_response",
        "response_id": response_id,
        "customer_id": cid,
        "occurred_at": at.isoformat(),
        "notice_id": notice_id,
        "answer": answer,
        "contact": "current" if contact_as_of is None else "as_of",
        "channel": channel,
    }
    if contact_as_of is not None:
        body["contact_as_of"] = contact_as_of
    return "customer-responses", body
