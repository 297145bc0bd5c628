"""The `case-events` topic in the contract: its schema file is the codec's schema, its
examples are read by the codec and pass the schema, and its spec is append-only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from withdrawguard.cases import codec
from withdrawguard.contract.topics import CASE_EVENTS, SPECS, Role

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "docs" / "schemas" / "case-event.schema.json"
DOC = (ROOT / "docs" / "contract.md").read_text(encoding="utf-8")


def _examples() -> list[str]:
    marker = "<!-- example: case-event valid -->\n```json\n"
    found, start = [], DOC.find(marker)
    while start >= 0:
        body = start + len(marker)
        found.append(DOC[body : DOC.index("\n```", body)])
        start = DOC.find(marker, body)
    return found


def test_the_schema_file_is_the_codecs_schema() -> None:
    on_disk = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert on_disk == codec.schema(), "regenerate docs/schemas/case-event.schema.json"


def test_the_topic_is_an_append_only_output_keyed_by_case() -> None:
    [spec] = [s for s in SPECS if s.logical == CASE_EVENTS]
    assert spec.role is Role.OUTPUT and spec.key == "case_id" and not spec.compacted
    assert spec.config == {"cleanup.policy": "delete", "retention.ms": "-1"}
    assert spec.partitions is None  # WG_PARTITIONS, like the other outputs


@pytest.mark.parametrize("text", _examples())
def test_each_example_is_read_by_the_codec_passes_the_schema_and_round_trips(text: str) -> None:
    obj = json.loads(text)
    Draft202012Validator(codec.schema()).validate(obj)
    event = codec.decode(obj)
    assert codec.encode(event) == obj


def test_there_are_examples_of_opening_proposing_and_approving() -> None:
    kinds = {json.loads(t)["kind"] for t in _examples()}
    assert {"opened", "release_proposed", "release_approved"} <= kinds


def test_an_unknown_field_is_refused_by_schema_and_codec_alike() -> None:
    obj = json.loads(_examples()[0]) | {"surprise": 1}
    assert not Draft202012Validator(codec.schema()).is_valid(obj)
    with pytest.raises(codec.CaseEventError):
        codec.decode(obj)
