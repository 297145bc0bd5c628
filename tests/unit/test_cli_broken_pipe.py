"""A reader that goes away (`withdrawguard ... | head`) is no failure of ours: no
traceback, no blame on Redis or Kafka, the exit status of a tool killed by SIGPIPE."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_command_whose_reader_went_away_exits_quietly_as_sigpipe_would() -> None:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the command writes a line
    try:
        done = subprocess.run(
            [sys.executable, "-m", "withdrawguard", "settings"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "WG_STACK": "local"},
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 141
