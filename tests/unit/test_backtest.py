"""The backtest (`scan --policy CANDIDATE --against BASELINE`) on files: one simulated
history decided under two policies, checked against two plain scans of it."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from withdrawguard import cli
from withdrawguard.engine.policy import Policy, fingerprint, load_policy
from withdrawguard.policy.actions import publish
from withdrawguard.policy.versions import Catalog
from withdrawguard.scan import backtest
from withdrawguard.scan.compare import compare
from withdrawguard.scan.csvmap import load_mapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.policy_spec import ChosenPolicy, SpecError, choose
from withdrawguard.scan.quality_table import read_labels
from withdrawguard.scan.sources import FileSource, discover
from withdrawguard.sim import sinks
from withdrawguard.sim.generate import SimConfig, Simulation, generate
from withdrawguard.sim.quality import Outcome, assess

MAX_BYTES = 262_144
# Lower the score that holds, and let no channel hold on its own: some withdrawals are
# newly held (score 40-59), others newly allowed (held only by the channel).
CANDIDATE = """\
[decision]
hold_score = 40

[rules.dest_changed_recently]
holding_channels = []
"""


@pytest.fixture(scope="module")
def sim() -> Simulation:
    return generate(SimConfig(seed=8, customers=300, days=24, attacks=12))


@pytest.fixture(scope="module")
def history(sim: Simulation, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulation as files: <dir>/events/*.jsonl and <dir>/labels.jsonl."""
    folder = tmp_path_factory.mktemp("sim")
    sinks.write_files(sim, folder)
    (folder / "candidate.toml").write_text(CANDIDATE, encoding="utf-8")
    return folder


def options(sim: Simulation, out: Path, policy: Policy) -> ScanOptions:
    return ScanOptions(out, policy, MAX_BYTES, now=sim.end + timedelta(hours=1))


def source(history: Path) -> FileSource:
    return FileSource(discover([history / sinks.EVENTS]), load_mapping(None), MAX_BYTES)


def chosen(spec: str, policy: Policy) -> ChosenPolicy:
    return ChosenPolicy(spec, policy, fingerprint(policy), spec)


def held_by_plain_scan(sim: Simulation, history: Path, out: Path, policy: Policy) -> set[str]:
    scan(source(history), options(sim, out, policy))
    return {
        orjson.loads(line)["withdrawal_id"]
        for line in (out / "findings.jsonl").read_bytes().splitlines()
    }


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


