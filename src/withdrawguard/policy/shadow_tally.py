"""Live against shadow, as the console's policy page shows it: the comparisons of one
(live, shadow) pair of versions read from `shadow-decisions`, added up in bounded memory.

Pure: `streaming/control/policy_feed.py` reads the topic and hands each record's value here. A
record of another pair (decided before a worker switched, or by an older shadow) is not
counted. Counts are of comparisons, as `withdrawguard_shadow_verdicts_total` counts them:
a withdrawal compared again (a later event re-decides it) counts again; the list of
differing withdrawals keeps each one's latest comparison only.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from withdrawguard.policy.shadow import AGREE, SCORE_ONLY, WOULD_ALLOW, WOULD_HOLD

OUTCOMES = (AGREE, WOULD_HOLD, WOULD_ALLOW)
RECENT = 100
"""Differing withdrawals kept for the page, the most recent first."""


def policy_id_of(version: str) -> str:
    """`0.9.0+policy.1a2b3c4d` (a verdict's detector version) -> `1a2b3c4d`."""
    return version.rpartition("+policy.")[2]


@dataclass(frozen=True, slots=True)
class Side:
    decision: str
    risk_score: int
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Difference:
    withdrawal_id: str
    customer_id: str
    outcome: str
    decided_at: str
    live: Side
    shadow: Side


@dataclass
class ShadowTally:
    live: str | None
    """The live version id the pair names; None: any (no live version published yet,
    the workers run the policy they started with)."""
    shadow: str | None
    since_ms: int = 0
    """When the pair began (its later pointer's time): what is read starts there."""
    counts: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, Counter[str]] = field(default_factory=dict)
    """Per disagreement outcome, the holding side's reason codes (`SCORE_ONLY` when it
    holds on the score alone), as the metric labels them."""
    recent: deque[Difference] = field(default_factory=lambda: deque(maxlen=RECENT))
    skipped: int = 0
    """Records that could not be read."""

    def add(self, value: bytes | None) -> bool:
        """Count one record of shadow-decisions; False if it is not of this pair."""
        if self.shadow is None or value is None:
            return False
        try:
            doc = orjson.loads(value)
            live, shadow = _side(doc["live"]), _side(doc["shadow"])
            live_id = policy_id_of(str(doc["live"]["version"]))
            shadow_id = policy_id_of(str(doc["shadow"]["version"]))
            outcome = str(doc["outcome"])
            if outcome not in OUTCOMES:
                raise ValueError(outcome)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.skipped += 1
            return False
        if shadow_id != self.shadow or (self.live is not None and live_id != self.live):
            return False
        self.counts[outcome] += 1
        wid = str(doc.get("withdrawal_id", ""))
        for old in [d for d in self.recent if d.withdrawal_id == wid]:
            self.recent.remove(old)  # a withdrawal compared again: its latest comparison
        if outcome == AGREE:
            return True
        holding = shadow if outcome == WOULD_HOLD else live
        self.reasons.setdefault(outcome, Counter()).update(holding.reasons or (SCORE_ONLY,))
        self.recent.appendleft(
            Difference(
                wid,
                str(doc.get("customer_id", "")),
                outcome,
                str(doc.get("decided_at", "")),
                live,
                shadow,
            )
        )
        return True


def _side(doc: Any) -> Side:
    codes = doc["reason_codes"]
    if not isinstance(codes, list):
        raise TypeError("reason_codes")
    return Side(str(doc["decision"]), int(doc["risk_score"]), tuple(str(c) for c in codes))
