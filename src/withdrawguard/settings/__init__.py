"""Settings: one frozen object, built once at the entry point from `WG_` variables.

Nothing else in the package reads the environment. Faust reads some variables of its
own (BROKER_URL, APP_*), which is why ours all carry the `WG_` prefix.

- `model`: `Settings` (each field a setting: default, type, help text);
- `fields`: what a setting is (`setting`, parsing by the annotated type, `Environment`);
- `checks`: the checks a `Settings` passes, with errors naming the variables;
- `redis`: where Redis is (`Topology`), parsed and checked without connecting.

Settings import nothing of withdrawguard's but `secret`.
"""

from __future__ import annotations

from withdrawguard.settings.fields import (
    PREFIX,
    Environment,
    SettingsError,
    described,
    setting_fields,
)
from withdrawguard.settings.model import Settings

__all__ = ["PREFIX", "Environment", "Settings", "SettingsError", "describe", "setting_fields"]


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting: the README's table."""
    return described(Settings)
