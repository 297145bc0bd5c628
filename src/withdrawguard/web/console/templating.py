"""Jinja2 for the console's pages: templates shipped with the package
(`web/console/templates/`), every value escaped unless a template is told otherwise
(autoescape on for every template, whatever its name), and an undefined name an error,
not an empty string. The layout (`base.html`) inlines the one style sheet whose hash
the Content-Security-Policy allows (`html.CSS`)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from withdrawguard.web.console.html import CSS


@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("withdrawguard.web.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["css"] = Markup(CSS)  # noqa: S704 - a constant of ours, hashed into the CSP
    env.filters["when"] = when
    env.filters["left"] = left
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def when(value: datetime | None) -> str:
    """A time as people read it in the console: UTC, to the minute."""
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def left(delta: timedelta) -> str:
    """Time left until a due time: `1h05m left`, or `past due 0h20m`."""
    seconds = int(delta.total_seconds())
    text = f"{abs(seconds) // 3600}h{abs(seconds) % 3600 // 60:02d}m"
    return f"{text} left" if seconds >= 0 else f"past due {text}"
