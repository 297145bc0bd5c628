"""The event contract: docs/contract.md, docs/schemas/*.json and the decoder must agree.

Every example in the contract is marked with an HTML comment on the line before its
fenced block, `<!-- example: <payload> <valid|invalid> [field] -->`:

- `valid` examples pass their schema and, for inputs, the decoder;
- `invalid` examples fail both, and both blame `field` (`-`: the whole payload or `type`);

The schemas are checked with ECMA-262 pattern semantics, as JSON Schema specifies: `$` is
the end of the string. Python's `re` (which plain `jsonschema` uses) also lets `$` match
before a final newline.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, ValidationError, validators

from tests.unit.player import Player
from withdrawguard.contract.topics import (
    INPUT_EVENT_TYPES,
    POLICIES,
    POLICY_AUDIT,
    SPECS,
    Role,
)
from withdrawguard.engine import fields
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.decode import InvalidEvent, decode_input, decode_object
from withdrawguard.engine.events import CASE_ACTIONS, CHANGE_TYPES, CHANNELS
from withdrawguard.engine.policy import parse_policy
from withdrawguard.engine.rules import RULE_CODES
from withdrawguard.engine.state import CustomerState
from withdrawguard.engine.suppressions import LONGEST, UNMUTABLE
from withdrawguard.engine.validated import revive
from withdrawguard.policy import actions, versions
from withdrawguard.policy.shadow import AGREE, WOULD_ALLOW, WOULD_HOLD, Comparison, compare
from withdrawguard.policy.versions import (
    Catalog,
    Pointer,
    make_version,
    pointer_record,
    version_record,
)
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios

ROOT = Path(__file__).resolve().parents[2]
DOC_PATH = ROOT / "docs" / "contract.md"
SCHEMA_DIR = ROOT / "docs" / "schemas"
DOC = DOC_PATH.read_text(encoding="utf-8")
MAX_BYTES = Settings().max_message_bytes

# payload name (schema file stem) -> event type, e.g. "account-change" -> "account_change"
INPUT_PAYLOADS = {t.replace("_", "-"): t for t in INPUT_EVENT_TYPES.values()}
_INPUT_TOPIC_PAYLOADS = [(topic, t.replace("_", "-")) for topic, t in INPUT_EVENT_TYPES.items()]
# payload name of each output topic: the topic name in the singular
OUTPUT_PAYLOADS = {s.logical.removesuffix("s"): s for s in SPECS if s.role is Role.OUTPUT}
# payload name of each control topic: not derivable from the topic name, so named here
CONTROL_TOPIC_PAYLOADS = {POLICIES: "policy-record", POLICY_AUDIT: "policy-action"}
CONTROL_PAYLOADS = {CONTROL_TOPIC_PAYLOADS[s.logical]: s for s in SPECS if s.role is Role.CONTROL}
# what the product writes (outputs, control records), as against what it reads
WRITTEN_PAYLOADS = {**OUTPUT_PAYLOADS, **CONTROL_PAYLOADS}


# ------------------------------------------------------------------ schemas


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    """A JSON Schema (ECMA-262) pattern as a Python regex: a final `$` is the true end."""
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


def _ecma_pattern(
    validator: Any, pattern: str, instance: Any, schema: dict[str, Any]
) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


ContractValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


def _schema(payload: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{payload}.schema.json").read_text(encoding="utf-8"))


@functools.cache
def _validator(payload: str) -> Any:
    return ContractValidator(_schema(payload), format_checker=Draft202012Validator.FORMAT_CHECKER)


def _errors(payload: str, obj: Any) -> list[ValidationError]:
    return list(_validator(payload).iter_errors(obj))


_REQUIRED = re.compile(r"^'(.+)' is a required property$")


def _blamed(errors: list[ValidationError]) -> set[str]:
    """Dotted paths the schema errors point at; a missing property counts as its path."""
    blamed: set[str] = set()
    stack = list(errors)
    while stack:
        error = stack.pop()
        path = ".".join(str(p) for p in error.absolute_path)
        missing = _REQUIRED.match(error.message) if error.validator == "required" else None
        if missing:
            blamed.add(f"{path}.{missing[1]}" if path else missing[1])
        else:
            blamed.add(path)
        stack.extend(error.context or ())
    return blamed


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, value
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.schema.json"))


# ------------------------------------------------------------------ examples in the doc


@dataclass(frozen=True)
class Example:
    payload: str
    kind: str
    field: str | None
    text: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.payload}-{self.kind}{'-' + self.field if self.field else ''}-L{self.line}"

    @property
    def obj(self) -> Any:
        return json.loads(self.text)


_MARKER = re.compile(
    r"^<!-- example: (?P<payload>[a-z-]+) (?P<kind>valid|invalid)"
    r"(?: (?P<field>\S+))? -->\n```json\n(?P<text>.*?)\n```$",
    re.M | re.S,
)


def _examples() -> list[Example]:
    return [
        Example(m["payload"], m["kind"], m["field"], m["text"], DOC.count("\n", 0, m.start()) + 1)
        for m in _MARKER.finditer(DOC)
    ]


EXAMPLES = _examples()


def _of(*kinds: str, inputs: bool = True) -> list[Any]:
    chosen = [e for e in EXAMPLES if e.kind in kinds and (e.payload in INPUT_PAYLOADS) == inputs]
    return [pytest.param(e, id=e.id) for e in chosen]


def _decodes(example: Example) -> None:
    decode_input(example.text.encode(), INPUT_PAYLOADS[example.payload], MAX_BYTES)


def test_every_example_marker_is_followed_by_a_json_block() -> None:
    assert DOC.count("<!-- example:") == len(EXAMPLES)
    for example in EXAMPLES:
        json.loads(example.text)  # raises with the offending example's text
        assert example.payload in INPUT_PAYLOADS or example.payload in WRITTEN_PAYLOADS, example.id
        assert (example.field is None) == (example.kind == "valid"), example.id


def test_every_payload_has_a_valid_example_and_every_input_has_invalid_ones() -> None:
    kinds = {(e.payload, e.kind) for e in EXAMPLES}
    for payload in [*INPUT_PAYLOADS, *WRITTEN_PAYLOADS]:
        assert (payload, "valid") in kinds, payload
    for payload in INPUT_PAYLOADS:
        assert (payload, "invalid") in kinds, payload


@pytest.mark.parametrize("example", _of("valid"))
def test_valid_input_example_passes_its_schema_and_the_decoder(example: Example) -> None:
    assert _errors(example.payload, example.obj) == []
    event = decode_object(example.obj, INPUT_PAYLOADS[example.payload])
    assert event.type == INPUT_PAYLOADS[example.payload]
    _decodes(example)


@pytest.mark.parametrize("example", _of("invalid"))
def test_invalid_input_example_fails_schema_and_decoder_on_the_named_field(
    example: Example,
) -> None:
    errors = _errors(example.payload, example.obj)
    assert errors, "the schema accepts it"
    with pytest.raises(InvalidEvent) as caught:
        _decodes(example)
    field = caught.value.field
    if isinstance(example.obj, dict):
        with pytest.raises(InvalidEvent) as direct:
            decode_object(example.obj, INPUT_PAYLOADS[example.payload])
        assert direct.value.field == field
    if example.field == "-":
        assert field in ("", "type"), str(caught.value)
        assert _blamed(errors) & {"", "type"}, [e.message for e in errors]
    else:
        assert example.field is not None
        assert field == example.field, str(caught.value)
        assert example.field in _blamed(errors), [e.message for e in errors]


@pytest.mark.parametrize("example", _of("valid", inputs=False))
def test_output_and_control_example_matches_its_schema(example: Example) -> None:
    assert example.payload in WRITTEN_PAYLOADS
    assert _errors(example.payload, example.obj) == []


@pytest.mark.parametrize(
    "example", [pytest.param(e, id=e.id) for e in EXAMPLES if e.payload == "dead-letter"]
)
def test_dead_letter_example_carries_the_decoders_own_error(example: Example) -> None:
    letter = example.obj
    raw = (
        base64.b64decode(letter["payload"])
        if letter["payload_encoding"] == "base64"
        else letter["payload"].encode()
    )
    with pytest.raises(InvalidEvent) as caught:
        decode_input(raw, INPUT_EVENT_TYPES[letter["source_topic"]], MAX_BYTES)
    assert str(caught.value) == letter["error"]
    assert caught.value.field == letter["error_field"]


# ------------------------------------------------------------------ schema files


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_file_is_a_valid_draft_2020_12_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_file_is_referenced_in_the_contract(path: Path) -> None:
    assert f"(schemas/{path.name})" in DOC


def test_every_control_topic_has_its_payload_named() -> None:
    control = {s.logical for s in SPECS if s.role is Role.CONTROL}
    assert set(CONTROL_TOPIC_PAYLOADS) == control
    assert len(CONTROL_PAYLOADS) == len(control)  # no two control topics share a payload


def test_schema_files_are_exactly_the_input_output_and_control_payloads() -> None:
    expected = {f"{p}.schema.json" for p in [*INPUT_PAYLOADS, *WRITTEN_PAYLOADS]}
    assert {p.name for p in SCHEMA_FILES} == expected


@pytest.mark.parametrize("event_type", sorted(INPUT_EVENT_TYPES.values()))
def test_every_input_event_type_has_a_schema_allowing_unknown_fields(event_type: str) -> None:
    schema = _schema(event_type.replace("_", "-"))
    assert schema["additionalProperties"] is True
    assert schema["title"] == event_type


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_schema_patterns_are_anchored_and_portable(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    patterns = [v for k, v in _walk(schema) if k == "pattern"]
    assert patterns
    for pattern in patterns:
        re.compile(pattern)
        # \d, \w mean ASCII in ECMA-262 but Unicode in Python; \Z and (?P don't exist there.
        for python_only in (r"\d", r"\D", r"\w", r"\W", r"\Z", r"\A", "(?P"):
            assert python_only not in pattern, pattern
        # A `$` only as the final anchor, so the ECMA translation above is exact.
        assert pattern == r"\S" or (pattern.startswith("^") and pattern.endswith("$")), pattern
        assert pattern.count("$") == (1 if pattern.endswith("$") else 0), pattern


def test_schema_limits_and_enums_match_the_decoder() -> None:
    login = _schema("login")
    assert login["$defs"]["id"]["maxLength"] == fields.MAX_ID
    assert login["$defs"]["optional_text"]["maxLength"] == fields.MAX_TEXT
    assert login["properties"]["country"]["pattern"] == f"^{fields.COUNTRY.pattern}$"
    withdrawal = _schema("withdrawal")
    assert withdrawal["properties"]["currency"]["pattern"] == f"^{fields.CURRENCY.pattern}$"
    number, _string = withdrawal["$defs"]["amount"]["anyOf"]
    assert Decimal(number["exclusiveMaximum"]) == fields.MAX_AMOUNT
    assert "[0-9A-Za-z][0-9A-Za-z" in fields.CODE.pattern
    assert withdrawal["$defs"]["code"]["maxLength"] == 64
    change = _schema("account-change")["properties"]
    assert set(change["change_type"]["enum"]) == CHANGE_TYPES
    assert set(change["channel"]["enum"]) == CHANNELS
    decision = _schema("case-decision")
    assert set(decision["properties"]["action"]["enum"]) == CASE_ACTIONS
    assert set(decision["$defs"]["muted_codes"]["items"]["enum"]) == RULE_CODES - UNMUTABLE


# ------------------------------------------------------------------ the document


_TOPIC_ROW = re.compile(
    r"^\| `(?P<name>[a-z-]+)` \| (?P<role>\w+) \| `(?P<key>[^`]+)` \| (?P<compacted>yes|no) "
    r"\| (?P<partitions>[^|]+) \| \[(?P<payload>[a-z-]+)\]\(schemas/(?P<file>[a-z.-]+)\) \|$",
    re.M,
)


def test_topics_table_matches_the_topic_specs() -> None:
    rows = {m["name"]: m for m in _TOPIC_ROW.finditer(DOC)}
    public = [s for s in SPECS if s.role is not Role.INTERNAL]
    assert set(rows) == {s.logical for s in public}
    for spec in public:
        row = rows[spec.logical]
        assert row["role"] == spec.role.value, spec.logical
        assert row["key"] == spec.key, spec.logical
        assert row["compacted"] == ("yes" if spec.compacted else "no"), spec.logical
        partitions = str(spec.partitions or Settings().partitions)
        assert row["partitions"].split(",")[0] == partitions, spec.logical
        assert ("co-partitioned" in row["partitions"]) == (spec.role is Role.INPUT)
        assert row["file"] == f"{row['payload']}.schema.json"
        if spec.role is Role.OUTPUT:
            expected = spec.logical.removesuffix("s")
        elif spec.role is Role.CONTROL:
            expected = CONTROL_TOPIC_PAYLOADS[spec.logical]
        else:
            expected = INPUT_EVENT_TYPES[spec.logical].replace("_", "-")
        assert row["payload"] == expected, spec.logical
    for spec in SPECS:
        if spec.role is Role.INTERNAL:
            assert f"`{spec.logical}`" in DOC


def _section(anchor: str) -> str:
    start = DOC.index(anchor)
    end = DOC.find("\n#", start)
    return DOC[start:] if end < 0 else DOC[start:end]


def _table_fields(section: str) -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))


def _object_schemas(payload: str, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The payload's object schemas whose fields its section lists: the top level, each
    `oneOf` kind, and (for what the product writes) the objects named in `$defs`."""
    found = [schema, *schema.get("oneOf", ())]
    if payload not in INPUT_PAYLOADS:
        found += [d for d in schema.get("$defs", {}).values() if d.get("type") == "object"]
    return [f for f in found if "properties" in f]  # not a `$ref` to one of the `$defs`


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.name)
def test_field_table_lists_every_schema_property(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    payload = path.name.removesuffix(".schema.json")
    section = _section(f"Schema: [`{path.name}`]")
    listed = {name for obj in _object_schemas(payload, schema) for name in obj["properties"]}
    assert _table_fields(section) == listed
    required = set(schema.get("required", ()))
    if payload in INPUT_PAYLOADS:
        for row in re.finditer(r"^\| `([a-z_]+)` \| [^|]+ \| ([^|]+) \|", section, re.M):
            if row[2].strip() == "yes":
                assert row[1] in required, row[1]
            if row[2].strip() == "no":
                assert row[1] not in required, row[1]


def test_destination_table_lists_every_destination_property() -> None:
    destination = _schema("withdrawal")["$defs"]["destination"]
    assert _table_fields(_section("### Destination object")) == set(destination["properties"])


def test_contract_states_the_limits_the_code_uses() -> None:
    assert MAX_BYTES == 262_144
    assert "`WG_MAX_MESSAGE_BYTES`" in DOC
    assert "262144 (256 KiB)" in DOC
    assert f"default {Settings().partitions})" in DOC
    assert f"**{fields.MAX_ID}**" in DOC
    assert f"**{fields.MAX_TEXT}**" in DOC


def test_payload_of_exactly_the_size_limit_is_accepted_and_one_byte_more_is_not() -> None:
    event = {
        "type": "login",
        "event_id": "e",
        "customer_id": "c",
        "occurred_at": "2024-05-01T00:00:00Z",
        "success": True,
        "ip": "192.0.2.1",
    }
    padding = MAX_BYTES - len(json.dumps({**event, "pad": ""}).encode())
    raw = json.dumps({**event, "pad": "x" * padding}).encode()
    assert len(raw) == MAX_BYTES
    decode_input(raw, "login", MAX_BYTES)
    with pytest.raises(InvalidEvent) as caught:
        decode_input(raw + b" ", "login", MAX_BYTES)
    assert caught.value.field == ""


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("100.10", "100.1"),
        ("0.1", "0.1"),
        ("123456789012.345678", "123456789012.34567"),
        ('"123456789012.345678"', "123456789012.345678"),
    ],
)
def test_json_number_amounts_are_read_through_their_shortest_repr(written: str, read: str) -> None:
    raw = (
        '{"type":"withdrawal","event_id":"e","customer_id":"c",'
        '"occurred_at":"2024-05-01T00:00:00Z","withdrawal_id":"w","amount":'
        + written
        + ',"currency":"JPY","destination":{"bank_code":"1","account_number":"2"}}'
    )
    event = decode_input(raw.encode(), "withdrawal", MAX_BYTES)
    assert str(event.amount) == read  # type: ignore[union-attr]


