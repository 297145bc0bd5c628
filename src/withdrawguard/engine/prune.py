"""Bounding a customer's state: forget what no rule's window can reach any more.

Except what an open hold needs, whatever its age: the held withdrawal itself stays where
the rules' collections are (a release or a confirm applies to it, and a replay of it gets
its verdict again rather than a fresh decision), and the events its verdict cites move to
`state.kept` when their window has passed, for the people who decide the hold; the rules
never read `kept`. Both go at the first prune after the hold is released or confirmed.
Likewise an unanswered notice keeps the email and phone changes an answer to it is
checked against (engine/notices.py: from `contact_window_hours` before the contact it
named), since notices are answerable for longer than account changes are kept.
"""

from __future__ import annotations

from itertools import chain
from typing import Any

from withdrawguard.engine.policy import DAY, HOUR, MINUTE, Policy
from withdrawguard.engine.state import CONTACT_CHANGES, CustomerState, WithdrawalRec

KEPT = ("logins_ok", "logins_failed", "changes", "withdrawals", "trades")
"""The collections whose records an open hold's verdict can cite."""

PRUNE_EVERY_MS = 3_600_000


def keep_windows(policy: Policy) -> dict[str, int]:
    """How long (ms of event time) each collection is kept: as far back as a rule can
    look from an event that late evidence may still re-judge."""
    r = policy.rules
    reeval = policy.reevaluate_ms
    dest = r["dest_changed_recently"]["window_hours"] * HOUR
    session = r["failed_login_burst"]["session_hours"] * HOUR
    burst = r["failed_login_burst"]["window_minutes"] * MINUTE
    chain = r["credential_change_chain"]["window_hours"] * HOUR
    after_change = max(
        r["withdrawal_burst"]["window_hours"] * HOUR,
        r["source_ip_shared"]["lookahead_hours"] * HOUR,
        r["device_shared"]["lookahead_hours"] * HOUR,
    )
    liq = r["liquidation"]  # a change, the sells within its window, then the withdrawal
    sell_off = (liq["window_hours"] + liq["withdraw_hours"]) * HOUR if liq["enabled"] else 0
    return {
        "logins": reeval + dest + session + burst,  # sell-offs read devices, not logins
        "changes": reeval + max(dest + chain + after_change, sell_off),
        "withdrawals": max(policy.longest_window_ms, reeval),
        "devices": r["new_device"]["memory_days"] * DAY,
        "trades": reeval + sell_off,
        "contact": int(policy.notices["contact_window_hours"]) * HOUR,
    }


def needs_prune(state: CustomerState, limits: dict[str, int]) -> bool:
    """Whether a prune is due: an hour of event time since the last, or a cap exceeded.

    Rules check their own windows, so what pruning removes can no longer matter; it runs
    only to bound the state, and walking it on every event would cost more than it saves.
    """
    return (
        state.horizon - state.pruned >= PRUNE_EVERY_MS
        or len(state.logins_ok) > limits["max_logins"]
        or len(state.logins_failed) > limits["max_logins"]
        or len(state.changes) > limits["max_changes"]
        or len(state.withdrawals) > limits["max_withdrawals"]
        or len(state.trades) > limits["max_trades"]
        or len(state.devices) > limits["max_known_devices"]
        or len(state.networks) > limits["max_known_devices"]
    )


