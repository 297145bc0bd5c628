"""The history scan: the engine driven over files of past events, in event-time order per
customer, with cross-customer notices delivered at their own event time."""

from __future__ import annotations

import gzip
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.unit.histories import generated_history
from tests.unit.player import Player
from withdrawguard import cli
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import LATE_EVIDENCE, RELEASED, Engine
from withdrawguard.engine.policy import Policy, load_policy
from withdrawguard.engine.timeutil import digest
from withdrawguard.scan import replay
from withdrawguard.scan.command import OUTPUT_FILES
from withdrawguard.scan.csvmap import CsvMapping, load_mapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.sources import FileSource, discover
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import response

T0 = datetime(2020, 9, 1, 1, 0, tzinfo=UTC)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
MAX_BYTES = 262_144
POLICY = load_policy()
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)
STUFFER_IP = "203.0.113.66"
SHARED_DEST = {"bank_code": "0009", "branch_code": "333", "account_number": "8887777"}
Messages = Sequence[s.Message]


# ---------------------------------------------------------------- fixture histories


def shared_destination() -> list[s.Message]:
    """Two customers set one destination through the call center (which alone does not
    hold); the first withdraws to it before the second has set it."""
    msgs: list[s.Message] = []
    for cid in ("mule-a", "mule-b"):
        msgs += s.honest_history(cid, T0)
    msgs += [
        s.change(
            "mule-a",
            "mule-a-d",
            T0 - 4 * DAY,
            "withdrawal_destination",
            "call_center",
            destination=SHARED_DEST,
        ),
        s.withdrawal(
            "mule-a", "mule-a-w", T0 - 3 * DAY, "mule-a-wd", "50000", destination=SHARED_DEST
        ),
        s.change(
            "mule-b",
            "mule-b-d",
            T0 - 2 * DAY,
            "withdrawal_destination",
            "branch",
            destination=SHARED_DEST,
        ),
        s.withdrawal(
            "mule-b", "mule-b-w", T0 - 1 * DAY, "mule-b-wd", "50000", destination=SHARED_DEST
        ),
    ]
    return msgs


def stuffing_wave() -> list[s.Message]:
    """One IP fails to log into five customers within the hour, then gets into the last
    and moves money out through a call-center destination change."""
    cids = [f"stuffed-{i}" for i in range(5)]
    msgs: list[s.Message] = []
    for i, cid in enumerate(cids):
        msgs += s.honest_history(cid, T0)
        msgs.append(s.login(cid, f"{cid}-x", T0 + 9 * i * MINUTE, success=False, ip=STUFFER_IP))
    cid, at = cids[-1], T0 + 60 * MINUTE
    dest = {"bank_code": "0033", "branch_code": "001", "account_number": "5550001"}
    msgs += [
        s.login(cid, f"{cid}-in", at, ip=STUFFER_IP, device="dev-bot"),
        s.change(
            cid,
            f"{cid}-d",
            at + MINUTE,
            "withdrawal_destination",
            "call_center",
            ip=STUFFER_IP,
            destination=dest,
        ),
        s.withdrawal(
            cid,
            f"{cid}-w",
            at + 5 * MINUTE,
            f"{cid}-wd",
            "300000",
            destination=dest,
            ip=STUFFER_IP,
            device="dev-bot",
        ),
    ]
    return msgs


def everything() -> list[s.Message]:
    return [
        *s.sbi_chain("victim", T0, attacker_ip="198.51.100.7"),
        *s.honest_withdrawal("honest", T0),
        *shared_destination(),
        *stuffing_wave(),
    ]


# ---------------------------------------------------------------- helpers


def lines(msgs: Messages) -> list[bytes]:
    return [orjson.dumps(body) for _, body in msgs]