def test_a_repeated_key_in_one_object_takes_the_last_value() -> None:
    raw = (
        b'{"type":"login","event_id":"e","customer_id":"c","success":"yes",'
        b'"occurred_at":"2024-05-01T00:00:00Z","success":true,"ip":"192.0.2.1"}'
    )
    assert decode_input(raw, "login", MAX_BYTES).success is True  # type: ignore[union-attr]


# ------------------------------------------------------------------ engine outputs


def test_engine_outputs_for_the_contract_examples_match_their_schemas(player: Player) -> None:
    """The doc's valid inputs, then an attack delivered withdrawal-first (late evidence)
    and confirmed as fraud, through the real engine: every output fits its schema."""
    topic_of = {payload: topic for topic, payload in _INPUT_TOPIC_PAYLOADS}
    player.play(
        (topic_of[e.payload], e.obj)
        for e in EXAMPLES
        if e.kind == "valid" and e.payload in INPUT_PAYLOADS
    )
    chain = scenarios.sbi_chain("c-late", datetime(2024, 5, 1, 1, tzinfo=UTC))
    player.play([chain[-1], *chain[:-1]])
    player.play(
        [
            scenarios.case(
                "c-late",
                "cd-late",
                datetime(2024, 5, 1, 3, tzinfo=UTC),
                "confirm_fraud",
                withdrawal_id="c-late-wd-attack",
            )
        ]
    )
    outputs = [
        *(("withdrawal-decision", v.to_wire()) for v in player.verdicts),
        *(("withdrawal-hold", h.to_wire()) for h in player.holds),
        *(("fraud-alert", a.to_wire()) for a in player.alerts),
        *(("customer-notice", n.to_wire()) for n in player.notices),
    ]
    assert {payload for payload, _ in outputs} == {
        "withdrawal-decision",
        "withdrawal-hold",
        "fraud-alert",
        "customer-notice",
    }
    for payload, wire in outputs:
        assert _errors(payload, wire) == [], wire
        # The doc's destination account number never leaves the detector in full.
        assert "1234567" not in json.dumps(wire), wire
    statuses = {h.to_wire()["status"] for h in player.holds}
    assert statuses == {"held", "released", "confirmed_fraud"}


