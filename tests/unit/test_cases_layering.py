"""The cases package is pure: it imports nothing of Faust, Kafka, Redis, the web layer,
the streaming layer, the clock or the network, and of our own code only the engine."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import withdrawguard.cases

PACKAGE = Path(withdrawguard.cases.__file__).parent
FORBIDDEN = (
    "faust", "mode", "kafka", "aiokafka", "redis", "socket", "http", "urllib", "asyncio",
    "time", "random", "secrets", "os", "subprocess", "jinja2",
    "withdrawguard.streaming", "withdrawguard.web", "withdrawguard.adapters",
    "withdrawguard.notify", "withdrawguard.registry", "withdrawguard.settings",
    "withdrawguard.cli", "withdrawguard.scan", "withdrawguard.sim",
)  # fmt: skip


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_cases_package_imports_nothing_impure() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert len(modules) >= 7
    for path in modules:
        for name in _imports(path):
            assert not any(name == f or name.startswith(f + ".") for f in FORBIDDEN), (
                f"{path.name} imports {name}"
            )
            if name.startswith("withdrawguard."):
                assert name.startswith(("withdrawguard.cases", "withdrawguard.engine")), name


def test_no_module_reads_the_clock() -> None:
    for path in PACKAGE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for call in ("datetime.now(", ".utcnow(", "date.today(", "time.time("):
            assert call not in text, f"{path.name} calls {call}"


def test_modules_stay_small() -> None:
    for path in PACKAGE.glob("*.py"):
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 300, f"{path.name} has {lines} lines"


def test_importing_the_package_does_nothing_but_import(tmp_path: Path) -> None:
    names = sorted(
        f"withdrawguard.cases.{p.stem}" for p in PACKAGE.glob("*.py") if p.stem != "__init__"
    )
    impure = "('faust', 'redis', 'aiokafka', 'kafka')"
    probe = f"import sys; print(sorted(m for m in sys.modules if m.split('.')[0] in {impure}))"
    code = "import " + ", ".join(names) + "; " + probe
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"[]\n"
    assert result.stderr == b""
    assert list(tmp_path.iterdir()) == []
