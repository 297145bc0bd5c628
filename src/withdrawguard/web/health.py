"""`/health` (the process is alive) and `/ready` (partitions assigned, tables recovered).

Both are open without signing in: load balancers and orchestrators call them.
"""

from __future__ import annotations

from typing import Any

import faust


def register_health(app: faust.App) -> None:
    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
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