# ------------------------------------------------------------------ written payloads


# Case events are the product's own record, read back by its strict decoder (unknown
# fields refused, a field with a default may be left out): tests/unit/test_contract_cases.py.
STRICT_PAYLOADS = frozenset({"case-event"})


@pytest.mark.parametrize("payload", sorted(set(WRITTEN_PAYLOADS) - STRICT_PAYLOADS))
def test_written_payload_requires_every_field_it_lists_and_allows_new_ones(payload: str) -> None:
    schema = _schema(payload)
    for obj in _object_schemas(payload, schema):
        assert set(obj["required"]) == set(obj["properties"]), obj.get("title", payload)
        assert obj["additionalProperties"] is True, obj.get("title", payload)


def test_control_topics_are_described_next_to_the_topics_table() -> None:
    topics = _section("## Topics")
    [bullet] = re.findall(r"^- \*\*Control topics\*\*.*?(?=^- |\Z)", topics, re.M | re.S)
    for spec in SPECS:
        if spec.role is Role.CONTROL:
            assert f"`{spec.logical}`" in bullet, spec.logical
    for words in ("`withdrawguard policy", "admin", "every worker in full", "outside the consumer"):
        assert words in " ".join(bullet.split()), words


def test_policy_schemas_match_the_code() -> None:
    record = _schema("policy-record")
    version, pointer = record["oneOf"]
    assert record["$defs"]["version_id"]["pattern"] == versions._ID.pattern  # noqa: SLF001 - the schema must use the loader's own version-id pattern
    assert set(record["$defs"]["role"]["enum"]) == set(versions.ROLES)
    assert version["properties"]["text"]["maxLength"] == versions.MAX_TEXT
    assert {version["properties"]["kind"]["const"], pointer["properties"]["kind"]["const"]} == set(
        record["properties"]["kind"]["enum"]
    )
    action = _schema("policy-action")
    assert set(action["properties"]["action"]["enum"]) == set(actions.ACTIONS)
    assert action["$defs"] == record["$defs"]
    shadow = _schema("shadow-decision")
    assert set(shadow["properties"]["outcome"]["enum"]) == {AGREE, WOULD_HOLD, WOULD_ALLOW}
    codes = _schema("withdrawal-decision")["$defs"]["reasons"]["items"]["properties"]["code"]
    assert shadow["$defs"]["reason_code"]["enum"] == codes["enum"]