def write(path: Path, rows: Sequence[bytes], *, gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(row + b"\n" for row in rows)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def run(
    out: Path,
    *inputs: Path,
    policy: Policy = POLICY,
    mapping: CsvMapping | None = None,
    now: datetime = NOW,
) -> dict[str, Any]:
    source = FileSource(discover(inputs), mapping or CsvMapping(), MAX_BYTES)
    return scan(source, ScanOptions(out, policy, MAX_BYTES, now=now))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def held(out: Path) -> dict[str, set[str]]:
    """withdrawal id -> reason codes of every finding."""
    return {
        f["withdrawal_id"]: {r["code"] for r in f["reasons"]}
        for f in read_jsonl(out / "findings.jsonl")
    }


def player_holds(msgs: Messages, policy: Policy = POLICY) -> dict[str, set[str]]:
    player = Player(Engine(policy), CrossReference(policy)).play(msgs)
    last = {v.withdrawal_id: v for v in player.verdicts}
    return {
        wid: set(v.reason_codes) - {LATE_EVIDENCE, RELEASED}
        for wid, v in last.items()
        if v.decision == "hold"
    }


# ---------------------------------------------------------------- findings


def test_a_sell_off_and_a_device_farm_are_held_by_the_scan_as_by_the_engine(
    tmp_path: Path,
) -> None:
    """Trades and device observations go through the scan like the other families: the
    withdrawal of a sell-off's proceeds is held for LIQUIDATION, a withdrawal from a
    device that signed in to four customers for DEVICE_SHARED, as the engine holds them."""
    day, hour = timedelta(days=1), timedelta(hours=1)
    msgs = s.honest_history("seller", T0 - 30 * day)
    msgs += [
        s.change(
            "seller", "seller-d", T0 - 4 * day, "withdrawal_destination", destination=s.MULE_DEST
        ),
        s.trade("seller", "seller-t1", T0 - 2 * hour, "9000000", holdings_after="1"),
        s.withdrawal(
            "seller", "seller-w", T0 - hour, "seller-wd", "8900000", destination=s.MULE_DEST
        ),
    ]
    for i in range(4):
        cid = f"farmed-{i}"
        msgs += s.honest_history(cid, T0)
        at = T0 + timedelta(minutes=5 * i)
        msgs.append(s.login(cid, f"{cid}-farm", at, ip=f"198.18.0.{i + 1}", device="dev-farm"))
    msgs.append(
        s.withdrawal(
            "farmed-0",
            "farmed-0-w",
            T0 + hour,
            "farmed-0-wd",
            "50000",
            destination=s.HOME_DEST,
            ip="198.18.0.9",
            device="dev-farm",
        )
    )
    msgs.sort(key=lambda m: m[1]["occurred_at"])
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(msgs)))
    found = held(tmp_path / "out")
    assert found == player_holds(msgs)
    assert "LIQUIDATION" in found["seller-wd"]
    assert found["farmed-0-wd"] == {"DEVICE_SHARED", "NEW_DEVICE"}


def test_sbi_chain_is_held_with_its_reasons_and_the_honest_withdrawal_is_not(
    tmp_path: Path,
) -> None:
    msgs = [*s.sbi_chain("victim", T0), *s.honest_withdrawal("honest", T0)]
    summary = run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(msgs)))
    assert held(tmp_path / "out") == {
        "victim-wd-attack": {
            "DEST_CHANGED_RECENTLY",
            "FAILED_LOGIN_BURST",
            "NEW_DEVICE",
            "CREDENTIAL_CHANGE_CHAIN",
            "DRAIN",
        }
    }
    [finding] = read_jsonl(tmp_path / "out" / "findings.jsonl")
    assert finding["event_id"] == "victim-w-attack"
    assert finding["amount"] == "9500000" and finding["currency"] == "JPY"
    assert finding["destination"] == "bank 0009 branch 222 acct ****4321"
    assert finding["severity"] == "critical"
    assert {"victim-c-dest", "victim-l-attack"} <= set(finding["evidence_event_ids"])
    assert summary["withdrawals"] == 4 and summary["held"] == 1


