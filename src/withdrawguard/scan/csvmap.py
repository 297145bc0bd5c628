"""How the columns of a CSV export become an event in the contract.

A mapping file is TOML; every table is optional:

    [csv]
    delimiter = ";"                 # default ","
    encoding = "utf-8-sig"          # default; a BOM is skipped

    [type]                          # which decoder a row goes to
    constant = "withdrawal"         # every row is a withdrawal ...
    # column = "kind"               # ... or the type is in a column,
    # values = { W = "withdrawal" } # optionally recoded

    [columns]                       # contract field = CSV column
    event_id = "txn_id"
    "destination.account_number" = "acct"

    [constants]                     # contract field = fixed value
    currency = "JPY"

Without `[columns]`, every CSV header is taken as a contract field name (dotted names for
nested fields). Without `[type]`, the type is read from a `type` column (rows with a
`decision_id` are case decisions). Empty cells are left out; `success` and `verified`
cells are read as booleans (true/false, 1/0, yes/no); every other value stays a string
and the event decoder validates it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOOLEAN_FIELDS = frozenset(("success", "verified"))
_TRUE = frozenset(("true", "t", "1", "yes", "y"))
_FALSE = frozenset(("false", "f", "0", "no", "n"))
_SECTIONS = {"csv": ("delimiter", "encoding"), "type": ("constant", "column", "values")}


class MappingError(ValueError):
    """The mapping file cannot be used, or does not fit a CSV file's header."""


@dataclass(frozen=True, slots=True)
class CsvMapping:
    columns: dict[str, str] | None = None
    """contract field -> CSV column; None: every header is a field name."""
    constants: dict[str, str] = field(default_factory=dict)
    type_constant: str | None = None
    type_column: str | None = None
    type_values: dict[str, str] = field(default_factory=dict)
    delimiter: str = ","
    encoding: str = "utf-8-sig"

    def bind(self, header: Sequence[str]) -> Binding:
        """Where each field is in one file's header."""
        index = {name: i for i, name in enumerate(header)}
        type_at = None
        if self.type_column is not None:
            type_at = index.get(self.type_column, -1)
        if self.columns is None:
            fields = [(i, name.split(".")) for i, name in enumerate(header) if name]
        else:
            fields = [(index.get(col, -1), name.split(".")) for name, col in self.columns.items()]
        wanted = [*(self.columns or {}).values(), *filter(None, [self.type_column])]
        missing = sorted({col for col in wanted if col not in index})
        if missing:
            raise MappingError(f"column(s) {', '.join(map(repr, missing))} not in the header")
        return Binding(fields, type_at)

    def row(self, cells: Sequence[str], binding: Binding) -> dict[str, Any]:
        """One CSV row as a contract object (not yet validated)."""
        obj: dict[str, Any] = {}
        for name, value in self.constants.items():
            _put(obj, name.split("."), value)
        for i, path in binding.fields:
            cell = cells[i].strip() if i < len(cells) else ""
            if cell:
                _put(obj, path, _boolean(cell) if path[-1] in BOOLEAN_FIELDS else cell)
        if self.type_constant is not None:
            obj["type"] = self.type_constant
        elif binding.type_at is not None:
            i = binding.type_at
            raw = cells[i].strip() if i < len(cells) else ""
            obj["type"] = self.type_values.get(raw, raw) or None
        return obj


@dataclass(frozen=True, slots=True)
class Binding:
    fields: list[tuple[int, list[str]]]
    """(column index, field path) of every mapped column."""
    type_at: int | None
    """Index of the type column, if the type comes from one."""


def _put(obj: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        inner = obj.get(part)
        if not isinstance(inner, dict):
            inner = obj[part] = {}
        obj = inner
    obj[path[-1]] = value


def _boolean(cell: str) -> Any:
    low = cell.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    return cell  # left for the decoder to reject with its own message


def load_mapping(path: Path | None) -> CsvMapping:
    """The mapping in `path`; None gives the identity mapping (headers are field names)."""
    if path is None:
        return CsvMapping()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read CSV mapping {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"CSV mapping {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - {"csv", "type", "columns", "constants"})
    if unknown:
        raise MappingError(f"CSV mapping {path}: unknown section(s) {', '.join(unknown)}")
    for section, keys in _SECTIONS.items():
        extra = sorted(set(_table(raw, section, path)) - set(keys))
        if extra:
            raise MappingError(f"CSV mapping {path}: unknown key(s) in [{section}]: {extra}")
    csv_opts = _table(raw, "csv", path)
    type_opts = _table(raw, "type", path)
    if "constant" in type_opts and "column" in type_opts:
        raise MappingError(f"CSV mapping {path}: [type] takes `constant` or `column`, not both")
    columns = _strings(raw, "columns", path) if "columns" in raw else None
    delimiter = _text(csv_opts, "delimiter", ",", path)
    if len(delimiter) != 1:
        raise MappingError(f"CSV mapping {path}: [csv] delimiter must be one character")
    return CsvMapping(
        columns=columns,
        constants=_strings(raw, "constants", path),
        type_constant=_optional(type_opts, "constant", path),
        type_column=_optional(type_opts, "column", path),
        type_values=_strings(type_opts, "values", path),
        delimiter=delimiter,
        encoding=_text(csv_opts, "encoding", "utf-8-sig", path),
    )


def _table(raw: Mapping[str, Any], name: str, path: Path) -> dict[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise MappingError(f"CSV mapping {path}: `{name}` must be a table")
    return value


def _strings(raw: Mapping[str, Any], name: str, path: Path) -> dict[str, str]:
    table = _table(raw, name, path)
    for key, value in table.items():
        if not isinstance(value, str):
            raise MappingError(f"CSV mapping {path}: [{name}] {key} must be a string")
    return dict(table)


def _optional(raw: Mapping[str, Any], name: str, path: Path) -> str | None:
    value = raw.get(name)
    if value is not None and not isinstance(value, str):
        raise MappingError(f"CSV mapping {path}: `{name}` must be a string")
    return value


def _text(raw: Mapping[str, Any], name: str, default: str, path: Path) -> str:
    value = _optional(raw, name, path)
    return default if value is None else value