LOWER = "[decision]\nhold_score = 50\n\n[rules.drain]\nweight = 30\n"


def test_policy_records_and_audit_records_the_code_writes_match_their_schemas() -> None:
    """Every action, as the CLI plans it, on a catalog folded from its own records."""
    made = make_version(LOWER, "ana", "try it", 1)
    written = [version_record(made), pointer_record(Pointer("shadow", None, "ana", "off", 2))]
    catalog = Catalog()
    plans = [actions.publish(catalog, "", "ana", "the defaults", 10, "live")]
    for step in (
        lambda: actions.publish(catalog, LOWER, "ana", "lower the bar", 11, "shadow"),
        lambda: actions.set_shadow(catalog, None, "bo", "pause it", 12),
        lambda: actions.set_shadow(catalog, made.id, "bo", "again", 13),
        lambda: actions.promote(catalog, "bo", "looks right", 14),
        lambda: actions.rollback(catalog, plans[0].version or "", "bo", "too many holds", 15),
    ):
        for key, value in plans[-1].policies:
            catalog.apply(key, value)
        plans.append(step())
    assert [p.action for p in plans] == [
        "publish",
        "publish",
        "shadow-off",
        "shadow",
        "promote",
        "rollback",
    ]
    assert {p.action for p in plans} == set(actions.ACTIONS)
    for key, value in [*written, *(r for p in plans for r in p.policies)]:
        record = orjson.loads(value)
        assert _errors("policy-record", record) == [], record
        expected_key = f"version:{record['id']}" if record["kind"] == "version" else record["role"]
        assert key == expected_key.encode()
        Catalog().apply(key, value)  # and the workers' reader takes it
    kinds = {orjson.loads(v)["kind"] for p in plans for _, v in p.policies}
    assert kinds == {"version", "pointer"}
    for plan in plans:
        audit = orjson.loads(plan.audit)
        assert _errors("policy-action", audit) == [], audit
        assert audit["action"] == plan.action and audit["version"] == plan.version


