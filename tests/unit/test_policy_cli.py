"""`withdrawguard policy diff` and `policy show default` read files and the packaged default
without a broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from withdrawguard.cli import main
from withdrawguard.engine.policy import default_text


def test_diff_of_the_default_against_a_file_needs_no_broker_and_shows_the_changed_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WG_KAFKA_BOOTSTRAP", "localhost:1")  # unreachable: must not be asked
    text = default_text()
    changed = tmp_path / "p.toml"
    assert "min_customers = 2" in text
    changed.write_text(text.replace("min_customers = 2", "min_customers = 4", 1), "utf-8")
    assert main(["policy", "diff", "default", str(changed)]) == 0
    out = capsys.readouterr().out
    assert "default (packaged)" in out
    assert "2 -> 4" in out


def test_diff_shows_the_line_diff_of_the_texts_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    override = tmp_path / "o.toml"
    override.write_text("[rules.drain]\nweight = 10\n", "utf-8")
    assert main(["policy", "diff", "default", str(override)]) == 0
    assert "+++" not in capsys.readouterr().out
    assert main(["policy", "diff", "default", str(override), "--text"]) == 0
    assert f"+++ {override}" in capsys.readouterr().out


def test_show_default_prints_the_packaged_default_without_a_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WG_KAFKA_BOOTSTRAP", "localhost:1")  # unreachable: must not be asked
    assert main(["policy", "show", "default"]) == 0
    first, rest = capsys.readouterr().out.split("\n", 1)
    assert first.startswith("# the packaged default")
    assert rest == default_text()  # what `publish default.toml` of the worked example needs
