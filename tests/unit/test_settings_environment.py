"""Settings keep the environment they were built from, for the secrets a notification
routing file names: read once at the entry point, never shown, never read again."""

from __future__ import annotations

from pathlib import Path

import pytest

from withdrawguard.cli import main
from withdrawguard.notify.config import load_notify_config
from withdrawguard.settings import Settings, describe, setting_fields

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "notify.example.toml"
SECRETS = {
    "WG_WEBHOOK_SECRET": "whsec-1",
    "WG_SLACK_WEBHOOK_URL": "https://hooks.slack.test/services/T/B/X",
    "WG_PAGERDUTY_ROUTING_KEY": "pd-key",
    "WG_SMTP_PASSWORD": "smtp-pass",
}


def test_the_routing_files_secrets_resolve_from_the_environment_the_settings_read() -> None:
    settings = Settings.from_env({**SECRETS, "WG_PARTITIONS": "3"})
    config = load_notify_config(EXAMPLE, settings.environ)
    assert {ch.type for ch in config.channels} == {"webhook", "slack", "pagerduty", "email"}


def test_the_environment_is_a_copy_that_cannot_change() -> None:
    source = dict(SECRETS)
    settings = Settings.from_env(source)
    source["WG_SMTP_PASSWORD"] = "changed"
    assert settings.environ["WG_SMTP_PASSWORD"] == "smtp-pass"
    with pytest.raises(TypeError):
        settings.environ["X"] = "y"  # type: ignore[index]


def test_the_environment_never_shows_its_values(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings.from_env(SECRETS)
    assert "whsec-1" not in repr(settings) and "whsec-1" not in str(settings.environ)
    monkeypatch.setenv("WG_WEBHOOK_SECRET", "whsec-1")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "whsec-1" not in out and "ENVIRON" not in out


def test_the_environment_is_not_a_setting_and_settings_built_directly_have_none() -> None:
    assert "environ" not in {f.name for f in setting_fields(Settings)}
    assert len(describe()) == len(setting_fields(Settings))
    assert dict(Settings().environ) == {}
    assert Settings.from_env(SECRETS) == Settings()  # compared by settings alone
