"""Security settings: Kafka TLS/SASL and Redis password/TLS are read from WG_ variables,
checked together, turned into each client's options, and secrets are never printed."""

from __future__ import annotations

import ssl
from pathlib import Path

import faust
import pytest

from withdrawguard.adapters.kafka_security import faust_credentials, kafka_python_options
from withdrawguard.adapters.redis_connection import explain, redis_options, shown_url
from withdrawguard.cli import main
from withdrawguard.secret import Secret
from withdrawguard.settings import Settings, SettingsError


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "ca.pem").write_text("not read until a client connects")
    (tmp_path / "kafka.pw").write_text("kafka-pw-123\n")
    (tmp_path / "redis.pw").write_text("redis-pw-456\n")
    return {name: str(tmp_path / name) for name in ("ca.pem", "kafka.pw", "redis.pw")}


def sasl_env(files: dict[str, str]) -> dict[str, str]:
    return {
        "WG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "WG_KAFKA_SASL_USERNAME": "wg",
        "WG_KAFKA_SASL_PASSWORD_FILE": files["kafka.pw"],
    }


def test_sasl_ssl_settings_become_kafka_python_options_with_the_password_from_its_file(
    files: dict[str, str],
) -> None:
    s = Settings.from_env(sasl_env(files))
    options = kafka_python_options(s)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "wg",
        "kafka-pw-123",
    )
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].check_hostname


def test_sasl_ssl_settings_become_faust_sasl_credentials() -> None:
    s = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="wg",
        kafka_sasl_password=Secret("pw"),
    )
    credentials = faust_credentials(s)["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert "pw" not in repr(credentials)


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    assert kafka_python_options(Settings()) == {}
    assert faust_credentials(Settings()) == {}
    assert redis_options(Settings()) == {}


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WG_KAFKA_SECURITY_PROTOCOL": "TLS"}, "WG_KAFKA_SECURITY_PROTOCOL must be one of"),
        ({"WG_KAFKA_SASL_MECHANISM": "GSSAPI"}, "WG_KAFKA_SASL_MECHANISM must be one of"),
        ({"WG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "needs WG_KAFKA_SASL_USERNAME"),
        (
            {"WG_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "WG_KAFKA_SASL_USERNAME": "wg"},
            "needs WG_KAFKA_SASL_PASSWORD_FILE",
        ),
        ({"WG_KAFKA_SASL_USERNAME": "wg"}, "WG_KAFKA_SECURITY_PROTOCOL is PLAINTEXT"),
        ({"WG_KAFKA_SSL_CAFILE": "/etc/hosts"}, "WG_KAFKA_SSL_CAFILE is set but"),
        (
            {"WG_KAFKA_SECURITY_PROTOCOL": "SSL", "WG_KAFKA_SSL_CAFILE": "/nonexistent.pem"},
            "WG_KAFKA_SSL_CAFILE: /nonexistent.pem is not a readable file",
        ),
        ({"WG_REDIS_TLS_CAFILE": "/etc/hosts"}, "is not a rediss:// (TLS) URL"),
        ({"WG_REDIS_URL": "http://x"}, "WG_REDIS_URL must be a redis://"),
        (
            {"WG_REDIS_URL": "rediss://x", "WG_REDIS_TLS_CERTFILE": "/etc/hosts"},
            "WG_REDIS_TLS_CERTFILE and WG_REDIS_TLS_KEYFILE go together",
        ),
        (
            {"WG_REDIS_PASSWORD": "a", "WG_REDIS_PASSWORD_FILE": "/etc/hosts"},
            "not both",
        ),
    ],
)
def test_inconsistent_security_settings_are_refused_naming_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError, match=named.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_redis_password_and_tls_files_become_redis_options(files: dict[str, str]) -> None:
    s = Settings.from_env(
        {
            "WG_REDIS_URL": "rediss://cache:6380/0",
            "WG_REDIS_PASSWORD_FILE": files["redis.pw"],
            "WG_REDIS_USERNAME": "wg",
            "WG_REDIS_TLS_CAFILE": files["ca.pem"],
        }
    )
    assert redis_options(s) == {
        "password": "redis-pw-456",
        "username": "wg",
        "ssl_ca_certs": files["ca.pem"],
    }


def test_the_settings_command_never_prints_a_secret(
    files: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in sasl_env(files).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("WG_REDIS_PASSWORD", "redis-env-secret")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "WG_REDIS_PASSWORD=Secret('***')" in out
    assert "redis-env-secret" not in out and "kafka-pw-123" not in out


def test_a_password_in_a_redis_url_is_never_shown() -> None:
    s = Settings(redis_url="redis://wg:hunter2@cache:6379/0")
    assert shown_url(s.redis_url) == "redis://wg:***@cache:6379/0"
    assert "hunter2" not in explain(OSError("connection refused"), s)
