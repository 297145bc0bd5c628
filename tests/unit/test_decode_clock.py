"""Events dated too far ahead of the detector's clock are refused with a clear error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from withdrawguard.engine.decode import InvalidEvent, check_not_ahead, decode_object
from withdrawguard.engine.events import InputEvent
from withdrawguard.sim import scenarios as s

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def login_at(at: datetime) -> InputEvent:
    return decode_object(s.login("c1", "e1", at)[1], "login")


def test_an_event_within_the_skew_is_accepted() -> None:
    check_not_ahead(login_at(NOW + timedelta(minutes=59)), NOW, 3600)


def test_an_event_beyond_the_skew_names_occurred_at_and_the_limit() -> None:
    with pytest.raises(InvalidEvent) as caught:
        check_not_ahead(login_at(NOW + timedelta(hours=2)), NOW, 3600)
    assert caught.value.field == "occurred_at"
    assert "2.0 h ahead" in str(caught.value)
    assert "at most 1 h" in str(caught.value)


def test_old_events_are_never_refused_by_the_clock_check() -> None:
    check_not_ahead(login_at(NOW - timedelta(days=3650)), NOW, 3600)
