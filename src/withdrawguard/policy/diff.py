"""What differs between two policies, key by key, in their effective (merged) values."""

from __future__ import annotations

from typing import Any

from withdrawguard.engine.policy import Policy


def changed_values(a: Policy, b: Policy) -> list[tuple[str, str, str]]:
    """(dotted key, value in a, value in b) for every key whose value differs, sorted."""
    fa, fb = _flat(a.raw), _flat(b.raw)
    return [
        (key, _shown(fa.get(key)), _shown(fb.get(key)))
        for key in sorted(fa.keys() | fb.keys())
        if fa.get(key) != fb.get(key)
    ]


def _flat(table: dict[str, Any], where: str = "") -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            found |= _flat(value, f"{where}{key}.")
        else:
            found[f"{where}{key}"] = value
    return found


def _shown(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)
