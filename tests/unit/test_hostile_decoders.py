"""Hostile input to the decoders, the notification config and the policy loader: each
either accepts its input or raises its own error, whose message names the culprit. No
other exception escapes (a crash of the worker is the failure these properties hunt)."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.hostile import FUZZ, RAW_TOKENS, VALID, json_values, mutated_events, replaced
from withdrawguard.engine.decode import InvalidEvent, decode_input, decode_object
from withdrawguard.engine.policy import PolicyError, load_policy, policy_from
from withdrawguard.notify.config import NotifyConfigError, load_notify_config, parse_notify_config

E = TypeVar("E", bound=Exception)
MAX = 262_144
TYPES = [t for t, _ in VALID]


def hostile(event_type: str, path: str, value: Any) -> tuple[str, str, dict[str, Any]]:
    return event_type, path, replaced(dict(VALID)[event_type], path, value)


def refusal(call: Callable[[], object], error: type[E]) -> E | None:
    """The `error` that `call` raises, or None when it accepts its input (any other
    exception propagates: that is the crash these tests hunt)."""
    try:
        call()
    except error as exc:
        return exc
    return None


def decode_or_invalid(raw: bytes, event_type: str) -> InvalidEvent | None:
    exc = refusal(lambda: decode_input(raw, event_type, MAX), InvalidEvent)
    if exc is not None:
        assert str(exc), "an error says what is wrong"
        assert len(exc.kind) <= 60
    return exc


@FUZZ
@given(raw=st.binary(max_size=512), event_type=st.sampled_from(TYPES))
def test_random_bytes_are_refused_with_an_invalid_event(raw: bytes, event_type: str) -> None:
    exc = decode_or_invalid(raw, event_type)
    assert exc is not None


@pytest.mark.parametrize("token", RAW_TOKENS, ids=lambda t: repr(t[:20]))
@pytest.mark.parametrize("event_type", TYPES)
def test_odd_json_in_place_of_each_field_is_refused_or_accepted_never_a_crash(
    token: bytes, event_type: str
) -> None:
    body = dict(VALID)[event_type]
    for value in body.values():
        raw = orjson.dumps(body).replace(orjson.dumps(value), token, 1)
        decode_or_invalid(raw, event_type)
    whole = decode_or_invalid(token, event_type)
    assert whole is not None and whole.field == ""


@FUZZ
@given(mutated_events())
@example(hostile("withdrawal", "amount", "NaN"))
@example(hostile("withdrawal", "amount", 1e308))
@example(hostile("withdrawal", "amount", "1" * 41))
@example(hostile("login", "occurred_at", "9999-12-31T23:59:59-23:59"))
@example(hostile("login", "occurred_at", "0001-01-01T00:00:00+23:59"))
@example(hostile("login", "ip", "fe80::1%eth0"))
@example(hostile("account_change", "destination.account_number", "\u202e1234"))
@example(hostile("case_decision", "note", "x" * 5000))
def test_a_hostile_field_is_refused_naming_that_field(
    case: tuple[str, str, dict[str, Any]],
) -> None:
    event_type, path, body = case
    try:
        raw = orjson.dumps(body)
    except orjson.JSONEncodeError:  # a value orjson will not write cannot reach the topic
        return
    if len(raw) > MAX:
        raw = raw[:MAX]
    exc = decode_or_invalid(raw, event_type)
    if exc is not None and len(orjson.dumps(body)) <= MAX:
        assert exc.field == path or exc.field.startswith(path + "."), (path, str(exc))


@FUZZ
@given(value=json_values, event_type=st.sampled_from(TYPES))
def test_a_payload_that_is_not_an_object_is_refused_as_a_whole(value: Any, event_type: str) -> None:
    if isinstance(value, dict):
        with pytest.raises(InvalidEvent):
            decode_object(value, event_type)
        return
    raw = orjson.dumps(value)
    exc = decode_or_invalid(raw, event_type)
    assert exc is not None and exc.field == ""
    assert ("over the limit" if len(raw) > MAX else "JSON object") in exc.problem


def test_an_oversized_payload_is_refused_before_it_is_parsed() -> None:
    body = dict(VALID)["login"] | {"user_agent": "x" * MAX}
    exc = decode_or_invalid(orjson.dumps(body), "login")
    assert exc is not None and "over the limit" in str(exc)


def test_nesting_thousands_deep_is_refused_not_a_recursion_error() -> None:
    exc = decode_or_invalid(b'{"a":' * 20_000 + b"1" + b"}" * 20_000, "login")
    assert exc is not None and "not valid UTF-8 JSON" in str(exc)


# ---------------------------------------------------------------- notification config

toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),  # TOML has nan and inf
    st.text(max_size=30),
    st.sampled_from(["webhook", "slack", "pagerduty", "email", "high", "low", "\x00", "a\x00b"]),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
CHANNEL_KEYS = ["type", "min_severity", "rate_per_minute", "url", "secret_env", "secret_file"]
CHANNEL_KEYS += ["host", "port", "starttls", "username", "from", "to", "cafile"]
GOOD_CHANNEL = {"type": "webhook", "url": "https://example.test/hook", "secret_env": "HOOK"}


@FUZZ
@given(raw=st.dictionaries(st.sampled_from(["notify", "channels", "x"]), toml_values, max_size=3))
def test_any_notify_config_shape_is_accepted_or_refused_by_name(raw: dict[str, Any]) -> None:
    exc = refusal(lambda: parse_notify_config(raw, {"HOOK": "s3cret"}), NotifyConfigError)
    assert exc is None or str(exc)


@FUZZ
@given(
    key=st.sampled_from([*CHANNEL_KEYS, "attempts", "timeout_seconds"]),
    value=toml_values,
)
@example(key="port", value="smtp")
@example(key="port", value=math.inf)
@example(key="attempts", value=math.nan)
@example(key="secret_file", value="a\x00b")
@example(key="cafile", value=7)
@example(key="to", value=3)
def test_a_hostile_notify_value_is_refused_naming_its_key(key: str, value: Any) -> None:
    if key in CHANNEL_KEYS:
        raw: dict[str, Any] = {"channels": {"ops": GOOD_CHANNEL | {key: value}}}
    else:
        raw = {"notify": {key: value}, "channels": {"ops": GOOD_CHANNEL}}
    exc = refusal(lambda: parse_notify_config(raw, {"HOOK": "s3cret"}), NotifyConfigError)
    named = key in str(exc) or "secret" in str(exc)
    other_type = key == "type" and "'channels.ops'" in str(exc)  # what that type needs
    assert exc is None or named or other_type, str(exc)


@FUZZ
@given(raw=st.binary(max_size=300))
@example(raw=b"\xff\xfe[channels]")
@example(raw=b"a = " + b"[" * 5000)
def test_a_notify_file_of_random_bytes_is_refused(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "notify.toml"
        path.write_bytes(raw)
        with pytest.raises(NotifyConfigError):
            load_notify_config(path, {})


# ---------------------------------------------------------------- policy

POLICY_KEYS = [
    ("decision", "hold_score"),
    ("decision", "reevaluate_hours"),
    ("severity", "high"),
    ("limits", "max_logins"),
    ("rules", "new_device", "ipv4_prefix"),
    ("rules", "drain", "balance_ratio"),
    ("rules", "dest_changed_recently", "holding_channels"),
    ("rules", "credential_change_chain", "change_types"),
    ("rules", "dest_changed_recently", "weight"),
    ("rules", "new_device", "memory_days"),
    ("rules", "source_ip_shared", "window_minutes"),
]


def nest(keys: tuple[str, ...], value: Any) -> dict[str, Any]:
    return {keys[0]: nest(keys[1:], value)} if len(keys) > 1 else {keys[0]: value}


@FUZZ
@given(keys=st.sampled_from(POLICY_KEYS), value=toml_values)
@example(keys=POLICY_KEYS[6], value=[{"a": 1}])
@example(keys=POLICY_KEYS[5], value="1e999999999")
@example(keys=POLICY_KEYS[5], value="NaN")
@example(keys=POLICY_KEYS[3], value=10**18)
@example(keys=POLICY_KEYS[1], value=2**62)
def test_a_hostile_policy_value_is_refused_naming_its_key(
    keys: tuple[str, ...], value: Any
) -> None:
    exc = refusal(lambda: policy_from(nest(keys, value), "fuzz"), PolicyError)
    assert exc is None or keys[-1] in str(exc) or keys[0] in str(exc), str(exc)


@FUZZ
@given(raw=st.binary(max_size=300))
@example(raw=b"[decision]\nhold_score = " + b"[" * 5000)
def test_a_policy_file_of_random_bytes_is_refused(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "policy.toml"
        path.write_bytes(raw)
        exc = refusal(lambda: load_policy(path), PolicyError)
        assert exc is None or str(path) in str(exc)
