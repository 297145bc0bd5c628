"""The inboxes and the case policy a deployment runs with: the packaged inboxes.toml and
the policy defaults, or WG_INBOXES_FILE, whose optional `[cases]` table holds the case
policy (docs/cases.md). Read and checked once at start; errors name the key."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from withdrawguard.cases.inboxes import InboxBook, InboxError, inboxes_from, load_inboxes
from withdrawguard.cases.policy import CasePolicy, case_policy_from
from withdrawguard.engine.policy import PolicyError


@dataclass(frozen=True, slots=True)
class CaseConfig:
    inboxes: InboxBook
    policy: CasePolicy


def load_case_config(path: Path | None) -> CaseConfig:
    """The file at `path` (inboxes, and a `[cases]` table), or the packaged defaults.
    PolicyError (an InboxError for the inboxes) names the file and the key."""
    if path is None:
        return CaseConfig(load_inboxes(None), CasePolicy())
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InboxError(f"cannot read inbox file {path}: {exc.strerror}") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InboxError(f"inbox file {path} is not valid TOML: {exc}") from None
    table = raw.pop("cases", {})
    if not isinstance(table, dict):
        raise PolicyError(f"{path}: 'cases' must be a table")
    try:
        policy = case_policy_from(table)
    except PolicyError as exc:
        raise PolicyError(f"{path}: {exc}") from None
    try:
        inboxes = inboxes_from(raw, str(path))
    except InboxError as exc:
        raise InboxError(f"{path}: {exc}") from None
    return CaseConfig(inboxes, policy)
