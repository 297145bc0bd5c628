"""report.html, self-contained, from summary.json, findings.jsonl and timelines.jsonl: the
summary, an SVG chart of findings per month, the findings, a timeline per flagged customer
(evidence highlighted). Inline CSS, no script, nothing loaded from elsewhere (its
Content-Security-Policy forbids it), all text escaped. Bounded: at most `MAX_FINDINGS` rows
and `MAX_TIMELINES` timelines, saying how many more the files hold; written as it is read.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson

MAX_FINDINGS = 2000
MAX_TIMELINES = 500
OPEN_TIMELINES = 10  # the first ones are shown unfolded

_CSS = """body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2433;
margin:0;background:#f5f6f8}main{max-width:1180px;margin:0 auto;padding:24px 28px 48px}h1{
font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 10px}.sub{color:#5b6475}.cards{
display:flex;flex-wrap:wrap;gap:12px;margin-top:18px}.card{background:#fff;
border:1px solid #dde1e8;border-radius:8px;padding:12px 16px;min-width:170px}.card b{display:block;
font-size:22px}.card span{color:#5b6475;font-size:12px}table{border-collapse:collapse;
background:#fff;width:100%;border:1px solid #dde1e8}th,td{text-align:left;padding:6px 10px;
border-bottom:1px solid #eceef2;vertical-align:top}th{background:#eef1f5;font-weight:600;
position:sticky;top:0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td:first-child{white-space:nowrap}.code{display:inline-block;font:11px ui-monospace,monospace;
background:#eef1f5;border-radius:4px;padding:1px 5px;margin:1px}.sev{font-weight:600}.sev-critical{
color:#b3261e}.sev-high{color:#c2410c}.sev-medium{color:#a16207}svg{background:#fff;
border:1px solid #dde1e8;border-radius:8px}.bar{fill:#3b6fd8}.axis{font-size:11px;fill:#5b6475}
.grid{stroke:#eceef2}details{background:#fff;border:1px solid #dde1e8;border-radius:8px;
margin:8px 0;padding:6px 14px}summary{cursor:pointer;font-weight:600}ol{list-style:none;padding:0;
margin:8px 0}li{padding:3px 8px;border-left:3px solid transparent}li.evidence{background:#fff4d6;
border-left-color:#e0a100}time{color:#5b6475;font:12px ui-monospace,monospace;margin-right:8px}
.tag{font-size:11px;font-weight:600;color:#8a5a00;margin-left:6px}.more{color:#5b6475;
font-style:italic}footer{margin-top:36px;color:#5b6475;font-size:12px}"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def write_report(out_dir: Path, summary: dict[str, Any] | None = None) -> Path:
    """Write `out_dir`/report.html from the scan's files there; return its path."""
    if summary is None:
        summary = orjson.loads((out_dir / "summary.json").read_bytes())
    path = out_dir / "report.html"
    with (
        path.open("w", encoding="utf-8") as fh,
        (out_dir / "findings.jsonl").open("rb") as findings,
        (out_dir / "timelines.jsonl").open("rb") as timelines,
    ):
        _write(fh, summary, findings, timelines)
    return path


def e(value: object) -> str:
    """Any value as escaped HTML text."""
    return html.escape(str(value), quote=True)


def _write(fh: IO[str], s: dict[str, Any], findings: IO[bytes], timelines: IO[bytes]) -> None:
    ev, policy = s.get("events", {}), s.get("policy", {})
    first, last = _when(s.get("first_event_at")), _when(s.get("last_event_at"))
    fh.write(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>withdrawguard scan report</title><style>{_CSS}</style></head><body><main>"
        f"<h1>Withdrawals the detector would have held</h1>"
        f'<p class="sub">History from {first} to {last} (UTC) &middot; policy '
        f"<b>{e(policy.get('source', '?'))}</b> ({e(policy.get('version', '?'))})</p>"
        f'<div class="cards" id="summary">'
    )
    risk = "<br>".join(f"{_money(a)} {e(c)}" for c, a in s.get("amount_at_risk", {}).items())
    cards = [
        (f"{_n(s.get('held'))} of {_n(s.get('withdrawals'))}", "withdrawals held"),
        (f"{_n(s.get('flagged_customers'))} of {_n(s.get('customers'))}", "customers flagged"),
        (risk or "0", "amount at risk"),
        (_n(ev.get("valid")), f"events scanned ({_n(ev.get('rejected'))} rejected)"),
    ]
    for value, label in cards:
        fh.write(f'<div class="card"><b>{value}</b><span>{label}</span></div>')
    fh.write("</div><h2>Findings per month</h2>")
    fh.write(chart(s.get("by_month", {})))
    fh.write('<h2>Reasons</h2><table id="reasons"><tr><th>Reason</th><th>Withdrawals</th>')
    fh.write("<th>Amount</th></tr>")
    for code, r in s.get("by_reason", {}).items():
        amount = ", ".join(f"{_money(a)} {e(c)}" for c, a in r.get("amount", {}).items())
        fh.write(f'<tr><td><span class="code">{e(code)}</span></td>')
        fh.write(f'<td class="num">{_n(r.get("count"))}</td><td class="num">{amount}</td></tr>')
    if not s.get("by_reason"):
        fh.write('<tr><td colspan="3" class="more">No withdrawal would have been held.</td></tr>')
    fh.write("</table>")
    _findings(fh, findings)
    _timelines(fh, timelines)
    fh.write(
        f"<footer>Scanned {_n(ev.get('read'))} records from {len(s.get('inputs', []))} "
        f"input(s) in {e(s.get('elapsed_seconds', '?'))} s "
        f"({_n(s.get('events_per_second'))} events/s). Files: findings.jsonl, findings.csv, "
        f"summary.json, timelines.jsonl, rejected.jsonl.</footer></main></body></html>\n"
    )


def _findings(fh: IO[str], lines: IO[bytes]) -> None:
    fh.write('<h2>Findings</h2><table id="findings"><thead><tr><th>When</th><th>Customer</th>')
    fh.write("<th>Withdrawal</th><th>Amount</th><th>Destination</th><th>Reasons</th>")
    fh.write("<th>Risk</th></tr></thead><tbody>")
    shown = 0
    for f in _limited(lines, MAX_FINDINGS):
        codes = "".join(
            f'<span class="code" title="{e(r.get("detail", ""))}">{e(r.get("code"))}</span>'
            for r in f.get("reasons", [])
        )
        sev = e(f.get("severity", ""))
        level = sev if sev in ("critical", "high", "medium", "low") else "other"
        fh.write(
            f'<tr class="finding"><td>{_when(f.get("occurred_at"))}</td>'
            f"<td>{e(f.get('customer_id'))}</td><td>{e(f.get('withdrawal_id'))}</td>"
            f'<td class="num">{_money(f.get("amount"))} {e(f.get("currency"))}</td>'
            f"<td>{e(f.get('destination'))}</td><td>{codes}</td>"
            f'<td><span class="sev sev-{level}">{e(f.get("risk_score"))} {sev}</span></td></tr>'
        )
        shown += 1
    if not shown:
        fh.write('<tr><td colspan="7" class="more">No findings.</td></tr>')
    fh.write("</tbody></table>")
    _more(fh, lines, "findings", "findings.jsonl")


def _timelines(fh: IO[str], lines: IO[bytes]) -> None:
    fh.write('<h2>Timelines of flagged customers</h2><div id="timelines">')
    fh.write('<p class="sub">Each customer\'s events in the week before a held withdrawal; ')
    fh.write('<span class="tag">evidence</span> marks the events the findings cite.</p>')
    for n, t in enumerate(_limited(lines, MAX_TIMELINES)):
        events = t.get("events", [])
        cited = sum(1 for x in events if x.get("evidence"))
        fh.write(
            f'<details class="timeline"{" open" if n < OPEN_TIMELINES else ""}><summary>'
            f"{e(t.get('customer_id'))} &middot; {len(events)} events, {cited} evidence"
            f"</summary><ol>"
        )
        for x in events:
            mark = ' class="evidence"' if x.get("evidence") else ""
            tag = '<span class="tag">evidence</span>' if x.get("evidence") else ""
            fh.write(
                f"<li{mark}><time>{_when(x.get('occurred_at'))}</time>"
                f'<span class="code">{e(x.get("type"))}</span> {e(x.get("summary"))}{tag}</li>'
            )
        fh.write("</ol></details>")
    fh.write("</div>")
    _more(fh, lines, "timelines", "timelines.jsonl")


def _limited(lines: IO[bytes], limit: int) -> Iterator[dict[str, Any]]:
    """The objects on the first `limit` lines of a JSON Lines file (the rest stay unread)."""
    return (orjson.loads(line) for line in islice(lines, limit) if line.strip())


def _more(fh: IO[str], lines: IO[bytes], what: str, name: str) -> None:
    rest = sum(1 for line in lines if line.strip())
    if rest:
        fh.write(f'<p class="more" id="more-{what}">{rest:,} more {what} are in {name}.</p>')


def chart(by_month: dict[str, Any], width: int = 1120, height: int = 260) -> str:
    """An SVG bar chart of findings per month, every month from the first to the last."""
    left, bottom, top_pad = 48, 40, 14
    head = (
        f'<svg id="chart" role="img" aria-label="Findings per month" '
        f'viewBox="0 0 {width} {height}" width="100%">'
    )
    months = month_range(list(by_month))
    if not months:
        middle = f'x="{width / 2}" y="{height / 2}" text-anchor="middle"'
        return f'{head}<text class="axis" {middle}>no findings</text></svg>'
    counts = [int(by_month.get(m, {}).get("count", 0)) for m in months]
    tick = _tick(max(counts))
    plot_h, step = height - bottom - top_pad, (width - left - 12) / len(months)
    parts = [head]
    for i in range(5):
        y = top_pad + plot_h * (1 - i / 4)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{tick * i:,}</text>"
        )
    every = max(1, -(-len(months) // 14))
    for i, (month, count) in enumerate(zip(months, counts, strict=True)):
        x, h = left + i * step, plot_h * count / (tick * 4)
        amount = ", ".join(
            f"{_money(a)} {e(c)}" for c, a in by_month.get(month, {}).get("amount", {}).items()
        )
        bar = min(max(step * 0.8, 1), 56)
        parts.append(
            f'<rect class="bar" x="{x + (step - bar) / 2:.1f}" y="{top_pad + plot_h - h:.1f}" '
            f'width="{bar:.1f}" height="{h:.1f}"><title>{e(month)}: {count:,} '
            f"held {amount}</title></rect>"
        )
        if i % every == 0:
            parts.append(
                f'<text class="axis" x="{x + step / 2:.1f}" y="{height - bottom + 18}" '
                f'text-anchor="middle">{e(month)}</text>'
            )
    return "".join(parts) + "</svg>"


def month_range(months: list[str]) -> list[str]:
    """Every YYYY-MM from the earliest to the latest of `months` (at most 1200)."""
    try:
        pairs = sorted((int(m[:4]), int(m[5:7])) for m in months)
    except ValueError:
        return sorted(months)
    if not pairs:
        return []
    (y, m), last = pairs[0], pairs[-1]
    out: list[str] = []
    while (y, m) <= last and len(out) < 1200:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _tick(peak: int) -> int:
    """A round grid step such that four of them reach `peak`."""
    scale = 1
    while True:
        for m in (1, 2, 3, 5):
            if m * scale * 4 >= peak:
                return m * scale
        scale *= 10


def _money(amount: object) -> str:
    try:
        return e(format(Decimal(str(amount)), ","))
    except (InvalidOperation, ValueError):
        return e(amount)


def _n(value: object) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else e(value if value else 0)


def _when(at: object) -> str:
    """An ISO time for reading: "2020-09-01 01:25:00" (the offset kept unless UTC)."""
    return e(str(at).replace("T", " ").removesuffix("+00:00")) if at else "&ndash;"