@pytest.mark.parametrize(
    "example",
    [pytest.param(e, id=e.id) for e in EXAMPLES if e.payload == "policy-record"],
)
def test_policy_record_example_is_read_by_the_catalog(example: Example) -> None:
    record = example.obj
    key = f"version:{record['id']}" if record["kind"] == "version" else record["role"]
    catalog = Catalog()
    catalog.apply(key.encode(), example.text.encode())
    if record["kind"] == "version":
        assert make_version(record["text"], "x", "x", 0).id == record["id"]
        catalog.version(record["id"]).policy()  # loads as a worker would, or raises
    else:
        assert catalog.pointers[record["role"]].id == record["id"]


_POINTER = {"kind": "pointer", "role": "live", "id": "6d36727c", "actor": "a", "note": "n", "at": 1}
_VERSION = {"kind": "version", "id": "6d36727c", "text": "", "author": "a", "note": "n"}


@pytest.mark.parametrize(
    ("record", "blamed"),
    [
        ({**_POINTER, "kind": "rule"}, "kind"),
        ({**_POINTER, "id": "6D36727C"}, "id"),
        ({**_POINTER, "id": None}, "id"),
        ({**_POINTER, "role": "canary"}, "role"),
        ({**_POINTER, "at": "1"}, "at"),
        (_VERSION, "published_at"),
        ({**_VERSION, "published_at": 1, "note": " "}, "note"),
        ({**_VERSION, "published_at": True}, "published_at"),
    ],
)
def test_policy_record_schema_refuses_what_the_product_never_writes(
    record: dict[str, Any], blamed: str
) -> None:
    assert blamed in _blamed(_errors("policy-record", record))


@pytest.mark.parametrize(
    ("changes", "blamed"),
    [
        ({"action": "undo"}, "action"),
        ({"role": "shadow"}, "role"),
        ({"version": None}, "version"),
        ({"action": "shadow-off"}, "version"),
        ({"previous": "c0d9"}, "previous"),
        ({"note": ""}, "note"),
    ],
)
def test_policy_action_schema_refuses_what_the_product_never_writes(
    changes: dict[str, Any], blamed: str
) -> None:
    promote = {"action": "promote", "actor": "bo", "at": 1, "note": "ok", "role": "live"}
    audit = {**promote, "version": "c0d9fdd5", "previous": "6d36727c", **changes}
    assert blamed in _blamed(_errors("policy-action", audit))


_SIDE = {"version": "0.1.0+policy.6d36727c", "decision": "allow", "risk_score": 0}


@pytest.mark.parametrize(
    ("changes", "blamed"),
    [
        ({"outcome": "disagree"}, "outcome"),
        ({"decided_at": "2024-05-01T01:02:31Z"}, "decided_at"),
        ({"live": {**_SIDE, "reason_codes": [], "version": "6d36727c"}}, "live.version"),
        ({"live": {**_SIDE, "reason_codes": ["TOO_RICH"]}}, "live.reason_codes.0"),
        ({"shadow": {**_SIDE, "reason_codes": [], "risk_score": 101}}, "shadow.risk_score"),
        ({"shadow": _SIDE}, "shadow.reason_codes"),
        ({"event_id": None}, "event_id"),
    ],
)
def test_shadow_decision_schema_refuses_what_the_product_never_writes(
    changes: dict[str, Any], blamed: str
) -> None:
    side = {**_SIDE, "reason_codes": []}
    comparison = {
        "withdrawal_id": "W-1",
        "customer_id": "C-1",
        "event_id": "wd-1",
        "outcome": "agree",
        "decided_at": "2024-05-01T01:02:31+00:00",
        "live": side,
        "shadow": side,
    }
    assert _errors("shadow-decision", comparison) == []
    assert blamed in _blamed(_errors("shadow-decision", {**comparison, **changes}))


_NO_CHANNEL = "[rules.dest_changed_recently]\nholding_channels = []\n"


def _customer(cid: str, at: datetime, *last: scenarios.Message) -> list[scenarios.Message]:
    return [*scenarios.honest_history(cid, at), scenarios.login(cid, f"{cid}-l", at), *last]


def test_shadow_comparisons_of_a_real_engine_pair_match_their_schema(engine: Engine) -> None:
    """The live engine and a candidate (a destination change on the web no longer holds by
    itself; DRAIN weighs 60) on a small history: every outcome occurs and fits the schema."""
    shadow = Engine(parse_policy(f"{_NO_CHANNEL}[rules.drain]\nweight = 60\n", "candidate"))
    at = datetime(2024, 5, 1, 1, tzinfo=UTC)
    new = {"bank_code": "0009", "branch_code": "310", "account_number": "4455667"}
    home = {"ip": scenarios.home_ip("c-web"), "device": scenarios.home_device("c-web")}
    histories = [
        scenarios.sbi_chain("c-chain", at),
        _customer(
            "c-web",
            at,
            scenarios.change(
                "c-web", "c-web-ac", at, "withdrawal_destination", destination=new, **home
            ),
            scenarios.withdrawal(
                "c-web",
                "c-web-w",
                at + timedelta(hours=30),
                "c-web-wd",
                "50000",
                destination=new,
                balance="9000000",
                **home,
            ),
            scenarios.case(
                "c-web", "c-web-cd", at + timedelta(hours=31), "release", withdrawal_id="c-web-wd"
            ),
        ),
        _customer(
            "c-drain",
            at,
            scenarios.withdrawal(
                "c-drain",
                "c-drain-w",
                at + timedelta(minutes=5),
                "c-drain-wd",
                "9000000",
                destination=scenarios.HOME_DEST,
                balance="9500000",
                ip=scenarios.home_ip("c-drain"),
                device=scenarios.home_device("c-drain"),
            ),
        ),
    ]
    found: list[Comparison] = []
    for messages in histories:
        state = CustomerState(messages[0][1]["customer_id"])
        applied = []
        for topic, obj in messages:
            event = decode_object(obj, INPUT_EVENT_TYPES[topic])
            applied.append((event, engine.apply(state, event)))
        found += compare(shadow, engine.version, CustomerState(state.customer_id), applied)
    outcomes = {(c.withdrawal_id, c.event_id): c.outcome for c in found}
    assert outcomes[("c-chain-wd-attack", "c-chain-w-attack")] == AGREE
    assert outcomes[("c-web-wd", "c-web-w")] == WOULD_ALLOW
    assert outcomes[("c-web-wd", "c-web-cd")] == AGREE  # released by a person: allow on both
    assert outcomes[("c-drain-wd", "c-drain-w")] == WOULD_HOLD
    for comparison in found:
        wire = orjson.loads(orjson.dumps(comparison.to_wire()))
        assert _errors("shadow-decision", wire) == [], wire
        assert (wire["live"]["version"], wire["shadow"]["version"]) == (
            engine.version,
            shadow.version,
        )