def test_destination_set_by_two_customers_holds_the_withdrawals_to_it(tmp_path: Path) -> None:
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(shared_destination())))
    found = {f["withdrawal_id"]: f for f in read_jsonl(tmp_path / "out" / "findings.jsonl")}
    assert set(found) == {"mule-a-wd", "mule-b-wd"}
    codes = {wid: [r["code"] for r in f["reasons"]] for wid, f in found.items()}
    assert codes["mule-b-wd"] == ["DESTINATION_SHARED", "DEST_CHANGED_RECENTLY"]
    # mule-a withdrew before mule-b set the destination: sharing was established later in
    # event time, so the engine escalates that withdrawal with LATE_EVIDENCE.
    assert codes["mule-a-wd"] == ["DESTINATION_SHARED", "DEST_CHANGED_RECENTLY", LATE_EVIDENCE]
    assert {"mule-a-d", "mule-b-d"} <= set(found["mule-a-wd"]["evidence_event_ids"])


def test_credential_stuffing_wave_over_five_customers_holds_the_withdrawal_from_that_ip(
    tmp_path: Path,
) -> None:
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(stuffing_wave())))
    assert held(tmp_path / "out") == {
        "stuffed-4-wd": {"SOURCE_IP_SHARED", "DEST_CHANGED_RECENTLY", "NEW_DEVICE", "DRAIN"}
    }


def test_confirmed_fraud_on_one_customer_holds_another_customers_withdrawal_to_it(
    tmp_path: Path,
) -> None:
    fraud = s.case(
        "victim", "dec-1", T0 + 2 * DAY, "confirm_fraud", withdrawal_id="victim-wd-attack"
    )
    assert "type" not in fraud[1]  # case decisions are known by their decision_id
    later = T0 + 10 * DAY
    msgs = [
        *s.sbi_chain("victim", T0),
        fraud,
        *s.honest_history("other", later),
        s.change(
            "other",
            "other-d",
            later - 5 * DAY,
            "withdrawal_destination",
            "branch",
            destination=s.MULE_DEST,
            verified=True,
        ),
        s.withdrawal("other", "other-w", later, "other-wd", "1000", destination=s.MULE_DEST),
    ]
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(msgs)))
    found = held(tmp_path / "out")
    assert "CONFIRMED_FRAUD_DESTINATION" in found["other-wd"]
    assert "victim-wd-attack" in found


def test_generated_history_is_held_as_the_player_holds_it_in_event_time_order(
    tmp_path: Path,
) -> None:
    msgs = generated_history(seed=7)
    assert len(msgs) > 3000
    summary = run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(msgs)))
    found = {wid: codes - {LATE_EVIDENCE} for wid, codes in held(tmp_path / "out").items()}
    assert found == player_holds(msgs)
    every_code = set().union(*found.values())
    assert {"DESTINATION_SHARED", "SOURCE_IP_SHARED", "CONFIRMED_FRAUD_DESTINATION"} <= every_code
    assert summary["events"]["valid"] == len(msgs)
    assert len(found) >= 10


def test_verdicts_written_out_early_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "in.jsonl", lines(generated_history(seed=3, customers=60)))
    run(tmp_path / "a", path)
    monkeypatch.setattr(replay, "SETTLE_AT", 1)
    run(tmp_path / "b", path)
    assert (tmp_path / "a" / "findings.jsonl").read_bytes() == (
        tmp_path / "b" / "findings.jsonl"
    ).read_bytes()


# ---------------------------------------------------------------- inputs


