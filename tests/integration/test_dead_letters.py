"""Bad input lands in dead-letters with an error that names the problem; the events
around it are still decided."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tests.integration.harness import Bus, unique
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
DEST = {"bank_code": "0005", "account_number": "1112223"}


def good(cid: str, n: int) -> dict:
    return s.withdrawal(cid, f"{cid}-e{n}", NOW, f"{cid}-wd{n}", "1000", destination=DEST)[1]


def test_each_kind_of_bad_message_is_dead_lettered_and_neighbours_are_decided(bus: Bus) -> None:
    cid = unique("dl")
    base = good(cid, 0)
    bad: dict[str, tuple[bytes, str]] = {
        "json": (b'{"event_id": "x", ', "not valid UTF-8 JSON"),
        "missing": (
            orjson.dumps({k: v for k, v in base.items() if k != "withdrawal_id"}),
            "withdrawal_id: is required",
        ),
        "type": (orjson.dumps({**base, "amount": [1]}), "amount: must be a decimal"),
        "negative": (orjson.dumps({**base, "amount": "-5"}), "amount: must be positive"),
        "offset": (
            orjson.dumps({**base, "occurred_at": "2026-11-25T10:00:00"}),
            "occurred_at: must be an RFC 3339 timestamp with a UTC offset",
        ),
        "topic": (orjson.dumps({**base, "type": "login"}), "type: is 'login' but this topic"),
        "size": (orjson.dumps({**base, "pad": "x" * 300_000}), "over the limit of 262144"),
        "binary": (b"\xff\xfe\x00garbage", "not valid UTF-8 JSON"),
        "future": (
            orjson.dumps({**base, "occurred_at": "2099-01-01T00:00:00+00:00"}),
            "occurred_at: is ",
        ),
    }
    bus.send([("withdrawals", good(cid, 1))])
    for label, (raw, _) in bad.items():
        bus.send_raw("withdrawals", f"{cid}-{label}".encode(), raw)
    bus.send([("withdrawals", good(cid, 2))])
    for n in (1, 2):
        bus.wait_for(
            f"verdict {n}",
            lambda n=n: bus.values("withdrawal-decisions", withdrawal_id=f"{cid}-wd{n}"),
        )

    def letters() -> dict[str, dict]:
        found = {}
        for key, value in bus.records("dead-letters"):
            if key and key.decode(errors="replace").startswith(f"{cid}-"):
                found[key.decode().removeprefix(f"{cid}-")] = value
        return found if len(found) == len(bad) else {}

    got = bus.wait_for("every dead letter", letters)
    for label, (_raw, error) in bad.items():
        letter = got[label]
        assert error in letter["error"], (label, letter["error"])
        assert letter["source_topic"] == bus.name("withdrawals")
        assert isinstance(letter["offset"], int)
    assert got["binary"]["payload_encoding"] == "base64"
    assert got["size"]["truncated"] is True
    assert len(got["size"]["payload"]) == 64 * 1024
