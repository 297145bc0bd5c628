"""`make demo`: the demo console user's file, the worker, then `withdrawguard demo`.

The demo's logic is in the package (`withdrawguard.sim.demo`); this only sets the users
file (default .local/demo/users.json, unless WG_USERS_FILE is set) for both the worker
and the demo, and starts the worker in the background (scripts/worker.sh).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from withdrawguard import cli

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    os.environ.setdefault("WG_USERS_FILE", str(ROOT / ".local" / "demo" / "users.json"))
    worker = [ROOT / "scripts" / "worker.sh", "start"]
    subprocess.run(worker, check=True)  # noqa: S603 - our own script, no user input
    sys.exit(cli.main(["demo", *sys.argv[1:]]))
