"""The case-event codec: every event round-trips, bad input is refused naming the
field, and the JSON Schema agrees with the codec."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.unit.test_cases_builders import T0, news
from withdrawguard.cases import codec
from withdrawguard.cases import events as ev
from withdrawguard.cases.codec import CaseEventError

ids = st.text(min_size=1, max_size=20).filter(lambda s: bool(s.strip()))
times = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive; tz is added
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001 - as above
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-5))]),
)
amounts = st.decimals(min_value=0, max_value=Decimal("1e12"), places=2, allow_nan=False)
triggers = st.builds(
    ev.Trigger,
    kind=st.sampled_from(["hold", "alert", "verdict"]),
    ref_id=ids,
    severity=st.sampled_from(ev.SEVERITIES),
    reason_codes=st.lists(ids, max_size=4).map(tuple),
    withdrawal_id=st.none() | ids,
    amount=st.none() | amounts,
    currency=st.none() | st.sampled_from(["JPY", "USD"]),
    channel=st.none() | ids,
    hold_status=st.none() | st.sampled_from(ev.FATES),
)
notes = st.text(min_size=1, max_size=2048).filter(lambda s: bool(s.strip()))
_BY_TYPE: dict[Any, st.SearchStrategy[Any]] = {
    "str": ids,
    "str | None": st.none() | ids,
    "datetime": times,
    "datetime | None": st.none() | times,
    "Trigger": triggers,
    "bool": st.booleans(),
    "int": st.integers(1, 10_000),
    "tuple[str, ...]": st.lists(ids, min_size=1, max_size=5).map(tuple),
    "Status": st.sampled_from(ev.STATUSES),
    "Outcome": st.sampled_from(ev.OUTCOMES),
}


def _strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    kw: dict[str, st.SearchStrategy[Any]] = {}
    for f in dataclasses.fields(cls):
        if f.name == "kind":
            continue
        if f.name == "note":
            kw[f.name] = notes if f.type == "str" else st.none() | notes
        else:
            kw[f.name] = _BY_TYPE[f.type]
    return st.builds(cls, **kw)


any_event = st.one_of([_strategy(cls) for cls in ev.EVENT_TYPES.values()])


@settings(max_examples=500, deadline=None)
@given(any_event)
def test_every_event_round_trips_through_json(event: ev.CaseEvent) -> None:
    raw = codec.encode_bytes(event)
    assert codec.decode_bytes(raw) == event
    assert codec.encode(codec.decode_bytes(raw)) == json.loads(raw)


@settings(max_examples=300, deadline=None)
@given(any_event)
def test_every_encoded_event_passes_the_schema(event: ev.CaseEvent) -> None:
    Draft202012Validator(codec.schema()).validate(json.loads(codec.encode_bytes(event)))


def test_the_schema_is_a_valid_draft_2020_12_schema_with_one_branch_per_kind() -> None:
    schema = codec.schema()
    Draft202012Validator.check_schema(schema)
    assert len(schema["oneOf"]) == len(ev.EVENT_TYPES) == 18
    for kind, cls in ev.EVENT_TYPES.items():
        branch = schema["$defs"][kind]
        assert branch["additionalProperties"] is False
        assert set(branch["properties"]) == {f.name for f in dataclasses.fields(cls)}
        assert branch["properties"]["kind"] == {"const": kind}


def test_every_class_is_registered_under_its_own_kind() -> None:
    for kind, cls in ev.EVENT_TYPES.items():
        assert cls.__dataclass_fields__["kind"].default == kind


def _claimed(**change: Any) -> dict[str, Any]:
    obj = codec.encode(ev.Claimed(case_id="c-1", event_id="e-1", actor="alice", at=T0))
    obj.update(change)
    return {k: v for k, v in obj.items() if v is not ...}


def _proposed(**change: Any) -> dict[str, Any]:
    event = ev.ReleaseProposed(
        case_id="c-1",
        event_id="e-1",
        actor="alice",
        at=T0,
        proposal_id="p-1",
        hold_id="hold-w1",
        note="customer confirmed by phone",
        expires_at=T0 + timedelta(hours=24),
    )
    return {**codec.encode(event), **change}


def _opened(**trigger_change: Any) -> dict[str, Any]:
    event = ev.Opened(
        case_id="c-1",
        event_id="e-1",
        actor="system",
        at=T0,
        customer_id="cust-1",
        inbox="general",
        sla_minutes=480,
        due_at=T0 + timedelta(hours=8),
        trigger=news(),
    )
    obj = codec.encode(event)
    obj["trigger"] = {**obj["trigger"], **trigger_change}
    return obj


@pytest.mark.parametrize(
    ("obj", "field", "problem"),
    [
        (_claimed(kind="renamed"), "kind", "unknown event kind"),
        (_claimed(kind=None), "kind", "unknown event kind"),
        (_claimed(extra=1), "extra", "unknown field"),
        (_claimed(case_id=...), "case_id", "is required"),
        (_claimed(actor=""), "actor", "must not be empty"),
        (_claimed(actor="   "), "actor", "must not be empty"),
        (_claimed(actor=7), "actor", "must be a string"),
        (_claimed(actor=None), "actor", "must not be null"),
        (_claimed(event_id="x" * 257), "event_id", "over the limit of 256"),
        (_claimed(at="2026-12-01T09:00:00"), "at", "RFC 3339 time with an offset"),
        (_claimed(at="2026-02-30T09:00:00Z"), "at", "not a real date"),
        (_claimed(at=1764579600), "at", "RFC 3339"),
        (_proposed(note="n" * 2049), "note", "2049 characters, over the limit of 2048"),
        (_proposed(note=None), "note", "must not be null"),
        (_proposed(expires_at="tomorrow"), "expires_at", "RFC 3339"),
        (_opened(amount=5000000), "trigger.amount", "decimal in a string"),
        (_opened(amount="-1"), "trigger.amount", "non-negative decimal"),
        (_opened(amount="1e6"), "trigger.amount", "decimal in a string"),
        (_opened(currency="jpy"), "trigger.currency", "ISO 4217"),
        (_opened(severity="severe"), "trigger.severity", "must be one of"),
        ({**_opened(), "kind": "suppression_added"}, "customer_id", "unknown field"),
        (_opened(reason_codes=["A", 3]), "trigger.reason_codes[1]", "must be a string"),
        (_opened(colour="red"), "trigger.colour", "unknown field"),
        ({**_opened(), "trigger": "hold-w1"}, "trigger", "must be an object"),
        ({**_opened(), "sla_minutes": True}, "sla_minutes", "whole number"),
        ({**_opened(), "sla_minutes": 0}, "sla_minutes", "whole number"),
    ],
)
def test_a_bad_event_is_refused_naming_the_field(
    obj: dict[str, Any], field: str, problem: str
) -> None:
    with pytest.raises(CaseEventError) as caught:
        codec.decode(obj)
    assert caught.value.field == field
    assert problem in caught.value.problem
    if field != "kind":  # a kind the schema has no branch for fails oneOf at the root
        assert not Draft202012Validator(codec.schema()).is_valid(obj)


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b"{not json", "not valid UTF-8 JSON"),
        (b"\xff\xfe", "not valid UTF-8 JSON"),
        (b"{}" + b" " * codec.MAX_BYTES, "over the limit"),
    ],
)
def test_bytes_that_are_not_an_event_object_are_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(CaseEventError, match=problem):
        codec.decode_bytes(raw)


def test_times_are_written_in_utc_and_read_back_equal() -> None:
    tokyo = datetime(2026, 12, 1, 18, 0, tzinfo=timezone(timedelta(hours=9)))
    obj = codec.encode(ev.Claimed(case_id="c", event_id="e", actor="a", at=tokyo))
    assert obj["at"] == "2026-12-01T09:00:00Z"
    assert codec.decode(obj).at == tokyo


def test_a_naive_time_is_never_written() -> None:
    naive = datetime(2026, 12, 1, 9, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(CaseEventError, match="naive"):
        codec.encode(ev.Claimed(case_id="c", event_id="e", actor="a", at=naive))


def test_money_is_written_as_a_decimal_string_without_exponent() -> None:
    obj = _opened()
    assert obj["trigger"]["amount"] == "5000000"
    event = codec.decode(_opened(amount="98000000.50"))
    assert isinstance(event, ev.Opened)
    assert event.trigger.amount == Decimal("98000000.50")
    big = dataclasses.replace(
        event, trigger=dataclasses.replace(event.trigger, amount=Decimal("1E+6"))
    )
    assert codec.encode(big)["trigger"]["amount"] == "1000000"


def test_optional_fields_may_be_left_out_or_null() -> None:
    obj = _proposed()
    assert codec.decode(obj) == codec.decode({**obj})
    unassigned = {
        "kind": "unassigned",
        "case_id": "c",
        "event_id": "e",
        "actor": "a",
        "at": "2026-12-01T09:00:00Z",
    }
    assert codec.decode(unassigned) == codec.decode({**unassigned, "note": None})


def test_suppressed_reasons_must_be_named_but_news_may_have_none() -> None:
    added = ev.SuppressionAdded(
        case_id="c",
        event_id="e",
        actor="a",
        at=T0,
        suppression_id="s",
        reason_codes=("DRAIN",),
        until=T0 + timedelta(days=1),
        note="n",
    )
    obj = {**codec.encode(added), "reason_codes": []}
    with pytest.raises(CaseEventError, match="list of 1 to 64") as caught:
        codec.decode(obj)
    assert caught.value.field == "reason_codes"
    assert not Draft202012Validator(codec.schema()).is_valid(obj)
    allowed = codec.decode(_opened(reason_codes=[]))
    assert isinstance(allowed, ev.Opened) and allowed.trigger.reason_codes == ()
