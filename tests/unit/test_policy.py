"""The policy file: defaults, partial overrides, and errors that name the culprit."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

from withdrawguard.engine.policy import DAY, HOUR, Policy, PolicyError, default_text, load_policy
from withdrawguard.engine.rules import REGISTRY


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_load_with_every_rule_enabled() -> None:
    policy = load_policy()
    assert policy.source == "default"
    assert (policy.hold_score, policy.alert_score) == (60, 30)
    assert policy.reevaluate_ms == 168 * HOUR
    assert policy.bands == (("medium", 30), ("high", 60), ("critical", 85))
    assert policy.limits == {
        "max_logins": 2000,
        "max_changes": 500,
        "max_withdrawals": 2000,
        "max_trades": 2000,
        "max_known_devices": 500,
    }
    assert set(policy.rules) == set(REGISTRY)
    assert all(policy.enabled(name) for name in REGISTRY)
    assert policy.rule("drain")["balance_ratio"] == Decimal("0.8")
    assert policy.rule("drain")["history_multiple"] == Decimal("3")
    assert policy.rule("liquidation")["share"] == Decimal("0.7")
    assert policy.rule("dest_changed_recently")["window_hours"] == 72
    assert policy.longest_window_ms == 180 * DAY


def test_defaults_are_the_packaged_file() -> None:
    raw = tomllib.loads(default_text())
    policy = load_policy()
    assert policy.hold_score == raw["decision"]["hold_score"]
    for name, table in raw["rules"].items():
        assert set(policy.rule(name)) == set(table)


@pytest.mark.parametrize(
    ("score", "band"),
    [(0, "low"), (29, "low"), (30, "medium"), (59, "medium"), (60, "high"), (85, "critical")],
)
def test_score_bands(score: int, band: str) -> None:
    assert load_policy().severity_for(score) == band


def _without(policy: Policy, **rules: dict[str, object]) -> dict[str, object]:
    """The policy's fields as a dict (the raw TOML aside), named rule tables left out."""
    fields = {
        name: getattr(policy, name) for name in Policy.__slots__ if name not in ("source", "raw")
    }
    fields["rules"] = {k: v for k, v in policy.rules.items() if k not in rules}
    return fields


def test_partial_override_changes_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[decision]\nhold_score = 70\n\n"
        '[rules.drain]\nbalance_ratio = "0.9"\nenabled = false\n\n'
        '[rules.dest_changed_recently]\nholding_channels = ["web"]\n',
    )
    default = load_policy()
    policy = load_policy(path)
    assert policy.source == str(path)
    assert policy.hold_score == 70
    assert policy.alert_score == default.alert_score
    assert policy.reevaluate_ms == default.reevaluate_ms
    drain = policy.rule("drain")
    assert drain["balance_ratio"] == Decimal("0.9")
    assert drain["enabled"] is False
    assert {k: v for k, v in drain.items() if k not in ("balance_ratio", "enabled")} == {
        k: v for k, v in default.rule("drain").items() if k not in ("balance_ratio", "enabled")
    }
    dcr = policy.rule("dest_changed_recently")
    assert dcr["holding_channels"] == ["web"]
    assert {k: v for k, v in dcr.items() if k != "holding_channels"} == {
        k: v for k, v in default.rule("dest_changed_recently").items() if k != "holding_channels"
    }
    untouched = _without(policy, drain={}, dest_changed_recently={})
    expected = _without(default, drain={}, dest_changed_recently={})
    expected["hold_score"] = 70
    assert untouched == expected


def test_empty_override_file_is_the_defaults(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "# nothing to change\n"))
    assert _without(policy) == _without(load_policy())


