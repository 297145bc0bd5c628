"""Which engines a worker runs, as the policies topic says: the live one and, when a
shadow is named, the shadow one. No I/O: `streaming/control/engine_feed.py` feeds it the
catalog each time a pointer moves, and hands the engines to the pipeline.

Until a live version is published the worker runs the policy it started with
(WG_POLICY_FILE, or the packaged default). A version that fails to load leaves the
worker on what it ran, logged and counted (`withdrawguard_policy_load_failing` raises
the PolicyVersionNotLoaded alert); it is not tried again until a pointer names another.
"""

from __future__ import annotations

import logging
from typing import Protocol

from withdrawguard.engine.decide import Engine
from withdrawguard.policy.versions import Catalog

log = logging.getLogger(__name__)


class SelectionMetrics(Protocol):
    def running(self, role: str, version: str | None) -> None:
        """The version this worker now runs as `role` (None: no shadow)."""

    def load_failed(self, role: str, version: str) -> None:
        """A version named `role` failed to load; the worker kept the one it had."""


class EngineSelection:
    def __init__(self, start: Engine, metrics: SelectionMetrics) -> None:
        self.live = start
        self.shadow: Engine | None = None
        self._metrics = metrics
        self._failed: dict[str, str] = {}
        """role -> the version id that last failed for it (not tried again)."""
        metrics.running("live", start.policy_id)
        metrics.running("shadow", None)

    def update(self, catalog: Catalog) -> bool:
        """Follow the catalog's pointers; True if the live or shadow engine changed."""
        changed = False
        live = catalog.live
        if live is not None and live != self.live.policy_id:
            engine = self._load("live", catalog, live)
            if engine is not None:
                log.info("policy: live %s -> %s", self.live.policy_id, live)
                self.live, changed = engine, True
        elif live is not None:
            self._failed.pop("live", None)
            self._metrics.running("live", live)
        shadow = catalog.shadow
        current = self.shadow.policy_id if self.shadow is not None else None
        if shadow is None or shadow == current:
            self._failed.pop("shadow", None)
            if shadow is None and current is not None:
                log.info("policy: shadow %s stopped", current)
                self.shadow, changed = None, True
            self._metrics.running("shadow", shadow)
        else:
            engine = self._load("shadow", catalog, shadow)
            if engine is not None:
                log.info("policy: shadow %s -> %s", current, shadow)
                self.shadow, changed = engine, True
        return changed

    def _load(self, role: str, catalog: Catalog, version_id: str) -> Engine | None:
        if self._failed.get(role) == version_id:
            return None
        try:
            engine = Engine(catalog.version(version_id).policy())
        except Exception as exc:  # noqa: BLE001 - any failure keeps the running version
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            log.error(
                "policy: version %s (%s) not loaded, keeping the one running: %s",
                version_id,
                role,
                why,
            )
            self._failed[role] = version_id
            self._metrics.load_failed(role, version_id)
            return None
        self._failed.pop(role, None)
        self._metrics.running(role, version_id)
        return engine
