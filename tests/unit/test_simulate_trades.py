"""The simulator's holdings and trades (issue 28): valid trades, honest sell-offs, the
chain and patient playbooks selling before they withdraw, the labels, and the sell-off
alerts the pure engine raises on them."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from withdrawguard.engine.decode import decode_object
from withdrawguard.engine.events import Trade
from withdrawguard.engine.policy import load_policy
from withdrawguard.sim.early import sell_off_alerts
from withdrawguard.sim.generate import SimConfig, Simulation, generate
from withdrawguard.sim.playbooks import PLAYBOOKS, Attack
from withdrawguard.sim.population import SELL_OFF
from withdrawguard.sim.quality import Outcome, SellOffAlerts, assess, rate_targets

MAX_BYTES = 262_144
CONFIG = SimConfig(
    seed=13, customers=600, days=30, attacks=24, change_scale=3, playbooks=PLAYBOOKS[:6]
)
"""The playbooks before the device farm (which sells nothing), so the history these
tests were written on: with it, seed 13 draws victims whose own honest sell-off before
the attack raises an alert (not the attack's; `SellOffAlerts.early` counts any)."""
SELLING = ("chain_2020", "patient")


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return generate(CONFIG)


def at(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["occurred_at"])


def mine(a: Attack, topic: str) -> list[dict[str, Any]]:
    return [b for _, (t, b) in a.events if t == topic and b["customer_id"] == a.customer_id]


def share_sold(sells: list[dict[str, Any]]) -> Decimal:
    """What LIQUIDATION measures: proceeds over proceeds plus the value after the last."""
    sold = sum(Decimal(b["proceeds"]) for b in sells)
    return sold / (sold + Decimal(sells[-1]["holdings_value_after"]))


def test_every_trade_is_valid_with_proceeds_within_one_percent_of_quantity_times_price(
    sim: Simulation,
) -> None:
    trades = [b for _, (t, b) in sim.events if t == "trades"]
    assert len(trades) > 200
    assert {b["side"] for b in trades} == {"buy", "sell"}
    for b in trades:
        event = decode_object(b, "trade")
        assert isinstance(event, Trade)
        gross = event.quantity * event.price
        assert gross * Decimal("0.99") <= event.proceeds <= gross, b
        assert event.holdings_value_after is not None and event.holdings_value_after >= 0


def test_a_cash_only_customer_neither_trades_nor_is_sold_out(sim: Simulation) -> None:
    cash_only = {c.id for c in sim.customers if c.holdings == 0}
    assert 0 < len(cash_only) < len(sim.customers) / 3
    assert not any(b["customer_id"] in cash_only for _, (t, b) in sim.events if t == "trades")
    for a in sim.attacks:
        assert bool(a.trade_ids) == (a.playbook in SELLING and a.customer_id not in cash_only)


def test_chain_and_patient_sell_most_holdings_after_the_destination_change_then_withdraw(
    sim: Simulation,
) -> None:
    selling = [a for a in sim.attacks if a.trade_ids]
    assert {a.playbook for a in selling} == set(SELLING)
    for a in selling:
        sells = mine(a, "trades")
        assert [b["event_id"] for b in sells] == a.trade_ids
        assert all(b["side"] == "sell" for b in sells)
        (change,) = [
            b for b in mine(a, "account-changes") if b["change_type"] == "withdrawal_destination"
        ]
        wds = mine(a, "withdrawals")
        assert at(change) < at(sells[0]) and at(sells[-1]) < at(wds[0])
        assert share_sold(sells) >= Decimal("0.7")
        assert all(b["device_id"] == change["device_id"] for b in sells)  # the attacker's
        # the proceeds are in the cash the withdrawals take (80-100 % of it)
        proceeds = sum(Decimal(b["proceeds"]) for b in sells)
        cash = Decimal(wds[0]["available_balance"])
        assert cash > proceeds
        assert sum(Decimal(w["amount"]) for w in wds) >= Decimal("0.8") * cash - 1000
        if a.playbook == "patient":  # waited out the cooling-off, sold hours before
            assert at(wds[0]) - at(change) >= timedelta(hours=24)
            assert timedelta(hours=1) <= at(wds[0]) - at(sells[0]) <= timedelta(hours=13)


def test_labels_say_which_attacks_sold_holdings(sim: Simulation) -> None:
    by_id = {a.attack_id: a for a in sim.attacks}
    labels = [x for x in sim.labels if x["record"] == "withdrawal"]
    for x in labels:
        if x["truth"] == "attack":
            assert x["sold_holdings"] == bool(by_id[x["attack_id"]].trade_ids)
    assert any(x["sold_holdings"] for x in labels if x["truth"] == "attack")


def test_honest_customers_sell_off_and_withdraw_the_proceeds_some_after_a_new_account(
    sim: Simulation,
) -> None:
    attacked = {a.customer_id for a in sim.attacks}
    sell_offs = [h for h in sim.habits if h.kind == SELL_OFF and h.customer_id not in attacked]
    assert len(sell_offs) >= 10
    dest_changes = [h for h in sim.habits if h.kind == "destination_change"]
    after_change = 0
    for h in sell_offs:
        sells = [
            b
            for _, (t, b) in sim.events
            if t == "trades"
            and b["customer_id"] == h.customer_id
            and h.at - timedelta(hours=6) <= at(b) <= h.at  # 1-3 sells, up to 3 h apart
        ]
        assert sells and share_sold(sells) >= Decimal("0.69")
        proceeds = sum(Decimal(b["proceeds"]) for b in sells)
        withdrawn = [
            x
            for x in sim.labels
            if x["record"] == "withdrawal"
            and x["customer_id"] == h.customer_id
            and h.at < at(x) <= h.at + timedelta(hours=48)
        ]
        if withdrawn:  # none when the withdrawal fell after the end of the timeline
            assert any(abs(Decimal(x["amount"]) - proceeds) <= 1000 for x in withdrawn)
            assert all(x["sold_holdings"] for x in withdrawn)
        after_change += any(
            d.customer_id == h.customer_id and timedelta(0) < h.at - d.at <= timedelta(days=4)
            for d in dest_changes
        )
    assert 0 < after_change < len(sell_offs)


def test_the_pure_engine_alerts_on_every_sell_off_of_an_attack_before_its_withdrawals(
    sim: Simulation,
) -> None:
    alerts = sell_off_alerts(sim, load_policy(), MAX_BYTES)
    selling = {a.customer_id for a in sim.attacks if a.trade_ids}
    assert selling <= alerts.early
    assert not alerts.early - selling
    figures = assess(sim.labels, {}, alerts)
    for playbook in SELLING:
        f = figures["playbooks"][playbook]
        assert f["early_alerts"] == f["sold_holdings"] > 0 and f["not_alerted_early"] == []
    # honest sell-offs after a new bank account, device or credential change alert too
    assert figures["honest"]["customers_alerted_on_sell_off"] > 0


def test_the_same_options_give_the_same_trades_and_another_seed_others() -> None:
    small = replace(CONFIG, customers=150, attacks=6)

    def trades(config: SimConfig) -> list[bytes]:
        return [d.value for d in generate(config).deliveries if d.topic == "trades"]

    assert trades(small) == trades(small)
    assert trades(small) != trades(replace(small, seed=14))


def test_the_targets_table_says_which_targets_are_missed() -> None:
    def label(wid: str, playbook: str | None, sold: bool = False) -> dict[str, Any]:
        return {
            "record": "withdrawal",
            "withdrawal_id": wid,
            "customer_id": f"c-{wid}",
            "truth": "honest" if playbook is None else "attack",
            "playbook": playbook,
            "attack_id": None if playbook is None else f"{playbook}-{wid}",
            "sold_holdings": sold,
            "preceded_by": dict.fromkeys(("destination_change", "credential_change"), False)
            | {"new_device": False},
        }

    labels = [label(f"p{i}", "patient", sold=True) for i in range(10)]
    labels += [label("cc1", "call_center"), label("h1", None)]
    outcomes = {f"p{i}": Outcome(i > 0) for i in range(10)} | {"cc1": Outcome(True)}
    alerts = SellOffAlerts(frozenset(), frozenset(f"c-p{i}" for i in range(9)))
    rows = {what: (measured, met) for what, measured, _, met in rate_targets(
        assess(labels, outcomes, alerts))}  # fmt: skip
    assert rows["`patient` attacks held"] == ("9/10 (90%)", False)
    assert rows["`call_center` attacks held"] == ("1/1 (100%)", True)
    early = "sell-off alert before the first withdrawal, of the attacks that sold"
    assert rows[early] == ("9/10 (90%)", True)
    assert rows["honest withdrawals held without any change or new device before them"] == (
        "0",
        True,
    )
