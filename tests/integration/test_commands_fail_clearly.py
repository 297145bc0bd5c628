"""No traceback from any command: every `withdrawguard` subcommand run with no arguments,
with wrong ones, with no terminal, and with Kafka or Redis unreachable exits non-zero
with a last line on stderr that names the problem (the file, the key, the service).

Each row runs the real command in a subprocess (stdin from /dev/null: no terminal). The
services are "unreachable" by pointing at a closed port, so no stack is needed; the rows
run in parallel because a Kafka client gives up on an unreachable broker only after its
bootstrap timeout (30 s).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from withdrawguard.auth.users import add_user

NO_KAFKA = "localhost:1"
NO_REDIS = "redis://localhost:1/0"
TMP = Path("/TMP")
"""Stands for the test's temporary directory in the rows (so their names are stable)."""


@dataclass(frozen=True)
class Row:
    args: tuple[str, ...]
    says: tuple[str, ...]
    """Fragments the last stderr line must hold (case-insensitive)."""
    env: dict[str, str] = field(default_factory=dict)
    stdin: str | None = None
    exit_code: int | None = None

    @property
    def name(self) -> str:
        return " ".join(self.args) or "(none)"


def _rows(tmp: Path) -> list[Row]:
    policy, password = tmp / "policy.toml", tmp / "password"
    as_ana = ("--user", "ana", "--password-file", str(password))
    return [
        # no arguments, or wrong ones (argparse: exit 2, the problem on the last line)
        Row((), ("required", "command"), exit_code=2),
        Row(("nonsense",), ("invalid choice", "nonsense"), exit_code=2),
        Row(("topics",), ("required", "action"), exit_code=2),
        Row(("registry",), ("required", "action"), exit_code=2),
        Row(("policy",), ("required", "action"), exit_code=2),
        Row(("cases",), ("required", "action"), exit_code=2),
        Row(("users",), ("required", "action"), exit_code=2),
        Row(("scan",), ("required", "--out"), exit_code=2),
        Row(("simulate",), ("--out", "--kafka"), exit_code=2),
        Row(("demo", "--customers", "many"), ("invalid", "many"), exit_code=2),
        Row(("cases", "list"), ("required", "--user"), exit_code=2),
        Row(("scan", "--out", str(tmp / "o"), str(tmp / "missing.jsonl")), ("missing.jsonl",)),
        Row(("simulate", "--out", str(tmp / "s"), "--customers", "-3"), ("customers",)),
        # a setting that cannot be used
        Row(("settings",), ("WG_PARTITIONS",), env={"WG_PARTITIONS": "many"}, exit_code=2),
        # no terminal
        Row(("users", "add", "alice", "--role", "admin"), ("--password-stdin",), exit_code=2),
        Row(
            ("users", "add", "alice", "--role", "admin", "--password-stdin"),
            ("read nothing",),
            stdin="",
            exit_code=2,
        ),
        Row(
            ("users", "add", "bob smith<>", "--role", "analyst", "--password-stdin"),
            ("user name", "not allowed"),
            stdin="long-enough-pw\n",
            exit_code=2,
        ),
        Row(("cases", "list", "--user", "ana"), ("--password-file",), exit_code=2),
        Row(("policy", "diff", "default", "nope.toml"), ("kafka", NO_KAFKA)),
        # Kafka unreachable
        Row(("topics", "create"), ("kafka", NO_KAFKA, "WG_KAFKA_BOOTSTRAP")),
        Row(("policy", "list"), ("kafka", NO_KAFKA, "WG_KAFKA_BOOTSTRAP")),
        Row(("demo",), ("kafka", NO_KAFKA)),
        Row(("scan", "--kafka", "--out", str(tmp / "k")), ("kafka", NO_KAFKA)),
        Row(
            ("simulate", "--kafka", "--customers", "60", "--labels", str(TMP / "labels.jsonl")),
            ("kafka", NO_KAFKA),
        ),
        Row(("cases", "take", *as_ana), ("kafka", NO_KAFKA)),
        # Redis unreachable
        Row(("registry", "rebuild"), ("kafka", NO_KAFKA)),
        Row(("cases", "list", *as_ana), ("redis", "localhost:1")),
        # a file named by a setting that is not there
        Row(
            ("policy", "publish", str(policy), "--note", "x", "--user", "ana"),
            ("WG_ADMIN_PASSWORD_FILE", "absent-password"),
            env={"WG_ADMIN_PASSWORD_FILE": str(tmp / "absent-password")},
        ),
        Row(("cases", "list", "--user", "ana", "--password-file", str(tmp / "nope")), ("nope",)),
    ]


def _run(row: Row, base: dict[str, str], tmp: Path) -> tuple[Row, subprocess.CompletedProcess[str]]:
    env = {k: v.replace(str(TMP), str(tmp)) for k, v in {**base, **row.env}.items()}
    args = [a.replace(str(TMP), str(tmp)) for a in row.args]
    done = subprocess.run(
        [sys.executable, "-m", "withdrawguard", *args],
        input=row.stdin,
        stdin=subprocess.DEVNULL if row.stdin is None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    return row, done


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Row, object]]:
    tmp = tmp_path_factory.mktemp("commands")
    add_user(tmp / "users.json", "ana", "analyst", "pw-ana-123")
    (tmp / "password").write_text("pw-ana-123\n", encoding="utf-8")
    (tmp / "policy.toml").write_text("[limits]\n", encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
    base |= {
        "WG_KAFKA_BOOTSTRAP": NO_KAFKA,
        "WG_REDIS_URL": NO_REDIS,
        "WG_USERS_FILE": str(tmp / "users.json"),
        "WG_DATA_DIR": str(tmp / "data"),
    }
    rows = _rows(TMP)
    with ThreadPoolExecutor(max_workers=len(rows)) as pool:
        results = list(pool.map(lambda r: _run(r, base, tmp), rows))
    return {row.name: (row, done) for row, done in results}


def _names() -> list[str]:
    return [row.name for row in _rows(TMP)]


@pytest.mark.parametrize("name", _names())
def test_a_failing_command_says_what_failed_in_one_line_without_a_traceback(
    outcomes: dict[str, tuple[Row, subprocess.CompletedProcess[str]]], name: str
) -> None:
    row, done = outcomes[name]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode != 0, (done.stdout, done.stderr)
    if row.exit_code is not None:
        assert done.returncode == row.exit_code, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    last = lines[-1]
    assert last.startswith("withdrawguard"), done.stderr
    for fragment in row.says:
        assert fragment.lower() in last.lower(), f"{fragment!r} not in {last!r}"
