"""Unit-test fixtures: the engine with the default policy and a `Player` around it."""

from __future__ import annotations

import pytest

from tests.unit.player import Player
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(load_policy())


@pytest.fixture
def player(engine: Engine) -> Player:
    return Player(engine, CrossReference(engine.policy))
