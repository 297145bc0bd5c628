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

from withdrawguard.cases.errors import MAX_NOTE
from withdrawguard.web.console.html import CSS, unsent


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
    env.globals["max_note"] = MAX_NOTE  # the domain's limit, as every note field's maxlength
    env.globals["unsent_note"] = unsent_note
    env.filters["when"] = when
    env.filters["left"] = left
    return env


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)


def unsent_note(note: str) -> Markup:
    """`html.unsent`, for a template: escaped there, so safe here."""
    return Markup(unsent(note))  # noqa: S704 - html.unsent escapes the note


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