# ------------------------------------------------------------------ properties


def _pattern_of(payload: str, *path: str | int) -> str:
    node: Any = _schema(payload)
    for part in path:
        node = node[part]
    return str(node["pattern"])


def _ids(limit: int = fields.MAX_ID) -> st.SearchStrategy[str]:
    short = st.text(min_size=1, max_size=12)
    longest = st.text(min_size=limit, max_size=limit)
    return st.one_of(short, longest).filter(str.strip)


def _opt(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def _timestamps(draw: st.DrawFn) -> str:
    day = draw(st.dates(min_value=date(2, 1, 1), max_value=date(9998, 12, 31)))
    at = draw(st.times())
    digits = draw(st.integers(0, 9))
    fraction = f"{at.microsecond:06d}{draw(st.integers(0, 999)):03d}"[:digits]
    offset = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    if offset == 0 and draw(st.booleans()):
        zone = draw(st.sampled_from("Zz"))
    else:
        hours, minutes = divmod(abs(offset), 60)
        zone = f"{'-' if offset < 0 else '+'}{hours:02d}:{minutes:02d}"
    sep = draw(st.sampled_from("Tt "))
    return (
        f"{day.year:04d}-{day.month:02d}-{day.day:02d}{sep}{at:%H:%M:%S}"
        f"{'.' + fraction if fraction else ''}{zone}"
    )


_AMOUNT_PATTERN = _pattern_of("withdrawal", "$defs", "amount", "anyOf", 1)
_BALANCE_PATTERN = _pattern_of("withdrawal", "$defs", "balance", "anyOf", 1)
_CODE_PATTERN = _pattern_of("withdrawal", "$defs", "code")
_LIMIT = 10**15


def _decimal_strings(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) <= 40)


_amounts = st.one_of(
    st.integers(1, _LIMIT - 1),
    st.floats(min_value=0, max_value=_LIMIT, exclude_min=True, exclude_max=True),
    _decimal_strings(_AMOUNT_PATTERN),
)
_balances = st.one_of(
    st.integers(0, _LIMIT - 1),
    st.floats(min_value=0, max_value=_LIMIT, exclude_max=True),
    _decimal_strings(_BALANCE_PATTERN),
)
_codes = st.from_regex(_CODE_PATTERN, fullmatch=True)
_ips = st.ip_addresses().map(str)
_destinations = st.fixed_dictionaries(
    {"bank_code": _codes, "account_number": _codes},
    optional={
        "branch_code": _opt(_codes),
        "holder_name": _opt(_ids()),
        "swift": st.text(max_size=3),
    },
)
_extras = {"x_source": st.none() | st.integers() | st.text(max_size=8)}


def _common(event_type: str) -> dict[str, st.SearchStrategy[Any]]:
    return {
        "type": st.just(event_type),
        "event_id": _ids(),
        "customer_id": _ids(),
        "occurred_at": _timestamps(),
    }


_logins = st.fixed_dictionaries(
    {**_common("login"), "success": st.booleans(), "ip": _ips},
    optional={
        "device_id": _opt(_ids()),
        "user_agent": _opt(_ids(fields.MAX_TEXT)),
        "country": _opt(
            st.from_regex(_pattern_of("login", "properties", "country"), fullmatch=True)
        ),
        "auth_method": _opt(_ids(64)),
        **_extras,
    },
)


@st.composite
def _account_changes(draw: st.DrawFn) -> dict[str, Any]:
    change_type = draw(st.sampled_from(sorted(CHANGE_TYPES)))
    dest = _destinations if change_type == "withdrawal_destination" else _opt(_destinations)
    obj = draw(
        st.fixed_dictionaries(
            {
                **_common("account_change"),
                "change_type": st.just(change_type),
                "channel": st.sampled_from(sorted(CHANNELS)),
            },
            optional={
                "destination": dest,
                "ip": _opt(_ips),
                "device_id": _opt(_ids()),
                "verified": _opt(st.booleans()),
                **_extras,
            },
        )
    )
    if change_type == "withdrawal_destination" and obj.get("destination") is None:
        obj["destination"] = draw(_destinations)
    return obj


_withdrawals = st.fixed_dictionaries(
    {
        **_common("withdrawal"),
        "withdrawal_id": _ids(),
        "amount": _amounts,
        "currency": st.from_regex(
            _pattern_of("withdrawal", "properties", "currency"), fullmatch=True
        ),
        "destination": _destinations,
    },
    optional={
        "channel": _opt(_ids(64)),
        "ip": _opt(_ips),
        "device_id": _opt(_ids()),
        "available_balance": _opt(_balances),
        **_extras,
    },
)


