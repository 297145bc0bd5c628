"""Which engines a worker runs as the catalog moves, and what it does with a bad version."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from withdrawguard.adapters.policy_metrics import PrometheusPolicyMetrics
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.policy import actions
from withdrawguard.policy.engines import EngineSelection
from withdrawguard.policy.versions import Catalog, Pointer, PolicyVersion, pointer_record
from withdrawguard.policy.versions import version_record as record

STRICT = "[decision]\nhold_score = 0\n"


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def fold(catalog: Catalog, plan: actions.Plan) -> None:
    for key, val in plan.policies:
        catalog.apply(key, val)


def test_the_start_engine_runs_until_a_live_version_is_published_then_that_one() -> None:
    registry = CollectorRegistry()
    start = Engine(load_policy())
    selection = EngineSelection(start, PrometheusPolicyMetrics(registry))
    catalog = Catalog()
    assert selection.update(catalog) is False and selection.live is start
    plan = actions.publish(catalog, STRICT, "ada", "n", 1, "live")
    fold(catalog, plan)
    assert selection.update(catalog) is True
    assert selection.live.policy_id == plan.version and selection.live.policy.hold_score == 0
    assert value(registry, "withdrawguard_policy_version", role="live", version=plan.version) == 1
    assert (
        value(registry, "withdrawguard_policy_version", role="live", version=start.policy_id)
        is None
    )
    assert value(registry, "withdrawguard_policy_switches_total", role="live") == 1


def test_a_version_that_fails_to_load_keeps_the_running_one_until_a_pointer_moves_on() -> None:
    registry = CollectorRegistry()
    start = Engine(load_policy())
    selection = EngineSelection(start, PrometheusPolicyMetrics(registry))
    catalog = Catalog()
    forged = PolicyVersion("0badc0de", STRICT, "x", "forged", 1)
    for key, val in (record(forged), pointer_record(Pointer("live", forged.id, "x", "n", 1))):
        catalog.apply(key, val)
    assert selection.update(catalog) is False and selection.live is start
    assert value(registry, "withdrawguard_policy_load_failing", role="live") == 1
    assert selection.update(catalog) is False  # not tried (nor counted) again
    failures = "withdrawguard_policy_load_failures_total"
    assert value(registry, failures, role="live", version="0badc0de") == 1
    # A pointer to an unknown version fails the same way.
    catalog.apply(*pointer_record(Pointer("live", "12345678", "x", "n", 2)))
    assert selection.update(catalog) is False and selection.live is start
    assert value(registry, failures, role="live", version="12345678") == 1
    # Rolling back to what runs clears the alert's gauge.
    fold(catalog, actions.publish(catalog, "# default\n", "ada", "back", 3, "live"))
    assert selection.update(catalog) is False and selection.live is start
    assert value(registry, "withdrawguard_policy_load_failing", role="live") == 0


def test_a_shadow_runs_when_named_and_stops_when_the_pointer_is_cleared() -> None:
    registry = CollectorRegistry()
    selection = EngineSelection(Engine(load_policy()), PrometheusPolicyMetrics(registry))
    catalog = Catalog()
    plan = actions.publish(catalog, STRICT, "ada", "n", 1, "shadow")
    fold(catalog, plan)
    assert selection.update(catalog) is True
    assert selection.shadow is not None and selection.shadow.policy_id == plan.version
    assert value(registry, "withdrawguard_policy_version", role="shadow", version=plan.version) == 1
    fold(catalog, actions.set_shadow(catalog, None, "ada", "stop", 2))
    assert selection.update(catalog) is True and selection.shadow is None
    assert value(registry, "withdrawguard_policy_version", role="shadow", version="none") == 1
