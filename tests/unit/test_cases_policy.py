"""The case policy values: defaults, overrides, and errors that name the key."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from withdrawguard.cases.policy import CasePolicy, case_policy_from
from withdrawguard.engine.policy import PolicyError


def test_defaults_are_24_hours_30_days_and_one_million_yen() -> None:
    policy = case_policy_from({})
    assert policy == CasePolicy()
    assert policy.proposal_ttl == timedelta(hours=24)
    assert policy.max_suppression == timedelta(days=30)
    assert policy.four_eyes_release_at == {"JPY": Decimal(1_000_000)}
    assert policy.link_device_window == timedelta(days=30)


def test_a_cases_table_overrides_what_it_names() -> None:
    raw = tomllib.loads(
        """
        [cases]
        proposal_expiry_hours = 4
        link_device_window_days = 7
        [cases.four_eyes_release_at]
        JPY = "500000"
        USD = "5000.50"
        """
    )
    policy = case_policy_from(raw["cases"])
    assert policy.proposal_ttl == timedelta(hours=4)
    assert policy.max_suppression == timedelta(days=30)
    assert policy.link_device_window == timedelta(days=7)
    assert policy.needs_four_eyes(Decimal("5000.50"), "USD")
    assert not policy.needs_four_eyes(Decimal("5000.49"), "USD")
    assert policy.needs_four_eyes(Decimal(1), "EUR")  # no threshold: always two people


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"proposal_expiry": 4}, "unknown policy key 'cases.proposal_expiry'"),
        (
            {"proposal_expiry_hours": "24"},
            "'cases.proposal_expiry_hours' must be of type int, got str",
        ),
        ({"proposal_expiry_hours": True}, "'cases.proposal_expiry_hours' must be of type int"),
        ({"proposal_expiry_hours": 0}, "'cases.proposal_expiry_hours' must be from 1"),
        ({"max_suppression_days": 400}, "'cases.max_suppression_days' must be from 1 to 366"),
        ({"link_device_window_days": 0}, "'cases.link_device_window_days' must be from 1 to 366"),
        (
            {"link_device_window_days": 1.5},
            "'cases.link_device_window_days' must be of type int, got float",
        ),
        ({"four_eyes_release_at": "1000000"}, "'cases.four_eyes_release_at' must be a table"),
        (
            {"four_eyes_release_at": {"jpy": "1"}},
            "'cases.four_eyes_release_at.jpy': the key must be",
        ),
        (
            {"four_eyes_release_at": {"JPY": 1000000}},
            "'cases.four_eyes_release_at.JPY' must be a decimal in a string, got int",
        ),
        (
            {"four_eyes_release_at": {"JPY": "a lot"}},
            "'cases.four_eyes_release_at.JPY' must be a decimal",
        ),
        (
            {"four_eyes_release_at": {"JPY": "0"}},
            "'cases.four_eyes_release_at.JPY' must be a positive",
        ),
        (
            {"four_eyes_release_at": {"JPY": "NaN"}},
            "'cases.four_eyes_release_at.JPY' must be a positive",
        ),
    ],
)
def test_a_bad_case_policy_value_names_the_key(table: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        case_policy_from(table)
    assert message in str(caught.value)
