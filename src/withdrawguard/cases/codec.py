"""Case events to JSON and back, strictly, and the JSON Schema that says the same.

Both are driven by the event classes' type hints, so the codec, the schema and the
classes cannot drift apart. Decoding refuses unknown kinds, unknown fields, missing
fields, wrong types and naive times; `CaseEventError` names the field (a dotted path).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, get_args, get_origin

import orjson

from withdrawguard.cases.errors import MAX_NOTE
from withdrawguard.cases.events import EVENT_TYPES, CaseEvent, Trigger

MAX_ID = 256
MAX_CODES = 64
MAX_BYTES = 262_144
_TEXT_FIELDS = frozenset(("note",))
_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})"
)
_DATE = (  # the calendar-checking date of docs/schemas (timestamp), as the contract has it
    "(?!0000)(?:[0-9]{4}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
)
_DECIMAL = re.compile(r"(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,9})?")
_CURRENCY = re.compile(r"[A-Z]{3}")


class CaseEventError(ValueError):
    """A case event that cannot be read. `field` is the dotted path of the culprit."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}" if field else problem)
        self.field = field
        self.problem = problem


# ------------------------------------------------------------------ encode


def encode(event: CaseEvent) -> dict[str, Any]:
    """The JSON object of `event` (`kind` first, every field present, None as null)."""
    fields = _encode_obj(event)
    return {"kind": fields.pop("kind"), **fields}


def encode_bytes(event: CaseEvent) -> bytes:
    return orjson.dumps(encode(event))


def _encode_obj(obj: Any) -> dict[str, Any]:
    return {f.name: _encode_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.utcoffset() is None:  # astimezone would take it for the machine's local time
            raise CaseEventError("", f"naive time {value.isoformat()} cannot be written")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Trigger):
        return _encode_obj(value)
    return value


# ------------------------------------------------------------------ decode


