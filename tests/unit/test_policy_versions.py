"""Policy versions as data: records, the catalog they add up to, and the actions' plans."""

from __future__ import annotations

import orjson
import pytest

from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.policy import actions
from withdrawguard.policy.diff import changed_values
from withdrawguard.policy.versions import (
    Catalog,
    PolicyVersion,
    RecordError,
    make_version,
    version_record,
)

LOWER = "[decision]\nhold_score = 40\n"
STRICT = "[decision]\nhold_score = 30\nalert_score = 20\n"


def fold(catalog: Catalog, plan: actions.Plan) -> None:
    for key, value in plan.policies:
        catalog.apply(key, value)


def test_a_version_is_named_by_the_fingerprint_its_verdicts_carry() -> None:
    v = make_version(LOWER, "ana", "lower the bar", 1)
    assert Engine(v.policy()).version.endswith(f"+policy.{v.id}")
    spelled_out = make_version(LOWER + "alert_score = 30\n", "ana", "same values", 2)
    assert spelled_out.id == v.id  # the default spelled out decides alike: the same id


def test_an_unusable_text_is_refused_at_publish_naming_the_key() -> None:
    with pytest.raises(actions.ActionError, match=r"unknown policy key 'decision\.hold_scor'"):
        actions.publish(Catalog(), "[decision]\nhold_scor = 1\n", "ana", "typo", 1, "live")
    with pytest.raises(actions.ActionError, match=r"'decision\.hold_score' must be between"):
        actions.publish(Catalog(), "[decision]\nhold_score = 101\n", "ana", "range", 1, "live")
    with pytest.raises(actions.ActionError, match="note is required"):
        actions.publish(Catalog(), LOWER, "ana", "  ", 1, "live")


def test_publish_then_shadow_promote_and_rollback_move_the_pointers() -> None:
    catalog = Catalog()
    first = actions.publish(catalog, LOWER, "ana", "first", 1, "live")
    fold(catalog, first)
    assert catalog.live == first.version and catalog.shadow is None
    candidate = actions.publish(catalog, STRICT, "ana", "try stricter", 2, "shadow")
    fold(catalog, candidate)
    assert (catalog.live, catalog.shadow) == (first.version, candidate.version)
    promoted = actions.promote(catalog, "bo", "looks right", 3)
    fold(catalog, promoted)
    assert (catalog.live, catalog.shadow) == (candidate.version, None)
    audit = orjson.loads(promoted.audit)
    assert audit == {
        "action": "promote",
        "actor": "bo",
        "at": 3,
        "note": "looks right",
        "role": "live",
        "version": candidate.version,
        "previous": first.version,
    }
    assert first.version is not None
    back = actions.rollback(catalog, first.version, "bo", "too many holds", 4)
    fold(catalog, back)
    assert catalog.live == first.version
    assert len(catalog.versions) == 2


def test_actions_that_do_not_apply_are_refused_with_the_reason() -> None:
    catalog = Catalog()
    with pytest.raises(actions.ActionError, match="nothing to promote"):
        actions.promote(catalog, "bo", "why", 1)
    with pytest.raises(actions.ActionError, match="no published policy version 'deadbeef'"):
        actions.rollback(catalog, "deadbeef", "bo", "why", 1)
    plan = actions.publish(catalog, LOWER, "ana", "first", 1, "live")
    fold(catalog, plan)
    assert plan.version is not None
    with pytest.raises(actions.ActionError, match="already runs live"):
        actions.rollback(catalog, plan.version, "bo", "why", 2)
    with pytest.raises(actions.ActionError, match="is live; a shadow must differ"):
        actions.set_shadow(catalog, plan.version, "bo", "why", 2)


def test_republishing_a_known_text_writes_only_the_pointer() -> None:
    catalog = Catalog()
    fold(catalog, actions.publish(catalog, LOWER, "ana", "first", 1, "live"))
    fold(catalog, actions.publish(catalog, STRICT, "ana", "second", 2, "live"))
    again = actions.publish(catalog, LOWER, "ana", "back to the first", 3, "live")
    assert [key for key, _ in again.policies] == [b"live"]
    assert again.summary.endswith("(already published)")


def test_records_that_cannot_be_read_leave_the_catalog_as_it_was() -> None:
    catalog = Catalog()
    v = make_version(LOWER, "ana", "n", 1)
    key, value = version_record(v)
    for bad_key, bad_value, why in (
        (key, b"{", "not JSON"),
        (key, b"[1]", "not a JSON object"),
        (b"version:00000000", value, "is under key"),
        (b"live", b'{"kind": "pointer", "role": "live", "id": "XYZ"}', "8 hex digits"),
        (b"shadow", b'{"kind": "pointer", "role": "live", "id": null}', "under key"),
        (b"x", b'{"kind": "other"}', "unknown record kind"),
    ):
        with pytest.raises(RecordError, match=why):
            catalog.apply(bad_key, bad_value)
    assert catalog == Catalog()
    assert catalog.apply(key, None) is None  # a tombstone is ignored


def test_a_version_whose_text_no_longer_matches_its_id_fails_to_load() -> None:
    forged = PolicyVersion("00000000", LOWER, "ana", "n", 1)
    with pytest.raises(ValueError, match=r"fingerprint \w+, not the id it was published under"):
        forged.policy()


def test_diff_lists_the_effective_values_that_change() -> None:
    a = make_version(LOWER, "", "", 0).policy()
    b = make_version(STRICT, "", "", 0).policy()
    assert changed_values(a, b) == [
        ("decision.alert_score", "30", "20"),
        ("decision.hold_score", "40", "30"),
    ]
    assert changed_values(load_policy(), load_policy()) == []
