"""The ops console, served by the worker's web server: open holds, alerts, customers,
analysts' actions on them and the policy page. `register_console` is its one entry
point; `PolicyPage` is what the worker hands it for the policy page."""

from __future__ import annotations

from withdrawguard.web.console.policy_views import PolicyPage
from withdrawguard.web.console.wiring import register_console

__all__ = ["PolicyPage", "register_console"]
