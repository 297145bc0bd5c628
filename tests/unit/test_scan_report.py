"""report.html: the summary's figures, escaped text, nothing loaded from elsewhere, bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest

from withdrawguard.engine.policy import load_policy
from withdrawguard.scan import report
from withdrawguard.scan.csvmap import CsvMapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.sources import FileSource
from withdrawguard.sim import scenarios as s

T0 = datetime(2020, 9, 1, 1, 0, tzinfo=UTC)
NOW = datetime(2025, 1, 1, tzinfo=UTC)
MAX_BYTES = 262_144
HOSTILE = '<script>alert("x")</script>&"\'https://evil.example/x.js'


def scan_history(tmp_path: Path, msgs: list[s.Message]) -> tuple[Path, dict[str, Any]]:
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"".join(orjson.dumps(body) + b"\n" for _, body in msgs))
    out = tmp_path / "out"
    options = ScanOptions(out, load_policy(), MAX_BYTES, now=NOW)
    summary = scan(FileSource([path], CsvMapping(), MAX_BYTES), options)
    return out, summary


class Page(HTMLParser):
    """Tags, attributes, text and style content of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        (self.styles if self._in_style else self.text).append(data)

    def count(self, tag: str, cls: str) -> int:
        return sum(1 for t, a in self.tags if t == tag and cls in (a.get("class") or "").split())


def assert_self_contained(page: Page) -> None:
    """No script, no external resource: URLs may appear only in the text."""
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "link", "img", "iframe", "object", "embed", "base", "image"}
    for _tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), name
            if name not in {"title", "aria-label"}:  # text shown to people
                assert "://" not in (value or ""), (name, value)
            assert name not in {"src", "href", "xlink:href", "action", "srcset"}, name
    css = "".join(page.styles)
    assert "url(" not in css and "@import" not in css and "://" not in css


def test_report_shows_the_figures_of_summary_json(tmp_path: Path) -> None:
    msgs = [
        *s.sbi_chain("victim", T0),
        *s.sbi_chain("victim-2", T0 + timedelta(days=70), attacker_ip="198.51.100.9"),
        *s.honest_withdrawal("honest", T0),
    ]
    out, summary = scan_history(tmp_path, msgs)
    text = (out / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    words = " ".join(" ".join(page.text).split())
    assert summary["held"] == 2 and summary["withdrawals"] == 6
    assert f"2 of {summary['withdrawals']} withdrawals held" in words
    assert f"2 of {summary['customers']} customers flagged" in words
    assert "19,000,000 JPY amount at risk" in words
    assert f"{summary['events']['valid']} events scanned (0 rejected)" in words
    assert "from 2020-07-03 01:00:00 to 2020-11-10 01:25:00 (UTC)" in words
    assert f"policy default ({summary['policy']['version']})" in words
    for code, r in summary["by_reason"].items():
        assert f"{code} {r['count']} {int(r['amount']['JPY']):,} JPY" in words
    # every month from the first finding's to the last's has a bar, empty ones too
    assert list(summary["by_month"]) == ["2020-09", "2020-11"]
    assert page.count("rect", "bar") == 3
    assert "2020-10: 0 held" in words and "2020-11: 1 held 9,500,000 JPY" in words
    findings = (out / "findings.jsonl").read_bytes().splitlines()
    assert page.count("tr", "finding") == len(findings) == 2
    assert page.count("details", "timeline") == summary["flagged_customers"] == 2
    assert page.count("li", "evidence") == 20  # ten cited events per chain
    assert "acct ****4321" in words and "7654321" not in text
    assert_self_contained(page)


def test_hostile_strings_are_escaped_through_the_scan(tmp_path: Path) -> None:
    out, _ = scan_history(tmp_path, s.sbi_chain(HOSTILE, T0))
    text = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in text
    page = Page(text)
    assert_self_contained(page)
    cells = [t for t in page.text if HOSTILE in t]
    assert len(cells) >= 3  # the finding's customer, its withdrawal id, the timeline's title


def test_every_field_is_escaped_wherever_it_shows(tmp_path: Path) -> None:
    h = HOSTILE
    summary = {
        "policy": {"source": h, "version": h},
        "events": {"read": 1, "valid": 1, "rejected": 0},
        "first_event_at": h,
        "last_event_at": h,
        "amount_at_risk": {h: "5"},
        "by_reason": {h: {"count": 1, "amount": {h: h}}},
        "by_month": {h: {"count": 1, "amount": {h: "5"}}},
        "held": 1,
    }
    finding = {
        "customer_id": h,
        "withdrawal_id": h,
        "occurred_at": h,
        "amount": h,
        "currency": h,
        "destination": h,
        "risk_score": h,
        "severity": h,
        "reasons": [{"code": h, "detail": h}],
    }
    timeline = {"customer_id": h, "events": [{"type": h, "summary": h, "occurred_at": h}]}
    (tmp_path / "findings.jsonl").write_bytes(orjson.dumps(finding) + b"\n")
    (tmp_path / "timelines.jsonl").write_bytes(orjson.dumps(timeline) + b"\n")
    text = report.write_report(tmp_path, summary).read_text(encoding="utf-8")
    assert "<script" not in text and "evil.example" in text
    page = Page(text)
    assert_self_contained(page)
    assert sum(t.count(HOSTILE) for t in page.text) >= 15


def test_zero_findings_say_so(tmp_path: Path) -> None:
    out, summary = scan_history(tmp_path, s.honest_withdrawal("honest", T0))
    assert summary["held"] == 0
    page = Page((out / "report.html").read_text(encoding="utf-8"))
    words = " ".join(" ".join(page.text).split())
    assert "0 of 2 withdrawals held" in words and "0 amount at risk" in words
    assert "No withdrawal would have been held." in words
    assert "No findings." in words and "no findings" in words  # the table and the chart
    assert page.count("tr", "finding") == page.count("details", "timeline") == 0
    assert page.count("rect", "bar") == 0
    assert_self_contained(page)


def test_long_histories_are_cut_and_the_rest_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    msgs = [
        m
        for i in range(5)
        for m in s.sbi_chain(f"v{i}", T0 + timedelta(days=i), attacker_ip=f"198.51.100.{i}")
    ]
    out, summary = scan_history(tmp_path, msgs)
    assert summary["held"] == summary["flagged_customers"] == 5
    monkeypatch.setattr(report, "MAX_FINDINGS", 2)
    monkeypatch.setattr(report, "MAX_TIMELINES", 4)
    monkeypatch.setattr(report, "OPEN_TIMELINES", 1)
    page = Page(report.write_report(out).read_text(encoding="utf-8"))
    words = " ".join(" ".join(page.text).split())
    assert page.count("tr", "finding") == 2
    assert "3 more findings are in findings.jsonl." in words
    assert page.count("details", "timeline") == 4
    assert "1 more timelines are in timelines.jsonl." in words
    assert sum(1 for t, a in page.tags if t == "details" and "open" in a) == 1


@pytest.mark.parametrize(
    ("months", "expected"),
    [
        ([], []),
        (["2021-02", "2020-11"], ["2020-11", "2020-12", "2021-01", "2021-02"]),
        (["2024-06"], ["2024-06"]),
    ],
)
def test_the_chart_has_every_month_between_the_first_and_the_last(
    months: list[str], expected: list[str]
) -> None:
    assert report.month_range(months) == expected


def test_the_chart_scale_is_round_and_reaches_the_highest_bar() -> None:
    svg = report.chart({"2020-01": {"count": 9}, "2020-02": {"count": 1}})
    labels = Page(svg).text
    assert labels[:5] == ["0", "3", "6", "9", "12"]