@st.composite
def _trades(draw: st.DrawFn) -> dict[str, Any]:
    """A trade whose proceeds are quantity x price, off by at most the tolerance."""
    obj = draw(
        st.fixed_dictionaries(
            {
                **_common("trade"),
                "side": st.sampled_from(("buy", "sell")),
                "instrument": _ids(),
                "currency": st.from_regex(
                    _pattern_of("trade", "properties", "currency"), fullmatch=True
                ),
            },
            optional={
                "holdings_value_after": _opt(_balances),
                "channel": _opt(st.sampled_from(sorted(CHANNELS))),
                "ip": _opt(_ips),
                "device_id": _opt(_ids()),
                **_extras,
            },
        )
    )
    quantity = draw(st.integers(1, 10**6))
    price = draw(st.decimals(Decimal("0.01"), Decimal("100000"), places=2))
    off = draw(st.decimals(Decimal("-0.05"), Decimal("0.05"), places=3))
    proceeds = (quantity * price * (1 + off)).quantize(Decimal("0.01"))
    text = draw(st.sampled_from((str, float)))
    obj.update(quantity=quantity, price=text(price), proceeds=str(proceeds))
    return obj


@st.composite
def _case_decisions(draw: st.DrawFn) -> dict[str, Any]:
    action = draw(st.sampled_from(sorted(CASE_ACTIONS)))
    verify = action == "verify_destination"
    required = {
        "decision_id": _ids(),
        "customer_id": _ids(),
        "occurred_at": _timestamps(),
        "action": st.just(action),
        "actor": _ids(),
    }
    optional = {
        "type": _opt(st.just("case_decision")),
        "note": _opt(_ids(fields.MAX_TEXT)),
        **_extras,
    }
    if verify:
        required["destination"] = _destinations
        optional["withdrawal_id"] = _opt(_ids())
    elif action == "suppress":
        required["suppression_id"] = _ids()
        required["case_id"] = _ids()
        required["reason_codes"] = st.lists(
            st.sampled_from(sorted(RULE_CODES - UNMUTABLE)), min_size=1, unique=True
        )
        optional["withdrawal_id"] = _opt(_ids())
    else:
        required["withdrawal_id"] = _ids()
        optional["destination"] = _opt(_destinations)
    obj = draw(st.fixed_dictionaries(required, optional=optional))
    if action == "suppress":
        obj["until"] = _later(draw, obj["occurred_at"])
    return obj


def _later(draw: st.DrawFn, stamp: str) -> str:
    """A timestamp after `stamp` by at most the longest suppression, in a random zone."""
    at = datetime.fromisoformat(stamp.replace("z", "Z").replace("t", "T").replace(" ", "T"))
    longest = LONGEST if at.year < 9998 else timedelta(hours=1)  # within datetime's range
    span = draw(st.integers(1, int(longest.total_seconds())))
    return (at + timedelta(seconds=span)).astimezone(UTC).isoformat()


@st.composite
def _customer_responses(draw: st.DrawFn) -> dict[str, Any]:
    obj = draw(
        st.fixed_dictionaries(
            {
                "type": st.just("customer_response"),
                "response_id": _ids(),
                "customer_id": _ids(),
                "occurred_at": _timestamps(),
                "notice_id": _ids(),
                "answer": st.sampled_from(["confirm", "deny"]),
                "contact": st.sampled_from(["current", "as_of"]),
                "channel": st.sampled_from(sorted(CHANNELS)),
            },
            optional={"x_source": _extras["x_source"]},
        )
    )
    if obj["contact"] == "as_of":  # not later than occurred_at: the same time, or long before
        early = "0002-01-01T00:00:00Z" if obj["occurred_at"][:4] > "0002" else None
        obj["contact_as_of"] = draw(
            st.sampled_from([obj["occurred_at"], early or obj["occurred_at"]])
        )
    return obj


_EVENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "login": _logins,
    "account_change": _account_changes(),
    "withdrawal": _withdrawals,
    "case_decision": _case_decisions(),
    "trade": _trades(),
    "customer_response": _customer_responses(),
}
_events = st.sampled_from(sorted(_EVENTS)).flatmap(lambda t: _EVENTS[t].map(lambda obj: (t, obj)))


def _payload(event_type: str) -> str:
    return event_type.replace("_", "-")


@settings(max_examples=200, deadline=None)
@given(_events)
def test_generated_valid_events_pass_schema_and_decoder(event: tuple[str, dict[str, Any]]) -> None:
    event_type, obj = event
    assert _errors(_payload(event_type), obj) == []
    decode_object(obj, event_type)


@settings(max_examples=300, deadline=None)
@given(_events)
def test_detector_rebuilds_a_validated_event_exactly_as_the_decoder_made_it(
    event: tuple[str, dict[str, Any]],
) -> None:
    """The ingest agent validates; the detector revives the forwarded bytes unchecked."""
    event_type, obj = event
    raw = json.dumps(obj).encode()  # as a producer sends it, and ingest forwards it
    try:
        accepted = decode_input(raw, event_type, MAX_BYTES)
    except InvalidEvent:
        return  # refused at the edge (say, a lone surrogate): never forwarded
    assert repr(revive(orjson.loads(raw), event_type)) == repr(accepted)


_KINDS = {
    "success": {"boolean"},
    "verified": {"boolean"},
    "destination": {"object"},
    "reason_codes": {"array"},
    "amount": {"number", "string"},
    "available_balance": {"number", "string"},
    "quantity": {"number", "string"},
    "price": {"number", "string"},
    "proceeds": {"number", "string"},
    "holdings_value_after": {"number", "string"},
}
_SAMPLES: dict[str, Any] = {
    "string": "7",
    "number": 7,
    "boolean": True,
    "array": ["7"],
    "object": {"7": 7},
}


def _required_paths(event_type: str, obj: dict[str, Any]) -> list[tuple[str, ...]]:
    paths = [(name,) for name in _schema(_payload(event_type))["required"]]
    if event_type == "account_change" and obj["change_type"] == "withdrawal_destination":
        paths.append(("destination",))
    if event_type == "case_decision":
        paths += {
            "verify_destination": [("destination",)],
            "suppress": [("suppression_id",), ("case_id",), ("reason_codes",), ("until",)],
        }.get(obj["action"], [("withdrawal_id",)])
    if event_type == "customer_response" and obj["contact"] == "as_of":
        paths.append(("contact_as_of",))
    if isinstance(obj.get("destination"), dict):
        paths += [("destination", "bank_code"), ("destination", "account_number")]
    return paths