def test_shuffled_lines_split_over_plain_and_gzip_files_give_byte_identical_findings(
    tmp_path: Path,
) -> None:
    rows = lines([*everything(), *generated_history(seed=11, customers=40)])
    run(tmp_path / "ordered", write(tmp_path / "one.jsonl", rows))
    shuffled = rows[:]
    random.Random(5).shuffle(shuffled)
    folder = tmp_path / "split"
    write(folder / "a.jsonl", shuffled[0::3])
    write(folder / "deeper" / "b.json.gz", shuffled[1::3], gz=True)
    write(folder / "deeper" / "c.jsonl", shuffled[2::3], gz=True)  # gzip told by its bytes
    run(tmp_path / "shuffled", folder)
    for name in ("findings.jsonl", "findings.csv", "timelines.jsonl"):
        ordered = (tmp_path / "ordered" / name).read_bytes()
        assert ordered == (tmp_path / "shuffled" / name).read_bytes(), name
    assert len(read_jsonl(tmp_path / "ordered" / "findings.jsonl")) > 4


def test_malformed_lines_go_to_rejected_with_their_line_numbers_and_the_scan_goes_on(
    tmp_path: Path,
) -> None:
    rows = lines(s.sbi_chain("victim", T0))
    bad = [
        b"not json at all",
        b'{"type": "login", "event_id": "x"}',
        b'{"type": "teleport", "event_id": "y"}',
        b"[1, 2, 3]",
        b'{"event_id": "z", "customer_id": "c"}',
    ]
    mixed = [rows[0], bad[0], rows[1], bad[1], b"", bad[2], *rows[2:], bad[3], bad[4]]
    summary = run(tmp_path / "out", write(tmp_path / "in.jsonl", mixed))
    rejected = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    after = 6 + len(rows) - 2  # the last line before the two bad ones at the end
    assert [r["line"] for r in rejected] == [2, 4, 6, after + 1, after + 2]
    assert all(r["source"].endswith("in.jsonl") for r in rejected)
    assert [r["raw"] for r in rejected] == [b.decode() for b in bad]
    assert "customer_id: is required" in rejected[1]["error"]
    assert "unknown event type 'teleport'" in rejected[2]["error"]
    assert "type: is required" in rejected[4]["error"]
    assert summary["events"] == {
        "read": len(rows) + len(bad),
        "valid": len(rows),
        "rejected": len(bad),
        "by_type": {"account_change": 2, "login": 13, "withdrawal": 2},
    }
    assert set(held(tmp_path / "out")) == {"victim-wd-attack"}


def test_an_overlong_line_is_rejected_and_the_next_line_is_read(tmp_path: Path) -> None:
    rows = lines(s.sbi_chain("victim", T0))
    long = b'{"pad": "' + b"x" * (MAX_BYTES + 10) + b'"}'
    summary = run(tmp_path / "out", write(tmp_path / "in.jsonl", [long, *rows]))
    [rejected] = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert rejected["line"] == 1
    assert "longer than the limit" in rejected["error"]
    assert len(rejected["raw"]) == 1024
    assert summary["events"]["valid"] == len(rows)


def test_events_far_ahead_of_the_clock_are_rejected_as_the_worker_would(tmp_path: Path) -> None:
    rows = lines(s.sbi_chain("victim", T0))
    run(tmp_path / "out", write(tmp_path / "in.jsonl", rows), now=T0 - DAY)
    rejected = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert rejected and all("ahead of the detector's clock" in r["error"] for r in rejected)
    assert held(tmp_path / "out") == {}


def test_an_event_the_engine_fails_on_is_reported_and_the_rest_still_decided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply = Engine.apply

    def failing(self: Engine, state: Any, event: Any) -> Any:
        if event.event_id == "victim-c-email":
            raise RuntimeError("boom")
        return apply(self, state, event)

    monkeypatch.setattr(Engine, "apply", failing)
    msgs = [*s.sbi_chain("victim", T0), *s.honest_withdrawal("honest", T0)]
    summary = run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(msgs)))
    [rejected] = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert rejected["source"] == "customer victim"
    assert rejected["error"] == "processing failed: RuntimeError: boom"
    assert '"victim-c-email"' in rejected["raw"]
    assert summary["events"]["valid"] == len(msgs) - 1
    assert summary["events"]["rejected"] == 1
    assert "CREDENTIAL_CHANGE_CHAIN" not in held(tmp_path / "out")["victim-wd-attack"]


