"""The routing file: channels by severity, secrets only from variables or files."""

from __future__ import annotations

from pathlib import Path

import pytest

from withdrawguard.notify.config import (
    PAGERDUTY_URL,
    NotifyConfigError,
    Secret,
    load_notify_config,
    parse_notify_config,
    routes,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "notify.example.toml"
ENV = {
    "WG_WEBHOOK_SECRET": "whsec-1",
    "WG_SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T/B/X",
    "WG_PAGERDUTY_ROUTING_KEY": "pd-key",
    "WG_SMTP_PASSWORD": "smtp-pass",
}


def config(**channels: dict[str, object]) -> dict[str, object]:
    return {"channels": channels}


def test_the_example_file_loads_with_its_secrets_from_the_environment(tmp_path: Path) -> None:
    c = load_notify_config(EXAMPLE, {**ENV})
    assert {ch.type for ch in c.channels} == {"webhook", "slack", "pagerduty", "email"}
    assert c.dedup_window_seconds == 1800
    assert c.attempts == 4
    pd = next(ch for ch in c.channels if ch.type == "pagerduty")
    assert pd.url == PAGERDUTY_URL


def test_each_alert_goes_to_the_channels_whose_minimum_severity_it_reaches() -> None:
    c = parse_notify_config(
        config(
            ops={"type": "webhook", "url": "http://x", "secret_env": "S", "min_severity": "low"},
            page={"type": "pagerduty", "secret_env": "S", "min_severity": "critical"},
            mail={
                "type": "email",
                "host": "smtp",
                "from": "a@x",
                "to": ["b@x"],
                "min_severity": "high",
            },
        ),
        {"S": "s"},
    )
    assert [ch.name for ch in routes(c, "low")] == ["ops"]
    assert [ch.name for ch in routes(c, "high")] == ["ops", "mail"]
    assert [ch.name for ch in routes(c, "critical")] == ["ops", "page", "mail"]
    assert [ch.name for ch in routes(c, "something-new")] == ["ops", "page", "mail"]


def test_a_secret_comes_from_a_file_and_never_shows_in_its_repr(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("file-secret\n")
    c = parse_notify_config(
        config(hook={"type": "webhook", "url": "https://x", "secret_file": "key"}),
        {},
        base=tmp_path,
    )
    secret = c.channels[0].secret
    assert isinstance(secret, Secret)
    assert secret.reveal() == "file-secret"
    assert "file-secret" not in repr(c)
    assert "file-secret" not in str(secret)


@pytest.mark.parametrize(
    ("channel", "message"),
    [
        ({"type": "webhook", "url": "https://x"}, "needs its signing secret"),
        ({"type": "slack"}, "needs its webhook URL"),
        ({"type": "webhook", "url": "ftp://x", "secret_env": "S"}, "must be an http"),
        ({"type": "sms"}, "must be one of"),
        ({"type": "pagerduty", "secret_env": "MISSING"}, "MISSING is unset"),
        ({"type": "email", "host": "h"}, "needs host, from and to"),
        ({"type": "pagerduty", "secret_env": "S", "min_severity": "huge"}, "min_severity"),
        ({"type": "pagerduty", "secret_env": "S", "rate_per_minute": -1}, "rate_per_minute"),
        ({"type": "pagerduty", "secret_env": "S", "password": "x"}, "unknown key"),
    ],
)
def test_bad_channels_are_refused_naming_the_key(channel: dict[str, object], message: str) -> None:
    with pytest.raises(NotifyConfigError, match=message) as err:
        parse_notify_config(config(c=channel), {"S": "top-secret-value"})
    assert "top-secret-value" not in str(err.value)
