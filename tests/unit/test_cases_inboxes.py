"""Inboxes as data: the packaged file loads, routing takes the first match or the
default, and every mistake in a file is an error naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.unit.test_cases_builders import ADA, ALICE, SUE, VIC, news
from withdrawguard.cases.events import Trigger
from withdrawguard.cases.inboxes import (
    InboxError,
    default_inboxes_text,
    load_inboxes,
    parse_inboxes,
    reason_codes,
)
from withdrawguard.cases.people import Actor

GOOD = """
default = "rest"

[[inbox]]
name = "big"
sla_minutes = 1
roles = ["supervisor"]
users = ["carol"]
[inbox.amount.JPY]
min = "1000000"
max = "100000000"

[[inbox]]
name = "takeover"
sla_hours = 4
reasons = ["NEW_DEVICE", "FAILED_LOGIN_BURST"]
severities = ["high", "critical"]
channels = ["web", "mobile"]

[[inbox]]
name = "rest"
sla_hours = 24
"""


def test_the_packaged_inboxes_load_with_a_catch_all_last() -> None:
    book = load_inboxes()
    assert book.source == "default"
    assert [i.name for i in book.inboxes] == [
        "critical",
        "large-withdrawals",
        "account-takeover",
        "general",
    ]
    assert book.default == "general"
    assert book.get("critical").sla_minutes == 60  # type: ignore[union-attr]
    assert len(book.fingerprint) == 8


def test_the_packaged_file_names_only_real_reason_codes() -> None:
    raw = tomllib.loads(default_inboxes_text())
    for table in raw["inbox"]:
        assert set(table.get("reasons", [])) <= reason_codes()
    assert "DESTINATION_SHARED" in reason_codes()


@pytest.mark.parametrize(
    ("trigger", "inbox"),
    [
        (news(amount="5000000"), "big"),
        (news(amount="100000000"), "rest"),  # max is exclusive
        (news(amount="999999.99"), "rest"),
        (news(amount="5000000", currency="USD"), "rest"),  # no band for USD
        (news(kind="alert", amount=None, currency=None), "rest"),
        (news(amount="10", reasons=("NEW_DEVICE",)), "takeover"),
        (news(amount="10", reasons=("NEW_DEVICE",), severity="medium"), "rest"),
        (news(amount="10", reasons=("NEW_DEVICE",), channel="branch"), "rest"),
        (news(amount="10", reasons=("NEW_DEVICE",), channel=None), "rest"),
        (news(amount="5000000", reasons=("NEW_DEVICE",)), "big"),  # the first match wins
    ],
)
def test_a_case_goes_to_the_first_matching_inbox_else_the_default(
    trigger: Trigger, inbox: str
) -> None:
    assert parse_inboxes(GOOD, "t").route(trigger).name == inbox


def test_who_may_work_an_inbox() -> None:
    book = parse_inboxes(GOOD, "t")
    big, takeover = book.get("big"), book.get("takeover")
    assert big is not None and takeover is not None
    assert not big.may_work(ALICE)
    assert big.may_work(Actor("Carol", "analyst"))  # named, whatever the case of the name
    assert big.may_work(SUE)
    assert takeover.may_work(ALICE) and takeover.may_work(SUE)
    assert not takeover.may_work(ADA)  # roles default to analyst and supervisor
    assert not takeover.may_work(VIC)
    assert not big.may_work(Actor("carol", "viewer"))  # a viewer works nothing, even named
    assert book.workable_by(ALICE) == {"takeover", "rest"}
    assert book.workable_by(SUE) == {"big", "takeover", "rest"}


def test_a_fingerprint_names_what_the_file_says_not_how() -> None:
    a = parse_inboxes(GOOD, "a")
    b = parse_inboxes(GOOD.replace("sla_hours = 4\n", "sla_hours   =   4\n"), "b")
    c = parse_inboxes(GOOD.replace("sla_hours = 4", "sla_hours = 5"), "c")
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("sla_hours = 24", "sla_hours = 24\ncolour = 'red'"), "unknown key 'inbox[2].colour'"),
        (('default = "rest"', 'default = "rest"\nversion = 2'), "unknown key 'version'"),
        (('default = "rest"', 'default = "nope"'), "'default': no inbox is named 'nope'"),
        (('default = "rest"', "default = 3"), "'default' must name"),
        (("sla_hours = 4", "sla_hours = '4'"), "'inbox[1].sla_hours' must be of type int, got str"),
        (("sla_hours = 4", "sla_hours = 4.5"), "'inbox[1].sla_hours' must be of type int"),
        (("sla_hours = 4", "sla_hours = true"), "'inbox[1].sla_hours' must be of type int"),
        (("sla_hours = 4", "sla_hours = 0"), "'inbox[1].sla_hours' must be from 1 minute"),
        (("sla_hours = 4", "sla_hours = 9000"), "'inbox[1].sla_hours' must be from 1 minute"),
        (("sla_hours = 4", "sla_hours = 4\nsla_minutes = 5"), "exactly one of sla_hours"),
        (("sla_hours = 4\n", ""), "'inbox[1]' needs exactly one of sla_hours and sla_minutes"),
        (('"NEW_DEVICE"', '"NEW_DEVIC"'), "'inbox[1].reasons[0]': unknown 'NEW_DEVIC'"),
        (('["high", "critical"]', '["severe"]'), "'inbox[1].severities[0]': unknown 'severe'"),
        (('["web", "mobile"]', '["fax"]'), "'inbox[1].channels[0]': unknown 'fax'"),
        (('["web", "mobile"]', "[]"), "'inbox[1].channels' must be a non-empty list"),
        (('["web", "mobile"]', '"web"'), "'inbox[1].channels' must be a non-empty list"),
        (('roles = ["supervisor"]', 'roles = ["viewer"]'), "'inbox[0].roles[0]': unknown 'viewer'"),
        (('users = ["carol"]', "users = [1]"), "'inbox[0].users[0]' must be a non-empty string"),
        (
            ('min = "1000000"', "min = 1000000"),
            "'inbox[0].amount.JPY.min' must be a decimal in a string, got int",
        ),
        (('min = "1000000"', 'min = "lots"'), "'inbox[0].amount.JPY.min' must be a decimal"),
        (('min = "1000000"', 'min = "-1"'), "'inbox[0].amount.JPY.min' must be a non-negative"),
        (('min = "1000000"', 'min = "200000000"'), "'inbox[0].amount.JPY.max' must be greater"),
        (('min = "1000000"', 'least = "1"'), "'inbox[0].amount.JPY.least' is unknown"),
        (
            ("[inbox.amount.JPY]", "[inbox.amount.jpy]"),
            "'inbox[0].amount.jpy': the key must be an ISO 4217",
        ),
        (('name = "big"', 'name = "Big Ones"'), "'inbox[0].name' must be lower-case"),
        (('name = "takeover"', 'name = "big"'), "'inbox[1].name': 'big' is used twice"),
        (
            (
                'name = "rest"\nsla_hours = 24',
                'name = "rest"\nsla_hours = 24\nseverities = ["low"]',
            ),
            "'inbox[2].severities': the default inbox takes every case",
        ),
        (('default = "rest"', 'default = "rest"\ninbox = 3'), "not valid TOML"),
    ],
)
def test_a_mistake_in_the_inbox_file_names_the_key(change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(InboxError) as caught:
        parse_inboxes(GOOD.replace(old, new, 1), "t")
    assert message in str(caught.value)


def test_a_file_without_inboxes_is_refused() -> None:
    with pytest.raises(InboxError, match="at least one"):
        parse_inboxes('default = "x"', "t")


def test_loading_a_file_names_the_file_when_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(InboxError, match="cannot read inbox file"):
        load_inboxes(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe")
    with pytest.raises(InboxError, match="not readable UTF-8"):
        load_inboxes(bad)
    good = tmp_path / "inboxes.toml"
    good.write_text(GOOD, encoding="utf-8")
    assert load_inboxes(good).source == str(good)


def test_the_default_inbox_takes_only_what_no_other_matches_wherever_it_is_listed() -> None:
    rest_first = GOOD.replace(
        'default = "rest"', 'default = "rest"\n\n[[inbox]]\nname = "rest"\nsla_hours = 24\n', 1
    )
    rest_first = rest_first[: rest_first.rindex("[[inbox]]")]
    book = parse_inboxes(rest_first, "t")
    assert book.inboxes[0].name == "rest"
    assert book.route(news(amount="5000000")).name == "big"
    assert book.route(news(amount="10")).name == "rest"