CSV_MAPPING = """
[csv]
delimiter = ";"

[type]
column = "kind"
values = { L = "login", C = "account_change", W = "withdrawal" }

[columns]
event_id = "id"
customer_id = "customer"
occurred_at = "time"
success = "ok"
ip = "ip"
device_id = "device"
change_type = "what"
channel = "channel"
verified = "verified"
withdrawal_id = "withdrawal"
amount = "amount"
available_balance = "balance"
"destination.bank_code" = "bank"
"destination.branch_code" = "branch"
"destination.account_number" = "account"

[constants]
currency = "JPY"
"""
CSV_HEADER = (
    "kind;id;customer;time;ok;ip;device;what;channel;verified;withdrawal;amount;balance;"
    "bank;branch;account;unused"
)


def csv_row(body: dict[str, Any]) -> str:
    kind = {"login": "L", "account_change": "C", "withdrawal": "W"}[body["type"]]
    dest = body.get("destination", {})
    cells = [
        kind,
        body["event_id"],
        body["customer_id"],
        body["occurred_at"],
        {True: "yes", False: "no", None: ""}[body.get("success")],
        body.get("ip", ""),
        body.get("device_id", ""),
        body.get("change_type", ""),
        body.get("channel", ""),
        "1" if body.get("verified") else "0",
        body.get("withdrawal_id", ""),
        body.get("amount", ""),
        body.get("available_balance", ""),
        dest.get("bank_code", ""),
        dest.get("branch_code", ""),
        dest.get("account_number", ""),
        "ignored",
    ]
    return ";".join(cells)


def test_csv_export_with_a_column_mapping_gives_the_findings_of_the_json_lines(
    tmp_path: Path,
) -> None:
    msgs = [*s.sbi_chain("victim", T0), *s.honest_withdrawal("honest", T0)]
    run(tmp_path / "json", write(tmp_path / "in.jsonl", lines(msgs)))
    (tmp_path / "map.toml").write_text(CSV_MAPPING, encoding="utf-8")
    text = "\n".join([CSV_HEADER, *(csv_row(body) for _, body in msgs), "L;broken"])
    csv_path = write(tmp_path / "export.csv.gz", [text.encode()], gz=True)
    summary = run(tmp_path / "csv", csv_path, mapping=load_mapping(tmp_path / "map.toml"))
    assert (tmp_path / "json" / "findings.jsonl").read_bytes() == (
        tmp_path / "csv" / "findings.jsonl"
    ).read_bytes()
    [rejected] = read_jsonl(tmp_path / "csv" / "rejected.jsonl")
    assert rejected["line"] == len(msgs) + 2
    assert rejected["raw"] == "L;broken"
    assert summary["events"]["valid"] == len(msgs)


def test_csv_without_a_mapping_reads_its_headers_as_field_names(tmp_path: Path) -> None:
    body = s.withdrawal("c", "c-w", T0, "c-wd", "5000", destination=s.HOME_DEST)[1]
    header = "type,event_id,customer_id,occurred_at,withdrawal_id,amount,currency," + (
        "destination.bank_code,destination.account_number"
    )
    row = f"withdrawal,c-w,c,{body['occurred_at']},c-wd,5000,JPY,0005,1234567"
    summary = run(tmp_path / "out", write(tmp_path / "w.csv", [header.encode(), row.encode()]))
    assert summary["events"]["by_type"] == {"withdrawal": 1}
    assert summary["withdrawals"] == 1


def test_csv_whose_header_lacks_a_mapped_column_is_skipped_with_one_rejection(
    tmp_path: Path,
) -> None:
    (tmp_path / "map.toml").write_text(CSV_MAPPING, encoding="utf-8")
    path = write(tmp_path / "odd.csv", [b"kind;id", b"L;x"])
    summary = run(tmp_path / "out", path, mapping=load_mapping(tmp_path / "map.toml"))
    [rejected] = read_jsonl(tmp_path / "out" / "rejected.jsonl")
    assert rejected["line"] == 1 and "not in the header" in rejected["error"]
    assert summary["events"]["read"] == 1


