"""`/health` (the worker is live) and `/ready` (partitions assigned, tables recovered).

Both are open without signing in: load balancers and orchestrators call them. `/health`
answers 503 with the reason when the worker says it is not live: it holds input and has
committed nothing for WG_WEDGE_SECONDS (`streaming/guards/liveness.py`), which only a
restart ends; the StatefulSet's liveness probe asks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust


def register_health(app: faust.App, not_live: Callable[[], str | None] = lambda: None) -> None:
    """Serve `/health` and `/ready`; `not_live` says why the worker is not live (None: it is)."""

    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        reason = not_live()
        if reason is not None:
            return web.json({"status": "wedged", "reason": reason}, status=503)
        return web.json({"status": "ok"})

    @app.page("/ready")
    async def ready(web: Any, request: Any) -> Any:
        assigned = len(app.assignor.assigned_actives())
        recovered = app.tables.recovery.completed.is_set()  # type: ignore[attr-defined]
        is_ready = assigned > 0 and recovered and not app.rebalancing
        body = {
            "ready": is_ready,
            "assigned_partitions": assigned,
            "tables_recovered": recovered,
            "rebalancing": bool(app.rebalancing),
        }
        return web.json(body, status=200 if is_ready else 503)
