"""Secrets: values that never show themselves, and reading them from files.

A `Secret`'s repr and str are `Secret('***')`, so printing settings, logging a config
or a traceback's locals never reveals the value; only `reveal()` does, at the one place
a client needs it.
"""

from __future__ import annotations

from pathlib import Path


class Secret:
    """A secret value that does not show itself in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SecretFileError(ValueError):
    """A secret file cannot be read; the message names the setting and the file only."""


def read_secret_file(path: Path, setting: str) -> Secret:
    """The secret in `path` (its first line, surrounding whitespace removed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SecretFileError(f"{setting}: cannot read {path} ({exc.strerror})") from None
    except ValueError:
        raise SecretFileError(f"{setting}: {path} is not a UTF-8 text file") from None
    lines = text.strip().splitlines()
    if not lines or not lines[0].strip():
        raise SecretFileError(f"{setting}: {path} is empty")
    return Secret(lines[0].strip())
