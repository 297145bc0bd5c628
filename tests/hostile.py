"""Hostile input for the fuzz tests: strategies (hypothesis) and a seeded corpus.

The same hostile values feed the decoder properties (tests/unit), the agents in Faust's
test context and the HTTP endpoints (tests/agents). `WG_FUZZ_EXAMPLES` sets how many
examples each property tries (default 150: the suite stays fast); docs/security.md says
how to run deeper.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from withdrawguard.sim import scenarios as s

EXAMPLES = int(os.environ.get("WG_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,  # the machine is shared: a slow example is not a failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

ODD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\u202eevil\u202c",  # right-to-left override
    "\u200f\u200e",  # RTL / LTR marks
    "\ufeff",
    "\u0000" * 3,
    "😀" * 70,
    "\uff21" * 300,  # full-width A: 300 characters, 900 bytes
    "x" * 5000,
    "x" * 20_000,
    "\n\r\t",
    "'; DROP TABLE holds; --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00%ff",
    "ｰ̸̡̛̩̤̹̹͓͑̾͐͆͋̓̿̅̓̈́̈́͘",
]
"""Strings that are valid JSON but hostile: NUL, bidi controls, emoji, very long."""

RAW_TOKENS = [
    b"NaN",
    b"-NaN",
    b"Infinity",
    b"-Infinity",
    b"1e999",
    b"-1e999",
    b"1e-999",
    b"123456789012345678901234567890123456789",
    b"-0",
    b"0.000000000000000000000000000001",
    b'"\\ud800"',  # a lone surrogate, escaped
    b'"\\udfff\\ud800"',
    b'"\\u0000"',
    b"[" * 5000 + b"]" * 5000,  # deep nesting
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"\xff\xfe",
    b'"\xed\xa0\x80"',  # a surrogate in raw UTF-8
    b"true",
    b"null",
    b"[]",
]
"""JSON (or nearly) fragments that orjson alone can say something about."""

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    st.sampled_from(ODD_TEXT),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


def valid_events() -> list[tuple[str, dict[str, Any]]]:
    """One valid payload of every input type, with every optional field present."""
    dest = dict(s.MULE_DEST)
    _, lg = s.login("cust-h", "e-login", NOW, device="dev-1")
    lg.update(user_agent="Mozilla/5.0", country="JP", auth_method="password")
    _, ch = s.change("cust-h", "e-change", NOW, "withdrawal_destination", destination=dest)
    ch.update(ip="203.0.113.9", device_id="dev-1")
    _, wd = s.withdrawal("cust-h", "e-wd", NOW, "wd-h", "1000", destination=dest)
    wd.update(channel="web", ip="203.0.113.9", device_id="dev-1", available_balance="5000")
    _, cd = s.case("cust-h", "dec-h", NOW, "release", withdrawal_id="wd-h")
    cd.update(type="case_decision", note="called the customer")
    return [("login", lg), ("account_change", ch), ("withdrawal", wd), ("case_decision", cd)]


VALID = valid_events()


def paths(obj: dict[str, Any], prefix: str = "") -> list[str]:
    """Every field path of a payload, nested ones as `destination.account_number`."""
    out = []
    for key, value in obj.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out += paths(value, prefix + key + ".")
    return out


def replaced(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `obj` with the field at `path` set to `value` (or removed if `...`)."""
    head, _, rest = path.partition(".")
    copy = dict(obj)
    if rest:
        copy[head] = replaced(copy[head], rest, value)
    elif value is ...:
        copy.pop(head, None)
    else:
        copy[head] = value
    return copy


@st.composite
def mutated_events(draw: st.DrawFn) -> tuple[str, str, dict[str, Any]]:
    """(event type, mutated field path, payload) with one field replaced by a hostile
    value or removed."""
    event_type, body = draw(st.sampled_from(VALID))
    path = draw(st.sampled_from(paths(body)))
    value = draw(st.one_of(st.just(...), json_values))
    return event_type, path, replaced(body, path, value)


def corpus(seed: int, size: int) -> Iterator[tuple[str, bytes]]:
    """A reproducible corpus of `size` hostile payloads: (event type, bytes)."""
    rng = random.Random(seed)
    hostile: list[Any] = [*ODD_TEXT, None, True, 0, -1, 2**63, 1.5e308, -1e-308, [], {}]
    hostile += [[[[[1]]]], {"a": {"b": {"c": None}}}, "9" * 41, "1e3", "0x10"]
    for i in range(size):
        event_type, body = VALID[i % len(VALID)]
        choice = rng.random()
        if choice < 0.15:
            yield event_type, rng.randbytes(rng.randrange(0, 200))
        elif choice < 0.3:
            token = rng.choice(RAW_TOKENS)
            text = orjson.dumps(body)
            field = rng.choice([k for k in body if k != "type"])
            yield event_type, text.replace(orjson.dumps(body[field]), token, 1)
        else:
            path = rng.choice(paths(body))
            value = rng.choice([*hostile, ...])
            yield event_type, orjson.dumps(replaced(body, path, value))
