"""Redis with a password and TLS (client certificate too): every client withdrawguard
makes connects with the settings, and a missing or wrong password or an untrusted
server certificate is a one-line error naming the setting, never showing a secret."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from tests.integration.harness import ROOT, env_of, isolated_settings
from tests.integration.secure_redis import SecureRedis
from withdrawguard.adapters.redis_connection import (
    async_redis,
    explain,
    redis_options,
    sync_redis,
)
from withdrawguard.client import AsyncDecisionClient, DecisionClient
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration


@pytest.fixture
def good(secure_redis: SecureRedis) -> Settings:
    return Settings(**secure_redis.settings())


def refusal(settings: Settings) -> str:
    with pytest.raises((redis.RedisError, OSError)) as caught:
        sync_redis(settings, socket_connect_timeout=5).ping()
    return explain(caught.value, settings)


def test_every_client_connects_with_tls_a_client_certificate_and_the_password(
    good: Settings,
) -> None:
    assert sync_redis(good).ping()

    async def both() -> None:
        client = async_redis(good)
        assert await client.ping()
        await client.aclose()
        async with AsyncDecisionClient(good.redis_url, "wg-tls", **redis_options(good)) as dc:
            answer = await dc.decision("wd-none")
            assert (answer.decision, answer.fail_closed) == ("pending", False)

    asyncio.run(both())
    with DecisionClient(good.redis_url, "wg-tls", **redis_options(good)) as client:
        answer = client.decision("wd-none")
        assert (answer.decision, answer.fail_closed) == ("pending", False)


def test_a_missing_password_is_a_clear_error(good: Settings) -> None:
    message = refusal(replace(good, redis_password_file=None))
    assert message.endswith("asks for a password: set WG_REDIS_PASSWORD_FILE")


def test_a_wrong_password_is_a_clear_error_without_the_password(
    good: Settings, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("guess-123\n")
    message = refusal(replace(good, redis_password_file=wrong))
    assert "refused the password of WG_REDIS_PASSWORD_FILE" in message
    assert "guess-123" not in message


def test_an_untrusted_server_certificate_is_a_clear_error(good: Settings) -> None:
    message = refusal(replace(good, redis_tls_cafile=None))
    assert message.endswith("does not trust: set WG_REDIS_TLS_CAFILE")


def test_the_decision_client_holds_when_the_password_is_wrong(good: Settings) -> None:
    with DecisionClient(good.redis_url, "wg-tls", **(redis_options(good) | {"password": "x"})) as c:
        answer = c.decision("wd-1")
    assert (answer.decision, answer.fail_closed) == ("hold", True)
    assert "invalid username-password pair" in (answer.error or "")


def test_registry_rebuild_over_tls_works_and_without_the_password_says_why(
    secure_redis: SecureRedis, services: tuple[str, str], tmp_path: Path
) -> None:
    settings = isolated_settings(services, "tls", tmp_path, **secure_redis.settings())
    ok = subprocess.run(
        [sys.executable, "-m", "withdrawguard", "registry", "rebuild"],
        env=env_of(settings), cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "done: 0 records read" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "withdrawguard", "registry", "rebuild"],
        env=env_of(replace(settings, redis_password_file=None)),
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        f"withdrawguard: Redis at {settings.redis_url} asks for a password: "
        "set WG_REDIS_PASSWORD_FILE"
    )
    assert "Traceback" not in bad.stderr
