"""The README's settings table is the settings object's, word for word."""

from __future__ import annotations

from pathlib import Path

from withdrawguard.settings import describe

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_settings_table_matches_the_settings_object() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    rows = table.strip().splitlines()[2:]
    expected = [
        f"| `{var}` | {f'`{default}`' if default else '(unset)'} | {meaning} |"
        for var, default, meaning in describe()
    ]
    assert rows == expected


def test_readme_gives_the_two_set_up_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text
    assert "make test" in text