def decode_bytes(raw: bytes, max_bytes: int = MAX_BYTES) -> CaseEvent:
    if len(raw) > max_bytes:
        raise CaseEventError("", f"event is {len(raw)} bytes, over the limit of {max_bytes}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise CaseEventError("", f"not valid UTF-8 JSON ({exc})") from None
    return decode(obj)


def decode(obj: Any) -> CaseEvent:
    """The event `obj` (a parsed JSON object) describes; CaseEventError names the field."""
    if not isinstance(obj, Mapping):
        raise CaseEventError("", "a case event must be a JSON object")
    kind = obj.get("kind")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CaseEventError("kind", f"unknown event kind {str(kind)[:40]!r}")
    event: CaseEvent = _decode_obj(cls, obj, "")
    return event


def _decode_obj(cls: type[Any], obj: Mapping[str, Any], where: str) -> Any:
    hints = _hints(cls)
    unknown = sorted(str(k) for k in obj if k not in hints)
    if unknown:
        raise CaseEventError(f"{where}{unknown[0]}", "unknown field")
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        path = f"{where}{f.name}"
        if f.name not in obj:
            if f.default is dataclasses.MISSING:
                raise CaseEventError(path, "is required")
            continue
        values[f.name] = _decode_value(hints[f.name], obj[f.name], path, f.name)
    return cls(**values)


def _decode_value(hint: Any, value: Any, path: str, name: str) -> Any:
    args = get_args(hint)
    if get_origin(hint) in (typing.Union, types.UnionType):
        if value is None:
            return None
        (inner,) = (a for a in args if a is not type(None))
        return _decode_value(inner, value, path, name)
    if value is None:
        raise CaseEventError(path, "must not be null")
    if get_origin(hint) is Literal:
        if value not in args:
            raise CaseEventError(path, f"must be one of {', '.join(map(str, args))}")
        return value
    if get_origin(hint) is tuple:
        least = 0 if path == "trigger.reason_codes" else 1  # an allow verdict has no reasons
        if not isinstance(value, list) or not least <= len(value) <= MAX_CODES:
            raise CaseEventError(path, f"must be a list of {least} to {MAX_CODES} strings")
        return tuple(_text(v, f"{path}[{i}]", MAX_ID) for i, v in enumerate(value))
    if hint is Trigger:
        if not isinstance(value, Mapping):
            raise CaseEventError(path, "must be an object")
        return _decode_obj(Trigger, value, path + ".")
    if hint is bool or hint is int:
        return _number(hint, value, path)
    if hint is datetime:
        return _time(value, path)
    if hint is Decimal:
        return _decimal(value, path)
    if name == "currency":
        text = _text(value, path, 3)
        if not _CURRENCY.fullmatch(text):
            raise CaseEventError(path, "must be an ISO 4217 code in upper case")
        return text
    return _text(value, path, MAX_NOTE if name in _TEXT_FIELDS else MAX_ID)


def _number(hint: type[Any], value: Any, path: str) -> Any:
    if hint is bool:
        if not isinstance(value, bool):
            raise CaseEventError(path, "must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10**7:
        raise CaseEventError(path, "must be a whole number from 1 to 10000000")
    return value


def _text(value: Any, path: str, limit: int) -> str:
    if not isinstance(value, str):
        raise CaseEventError(path, "must be a string")
    if not value.strip():
        raise CaseEventError(path, "must not be empty")
    if len(value) > limit:
        raise CaseEventError(path, f"is {len(value)} characters, over the limit of {limit}")
    return value


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str) or not _TIME.fullmatch(value):
        raise CaseEventError(path, "must be an RFC 3339 time with an offset")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CaseEventError(path, "is not a real date and time") from None


def _decimal(value: Any, path: str) -> Decimal:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise CaseEventError(path, 'must be a non-negative decimal in a string, e.g. "5000000"')
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise CaseEventError(path, "is not a decimal") from None


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    """The resolved type hints of an event class (filled on first use, not on import)."""
    found = _HINTS.get(cls)
    if found is None:
        found = _HINTS[cls] = typing.get_type_hints(cls)
    return found


# ------------------------------------------------------------------ schema

_DEFS: dict[str, Any] = {
    "id": {"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": "\\S"},
    "note": {"type": "string", "minLength": 1, "maxLength": MAX_NOTE, "pattern": "\\S"},
    "timestamp": {
        "type": "string",
        "description": "RFC 3339 with an offset, T as separator, up to 6 fraction digits; "
        "the calendar date must exist. Written in UTC with Z.",
        "pattern": "^" + _DATE + _TIME.pattern[_TIME.pattern.index("T") :] + "$",
    },
    "decimal": {"type": "string", "pattern": "^" + _DECIMAL.pattern + "$"},
    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
}


def schema() -> dict[str, Any]:
    """One JSON Schema (draft 2020-12) for the `case-events` topic: oneOf the kinds."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "case_event",
        "description": "One event of a case (topic case-events, key case_id), append-only.",
        "oneOf": [{"$ref": f"#/$defs/{kind}"} for kind in EVENT_TYPES],
        "$defs": {
            **_DEFS,
            "trigger": _object_schema(Trigger),
            **{kind: _object_schema(cls) for kind, cls in EVENT_TYPES.items()},
        },
    }


def _object_schema(cls: type[Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props = {f.name: _value_schema(hints[f.name], f.name) for f in dataclasses.fields(cls)}
    if cls is Trigger:
        props["reason_codes"]["minItems"] = 0  # as the decoder: an allow verdict has none
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    if "kind" in props and "kind" not in required:  # an event's kind has a default in Python
        required.insert(0, "kind")
    out: dict[str, Any] = {"type": "object", "required": required, "properties": props}
    out["additionalProperties"] = False
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):  # not dataclass's own
        out["description"] = " ".join(cls.__doc__.split())
    return out


def _value_schema(hint: Any, name: str) -> dict[str, Any]:
    args = get_args(hint)
    if get_origin(hint) in (typing.Union, types.UnionType):
        (inner,) = (a for a in args if a is not type(None))
        return {"anyOf": [_value_schema(inner, name), {"type": "null"}]}
    if get_origin(hint) is Literal:
        return {"const": args[0]} if len(args) == 1 else {"enum": list(args)}
    if get_origin(hint) is tuple:
        items = {"$ref": "#/$defs/id"}
        return {"type": "array", "minItems": 1, "maxItems": MAX_CODES, "items": items}
    simple: dict[Any, dict[str, Any]] = {
        bool: {"type": "boolean"},
        int: {"type": "integer", "minimum": 1, "maximum": 10**7},
    }
    if hint in simple:
        return simple[hint]
    refs = {Trigger: "trigger", datetime: "timestamp", Decimal: "decimal"}
    ref = refs.get(hint) or (
        "note" if name in _TEXT_FIELDS else "currency" if name == "currency" else "id"
    )
    return {"$ref": f"#/$defs/{ref}"}