@pytest.fixture(scope="module")
def result(
    sim: Simulation, history: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("backtest")
    policies = {
        "candidate": chosen("candidate.toml", load_policy(history / "candidate.toml")),
        "baseline": chosen("default", load_policy()),
    }
    labels = read_labels(history / sinks.LABELS)
    return out, backtest.run(source(history), policies, options(sim, out, load_policy()), labels)


def test_backtest_lists_exactly_the_withdrawals_two_plain_scans_decide_differently(
    sim: Simulation, history: Path, tmp_path: Path, result: tuple[Path, dict[str, Any]]
) -> None:
    candidate = held_by_plain_scan(
        sim, history, tmp_path / "c", load_policy(history / "candidate.toml")
    )
    baseline = held_by_plain_scan(sim, history, tmp_path / "b", load_policy())
    out, summary = result
    differences = read_jsonl(out / "differences.jsonl")
    newly_held = {d["withdrawal_id"] for d in differences if d["change"] == "newly_held"}
    newly_allowed = {d["withdrawal_id"] for d in differences if d["change"] == "newly_allowed"}
    assert newly_held == candidate - baseline
    assert newly_allowed == baseline - candidate
    assert newly_held and newly_allowed  # the candidate changes both ways
    assert len(differences) == len(candidate ^ baseline) == summary["differ"]
    assert summary["newly_held"]["count"] == len(newly_held)
    assert summary["newly_allowed"]["count"] == len(newly_allowed)
    assert summary["withdrawals"] == sum(1 for x in sim.labels if x["record"] == "withdrawal")
    assert summary["candidate"]["held"] == len(candidate)
    assert summary["baseline"]["held"] == len(baseline)


def test_each_side_of_a_backtest_writes_the_findings_its_plain_scan_writes(
    sim: Simulation, history: Path, tmp_path: Path, result: tuple[Path, dict[str, Any]]
) -> None:
    out, _ = result
    held_by_plain_scan(sim, history, tmp_path / "c", load_policy(history / "candidate.toml"))
    held_by_plain_scan(sim, history, tmp_path / "b", load_policy())
    for side, plain in (("candidate", "c"), ("baseline", "b")):
        for name in ("findings.jsonl", "timelines.jsonl", "rejected.jsonl"):
            assert (out / side / name).read_bytes() == (tmp_path / plain / name).read_bytes()
    verdicts = read_jsonl(out / "candidate" / "verdicts.jsonl")
    keys = [(v["customer_id"], v["withdrawal_id"]) for v in verdicts]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert not list(out.glob(".withdrawguard-scan-*"))  # the spill is gone


def test_a_difference_gives_both_decisions_scores_and_reasons_in_jsonl_and_csv(
    result: tuple[Path, dict[str, Any]],
) -> None:
    out, summary = result
    differences = read_jsonl(out / "differences.jsonl")
    with (out / "differences.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["withdrawal_id"] for r in rows] == [d["withdrawal_id"] for d in differences]
    for d, row in zip(differences, rows, strict=True):
        assert {d["candidate"]["decision"], d["baseline"]["decision"]} == {"hold", "allow"}
        assert row["candidate_decision"] == d["candidate"]["decision"]
        assert row["baseline_reasons"] == ";".join(d["baseline"]["reasons"])
        assert int(row["candidate_risk_score"]) == d["candidate"]["risk_score"]
        held_side = "candidate" if d["change"] == "newly_held" else "baseline"
        for code in d[held_side]["reasons"]:
            assert summary["by_reason"][code][d["change"]] >= 1
    assert (out / "backtest.json").read_bytes() == orjson.dumps(summary, option=orjson.OPT_INDENT_2)


def test_quality_table_of_each_side_is_the_simulators_assessment_of_its_plain_scan(
    sim: Simulation, history: Path, tmp_path: Path, result: tuple[Path, dict[str, Any]]
) -> None:
    _, summary = result
    for side, policy in (
        ("candidate", load_policy(history / "candidate.toml")),
        ("baseline", load_policy()),
    ):
        scan(source(history), options(sim, tmp_path / side, policy))
        held = {
            f["withdrawal_id"]: Outcome(True, tuple(r["code"] for r in f["reasons"]))
            for f in read_jsonl(tmp_path / side / "findings.jsonl")
        }
        outcomes = {
            x["withdrawal_id"]: held.get(x["withdrawal_id"], Outcome(False))
            for x in sim.labels
            if x["record"] == "withdrawal"
        }
        assert summary["quality"][side] == assess(sim.labels, outcomes)
    quality = summary["quality"]
    assert quality["candidate"]["honest"]["held"] < quality["baseline"]["honest"]["held"]


def test_compare_merges_by_id_and_tells_reasons_only_and_one_sided_verdicts_apart(
    tmp_path: Path,
) -> None:
    def line(cid: str, wid: str, decision: str, *codes: str) -> bytes:
        body = {"customer_id": cid, "withdrawal_id": wid, "occurred_at": "2026-01-01T00:00:00Z"}
        body |= {"amount": "100", "currency": "JPY", "decision": decision, "risk_score": 50}
        return orjson.dumps(body | {"reasons": list(codes)}) + b"\n"

    (tmp_path / "c.jsonl").write_bytes(
        line("a", "w1", "hold", "DRAIN")
        + line("a", "w2", "hold", "DRAIN", "NEW_DEVICE")
        + line("b", "w3", "allow")
        + line("c", "w5", "allow")
    )
    (tmp_path / "b.jsonl").write_bytes(
        line("a", "w1", "allow", "DRAIN")
        + line("a", "w2", "hold", "DRAIN")
        + line("b", "w3", "hold", "DEST_CHANGED_RECENTLY")
        + line("b", "w4", "allow")
        + line("c", "w5", "allow")
    )
    tally = compare(tmp_path / "c.jsonl", tmp_path / "b.jsonl", tmp_path)
    found = [(d["withdrawal_id"], d["change"]) for d in read_jsonl(tmp_path / "differences.jsonl")]
    assert found == [("w1", "newly_held"), ("w3", "newly_allowed"), ("w4", "decided_once")]
    figures = tally.as_dict()
    assert figures["withdrawals"] == 5
    assert figures["reasons_changed"] == 1  # w2: held under both, for other reasons
    assert figures["held"] == {"candidate": 2, "baseline": 2}
    assert figures["by_reason"] == {
        "DEST_CHANGED_RECENTLY": {"newly_held": 0, "newly_allowed": 1},
        "DRAIN": {"newly_held": 1, "newly_allowed": 0},
    }
    assert figures["newly_held"] == {"count": 1, "amount": {"JPY": "100"}}


# ---------------------------------------------------------------- policy specs


def published(text: str, role: str = "live") -> tuple[Catalog, str]:
    catalog = Catalog()
    plan = publish(catalog, text, "ito", "test", 1_700_000_000_000, role)
    for key, value in plan.policies:
        catalog.apply(key, value)
    assert plan.version is not None
    return catalog, plan.version


def no_catalog() -> Catalog:
    raise AssertionError("the catalog was read for a spec that does not need it")


def test_a_spec_names_a_file_the_default_the_live_version_or_a_published_one(
    history: Path,
) -> None:
    assert choose("default", no_catalog).id == fingerprint(load_policy())
    from_file = choose(str(history / "candidate.toml"), no_catalog)
    assert from_file.policy == load_policy(history / "candidate.toml")
    catalog, version = published(CANDIDATE)
    assert version == from_file.id
    live = choose("live", lambda: catalog)
    assert (live.id, live.described) == (version, f"live version {version}")
    assert live.policy.rules == from_file.policy.rules
    assert choose(version, lambda: catalog).described == f"published version {version}"


def test_a_spec_the_catalog_cannot_satisfy_says_what_is_missing() -> None:
    with pytest.raises(SpecError, match="no live policy version has ever been published"):
        choose("live", Catalog)
    shadow_only, _ = published(CANDIDATE, role="shadow")
    with pytest.raises(SpecError, match="use `--against default`, or `--against FILE`"):
        choose("live", lambda: shadow_only, "--against")
    with pytest.raises(SpecError, match="no published policy version '0badc0de'"):
        choose("0badc0de", lambda: shadow_only)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--against", "default"], "--against needs --policy"),
        (["--labels", "labels.jsonl"], "--labels applies to a backtest"),
        (["--policy", "default", "--against", "default"], "are the same policy"),
        (["--policy", "c.toml", "--against", "default", "--labels", "nope"], "cannot read labels"),
        (["--policy", "c.toml", "--against", "default", "--labels", "c.toml"], "line 1: not JSON"),
    ],
)
def test_backtest_command_exits_2_with_a_clear_message_on_bad_arguments(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text(CANDIDATE, encoding="utf-8")
    (tmp_path / "in.jsonl").write_text("", encoding="utf-8")
    assert cli.main(["scan", "in.jsonl", "--out", "o", *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_backtest_command_prints_both_sides_the_differences_and_the_quality_table(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["scan", str(history / sinks.EVENTS), "--out", str(out)]
    argv += ["--policy", str(history / "candidate.toml"), "--against", "default"]
    assert cli.main([*argv, "--labels", str(history / sinks.LABELS)]) == 0
    printed = capsys.readouterr().out
    summary = orjson.loads((out / "backtest.json").read_bytes())
    assert f"held {summary['candidate']['held']} of {summary['withdrawals']}" in printed
    assert f"verdicts differ on {summary['differ']} of" in printed
    assert "attacks held" in printed and "honest withdrawals held" in printed
    assert summary["baseline"]["policy"] == "packaged default"
    for side in ("candidate", "baseline"):
        assert (out / side / "report.html").exists()
