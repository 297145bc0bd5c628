"""`create_app`: the worker's one wiring point.

Nothing happens at import. `create_app(settings, engine)` builds the detector's Faust
app (`streaming.app.build_detector`) and registers around it, on the same app and web
server: health, the ops console (with its policy page when the worker follows the
policies topic), the decision API, the registry, notify, case and links sinks, the
metrics timers and the guards. The worker entry point (`withdrawguard worker`) and the
tests call it. Unless given other `metrics`, it counts with Prometheus metrics on a
registry of its own, served on `/metrics` with the `faust_*` metrics of its lean Faust
monitor (`streaming/faust_internals/sensors.py`).
"""

from __future__ import annotations

from typing import Any, Protocol

from prometheus_client import CollectorRegistry

from withdrawguard.adapters.group_offsets import GroupOffsets
from withdrawguard.adapters.metrics import PrometheusMetrics
from withdrawguard.adapters.policy_writes import PolicyWriter
from withdrawguard.engine.decide import Engine
from withdrawguard.policy.engines import EngineSelection
from withdrawguard.settings import Settings
from withdrawguard.streaming.app import Detector, build_detector, producer_of
from withdrawguard.streaming.control.engine_feed import EngineFeed
from withdrawguard.streaming.control.policy_feed import PolicyFeed
from withdrawguard.streaming.detect.pipeline import DetectorMetrics, Pipeline
from withdrawguard.streaming.guards import GuardMetrics, register_guards
from withdrawguard.streaming.monitoring import TimerMetrics, register_metrics
from withdrawguard.streaming.sinks.cases import CaseMetrics, register_cases
from withdrawguard.streaming.sinks.notify import NotifySinkMetrics, register_notifier
from withdrawguard.streaming.sinks.registry import RegistrySinkMetrics, register_registry
from withdrawguard.web.console import PolicyPage, register_console
from withdrawguard.web.decision_api import register_decision_api
from withdrawguard.web.health import register_health

__all__ = ["Detector", "WorkerMetrics", "create_app"]


class WorkerMetrics(
    CaseMetrics,
    DetectorMetrics,
    NotifySinkMetrics,
    RegistrySinkMetrics,
    GuardMetrics,
    TimerMetrics,
    Protocol,
):
    """All the worker counts: what each part `create_app` wires asks for, no more
    (`adapters.metrics.PrometheusMetrics` and `NullMetrics` have it all)."""


def create_app(
    settings: Settings,
    engine: Engine,
    metrics: WorkerMetrics | None = None,
    watch_policies: bool = False,
    **overrides: Any,
) -> Detector:
    """The worker deciding with `engine`; with `watch_policies` (the worker), with the
    version the policies topic names live once it is published (`EngineFeed`)."""
    if metrics is None:
        metrics = PrometheusMetrics(CollectorRegistry())
    detector = build_detector(settings, engine, metrics, **overrides)
    app, pipeline = detector.app, detector.pipeline
    page: PolicyPage | None = None
    if watch_policies:
        selection = EngineSelection(engine, detector.policy_metrics)
        engines = EngineFeed(settings, selection, pipeline.switch)
        pipeline.policy_ready = engines.ready
        app.task(engines.run)
        feed = PolicyFeed(settings)
        app.task(feed.run)
        page = PolicyPage(lambda: _running(pipeline), PolicyWriter(settings), feed)
    guards = register_guards(
        app, metrics, settings.wedge_seconds, settings.stall_seconds, pipeline.waits.describe
    )
    register_health(app, guards.not_live)
    # case intake, projection and links; the console acts through the same case service,
    # whose links follow the live policy's windows
    cases = register_cases(app, settings, producer_of(app), metrics, lambda: pipeline.engine.policy)
    register_console(app, settings, pipeline.customers, page, cases)  # ops console, sign-in
    register_decision_api(app, settings)
    register_notifier(app, settings, pipeline, metrics)  # only when WG_NOTIFY_CONFIG is set
    register_registry(app, settings, metrics)  # the hold registry in Redis
    register_metrics(
        app,
        metrics,
        source_topics=pipeline.source_topics(),
        tables=(pipeline.customers, pipeline.destinations, pipeline.source_ips, pipeline.devices),
        offsets=GroupOffsets(settings, settings.app_id),
        memory=detector.memory,
        on_offsets=guards.check,
    )
    return detector


def _running(pipeline: Pipeline) -> tuple[str, str | None]:
    """The (live, shadow) versions the pipeline decides with now."""
    return pipeline.engine.policy_id, pipeline.shadow.policy_id if pipeline.shadow else None