# ---------------------------------------------------------------- policy and outputs


def test_policy_with_destination_shared_switched_off_changes_the_findings(tmp_path: Path) -> None:
    path = write(tmp_path / "in.jsonl", lines(everything()))
    run(tmp_path / "default", path)
    policy_path = tmp_path / "policy.toml"
    policy_path.write_text("[rules.destination_shared]\nenabled = false\n", encoding="utf-8")
    summary = run(tmp_path / "custom", path, policy=load_policy(policy_path))
    assert {"mule-a-wd", "mule-b-wd"} <= set(held(tmp_path / "default"))
    assert set(held(tmp_path / "custom")) == {"victim-wd-attack", "stuffed-4-wd"}
    assert summary["policy"]["source"] == str(policy_path)
    default_summary = orjson.loads((tmp_path / "default" / "summary.json").read_bytes())
    assert summary["policy"]["version"] != default_summary["policy"]["version"]


def test_summary_counts_customers_money_reasons_and_months(tmp_path: Path) -> None:
    summary = run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(everything())))
    assert summary["held"] == 4
    assert summary["flagged_customers"] == 4
    assert summary["customers"] == 2 + 2 + 5
    assert summary["amount_at_risk"] == {"JPY": str(Decimal(9500000 + 50000 * 2 + 300000))}
    assert summary["by_reason"]["DESTINATION_SHARED"] == {"count": 2, "amount": {"JPY": "100000"}}
    assert summary["by_month"] == {
        "2020-08": {"count": 2, "amount": {"JPY": "100000"}},
        "2020-09": {"count": 2, "amount": {"JPY": "9800000"}},
    }
    assert summary["first_event_at"] == "2020-07-03T01:00:00+00:00"
    assert summary["last_event_at"] == "2020-09-01T02:05:00+00:00"
    assert summary["inputs"] == [str(tmp_path / "in.jsonl")]
    assert summary["events_per_second"] > 0
    on_disk = orjson.loads((tmp_path / "out" / "summary.json").read_bytes())
    assert on_disk == summary


def test_findings_csv_has_one_row_per_finding_with_codes_joined(tmp_path: Path) -> None:
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(everything())))
    text = (tmp_path / "out" / "findings.csv").read_text(encoding="utf-8").splitlines()
    assert text[0].startswith("customer_id,withdrawal_id,event_id,occurred_at,amount,currency")
    assert len(text) == 1 + 4
    victim = next(line for line in text if line.startswith("victim,"))
    assert "DEST_CHANGED_RECENTLY;FAILED_LOGIN_BURST;NEW_DEVICE" in victim


def test_timelines_show_the_week_before_each_hold_with_evidence_and_masked_accounts(
    tmp_path: Path,
) -> None:
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(everything())))
    text = (tmp_path / "out" / "timelines.jsonl").read_bytes()
    assert b"7654321" not in text and b"5550001" not in text
    timelines = {
        t["customer_id"]: t["events"] for t in read_jsonl(tmp_path / "out" / "timelines.jsonl")
    }
    assert sorted(timelines) == ["mule-a", "mule-b", "stuffed-4", "victim"]
    victim = {e["event_id"]: e for e in timelines["victim"]}
    assert "victim-l0" not in victim  # sixty days before: outside the week
    dest = victim["victim-c-dest"]
    assert dest["evidence"] is True
    assert (
        dest["summary"]
        == "withdrawal destination set to bank 0009 branch 222 acct ****4321 via web"
    )
    assert victim["victim-f0"]["summary"] == "failed login from 198.51.100.7 on device dev-x-victim"
    times = [e["occurred_at"] for e in timelines["victim"]]
    assert times == sorted(times)


