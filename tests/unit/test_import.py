"""Importing withdrawguard does nothing but import: no files, no output, no environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MODULES = [
    "withdrawguard",
    "withdrawguard.cli",
    "withdrawguard.settings",
    "withdrawguard.engine.decide",
    "withdrawguard.engine.crossref",
    "withdrawguard.streaming.app",
    "withdrawguard.worker.app",
    "withdrawguard.streaming.detect.pipeline",
    "withdrawguard.worker.run",
    "withdrawguard.web.health",
    "withdrawguard.streaming.sinks.notify",
    "withdrawguard.streaming.sinks.consumer",
    "withdrawguard.streaming.sinks.registry",
    "withdrawguard.adapters.notify",
    "withdrawguard.sim.scenarios",
    "withdrawguard.scan.command",
    "withdrawguard.scan.kafka_input",
]


def test_importing_every_module_creates_nothing_and_prints_nothing(tmp_path: Path) -> None:
    code = "import " + ", ".join(MODULES)
    env = {**os.environ, "WG_PARTITIONS": "not-a-number", "WG_DATA_DIR": str(tmp_path / "d")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    assert result.stderr == b""
    assert list(tmp_path.iterdir()) == []  # no data dir, no .local, nothing
