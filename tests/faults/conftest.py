"""Fault-suite fixtures: the real services (the integration harness's), the load size,
and a directory per test for worker logs, data and seeded secrets.

WG_FAULT_EVENTS sets the load of each fault test: unset, the CI size (`make test` runs
the suite in about eight minutes on a 2-core machine); `make test-faults` sets the full
100,000 (see docs/reliability.md). WG_FAULT_SEED changes the seed of every random choice.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.harness import services

__all__ = ["services"]

CI_EVENTS = 6_000


@pytest.fixture(scope="session")
def fault_events() -> int:
    raw = os.environ.get("WG_FAULT_EVENTS", str(CI_EVENTS))
    try:
        events = int(raw)
    except ValueError:
        pytest.fail(f"WG_FAULT_EVENTS must be an integer, got {raw!r}", pytrace=False)
    if events < 1000:
        pytest.fail(f"WG_FAULT_EVENTS must be at least 1000, got {events}", pytrace=False)
    return events


@pytest.fixture(scope="session")
def fault_seed() -> int:
    return int(os.environ.get("WG_FAULT_SEED", "20200908"))


@pytest.fixture
def fault_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    return tmp_path_factory.mktemp(request.node.name[:40])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The log scan runs after every other fault test: it reads their logs too."""
    items.sort(key=lambda item: item.path.name == "test_log_secrets.py")
