"""The payment client fails closed: no verdict by the timeout, or no Redis, means hold."""

from __future__ import annotations

import socket
import time

import pytest

from tests.unit.registry_fakes import MemoryRegistry
from tests.unit.test_registry_projection import HELD_THEN_RELEASED, project_all
from withdrawguard.client import AsyncDecisionClient, DecisionClient


def dead_redis_url() -> str:
    with socket.socket() as s:  # a port nothing listens on once the socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/0"


def fake_client(reg: MemoryRegistry) -> DecisionClient:
    return DecisionClient("redis://unused", "test", redis_client=reg.sync_reader())


async def test_a_held_withdrawal_reads_hold_and_once_released_allow() -> None:
    reg = await project_all(HELD_THEN_RELEASED[:2])
    assert fake_client(reg).decision("W1").decision == "hold"
    await project_all(HELD_THEN_RELEASED[2:], reg)
    answer = fake_client(reg).decision("W1")
    assert answer.decision == "allow" and answer.may_pay_out and answer.hold_status == "released"
    assert [r["code"] for r in answer.reasons] == ["DRAIN", "RELEASED"]


async def test_await_decision_answers_hold_when_no_verdict_arrives_by_the_timeout() -> None:
    reg = await project_all(HELD_THEN_RELEASED)  # a deployment writes here, not about W-none
    started = time.monotonic()
    answer = fake_client(reg).await_decision("W-none", timeout=0.2)
    elapsed = time.monotonic() - started
    assert answer.decision == "hold" and answer.fail_closed and not answer.may_pay_out
    assert answer.error == "no verdict within 0.2s"
    assert 0.2 <= elapsed < 0.5


async def test_a_timeout_under_an_app_id_no_worker_writes_says_to_check_the_app_id() -> None:
    reg = await project_all(HELD_THEN_RELEASED)  # written under app id "test"
    typo = DecisionClient("redis://unused", "tset", redis_client=reg.sync_reader())
    answer = typo.await_decision("W1", timeout=0.1)
    assert answer.decision == "hold" and answer.fail_closed
    assert answer.error is not None and answer.error.startswith("no verdict within 0.1s; ")
    assert "app id 'tset'" in answer.error and "WG_APP_ID" in answer.error
    asynchronous = AsyncDecisionClient("redis://unused", "tset", redis_client=reg.async_reader())
    waited = await asynchronous.await_decision("W1", timeout=0.1)
    assert waited.error is not None and "app id 'tset'" in waited.error
    right = await AsyncDecisionClient(
        "redis://unused", "test", redis_client=reg.async_reader()
    ).await_decision("W-none", timeout=0.1)
    assert right.error == "no verdict within 0.1s"


async def test_await_decision_returns_as_soon_as_the_verdict_is_there() -> None:
    reg = await project_all(HELD_THEN_RELEASED)
    started = time.monotonic()
    answer = fake_client(reg).await_decision("W1", timeout=5)
    assert answer.decision == "allow" and not answer.fail_closed
    assert time.monotonic() - started < 0.1


def test_an_unreachable_redis_reads_as_hold_at_once_and_after_the_wait() -> None:
    with DecisionClient(dead_redis_url(), "test") as client:
        answer = client.decision("W1")
        assert answer.decision == "hold" and answer.fail_closed
        assert answer.error is not None and answer.error.startswith("registry unavailable")
        waited = client.await_decision("W1", timeout=0.3)
        assert waited.decision == "hold" and waited.fail_closed


async def test_the_async_client_fails_closed_on_timeout_and_on_a_dead_redis() -> None:
    reg = MemoryRegistry()
    fake = AsyncDecisionClient("redis://unused", "test", redis_client=reg.async_reader())
    started = time.monotonic()
    answer = await fake.await_decision("W-none", timeout=0.2)
    assert answer.decision == "hold" and answer.fail_closed
    assert time.monotonic() - started < 0.5
    async with AsyncDecisionClient(dead_redis_url(), "test") as dead:
        assert (await dead.decision("W1")).fail_closed
        answer = await dead.await_decision("W1", timeout=0.3)
        assert answer.decision == "hold" and answer.error is not None
        assert "registry unavailable" in answer.error


async def test_the_async_client_sees_a_verdict_that_arrives_while_it_waits() -> None:
    import asyncio

    reg = MemoryRegistry()
    client = AsyncDecisionClient("redis://unused", "test", redis_client=reg.async_reader())
    waiting = asyncio.create_task(client.await_decision("W1", timeout=2))
    await asyncio.sleep(0.1)
    await project_all(HELD_THEN_RELEASED[:2], reg)
    answer = await waiting
    assert answer.decision == "hold" and not answer.fail_closed


@pytest.mark.parametrize("timeout", [0, -1])
def test_a_zero_or_negative_timeout_still_looks_once(timeout: float) -> None:
    answer = fake_client(MemoryRegistry()).await_decision("W1", timeout=timeout)
    assert answer.decision == "hold" and answer.fail_closed
