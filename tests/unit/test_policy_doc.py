"""docs/policy.md against the code it describes.

The page marks what it claims with HTML comments on the line before:

- `<!-- keys: <table> -->` before the key table of each table of default.toml (`decision`,
  `rules.drain`, ...): first column the key in backticks, second its default as a TOML
  literal in backticks;
- `<!-- chain-verdict -->` before the JSON verdict of the 2020 chain;
- `<!-- policy-example -->` before the example override file, and
  `<!-- policy-example-changes -->` before the table of what it changes;
- `<!-- policy-errors -->` before the table of validation errors;
- `<!-- retention -->` before the table of how long each kind of history is kept.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.unit.player import Player
from withdrawguard.engine.crossref import CrossReference
from withdrawguard.engine.decide import LATE_EVIDENCE, RELEASED, Engine
from withdrawguard.engine.notices import CONFIRMATION_NOT_COUNTED, CUSTOMER_DENIED
from withdrawguard.engine.policy import HOUR, Policy, PolicyError, default_text, load_policy
from withdrawguard.engine.rules import REGISTRY
from withdrawguard.sim import scenarios as s

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "policy.md").read_text(encoding="utf-8")
LINES = DOC.splitlines()
DEFAULTS: dict[str, Any] = tomllib.loads(default_text())
T0 = datetime(2020, 9, 1, 1, 0, tzinfo=UTC)
SHARED = {"bank_code": "0033", "account_number": "5550001"}


def _tables() -> dict[str, dict[str, Any]]:
    """Every table of default.toml by its dotted name: `decision`, `rules.drain`, ..."""
    found: dict[str, dict[str, Any]] = {}
    for name, table in DEFAULTS.items():
        if name == "rules":
            found.update({f"rules.{rule}": keys for rule, keys in table.items()})
        else:
            found[name] = table
    return found


TABLES = _tables()


def _marker(name: str) -> int:
    """Index of the line after the one `<!-- name -->` marks; exactly one such marker."""
    hits = [i for i, line in enumerate(LINES) if line.strip() == f"<!-- {name} -->"]
    assert len(hits) == 1, f"docs/policy.md must have exactly one <!-- {name} --> marker"
    return hits[0] + 1


def _block(name: str, lang: str) -> str:
    """The fenced block right after the marker."""
    start = _marker(name)
    assert LINES[start].strip() == f"```{lang}", f"<!-- {name} --> must precede a {lang} block"
    end = next(i for i in range(start + 1, len(LINES)) if LINES[i].strip() == "```")
    return "\n".join(LINES[start + 1 : end]) + "\n"


def _rows(name: str) -> list[list[str]]:
    """The body rows of the Markdown table right after the marker, as stripped cells."""
    start = _marker(name)
    table: list[str] = []
    for line in LINES[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    assert len(table) > 2, f"<!-- {name} --> must precede a table"
    assert set(table[1]) <= set("|-: "), f"the table after <!-- {name} --> needs a header"
    return [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in table[2:]]


def _ticked(cell: str) -> str:
    match = re.fullmatch(r"`([^`]+)`", cell)
    assert match, f"expected one value in backticks, got {cell!r}"
    return match.group(1)


def _literal(cell: str) -> Any:
    """A TOML literal written in backticks: `72`, `true`, `"0.8"`, `["web", "api"]`."""
    return tomllib.loads(f"v = {_ticked(cell)}")["v"]


def _flat(raw: dict[str, Any], where: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{where}{key}."))
        else:
            flat[f"{where}{key}"] = value
    return flat


def _effective(policy: Policy, dotted: str) -> Any:
    """What the loaded policy makes of one key of the file."""
    section, _, key = dotted.partition(".")
    if section == "decision":
        return {
            "hold_score": policy.hold_score,
            "alert_score": policy.alert_score,
            "reevaluate_hours": policy.reevaluate_ms // HOUR,
        }[key]
    if section == "severity":
        return dict(policy.bands)[key]
    if section == "limits":
        return policy.limits[key]
    if section == "notices":
        return policy.notices[key]
    rule, _, key = key.partition(".")
    return policy.rule(rule)[key]


def _as_loaded(value: Any, like: Any) -> Any:
    return Decimal(value) if isinstance(like, Decimal) else value


def _player(policy: Policy) -> Player:
    return Player(Engine(policy), CrossReference(policy))


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("policy") / "policy.toml"
    path.write_text(_block("policy-example", "toml"), encoding="utf-8")
    return load_policy(path)


# ------------------------------------------------------------------ keys and codes


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_key_of_every_table_is_documented_with_its_default(table: str) -> None:
    rows = _rows(f"keys: {table}")
    documented = {_ticked(row[0]): _literal(row[1]) for row in rows}
    assert len(documented) == len(rows), f"a key is listed twice for [{table}]"
    assert documented == TABLES[table]
    for key in TABLES[table]:
        assert f"`{key}`" in DOC


def test_key_tables_name_only_tables_of_the_policy() -> None:
    named = [m.group(1) for line in LINES if (m := re.fullmatch(r"<!-- keys: (\S+) -->", line))]
    assert sorted(named) == sorted(TABLES)


def _codes() -> set[str]:
    policy = load_policy()
    return {make(policy.rule(name)).code for name, make in REGISTRY.items()} | {
        LATE_EVIDENCE,
        RELEASED,
        CUSTOMER_DENIED,
        CONFIRMATION_NOT_COUNTED,
    }


@pytest.mark.parametrize("code", sorted(_codes()))
def test_every_reason_code_has_a_section(code: str) -> None:
    assert re.search(rf"^#{{2,4}} `{code}`", DOC, re.MULTILINE), f"no heading for {code}"


def test_reason_code_headings_name_only_real_codes() -> None:
    headed = set(re.findall(r"^#{2,4} `([A-Z_]+)`", DOC, re.MULTILINE))
    assert headed == _codes()


def test_the_decision_is_drawn_in_mermaid() -> None:
    assert "```mermaid\nflowchart" in DOC


# ------------------------------------------------------------------ the worked example


def test_the_quoted_2020_verdict_is_what_the_engine_says(player: Player) -> None:
    quoted = json.loads(_block("chain-verdict", "json"))
    player.play(s.sbi_chain(quoted["customer_id"], T0))
    actual = dict(player.latest(quoted["withdrawal_id"]).payload)
    # The package version may move on; the policy fingerprint must not.
    assert (
        quoted.pop("detector_version").split("+")[1] == actual.pop("detector_version").split("+")[1]
    )
    assert quoted == actual
    [alert] = [a for a in player.alerts if a.withdrawal_id == quoted["withdrawal_id"]]
    assert alert.severity == "critical"


def test_the_chain_scores_45_when_the_withdrawal_waits_73_hours(player: Player) -> None:
    verdict = _late_chain(player)
    assert (verdict.decision, verdict.payload["risk_score"]) == ("allow", 45)
    assert set(verdict.reason_codes) == {"NEW_DEVICE", "DRAIN"}


def test_the_chain_delivered_withdrawal_first_escalates_as_the_doc_says(player: Player) -> None:
    msgs = s.sbi_chain("C-100234", T0)
    player.play([msgs[-1], *msgs[:-1]])
    steps = [
        (v.decision, v.payload["risk_score"], v.payload["severity"])
        for v in player.verdicts
        if v.withdrawal_id == "C-100234-wd-attack"
    ]
    assert steps == [
        ("allow", 45, "medium"),
        ("hold", 65, "high"),
        ("hold", 85, "critical"),
        ("hold", 100, "critical"),
    ]
    late = player.latest("C-100234-wd-attack").payload["reasons"][-1]
    assert late["code"] == LATE_EVIDENCE
    assert f"`{late['detail']}`" in " ".join(DOC.split())


# ------------------------------------------------------------------ the example override


def test_example_override_loads_and_changes_exactly_what_the_doc_says(example: Policy) -> None:
    override = _flat(tomllib.loads(_block("policy-example", "toml")))
    changes = {
        _ticked(row[0]): (_literal(row[1]), _literal(row[2]))
        for row in _rows("policy-example-changes")
    }
    assert set(changes) == set(override)
    default = load_policy()
    for key, value in _flat(DEFAULTS).items():
        before, after = _effective(default, key), _effective(example, key)
        if key in changes:
            doc_default, doc_new = changes[key]
            assert doc_default == value
            assert before == _as_loaded(doc_default, before)
            assert after == _as_loaded(doc_new, after)
            assert after != before
        else:
            assert after == before, f"the example changes {key} without saying so"


def _late_chain(player: Player) -> Any:
    """The 2020 chain with the withdrawal 73 h after the destination change (01:15)."""
    *msgs, (topic, withdrawal) = s.sbi_chain("C-73", T0)
    late = {**withdrawal, "occurred_at": (T0 + timedelta(hours=73, minutes=15)).isoformat()}
    player.play([*msgs, (topic, late)])
    return player.latest("C-73-wd-attack")


def test_example_override_holds_the_chain_73_hours_later(example: Policy) -> None:
    verdict = _late_chain(_player(example))
    assert (verdict.decision, verdict.payload["risk_score"]) == ("hold", 100)
    assert verdict.payload["severity"] == "critical"
    assert "DEST_CHANGED_RECENTLY" in verdict.reason_codes


def _three_quarters(player: Player) -> Any:
    player.play(
        [
            *s.honest_history("C-75", T0),
            s.withdrawal(
                "C-75", "C-75-w", T0, "C-75-wd", "75000", destination=s.HOME_DEST, balance="100000"
            ),
        ]
    )
    return player.latest("C-75-wd")


def test_example_override_drains_at_75_percent(player: Player, example: Policy) -> None:
    assert _three_quarters(player).reason_codes == ()
    verdict = _three_quarters(_player(example))
    assert verdict.reason_codes == ("DRAIN",)


def _call_center_change_new_device(player: Player) -> Any:
    player.play(
        [
            *s.honest_history("C-55", T0),
            s.change(
                "C-55",
                "C-55-d",
                T0 - timedelta(hours=10),
                "withdrawal_destination",
                "call_center",
                destination=SHARED,
            ),
            s.withdrawal(
                "C-55",
                "C-55-w",
                T0,
                "C-55-wd",
                "1000",
                destination=SHARED,
                balance="10000000",
                ip=s.home_ip("C-55"),
                device="dev-new",
            ),
        ]
    )
    return player.latest("C-55-wd")


def test_example_override_holds_at_55(player: Player, example: Policy) -> None:
    verdict = _call_center_change_new_device(player)
    assert set(verdict.reason_codes) == {"DEST_CHANGED_RECENTLY", "NEW_DEVICE"}
    assert (verdict.decision, verdict.payload["risk_score"]) == ("allow", 55)
    verdict = _call_center_change_new_device(_player(example))
    assert (verdict.decision, verdict.payload["risk_score"]) == ("hold", 55)


# ------------------------------------------------------------------ errors and retention


def test_the_quoted_validation_errors_are_the_real_ones(tmp_path: Path) -> None:
    rows = _rows("policy-errors")
    assert rows
    for says, error in rows:
        text = "\n".join(re.findall(r"`([^`]+)`", says)) + "\n"
        path = tmp_path / "policy.toml"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(PolicyError) as caught:
            load_policy(path)
        assert str(caught.value) == _ticked(error)


def _duration_ms(text: str) -> int:
    match = re.fullmatch(r"(?:(\d+) days)?\s*(?:(\d+) h)?\s*(?:(\d+) min)?", text)
    assert match and text, f"not a duration: {text!r}"
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return ((days * 24 + hours) * 60 + minutes) * 60_000


def test_retention_table_is_what_the_engine_keeps(engine: Engine) -> None:
    kept = {_ticked(row[1]): _duration_ms(row[-1]) for row in _rows("retention") if row[1] != "—"}
    assert kept == engine.keep_ms
