"""Bounding a customer's state: forget what no rule's window can reach any more."""

from __future__ import annotations

from typing import Any

from withdrawguard.engine.state import CustomerState

PRUNE_EVERY_MS = 3_600_000


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
        or len(state.devices) > limits["max_known_devices"]
        or len(state.networks) > limits["max_known_devices"]
    )


def prune(state: CustomerState, *, keep_ms: dict[str, int], limits: dict[str, int]) -> None:
    """Forget what no window can reach any more, measured back from the newest event."""
    h = state.horizon
    state.pruned = h

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
    state.withdrawals = _cap(
        {k: w for k, w in state.withdrawals.items() if not old(w.ts, "withdrawals")},
        limits["max_withdrawals"],
        lambda w: w.ts,
    )
    live = set(state.withdrawals)
    state.cases = {k: c for k, c in state.cases.items() if k in live or not old(c.ts, "changes")}
    state.seen = {k: t for k, t in state.seen.items() if not old(t, "withdrawals")}
    # Kept past `until` while a late withdrawal from before it can still arrive.
    state.suppressions = {
        k: m for k, m in state.suppressions.items() if not old(m.until, "withdrawals")
    }
    state.shared = {k: s for k, s in state.shared.items() if not old(s.first_ts, "withdrawals")}
    for ip in list(state.flagged_ips):
        waves = {k: f for k, f in state.flagged_ips[ip].items() if not old(f.end, "changes")}
        if waves:
            state.flagged_ips[ip] = waves
        else:
            del state.flagged_ips[ip]


def _cap(items: dict[str, Any], limit: int, ts: Any) -> dict[str, Any]:
    if len(items) <= limit:
        return items
    newest = sorted(items.items(), key=lambda kv: ts(kv[1]))[-limit:]
    return dict(newest)
