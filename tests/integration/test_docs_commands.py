"""The docs' command examples, run: a console block marked `<!-- doc-test -->` in
README.md or docs/*.md is executed as written, and what it shows must be what the
product prints.

- In a marked block, a line starting with `$ ` is a command (a line ending in `\\`
  continues it); the lines up to the next command are what it shows. Each shown line
  must appear in the command's output (stdout and stderr), in order, with runs of spaces
  compared as one; a line `...` stands for lines left out, and `...` within a line for
  any text (an id made anew on each run). The command must exit 0.
- A fenced block marked `<!-- doc-file: NAME -->` earlier in the same document is a file
  the examples use: it is written as NAME into the directory the block runs in.
- A command `export NAME=VALUE ...` sets those variables for the block's later commands,
  as it would in the reader's shell (each command runs in a shell of its own); a VALUE
  `$(command)` is what that command prints.
- Each block runs in a fresh directory with `withdrawguard` of this checkout on PATH, a
  deployment of its own (WG_APP_ID, and WG_TOPIC_PREFIX for its topics) and the test
  stack's Kafka and Redis.
- A block marked `<!-- doc-test: worker -->` runs beside a `withdrawguard worker` of its
  deployment, started before its first command (its topics created, its web server on a
  free port given to the block as WG_WEB_PORT). The worker works in the background, as
  the reader's does: a command that only reads (`READS`: `curl`, `cases list`, `cases
  show`) and fails or does not yet show the doc's lines is run again, as the reader
  would a moment later, until it does or `SETTLE_S` have passed. Any other command runs
  once: running it again would act again.
- Times (`2026-12-05 22:49:12Z`, RFC 3339) compare as any time: a reader's run has its
  own.

So an example that drifts from the product fails here, not in a reader's terminal.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.harness import Worker, env_of, isolated_settings
from withdrawguard.settings import Settings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARK = "<!-- doc-test -->"
WORKER_MARK = "<!-- doc-test: worker -->"
NOT_RUN = re.compile(r"<!-- not run by the docs test: \S.* -->")
"""Said right before a command block the test cannot run, with the reason."""
SHELL = ("console", "sh", "shell", "bash")
SETTLE_S = 300.0
"""How long a reading command of a worker block may take to show what the doc shows."""
READS = re.compile(r"curl |withdrawguard cases (list|show) ")
TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:\d\d)?")
FILE_MARK = re.compile(r"<!-- doc-file: ([\w.-]+) -->")


@dataclass
class Step:
    command: str
    shows: list[str] = field(default_factory=list)


@dataclass
class Example:
    doc: Path
    line: int
    steps: list[Step]
    files: dict[str, str]
    worker: bool = False

    @property
    def name(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def _fence(lines: list[str], start: int) -> tuple[str, list[str], int]:
    """(info string, body lines, index after the closing fence) of the block opening at
    or after `start` (blank lines before it allowed)."""
    i = start
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not lines[i].startswith("```"):
        raise AssertionError(f"a doc marker at line {start} is not followed by a fenced block")
    info, body = lines[i][3:].strip(), []
    i += 1
    while not lines[i].startswith("```"):
        body.append(lines[i])
        i += 1
    return info, body, i + 1


def _steps(body: list[str]) -> list[Step]:
    steps: list[Step] = []
    pending = ""
    for raw in body:
        if pending:
            pending += "\n" + raw
            if not raw.endswith("\\"):
                steps.append(Step(pending))
                pending = ""
        elif raw.startswith("$ "):
            if raw.endswith("\\"):
                pending = raw[2:]
            else:
                steps.append(Step(raw[2:]))
        else:
            assert steps, f"output before any command: {raw!r}"
            steps[-1].shows.append(raw)
    return steps


def examples() -> list[Example]:
    found: list[Example] = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        files: dict[str, str] = {}
        for i, line in enumerate(lines):
            named = FILE_MARK.fullmatch(line.strip())
            if named:
                _, body, _ = _fence(lines, i + 1)
                files[named.group(1)] = "\n".join(body) + "\n"
            elif line.strip() in (MARK, WORKER_MARK):
                info, body, _ = _fence(lines, i + 1)
                assert info == "console", f"{doc.name}:{i + 1}: a doc-test block is `console`"
                worker = line.strip() == WORKER_MARK
                found.append(Example(doc, i + 1, _steps(body), dict(files), worker))
            else:
                assert not line.strip().startswith("<!-- doc-test"), (
                    f"{doc.name}:{i + 1}: unknown marker {line.strip()!r}"
                )
    return found


def _same(line: str) -> str:
    return " ".join(TIME.sub("<time>", line).split())


def _shown_in_order(shows: list[str], output: str) -> str | None:
    """None when every shown line is in `output` in order; else the first one missing."""
    got = [_same(x) for x in output.splitlines()]
    at = 0
    for want in (_same(x) for x in shows):
        if want in ("", "..."):
            continue
        pattern = re.compile(".*".join(re.escape(part) for part in want.split("...")))
        found = next((i for i in range(at, len(got)) if pattern.fullmatch(got[i])), None)
        if found is None:
            return want
        at = found + 1
    return None


def _env(settings: Settings, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
    deployment = f"wg-doc-{uuid.uuid4().hex[:8]}"
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "WG_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "WG_REDIS_URL": settings.redis_url,
        "WG_APP_ID": deployment,
        # The policy, case and input topics are not named by the app id: without a prefix
        # of its own a block would see what an earlier run published.
        "WG_TOPIC_PREFIX": f"{deployment}.",
        "WG_DATA_DIR": str(workdir / ".data"),
    }
    return env


def _exported(command: str, env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The environment after an `export A=x B=y` command, as the reader's shell makes
    it (a value may be `$(command)`: what that command prints)."""
    if "$(" not in command:
        words = shlex.split(command)[1:]
        assert words and all(re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", w) for w in words), (
            f"an export in a doc example sets NAME=VALUE only: {command!r}"
        )
        return env | dict(w.split("=", 1) for w in words)
    done = subprocess.run(
        ["bash", "-c", f"set -eo pipefail; {command}; env -0"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"$ {command}\nexit {done.returncode}\n{done.stderr}"
    return dict(v.split("=", 1) for v in done.stdout.split("\0") if "=" in v)


EXAMPLES = examples()


def test_the_docs_mark_examples_to_run() -> None:
    assert EXAMPLES, "no <!-- doc-test --> block in README.md or docs/"


def test_every_command_block_is_run_or_says_why_it_is_not() -> None:
    unmarked = []
    for doc in DOCS:
        lines = doc.read_text(encoding="utf-8").splitlines()
        inside = False
        for i, line in enumerate(lines):
            if not line.strip().startswith("```"):
                continue
            if not inside and line.strip()[3:].strip() in SHELL:
                before = next((x.strip() for x in reversed(lines[:i]) if x.strip()), "")
                if before not in (MARK, WORKER_MARK) and not NOT_RUN.fullmatch(before):
                    unmarked.append(f"{doc.relative_to(ROOT)}:{i + 1}")
            inside = not inside
    assert not unmarked, f"command blocks neither marked to run nor saying why not: {unmarked}"


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_a_marked_doc_example_prints_what_the_doc_shows(
    example: Example, settings: Settings, services: tuple[str, str], tmp_path: Path
) -> None:
    for name, text in example.files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    if not example.worker:
        _run_steps(example, _env(settings, tmp_path), tmp_path, settle_s=0)
        return
    deployment = isolated_settings(services, "doc", tmp_path / ".data")
    env = env_of(deployment)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    worker = Worker(deployment, tmp_path / "worker.log")
    worker.start()
    try:
        _run_steps(example, env, tmp_path, settle_s=SETTLE_S)
    finally:
        worker.stop()


def _run_steps(example: Example, env: dict[str, str], cwd: Path, settle_s: float) -> None:
    for step in example.steps:
        if step.command.startswith("export "):
            env = _exported(step.command, env, cwd)
            continue
        deadline = time.monotonic() + (settle_s if READS.match(step.command) else 0)
        while True:
            done = subprocess.run(
                ["bash", "-c", step.command],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            output = done.stdout + done.stderr
            missing = _shown_in_order(step.shows, output)
            if (done.returncode == 0 and missing is None) or time.monotonic() > deadline:
                break
            time.sleep(1)  # the worker has not caught up yet: run it again, as a reader would
        assert done.returncode == 0, f"$ {step.command}\nexit {done.returncode}\n{output}"
        assert missing is None, (
            f"$ {step.command}\nthe doc shows {missing!r}; it printed:\n{output}"
        )