def _present_paths(event_type: str, obj: dict[str, Any]) -> list[tuple[str, ...]]:
    known = _schema(_payload(event_type))["properties"]
    paths = [(name,) for name in known if obj.get(name) is not None]
    destination = obj.get("destination")
    if isinstance(destination, dict):
        paths += [
            ("destination", k)
            for k in ("bank_code", "branch_code", "account_number", "holder_name")
            if destination.get(k) is not None
        ]
    return paths


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any], str]:
    """A valid event with one defect: a required field dropped, or a value's type swapped."""
    event_type, obj = draw(_events)
    obj = copy.deepcopy(obj)
    if draw(st.booleans()):
        path = draw(st.sampled_from(_required_paths(event_type, obj)))
        *parents, name = path
        target = obj
        for parent in parents:
            target = target[parent]
        del target[name]
    else:
        path = draw(st.sampled_from(_present_paths(event_type, obj)))
        *parents, name = path
        target = obj
        for parent in parents:
            target = target[parent]
        allowed = _KINDS.get(name, {"string"}) if not parents else {"string"}
        kind = draw(st.sampled_from(sorted(set(_SAMPLES) - allowed)))
        target[name] = _SAMPLES[kind]
    return event_type, obj, ".".join(path)


@settings(max_examples=200, deadline=None)
@given(_mutated())
def test_mutated_events_fail_schema_and_decoder_on_the_mutated_field(
    mutated: tuple[str, dict[str, Any], str],
) -> None:
    event_type, obj, field = mutated
    errors = _errors(_payload(event_type), obj)
    assert field in _blamed(errors), [e.message for e in errors]
    with pytest.raises(InvalidEvent) as caught:
        decode_object(obj, event_type)
    assert caught.value.field == field, str(caught.value)


def _outside_utc_range(stamp: str) -> bool:
    """Years 1 and 9999 can leave the datetime range when moved to UTC (tested below)."""
    return stamp[:4] in ("0001", "9999")


@settings(max_examples=200, deadline=None)
@given(
    st.from_regex(_pattern_of("login", "$defs", "timestamp"), fullmatch=True).filter(
        lambda s: not _outside_utc_range(s)
    )
)
def test_every_timestamp_the_schema_accepts_the_decoder_accepts(stamp: str) -> None:
    obj = {
        "type": "login",
        "event_id": "e",
        "customer_id": "c",
        "occurred_at": stamp,
        "success": True,
        "ip": "192.0.2.1",
    }
    assert _errors("login", obj) == []
    assert decode_object(obj, "login").occurred_at.tzinfo is not None


@pytest.mark.parametrize(
    "stamp",
    [
        "2024-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T23:59:60Z",
        "2024-05-01T10:00:00+24:00",
        "2024-05-01T10:00:00.1234567890Z",
        "2024-05-01T10:00:00Z\n",
        "2024-05-01T10:00Z",
    ],
)
def test_impossible_timestamps_fail_schema_and_decoder(stamp: str) -> None:
    obj = {
        "type": "login",
        "event_id": "e",
        "customer_id": "c",
        "occurred_at": stamp,
        "success": True,
        "ip": "192.0.2.1",
    }
    assert "occurred_at" in _blamed(_errors("login", obj))
    with pytest.raises(InvalidEvent) as caught:
        decode_object(obj, "login")
    assert caught.value.field == "occurred_at"


def test_leap_days_are_accepted() -> None:
    for stamp in ("2024-02-29T00:00:00Z", "2000-02-29T00:00:00Z"):
        obj = {
            "type": "login",
            "event_id": "e",
            "customer_id": "c",
            "occurred_at": stamp,
            "success": True,
            "ip": "192.0.2.1",
        }
        assert _errors("login", obj) == []
        decode_object(obj, "login")
    stamp = "1900-02-29T00:00:00Z"
    assert "occurred_at" in _blamed(_errors("login", {"occurred_at": stamp}))


# ------------------------------------------------------------------ known decoder defects


def _withdrawal(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "type": "withdrawal",
        "event_id": "e",
        "customer_id": "c",
        "occurred_at": "2024-05-01T00:00:00Z",
        "withdrawal_id": "w",
        "amount": "1",
        "currency": "JPY",
        "destination": {"bank_code": "0005", "account_number": "1234567"},
    }
    obj.update(changes)
    return obj


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"currency": "JPY\n"}, "currency"),
        ({"destination": {"bank_code": "0005\n", "account_number": "1"}}, "destination.bank_code"),
    ],
)
def test_decoder_rejects_a_trailing_newline_in_codes(changes: dict[str, Any], field: str) -> None:
    obj = _withdrawal(**changes)
    assert field in _blamed(_errors("withdrawal", obj))
    with pytest.raises(InvalidEvent):
        decode_object(obj, "withdrawal")


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_decoder_reports_timestamps_beyond_the_utc_range_as_invalid(stamp: str) -> None:
    with pytest.raises(InvalidEvent):
        decode_object(_withdrawal(occurred_at=stamp), "withdrawal")


@pytest.mark.parametrize("ip", ["fe80::1%eth0", "fe80::1%25eth0", "::1%1"])
def test_an_ipv6_address_with_a_zone_id_is_refused_naming_the_ip(ip: str) -> None:
    login = {
        "type": "login",
        "event_id": "lg-1",
        "customer_id": "C-100234",
        "occurred_at": "2024-05-01T09:58:12+09:00",
        "success": True,
        "ip": "fe80::1",
    }
    assert decode_object(login, "login").type == "login"  # the same address without a zone
    with pytest.raises(InvalidEvent) as caught:
        decode_object({**login, "ip": ip}, "login")
    assert caught.value.field == "ip"