def prune(state: CustomerState, *, keep_ms: dict[str, int], limits: dict[str, int]) -> None:
    """Forget what no window can reach any more, measured back from the newest event."""
    h = state.horizon
    state.pruned = h
    pinned = _cited_by_open_holds(state) | _checked_by_open_notices(state, keep_ms["contact"])
    before = {name: getattr(state, name) for name in KEPT}

    def old(ts: int, kind: str) -> bool:
        return ts < h - keep_ms[kind]

    state.logins_ok = _cap(
        {k: v for k, v in state.logins_ok.items() if not old(v.ts, "logins")},
        limits["max_logins"],
        lambda v: v.ts,
    )
    state.logins_failed = _cap(
        {k: t for k, t in state.logins_failed.items() if not old(t, "logins")},
        limits["max_logins"],
        lambda t: t,
    )
    for table in (state.devices, state.networks):
        for key in [k for k, s in table.items() if old(s.last, "devices")]:
            del table[key]
    state.devices = _cap(state.devices, limits["max_known_devices"], lambda s: s.last)
    state.networks = _cap(state.networks, limits["max_known_devices"], lambda s: s.last)
    state.changes = _cap(
        {k: c for k, c in state.changes.items() if not old(c.ts, "changes")},
        limits["max_changes"],
        lambda c: c.ts,
    )
    held = {k: w for k, w in state.withdrawals.items() if w.hold == "held"}
    state.withdrawals = (
        _cap(
            {
                k: w
                for k, w in state.withdrawals.items()
                if k not in held and not old(w.ts, "withdrawals")
            },
            limits["max_withdrawals"],
            lambda w: w.ts,
        )
        | held
    )
    state.trades = _cap(
        {k: x for k, x in state.trades.items() if not old(x.ts, "trades")},
        limits["max_trades"],
        lambda x: x.ts,
    )
    state.sell_offs = {k: at for k, at in state.sell_offs.items() if not old(at, "trades")}
    live = set(state.withdrawals)
    state.cases = {k: c for k, c in state.cases.items() if k in live or not old(c.ts, "changes")}
    state.seen = {k: t for k, t in state.seen.items() if not old(t, "withdrawals")}
    # Kept past `until` while a late withdrawal from before it can still arrive.
    state.suppressions = {
        k: m for k, m in state.suppressions.items() if not old(m.until, "withdrawals")
    }
    state.shared = {k: s for k, s in state.shared.items() if not old(s.first_ts, "withdrawals")}
    for flagged in (state.flagged_ips, state.flagged_devices):
        for key in list(flagged):
            waves = {k: f for k, f in flagged[key].items() if not old(f.end, "changes")}
            if waves:
                flagged[key] = waves
            else:
                del flagged[key]
    _keep(state, before, pinned)


def _cited_by_open_holds(state: CustomerState) -> set[str]:
    """The ids of open holds' withdrawals and of the events their verdicts cite."""
    ids: set[str] = set()
    for wid, w in chain(state.withdrawals.items(), state.kept.withdrawals.items()):
        if w.hold == "held":
            ids.add(wid)
            ids.update(w.evidence)
    return ids


def _checked_by_open_notices(state: CustomerState, window: int) -> set[str]:
    """The ids of the email and phone changes an answer to an unanswered notice would be
    checked against: from `window` before the earliest contact such a notice named."""
    named = [
        n.as_of if n.as_of is not None else n.ts for n in state.notices.values() if n.answer is None
    ]
    if not named:
        return set()
    floor = min(named) - window
    return {
        k
        for k, c in chain(state.changes.items(), state.kept.changes.items())
        if c.change_type in CONTACT_CHANGES and c.ts > floor
    }


def _keep(state: CustomerState, before: dict[str, dict[str, Any]], pinned: set[str]) -> None:
    """Move what pruning trimmed and an open hold cites to `state.kept`; forget what
    `kept` held that no open hold cites any more."""

    def cited(key: str, rec: Any) -> bool:
        return key in pinned or (isinstance(rec, WithdrawalRec) and rec.event_id in pinned)

    for name in KEPT:
        now, kept = getattr(state, name), getattr(state.kept, name)
        moved = {k: v for k, v in before[name].items() if k not in now and cited(k, v)}
        setattr(state.kept, name, {k: v for k, v in (kept | moved).items() if cited(k, v)})


def _cap(items: dict[str, Any], limit: int, ts: Any) -> dict[str, Any]:
    if len(items) <= limit:
        return items
    newest = sorted(items.items(), key=lambda kv: ts(kv[1]))[-limit:]
    return dict(newest)