def test_loading_an_override_does_not_change_the_defaults(tmp_path: Path) -> None:
    load_policy(write(tmp_path, "[rules.new_device]\nweight = 99\n"))
    assert load_policy().rule("new_device")["weight"] == 20


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[decision]\nhold_scor = 60\n", "decision.hold_scor"),
        ("[rules.drain]\nratio = '0.5'\n", "rules.drain.ratio"),
        ("[rules.no_such_rule]\nenabled = false\n", "rules.no_such_rule"),
        ("[surprise]\nx = 1\n", "surprise"),
        ("top_level = 1\n", "top_level"),
    ],
)
def test_unknown_key_is_an_error_naming_it(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(PolicyError, match=f"'{names}'"):
        load_policy(write(tmp_path, text))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('[decision]\nhold_score = "60"\n', "decision.hold_score"),
        ("[decision]\nhold_score = 60.0\n", "decision.hold_score"),
        ("[decision]\nhold_score = true\n", "decision.hold_score"),
        ('[rules.drain]\nenabled = "no"\n', "rules.drain.enabled"),
        ("[rules.drain]\nenabled = 0\n", "rules.drain.enabled"),
        ("[rules.drain]\nbalance_ratio = 0.8\n", "rules.drain.balance_ratio"),
        ('[rules.dest_changed_recently]\nholding_channels = "web"\n', "holding_channels"),
        ("[rules.new_device]\nnew_for_days = [7]\n", "rules.new_device.new_for_days"),
        ("decision = 1\n", "decision"),
        ("[rules]\ndrain = false\n", "rules.drain"),
        ('[limits]\nmax_logins = "many"\n', "limits.max_logins"),
    ],
)
def test_wrong_type_is_an_error_naming_the_key(tmp_path: Path, text: str, names: str) -> None:
    with pytest.raises(PolicyError, match=names.replace(".", r"\.")) as caught:
        load_policy(write(tmp_path, text))
    assert "must be" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("[rules.drain]\nweight = 101\n", "rules.drain.weight"),
        ("[rules.new_device]\nweight = -1\n", "rules.new_device.weight"),
        ("[decision]\nhold_score = 101\n", "decision.hold_score"),
        ("[decision]\nalert_score = -5\n", "decision.alert_score"),
        ("[rules.dest_changed_recently]\nwindow_hours = -1\n", "window_hours"),
        ("[rules.destination_shared]\nseverity = 'extreme'\n", "destination_shared.severity"),
        ("[rules.drain]\nbalance_ratio = 'most'\n", "rules.drain.balance_ratio"),
        ("[rules.drain]\nbalance_ratio = 'NaN'\n", "rules.drain.balance_ratio"),
        ("[rules.drain]\nbalance_ratio = 'Infinity'\n", "rules.drain.balance_ratio"),
        ("[rules.drain]\nbalance_ratio = '-0.5'\n", "rules.drain.balance_ratio"),
        ("[rules.drain]\nhistory_multiple = '0'\n", "rules.drain.history_multiple"),
        ("[decision]\nreevaluate_hours = -1\n", "decision.reevaluate_hours"),
        ("[severity]\nhigh = 101\n", "severity.high"),
        ("[limits]\nmax_logins = 0\n", "limits.max_logins"),
        ("[rules.new_device]\nipv4_prefix = 33\n", "rules.new_device.ipv4_prefix"),
        ("[rules.new_device]\nipv6_prefix = 129\n", "rules.new_device.ipv6_prefix"),
        (
            "[rules.dest_changed_recently]\nholding_channels = ['web', 'pigeon']\n",
            "rules.dest_changed_recently.holding_channels",
        ),
        (
            "[rules.credential_change_chain]\nchange_types = ['emial']\n",
            "rules.credential_change_chain.change_types",
        ),
    ],
)
def test_out_of_range_value_is_an_error_naming_the_key(
    tmp_path: Path, text: str, names: str
) -> None:
    with pytest.raises(PolicyError, match=names.replace(".", r"\.")):
        load_policy(write(tmp_path, text))


@pytest.mark.parametrize("weight", [0, 100])
def test_weights_at_the_ends_of_the_range_are_accepted(tmp_path: Path, weight: int) -> None:
    policy = load_policy(write(tmp_path, f"[rules.drain]\nweight = {weight}\n"))
    assert policy.rule("drain")["weight"] == weight


def test_invalid_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[decision\nhold_score = 60\n")
    with pytest.raises(PolicyError, match="not valid TOML") as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


def test_missing_file_is_an_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "policy.toml"
    with pytest.raises(PolicyError, match="cannot read") as caught:
        load_policy(path)
    assert str(path) in str(caught.value)


def test_file_that_is_not_utf8_is_an_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_bytes(b"[decision]\nhold_score = 60 # \xff\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(path) in str(caught.value)
