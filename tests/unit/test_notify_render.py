"""What notifications say: what happened, to whom, how much, why, and where to look."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from tests.unit.notify_fakes import alert
from tests.unit.player import Player
from withdrawguard.adapters.notify.email import build_email
from withdrawguard.adapters.notify.pagerduty import pagerduty_event
from withdrawguard.adapters.notify.slack import slack_blocks
from withdrawguard.notify.channel import SendContext
from withdrawguard.notify.render import REASON_WORDS, masked, render_alert, render_digest
from withdrawguard.sim import scenarios as s

POLICY_DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"
CONSOLE = "https://console.example.com/"


def sbi_alert(player: Player) -> dict[str, object]:
    dest = {"bank_code": "0009", "branch_code": "222", "account_number": "88776655"}
    player.play(s.sbi_chain("C-77", datetime(2024, 5, 1, tzinfo=UTC), dest))
    return player.alerts[-1].to_wire()


def test_an_sbi_alert_reads_what_whom_how_much_why_and_links_the_console(player: Player) -> None:
    m = render_alert(sbi_alert(player), CONSOLE)
    text = m.text()
    assert m.title == "[CRITICAL] Withdrawal held: 9,500,000 JPY by customer C-77"
    assert "Customer: C-77" in text
    assert "Amount: 9,500,000 JPY" in text
    assert "Destination: bank 0009 branch 222 acct ****6655" in text
    assert "emptying the account (DRAIN)" in text
    assert "a guessing burst before the login that acted (FAILED_LOGIN_BURST)" in text
    assert "https://console.example.com/customers/C-77" in text
    assert "88776655" not in text
    assert "88776655" not in m.html()


def test_a_destination_is_masked_even_if_a_payload_carried_it_whole() -> None:
    assert masked("bank 0009 acct 12345678") == "bank 0009 acct ****5678"
    assert masked({"bank_code": "0009", "account_number": "12345678"}) == "bank 0009 acct ****5678"
    assert masked("bank 0009 branch 222 acct ****4321") == "bank 0009 branch 222 acct ****4321"


def test_customer_ids_are_escaped_in_the_link_and_the_html() -> None:
    m = render_alert(alert(customer_id="C/<b>1"), CONSOLE)
    assert m.link == "https://console.example.com/customers/C%2F%3Cb%3E1"
    assert "<b>1" not in m.html()


def test_every_reason_code_of_the_policy_document_has_words() -> None:
    headings = re.findall(r"^### `([A-Z_]+)` — (.+)$", POLICY_DOC.read_text(), re.M)
    assert headings
    assert dict(headings) == REASON_WORDS


def test_a_digest_says_how_many_more_alerts_there_were() -> None:
    m = render_digest([alert(alert_id=f"a{i}", customer_id=f"C{i}") for i in range(37)], "x", 10)
    assert m.title.startswith("[CRITICAL] and 37 more alerts")
    assert "at most 10 a minute" in m.headline


def ctx(action: str = "trigger") -> SendContext:
    return SendContext(render_alert(alert(), CONSOLE), action, "inc-1", "a-1:ch", 1_700_000_000)


def test_slack_message_has_header_fields_context_and_a_console_button() -> None:
    body = slack_blocks(ctx().message)
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds == ["header", "section", "section", "section", "context", "actions"]
    assert (
        body["blocks"][-1]["elements"][0]["url"] == "https://console.example.com/customers/C-100234"
    )
    assert any("9,500,000 JPY" in f["text"] for f in body["blocks"][2]["fields"])


def test_pagerduty_triggers_with_the_incident_key_and_resolves_it() -> None:
    trigger = pagerduty_event("rk", alert(), ctx())
    assert trigger["event_action"] == "trigger"
    assert trigger["dedup_key"] == "inc-1"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["links"][0]["href"].endswith("/customers/C-100234")
    assert pagerduty_event("rk", alert(), ctx("resolve")) == {
        "routing_key": "rk",
        "event_action": "resolve",
        "dedup_key": "inc-1",
    }


def test_email_has_a_plain_and_an_html_part() -> None:
    msg = build_email(ctx().message, "wg@x", ("ops@x",), "a-1:mail")
    types = [p.get_content_type() for p in msg.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]
    assert msg["Subject"].startswith("[CRITICAL] Withdrawal held")
