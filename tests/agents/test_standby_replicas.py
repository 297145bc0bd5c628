"""WG_TABLE_STANDBY_REPLICAS reaches Faust: the warm copies of the tables that other
workers keep (docs/reliability.md, Standby replicas)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.settings import Settings
from withdrawguard.worker.app import create_app


@pytest.mark.parametrize("replicas", ["0", "1", "2"])
def test_the_app_keeps_as_many_standby_copies_as_the_setting_says(
    tmp_path: Path, replicas: str
) -> None:
    given = Settings.from_env({"WG_STORE": "memory", "WG_TABLE_STANDBY_REPLICAS": replicas})
    app = create_app(
        replace(given, data_dir=tmp_path, app_id="wg-agents-standby"), Engine(load_policy())
    ).app
    assert app.conf.table_standby_replicas == int(replicas)
