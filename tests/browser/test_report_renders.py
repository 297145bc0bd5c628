"""report.html opens in a real headless Chromium with no network, and renders.

Debian's `chromium` (installed by `make browser`), driven by Playwright's Python package
(never `playwright install`: no browser is downloaded). Every request that is not for the
file itself is refused and recorded; the page must make none. A screenshot goes to
docs/img/scan-report.png (the README shows it) and to artifacts/ for CI.

Without Chromium the test fails when CI=true (CI must run it) and is skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from withdrawguard.engine.policy import load_policy
from withdrawguard.scan.csvmap import CsvMapping
from withdrawguard.scan.driver import ScanOptions, scan
from withdrawguard.scan.sources import FileSource, discover
from withdrawguard.sim import scenarios as s

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = ROOT / "docs" / "img" / "scan-report.png"
ARTIFACTS = ROOT / "artifacts"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
MAX_BYTES = 262_144


def history() -> list[s.Message]:
    """Honest customers; the 2020 chain against victims over six months (two of them
    paying the same mule account), some logging in daily the week before; and two mule
    customers who set one destination through the call center."""
    t0 = datetime(2024, 1, 15, 9, 30, tzinfo=UTC)
    msgs: list[s.Message] = []
    for i in range(6):
        msgs += s.honest_withdrawal(f"cust-{i:03d}", t0 + timedelta(days=31 * i))
    for n, day in enumerate([0, 33, 40, 92, 120, 124, 131, 150]):
        cid, at = f"victim-{n + 1:03d}", t0 + timedelta(days=day, hours=n)
        dest = {"bank_code": "0033", "branch_code": "010", "account_number": f"90{n}1234"}
        msgs += s.sbi_chain(cid, at, s.MULE_DEST if n in (0, 7) else dest, f"198.51.100.{n + 7}")
        if n % 3 == 1:
            msgs += [s.login(cid, f"{cid}-d{k}", at - timedelta(days=k)) for k in range(1, 5)]
    shared = {"bank_code": "0009", "branch_code": "333", "account_number": "8887777"}
    for n, cid in enumerate(("mule-a", "mule-b")):
        at = t0 + timedelta(days=100 + 2 * n)
        msgs += s.honest_history(cid, at)
        msgs.append(
            s.change(
                cid, f"{cid}-d", at, "withdrawal_destination", "call_center", destination=shared
            )
        )
        msgs.append(
            s.withdrawal(
                cid, f"{cid}-w", at + timedelta(days=1), f"{cid}-wd", "480000", destination=shared
            )
        )
    return msgs


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scan")
    lines = [orjson.dumps(body) + b"\n" for _, body in history()]
    (root / "in").mkdir()
    (root / "in" / "a.jsonl").write_bytes(b"".join(lines[::2]))
    (root / "in" / "b.jsonl").write_bytes(b"".join(lines[1::2]))
    source = FileSource(discover([root / "in"]), CsvMapping(), MAX_BYTES)
    scan(source, ScanOptions(root / "out", load_policy(), MAX_BYTES, now=NOW))
    return root / "out"


def chromium_or_fail() -> Path:
    """Chromium's path; without it, fail under CI (never skip there), else skip."""
    found = CHROMIUM if CHROMIUM.exists() else None
    found = found or (Path(p) if (p := shutil.which("chromium")) else None)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problem = "Playwright is not installed in the venv: run make venv"
    else:
        problem = "" if found else "Debian's chromium is missing: run make browser"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{problem} (CI must run the browser test)", pytrace=False)
        pytest.skip(problem)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def page(scanned: Path) -> Iterator[tuple[Any, list[str], list[str]]]:
    executable = chromium_or_fail()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=ARGS)
        context = browser.new_context(
            offline=True, viewport={"width": 1280, "height": 900}, java_script_enabled=False
        )
        requests: list[str] = []
        own = (scanned / "report.html").as_uri()

        def refuse_others(route: Any) -> None:
            if route.request.url == own:
                route.continue_()
            else:
                requests.append(route.request.url)
                route.abort()

        context.route("**/*", refuse_others)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        tab.goto(own, wait_until="load")
        yield tab, requests, errors
        browser.close()


def test_report_opens_offline_and_renders_the_summary_chart_and_every_finding(
    scanned: Path, page: tuple[Any, list[str], list[str]]
) -> None:
    tab, requests, errors = page
    summary = orjson.loads((scanned / "summary.json").read_bytes())
    findings = (scanned / "findings.jsonl").read_bytes().splitlines()
    assert tab.title() == "withdrawguard scan report"
    assert tab.get_by_role("heading", name="Withdrawals the detector would have held").is_visible()
    cards = tab.locator("#summary").inner_text()
    assert f"{summary['held']} of {summary['withdrawals']}" in cards
    chart = tab.locator("svg#chart")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 600 and box["height"] > 100
    bars = tab.locator("svg#chart rect.bar")
    assert bars.count() == 6  # January to June 2024, empty months too
    assert sum(1 for i in range(bars.count()) if bars.nth(i).bounding_box()) == 6
    assert len(findings) == summary["held"] == 10
    assert tab.locator("#findings tr.finding").count() == len(findings)
    assert tab.locator("details.timeline").count() == summary["flagged_customers"]
    evidence = tab.locator("li.evidence").first
    assert evidence.is_visible()
    colour = evidence.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour not in ("rgba(0, 0, 0, 0)", "transparent")
    assert requests == [] and errors == []
    # the README's picture: the top of the page (summary, chart, reasons, findings, the
    # first timelines); CI's artifacts also get the whole page
    tab.set_viewport_size({"width": 1280, "height": 1700})
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOT))
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(SCREENSHOT, ARTIFACTS / SCREENSHOT.name)
    tab.screenshot(path=str(ARTIFACTS / "scan-report-full.png"), full_page=True)
    assert SCREENSHOT.stat().st_size > 10_000
