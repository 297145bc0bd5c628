"""`withdrawguard simulate`: deterministic output, the playbooks' events, the labels,
the delivery effects, and the targets when the scan runs the pure engine over it."""

from __future__ import annotations

import io
import itertools
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from withdrawguard import cli
from withdrawguard.engine.decode import InvalidEvent, decode_input
from withdrawguard.engine.policy import load_policy
from withdrawguard.scan.csvmap import load_mapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.sources import FileSource, discover
from withdrawguard.sim import sinks
from withdrawguard.sim.baselines import hold_after_change, online_freeze
from withdrawguard.sim.delivery import MALFORMED_KINDS, Rates
from withdrawguard.sim.generate import SimConfig, Simulation, generate
from withdrawguard.sim.playbooks import PLAYBOOKS, Attack
from withdrawguard.sim.quality import (
    MUST_HOLD,
    Outcome,
    assess,
    targets_missed,
)

MAX_BYTES = 262_144
TYPE_OF = {
    "logins": "login",
    "account-changes": "account_change",
    "withdrawals": "withdrawal",
    "trades": "trade",
    "customer-responses": "customer_response",
}
CONFIG = SimConfig(seed=11, customers=600, days=30, attacks=21)


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return generate(CONFIG)


def bodies(a: Attack, topic: str) -> list[dict[str, Any]]:
    return [b for _, (t, b) in a.events if t == topic and b["customer_id"] == a.customer_id]


