"""The benchmarks' generated history (bench/history.py) is in the wire contract, trades
included, and its attack chains sell before they withdraw: what docs/performance.md says
the contenders read."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from withdrawguard.engine.decode import decode_object
from withdrawguard.engine.events import Trade

BENCH = Path(__file__).resolve().parents[2] / "bench"


def history_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_history", BENCH / "history.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated(events: int) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    count = history_module().generate(bodies.append, events, 2_000, seed=7)
    assert count == len(bodies) == events
    return bodies


def test_every_generated_event_passes_the_decoder_and_trades_are_a_few_percent() -> None:
    bodies = generated(40_000)
    kinds = Counter(b["type"] for b in bodies)
    trades = [decode_object(b, "trade") for b in bodies if b["type"] == "trade"]
    for b in bodies:
        decode_object(b, b["type"])
    assert 0.02 < kinds["trade"] / len(bodies) < 0.04
    assert {t.side for t in trades} == {"buy", "sell"}
    assert all(isinstance(t, Trade) and t.holdings_value_after is not None for t in trades)
    sell_offs = [
        t
        for t in trades
        if t.side == "sell" and t.proceeds >= 4 * (t.holdings_value_after or 0)  # >= 80%
    ]
    assert len(sell_offs) > 0.05 * sum(t.side == "sell" for t in trades)


def test_each_attack_chain_sells_most_of_the_holdings_before_its_withdrawal() -> None:
    bodies = generated(40_000)
    chains: dict[str, list[dict[str, Any]]] = {}
    for b in bodies:
        if b["event_id"].startswith("x"):
            chains.setdefault(b["event_id"].split("-")[0], []).append(b)
    assert len(chains) == 1  # one per 20,000 events, the first at event 20,000
    for chain in chains.values():
        kinds = [b["type"] for b in chain]
        assert kinds.index("trade") > kinds.index("account_change")
        assert kinds.index("trade") < kinds.index("withdrawal")
        sell = decode_object(chain[kinds.index("trade")], "trade")
        withdrawal = chain[kinds.index("withdrawal")]
        assert isinstance(sell, Trade) and sell.side == "sell"
        assert sell.holdings_value_after is not None
        assert sell.proceeds >= 9 * sell.holdings_value_after
        assert sell.proceeds >= int(withdrawal["amount"])
