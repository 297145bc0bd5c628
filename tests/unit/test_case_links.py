"""Case links, the pure part (cases/links.py) and its readers: windows, the lookback,
masking, caps, the join with each other customer's case, the CLI text and the export."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.test_cases_builders import Desk, news
from withdrawguard.cases.links import (
    MAX_LINKS,
    Link,
    LinkWindows,
    Slot,
    Touch,
    Value,
    destination_value,
    links_of,
    slot_of,
    touches_of,
)
from withdrawguard.cases.summary import Summary, summary_of
from withdrawguard.casework.export import export_html, export_json
from withdrawguard.casework.links import LinkReader, touches_in
from withdrawguard.casework.show import print_links
from withdrawguard.contract import topics as t
from withdrawguard.contract import wire
from withdrawguard.engine.outputs import DestinationObservation, IpObservation
from withdrawguard.engine.policy import DAY, MINUTE, load_policy
from withdrawguard.streaming.sinks.links import links_handler

WINDOWS = LinkWindows(destination=30 * DAY, ip=60 * MINUTE, device=30 * DAY)
NOW = int(datetime(2026, 12, 1, 12, 0, tzinfo=UTC).timestamp() * 1000)
IP = Value("ip", "198.18.0.7", "198.18.0.7")
MULE = "0009/222/1234567"


def _kept(touches: Sequence[Touch]) -> list[tuple[Value, list[Slot]]]:
    """Touches as the projection keeps them: one slot per customer and stretch, holding
    its latest touch (adapters/link_store.py does this in Redis)."""
    slots: dict[Value, dict[str, Slot]] = {}
    for touch in touches:
        s = slot_of(touch, WINDOWS)
        kept = slots.setdefault(touch.value, {})
        old = kept.get(s.member())
        kept[s.member()] = s if old is None or s.last > old.last else old
    return [(v, list(kept.values())) for v, kept in slots.items()]


def _links(customer: str, touches: Sequence[Touch], now: int = NOW) -> list[Link]:
    return links_of(customer, now, WINDOWS, _kept(touches))


def test_two_customers_on_one_ip_within_the_window_are_linked_both_ways() -> None:
    touches = [Touch(IP, "A", NOW - 90 * MINUTE), Touch(IP, "B", NOW - 40 * MINUTE)]
    [a] = _links("A", touches)
    [b] = _links("B", touches)
    assert (a.kind, a.shown, a.customer_id) == ("ip", "198.18.0.7", "B")
    assert (b.customer_id, b.last_seen) == (
        "A",
        datetime.fromtimestamp((NOW - 90 * MINUTE) / 1000, UTC),
    )


def test_ip_touches_two_windows_apart_are_no_link_but_destination_ones_are() -> None:
    dest = destination_value(MULE)
    touches = [
        Touch(IP, "A", NOW - 5 * 60 * MINUTE),
        Touch(IP, "B", NOW - 60 * MINUTE),  # four hours later: beyond twice the window
        Touch(dest, "A", NOW - 20 * DAY),
        Touch(dest, "B", NOW - 1 * DAY),  # 19 days later: within 30 days
    ]
    assert [(x.kind, x.customer_id) for x in _links("A", touches)] == [("destination", "B")]


@given(
    st.integers(min_value=0, max_value=4 * 60 * MINUTE),
    st.integers(min_value=0, max_value=4 * 60 * MINUTE),
)
def test_a_link_means_touches_within_the_window_and_never_two_windows_apart(a: int, b: int) -> None:
    touches = [Touch(IP, "A", NOW - a), Touch(IP, "B", NOW - b)]
    linked = bool(_links("A", touches))
    if abs(a - b) <= WINDOWS.ip:
        assert linked
    if abs(a - b) >= 2 * WINDOWS.ip:
        assert not linked
    assert linked == bool(_links("B", touches))  # a link goes both ways


def test_touches_after_now_or_before_the_lookback_are_left_out() -> None:
    dev = Value("device", "dev-7f3a", "dev-7f3a")
    old = NOW - 31 * DAY  # the lookback is the longest window: 30 days
    assert not _links("A", [Touch(dev, "A", old), Touch(dev, "B", old + MINUTE)])
    later = [Touch(dev, "A", NOW - DAY), Touch(dev, "B", NOW + MINUTE)]
    assert not _links("A", later)
    assert [x.customer_id for x in _links("A", later, now=NOW + MINUTE)] == ["B"]


def test_once_linked_the_last_seen_is_the_other_customers_latest_touch() -> None:
    touches = [
        Touch(IP, "A", NOW - 10 * DAY),
        Touch(IP, "B", NOW - 10 * DAY + MINUTE),
        Touch(IP, "B", NOW - DAY),  # long after A's: no link of itself, but B's latest
    ]
    [link] = _links("A", touches)
    assert link.last_seen == datetime.fromtimestamp((NOW - DAY) / 1000, UTC)


def test_the_latest_touch_is_the_last_seen_and_links_come_newest_first() -> None:
    dev = Value("device", "dev-7f3a", "dev-7f3a")
    touches = [
        Touch(IP, "A", NOW - 3 * DAY),
        Touch(IP, "C", NOW - 3 * DAY + MINUTE),
        Touch(dev, "A", NOW - 2 * DAY),
        Touch(dev, "B", NOW - 2 * DAY),
        Touch(dev, "B", NOW - DAY),
    ]
    found = _links("A", touches)
    assert [(x.kind, x.customer_id) for x in found] == [("device", "B"), ("ip", "C")]
    assert found[0].last_seen == datetime.fromtimestamp((NOW - DAY) / 1000, UTC)


def test_a_value_shared_by_thousands_lists_at_most_max_links() -> None:
    touches = [Touch(IP, f"C{i:05d}", NOW - i) for i in range(MAX_LINKS + 50)]
    found = _links("C00000", touches)
    assert len(found) == MAX_LINKS
    assert found[0].customer_id == "C00001"  # the most recently seen first


def test_a_destination_is_kept_and_shown_masked_never_by_its_account_number() -> None:
    value = destination_value(MULE)
    assert value.shown == "bank 0009 branch 222 acct ****4567"
    assert "1234567" not in value.key and "1234567" not in value.encode()
    assert Value.decode(value.encode()) == value
    [touch] = touches_of(DestinationObservation("set", MULE, "A", NOW, "e1"))
    assert touch.value == value
    found = _links("A", [touch, Touch(value, "B", NOW - MINUTE)])
    assert "1234567" not in json.dumps([x.to_json() for x in found])


def test_observations_touch_what_they_name_and_a_fraud_confirmation_nothing() -> None:
    assert not touches_of(DestinationObservation("fraud", MULE, "A", NOW, "d1"))
    assert len(touches_of(DestinationObservation("used", MULE, "A", NOW, "w1"))) == 1
    login = IpObservation("198.18.0.7", "A", NOW, "l1", False, "dev-7f3a")
    assert [(x.value.kind, x.value.key) for x in touches_of(login)] == [
        ("ip", "198.18.0.7"),
        ("device", "dev-7f3a"),
    ]
    assert len(touches_of(IpObservation("198.18.0.7", "A", NOW, "l2", True))) == 1


def test_the_ip_observation_carries_the_device_and_reads_records_without_one() -> None:
    with_device = IpObservation("198.18.0.7", "A", NOW, "l1", True, "dev-7f3a")
    without = IpObservation("198.18.0.7", "A", NOW, "l2", True)
    raw = wire.encode_observations([with_device, without])
    assert wire.decode_ip_observations(raw) == [with_device, without]
    assert "device" not in without.to_wire()  # as records were before the field
    assert touches_in(t.IP_OBSERVATIONS, raw)[1].value.kind == "device"
    with pytest.raises(ValueError, match="malformed"):
        touches_in(t.IP_OBSERVATIONS, b'{"ip": "1.2.3.4", "customer_id": "A", "ts": "soon", '
                   b'"event_id": "x", "success": true}')  # fmt: skip


def test_a_slot_member_round_trips_a_customer_id_with_colons() -> None:
    s = slot_of(Touch(IP, "C:1:x", NOW), WINDOWS)
    assert Slot.of_member(s.member().encode(), float(s.last)) == s


def test_the_windows_are_the_rules_and_the_case_policys() -> None:
    windows = LinkWindows.of(load_policy(), timedelta(days=7))
    assert windows == LinkWindows(destination=30 * DAY, ip=60 * MINUTE, device=7 * DAY)
    assert windows.lookback == 30 * DAY


class _Source:
    def __init__(self, touches: Sequence[Touch]) -> None:
        self.touches = touches

    async def seen_by(self, customer_id: str, since_ms: int) -> list[tuple[Value, list[Slot]]]:
        return _kept(self.touches)


class _Cases:
    def __init__(self, found: dict[str, Summary]) -> None:
        self.found = found

    async def current_cases(self, customer_ids: Sequence[str]) -> dict[str, Summary]:
        return {c: s for c, s in self.found.items() if c in customer_ids}


async def test_each_link_carries_the_other_customers_case_and_status_or_none() -> None:
    desk = Desk.open(news())
    b = desk.case.customer_id
    touches = [Touch(IP, "A", NOW - MINUTE), Touch(IP, b, NOW), Touch(IP, "C", NOW - 2 * MINUTE)]
    reader = LinkReader(_Source(touches), _Cases({b: summary_of(desk.case)}), lambda: WINDOWS)
    found = await reader.for_customer("A", datetime.fromtimestamp(NOW / 1000, UTC))
    assert [(x.customer_id, x.case_id, x.case_status) for x in found] == [
        (b, desk.case.case_id, "open"),
        ("C", None, None),
    ]


def test_the_cli_and_the_export_list_the_links_escaped() -> None:
    desk = Desk.open(news())
    seen = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    links = [
        Link("device", "<b>dev</b>", "C-2", seen, "case-9", "investigating"),
        Link("destination", "bank 0009 branch 222 acct ****4567", "C-3", seen),
    ]
    out = io.StringIO()
    print_links(links, out)
    assert (
        "device      <b>dev</b>  C-2  last seen 2026-12-01T09:00:00Z  case-9 investigating"
        in out.getvalue()
    )
    assert "C-3  last seen 2026-12-01T09:00:00Z  no case" in out.getvalue()
    data = export_json(desk.case, desk.log, links)
    assert data["links"][0] == {
        "kind": "device", "value": "<b>dev</b>", "customer_id": "C-2",
        "last_seen": "2026-12-01T09:00:00Z", "case_id": "case-9", "case_status": "investigating",
    }  # fmt: skip
    page = export_html(desk.case, desk.log, links)
    assert "<b>dev</b>" not in page and "&lt;b&gt;dev&lt;/b&gt;" in page
    assert "<td>case-9</td><td>investigating</td>" in page
    assert "none within the windows" in export_html(desk.case, desk.log)


class _FlakyStore:
    """Fails its first `record`, as Redis away would, then keeps what it is given."""

    def __init__(self) -> None:
        self.calls = 0
        self.kept: list[Touch] = []

    async def record(self, touches: Sequence[Touch], windows: LinkWindows) -> None:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("Redis is away")
        self.kept.extend(touches)

    async def clear(self) -> int:
        return 0


async def test_the_links_feed_retries_while_redis_fails_and_skips_junk() -> None:
    store = _FlakyStore()
    handle = links_handler(store, {"ipo": t.IP_OBSERVATIONS}, lambda: WINDOWS).handle
    finished: list[int] = []
    login = IpObservation("198.18.0.7", "A", NOW, "l1", True, "dev-7f3a")
    value = wire.encode_observations([login])
    good = SimpleNamespace(topic="ipo", partition=0, offset=7, value=value)
    await handle([(good, lambda: finished.append(7))])
    assert store.calls == 2 and len(store.kept) == 2 and finished == [7]
    junk = SimpleNamespace(topic="ipo", partition=0, offset=8, value=b"[1, 2]")
    await handle([(junk, lambda: finished.append(8))])
    assert finished == [7, 8] and store.calls == 2  # finished, nothing written


async def test_the_links_feed_keeps_a_fetch_in_one_write_and_finishes_each_record() -> None:
    store = _FlakyStore()
    store.calls = 1  # Redis is there from the start
    handle = links_handler(store, {"ipo": t.IP_OBSERVATIONS}, lambda: WINDOWS).handle
    finished: list[int] = []
    fetched = []
    for offset, customer in enumerate(("A", "B", "C")):
        login = IpObservation("198.18.0.7", customer, NOW, f"l{offset}", True, None)
        record = SimpleNamespace(
            topic="ipo", partition=0, offset=offset, value=wire.encode_observations([login])
        )
        fetched.append((record, lambda o=offset: finished.append(o)))
    junk = SimpleNamespace(topic="ipo", partition=0, offset=3, value=b"{")
    fetched.insert(1, (junk, lambda: finished.append(3)))
    await handle(fetched)
    assert store.calls == 2  # one write for the whole fetch
    assert [x.customer_id for x in store.kept] == ["A", "B", "C"]
    assert sorted(finished) == [0, 1, 2, 3]