def at(body: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(body["occurred_at"])


def by_playbook(sim: Simulation, playbook: str) -> list[Attack]:
    found = [a for a in sim.attacks if a.playbook == playbook]
    assert found, f"no {playbook} attack in the simulation"
    return found


def test_same_seed_and_options_give_byte_identical_files(tmp_path: Path) -> None:
    small = replace(CONFIG, customers=200, attacks=6, seed=3)
    first = sinks.write_files(generate(small), tmp_path / "a")
    second = sinks.write_files(generate(small), tmp_path / "b")
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
    other = sinks.write_files(generate(replace(small, seed=4)), tmp_path / "c")
    assert first[0].read_bytes() != other[0].read_bytes()


def test_every_playbook_is_played_with_the_attacks_spread_over_them(sim: Simulation) -> None:
    assert Counter(a.playbook for a in sim.attacks) == dict.fromkeys(PLAYBOOKS, 3)
    assert len({a.customer_id for a in sim.attacks}) == len(sim.attacks)


def test_the_2020_chain_guesses_logs_in_changes_credentials_and_destination_then_drains(
    sim: Simulation,
) -> None:
    for a in by_playbook(sim, "chain_2020"):
        logins = bodies(a, "logins")
        failed = [b for b in logins if not b["success"]]
        success = next(b for b in logins if b["success"])
        assert len(failed) >= 5
        assert all(at(b) < at(success) <= at(b) + timedelta(minutes=15) for b in failed)
        changes = bodies(a, "account-changes")
        assert changes[0]["change_type"] in ("password", "email")
        assert changes[1]["change_type"] == "withdrawal_destination"
        assert changes[1]["channel"] == "web" and changes[1]["device_id"] == success["device_id"]
        wds = bodies(a, "withdrawals")
        assert len(wds) >= 2 and all(w["destination"] == changes[1]["destination"] for w in wds)
        taken = sum(Decimal(w["amount"]) for w in wds)
        assert taken >= Decimal("0.8") * Decimal(wds[0]["available_balance"]) - 1000


def test_the_patient_attacker_waits_at_least_a_day_between_steps(sim: Simulation) -> None:
    for a in by_playbook(sim, "patient"):
        first_login = bodies(a, "logins")[0]
        email, dest = bodies(a, "account-changes")
        (wd,) = bodies(a, "withdrawals")
        steps = [at(first_login), at(email), at(dest), at(wd)]
        assert all(
            later - earlier >= timedelta(hours=24) for earlier, later in itertools.pairwise(steps)
        )
        assert email["change_type"] == "email" and dest["channel"] == "web"
        assert not any(not b["success"] for b in bodies(a, "logins"))


def test_a_mule_campaign_points_several_victims_at_one_account(sim: Simulation) -> None:
    campaigns: dict[str, set[str]] = {}
    for a in by_playbook(sim, "mule"):
        (change,) = bodies(a, "account-changes")
        campaigns.setdefault(a.campaign, set()).add(orjson.dumps(change["destination"]).decode())
        assert all(w["destination"] == change["destination"] for w in bodies(a, "withdrawals"))
    assert all(len(dests) == 1 for dests in campaigns.values())
    sizes = Counter(a.campaign for a in by_playbook(sim, "mule"))
    assert max(sizes.values()) >= 2


def test_a_stuffing_wave_tries_many_customers_from_one_address_within_the_hour(
    sim: Simulation,
) -> None:
    for campaign in {a.campaign for a in by_playbook(sim, "stuffing")}:
        members = [a for a in sim.attacks if a.campaign == campaign]
        tries = [b for a in members for _, (t, b) in a.events if t == "logins"]
        ips = {b["ip"] for b in tries}
        assert len(ips) == 1
        times = sorted(at(b) for b in tries if not b["success"])
        assert len({b["customer_id"] for b in tries}) >= 20
        assert times[-1] - times[0] <= timedelta(hours=1)
        for a in members:
            assert bodies(a, "account-changes")[0]["channel"] == "web"
            assert bodies(a, "withdrawals")


def test_the_call_center_attack_changes_the_destination_by_phone_without_address(
    sim: Simulation,
) -> None:
    for a in by_playbook(sim, "call_center"):
        (change,) = bodies(a, "account-changes")
        assert change["channel"] == "call_center"
        assert "ip" not in change and "device_id" not in change
        (wd,) = bodies(a, "withdrawals")
        assert wd["destination"] == change["destination"] and at(wd) > at(change)


def test_small_withdrawals_stay_below_the_amount_thresholds(sim: Simulation) -> None:
    customers = {c.id: c for c in sim.customers}
    for a in by_playbook(sim, "small"):
        wds = bodies(a, "withdrawals")
        assert len(wds) >= 3
        for w in wds:
            assert Decimal(w["amount"]) < Decimal("0.8") * Decimal(w["available_balance"])
            assert Decimal(w["amount"]) <= customers[a.customer_id].amount


def test_labels_match_the_withdrawals_one_for_one(sim: Simulation) -> None:
    wds = [b for _, (t, b) in sim.events if t == "withdrawals"]
    labels = [x for x in sim.labels if x["record"] == "withdrawal"]
    assert [x["withdrawal_id"] for x in labels] == [w["withdrawal_id"] for w in wds]
    for label, w in zip(labels, wds, strict=True):
        assert (label["customer_id"], label["amount"], label["occurred_at"]) == (
            w["customer_id"],
            w["amount"],
            w["occurred_at"],
        )
    attack_wids = {wid for a in sim.attacks for wid in a.withdrawal_ids}
    assert {x["withdrawal_id"] for x in labels if x["truth"] == "attack"} == attack_wids
    for a in sim.attacks:
        for x in labels:
            if x["withdrawal_id"] in a.withdrawal_ids:
                assert (x["playbook"], x["attack_id"]) == (a.playbook, a.attack_id)


def test_labels_name_the_honest_changes_that_preceded_a_withdrawal(sim: Simulation) -> None:
    labels = [x for x in sim.labels if x["record"] == "withdrawal" and x["truth"] == "honest"]
    for kind in ("destination_change", "credential_change", "new_device"):
        assert any(x["preceded_by"][kind] for x in labels), kind
    for x in labels:
        for kind, hours in x["hours_since"].items():
            assert x["preceded_by"][kind] == (hours is not None and hours <= 240)
    changes = {
        (b["customer_id"], at(b))
        for _, (t, b) in sim.events
        if t == "account-changes" and b["change_type"] == "withdrawal_destination"
    }
    for x in labels:
        hours = x["hours_since"]["destination_change"]
        if hours is not None:
            when = datetime.fromisoformat(x["occurred_at"]) - timedelta(hours=hours)
            assert any(
                cid == x["customer_id"] and abs((t - when).total_seconds()) < 60
                for cid, t in changes
            )


def test_delivery_effects_happen_at_the_configured_rates() -> None:
    rates = Rates(out_of_order=0.1, duplicates=0.05, malformed=0.02)
    sim = generate(replace(CONFIG, customers=300, attacks=6, rates=rates))
    n = len(sim.events)
    bad = [x for x in sim.labels if x["record"] == "malformed"]
    broken = {x["raw"].encode() for x in bad}
    seen: set[bytes] = set()
    late = dups = 0
    times = []
    for d in sim.deliveries:
        if d.value in broken:
            continue
        if d.value in seen:
            dups += 1
            continue
        seen.add(d.value)
        occurred = at(orjson.loads(d.value))
        times.append(occurred)
        late += d.at > occurred
    assert len(sim.deliveries) == n + dups + len(bad)
    assert len(seen) == n
    for share, count in ((0.1, late), (0.05, dups), (0.02, len(bad))):
        assert abs(count / n - share) < share * 0.2, (share, count, n)
    assert any(b < a for a, b in itertools.pairwise(times)), "nothing arrived late"
    assert Counter(x["kind"] for x in bad).keys() == set(MALFORMED_KINDS)


def test_malformed_messages_are_refused_by_the_decoder_and_the_rest_accepted() -> None:
    sim = generate(replace(CONFIG, customers=200, attacks=6, rates=Rates(malformed=0.05)))
    bad = {x["raw"].encode(): x for x in sim.labels if x["record"] == "malformed"}
    assert len(bad) > 50
    for d in sim.deliveries:
        if d.value in bad:
            with pytest.raises(InvalidEvent):
                decode_input(d.value, TYPE_OF[d.topic], MAX_BYTES)
        else:
            decode_input(d.value, TYPE_OF[d.topic], MAX_BYTES)


def test_the_pure_engine_holds_every_target_attack_and_no_unexplained_honest_withdrawal(
    sim: Simulation, tmp_path: Path
) -> None:
    sinks.write_files(sim, tmp_path / "sim")
    options = ScanOptions(
        tmp_path / "scan", load_policy(), MAX_BYTES, now=sim.end + timedelta(hours=1)
    )
    inputs = discover([tmp_path / "sim" / sinks.EVENTS])
    assert len(inputs) == 5
    summary = scan(FileSource(inputs, load_mapping(None), MAX_BYTES), options)
    malformed = sum(1 for x in sim.labels if x["record"] == "malformed")
    assert summary["events"]["rejected"] == malformed
    held = {}
    for line in (tmp_path / "scan" / "findings.jsonl").read_bytes().splitlines():
        f = orjson.loads(line)
        held[f["withdrawal_id"]] = Outcome(True, tuple(r["code"] for r in f["reasons"]))
    outcomes = {
        x["withdrawal_id"]: held.get(x["withdrawal_id"], Outcome(False))
        for x in sim.labels
        if x["record"] == "withdrawal"
    }
    figures = assess(sim.labels, outcomes)
    assert targets_missed(figures) == []
    for playbook in MUST_HOLD:
        assert (
            figures["playbooks"][playbook]["held"] == figures["playbooks"][playbook]["attacks"] > 0
        )
    # the device farm: every attack held, each of its withdrawals naming the shared device
    farm = figures["playbooks"]["device_farm"]
    assert farm["held"] == farm["attacks"] > 0
    assert farm["codes"]["DEVICE_SHARED"] == farm["withdrawals"]
    # without a destination change, only a sell-off after another change holds an honest
    # withdrawal (LIQUIDATION: that is the pattern, docs/policy.md)
    for x in sim.labels:
        o = outcomes.get(x.get("withdrawal_id", ""))
        if x["truth"] == "honest" and o and o.held and not x["preceded_by"]["destination_change"]:
            assert "LIQUIDATION" in o.reasons and x["sold_holdings"], x
            assert x["preceded_by"]["credential_change"] or x["preceded_by"]["new_device"], x


def test_baselines_stop_online_changes_and_hold_after_any_change(sim: Simulation) -> None:
    attack_ids = {b["event_id"] for a in sim.attacks for _, (_, b) in a.events}
    freeze, refused = online_freeze(sim.events, attack_ids)
    figures = assess(sim.labels, freeze)
    assert figures["playbooks"]["call_center"]["held"] == 0
    assert figures["playbooks"]["chain_2020"]["held"] == 3
    assert refused["attack_changes_refused"] >= 15  # every victim but the call center's
    assert refused["honest_changes_refused"] > 0
    after = assess(sim.labels, hold_after_change(sim.events))
    assert after["playbooks"]["chain_2020"]["held"] == 3
    # it also delays customers who only changed a credential (no destination change)
    outcomes = hold_after_change(sim.events)
    only_credentials = [
        x["withdrawal_id"]
        for x in sim.labels
        if x["record"] == "withdrawal"
        and x["truth"] == "honest"
        and x["preceded_by"]["credential_change"]
        and not x["preceded_by"]["destination_change"]
    ]
    assert any(outcomes[wid].held for wid in only_credentials)


def test_simulate_command_writes_files_and_refuses_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["simulate", "--out", str(out), "--customers", "60", "--attacks", "6"]
    assert cli.main(args) == 0
    assert {str(p.relative_to(out)) for p in out.rglob("*.*")} == {
        "events/logins.jsonl",
        "events/account-changes.jsonl",
        "events/withdrawals.jsonl",
        "events/trades.jsonl",
        "events/customer-responses.jsonl",
        "labels.jsonl",
        "simulation.json",
    }
    assert "simulated 60 customers over 30 days" in capsys.readouterr().out
    for bad, problem in (
        (["--days", "12"], "--days must be at least"),
        (["--playbooks", "chain_2020,heist"], "unknown ['heist']"),
        (["--duplicates", "2"], "--duplicates must be between 0 and 1"),
        (["--start", "yesterday"], "--start: not an ISO 8601"),
        (["--labels", "x.jsonl"], "--labels applies to --kafka only"),
    ):
        assert cli.main([*args, *bad]) == 2
        assert problem in capsys.readouterr().err
    assert cli.main(["simulate", "--kafka", "--customers", "60"]) == 2
    assert "--kafka needs --labels" in capsys.readouterr().err


def test_the_file_timeline_starts_at_a_fixed_default_and_at_start_when_given(
    tmp_path: Path,
) -> None:
    assert CONFIG.start == datetime(2026, 1, 5, tzinfo=UTC)
    out = tmp_path / "s"
    args = ["simulate", "--out", str(out), "--customers", "20", "--attacks", "0"]
    assert cli.main([*args, "--start", "2024-03-01"]) == 0
    manifest = orjson.loads((out / "simulation.json").read_bytes())
    assert manifest["start"] == "2024-03-01T00:00:00+00:00"
    first = orjson.loads(io.BytesIO((out / "events" / "logins.jsonl").read_bytes()).readline())
    assert at(first) >= datetime(2024, 3, 1, tzinfo=UTC)


def _shape(sim: Any) -> list[tuple[timedelta, str, dict[str, Any]]]:
    """Each event's time before the end, topic and message with its times (`occurred_at`,
    a response's `contact_as_of`) as times before the end."""
    return [
        (
            sim.end - t,
            topic,
            {k: sim.end - datetime.fromisoformat(v) if k in _TIMES else v for k, v in b.items()},
        )
        for t, (topic, b) in sim.events
    ]


_TIMES = ("occurred_at", "contact_as_of")


def test_the_demos_history_ends_now_and_a_seed_gives_the_same_history_at_any_hour() -> None:
    from argparse import Namespace

    from withdrawguard.sim.demo import demo_config
    from withdrawguard.sim.generate import generate

    args = Namespace(customers=60, days=24, attacks=2)
    now = datetime(2026, 12, 7, 11, 20, 5, 123, tzinfo=UTC)
    config = demo_config(args, 7, "abc123", now)
    sim = generate(config)
    assert (sim.start, sim.end) == (
        datetime(2026, 11, 13, 11, 20, 5, tzinfo=UTC),
        now.replace(microsecond=0),
    )
    times = [at for at, _ in sim.events]
    assert sim.start <= min(times) and max(times) <= sim.end
    assert sim.end - max(times) < timedelta(hours=12)  # the newest events are recent
    # What the messages carry moved with the events: their times are the events' times.
    assert [datetime.fromisoformat(b["occurred_at"]) for _, (_, b) in sim.events] == times
    assert all(at(x) >= sim.start for x in sim.labels if x["record"] == "withdrawal")
    # At midnight and at 23:59:59 the same seed gives the same history, only moved, so the
    # same verdicts: the same messages in the same order, at the same offsets from the end.
    at_midnight = generate(demo_config(args, 7, "abc123", datetime(2026, 12, 7, tzinfo=UTC)))
    late = generate(demo_config(args, 7, "abc123", datetime(2026, 12, 7, 23, 59, 59, tzinfo=UTC)))
    assert _shape(at_midnight) == _shape(sim) == _shape(late)
    assert [d.value for d in late.deliveries if d.withdrawal_id] != [
        d.value for d in sim.deliveries if d.withdrawal_id
    ]  # the bytes carry other times
