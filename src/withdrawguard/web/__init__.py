"""HTTP served by the worker's web server: `/health` and `/ready` (`health`), the
payment systems' decision API (`decision_api`) and the ops console (`console/`). The web
layer never imports the streaming layer: the worker (`withdrawguard.worker.app`) hands
it what it needs (the customers table, the policy page's feed and producer)."""
