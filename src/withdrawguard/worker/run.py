"""`withdrawguard worker`: build the app from settings and run it until stopped."""

from __future__ import annotations

import asyncio
import logging

import faust
import uvloop
from kafka.errors import KafkaError
from prometheus_client import CollectorRegistry

from withdrawguard.adapters.metrics import PrometheusMetrics
from withdrawguard.adapters.topic_admin import TopicMismatch, create_topics
from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import PolicyError, load_policy
from withdrawguard.notify.config import NotifyConfigError
from withdrawguard.settings import Settings
from withdrawguard.streaming.faust_internals.worker_dump import dump_on_signal
from withdrawguard.web.decision_api import ServiceTokensError
from withdrawguard.worker import heap
from withdrawguard.worker.app import create_app

log = logging.getLogger(__name__)


def run_worker(settings: Settings) -> int:  # noqa: RET503 - the worker exits the process
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as exc:
        print(f"withdrawguard: {exc}")
        return 2
    try:
        # Idempotent; a deployment that forbids topic creation made them beforehand.
        create_topics(settings, log=log.info)
    except TopicMismatch as exc:
        print(f"withdrawguard: {exc}")
        return 2
    except KafkaError as exc:
        log.warning("could not check or create topics (%s); starting anyway", exc)
    # libuv's event loop: with asyncio's own, a quarter of the worker's CPU went to the
    # loop and its socket transports (docs/performance.md). Set before the app exists, so
    # Faust, its consumer thread and aiohttp all run on it.
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        metrics = PrometheusMetrics(CollectorRegistry())
        detector = create_app(settings, Engine(policy), metrics=metrics, watch_policies=True)
    except NotifyConfigError as exc:
        print(f"withdrawguard: WG_NOTIFY_CONFIG: {exc}")
        return 2
    except ServiceTokensError as exc:
        print(f"withdrawguard: WG_SERVICE_TOKENS_FILE: {exc}")
        return 2
    except PolicyError as exc:  # the inboxes and case policy (an InboxError is one)
        print(f"withdrawguard: WG_INBOXES_FILE: {exc}")
        return 2
    detector.app.task(dump_on_signal(detector.app))  # kill -USR1: what the worker awaits
    heap.install(detector.app, settings.gc, metrics.registry)  # WG_GC, full collections timed
    worker = faust.Worker(detector.app, loglevel=settings.log_level.upper(), quiet=True)
    worker.execute_from_commandline()  # exits the process when the worker stops