def test_timeline_of_a_busy_customer_keeps_the_evidence_and_the_latest_events(
    tmp_path: Path,
) -> None:
    msgs = s.sbi_chain("victim", T0)
    noise = [s.login("victim", f"n{i}", T0 - DAY + i * MINUTE) for i in range(300)]
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines([*noise, *msgs])))
    [timeline] = read_jsonl(tmp_path / "out" / "timelines.jsonl")
    events = timeline["events"]
    assert len(events) == 200
    assert sum(e["evidence"] for e in events) == 10
    assert events[-1]["event_id"] == "victim-w-attack"
    assert "n0" not in {e["event_id"] for e in events}


# ---------------------------------------------------------------- the command


def test_scan_command_writes_every_file_and_prints_a_short_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "in" / "h.jsonl", lines(everything()))
    code = cli.main(["scan", str(path.parent), "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    assert "held 4 of" in out
    assert "9900000 JPY" in out
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == set(OUTPUT_FILES)  # and the spill is gone
    assert "report.html" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["missing.jsonl", "--out", "o"], "no such file or folder"),
        (["in.jsonl", "--out", "o", "--csv-mapping", "nope.toml"], "cannot read CSV mapping"),
        (["in.jsonl", "--out", "o", "--policy", "nope.toml"], "cannot read policy file"),
        (["--kafka", "--since", "last tuesday", "--out", "o"], "not an ISO 8601"),
        (["--kafka", "--since", "2024-02-01", "--until", "2024-01-01", "--out", "o"], "before"),
        (["in.jsonl", "--since", "2024-01-01", "--out", "o"], "apply to --kafka only"),
        (["--out", "o"], "give the PATHs"),
    ],
)
def test_scan_command_exits_2_with_a_clear_message_on_bad_arguments(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "in.jsonl", lines(s.honest_withdrawal("h", T0)))
    assert cli.main(["scan", *argv]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "findings.jsonl").exists()


def test_scan_command_with_an_unreadable_mapping_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "map.toml").write_text("[type]\nconstant = 1\n", encoding="utf-8")
    path = write(tmp_path / "in.csv", [b"type"])
    argv = ["scan", str(path), "--out", str(tmp_path / "o"), "--csv-mapping"]
    assert cli.main([*argv, str(tmp_path / "map.toml")]) == 2
    assert "must be a string" in capsys.readouterr().err


def test_trades_and_a_customers_denial_in_the_files_hold_as_the_player_holds(
    tmp_path: Path,
) -> None:
    """Every input family is read: a trade, and a denial of the destination change's
    notice that holds a withdrawal allowed before it."""
    cid = "answering"
    nid = f"ntc-{digest(cid, 'destination_change', f'{cid}-d')}"
    dest = {"bank_code": "0009", "branch_code": "222", "account_number": "7654321"}
    msgs = [
        *s.honest_history(cid, T0),
        s.change(cid, f"{cid}-d", T0, "withdrawal_destination", destination=dest),
        s.trade(cid, f"{cid}-t1", T0 + timedelta(hours=1), "10000", side="buy"),
        s.withdrawal(
            cid, f"{cid}-w1", T0 + timedelta(days=4), f"{cid}-wd1", "1000", destination=dest,
            balance="10000000", ip=s.home_ip(cid), device=s.home_device(cid),
        ),
        response(cid, f"{cid}-r1", T0 + timedelta(days=4, hours=1), nid, "deny"),
    ]  # fmt: skip
    run(tmp_path / "out", write(tmp_path / "in.jsonl", lines(msgs)))
    found = held(tmp_path / "out")
    assert {wid: codes - {LATE_EVIDENCE} for wid, codes in found.items()} == player_holds(msgs)
    assert found[f"{cid}-wd1"] == {"CONFIRMED_FRAUD_DESTINATION", LATE_EVIDENCE}
