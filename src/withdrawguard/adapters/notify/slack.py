"""Slack incoming webhook with a Block Kit message: header, the facts as fields, the
reasons, a context line, and a button to the customer in the console. The webhook URL is
the channel's secret (`secret_env`/`secret_file`): anyone holding it can post."""

from __future__ import annotations

from typing import Any

import orjson

from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.notify.channel import SendContext
from withdrawguard.notify.config import Secret
from withdrawguard.notify.render import Message

_EMOJI = {"critical": ":rotating_light:", "high": ":warning:", "medium": ":mag:", "low": ":memo:"}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def _mrkdwn(text: str, limit: int = 3000) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text[:limit]}


def slack_blocks(m: Message) -> dict[str, Any]:
    """The webhook body: `text` (notifications, fallback) and `blocks`."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{_EMOJI.get(m.severity, '')} {m.title}".strip(), 150)},
        {"type": "section", "text": _mrkdwn(m.headline)},
        {
            "type": "section",
            "fields": [_mrkdwn(f"*{label}*\n{value}", 2000) for label, value in m.fields[:10]],
        },
    ]
    if m.reasons:
        why = "\n".join(f"• {words} (`{code}`)" for code, words in m.reasons)
        blocks.append({"type": "section", "text": _mrkdwn(f"*Why*\n{why}")})
    blocks.append({"type": "context", "elements": [_mrkdwn(m.footer, 300)]})
    if m.link:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": _plain("Open customer in console", 75),
                        "url": m.link,
                        "style": "danger" if m.severity == "critical" else "primary",
                    }
                ],
            }
        )
    return {"text": m.title, "blocks": blocks}


class SlackChannel:
    def __init__(self, name: str, url: Secret, http: HttpClient) -> None:
        self.name = name
        self._url = url
        self._http = http

    async def send(self, alert: dict[str, Any], ctx: SendContext) -> None:
        body = orjson.dumps(slack_blocks(ctx.message))
        await self._http.post(self._url.reveal(), body, {"Content-Type": "application/json"})
