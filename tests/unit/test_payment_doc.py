"""docs/payment-integration.md: its Python samples run against an in-memory registry and
use the real names (client classes, answer fields, the endpoint's path)."""

from __future__ import annotations

import io
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from tests.unit.registry_fakes import MemoryRegistry
from tests.unit.test_registry_projection import HELD_THEN_RELEASED, project_all
from withdrawguard.registry.decision import Decision
from withdrawguard.registry.keys import RegistryKeys, registry_prefix
from withdrawguard.web.decision_api import PATH

DOC = Path(__file__).resolve().parents[2] / "docs" / "payment-integration.md"


def samples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


@pytest.fixture
async def namespace(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The samples run one after the other in one namespace, Redis replaced by a fake
    holding W1 (held, then released) under the default app id."""
    reg = MemoryRegistry(keys=RegistryKeys(registry_prefix("withdrawguard")))
    await project_all(HELD_THEN_RELEASED[:2], reg)
    monkeypatch.setattr(redis.Redis, "from_url", lambda *a, **k: reg.sync_reader())
    monkeypatch.setattr(redis.asyncio.Redis, "from_url", lambda *a, **k: reg.async_reader())
    ns: dict[str, Any] = {"__registry__": reg}
    for code in samples():
        exec(compile(code, str(DOC), "exec"), ns)  # noqa: S102 - our own documentation
    return ns


def test_the_doc_has_the_three_samples() -> None:
    assert len(samples()) == 3


async def test_the_sync_sample_holds_a_held_withdrawal_and_pays_a_released_one(
    namespace: dict[str, Any],
) -> None:
    may_pay_out = namespace["may_pay_out"]
    assert may_pay_out("W1") is False
    await project_all(HELD_THEN_RELEASED[2:], namespace["__registry__"])
    assert may_pay_out("W1") is True


async def test_the_async_sample_fails_closed_on_an_unknown_withdrawal(
    namespace: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import withdrawguard.client

    monkeypatch.setattr(withdrawguard.client, "POLL_SECONDS", 0.01)
    assert await namespace["may_pay_out_async"]("W-unknown") is False
    await project_all(HELD_THEN_RELEASED[2:], namespace["__registry__"])
    assert await namespace["may_pay_out_async"]("W1") is True


def test_the_http_sample_calls_the_endpoint_path_the_worker_serves_with_the_id_quoted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    [http_sample] = [c for c in samples() if "urllib" in c]
    assert PATH == "/api/withdrawals/{withdrawal_id}/decision"
    namespace: dict[str, Any] = {}
    exec(compile(http_sample, "payment-integration.md", "exec"), namespace)  # noqa: S102 - the doc's own sample
    asked: list[str] = []

    class Answer(io.BytesIO):
        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    def urlopen(request: Any, timeout: float) -> Answer:
        asked.append(request.full_url)
        return Answer(b'{"decision": "hold"}')

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    answer = namespace["decision_over_http"]("http://w:6066", "t", "W 1/2")
    assert answer == {"decision": "hold"}
    assert asked == ["http://w:6066" + PATH.replace("{withdrawal_id}", "W%201%2F2")]


def test_every_answer_field_the_doc_lists_is_in_the_answer() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text.split("What the answer holds")[1].split("A withdrawal whose hold")[0]
    listed = set(re.findall(r"`(\w+)`", table.split("|---|---|")[1]))
    fields = set(Decision("W1", "pending").to_json())
    assert listed - {"allow", "hold", "pending", "null", "true", "held", "released",
                     "confirmed_fraud", "decision"} <= fields  # fmt: skip
    assert {"decision", "verdict", "hold_status", "fail_closed", "error"} <= listed
