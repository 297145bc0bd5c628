"""Case events out through the notification channels: the `[case_events]` routing, the
SLA-breach message, the webhook body, and one delivery per channel and event id even
when the event comes twice (tests/unit/notify_fakes.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from tests.unit.notify_fakes import Counts, MemoryDedup, RecordingChannel
from tests.unit.test_cases_builders import T0
from withdrawguard.adapters.notify.webhook import webhook_body
from withdrawguard.cases import codec
from withdrawguard.cases.events import SlaBreached
from withdrawguard.cases.summary import Summary
from withdrawguard.notify.case_render import late_by, render_case_event
from withdrawguard.notify.channel import SendContext
from withdrawguard.notify.config import (
    ChannelConfig,
    NotifyConfig,
    NotifyConfigError,
    parse_notify_config,
)
from withdrawguard.notify.notifier import Notifier
from withdrawguard.streaming.sinks.case_notify import case_notify_handler

ENV = {"HOOK_SECRET": "s3cret"}
CHANNELS = {
    "hook": {"type": "webhook", "url": "http://127.0.0.1/h", "secret_env": "HOOK_SECRET"},
    "quiet": {
        "type": "webhook",
        "url": "http://127.0.0.1/q",
        "secret_env": "HOOK_SECRET",
        "min_severity": "critical",
    },
}
BREACH = SlaBreached(
    case_id="case-1",
    event_id="case-1:sla-breached:1796115600000",
    actor="system",
    at=T0 + timedelta(hours=2, minutes=3, seconds=20),
    customer_id="C-1",
    inbox="large-withdrawals",
    due_at=T0 + timedelta(hours=2),
)


def test_case_events_route_kinds_to_named_channels_and_breaches_go_where_high_alerts_go() -> None:
    config = parse_notify_config({"channels": CHANNELS}, ENV)
    assert config.case_events == {"sla_breached": ("hook",)}  # quiet takes critical only
    config = parse_notify_config(
        {"channels": CHANNELS, "case_events": {"closed": ["quiet", "hook"], "sla_breached": []}},
        ENV,
    )
    assert config.case_events == {"closed": ("quiet", "hook"), "sla_breached": ()}


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"closd": ["hook"]}, "'case_events.closd': no case event is called 'closd'"),
        ({"closed": ["nope"]}, "'case_events.closed': no channel 'nope'"),
        ({"closed": "hook"}, "'case_events.closed' must be a list of channel names"),
    ],
)
def test_a_bad_case_events_table_is_refused_naming_the_key(
    table: dict[str, Any], problem: str
) -> None:
    with pytest.raises(NotifyConfigError) as caught:
        parse_notify_config({"channels": CHANNELS, "case_events": table}, ENV)
    assert problem in str(caught.value)


def test_the_breach_message_says_case_customer_inbox_how_late_and_links_the_case() -> None:
    message = render_case_event(codec.encode(BREACH), {}, "https://ops.example/")
    assert "case-1" in message.title and "C-1" in message.title
    fields = dict(message.fields)
    assert fields["Inbox"] == "large-withdrawals" and fields["Late by"] == "3 min 20 s"
    assert message.link == "https://ops.example/cases/case-1"
    assert late_by("2026-12-01T09:00:00+00:00", "2026-12-01T10:05:00+00:00") == "1 h 05 min"


def test_a_case_event_webhook_body_carries_the_event_and_the_case() -> None:
    event = codec.encode(BREACH)
    payload = {"event_id": BREACH.event_id, "event": event, "case": {"customer_id": "C-1"}}
    ctx = SendContext(render_case_event(event, {}, ""), "case_event", "inc", "d-1", 0.0)
    body = orjson.loads(webhook_body(payload, ctx))
    assert body["type"] == "case_event" and body["delivery_id"] == "d-1"
    assert body["event"] == orjson.loads(orjson.dumps(event))
    assert body["case"] == {"customer_id": "C-1"}


async def test_an_event_read_twice_is_delivered_once_per_channel_and_acknowledged_twice() -> None:
    hook, quiet = RecordingChannel("hook"), RecordingChannel("quiet")
    config = NotifyConfig(
        channels=(ChannelConfig("hook", "webhook", "low"), ChannelConfig("quiet", "webhook")),
        case_events={"sla_breached": ("hook",), "closed": ("quiet",)},
    )
    counts, acks = Counts(), []

    async def dead(key: bytes | None, record: dict[str, Any]) -> None:
        raise AssertionError(record)

    notifier = Notifier(
        config,
        {"hook": hook, "quiet": quiet},
        dedup=MemoryDedup(),
        dead_letters=dead,
        console_url="http://console",
        prefix="wg:test:notify",
        metrics=counts,
    )
    brief = Summary("case-1", "C-1", "large-withdrawals", "open", "high", None, T0, T0, T0, 2, 1, 0)

    async def summaries(ids: Any) -> list[Summary]:
        return [brief]

    handle = case_notify_handler(notifier, config, summaries, "http://console")
    record = SimpleNamespace(
        topic="case-events", partition=0, offset=7, key=b"case-1", value=codec.encode_bytes(BREACH)
    )
    comment = codec.encode(BREACH) | {"kind": "commented", "event_id": "c-2", "note": "hi"}
    other = SimpleNamespace(**{**vars(record), "offset": 8, "value": orjson.dumps(comment)})
    for r in (record, record, other):
        await handle(r, lambda: acks.append(1))
        await asyncio.sleep(0)
        await notifier.drain()
    await notifier.stop()
    assert len(hook.sent) == 1 and quiet.sent == []  # commented is routed nowhere
    payload, ctx = hook.sent[0]
    assert ctx.delivery_id == f"{BREACH.event_id}:hook" and ctx.action == "case_event"
    assert payload["case"]["status"] == "open" and payload["customer_id"] == "C-1"
    assert len(acks) == 3 and counts.deduplicated_ == ["hook"]
