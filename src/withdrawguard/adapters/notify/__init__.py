"""Notification channels (webhook, Slack, PagerDuty, e-mail) and the Redis stores the
notifier shares between workers. `build_channels` makes them from the routing config."""

from __future__ import annotations

from withdrawguard.adapters.notify.email import EmailChannel
from withdrawguard.adapters.notify.http import HttpClient
from withdrawguard.adapters.notify.pagerduty import PagerDutyChannel
from withdrawguard.adapters.notify.slack import SlackChannel
from withdrawguard.adapters.notify.webhook import WebhookChannel
from withdrawguard.notify.channel import Channel, SendContext
from withdrawguard.notify.config import ChannelConfig, NotifyConfig

__all__ = ["Channel", "SendContext", "build_channels"]


def build_channels(config: NotifyConfig, http: HttpClient) -> dict[str, Channel]:
    """One channel per `[channels.<name>]` table. Nothing connects until the first send."""
    return {c.name: _channel(c, http, config.timeout_seconds) for c in config.channels}


def _channel(c: ChannelConfig, http: HttpClient, timeout: float) -> Channel:
    if c.type == "webhook":
        assert c.secret is not None  # the config loader requires it
        return WebhookChannel(c.name, c.url, c.secret, http)
    if c.type == "slack":
        assert c.secret is not None
        return SlackChannel(c.name, c.secret, http)
    if c.type == "pagerduty":
        assert c.secret is not None
        return PagerDutyChannel(c.name, c.url, c.secret, http)
    return EmailChannel(
        c.name,
        host=c.host,
        port=c.port,
        sender=c.sender,
        recipients=c.recipients,
        username=c.username,
        password=c.secret,
        starttls=c.starttls,
        cafile=c.cafile,
        timeout=timeout,
    )
