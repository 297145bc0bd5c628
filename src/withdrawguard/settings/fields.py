"""What a setting is: a field of `Settings` with help text in its metadata
(`field(default=..., metadata=doc("..."))`), read from the `WG_` variable of its name
and parsed by its annotated type.

The type written on the field is the only place a setting's type is declared: `parsers`
reads it (`int`, `str`, `Path`, `Secret`, each optionally `| None`), and the help text
is what `describe()` prints, the README's table.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, fields
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

from withdrawguard.secret import Secret

PREFIX = "WG_"
HELP = "help"
"""The key of a setting's help text in its field's metadata."""


class SettingsError(ValueError):
    """A `WG_` variable holds a value that cannot be used; the message names it."""


def doc(text: str) -> dict[str, str]:
    """The metadata that makes a field a `WG_` setting: the help `describe()` shows."""
    return {HELP: text}


def setting_fields(cls: type) -> tuple[Field[Any], ...]:
    """The fields of `cls` that are `WG_` settings, in declaration order."""
    return tuple(f for f in fields(cls) if HELP in f.metadata)


def variable(name: str) -> str:
    """The environment variable of a setting: `WG_` and its name in capitals."""
    return PREFIX + name.upper()


def parsers(cls: type) -> dict[str, Callable[[str], Any]]:
    """Setting name -> how its variable's text becomes its value, by its annotated type."""
    hints = get_type_hints(cls)
    return {f.name: _parser(f, hints[f.name]) for f in setting_fields(cls)}


def _parser(f: Field[Any], hint: Any) -> Callable[[str], Any]:
    if get_origin(hint) in (Union, types.UnionType):
        [hint] = [a for a in get_args(hint) if a is not type(None)]
    if hint is int:
        name = variable(f.name)

        def integer(raw: str) -> int:
            try:
                return int(raw)
            except ValueError:
                raise SettingsError(f"{name} must be an integer, got {raw!r}") from None

        return integer
    if hint is Path:
        return lambda raw: Path(raw).expanduser()
    if hint is Secret:
        return lambda raw: Secret(raw.strip())
    if hint is str:
        return str.strip
    raise TypeError(f"setting {f.name}: no parser for {hint!r}")


class Environment(Mapping[str, str]):
    """An immutable copy of the environment a `Settings` was built from: where the names a
    notification routing file gives (`secret_env`) are looked up, so nothing after the
    entry point reads `os.environ`. It holds secrets, so it never shows its values."""

    __slots__ = ("_vars",)

    def __init__(self, variables: Mapping[str, str] | None = None) -> None:
        self._vars = dict(variables or {})

    def __getitem__(self, name: str) -> str:
        return self._vars[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._vars)

    def __len__(self) -> int:
        return len(self._vars)

    def __repr__(self) -> str:
        return f"Environment(<{len(self._vars)} variables>)"

    __str__ = __repr__


def described(cls: type) -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting of the settings class `cls`."""
    return [
        (variable(f.name), "" if f.default is None else str(f.default), f.metadata[HELP])
        for f in setting_fields(cls)
    ]
