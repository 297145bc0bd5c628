"""The peer: withdrawguard's core rules written as a quixstreams application.

    .venv/bin/python bench/peer_quix.py BOOTSTRAP PREFIX EVENTS

Reads the three input topics `<PREFIX>logins`, `<PREFIX>account-changes` and
`<PREFIX>withdrawals` (keyed by customer id, co-partitioned) from the earliest offset in a
consumer group of its own, keeps per-customer state in quixstreams' RocksDB store (with
its changelog topic), and writes one verdict per withdrawal to `<PREFIX>peer-decisions`:

- DEST_CHANGED_RECENTLY: the destination was set by a change less than `window_hours`
  before the withdrawal (holds when the change was online and unverified);
- NEW_DEVICE: the withdrawal's device was first seen in a successful login less than
  `new_for_days` before, or never;
- DRAIN: the amount is at least `balance_ratio` of the available balance, or at least
  `history_multiple` times the largest withdrawal of the last `history_days`.

Thresholds come from withdrawguard's default policy. It stops itself once it has processed
EVENTS messages and prints one JSON line: events, seconds (from `Application.run` to its
return, the last checkpoint committed), CPU seconds, verdicts, holds.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from quixstreams import Application, State

from withdrawguard.engine.policy import DAY, HOUR, load_policy

HOLDING_CHANNELS = {"web", "mobile", "api"}


class CoreRules:
    """The three rules over one customer's state (a quixstreams `State`)."""

    def __init__(self, total: int, app: Application) -> None:
        rules = load_policy(None).rules
        self.dest_window = int(rules["dest_changed_recently"]["window_hours"]) * HOUR
        self.new_for = int(rules["new_device"]["new_for_days"]) * DAY
        self.device_memory = int(rules["new_device"]["memory_days"]) * DAY
        self.ratio = Decimal(rules["drain"]["balance_ratio"])
        self.multiple = Decimal(rules["drain"]["history_multiple"])
        self.history = int(rules["drain"]["history_days"]) * DAY
        self.total, self.app, self.seen = total, app, 0

    def __call__(self, value: dict[str, Any], state: State) -> dict[str, Any] | None:
        self.seen += 1
        if self.seen >= self.total:
            self.app.stop()
        ts = int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)
        kind = value.get("type")
        if kind == "login":
            device = value.get("device_id")
            if value.get("success") and device:
                devices = state.get("devices", {})
                devices[device] = min(devices.get(device, ts), ts)
                state.set("devices", devices)
            return None
        if kind == "account_change":
            dest = value.get("destination")
            if value.get("change_type") == "withdrawal_destination" and dest:
                changes = [c for c in state.get("changes", []) if c[0] > ts - self.dest_window]
                online = value["channel"] in HOLDING_CHANNELS and not value.get("verified")
                changes.append([ts, _dest_key(dest), online])
                state.set("changes", changes)
            return None
        return self._withdrawal(value, ts, state)

    def _withdrawal(self, w: dict[str, Any], ts: int, state: State) -> dict[str, Any]:
        reasons, hold = [], False
        dest = _dest_key(w["destination"])
        recent = [c for c in state.get("changes", []) if 0 <= ts - c[0] < self.dest_window]
        if any(c[1] == dest for c in recent):
            reasons.append("DEST_CHANGED_RECENTLY")
            hold = hold or any(c[1] == dest and c[2] for c in recent)
        device = w.get("device_id")
        if device:
            first = state.get("devices", {}).get(device)
            if first is None or ts - first < self.new_for:
                reasons.append("NEW_DEVICE")
        amount = Decimal(w["amount"])
        balance = w.get("available_balance")
        past = [p for p in state.get("withdrawals", []) if p[0] > ts - self.history]
        largest = max((Decimal(p[1]) for p in past), default=None)
        if (balance and amount >= self.ratio * Decimal(balance)) or (
            largest is not None and amount >= self.multiple * largest
        ):
            reasons.append("DRAIN")
        past.append([ts, w["amount"]])
        state.set("withdrawals", past[-50:])
        hold = hold or len(reasons) >= 2
        return {
            "withdrawal_id": w["withdrawal_id"],
            "customer_id": w["customer_id"],
            "decision": "hold" if hold else "allow",
            "reasons": reasons,
        }


def _dest_key(d: dict[str, Any]) -> str:
    return f"{d['bank_code']}/{d.get('branch_code') or ''}/{d['account_number']}"


def main() -> None:
    bootstrap, prefix, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with tempfile.TemporaryDirectory(prefix="wg-peer-") as state_dir:
        app = Application(
            broker_address=bootstrap,
            consumer_group=f"peer-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
            state_dir=state_dir,
            loglevel="WARNING",
        )
        topics = [
            app.topic(f"{prefix}{n}", value_deserializer="json")
            for n in ("logins", "account-changes", "withdrawals")
        ]
        out = app.topic(f"{prefix}peer-decisions", value_serializer="json")
        sdf = app.dataframe(topics[0])
        for other in topics[1:]:
            sdf = sdf.concat(app.dataframe(other))
        rules = CoreRules(total, app)
        verdicts = {"n": 0, "hold": 0}

        def count(v: dict[str, Any]) -> None:
            verdicts["n"] += 1
            verdicts["hold"] += v["decision"] == "hold"

        sdf = sdf.apply(rules, stateful=True).filter(lambda v: v is not None)
        sdf = sdf.update(count)
        sdf.to_topic(out)
        cpu0, started = time.process_time(), time.perf_counter()
        app.run()
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu0
    figures = {"events": rules.seen, "seconds": seconds, "cpu_seconds": cpu}
    print(json.dumps({**figures, "verdicts": verdicts["n"], "holds": verdicts["hold"]}))


if __name__ == "__main__":
    main()
