"""The ops console, served by the worker's web server: open holds, alerts, customers,
and analysts' actions on them. `register_console` is its one entry point."""

from __future__ import annotations

from withdrawguard.web.console.wiring import register_console

__all__ = ["register_console"]
