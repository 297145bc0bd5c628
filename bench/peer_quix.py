"""The peer: withdrawguard's core rules written as a quixstreams application.

    .venv/bin/python bench/peer_quix.py BOOTSTRAP PREFIX EVENTS

Reads the four input topics `<PREFIX>logins`, `<PREFIX>account-changes`, `<PREFIX>trades`
and `<PREFIX>withdrawals` (keyed by customer id, co-partitioned) from the earliest offset
in a consumer group of its own, keeps per-customer state in quixstreams' RocksDB store
(with its changelog topic), and writes one verdict per withdrawal to
`<PREFIX>peer-decisions`:

- DEST_CHANGED_RECENTLY: the destination was set by a change less than `window_hours`
  before the withdrawal (holds when the change was online and unverified);
- NEW_DEVICE: the withdrawal's device was first seen in a successful login less than
  `new_for_days` before, or never;
- DRAIN: the amount is at least `balance_ratio` of the available balance, or at least
  `history_multiple` times the largest withdrawal of the last `history_days`;
- LIQUIDATION (holding): sells within `window_hours` of a trigger (a destination, e-mail,
  phone, password or MFA change, or the first successful login from a device) whose
  proceeds reached `share` of the holdings (proceeds over proceeds plus the last sell's
  `holdings_value_after`), and the withdrawal within `withdraw_hours` of the last of them.

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
TRIGGER_CHANGES = {"withdrawal_destination", "email", "phone", "password", "mfa"}


class CoreRules:
    """The four rules over one customer's state (a quixstreams `State`)."""

    def __init__(self, total: int, app: Application) -> None:
        rules = load_policy(None).rules
        self.dest_window = int(rules["dest_changed_recently"]["window_hours"]) * HOUR
        self.new_for = int(rules["new_device"]["new_for_days"]) * DAY
        self.device_memory = int(rules["new_device"]["memory_days"]) * DAY
        self.ratio = Decimal(rules["drain"]["balance_ratio"])
        self.multiple = Decimal(rules["drain"]["history_multiple"])
        self.history = int(rules["drain"]["history_days"]) * DAY
        self.sell_window = int(rules["liquidation"]["window_hours"]) * HOUR
        self.share = Decimal(rules["liquidation"]["share"])
        self.withdraw_within = int(rules["liquidation"]["withdraw_hours"]) * HOUR
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
                if device not in devices:
                    self._trigger(ts, state)
                devices[device] = min(devices.get(device, ts), ts)
                state.set("devices", devices)
            return None
        if kind == "trade":
            self._trade(value, ts, state)
            return None
        if kind == "account_change":
            if value.get("change_type") in TRIGGER_CHANGES:
                self._trigger(ts, state)
            dest = value.get("destination")
            if value.get("change_type") == "withdrawal_destination" and dest:
                changes = [c for c in state.get("changes", []) if c[0] > ts - self.dest_window]
                online = value["channel"] in HOLDING_CHANNELS and not value.get("verified")
                changes.append([ts, _dest_key(dest), online])
                state.set("changes", changes)
            return None
        return self._withdrawal(value, ts, state)

    def _trigger(self, ts: int, state: State) -> None:
        state.set("trigger", ts)
        state.set("sells", [])

    def _trade(self, trade: dict[str, Any], ts: int, state: State) -> None:
        trigger = state.get("trigger")
        if trade["side"] != "sell" or trigger is None or not 0 <= ts - trigger < self.sell_window:
            return
        sells = [*state.get("sells", []), [ts, trade["proceeds"]]]
        state.set("sells", sells)
        after = trade.get("holdings_value_after")
        if after is None:
            return
        sold = sum(Decimal(p) for _, p in sells)
        if sold >= self.share * (sold + Decimal(after)):
            state.set("sold_off", ts)

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
        sold_off = state.get("sold_off")
        liquidation = sold_off is not None and 0 <= ts - sold_off <= self.withdraw_within
        if liquidation:
            reasons.append("LIQUIDATION")
        past.append([ts, w["amount"]])
        state.set("withdrawals", past[-50:])
        hold = hold or liquidation or len(reasons) >= 2
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
            for n in ("logins", "account-changes", "trades", "withdrawals")
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
